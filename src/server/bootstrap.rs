//! The embedded default: the first `kmipd serve` without a configuration file makes a data directory with a
//! development CA, a server certificate for this machine's loopback names, and an `admin` client certificate,
//! so that a client can connect within a minute of installing. Later starts reuse what exists.
//!
//! The development CA's key sits beside the server's: fine on a laptop, not for production, where operators
//! issue certificates from their own CA (`kmipd cert`, see `certs/README.md`).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::pki::{
    CA_VALIDITY_DAYS, CertificateAuthority, KeyType, LEAF_VALIDITY_DAYS, PkiError, write_pair,
    write_public_file,
};

/// Subject CN of the development CA.
const DEV_CA_NAME: &str = "kmipd development CA";
/// Subject CN, and so the caller identity, of the client certificate made for the operator.
pub use crate::access::policy::ADMIN_NAME;

/// Why the development files could not be made.
#[derive(Debug, Error)]
pub enum BootstrapError {
    #[error("cannot create data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{present} exists but {missing} does not; restore it or remove both to have them re-created"
    )]
    Incomplete { present: PathBuf, missing: PathBuf },
    #[error("cannot resolve {path}: {source}")]
    Resolve {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Pki(#[from] PkiError),
}

/// Where the development files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevFiles {
    /// The data directory, absolute.
    pub dir: PathBuf,
    pub ca_certificate: PathBuf,
    pub ca_key: PathBuf,
    pub server_certificate: PathBuf,
    pub server_key: PathBuf,
    pub admin_certificate: PathBuf,
    pub admin_key: PathBuf,
    /// The bundle of CAs whose client certificates the server accepts: the development CA.
    pub client_ca_bundle: PathBuf,
    /// A `[client]` section for PyKMIP's `~/.pykmip/pykmip.conf`.
    pub pykmip_conf: PathBuf,
}

/// What [`ensure_dev_files`] did.
#[derive(Debug)]
pub struct Bootstrap {
    pub files: DevFiles,
    /// The files made by this call; empty when everything already existed.
    pub created: Vec<PathBuf>,
}

impl DevFiles {
    /// The file layout inside `dir`.
    pub fn in_dir(dir: &Path) -> DevFiles {
        DevFiles {
            dir: dir.to_owned(),
            ca_certificate: dir.join("ca.pem"),
            ca_key: dir.join("ca.key"),
            server_certificate: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            admin_certificate: dir.join("admin.pem"),
            admin_key: dir.join("admin.key"),
            client_ca_bundle: dir.join("client-ca.pem"),
            pykmip_conf: dir.join("pykmip.conf"),
        }
    }
}

/// Makes whatever of the development files is missing in `data_dir` (created 0700), reusing the rest.
/// `listen` is the address the server will listen on, written into the PyKMIP configuration.
pub fn ensure_dev_files(data_dir: &Path, listen: SocketAddr) -> Result<Bootstrap, BootstrapError> {
    create_private_dir(data_dir)?;
    let dir = data_dir
        .canonicalize()
        .map_err(|source| BootstrapError::Resolve {
            path: data_dir.to_owned(),
            source,
        })?;
    let files = DevFiles::in_dir(&dir);
    let mut created = Vec::new();

    let ca = if pair_exists(&files.ca_certificate, &files.ca_key)? {
        CertificateAuthority::load(&files.ca_certificate, &files.ca_key)?
    } else {
        let (ca, pair) =
            CertificateAuthority::generate(DEV_CA_NAME, CA_VALIDITY_DAYS, KeyType::EcdsaP256)?;
        write_pair(&dir, "ca", &pair)?;
        created.extend([files.ca_certificate.clone(), files.ca_key.clone()]);
        ca
    };

    if !pair_exists(&files.server_certificate, &files.server_key)? {
        let pair = ca.issue_server(
            &["localhost".to_string()],
            &[
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ],
            LEAF_VALIDITY_DAYS,
            KeyType::EcdsaP256,
        )?;
        write_pair(&dir, "server", &pair)?;
        created.extend([files.server_certificate.clone(), files.server_key.clone()]);
    }

    if !pair_exists(&files.admin_certificate, &files.admin_key)? {
        let pair = ca.issue_client(ADMIN_NAME, LEAF_VALIDITY_DAYS, KeyType::EcdsaP256)?;
        write_pair(&dir, ADMIN_NAME, &pair)?;
        created.extend([files.admin_certificate.clone(), files.admin_key.clone()]);
    }

    if !files.client_ca_bundle.exists() {
        write_public_file(&files.client_ca_bundle, ca.certificate_pem())?;
        created.push(files.client_ca_bundle.clone());
    }

    if !files.pykmip_conf.exists() {
        write_public_file(&files.pykmip_conf, &pykmip_client_conf(&files, listen))?;
        created.push(files.pykmip_conf.clone());
    }

    Ok(Bootstrap { files, created })
}

