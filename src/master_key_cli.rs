//! `kmipd master-key`: makes the master key file an operator keeps apart from the data directory, either a new
//! key (`init`) or an existing one wrapped under a passphrase (`wrap`, to move a `master.key` out of the data
//! directory). Files are created with mode 0600 and never overwritten.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use zeroize::Zeroizing;

use kmipd::custody::wrapped::{self, WrapCost};
use kmipd::custody::{MAX_PASSPHRASE_BYTES, PASSPHRASE_ENV};
use kmipd::store::MasterKey;

#[derive(Subcommand)]
pub enum MasterKeyCommand {
    /// Generate a new master key into --out: wrapped under a passphrase unless --plain.
    Init {
        /// The file to create (mode 0600; an existing file is never overwritten).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Write the key itself (64 hex digits) instead of wrapping it.
        #[arg(long)]
        plain: bool,
        #[command(flatten)]
        wrapping: WrapArgs,
    },
    /// Wrap an existing key file (plain: raw, hex or base64) under a passphrase into --out.
    Wrap {
        /// The plain key file, for instance a data directory's master.key being moved out of it.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The wrapped file to create (mode 0600; an existing file is never overwritten).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        wrapping: WrapArgs,
    },
}

#[derive(Args)]
pub struct WrapArgs {
    /// File holding the passphrase (one line); default: KMIPD_MASTER_PASSPHRASE, else a line of standard input.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// Argon2id memory cost in KiB.
    #[arg(long, default_value_t = wrapped::DEFAULT_ARGON2_MEMORY_KIB)]
    argon2_memory_kib: u32,
    /// Argon2id passes.
    #[arg(long, default_value_t = wrapped::DEFAULT_ARGON2_ITERATIONS)]
    argon2_iterations: u32,
}

pub fn run(command: MasterKeyCommand) -> Result<(), String> {
    match command {
        MasterKeyCommand::Init {
            out,
            plain,
            wrapping,
        } => {
            let key = MasterKey::generate().map_err(|e| e.to_string())?;
            if plain {
                let mut text = key.to_hex();
                text.push('\n');
                write_new(&out, text.as_bytes())?;
                println!(
                    "new master key written to {} (plain, mode 0600)",
                    out.display()
                );
            } else {
                write_wrapped(&key, &out, &wrapping)?;
            }
            Ok(())
        }
        MasterKeyCommand::Wrap { key, out, wrapping } => {
            let key = MasterKey::from_file(&key).map_err(|e| e.to_string())?;
            write_wrapped(&key, &out, &wrapping)
        }
    }
}

fn write_wrapped(key: &MasterKey, out: &Path, args: &WrapArgs) -> Result<(), String> {
    let passphrase = passphrase(args)?;
    let cost = WrapCost {
        memory_kib: args.argon2_memory_kib,
        iterations: args.argon2_iterations,
        lanes: 1,
    };
    let text = wrapped::wrap(key, passphrase.as_bytes(), cost).map_err(|e| e.to_string())?;
    write_new(out, text.as_bytes())?;
    println!(
        "master key written to {} wrapped under the passphrase (Argon2id m={} KiB t={}, AES-256-GCM)",
        out.display(),
        cost.memory_kib,
        cost.iterations
    );
    Ok(())
}

/// The passphrase: the file's first line, else KMIPD_MASTER_PASSPHRASE, else a line of standard input.
fn passphrase(args: &WrapArgs) -> Result<Zeroizing<String>, String> {
    let text = if let Some(path) = &args.passphrase_file {
        Zeroizing::new(
            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?,
        )
    } else if let Ok(value) = std::env::var(PASSPHRASE_ENV) {
        Zeroizing::new(value)
    } else {
        eprintln!("passphrase (one line on standard input):");
        let mut line = Zeroizing::new(String::new());
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the passphrase: {e}"))?;
        line
    };
    let line = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    if line.is_empty() {
        return Err("empty passphrase".into());
    }
    if line.len() > MAX_PASSPHRASE_BYTES {
        return Err(format!(
            "the passphrase is longer than {MAX_PASSPHRASE_BYTES} bytes"
        ));
    }
    Ok(Zeroizing::new(line.to_string()))
}

/// Creates `path` with mode 0600 and writes `contents`, refusing an existing file.
fn write_new(path: &Path, contents: &[u8]) -> Result<(), String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
