//! Mutual TLS as kmipd speaks it on every link (the KMIP listener, the node link between zones, the
//! command-line client): TLS 1.2 and 1.3 with the aws-lc-rs provider, a client certificate required from every
//! peer and verified against the configured CA bundle. It knows files and certificates, not who uses them.
//!
//! KMIP clients in the field (vSphere, PyKMIP-generated certificates) present client certificates without the
//! clientAuth extended key usage, so [`AnyPurposeClientVerifier`] checks the full chain, signatures and validity
//! times exactly as webpki does for clientAuth, and accepts a certificate without the extension or whose
//! extension names clientAuth (or any purpose). A certificate issued for serverAuth without clientAuth (a
//! server's own certificate) is refused as a client.
//!
//! Revocation: an optional CRL file (PEM or DER, several lists allowed) is checked for every client
//! certificate; the file is looked at on each new handshake and read again when it changed, so a fresh CRL
//! applies without a restart. TLS session resumption is off: every connection presents its certificate and is
//! checked against the CRL in force.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, RootCertStore,
    SignatureScheme,
};
use thiserror::Error;
use webpki::{
    CertRevocationList, EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeId, KeyPurposeIdIter,
    OwnedCertRevocationList, RevocationOptionsBuilder, UnknownStatusPolicy,
};

/// Why the TLS configuration could not be built.
#[derive(Debug, Error)]
pub enum TlsError {
    #[error("cannot read {what} from {path}: {source}")]
    Pem {
        what: &'static str,
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("{path} holds no certificate")]
    NoCertificate { path: PathBuf },
    #[error("client CA bundle {path} has an unusable certificate: {source}")]
    BadTrustAnchor {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("cannot build the client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    #[error("TLS configuration refused: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("cannot use the certificate revocation list {path}: {reason}")]
    Crl { path: PathBuf, reason: String },
}

/// The crypto provider every TLS object of kmipd uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Builds the rustls server configuration from parsed material; `ca_origin` names the bundle in errors.
pub fn build_server_tls_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_cas: &[CertificateDer<'static>],
    ca_origin: &Path,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    build_server_tls_config_with_crl(chain, key, client_cas, ca_origin, None)
}

/// [`build_server_tls_config`] checking client certificates against the CRL file `crl` as well.
pub fn build_server_tls_config_with_crl(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_cas: &[CertificateDer<'static>],
    ca_origin: &Path,
    crl: Option<CrlFile>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = provider();
    let verifier = AnyPurposeClientVerifier::new(client_cas, provider.clone())
        .map(|v| v.with_crl(crl))
        .map_err(|e| match e {
            VerifierSetupError::Anchor(source) => TlsError::BadTrustAnchor {
                path: ca_origin.to_owned(),
                source,
            },
            VerifierSetupError::Builder(e) => TlsError::Verifier(e),
        })?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(chain, key)?;
    // No resumption: a resumed session would skip the certificate check, revocation included. No TLS 1.2
    // session cache, no TLS 1.3 tickets (stateless tickets are off by default).
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

/// What follows the zone name in a node's name (`a.node.kmipd`); a KMIP host name never ends so.
pub const NODE_NAME_SUFFIX: &str = ".node.kmipd";

/// The name a node certificate of zone `zone` carries as a DNS subject alternative name.
pub fn node_name(zone: &str) -> String {
    format!("{zone}{NODE_NAME_SUFFIX}")
}

/// Whether `zone` can be part of a node name: one DNS label (letters, digits, inner hyphens, at most 63).
pub fn valid_zone_name(zone: &str) -> bool {
    (1..=63).contains(&zone.len())
        && zone.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !zone.starts_with('-')
        && !zone.ends_with('-')
}

/// Reads every certificate of a PEM file.
pub fn read_certificates(
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_error = |source| TlsError::Pem {
        what,
        path: path.to_owned(),
        source,
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(pem_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error)?;
    if certificates.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certificates)
}

/// Reads the first private key (PKCS#8, SEC1 or PKCS#1) of a PEM file.
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|source| TlsError::Pem {
        what: "private key",
        path: path.to_owned(),
        source,
    })
}

/// Requires a client certificate that chains to a configured CA, without demanding the clientAuth purpose.
///
/// Everything except chain building is delegated to rustls's own [`WebPkiClientVerifier`] (CA hints sent to
/// the client, handshake signature checks); the chain itself is verified with webpki's
/// [`EndEntityCert::verify_for_usage`] and an extended-key-usage policy that accepts any purpose. Path building,
/// signatures, validity times, basic constraints and name constraints are all still checked.
#[derive(Debug)]
pub struct AnyPurposeClientVerifier {
    roots: RootCertStore,
    algorithms: WebPkiSupportedAlgorithms,
    webpki: Arc<dyn ClientCertVerifier>,
    crl: Option<CrlFile>,
}

/// A CRL file (PEM with one or more `X509 CRL` blocks, or one DER list), read again whenever its size,
/// modification time or inode changed since the last handshake looked.
#[derive(Debug)]
pub struct CrlFile {
    path: PathBuf,
    state: Mutex<CrlState>,
}

#[derive(Debug)]
struct CrlState {
    stamp: FileStamp,
    lists: Arc<Vec<CertRevocationList<'static>>>,
}

/// What tells that a file changed: size, modification time and inode (a replaced file has a new one).
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    inode: u64,
}

