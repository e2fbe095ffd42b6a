//! `kmipd key`: the two things an operator's scripts need from a running server without a KMIP library.
//! Disk encryption is the case in point: no mainstream LUKS tool speaks KMIP, so a crypttab keyscript runs
//! `kmipd key get --name NAME` and passes what it prints to cryptsetup as the key file.

use std::io::Write as _;
use std::path::PathBuf;

use base64::Engine as _;
use clap::{Args, Subcommand, ValueEnum};
use kmipd::client::{self, ClientError, Connection};

use crate::ServerArgs;

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Create an Active AES key with a Name; refused when an object of that name exists. Prints its identifier.
    Create(CreateArgs),
    /// Write the key material of the one key named NAME (or with identifier ID) to stdout or a file.
    Get(GetArgs),
}

#[derive(Args)]
pub struct CreateArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The Name the key gets (what `kmipd key get --name` finds it by).
    #[arg(long)]
    name: String,
    /// Key length in bits: 128, 192 or 256.
    #[arg(long, default_value_t = 256, value_parser = aes_bits)]
    bits: i32,
}

fn aes_bits(text: &str) -> Result<i32, String> {
    match text {
        "128" => Ok(128),
        "192" => Ok(192),
        "256" => Ok(256),
        _ => Err("AES keys are 128, 192 or 256 bits".into()),
    }
}

#[derive(Args)]
pub struct GetArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The key's Name; exactly one object this identity may see must carry it.
    #[arg(long, conflicts_with = "id", required_unless_present = "id")]
    name: Option<String>,
    /// The key's Unique Identifier.
    #[arg(long)]
    id: Option<String>,
    /// How to write the key: the bytes themselves (a LUKS key file), or hex or base64 text.
    #[arg(long, value_enum, default_value_t = Format::Raw)]
    format: Format,
    /// Write to this file (created with mode 0600, replaced if it exists) instead of stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Raw,
    Hex,
    Base64,
}

/// Runs one `kmipd key` command.
pub fn run(command: KeyCommand) -> Result<(), String> {
    match command {
        KeyCommand::Create(args) => {
            let uid = with_connection(&args.server, |conn| {
                client::create_named_aes_key(conn, &args.name, args.bits)
            })?;
            println!("{uid}");
            Ok(())
        }
        KeyCommand::Get(args) => {
            let material = with_connection(&args.server, |conn| {
                let uid = match (&args.id, &args.name) {
                    (Some(id), _) => id.clone(),
                    (None, Some(name)) => client::locate_by_name(conn, name)?,
                    (None, None) => {
                        return Err(ClientError::Protocol("give --name or --id".into()));
                    }
                };
                client::key_bytes(conn, &uid)
            })?;
            let text;
            let out: &[u8] = match args.format {
                Format::Raw => material.as_slice(),
                Format::Hex => {
                    text = zeroize::Zeroizing::new(hex::encode(material.as_slice()) + "\n");
                    text.as_bytes()
                }
                Format::Base64 => {
                    text = zeroize::Zeroizing::new(
                        base64::engine::general_purpose::STANDARD.encode(material.as_slice())
                            + "\n",
                    );
                    text.as_bytes()
                }
            };
            write_secret(args.output.as_ref(), out)
        }
    }
}

fn with_connection<T>(
    args: &ServerArgs,
    f: impl FnOnce(&Connection<'_>) -> Result<T, ClientError>,
) -> Result<T, String> {
    let (ca, certificate, key) = args.files();
    let connection = Connection {
        server: args.server,
        server_name: &args.server_name,
        ca: &ca,
        certificate: &certificate,
        key: &key,
    };
    f(&connection).map_err(|e| e.to_string())
}

/// Writes the key to stdout, or to a file only its owner can read.
fn write_secret(path: Option<&PathBuf>, bytes: &[u8]) -> Result<(), String> {
    match path {
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(bytes)
                .and_then(|()| stdout.flush())
                .map_err(|e| format!("writing the key to stdout: {e}"))
        }
        Some(path) => {
            let fail = |e: std::io::Error| format!("writing the key to {}: {e}", path.display());
            // A symbolic link at the path is refused, not followed: it could send the key to a file the caller
            // did not name (planted in a shared directory, say).
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(format!(
                    "writing the key to {}: it is a symbolic link; name the file itself",
                    path.display()
                ));
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                options.mode(0o600);
                // Between the check and the open, a link put in its place is refused by the kernel.
                options.custom_flags(libc::O_NOFOLLOW);
            }
            let mut file = options.open(path).map_err(fail)?;
            // An existing file keeps its mode on open: narrow it before the key goes in.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                file.set_permissions(std::fs::Permissions::from_mode(0o600))
                    .map_err(fail)?;
            }
            file.write_all(bytes)
                .and_then(|()| file.sync_all())
                .map_err(fail)
        }
    }
}
