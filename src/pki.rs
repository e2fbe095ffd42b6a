//! Certificates for kmipd: the development CA of the embedded default, and server and client certificates an
//! operator issues from their own CA with `kmipd cert`. One place holds the profiles (key usages, extended key
//! usages, validity) so that the bootstrap and the command line issue the same kind of certificate.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

/// Validity of a development CA: long, because replacing it means re-issuing every certificate.
pub const CA_VALIDITY_DAYS: u32 = 3650;
/// Default validity of a server or client certificate.
pub const LEAF_VALIDITY_DAYS: u32 = 730;
/// How far back a new certificate's validity starts, to tolerate clocks running slightly behind.
const BACKDATE: Duration = Duration::hours(1);
/// Organization written into every subject kmipd issues.
const ORGANIZATION: &str = "kmipd";

/// Why a certificate could not be made, read or written.
#[derive(Debug, Error)]
pub enum PkiError {
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("invalid DNS name `{0}`")]
    DnsName(String),
    #[error("cannot read {path}: {source}")]
    Pem {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("a server certificate needs at least one DNS name or IP address")]
    NoServerName,
    #[error("validity of {0} days is out of range (1..=36500)")]
    Validity(u32),
    #[error("the certificate to revoke cannot be read")]
    NoSerial,
}

/// The key types kmipd issues certificates for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyType {
    /// ECDSA on P-256 with SHA-256: small, fast, and accepted by every current TLS stack.
    #[default]
    EcdsaP256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384,
    /// RSA 2048 with SHA-256, for clients whose TLS stack predates ECDSA client certificates.
    Rsa2048,
    /// RSA 3072 with SHA-256.
    Rsa3072,
    /// RSA 4096 with SHA-256.
    Rsa4096,
}

impl FromStr for KeyType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "ecdsa-p256" => KeyType::EcdsaP256,
            "ecdsa-p384" => KeyType::EcdsaP384,
            "rsa2048" => KeyType::Rsa2048,
            "rsa3072" => KeyType::Rsa3072,
            "rsa4096" => KeyType::Rsa4096,
            other => {
                return Err(format!(
                    "unknown key type `{other}` (ecdsa-p256, ecdsa-p384, rsa2048, rsa3072, rsa4096)"
                ));
            }
        })
    }
}

impl KeyType {
    fn generate(self) -> Result<KeyPair, rcgen::Error> {
        match self {
            KeyType::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            KeyType::EcdsaP384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
            KeyType::Rsa2048 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
            }
            KeyType::Rsa3072 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_3072)
            }
            KeyType::Rsa4096 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_4096)
            }
        }
    }
}

/// A certificate and its private key, both PEM.
pub struct IssuedPair {
    /// The certificate, PEM.
    pub certificate_pem: String,
    /// The private key (PKCS#8), PEM; wiped when dropped.
    pub private_key_pem: Zeroizing<String>,
}

impl std::fmt::Debug for IssuedPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedPair")
            .field("private_key_pem", &"<hidden>")
            .finish_non_exhaustive()
    }
}

/// A CA that can sign certificates.
pub struct CertificateAuthority {
    issuer: Issuer<'static, KeyPair>,
    certificate_pem: String,
}

impl CertificateAuthority {
    /// Makes a new self-signed CA; returns it and its certificate and key to store.
    pub fn generate(
        common_name: &str,
        validity_days: u32,
        key_type: KeyType,
    ) -> Result<(CertificateAuthority, IssuedPair), PkiError> {
        let key = key_type.generate()?;
        let mut params = base_params(common_name, validity_days)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let certificate = params.self_signed(&key)?;
        let pair = IssuedPair {
            certificate_pem: certificate.pem(),
            private_key_pem: Zeroizing::new(key.serialize_pem()),
        };
        let authority = CertificateAuthority {
            issuer: Issuer::new(params, key),
            certificate_pem: pair.certificate_pem.clone(),
        };
        Ok((authority, pair))
    }

