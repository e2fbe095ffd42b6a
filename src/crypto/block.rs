//! AES in the classic block cipher modes: ECB and CBC (with PKCS#5 padding or none), CTR, and AES key wrap
//! (RFC 3394 and RFC 5649) used as a mode; plus the ChaCha20 stream cipher. The key length picks AES-128, -192
//! or -256. Triple DES in ECB and CBC (for legacy tape and payment clients) shares the padding code:
//! `tdes_*`, two-key (16 bytes) or three-key (24 bytes) by the key length.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{
    BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, KeyInit, KeyIvInit,
    StreamCipher,
};
use aes::{Aes128, Aes192, Aes256};
use zeroize::Zeroizing;

use super::{CryptoError, Secret};

/// The AES block size in bytes.
pub const AES_BLOCK: usize = 16;

/// Padding of the last block in ECB and CBC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// Data must be whole blocks.
    None,
    /// PKCS#5/PKCS#7: always adds 1 to 16 bytes.
    Pkcs5,
}

/// Runs `$body` with `$cipher` bound to the AES type the key length selects.
macro_rules! with_aes {
    ($key:expr, $what:expr, $cipher:ident => $body:expr) => {
        match $key.len() {
            16 => {
                type $cipher = Aes128;
                $body
            }
            24 => {
                type $cipher = Aes192;
                $body
            }
            32 => {
                type $cipher = Aes256;
                $body
            }
            n => Err(CryptoError::KeyLength(n, $what)),
        }
    };
}
pub(crate) use with_aes;

/// The Triple DES block size in bytes.
pub const TDES_BLOCK: usize = 8;

fn whole_blocks(data: &[u8], block: usize, what: &'static str) -> Result<(), CryptoError> {
    if data.len().is_multiple_of(block) {
        Ok(())
    } else {
        Err(CryptoError::DataLength(data.len(), what))
    }
}

/// Pads in place to whole blocks of `block` bytes (PKCS#5) or checks the data already is whole blocks.
fn pad(
    data: &[u8],
    block: usize,
    padding: Padding,
    what: &'static str,
) -> Result<Secret, CryptoError> {
    let mut out = Zeroizing::new(data.to_vec());
    match padding {
        Padding::None => whole_blocks(data, block, what)?,
        Padding::Pkcs5 => {
            let n = block - data.len() % block;
            // n is 1..=block (at most 16), so it fits a byte.
            out.resize(data.len() + n, n as u8);
        }
    }
    Ok(out)
}

/// Removes PKCS#5 padding of `block`-byte blocks (the caller has checked the length is whole, non-empty
/// blocks).
fn unpad(mut data: Secret, block: usize, padding: Padding) -> Result<Secret, CryptoError> {
    if padding == Padding::None {
        return Ok(data);
    }
    let last = data.last().copied().ok_or(CryptoError::Padding)?;
    let n = usize::from(last);
    if n == 0 || n > block || n > data.len() {
        return Err(CryptoError::Padding);
    }
    let body = data.len() - n;
    if data
        .get(body..)
        .is_none_or(|tail| tail.iter().any(|&b| b != last))
    {
        return Err(CryptoError::Padding);
    }
    data.truncate(body);
    Ok(data)
}

fn blocks_of(data: &mut [u8]) -> impl Iterator<Item = &mut [u8]> {
    data.chunks_exact_mut(AES_BLOCK)
}

/// AES-ECB encryption.
pub fn ecb_encrypt(key: &[u8], data: &[u8], padding: Padding) -> Result<Vec<u8>, CryptoError> {
    let mut buf = pad(data, AES_BLOCK, padding, "AES-ECB")?;
    with_aes!(key, "AES", C => {
        let c = C::new_from_slice(key).map_err(|_| CryptoError::KeyLength(key.len(), "AES"))?;
        for b in blocks_of(&mut buf) {
            c.encrypt_block(b.try_into().map_err(|_| CryptoError::DataLength(AES_BLOCK, "AES-ECB"))?);
        }
        Ok(buf.to_vec())
    })
}

