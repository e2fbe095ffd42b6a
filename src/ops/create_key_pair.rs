//! Create Key Pair: a P-256, Ed25519 or RSA (2048/3072/4096) key pair from `asymmetric::keys`, each half with the
//! common attributes and its own (1.x Common/Private/Public Key Template-Attribute, 2.x Common/Private/Public Key
//! Attributes), linked to the other by a Public Key Link / Private Key Link, and both saved in one store commit.
//! RSA halves are kept as PKCS#1, P-256 and Ed25519 as PKCS#8 and SubjectPublicKeyInfo; Get converts them.

use crate::crypto::asymmetric::keys::{self, PairKind};
use crate::kmip::KmipError;
use crate::kmip::enums::ObjectType;
use crate::kmip::key_format;
use crate::kmip::object::{KeyBlock, KeyMaterial, ManagedObject, ObjectBody};
use crate::kmip::operations::create::{CreateKeyPairRequest, CreateKeyPairResponse};
use crate::spec::enums::unique_identifier as ue;
use crate::spec::enums::{
    cryptographic_algorithm as alg, key_format_type as kft, link_type, recommended_curve,
};
use crate::spec::tag;
use crate::ttlv::SecretBytes;

use super::OpContext;
use super::asym_key;
use super::new_object::{self, link, number};
use super::object;
use crate::kmip::attribute_rules;
use crate::kmip::attributes::Attributes;

/// Runs Create Key Pair.
pub(super) fn run(
    req: CreateKeyPairRequest,
    ctx: &mut OpContext<'_>,
) -> Result<CreateKeyPairResponse, KmipError> {
    let private_attrs = overlay(&req.common, req.private);
    let public_attrs = overlay(&req.common, req.public);

    let kind = pair_kind(&private_attrs, &public_attrs)?;
    let (private_object, public_object) = generate(kind)?;
    let (private_requested, public_requested) = (private_attrs.clone(), public_attrs.clone());
    let mut private = new_object::build(ctx, private_object, private_attrs)?;
    let mut public = new_object::build(ctx, public_object, public_attrs)?;
    // Both halves come into being now, from the server's generator: Original Creation Date and Random Number
    // Generator, as for Create.
    new_object::mark_generated(ctx, &mut private, &private_requested)?;
    new_object::mark_generated(ctx, &mut public, &public_requested)?;
    private
        .attrs
        .add(link(link_type::PUBLIC_KEY_LINK, &public.uid));
    public
        .attrs
        .add(link(link_type::PRIVATE_KEY_LINK, &private.uid));
    object::save(ctx, &[&private, &public])?;

    ctx.batch
        .produced(ue::CREATE_KEY_PAIR_PUBLIC_KEY, &public.uid);
    ctx.batch.produced(ue::CREATE_KEY_PAIR, &private.uid);
    // The ID Placeholder ends on the private key, as the specification asks of Create Key Pair.
    ctx.batch
        .produced(ue::CREATE_KEY_PAIR_PRIVATE_KEY, &private.uid);
    Ok(CreateKeyPairResponse {
        private_key_unique_identifier: private.uid,
        public_key_unique_identifier: public.uid,
    })
}

/// The common attributes with one half's own on top: a half's value of a single-instance attribute replaces
/// the common one, a multi-instance attribute gains the half's instances.
fn overlay(common: &Attributes, half: Attributes) -> Attributes {
    let mut out = common.clone();
    for attribute in half.iter() {
        if attribute_rules::rule(&attribute.name).multi_instance() {
            out.add(attribute.clone());
        } else {
            out.set(attribute.clone());
        }
    }
    out
}

/// What to generate, from the algorithm, length and curve the halves' attributes ask for; the two halves must
/// not contradict each other.
fn pair_kind(private: &Attributes, public: &Attributes) -> Result<PairKind, KmipError> {
    let agreed = |t: u32| -> Result<Option<i64>, KmipError> {
        match (number(private, t), number(public, t)) {
            (Some(a), Some(b)) if a != b => Err(KmipError::invalid_field(format!(
                "the private and public key attributes disagree on {}",
                crate::spec::tag_by_number(t).map_or("an attribute", |d| d.spec_name)
            ))),
            (a, b) => Ok(a.or(b)),
        }
    };
    let algorithm = agreed(tag::CRYPTOGRAPHIC_ALGORITHM)?
        .and_then(|a| u32::try_from(a).ok())
        .ok_or_else(|| {
            KmipError::invalid_field("Create Key Pair needs a Cryptographic Algorithm")
        })?;
    let length = agreed(tag::CRYPTOGRAPHIC_LENGTH)?;
    let curve = agreed(tag::RECOMMENDED_CURVE)?;
    let kind = match algorithm {
        alg::RSA => {
            let bits = length.ok_or_else(|| {
                KmipError::invalid_field("an RSA key pair needs a Cryptographic Length")
            })?;
            match i32::try_from(bits) {
                Ok(b) if keys::RSA_BITS.contains(&b) => PairKind::Rsa(b),
                _ => {
                    return Err(KmipError::invalid_field(format!(
                        "RSA key pairs are 2048, 3072 or 4096 bits, not {bits}"
                    )));
                }
            }
        }
        alg::EC | alg::ECDSA | alg::ECDH => {
            if curve.is_some_and(|c| c != i64::from(recommended_curve::P_256)) {
                return Err(KmipError::invalid_field(
                    "EC key pairs are generated on P-256 only",
                ));
            }
            PairKind::P256
        }
        alg::ED25519 => PairKind::Ed25519,
        other => {
            return Err(KmipError::invalid_field(format!(
                "Create Key Pair cannot generate keys of Cryptographic Algorithm {}",
                crate::kmip::enums::CryptographicAlgorithm(other)
            )));
        }
    };
    if let Some(l) = length
        && l != i64::from(kind.bits())
    {
        return Err(KmipError::invalid_field(format!(
            "Cryptographic Length {l} does not fit a {kind:?} key pair"
        )));
    }
    Ok(kind)
}

/// Generates the pair as two managed objects in the formats they are stored in.
fn generate(kind: PairKind) -> Result<(ManagedObject, ManagedObject), KmipError> {
    let pair = keys::generate(kind).map_err(asym_key::to_kmip)?;
    let (algorithm, private_format, public_format) = match kind {
        PairKind::Rsa(_) => (alg::RSA, kft::PKCS_1, kft::PKCS_1),
        PairKind::P256 => (alg::EC, kft::PKCS_8, kft::X_509),
        PairKind::Ed25519 => (alg::ED25519, kft::PKCS_8, kft::X_509),
    };
    let key = |object_type: ObjectType, format: u32, bytes: SecretBytes| ManagedObject {
        object_type,
        body: ObjectBody::Key(KeyBlock::plain(
            format,
            KeyMaterial::Bytes(bytes),
            Some(algorithm),
            Some(kind.bits()),
        )),
    };
    let private = key(
        ObjectType::PRIVATE_KEY,
        kft::PKCS_8,
        SecretBytes::from(pair.private_pkcs8.as_slice()),
    );
    let public = key(
        ObjectType::PUBLIC_KEY,
        kft::X_509,
        SecretBytes::from(pair.public_spki.as_slice()),
    );
    Ok((
        key_format::convert(&private, private_format)?,
        key_format::convert(&public, public_format)?,
    ))
}
