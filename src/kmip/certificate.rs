//! The attributes a server derives from a certificate it registers (2.1 sections 4.6-4.8, 4.61-4.63; 1.4
//! sections 3.8-3.15): Certificate Type and Length; the X.509 Certificate Identifier, Subject and Issuer with
//! the distinguished names as DER; their deprecated 1.0/1.1 forms (Certificate Identifier, Subject, Issuer) with
//! the names as RFC 4514 text; and the 2.x per-component attributes (Certificate Subject CN, Certificate Issuer
//! O, ...); and the Digital Signature Algorithm. Each version's responses then carry the forms it knows
//! (`AttributeName::known_in`). Cryptographic Algorithm and Length are those of the certified public key.

use x509_parser::prelude::{
    FromDer, GeneralName, ParsedExtension, SubjectPublicKeyInfo, X509Certificate, X509Name,
};
use x509_parser::public_key::PublicKey;

use crate::spec::enums::certificate_type;
use crate::spec::enums::digital_signature_algorithm as dsa;
use crate::spec::tag;
use crate::ttlv::{Tag, Ttlv, Value};

use super::attributes::{Attribute, Attributes};
use super::error::{KmipError, ResultReason};

/// The name components with their own 2.x attribute (2.1 section 4.6): OID, Subject tag, Issuer tag.
const NAME_COMPONENTS: &[(&str, Tag, Tag)] = &[
    (
        "2.5.4.3",
        tag::CERTIFICATE_SUBJECT_CN,
        tag::CERTIFICATE_ISSUER_CN,
    ),
    (
        "2.5.4.10",
        tag::CERTIFICATE_SUBJECT_O,
        tag::CERTIFICATE_ISSUER_O,
    ),
    (
        "2.5.4.11",
        tag::CERTIFICATE_SUBJECT_OU,
        tag::CERTIFICATE_ISSUER_OU,
    ),
    (
        "1.2.840.113549.1.9.1",
        tag::CERTIFICATE_SUBJECT_EMAIL,
        tag::CERTIFICATE_ISSUER_EMAIL,
    ),
    (
        "2.5.4.6",
        tag::CERTIFICATE_SUBJECT_C,
        tag::CERTIFICATE_ISSUER_C,
    ),
    (
        "2.5.4.8",
        tag::CERTIFICATE_SUBJECT_ST,
        tag::CERTIFICATE_ISSUER_ST,
    ),
    (
        "2.5.4.7",
        tag::CERTIFICATE_SUBJECT_L,
        tag::CERTIFICATE_ISSUER_L,
    ),
    (
        "0.9.2342.19200300.100.1.1",
        tag::CERTIFICATE_SUBJECT_UID,
        tag::CERTIFICATE_ISSUER_UID,
    ),
    (
        "2.5.4.5",
        tag::CERTIFICATE_SUBJECT_SERIAL_NUMBER,
        tag::CERTIFICATE_ISSUER_SERIAL_NUMBER,
    ),
    (
        "2.5.4.12",
        tag::CERTIFICATE_SUBJECT_TITLE,
        tag::CERTIFICATE_ISSUER_TITLE,
    ),
    (
        "0.9.2342.19200300.100.1.25",
        tag::CERTIFICATE_SUBJECT_DC,
        tag::CERTIFICATE_ISSUER_DC,
    ),
    (
        "2.5.4.46",
        tag::CERTIFICATE_SUBJECT_DN_QUALIFIER,
        tag::CERTIFICATE_ISSUER_DN_QUALIFIER,
    ),
];

