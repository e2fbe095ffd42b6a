//! The data directory lock: `kmipd serve` holds it for as long as it runs, and `kmipd restore` takes it before
//! touching the directory, so a restore never replaces the file under a running server.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use super::error::BackupError;

/// File name of the lock inside the data directory (its contents are irrelevant).
pub const LOCK_FILE_NAME: &str = "kmipd.lock";

/// An exclusive advisory lock on a data directory, released when dropped (or when the process dies).
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// Takes the lock of `data_dir` (creating the directory and lock file as needed), or fails at once with
    /// [`BackupError::DataDirInUse`] when another process holds it.
    pub fn acquire(data_dir: &Path) -> Result<DataDirLock, BackupError> {
        super::create_private_dir(data_dir)?;
        let path = data_dir.join(LOCK_FILE_NAME);
        let mut options = OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options
            .open(&path)
            .map_err(BackupError::io("opening data directory lock", &path))?;
        match file.try_lock() {
            Ok(()) => Ok(DataDirLock { _file: file, path }),
            Err(TryLockError::WouldBlock) => Err(BackupError::DataDirInUse {
                path: data_dir.to_path_buf(),
            }),
            Err(TryLockError::Error(e)) => Err(BackupError::Io {
                action: "locking data directory",
                path,
                source: e,
            }),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
