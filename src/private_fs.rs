//! The file-system steps every part of the server that writes secrets takes the same way: directories only the
//! server's user may enter, and directory entries made durable. One copy, so that a fix to either applies to the
//! data directory, the master key, the backups and the development CA alike. Callers wrap the `io::Error` in
//! their own error type with the path and what they were doing.

use std::io;
use std::path::Path;

/// Creates `dir` and its missing parents, new ones with mode 0700 on Unix (an existing directory keeps its mode).
pub fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates `dir` like [`create_dir`] and makes the directory itself 0700 even when it already existed (one
/// made by an older version with the default 0755): for directories that hold only the server's own secrets
/// or records (zones, audit files).
pub fn create_owned_dir(dir: &Path) -> io::Result<()> {
    create_dir(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
        if mode != 0o700 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

/// Makes new entries and renames in `dir` durable: a file's own fsync does not cover its name.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir).and_then(|d| d.sync_all())?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn new_directories_are_private_and_existing_ones_are_left_alone() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let nested = root.path().join("a").join("b");
        create_dir(&nested).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&nested), 0o700);
        assert_eq!(mode(&root.path().join("a")), 0o700);
        create_dir(&nested).unwrap();
        sync_dir(&nested).unwrap();
        assert!(sync_dir(&root.path().join("missing")).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn owned_directories_are_made_private_even_when_they_existed() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let old = root.path().join("zone-a");
        std::fs::create_dir(&old).unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).unwrap();
        create_owned_dir(&old).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&old), 0o700);
        let new = root.path().join("audit").join("x");
        create_owned_dir(&new).unwrap();
        assert_eq!(mode(&new), 0o700);
        assert_eq!(mode(&root.path().join("audit")), 0o700);
    }
}