/// Signature algorithm OIDs and their Digital Signature Algorithm values (2.1 section 11.16).
const SIGNATURE_ALGORITHMS: &[(&str, u32)] = &[
    (
        "1.2.840.113549.1.1.2",
        dsa::MD2_WITH_RSA_ENCRYPTION_PKCS_1_V1_5,
    ),
    (
        "1.2.840.113549.1.1.4",
        dsa::MD5_WITH_RSA_ENCRYPTION_PKCS_1_V1_5,
    ),
    (
        "1.2.840.113549.1.1.5",
        dsa::SHA_1_WITH_RSA_ENCRYPTION_PKCS_1_V1_5,
    ),
    (
        "1.2.840.113549.1.1.14",
        dsa::SHA_224_WITH_RSA_ENCRYPTION_PKCS_1_V1_5,
    ),
    (
        "1.2.840.113549.1.1.11",
        dsa::SHA_256_WITH_RSA_ENCRYPTION_PKCS_1_V1_5,
    ),
    (
        "1.2.840.113549.1.1.12",
        dsa::SHA_384_WITH_RSA_ENCRYPTION_PKCS_1_V1_5,
    ),
    (
        "1.2.840.113549.1.1.13",
        dsa::SHA_512_WITH_RSA_ENCRYPTION_PKCS_1_V1_5,
    ),
    ("1.2.840.113549.1.1.10", dsa::RSASSA_PSSPKCS_1_V2_1),
    ("1.2.840.10040.4.3", dsa::DSA_WITH_SHA_1),
    ("2.16.840.1.101.3.4.3.1", dsa::DSA_WITH_SHA224),
    ("2.16.840.1.101.3.4.3.2", dsa::DSA_WITH_SHA256),
    ("1.2.840.10045.4.1", dsa::ECDSA_WITH_SHA_1),
    ("1.2.840.10045.4.3.1", dsa::ECDSA_WITH_SHA224),
    ("1.2.840.10045.4.3.2", dsa::ECDSA_WITH_SHA256),
    ("1.2.840.10045.4.3.3", dsa::ECDSA_WITH_SHA384),
    ("1.2.840.10045.4.3.4", dsa::ECDSA_WITH_SHA512),
    ("2.16.840.1.101.3.4.3.14", dsa::SHA3_256_WITH_RSA_ENCRYPTION),
    ("2.16.840.1.101.3.4.3.15", dsa::SHA3_384_WITH_RSA_ENCRYPTION),
    ("2.16.840.1.101.3.4.3.16", dsa::SHA3_512_WITH_RSA_ENCRYPTION),
];