    /// Loads a CA from its PEM certificate and private key files.
    pub fn load(
        certificate_path: &Path,
        key_path: &Path,
    ) -> Result<CertificateAuthority, PkiError> {
        let pem_error = |path: &Path| {
            let path = path.to_owned();
            move |source| PkiError::Pem { path, source }
        };
        let certificate =
            CertificateDer::from_pem_file(certificate_path).map_err(pem_error(certificate_path))?;
        let key_der = PrivateKeyDer::from_pem_file(key_path).map_err(pem_error(key_path))?;
        let key = KeyPair::try_from(&key_der)?;
        let issuer = Issuer::from_ca_cert_der(&certificate, key)?;
        let certificate_pem = pem_encode("CERTIFICATE", &certificate);
        Ok(CertificateAuthority {
            issuer,
            certificate_pem,
        })
    }

    /// The CA certificate, PEM: what clients and the server put in their trust bundles.
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// A certificate revocation list signed by this CA listing the certificates given (PEM), numbered `number`
    /// and valid for `validity_days`; PEM. The CA was made with the cRLSign key usage for this.
    pub fn revocation_list(
        &self,
        revoked_certificates_pem: &[&str],
        number: u64,
        validity_days: u32,
    ) -> Result<String, PkiError> {
        let now = OffsetDateTime::now_utc();
        let mut revoked_certs = Vec::with_capacity(revoked_certificates_pem.len());
        for pem in revoked_certificates_pem {
            let der =
                CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|source| PkiError::Pem {
                    path: PathBuf::from("<revoked certificate>"),
                    source,
                })?;
            let (_, certificate) =
                <x509_parser::certificate::X509Certificate as x509_parser::prelude::FromDer<
                    '_,
                    _,
                >>::from_der(&der)
                .map_err(|_| PkiError::NoSerial)?;
            let serial_number = SerialNumber::from_slice(certificate.raw_serial());
            revoked_certs.push(rcgen::RevokedCertParams {
                serial_number,
                revocation_time: now - BACKDATE,
                reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                invalidity_date: None,
            });
        }
        let params = rcgen::CertificateRevocationListParams {
            this_update: now - BACKDATE,
            next_update: now + Duration::days(i64::from(validity_days.max(1))),
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&self.issuer)?.pem()?)
    }

    /// Issues a TLS server certificate valid for the given names (extended key usage serverAuth).
    pub fn issue_server(
        &self,
        dns_names: &[String],
        ip_addresses: &[IpAddr],
        validity_days: u32,
        key_type: KeyType,
    ) -> Result<IssuedPair, PkiError> {
        let common_name = match (dns_names.first(), ip_addresses.first()) {
            (Some(dns), _) => dns.clone(),
            (None, Some(ip)) => ip.to_string(),
            (None, None) => return Err(PkiError::NoServerName),
        };
        let mut params = base_params(&common_name, validity_days)?;
        for dns in dns_names {
            let name = rcgen::string::Ia5String::try_from(dns.as_str())
                .map_err(|_| PkiError::DnsName(dns.clone()))?;
            params.subject_alt_names.push(SanType::DnsName(name));
        }
        params
            .subject_alt_names
            .extend(ip_addresses.iter().map(|ip| SanType::IpAddress(*ip)));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign_leaf(params, key_type)
    }

    /// Issues a node certificate for zone `zone`: it both serves the node port and connects to peers
    /// (extended key usages serverAuth and clientAuth), and carries the node's name `<zone>.node.kmipd` as
    /// subject CN and as its first DNS name, which is what binds it to that node (a KMIP client certificate,
    /// named by its CN alone, can never pass for a node). `dns_names`/`ip_addresses` are the addresses the
    /// node's peers reach it by.
    pub fn issue_node(
        &self,
        zone: &str,
        dns_names: &[String],
        ip_addresses: &[IpAddr],
        validity_days: u32,
        key_type: KeyType,
    ) -> Result<IssuedPair, PkiError> {
        let node = crate::mtls::node_name(zone);
        if !crate::mtls::valid_zone_name(zone) {
            return Err(PkiError::DnsName(node));
        }
        let mut params = base_params(&node, validity_days)?;
        for dns in std::iter::once(&node).chain(dns_names) {
            let name = rcgen::string::Ia5String::try_from(dns.as_str())
                .map_err(|_| PkiError::DnsName(dns.clone()))?;
            params.subject_alt_names.push(SanType::DnsName(name));
        }
        params
            .subject_alt_names
            .extend(ip_addresses.iter().map(|ip| SanType::IpAddress(*ip)));
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        self.sign_leaf(params, key_type)
    }

    /// Issues a TLS client certificate whose subject CN is `name`, the caller identity kmipd sees
    /// (extended key usage clientAuth; kmipd itself does not demand it).
    pub fn issue_client(
        &self,
        name: &str,
        validity_days: u32,
        key_type: KeyType,
    ) -> Result<IssuedPair, PkiError> {
        self.issue_client_for(
            name,
            validity_days,
            key_type,
            &[ExtendedKeyUsagePurpose::ClientAuth],
        )
    }

    /// Issues a client certificate whose extended key usage names exactly `purposes` (none: no extension), as
    /// third-party CAs do.
    pub fn issue_client_for(
        &self,
        name: &str,
        validity_days: u32,
        key_type: KeyType,
        purposes: &[ExtendedKeyUsagePurpose],
    ) -> Result<IssuedPair, PkiError> {
        let mut params = base_params(name, validity_days)?;
        params.extended_key_usages = purposes.to_vec();
        self.sign_leaf(params, key_type)
    }

    fn sign_leaf(
        &self,
        mut params: CertificateParams,
        key_type: KeyType,
    ) -> Result<IssuedPair, PkiError> {
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if matches!(
            key_type,
            KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096
        ) {
            // TLS 1.2 RSA key exchange needs it; harmless otherwise.
            params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
        }
        params.use_authority_key_identifier_extension = true;
        let key = key_type.generate()?;
        let certificate = params.signed_by(&key, &self.issuer)?;
        Ok(IssuedPair {
            certificate_pem: certificate.pem(),
            private_key_pem: Zeroizing::new(key.serialize_pem()),
        })
    }
}