impl FileStamp {
    fn of(path: &Path) -> std::io::Result<FileStamp> {
        let meta = std::fs::metadata(path)?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Ok(FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode,
        })
    }
}

impl CrlFile {
    /// Reads the CRL file; an unreadable file or list is an error (the server does not start without it).
    pub fn open(path: &Path) -> Result<CrlFile, TlsError> {
        let error = |reason: String| TlsError::Crl {
            path: path.to_owned(),
            reason,
        };
        let stamp = FileStamp::of(path).map_err(|e| error(e.to_string()))?;
        let lists = read_crls(path).map_err(error)?;
        Ok(CrlFile {
            path: path.to_owned(),
            state: Mutex::new(CrlState {
                stamp,
                lists: Arc::new(lists),
            }),
        })
    }

    /// The lists in force, read again first when the file changed. A file that became unreadable or invalid
    /// refuses every certificate until it is fixed: revocation fails closed.
    fn current(&self) -> Result<Arc<Vec<CertRevocationList<'static>>>, String> {
        let stamp = FileStamp::of(&self.path).map_err(|e| e.to_string())?;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.stamp != stamp {
            let lists = read_crls(&self.path)?;
            tracing::info!(path = %self.path.display(), lists = lists.len(), "certificate revocation list reloaded");
            *state = CrlState {
                stamp,
                lists: Arc::new(lists),
            };
        }
        Ok(state.lists.clone())
    }
}