/// The attributes the server sets on a registered certificate of `kind` (Certificate Type value) and encoding
/// `value`. An X.509 certificate that does not parse is refused (Invalid Field): the server must be able to set
/// its identifiers. Other certificate types (PGP) get Type and Length only.
pub fn derived_attributes(kind: u32, value: &[u8]) -> Result<Attributes, KmipError> {
    let mut out = Attributes::new();
    out.add(Attribute::standard(
        tag::CERTIFICATE_TYPE,
        Value::Enumeration(kind),
    ));
    out.add(Attribute::standard(
        tag::CERTIFICATE_LENGTH,
        Value::Integer(i32::try_from(value.len()).map_err(|_| {
            KmipError::invalid_field("the certificate is too long to state its length")
        })?),
    ));
    if kind != certificate_type::X_509 {
        return Ok(out);
    }
    let (rest, cert) = X509Certificate::from_der(value).map_err(|e| {
        KmipError::new(
            ResultReason::InvalidField,
            format!("the Certificate Value is not a DER X.509 certificate: {e}"),
        )
    })?;
    if !rest.is_empty() {
        return Err(KmipError::invalid_field(
            "the Certificate Value has bytes after the X.509 certificate",
        ));
    }
    let tbs = &cert.tbs_certificate;
    let subject_alt = alternative_names(&cert, AltOf::Subject);
    let issuer_alt = alternative_names(&cert, AltOf::Issuer);

    out.add(structure(
        tag::X_509_CERTIFICATE_IDENTIFIER,
        vec![
            bytes(tag::ISSUER_DISTINGUISHED_NAME, tbs.issuer.as_raw()),
            bytes(tag::CERTIFICATE_SERIAL_NUMBER, tbs.raw_serial()),
        ],
    ));
    let mut subject = vec![bytes(tag::SUBJECT_DISTINGUISHED_NAME, tbs.subject.as_raw())];
    subject.extend(
        subject_alt
            .raw
            .iter()
            .map(|r| bytes(tag::SUBJECT_ALTERNATIVE_NAME, r)),
    );
    out.add(structure(tag::X_509_CERTIFICATE_SUBJECT, subject));
    let mut issuer = vec![bytes(tag::ISSUER_DISTINGUISHED_NAME, tbs.issuer.as_raw())];
    issuer.extend(
        issuer_alt
            .raw
            .iter()
            .map(|r| bytes(tag::ISSUER_ALTERNATIVE_NAME, r)),
    );
    out.add(structure(tag::X_509_CERTIFICATE_ISSUER, issuer));

    out.add(structure(
        tag::CERTIFICATE_IDENTIFIER,
        vec![
            text(tag::ISSUER, &tbs.issuer.to_string()),
            text(tag::SERIAL_NUMBER, &tbs.serial.to_string()),
        ],
    ));
    let mut subject_1x = vec![text(
        tag::CERTIFICATE_SUBJECT_DISTINGUISHED_NAME,
        &tbs.subject.to_string(),
    )];
    subject_1x.extend(
        subject_alt
            .text
            .iter()
            .map(|t| text(tag::CERTIFICATE_SUBJECT_ALTERNATIVE_NAME, t)),
    );
    out.add(structure(tag::CERTIFICATE_SUBJECT, subject_1x));
    let mut issuer_1x = vec![text(
        tag::CERTIFICATE_ISSUER_DISTINGUISHED_NAME,
        &tbs.issuer.to_string(),
    )];
    issuer_1x.extend(
        issuer_alt
            .text
            .iter()
            .map(|t| text(tag::CERTIFICATE_ISSUER_ALTERNATIVE_NAME, t)),
    );
    out.add(structure(tag::CERTIFICATE_ISSUER, issuer_1x));

    // Digital Signature Algorithm of the certificate's signature, when KMIP has a value for it (Ed25519 has
    // none).
    let signature_oid = cert.signature_algorithm.algorithm.to_id_string();
    if let Some((_, value)) = SIGNATURE_ALGORITHMS
        .iter()
        .find(|(oid, _)| *oid == signature_oid)
    {
        out.add(Attribute::standard(
            tag::DIGITAL_SIGNATURE_ALGORITHM,
            Value::Enumeration(*value),
        ));
    }
    // Cryptographic Algorithm and Length: those of the certified public key (2.1 sections 4.13, 4.15: "for
    // certificates, the public key contained within the Certificate").
    if let Some((algorithm, bits)) = public_key_algorithm(tbs.public_key()) {
        out.add(Attribute::standard(
            tag::CRYPTOGRAPHIC_ALGORITHM,
            Value::Enumeration(algorithm),
        ));
        out.add(Attribute::standard(
            tag::CRYPTOGRAPHIC_LENGTH,
            Value::Integer(bits),
        ));
    }
    components(&tbs.subject, true, &mut out);
    components(&tbs.issuer, false, &mut out);
    Ok(out)
}

/// The DER content of the named curves' OIDs: P-256 (1.2.840.10045.3.1.7), P-384 (1.3.132.0.34) and P-521
/// (1.3.132.0.35), with their sizes in bits.
const NAMED_CURVES: &[(&[u8], i32)] = &[
    (&[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07], 256),
    (&[0x2B, 0x81, 0x04, 0x00, 0x22], 384),
    (&[0x2B, 0x81, 0x04, 0x00, 0x23], 521),
];

/// The KMIP Cryptographic Algorithm and the length in bits of a certified public key, where KMIP names the
/// algorithm and the length is known: RSA (modulus bits), EC on a named NIST curve, Ed25519.
fn public_key_algorithm(spki: &SubjectPublicKeyInfo<'_>) -> Option<(u32, i32)> {
    use crate::spec::enums::cryptographic_algorithm as alg;
    match spki.algorithm.algorithm.to_id_string().as_str() {
        "1.2.840.113549.1.1.1" => match spki.parsed().ok()? {
            PublicKey::RSA(rsa) => {
                let modulus = rsa.modulus;
                let start = modulus.iter().position(|b| *b != 0)?;
                let first = modulus.get(start)?;
                let bits = (modulus.len() - start) * 8 - first.leading_zeros() as usize;
                Some((alg::RSA, i32::try_from(bits).ok()?))
            }
            _ => None,
        },
        "1.2.840.10045.2.1" => {
            let curve = spki.algorithm.parameters.as_ref()?.data;
            let (_, bits) = NAMED_CURVES.iter().find(|(oid, _)| *oid == curve)?;
            Some((alg::EC, *bits))
        }
        "1.3.101.112" => Some((alg::ED25519, 256)),
        _ => None,
    }
}