/// AES-ECB decryption.
pub fn ecb_decrypt(key: &[u8], data: &[u8], padding: Padding) -> Result<Secret, CryptoError> {
    whole_blocks(data, AES_BLOCK, "AES-ECB")?;
    if padding == Padding::Pkcs5 && data.is_empty() {
        return Err(CryptoError::DataLength(0, "AES-ECB with PKCS#5 padding"));
    }
    let mut buf = Zeroizing::new(data.to_vec());
    with_aes!(key, "AES", C => {
        let c = C::new_from_slice(key).map_err(|_| CryptoError::KeyLength(key.len(), "AES"))?;
        for b in blocks_of(&mut buf) {
            c.decrypt_block(b.try_into().map_err(|_| CryptoError::DataLength(AES_BLOCK, "AES-ECB"))?);
        }
        Ok::<(), CryptoError>(())
    })?;
    unpad(buf, AES_BLOCK, padding)
}

fn check_iv(iv: &[u8], what: &'static str) -> Result<(), CryptoError> {
    check_iv_of(iv, AES_BLOCK, what)
}

fn check_iv_of(iv: &[u8], block: usize, what: &'static str) -> Result<(), CryptoError> {
    if iv.len() == block {
        Ok(())
    } else {
        Err(CryptoError::IvLength(iv.len(), what))
    }
}

/// AES-CBC encryption under a 16-byte IV.
pub fn cbc_encrypt(
    key: &[u8],
    iv: &[u8],
    data: &[u8],
    padding: Padding,
) -> Result<Vec<u8>, CryptoError> {
    check_iv(iv, "AES-CBC")?;
    let mut buf = pad(data, AES_BLOCK, padding, "AES-CBC")?;
    with_aes!(key, "AES", C => {
        let enc = cbc::Encryptor::<C>::new_from_slices(key, iv)
            .map_err(|_| CryptoError::KeyLength(key.len(), "AES"))?;
        let len = buf.len();
        enc.encrypt_padded::<NoPadding>(&mut buf, len)
            .map_err(|_| CryptoError::DataLength(len, "AES-CBC"))?;
        Ok(buf.to_vec())
    })
}

/// AES-CBC decryption under a 16-byte IV.
pub fn cbc_decrypt(
    key: &[u8],
    iv: &[u8],
    data: &[u8],
    padding: Padding,
) -> Result<Secret, CryptoError> {
    check_iv(iv, "AES-CBC")?;
    whole_blocks(data, AES_BLOCK, "AES-CBC")?;
    if padding == Padding::Pkcs5 && data.is_empty() {
        return Err(CryptoError::DataLength(0, "AES-CBC with PKCS#5 padding"));
    }
    let mut buf = Zeroizing::new(data.to_vec());
    with_aes!(key, "AES", C => {
        let dec = cbc::Decryptor::<C>::new_from_slices(key, iv)
            .map_err(|_| CryptoError::KeyLength(key.len(), "AES"))?;
        dec.decrypt_padded::<NoPadding>(&mut buf)
            .map_err(|_| CryptoError::DataLength(data.len(), "AES-CBC"))?;
        Ok::<(), CryptoError>(())
    })?;
    unpad(buf, AES_BLOCK, padding)
}

/// Runs `$body` with `$cipher` bound to two-key (16-byte key) or three-key (24-byte key) Triple DES.
macro_rules! with_tdes {
    ($key:expr, $cipher:ident => $body:expr) => {
        match $key.len() {
            16 => {
                type $cipher = des::TdesEde2;
                $body
            }
            24 => {
                type $cipher = des::TdesEde3;
                $body
            }
            n => Err(CryptoError::KeyLength(n, "Triple DES")),
        }
    };
}

/// Triple-DES-ECB encryption.
pub fn tdes_ecb_encrypt(key: &[u8], data: &[u8], padding: Padding) -> Result<Vec<u8>, CryptoError> {
    let mut buf = pad(data, TDES_BLOCK, padding, "3DES-ECB")?;
    with_tdes!(key, C => {
        let c = C::new_from_slice(key).map_err(|_| CryptoError::KeyLength(key.len(), "Triple DES"))?;
        for b in buf.chunks_exact_mut(TDES_BLOCK) {
            c.encrypt_block(b.try_into().map_err(|_| CryptoError::DataLength(TDES_BLOCK, "3DES-ECB"))?);
        }
        Ok(buf.to_vec())
    })
}

