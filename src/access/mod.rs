//! Who is calling: the identity taken from the verified client certificate.
//!
//! The TLS layer has already checked the certificate chain by the time a [`Caller`] is built; this module only
//! names the caller so that operations can record and authorise by it.

use std::fmt;
use std::net::SocketAddr;

use x509_parser::prelude::{FromDer, X509Certificate};

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
}

impl Caller {
    /// Names the caller from its verified end-entity certificate (DER).
    pub fn from_certificate(peer: SocketAddr, certificate_der: &[u8]) -> Caller {
        let certificate_sha256 = sha256(certificate_der);
        let identity = subject_common_name(certificate_der)
            .unwrap_or_else(|| hex::encode(certificate_sha256));
        Caller { peer, identity, certificate_sha256 }
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
            .finish()
    }
}

/// SHA-256 of `bytes`.
fn sha256(bytes: &[u8]) -> [u8; 32] {
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
            params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        }
        params.distinguished_name.push(rcgen::DnType::OrganizationName, "kmipd tests");
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