/// Every CRL of a PEM or DER file.
fn read_crls(path: &Path) -> Result<Vec<CertRevocationList<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let ders: Vec<CertificateRevocationListDer<'static>> =
        if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            CertificateRevocationListDer::pem_slice_iter(&bytes)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?
        } else {
            vec![CertificateRevocationListDer::from(bytes)]
        };
    if ders.is_empty() {
        return Err("the file holds no CRL".to_string());
    }
    ders.iter()
        .map(|der| {
            OwnedCertRevocationList::from_der(der.as_ref())
                .map(CertRevocationList::from)
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// Why a verifier could not be set up.
#[derive(Debug)]
pub enum VerifierSetupError {
    /// A CA certificate of the bundle cannot be a trust anchor.
    Anchor(rustls::Error),
    /// rustls refused the trust anchors (for instance, none given).
    Builder(rustls::server::VerifierBuilderError),
}

impl AnyPurposeClientVerifier {
    /// Trusts the given CA certificates as roots.
    pub fn new(
        client_cas: &[CertificateDer<'_>],
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, VerifierSetupError> {
        let mut roots = RootCertStore::empty();
        for ca in client_cas {
            roots.add(ca.clone()).map_err(VerifierSetupError::Anchor)?;
        }
        let algorithms = provider.signature_verification_algorithms;
        let webpki = WebPkiClientVerifier::builder_with_provider(Arc::new(roots.clone()), provider)
            .build()
            .map_err(VerifierSetupError::Builder)?;
        Ok(AnyPurposeClientVerifier {
            roots,
            algorithms,
            webpki,
            crl: None,
        })
    }

    /// Also checks every certificate against the lists of `crl` (none: no revocation check).
    pub fn with_crl(mut self, crl: Option<CrlFile>) -> Self {
        self.crl = crl;
        self
    }
}

impl ClientCertVerifier for AnyPurposeClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.webpki.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let certificate = EndEntityCert::try_from(end_entity).map_err(pki_error)?;
        let lists = match &self.crl {
            None => None,
            Some(file) => Some(file.current().map_err(|reason| {
                tracing::error!(path = %file.path.display(), %reason, "certificate revocation list unusable; refusing clients");
                rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(
                    CrlUnusable(reason),
                ))))
            })?),
        };
        let refs: Vec<&CertRevocationList<'_>> = lists
            .as_deref()
            .map(|l| l.iter().collect())
            .unwrap_or_default();
        let revocation = RevocationOptionsBuilder::new(&refs).ok().map(|b| {
            // A certificate whose issuer has no list in the file is not refused for it: the file lists
            // what the operator revoked, it need not cover every CA of the chain.
            b.with_status_policy(UnknownStatusPolicy::Allow).build()
        });
        certificate
            .verify_for_usage(
                self.algorithms.all,
                &self.roots.roots,
                intermediates,
                now,
                AnyPurpose,
                revocation,
                None,
            )
            .map_err(pki_error)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// A CRL file that could not be read again.
#[derive(Debug, Error)]
#[error("the certificate revocation list cannot be used: {0}")]
struct CrlUnusable(String);

/// id-kp-serverAuth (1.3.6.1.5.5.7.3.1), DER content octets.
const EKU_SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
/// id-kp-clientAuth (1.3.6.1.5.5.7.3.2).
const EKU_CLIENT_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];
/// anyExtendedKeyUsage (2.5.29.37.0).
const EKU_ANY: &[u8] = &[0x55, 0x1d, 0x25, 0x00];

/// The extended-key-usage policy for clients: no extension at all, or one naming clientAuth or any purpose, is
/// accepted (clients in the field carry all three); one naming serverAuth without clientAuth is a server's
/// certificate and is refused; a malformed extension is refused.
struct AnyPurpose;

impl ExtendedKeyUsageValidator for AnyPurpose {
    fn validate(&self, purposes: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        let (mut server, mut client) = (false, false);
        for purpose in purposes {
            let purpose = purpose?;
            server |= purpose == KeyPurposeId::new(EKU_SERVER_AUTH);
            client |= purpose == KeyPurposeId::new(EKU_CLIENT_AUTH)
                || purpose == KeyPurposeId::new(EKU_ANY);
        }
        if server && !client {
            // The context variant cannot be built outside webpki; rustls maps both to InvalidPurpose.
            #[allow(deprecated)]
            return Err(webpki::Error::RequiredEkuNotFound);
        }
        Ok(())
    }
}

