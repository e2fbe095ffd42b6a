//! Whether a key may be used right now for a cryptographic purpose: the one judgement Encrypt, Decrypt, Sign,
//! Signature Verify, MAC, MAC Verify, Derive Key and key wrapping all make before touching key material, so the
//! rules (2.1 section 3.19 Cryptographic Usage Mask, 3.25–3.31 lifecycle dates, the object states of section 5)
//! live in one place and every refusal carries the same Result Reason.
//!
//! Protection (encrypting, signing, generating a MAC, wrapping, deriving) needs an Active key inside its Protect
//! Stop Date; processing what was protected earlier (decrypting, verifying, unwrapping) is also allowed for a
//! Deactivated or Compromised key, from its Process Start Date on.

use crate::kmip::state::State;
use crate::kmip::{KmipError, ResultReason};
use crate::spec::enums::usage_limits_unit;
use crate::spec::tag;
use crate::ttlv::Value;

use super::object::Managed;

/// A cryptographic purpose a key is about to serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// Encrypt.
    Encrypt,
    /// Decrypt.
    Decrypt,
    /// Sign.
    Sign,
    /// Signature Verify.
    Verify,
    /// MAC.
    MacGenerate,
    /// MAC Verify.
    MacVerify,
    /// Derive Key (the base key).
    DeriveKey,
    /// Wrapping another key (Get with a Key Wrapping Specification).
    WrapKey,
    /// Unwrapping a key (Register of a wrapped key).
    UnwrapKey,
}

impl Use {
    /// The usage mask bit that permits this use.
    pub fn mask_bit(self) -> i32 {
        use crate::spec::enums::cryptographic_usage_mask as mask;
        let bit = match self {
            Use::Encrypt => mask::ENCRYPT,
            Use::Decrypt => mask::DECRYPT,
            Use::Sign => mask::SIGN,
            Use::Verify => mask::VERIFY,
            Use::MacGenerate => mask::MAC_GENERATE,
            Use::MacVerify => mask::MAC_VERIFY,
            Use::DeriveKey => mask::DERIVE_KEY,
            Use::WrapKey => mask::WRAP_KEY,
            Use::UnwrapKey => mask::UNWRAP_KEY,
        };
        // The mask travels as a 32-bit Integer item: the same 32 bits.
        bit as i32
    }

    /// True when the use applies protection; false when it processes what was protected before.
    pub fn protects(self) -> bool {
        !matches!(
            self,
            Use::Decrypt | Use::Verify | Use::MacVerify | Use::UnwrapKey
        )
    }
}

/// Refuses a use the key's state, lifecycle dates or usage mask do not allow at `now`. The key must have been
/// loaded (so its state already reflects the dates that have passed).
pub fn check(key: &Managed, purpose: Use, now: i64) -> Result<(), KmipError> {
    let state_allows = match key.state {
        State::Active => true,
        State::Deactivated | State::Compromised => !purpose.protects(),
        State::PreActive | State::Destroyed | State::DestroyedCompromised => false,
    };
    if !state_allows {
        return Err(KmipError::new(
            ResultReason::WrongKeyLifecycleState,
            format!(
                "object {} is {}; it cannot be used to {}",
                key.uid,
                key.state,
                verb(purpose)
            ),
        ));
    }
    let refuse = |why: &str| {
        Err(KmipError::new(
            ResultReason::WrongKeyLifecycleState,
            format!(
                "object {} is {why}; it cannot be used to {}",
                key.uid,
                verb(purpose)
            ),
        ))
    };
    if purpose.protects()
        && let Some(stop) = key.date(tag::PROTECT_STOP_DATE)
        && now >= stop
    {
        return refuse("past its Protect Stop Date");
    }
    if !purpose.protects()
        && let Some(start) = key.date(tag::PROCESS_START_DATE)
        && now < start
    {
        return refuse("before its Process Start Date");
    }
    if let Some(mask) = usage_mask(key)
        && mask & purpose.mask_bit() == 0
    {
        return Err(KmipError::new(
            ResultReason::IncompatibleCryptographicUsageMask,
            format!(
                "the Cryptographic Usage Mask of object {} does not permit it to {}",
                key.uid,
                verb(purpose)
            ),
        ));
    }
    Ok(())
}

/// Counts a protecting use against the key's Usage Limits (2.1 section 4.59): one for a limit in Objects,
/// `bytes` for a limit in Bytes. The remaining Usage Limits Count goes down by that much and is saved with the
/// key. A use the count cannot cover is refused with Permission Denied, as the Encrypt operation specifies
/// (2.1 section 6.1.18), and counts nothing. Processing uses (Decrypt, verifying) are not limited, nor is a
/// key without Usage Limits.
pub fn consume(
    ctx: &super::OpContext<'_>,
    key: &mut Managed,
    purpose: Use,
    bytes: usize,
) -> Result<(), KmipError> {
    if !purpose.protects() {
        return Ok(());
    }
    let Some(limits) = key.get(tag::USAGE_LIMITS) else {
        return Ok(());
    };
    let unit = match limits.child(tag::USAGE_LIMITS_UNIT).map(|u| &u.value) {
        Some(Value::Enumeration(u)) => *u,
        _ => return Ok(()),
    };
    let total = long(limits, tag::USAGE_LIMITS_TOTAL);
    let Some(remaining) = long(limits, tag::USAGE_LIMITS_COUNT).or(total) else {
        return Ok(());
    };
    let needed = if unit == usage_limits_unit::BYTE {
        i64::try_from(bytes).unwrap_or(i64::MAX)
    } else {
        1
    };
    if remaining < needed {
        return Err(KmipError::new(
            ResultReason::PermissionDenied,
            format!(
                "usage limit exceeded: the Usage Limits of object {} allow {remaining} more, this use needs {needed}",
                key.uid
            ),
        ));
    }
    let mut children: Vec<_> = limits
        .children()
        .iter()
        .filter(|c| c.tag != tag::USAGE_LIMITS_COUNT)
        .cloned()
        .collect();
    children.push(crate::ttlv::Ttlv::new(
        tag::USAGE_LIMITS_COUNT,
        Value::LongInteger(remaining - needed),
    ));
    key.set(tag::USAGE_LIMITS, Value::Structure(children));
    super::object::save(ctx, &[key])
}