/// A `[client]` section for PyKMIP (0.10, 0.11): its `KMIPProxy` reads host, port, certfile, keyfile, ca_certs,
/// cert_reqs and ssl_version, and wraps the socket without a server name, so host names are not checked.
pub fn pykmip_client_conf(files: &DevFiles, listen: SocketAddr) -> String {
    let host = match listen.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let mut conf = String::new();
    let _ = writeln!(
        conf,
        "# PyKMIP client configuration for the kmipd development server."
    );
    let _ = writeln!(
        conf,
        "# Copy to ~/.pykmip/pykmip.conf, or pass config_file= to ProxyKmipClient."
    );
    let _ = writeln!(conf, "[client]");
    let _ = writeln!(conf, "host={host}");
    let _ = writeln!(conf, "port={}", listen.port());
    let _ = writeln!(conf, "certfile={}", files.admin_certificate.display());
    let _ = writeln!(conf, "keyfile={}", files.admin_key.display());
    let _ = writeln!(conf, "ca_certs={}", files.ca_certificate.display());
    let _ = writeln!(conf, "cert_reqs=CERT_REQUIRED");
    // PROTOCOL_SSLv23 is PyKMIP's default and negotiates TLS 1.2 or 1.3; PROTOCOL_TLS_CLIENT would turn on host
    // name checking, which PyKMIP's wrap_socket call cannot satisfy.
    let _ = writeln!(conf, "ssl_version=PROTOCOL_SSLv23");
    let _ = writeln!(conf, "do_handshake_on_connect=True");
    let _ = writeln!(conf, "suppress_ragged_eofs=True");
    conf
}

/// The text printed after the development files were made.
pub fn describe(bootstrap: &Bootstrap, listen: SocketAddr) -> String {
    let f = &bootstrap.files;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "kmipd: development certificates created in {}",
        f.dir.display()
    );
    let _ = writeln!(
        text,
        "  CA (trust this on clients):  {}",
        f.ca_certificate.display()
    );
    let _ = writeln!(
        text,
        "  server certificate:          {}",
        f.server_certificate.display()
    );
    let _ = writeln!(
        text,
        "  admin client certificate:    {}",
        f.admin_certificate.display()
    );
    let _ = writeln!(
        text,
        "  admin client key:            {}",
        f.admin_key.display()
    );
    let _ = writeln!(
        text,
        "  accepted client CAs:         {}",
        f.client_ca_bundle.display()
    );
    let _ = writeln!(
        text,
        "These are for development only; see certs/README.md for production."
    );
    let _ = writeln!(
        text,
        "PyKMIP client configuration (also in {}):",
        f.pykmip_conf.display()
    );
    text.push_str(&pykmip_client_conf(f, listen));
    text
}

