//! Which field of the client certificate names the caller, and the request Credential (Username and Password)
//! some clients send on top of it.

use serde::Deserialize;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::kmip::message::Authentication;
use crate::spec::{enums, tag};
use crate::ttlv::Value;

/// The certificate field an identity is taken from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentitySource {
    /// The subject Common Name (the default).
    #[default]
    CommonName,
    /// The first DNS name of the Subject Alternative Name extension.
    SanDns,
    /// The first email address (rfc822Name) of the Subject Alternative Name extension.
    SanEmail,
    /// The first URI of the Subject Alternative Name extension.
    SanUri,
    /// The certificate's SHA-256 fingerprint, lowercase hex: pins one certificate whatever its names.
    Fingerprint,
}

/// The first SAN entry of the kind `source` asks for (None for the other sources, or when absent).
pub(crate) fn subject_alt_name(certificate_der: &[u8], source: IdentitySource) -> Option<String> {
    if source == IdentitySource::Fingerprint || source == IdentitySource::CommonName {
        return None;
    }
    let (_, certificate) = X509Certificate::from_der(certificate_der).ok()?;
    let san = certificate.subject_alternative_name().ok()??;
    san.value
        .general_names
        .iter()
        .find_map(|name| match (source, name) {
            (IdentitySource::SanDns, GeneralName::DNSName(n)) => Some((*n).to_string()),
            (IdentitySource::SanEmail, GeneralName::RFC822Name(n)) => Some((*n).to_string()),
            (IdentitySource::SanUri, GeneralName::URI(n)) => Some((*n).to_string()),
            _ => None,
        })
        .filter(|n| !n.is_empty())
}

/// A Username and Password Credential as sent; the password is wiped when dropped.
pub struct PasswordCredential {
    /// The user name the client claims.
    pub username: String,
    /// The password, if the client sent one.
    pub password: Option<zeroize::Zeroizing<String>>,
}

/// Why a request's Authentication could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CredentialError {
    /// A Credential type the server does not check (Device, Attestation, tickets...).
    #[error("credential type {0:#x} is not supported; only Username and Password is")]
    Unsupported(u32),
    /// The Credential Value is not a Username and Password structure.
    #[error("the Username and Password credential is malformed: {0}")]
    Malformed(&'static str),
    /// More than one Username and Password credential.
    #[error("more than one Username and Password credential")]
    Several,
}

/// The Username and Password credential of a request header, if it has one.
pub fn password_credential(
    authentication: Option<&Authentication>,
) -> Result<Option<PasswordCredential>, CredentialError> {
    let Some(authentication) = authentication else {
        return Ok(None);
    };
    let mut found = None;
    for credential in &authentication.credentials {
        if credential.credential_type.0 != enums::credential_type::USERNAME_AND_PASSWORD {
            return Err(CredentialError::Unsupported(credential.credential_type.0));
        }
        let value = &credential.credential_value;
        let username = match value.child(tag::USERNAME).map(|u| &u.value) {
            Some(Value::TextString(u)) => u.clone(),
            Some(_) => return Err(CredentialError::Malformed("Username is not a Text String")),
            None => return Err(CredentialError::Malformed("Username is missing")),
        };
        let password = match value.child(tag::PASSWORD).map(|p| &p.value) {
            Some(Value::TextString(p)) => Some(zeroize::Zeroizing::new(p.clone())),
            Some(_) => return Err(CredentialError::Malformed("Password is not a Text String")),
            None => None,
        };
        if found.is_some() {
            return Err(CredentialError::Several);
        }
        found = Some(PasswordCredential { username, password });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate_with_sans() -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["db-7.example".to_string()]).unwrap();
        params.subject_alt_names.push(rcgen::SanType::Rfc822Name(
            "ops@example.com".try_into().unwrap(),
        ));
        params.subject_alt_names.push(rcgen::SanType::URI(
            "spiffe://example/db".try_into().unwrap(),
        ));
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "cn-name");
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn each_source_names_the_caller_by_its_field() {
        let der = certificate_with_sans();
        let peer = "127.0.0.1:1".parse().unwrap();
        let by = |s| super::super::Caller::from_certificate_by(peer, &der, s).identity;
        assert_eq!(by(IdentitySource::CommonName), "cn-name");
        assert_eq!(by(IdentitySource::SanDns), "db-7.example");
        assert_eq!(by(IdentitySource::SanEmail), "ops@example.com");
        assert_eq!(by(IdentitySource::SanUri), "spiffe://example/db");
        let fingerprint = by(IdentitySource::Fingerprint);
        assert_eq!(fingerprint, hex::encode(super::super::sha256(&der)));
    }

    #[test]
    fn sources_read_from_kebab_case() {
        #[derive(Deserialize)]
        struct T {
            s: IdentitySource,
        }
        let t: T = toml::from_str("s = \"san-email\"").unwrap();
        assert_eq!(t.s, IdentitySource::SanEmail);
        assert!(toml::from_str::<T>("s = \"serial\"").is_err());
    }
}