/// Certificate Subject CN, ... (or Issuer) for each component of `name` that has one, in the name's order.
fn components(name: &X509Name<'_>, subject: bool, out: &mut Attributes) {
    for atv in name.iter_attributes() {
        let oid = atv.attr_type().to_id_string();
        let Some((_, subject_tag, issuer_tag)) = NAME_COMPONENTS.iter().find(|(o, _, _)| *o == oid)
        else {
            continue;
        };
        // A component whose string type is not text (rare) has no Text String form: it is left out.
        if let Ok(s) = atv.as_str() {
            let t = if subject { *subject_tag } else { *issuer_tag };
            out.add(Attribute::standard(t, Value::TextString(s.to_string())));
        }
    }
}

enum AltOf {
    Subject,
    Issuer,
}

/// A certificate's alternative names: the extension's DER (the 2.x Byte String form) and each name as text (the
/// 1.x form).
#[derive(Default)]
struct AlternativeNames {
    raw: Vec<Vec<u8>>,
    text: Vec<String>,
}

fn alternative_names(cert: &X509Certificate<'_>, of: AltOf) -> AlternativeNames {
    let mut out = AlternativeNames::default();
    for ext in cert.extensions() {
        let names: &[GeneralName<'_>] = match (ext.parsed_extension(), &of) {
            (ParsedExtension::SubjectAlternativeName(san), AltOf::Subject) => &san.general_names,
            (ParsedExtension::IssuerAlternativeName(ian), AltOf::Issuer) => &ian.general_names,
            _ => continue,
        };
        out.raw.push(ext.value.to_vec());
        out.text.extend(names.iter().map(ToString::to_string));
    }
    out
}

fn structure(t: Tag, children: Vec<Ttlv>) -> Attribute {
    Attribute::from_item(Ttlv::structure(t, children))
}

fn bytes(t: Tag, b: &[u8]) -> Ttlv {
    Ttlv::new(t, Value::ByteString(b.to_vec().into()))
}