/// Triple-DES-ECB decryption.
pub fn tdes_ecb_decrypt(key: &[u8], data: &[u8], padding: Padding) -> Result<Secret, CryptoError> {
    whole_blocks(data, TDES_BLOCK, "3DES-ECB")?;
    if padding == Padding::Pkcs5 && data.is_empty() {
        return Err(CryptoError::DataLength(0, "3DES-ECB with PKCS#5 padding"));
    }
    let mut buf = Zeroizing::new(data.to_vec());
    with_tdes!(key, C => {
        let c = C::new_from_slice(key).map_err(|_| CryptoError::KeyLength(key.len(), "Triple DES"))?;
        for b in buf.chunks_exact_mut(TDES_BLOCK) {
            c.decrypt_block(b.try_into().map_err(|_| CryptoError::DataLength(TDES_BLOCK, "3DES-ECB"))?);
        }
        Ok::<(), CryptoError>(())
    })?;
    unpad(buf, TDES_BLOCK, padding)
}

/// Triple-DES-CBC encryption under an 8-byte IV.
pub fn tdes_cbc_encrypt(
    key: &[u8],
    iv: &[u8],
    data: &[u8],
    padding: Padding,
) -> Result<Vec<u8>, CryptoError> {
    check_iv_of(iv, TDES_BLOCK, "3DES-CBC")?;
    let mut buf = pad(data, TDES_BLOCK, padding, "3DES-CBC")?;
    with_tdes!(key, C => {
        let enc = cbc::Encryptor::<C>::new_from_slices(key, iv)
            .map_err(|_| CryptoError::KeyLength(key.len(), "Triple DES"))?;
        let len = buf.len();
        enc.encrypt_padded::<NoPadding>(&mut buf, len)
            .map_err(|_| CryptoError::DataLength(len, "3DES-CBC"))?;
        Ok(buf.to_vec())
    })
}

/// Triple-DES-CBC decryption under an 8-byte IV.
pub fn tdes_cbc_decrypt(
    key: &[u8],
    iv: &[u8],
    data: &[u8],
    padding: Padding,
) -> Result<Secret, CryptoError> {
    check_iv_of(iv, TDES_BLOCK, "3DES-CBC")?;
    whole_blocks(data, TDES_BLOCK, "3DES-CBC")?;
    if padding == Padding::Pkcs5 && data.is_empty() {
        return Err(CryptoError::DataLength(0, "3DES-CBC with PKCS#5 padding"));
    }
    let mut buf = Zeroizing::new(data.to_vec());
    with_tdes!(key, C => {
        let dec = cbc::Decryptor::<C>::new_from_slices(key, iv)
            .map_err(|_| CryptoError::KeyLength(key.len(), "Triple DES"))?;
        dec.decrypt_padded::<NoPadding>(&mut buf)
            .map_err(|_| CryptoError::DataLength(data.len(), "3DES-CBC"))?;
        Ok::<(), CryptoError>(())
    })?;
    unpad(buf, TDES_BLOCK, padding)
}

/// The width of the counter that CTR mode increments in the last bytes of the 16-byte counter block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterWidth {
    /// 32-bit big-endian counter.
    Bits32,
    /// 64-bit big-endian counter.
    Bits64,
    /// The whole block is the counter (the common default, NIST SP 800-38A).
    Bits128,
}

impl CounterWidth {
    /// The width for a KMIP Counter Length in bits (absent means the whole block).
    pub fn from_bits(bits: Option<i32>) -> Result<Self, CryptoError> {
        match bits {
            Some(32) => Ok(CounterWidth::Bits32),
            Some(64) => Ok(CounterWidth::Bits64),
            None | Some(128) => Ok(CounterWidth::Bits128),
            Some(_) => Err(CryptoError::Parameter(
                "CTR counter length must be 32, 64 or 128 bits",
            )),
        }
    }
}

/// AES-CTR: encryption and decryption are the same keystream XOR, from a 16-byte initial counter block.
pub fn ctr_apply(
    key: &[u8],
    counter_block: &[u8],
    width: CounterWidth,
    data: &[u8],
) -> Result<Secret, CryptoError> {
    check_iv(counter_block, "AES-CTR")?;
    let mut buf = Zeroizing::new(data.to_vec());
    macro_rules! run {
        ($ctr:ident) => {
            with_aes!(key, "AES", C => {
                let mut c = ctr::$ctr::<C>::new_from_slices(key, counter_block)
                    .map_err(|_| CryptoError::KeyLength(key.len(), "AES"))?;
                c.try_apply_keystream(&mut buf)
                    .map_err(|_| CryptoError::DataLength(data.len(), "AES-CTR (counter would wrap)"))
            })
        };
    }
    match width {
        CounterWidth::Bits32 => run!(Ctr32BE)?,
        CounterWidth::Bits64 => run!(Ctr64BE)?,
        CounterWidth::Bits128 => run!(Ctr128BE)?,
    }
    Ok(buf)
}