fn long(item: &crate::ttlv::Ttlv, t: u32) -> Option<i64> {
    match item.child(t).map(|c| &c.value) {
        Some(Value::LongInteger(v)) => Some(*v),
        Some(Value::Integer(v)) => Some(i64::from(*v)),
        _ => None,
    }
}

/// The key's Cryptographic Usage Mask, when it has one.
fn usage_mask(key: &Managed) -> Option<i32> {
    match key.get(tag::CRYPTOGRAPHIC_USAGE_MASK).map(|v| &v.value) {
        Some(Value::Integer(m)) => Some(*m),
        _ => None,
    }
}

fn verb(purpose: Use) -> &'static str {
    match purpose {
        Use::Encrypt => "encrypt",
        Use::Decrypt => "decrypt",
        Use::Sign => "sign",
        Use::Verify => "verify signatures",
        Use::MacGenerate => "generate a MAC",
        Use::MacVerify => "verify a MAC",
        Use::DeriveKey => "derive keys",
        Use::WrapKey => "wrap keys",
        Use::UnwrapKey => "unwrap keys",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmip::enums::ObjectType;

    fn key(state: State, mask: Option<i32>) -> Managed {
        let mut m = Managed {
            uid: "k".to_string(),
            object_type: ObjectType::SYMMETRIC_KEY.0,
            state,
            archived: false,
            object: None,
            attrs: crate::kmip::attributes::Attributes::new(),
            version: 0,
        };
        m.set_state(state);
        if let Some(mask) = mask {
            m.set(tag::CRYPTOGRAPHIC_USAGE_MASK, Value::Integer(mask));
        }
        m
    }

    fn reason(r: Result<(), KmipError>) -> Option<ResultReason> {
        r.err().map(|e| e.reason)
    }

    #[test]
    fn an_active_key_serves_what_its_mask_allows_and_nothing_else() {
        let k = key(
            State::Active,
            Some(Use::Encrypt.mask_bit() | Use::Decrypt.mask_bit()),
        );
        assert_eq!(reason(check(&k, Use::Encrypt, 0)), None);
        assert_eq!(reason(check(&k, Use::Decrypt, 0)), None);
        assert_eq!(
            reason(check(&k, Use::Sign, 0)),
            Some(ResultReason::IncompatibleCryptographicUsageMask)
        );
        assert_eq!(
            reason(check(&k, Use::MacGenerate, 0)),
            Some(ResultReason::IncompatibleCryptographicUsageMask)
        );
    }

    #[test]
    fn deactivated_and_compromised_keys_only_process() {
        for state in [State::Deactivated, State::Compromised] {
            let k = key(state, None);
            assert_eq!(reason(check(&k, Use::Decrypt, 0)), None);
            assert_eq!(reason(check(&k, Use::Verify, 0)), None);
            assert_eq!(reason(check(&k, Use::MacVerify, 0)), None);
            for protect in [Use::Encrypt, Use::Sign, Use::MacGenerate, Use::WrapKey] {
                assert_eq!(
                    reason(check(&k, protect, 0)),
                    Some(ResultReason::WrongKeyLifecycleState)
                );
            }
        }
    }

    #[test]
    fn pre_active_and_destroyed_keys_serve_nothing() {
        for state in [
            State::PreActive,
            State::Destroyed,
            State::DestroyedCompromised,
        ] {
            let k = key(state, None);
            assert_eq!(
                reason(check(&k, Use::Decrypt, 0)),
                Some(ResultReason::WrongKeyLifecycleState)
            );
        }
    }

    #[test]
    fn protect_stop_and_process_start_dates_bound_the_uses() {
        let mut k = key(State::Active, None);
        k.set(tag::PROTECT_STOP_DATE, Value::DateTime(100));
        k.set(tag::PROCESS_START_DATE, Value::DateTime(50));
        assert_eq!(reason(check(&k, Use::Encrypt, 99)), None);
        assert_eq!(
            reason(check(&k, Use::Encrypt, 100)),
            Some(ResultReason::WrongKeyLifecycleState)
        );
        assert_eq!(
            reason(check(&k, Use::Decrypt, 49)),
            Some(ResultReason::WrongKeyLifecycleState)
        );
        assert_eq!(reason(check(&k, Use::Decrypt, 50)), None);
    }
}
