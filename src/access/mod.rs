//! Who is calling and what they may do: the identity taken from the verified client certificate (or the
//! request's Credential), the policy and per-object grants that decide each operation, the audit log that
//! records it, and the network-edge checks (address allow-list, per-identity limits).
//!
//! The engine asks two questions of this layer, through [`policy::Policy`] and [`grants`]: "may this principal
//! do operation X on object Y?" and "may it see object Y?" (Locate filtering). The transport asks
//! [`allow_list::AllowList`] before the TLS handshake and [`limits::IdentityLimits`] after it.

pub mod allow_list;
pub mod audit;
pub mod client;
pub mod grants;
pub mod identity;
pub mod limits;
pub mod policy;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

pub use identity::IdentitySource;
use x509_parser::prelude::{FromDer, X509Certificate};

/// What the engine enforces and records: the policy every request is judged by, and the audit log each batch
/// item is written to (none: not recorded).
#[derive(Clone, Debug, Default)]
pub struct AccessControl {
    /// Who may do what.
    pub policy: Arc<policy::Policy>,
    /// Where each batch item is recorded.
    pub audit: Option<Arc<audit::AuditLog>>,
}

/// The authenticated caller of a request.
#[derive(Clone, PartialEq, Eq)]
pub struct Caller {
    /// The TCP peer the request came from.
    pub peer: SocketAddr,
    /// Who the caller is: the subject common name of its certificate, or the hex SHA-256 fingerprint of the
    /// certificate when the subject has no common name.
    pub identity: String,
    /// SHA-256 of the DER of the caller's end-entity certificate, to pin a caller independently of its name.
    pub certificate_sha256: [u8; 32],
    /// A caller inside the server process (tools, tests), not a network client: the policy does not apply.
    pub in_process: bool,
}

impl Caller {
    /// Names the caller from its verified end-entity certificate (DER) by its subject common name.
    pub fn from_certificate(peer: SocketAddr, certificate_der: &[u8]) -> Caller {
        Caller::from_certificate_by(peer, certificate_der, IdentitySource::CommonName)
    }

    /// Names the caller from its verified certificate by the configured source; a certificate without that
    /// field is named by its fingerprint, which no policy lists unless an operator put it there.
    pub fn from_certificate_by(
        peer: SocketAddr,
        certificate_der: &[u8],
        source: IdentitySource,
    ) -> Caller {
        let certificate_sha256 = sha256(certificate_der);
        let named = match source {
            IdentitySource::CommonName => subject_common_name(certificate_der),
            other => identity::subject_alt_name(certificate_der, other),
        };
        let identity = named.unwrap_or_else(|| hex::encode(certificate_sha256));
        Caller {
            peer,
            identity,
            certificate_sha256,
            in_process: false,
        }
    }

    /// The certificate fingerprint as lowercase hex, for logs and audit records.
    pub fn fingerprint_hex(&self) -> String {
        hex::encode(self.certificate_sha256)
    }
}

impl fmt::Debug for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Caller")
            .field("peer", &self.peer)
            .field("identity", &self.identity)
            .field("certificate_sha256", &self.fingerprint_hex())
            .field("in_process", &self.in_process)
            .finish()
    }
}

/// SHA-256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    // SHA-256 always yields 32 bytes; `zip` keeps this free of indexing all the same.
    for (o, d) in out.iter_mut().zip(digest.as_ref()) {
        *o = *d;
    }
    out
}

/// The first non-empty subject CN of a certificate, if it parses and has one.
fn subject_common_name(certificate_der: &[u8]) -> Option<String> {
    let (_, certificate) = X509Certificate::from_der(certificate_der).ok()?;
    certificate
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok())
        .find(|cn| !cn.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(cn: Option<&str>) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["client.test".to_string()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(cn) = cn {
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, cn);
        }
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "kmipd tests");
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn identity_is_the_subject_common_name() {
        let der = certificate(Some("vcenter-01"));
        let caller = Caller::from_certificate("127.0.0.1:4000".parse().unwrap(), &der);
        assert_eq!(caller.identity, "vcenter-01");
        assert_eq!(caller.certificate_sha256, sha256(&der));
    }

    #[test]
    fn identity_falls_back_to_the_fingerprint() {
        let der = certificate(None);
        let caller = Caller::from_certificate("127.0.0.1:4000".parse().unwrap(), &der);
        assert_eq!(caller.identity, caller.fingerprint_hex());
        assert_eq!(caller.identity.len(), 64);
    }

    #[test]
    fn sha256_matches_a_known_vector() {
        assert_eq!(
            hex::encode(sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
