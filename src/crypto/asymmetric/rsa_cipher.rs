//! RSA encryption: OAEP (the OAEP hash and the MGF1 hash the same: SHA-1, SHA-256, SHA-384 or SHA-512, with an
//! optional label) and PKCS#1 v1.5, over aws-lc-rs, whose decryption is constant-time. PKCS#1 v1.5 decryption
//! still tells a caller whether the padding was valid, as any decryption service does; prefer OAEP.

use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OAEP_SHA384_MGF1SHA384, OAEP_SHA512_MGF1SHA512,
    OaepAlgorithm, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, Pkcs1PrivateDecryptingKey,
    Pkcs1PublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
};
use zeroize::Zeroizing;

use super::{AsymError, Hash};

/// An RSA encryption padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// RSAES-PKCS1-v1_5.
    Pkcs1v15,
    /// RSAES-OAEP with this hash for both the label and MGF1.
    Oaep(Hash),
}

fn oaep(hash: Hash) -> &'static OaepAlgorithm {
    match hash {
        Hash::Sha1 => &OAEP_SHA1_MGF1SHA1,
        Hash::Sha256 => &OAEP_SHA256_MGF1SHA256,
        Hash::Sha384 => &OAEP_SHA384_MGF1SHA384,
        Hash::Sha512 => &OAEP_SHA512_MGF1SHA512,
    }
}

fn no_label(padding: Padding, label: Option<&[u8]>) -> Result<(), AsymError> {
    if padding == Padding::Pkcs1v15 && label.is_some_and(|l| !l.is_empty()) {
        return Err(AsymError::BadInput(
            "a P Source label applies to OAEP only".to_string(),
        ));
    }
    Ok(())
}

/// Encrypts with a public key given as SubjectPublicKeyInfo.
pub fn encrypt(
    padding: Padding,
    public_spki: &[u8],
    plaintext: &[u8],
    label: Option<&[u8]>,
) -> Result<Vec<u8>, AsymError> {
    no_label(padding, label)?;
    let key = PublicEncryptingKey::from_der(public_spki).map_err(|_| AsymError::BadKey("RSA"))?;
    let too_long = |max: usize| {
        AsymError::BadInput(format!(
            "{} bytes are too many to encrypt with this key and padding (at most {max})",
            plaintext.len()
        ))
    };
    match padding {
        Padding::Oaep(hash) => {
            let key = OaepPublicEncryptingKey::new(key).map_err(|_| AsymError::BadKey("RSA"))?;
            let max = key.max_plaintext_size(oaep(hash));
            if plaintext.len() > max {
                return Err(too_long(max));
            }
            let mut out = vec![0u8; key.ciphertext_size()];
            let len = key
                .encrypt(oaep(hash), plaintext, &mut out, label)
                .map_err(|_| AsymError::Failed("RSA encryption"))?
                .len();
            out.truncate(len);
            Ok(out)
        }
        Padding::Pkcs1v15 => {
            let key = Pkcs1PublicEncryptingKey::new(key).map_err(|_| AsymError::BadKey("RSA"))?;
            let max = key.max_plaintext_size();
            if plaintext.len() > max {
                return Err(too_long(max));
            }
            let mut out = vec![0u8; key.ciphertext_size()];
            let len = key
                .encrypt(plaintext, &mut out)
                .map_err(|_| AsymError::Failed("RSA encryption"))?
                .len();
            out.truncate(len);
            Ok(out)
        }
    }
}

/// Decrypts with a private key given as PKCS#8; the plaintext is zeroized when dropped.
pub fn decrypt(
    padding: Padding,
    private_pkcs8: &[u8],
    ciphertext: &[u8],
    label: Option<&[u8]>,
) -> Result<Zeroizing<Vec<u8>>, AsymError> {
    no_label(padding, label)?;
    let key =
        PrivateDecryptingKey::from_pkcs8(private_pkcs8).map_err(|_| AsymError::BadKey("RSA"))?;
    if ciphertext.len() != key.key_size_bytes() {
        return Err(AsymError::BadInput(format!(
            "the ciphertext must be {} bytes, as long as the modulus, not {}",
            key.key_size_bytes(),
            ciphertext.len()
        )));
    }
    let failed = |_| AsymError::Failed("RSA decryption");
    match padding {
        Padding::Oaep(hash) => {
            let key = OaepPrivateDecryptingKey::new(key).map_err(|_| AsymError::BadKey("RSA"))?;
            let mut out = Zeroizing::new(vec![0u8; key.min_output_size()]);
            let len = key
                .decrypt(oaep(hash), ciphertext, &mut out, label)
                .map_err(failed)?
                .len();
            out.truncate(len);
            Ok(out)
        }
        Padding::Pkcs1v15 => {
            let key = Pkcs1PrivateDecryptingKey::new(key).map_err(|_| AsymError::BadKey("RSA"))?;
            let mut out = Zeroizing::new(vec![0u8; key.min_output_size()]);
            let len = key.decrypt(ciphertext, &mut out).map_err(failed)?.len();
            out.truncate(len);
            Ok(out)
        }
    }
}