/// Maps webpki's verdict to the rustls error (and so the TLS alert) the peer receives.
fn pki_error(error: webpki::Error) -> rustls::Error {
    use webpki::Error as E;
    let certificate_error = match error {
        E::BadDer | E::BadDerTime | E::TrailingData(_) => CertificateError::BadEncoding,
        E::CertExpired { time, not_after } => CertificateError::ExpiredContext { time, not_after },
        E::CertNotValidYet { time, not_before } => {
            CertificateError::NotValidYetContext { time, not_before }
        }
        E::InvalidCertValidity => CertificateError::Expired,
        E::UnknownIssuer => CertificateError::UnknownIssuer,
        E::CertRevoked => CertificateError::Revoked,
        #[allow(deprecated)]
        E::RequiredEkuNotFound => CertificateError::InvalidPurpose,
        E::InvalidSignatureForPublicKey => CertificateError::BadSignature,
        other => CertificateError::Other(OtherError(Arc::new(other))),
    };
    rustls::Error::InvalidCertificate(certificate_error)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    };

    use super::*;

    fn pem_der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    fn params(cn: &str) -> CertificateParams {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, cn);
        params
    }

    /// Root → intermediate → leaf whose only extended key usage is clientAuth.
    fn chain(
        root_name: &str,
    ) -> (
        CertificateDer<'static>,
        CertificateDer<'static>,
        CertificateDer<'static>,
    ) {
        let root_key = KeyPair::generate().unwrap();
        let mut root_params = params(root_name);
        root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let root = root_params.self_signed(&root_key).unwrap();
        let root_issuer = rcgen::Issuer::new(root_params, root_key);

        let intermediate_key = KeyPair::generate().unwrap();
        let mut intermediate_params = params("intermediate");
        intermediate_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        let intermediate = intermediate_params
            .signed_by(&intermediate_key, &root_issuer)
            .unwrap();
        let intermediate_issuer = rcgen::Issuer::new(intermediate_params, intermediate_key);

        let mut leaf_params = params("vsphere");
        leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        leaf_params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        leaf_params.not_after = rcgen::date_time_ymd(2100, 1, 1);
        let leaf = leaf_params
            .signed_by(&KeyPair::generate().unwrap(), &intermediate_issuer)
            .unwrap();
        (
            pem_der(&root.pem()),
            pem_der(&intermediate.pem()),
            pem_der(&leaf.pem()),
        )
    }

    /// Root → intermediate → leaf with the given extended key usages (none: no extension).
    fn chain_for(
        purposes: Vec<ExtendedKeyUsagePurpose>,
    ) -> (CertificateDer<'static>, CertificateDer<'static>) {
        let root_key = KeyPair::generate().unwrap();
        let mut root_params = params("root");
        root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let root = root_params.self_signed(&root_key).unwrap();
        let issuer = rcgen::Issuer::new(root_params, root_key);
        let mut leaf_params = params("client");
        leaf_params.extended_key_usages = purposes;
        let leaf = leaf_params
            .signed_by(&KeyPair::generate().unwrap(), &issuer)
            .unwrap();
        (pem_der(&root.pem()), pem_der(&leaf.pem()))
    }

    #[test]
    fn server_auth_only_clients_are_refused_others_accepted() {
        use ExtendedKeyUsagePurpose::*;
        let now = UnixTime::now();
        for (purposes, accepted) in [
            (vec![], true),
            (vec![ClientAuth], true),
            (vec![ServerAuth, ClientAuth], true),
            (vec![Any, ServerAuth], true),
            (vec![EmailProtection], true),
            (vec![ServerAuth], false),
            (vec![ServerAuth, CodeSigning], false),
        ] {
            let (root, leaf) = chain_for(purposes.clone());
            let verifier = AnyPurposeClientVerifier::new(&[root], provider()).unwrap();
            let verdict = verifier.verify_client_cert(&leaf, &[], now);
            assert_eq!(verdict.is_ok(), accepted, "{purposes:?}: {verdict:?}");
            if !accepted {
                assert_eq!(
                    verdict.unwrap_err(),
                    rustls::Error::InvalidCertificate(CertificateError::InvalidPurpose)
                );
            }
        }
    }

    #[test]
    fn the_chain_and_validity_are_still_checked() {
        let (root, intermediate, leaf) = chain("root");
        let (other_root, _, _) = chain("other root");
        let verifier = AnyPurposeClientVerifier::new(&[root], provider()).unwrap();
        let now = UnixTime::now();
        // Without the intermediate the chain cannot be built.
        assert!(verifier.verify_client_cert(&leaf, &[], now).is_err());
        // The leaf is valid from 2020-01-01 to 2100-01-01 (4102444800).
        let after_expiry = UnixTime::since_unix_epoch(Duration::from_secs(4_102_444_800 + 86_400));
        assert!(matches!(
            verifier.verify_client_cert(&leaf, std::slice::from_ref(&intermediate), after_expiry),
            Err(rustls::Error::InvalidCertificate(_))
        ));
        let before_issue = UnixTime::since_unix_epoch(Duration::from_secs(1_500_000_000));
        assert!(
            verifier
                .verify_client_cert(&leaf, std::slice::from_ref(&intermediate), before_issue)
                .is_err()
        );
        // A verifier trusting another root refuses it.
        let stranger = AnyPurposeClientVerifier::new(&[other_root], provider()).unwrap();
        assert_eq!(
            stranger
                .verify_client_cert(&leaf, &[intermediate], now)
                .unwrap_err(),
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
        );
        assert!(verifier.client_auth_mandatory());
        assert_eq!(verifier.root_hint_subjects().len(), 1);
    }
}