/// Subject, serial and validity shared by every profile.
fn base_params(common_name: &str, validity_days: u32) -> Result<CertificateParams, PkiError> {
    if !(1..=36500).contains(&validity_days) {
        return Err(PkiError::Validity(validity_days));
    }
    let mut params = CertificateParams::default();
    let mut subject = DistinguishedName::new();
    subject.push(DnType::OrganizationName, ORGANIZATION);
    subject.push(DnType::CommonName, common_name);
    params.distinguished_name = subject;
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + Duration::days(i64::from(validity_days));
    params.serial_number = Some(random_serial());
    Ok(params)
}

/// A positive 127-bit random serial number.
fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    // Should the system RNG fail, the serial falls back to one derived from the time: unique enough for a serial,
    // which is not a secret.
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        bytes = nanos.to_be_bytes();
    }
    bytes[0] &= 0x7F;
    bytes[0] |= 0x40;
    SerialNumber::from_slice(&bytes)
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Writes a file that anyone may read (certificates, configuration); refuses to overwrite.
pub fn write_public_file(path: &Path, contents: &str) -> Result<(), PkiError> {
    write_new_file(path, contents, 0o644)
}

/// Writes a private key readable by the owner only (mode 0600); refuses to overwrite.
pub fn write_private_file(path: &Path, contents: &str) -> Result<(), PkiError> {
    write_new_file(path, contents, 0o600)
}

/// Writes `<dir>/<base>.pem` and `<dir>/<base>.key`; returns their paths.
pub fn write_pair(
    dir: &Path,
    base: &str,
    pair: &IssuedPair,
) -> Result<(PathBuf, PathBuf), PkiError> {
    let certificate_path = dir.join(format!("{base}.pem"));
    let key_path = dir.join(format!("{base}.key"));
    write_private_file(&key_path, &pair.private_key_pem)?;
    write_public_file(&certificate_path, &pair.certificate_pem)?;
    Ok((certificate_path, key_path))
}