/// AES key wrap: RFC 3394 (data of whole 8-byte semiblocks, at least 16 bytes) or, with `pad`, RFC 5649.
pub fn key_wrap(key: &[u8], data: &[u8], pad: bool) -> Result<Vec<u8>, CryptoError> {
    let what = if pad { "AES-KWP" } else { "AES-KW" };
    if !pad && (!data.len().is_multiple_of(8) || data.len() < 16) {
        return Err(CryptoError::DataLength(data.len(), what));
    }
    if pad && data.is_empty() {
        return Err(CryptoError::DataLength(0, what));
    }
    // RFC 3394 adds one semiblock; RFC 5649 pads to whole semiblocks first.
    let out_len = data.len().div_ceil(8) * 8 + 8;
    let mut buf = vec![0u8; out_len];
    with_aes!(key, "AES", C => {
        let bad = |_| CryptoError::DataLength(data.len(), what);
        let n = if pad {
            let kw = aes_kw::AesKwp::<C>::new_from_slice(key)
                .map_err(|_| CryptoError::KeyLength(key.len(), "AES"))?;
            kw.wrap_key(data, &mut buf).map_err(bad)?.len()
        } else {
            let kw = aes_kw::AesKw::<C>::new_from_slice(key)
                .map_err(|_| CryptoError::KeyLength(key.len(), "AES"))?;
            kw.wrap_key(data, &mut buf).map_err(bad)?.len()
        };
        buf.truncate(n);
        Ok(buf)
    })
}

/// AES key unwrap (RFC 3394, or RFC 5649 with `pad`); an integrity check failure is [`CryptoError::Authentication`].
pub fn key_unwrap(key: &[u8], data: &[u8], pad: bool) -> Result<Secret, CryptoError> {
    let what = if pad { "AES-KWP" } else { "AES-KW" };
    if !data.len().is_multiple_of(8) || data.len() < 16 {
        return Err(CryptoError::DataLength(data.len(), what));
    }
    let mut buf = Zeroizing::new(vec![0u8; data.len() - 8]);
    with_aes!(key, "AES", C => {
        let n = if pad {
            let kw = aes_kw::AesKwp::<C>::new_from_slice(key)
                .map_err(|_| CryptoError::KeyLength(key.len(), "AES"))?;
            kw.unwrap_key(data, &mut buf).map_err(|_| CryptoError::Authentication)?.len()
        } else {
            let kw = aes_kw::AesKw::<C>::new_from_slice(key)
                .map_err(|_| CryptoError::KeyLength(key.len(), "AES"))?;
            kw.unwrap_key(data, &mut buf).map_err(|_| CryptoError::Authentication)?.len()
        };
        buf.truncate(n);
        Ok(buf)
    })
}

/// ChaCha20: a 12-byte nonce selects RFC 8439's variant (32-bit counter), an 8-byte nonce the original one
/// (64-bit counter). `counter` is the initial block counter.
pub fn chacha20_apply(
    key: &[u8],
    nonce: &[u8],
    counter: u32,
    data: &[u8],
) -> Result<Secret, CryptoError> {
    if key.len() != 32 {
        return Err(CryptoError::KeyLength(key.len(), "ChaCha20"));
    }
    let mut buf = Zeroizing::new(data.to_vec());
    let seek = u64::from(counter) * 64;
    let fail = |_| CryptoError::DataLength(data.len(), "ChaCha20 (counter would wrap)");
    match nonce.len() {
        12 => {
            let mut c = chacha20::ChaCha20::new_from_slices(key, nonce)
                .map_err(|_| CryptoError::IvLength(nonce.len(), "ChaCha20"))?;
            aes::cipher::StreamCipherSeek::try_seek(&mut c, seek)
                .map_err(|_| CryptoError::Parameter("ChaCha20 initial counter out of range"))?;
            c.try_apply_keystream(&mut buf).map_err(fail)?;
        }
        8 => {
            let mut c = chacha20::ChaCha20Legacy::new_from_slices(key, nonce)
                .map_err(|_| CryptoError::IvLength(nonce.len(), "ChaCha20"))?;
            aes::cipher::StreamCipherSeek::try_seek(&mut c, seek)
                .map_err(|_| CryptoError::Parameter("ChaCha20 initial counter out of range"))?;
            c.try_apply_keystream(&mut buf).map_err(fail)?;
        }
        n => return Err(CryptoError::IvLength(n, "ChaCha20")),
    }
    Ok(buf)
}