/// True if both files exist, false if neither does; an error if only one does.
fn pair_exists(certificate: &Path, key: &Path) -> Result<bool, BootstrapError> {
    match (certificate.exists(), key.exists()) {
        (true, true) => Ok(true),
        (false, false) => Ok(false),
        (true, false) => Err(BootstrapError::Incomplete {
            present: certificate.to_owned(),
            missing: key.to_owned(),
        }),
        (false, true) => Err(BootstrapError::Incomplete {
            present: key.to_owned(),
            missing: certificate.to_owned(),
        }),
    }
}

fn create_private_dir(dir: &Path) -> Result<(), BootstrapError> {
    crate::private_fs::create_dir(dir).map_err(|source| BootstrapError::CreateDir {
        path: dir.to_owned(),
        source,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let open_to_others = std::fs::metadata(dir)
            .map(|metadata| metadata.permissions().mode() & 0o077 != 0)
            .unwrap_or(false);
        if open_to_others {
            tracing::warn!(
                dir = %dir.display(),
                "data directory is readable by other users; it holds private keys"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen() -> SocketAddr {
        "127.0.0.1:5696".parse().unwrap()
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn first_start_creates_everything_with_private_modes() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("kmipd-data");
        let bootstrap = ensure_dev_files(&dir, listen()).unwrap();
        let f = &bootstrap.files;
        assert_eq!(bootstrap.created.len(), 8);
        for path in [
            &f.ca_certificate,
            &f.ca_key,
            &f.server_certificate,
            &f.server_key,
            &f.admin_certificate,
            &f.admin_key,
            &f.client_ca_bundle,
            &f.pykmip_conf,
        ] {
            assert!(path.is_file(), "{} missing", path.display());
        }
        #[cfg(unix)]
        {
            assert_eq!(mode(&dir), 0o700);
            for key in [&f.ca_key, &f.server_key, &f.admin_key] {
                assert_eq!(mode(key), 0o600, "{}", key.display());
            }
        }
        assert_eq!(
            std::fs::read_to_string(&f.client_ca_bundle).unwrap(),
            std::fs::read_to_string(&f.ca_certificate).unwrap()
        );
        let conf = std::fs::read_to_string(&f.pykmip_conf).unwrap();
        assert!(conf.contains("[client]"));
        assert!(conf.contains("port=5696"));
        assert!(conf.contains(&format!("certfile={}", f.admin_certificate.display())));
        assert!(conf.contains("cert_reqs=CERT_REQUIRED"));
    }

    #[test]
    fn a_second_start_reuses_the_files() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("data");
        let first = ensure_dev_files(&dir, listen()).unwrap();
        let ca_before = std::fs::read(&first.files.ca_certificate).unwrap();
        let server_before = std::fs::read(&first.files.server_key).unwrap();
        let second = ensure_dev_files(&dir, listen()).unwrap();
        assert!(second.created.is_empty());
        assert_eq!(
            std::fs::read(&second.files.ca_certificate).unwrap(),
            ca_before
        );
        assert_eq!(
            std::fs::read(&second.files.server_key).unwrap(),
            server_before
        );
    }

    #[test]
    fn a_missing_leaf_is_reissued_from_the_existing_ca() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("data");
        let first = ensure_dev_files(&dir, listen()).unwrap();
        std::fs::remove_file(&first.files.admin_certificate).unwrap();
        std::fs::remove_file(&first.files.admin_key).unwrap();
        let second = ensure_dev_files(&dir, listen()).unwrap();
        assert_eq!(
            second.created,
            vec![
                second.files.admin_certificate.clone(),
                second.files.admin_key.clone()
            ]
        );
    }

    #[test]
    fn half_a_pair_is_an_error() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("data");
        let first = ensure_dev_files(&dir, listen()).unwrap();
        std::fs::remove_file(&first.files.ca_key).unwrap();
        assert!(matches!(
            ensure_dev_files(&dir, listen()),
            Err(BootstrapError::Incomplete { .. })
        ));
    }
}
