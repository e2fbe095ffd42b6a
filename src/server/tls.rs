//! The TLS side of the edge: TLS 1.2 and 1.3 with the aws-lc-rs provider, a client certificate required from
//! every peer and verified against the configured CA bundle.
//!
//! KMIP clients in the field (vSphere, PyKMIP-generated certificates) present client certificates whose extended
//! key usage lacks clientAuth, so [`AnyPurposeClientVerifier`] checks the full chain, signatures and validity
//! times exactly as webpki does for clientAuth, but accepts whatever purposes the extended key usage names.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, RootCertStore,
    SignatureScheme,
};
use thiserror::Error;
use webpki::{EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeIdIter};

use crate::server::config::ServerConfig;

/// Why the TLS configuration could not be built.
#[derive(Debug, Error)]
pub enum TlsError {
    #[error("cannot read {what} from {path}: {source}")]
    Pem { what: &'static str, path: PathBuf, source: rustls::pki_types::pem::Error },
    #[error("{path} holds no certificate")]
    NoCertificate { path: PathBuf },
    #[error("client CA bundle {path} has an unusable certificate: {source}")]
    BadTrustAnchor { path: PathBuf, source: rustls::Error },
    #[error("cannot build the client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    #[error("TLS configuration refused: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The crypto provider every TLS object of the server uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Builds the rustls server configuration from the files named in `config`.
pub fn server_tls_config(config: &ServerConfig) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = read_certificates(&config.cert_chain_path(), "server certificate chain")?;
    let key = read_private_key(&config.private_key_path())?;
    let client_cas = read_certificates(&config.client_ca_path(), "client CA bundle")?;
    build_server_tls_config(chain, key, &client_cas, &config.client_ca_path())
}

/// Builds the rustls server configuration from parsed material; `ca_origin` names the bundle in errors.
pub fn build_server_tls_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_cas: &[CertificateDer<'static>],
    ca_origin: &Path,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = provider();
    let verifier = AnyPurposeClientVerifier::new(client_cas, provider.clone())
        .map_err(|e| match e {
            VerifierSetupError::Anchor(source) => {
                TlsError::BadTrustAnchor { path: ca_origin.to_owned(), source }
            }
            VerifierSetupError::Builder(e) => TlsError::Verifier(e),
        })?;
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(chain, key)?;
    Ok(Arc::new(config))
}

/// Reads every certificate of a PEM file.
pub fn read_certificates(
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_error = |source| TlsError::Pem { what, path: path.to_owned(), source };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(pem_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error)?;
    if certificates.is_empty() {
        return Err(TlsError::NoCertificate { path: path.to_owned() });
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
        Ok(AnyPurposeClientVerifier { roots, algorithms, webpki })
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
        certificate
            .verify_for_usage(
                self.algorithms.all,
                &self.roots.roots,
                intermediates,
                now,
                AnyPurpose,
                None,
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

/// An extended-key-usage policy that accepts any purpose, and no extension at all, but still refuses an
/// extension that is malformed.
struct AnyPurpose;

impl ExtendedKeyUsageValidator for AnyPurpose {
    fn validate(&self, purposes: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        for purpose in purposes {
            purpose?;
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
        E::InvalidSignatureForPublicKey => CertificateError::BadSignature,
        other => CertificateError::Other(OtherError(Arc::new(other))),
    };
    rustls::Error::InvalidCertificate(certificate_error)
}