fn text(t: Tag, s: &str) -> Ttlv {
    Ttlv::new(t, Value::TextString(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmip::attributes::AttributeName;
    use crate::kmip::version::ProtocolVersion;

    fn certificate() -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(vec!["kmip.example".to_string()]).unwrap();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, "Test Key");
        dn.push(rcgen::DnType::OrganizationName, "Example Org");
        dn.push(rcgen::DnType::CountryName, "DE");
        params.distinguished_name = dn;
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    fn value(attrs: &Attributes, t: Tag) -> Value {
        attrs.get_value(t).unwrap().clone()
    }

    #[test]
    fn an_x509_certificate_yields_every_form_of_its_names() {
        let der = certificate();
        let attrs = derived_attributes(certificate_type::X_509, &der).unwrap();
        assert_eq!(
            value(&attrs, tag::CERTIFICATE_LENGTH),
            Value::Integer(i32::try_from(der.len()).unwrap())
        );
        assert_eq!(
            value(&attrs, tag::CERTIFICATE_TYPE),
            Value::Enumeration(certificate_type::X_509)
        );
        assert_eq!(
            value(&attrs, tag::CERTIFICATE_SUBJECT_CN),
            Value::TextString("Test Key".into())
        );
        assert_eq!(
            value(&attrs, tag::CERTIFICATE_ISSUER_O),
            Value::TextString("Example Org".into())
        );
        assert_eq!(
            value(&attrs, tag::CERTIFICATE_SUBJECT_C),
            Value::TextString("DE".into())
        );
        // rcgen signs with ECDSA P-256 and SHA-256 by default.
        assert_eq!(
            value(&attrs, tag::DIGITAL_SIGNATURE_ALGORITHM),
            Value::Enumeration(dsa::ECDSA_WITH_SHA256)
        );
        let parsed = X509Certificate::from_der(&der).unwrap().1;
        let x509_id = attrs
            .get(&AttributeName::Standard(tag::X_509_CERTIFICATE_IDENTIFIER))
            .unwrap();
        assert_eq!(
            x509_id
                .value
                .child(tag::CERTIFICATE_SERIAL_NUMBER)
                .unwrap()
                .value,
            Value::ByteString(parsed.tbs_certificate.raw_serial().to_vec().into())
        );
        let subject = attrs
            .get(&AttributeName::Standard(tag::X_509_CERTIFICATE_SUBJECT))
            .unwrap();
        assert_eq!(
            subject
                .value
                .child(tag::SUBJECT_DISTINGUISHED_NAME)
                .unwrap()
                .value,
            Value::ByteString(parsed.tbs_certificate.subject.as_raw().to_vec().into())
        );
        assert!(subject.value.child(tag::SUBJECT_ALTERNATIVE_NAME).is_some());
        let subject_1x = attrs
            .get(&AttributeName::Standard(tag::CERTIFICATE_SUBJECT))
            .unwrap();
        let Value::TextString(dn) = &subject_1x
            .value
            .child(tag::CERTIFICATE_SUBJECT_DISTINGUISHED_NAME)
            .unwrap()
            .value
        else {
            panic!("not text")
        };
        assert!(dn.contains("CN=Test Key"), "{dn}");
        let alt = subject_1x
            .value
            .child(tag::CERTIFICATE_SUBJECT_ALTERNATIVE_NAME)
            .unwrap();
        assert!(matches!(&alt.value, Value::TextString(s) if s.contains("kmip.example")));
        // 1.4 knows the X.509 forms and not the 2.x components nor the 1.0 forms; 2.1 the components.
        let names_14: Vec<_> = attrs
            .to_items(ProtocolVersion::V1_4)
            .iter()
            .map(|i| i.child(tag::ATTRIBUTE_NAME).unwrap().value.clone())
            .collect();
        assert!(names_14.contains(&Value::TextString("X.509 Certificate Subject".into())));
        assert!(!names_14.contains(&Value::TextString("Certificate Subject".into())));
        assert!(
            attrs
                .to_items(ProtocolVersion::V2_1)
                .iter()
                .any(|i| i.tag == tag::CERTIFICATE_SUBJECT_CN)
        );
    }

    #[test]
    fn bad_certificates_are_refused_and_pgp_is_described_only() {
        assert_eq!(
            derived_attributes(certificate_type::X_509, b"not a certificate")
                .unwrap_err()
                .reason,
            ResultReason::InvalidField
        );
        let mut der = certificate();
        der.push(0);
        assert!(derived_attributes(certificate_type::X_509, &der).is_err());
        let pgp = derived_attributes(certificate_type::PGP, b"pgp bytes").unwrap();
        assert_eq!(pgp.len(), 2);
    }

    /// A self-signed certificate for a key pair of `alg`.
    fn certificate_of(alg: &'static rcgen::SignatureAlgorithm) -> Vec<u8> {
        let params = rcgen::CertificateParams::new(vec!["kmip.example".to_string()]).unwrap();
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn the_certified_public_key_gives_cryptographic_algorithm_and_length() {
        use crate::spec::enums::cryptographic_algorithm as alg;
        for (signature, algorithm, bits) in [
            (&rcgen::PKCS_ECDSA_P256_SHA256, alg::EC, 256),
            (&rcgen::PKCS_ECDSA_P384_SHA384, alg::EC, 384),
            (&rcgen::PKCS_ED25519, alg::ED25519, 256),
            (&rcgen::PKCS_RSA_SHA256, alg::RSA, 2048),
        ] {
            let attrs =
                derived_attributes(certificate_type::X_509, &certificate_of(signature)).unwrap();
            assert_eq!(
                value(&attrs, tag::CRYPTOGRAPHIC_ALGORITHM),
                Value::Enumeration(algorithm),
                "{signature:?}"
            );
            assert_eq!(
                value(&attrs, tag::CRYPTOGRAPHIC_LENGTH),
                Value::Integer(bits),
                "{signature:?}"
            );
        }
    }
}