fn write_new_file(path: &Path, contents: &str, mode: u32) -> Result<(), PkiError> {
    let write_error = |source| PkiError::Write {
        path: path.to_owned(),
        source,
    };
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(write_error)?;
    file.write_all(contents.as_bytes()).map_err(write_error)?;
    file.sync_all().map_err(write_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::{FromDer, X509Certificate};

    fn der(pem: &str) -> Vec<u8> {
        CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec()
    }

    #[test]
    fn profiles_carry_the_documented_usages() {
        let (ca, ca_pair) =
            CertificateAuthority::generate("test CA", 30, KeyType::EcdsaP256).unwrap();
        let server = ca
            .issue_server(
                &["localhost".into()],
                &["127.0.0.1".parse().unwrap()],
                30,
                KeyType::EcdsaP256,
            )
            .unwrap();
        let client = ca.issue_client("alice", 30, KeyType::EcdsaP256).unwrap();

        let ca_der = der(&ca_pair.certificate_pem);
        let (_, ca_cert) = X509Certificate::from_der(&ca_der).unwrap();
        assert!(ca_cert.is_ca());

        let server_der = der(&server.certificate_pem);
        let (_, server_cert) = X509Certificate::from_der(&server_der).unwrap();
        let eku = server_cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && !eku.client_auth);
        assert_eq!(server_cert.issuer(), ca_cert.subject());
        let san = server_cert
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value;
        assert_eq!(san.general_names.len(), 2);

        let client_der = der(&client.certificate_pem);
        let (_, client_cert) = X509Certificate::from_der(&client_der).unwrap();
        let eku = client_cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
        let cn = client_cert
            .subject()
            .iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap();
        assert_eq!(cn, "alice");
    }

    #[test]
    fn a_loaded_ca_signs_like_the_original() {
        let dir = tempfile::tempdir().unwrap();
        let (_, pair) = CertificateAuthority::generate("ops CA", 30, KeyType::EcdsaP384).unwrap();
        let (cert_path, key_path) = write_pair(dir.path(), "ca", &pair).unwrap();
        let ca = CertificateAuthority::load(&cert_path, &key_path).unwrap();
        assert_eq!(der(ca.certificate_pem()), der(&pair.certificate_pem));
        let client = ca.issue_client("bob", 10, KeyType::EcdsaP256).unwrap();
        let client_der = der(&client.certificate_pem);
        let (_, client_cert) = X509Certificate::from_der(&client_der).unwrap();
        let ca_der = der(&pair.certificate_pem);
        let (_, ca_cert) = X509Certificate::from_der(&ca_der).unwrap();
        assert!(
            client_cert
                .verify_signature(Some(ca_cert.public_key()))
                .is_ok()
        );
    }

    #[test]
    fn files_are_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.key");
        write_private_file(&path, "one").unwrap();
        assert!(write_private_file(&path, "two").is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one");
    }

    #[test]
    fn a_node_certificate_names_its_node_first() {
        let (ca, _) = CertificateAuthority::generate("node CA", 30, KeyType::EcdsaP256).unwrap();
        let node = ca
            .issue_node(
                "b",
                &["localhost".into()],
                &["127.0.0.1".parse().unwrap()],
                30,
                KeyType::EcdsaP256,
            )
            .unwrap();
        let node_der = der(&node.certificate_pem);
        let (_, cert) = X509Certificate::from_der(&node_der).unwrap();
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && eku.client_auth);
        let san = cert.subject_alternative_name().unwrap().unwrap().value;
        assert_eq!(
            san.general_names.first(),
            Some(&x509_parser::extensions::GeneralName::DNSName(
                "b.node.kmipd"
            ))
        );
        assert_eq!(san.general_names.len(), 3);
        assert!(
            ca.issue_node("bad zone", &[], &[], 30, KeyType::EcdsaP256)
                .is_err()
        );
    }

    #[test]
    fn a_server_certificate_needs_a_name() {
        let (ca, _) = CertificateAuthority::generate("test CA", 30, KeyType::EcdsaP256).unwrap();
        assert!(matches!(
            ca.issue_server(&[], &[], 30, KeyType::EcdsaP256),
            Err(PkiError::NoServerName)
        ));
        assert!(ca.issue_client("x", 0, KeyType::EcdsaP256).is_err());
    }
}
