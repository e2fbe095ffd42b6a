//! Client quirks: the places where kmipd accepts or answers something differently from the letter of the
//! specification because a deployed client needs it (`../shared/kmip/CLIENTS.md`). Each names the client it
//! serves; nothing else in the code base bends the protocol for a client.

use crate::kmip::{KmipError, ProtocolVersion};
use crate::spec::tag;
use crate::ttlv::{Ttlv, Value};

/// Storage Status Mask as sent. MySQL Enterprise `keyring_okv` (1.1) sends it with another item type than the
/// specification's Integer; any integer-like item is read as the mask.
pub fn storage_status_mask(item: &Ttlv) -> Result<u32, KmipError> {
    let bits = match &item.value {
        Value::Integer(i) => i64::from(*i),
        Value::Enumeration(e) => i64::from(*e),
        Value::LongInteger(l) => *l,
        _ => {
            return Err(KmipError::invalid_message(
                "Storage Status Mask is not an integer",
            ));
        }
    };
    u32::try_from(bits)
        .map_err(|_| KmipError::invalid_field(format!("Storage Status Mask {bits} is not a mask")))
}

/// Offset Items is a 1.3 field; Percona Server's `keyring_kmip` sends it under a 1.0 header, so Locate reads it
/// in every version.
pub const OFFSET_ITEMS_IN_EVERY_VERSION: bool = true;

/// Veeam (1.4) fails on attributes carried inside a Key Value: objects returned to a 1.x client carry Key
/// Material (and Key Wrapping Data's siblings) only, never the 1.x in-Key-Value attributes.
pub fn key_value_material_only(object: &mut Ttlv, version: ProtocolVersion) {
    if version.is_2x() {
        return;
    }
    let Value::Structure(children) = &mut object.value else {
        return;
    };
    for block in children.iter_mut().filter(|c| c.tag == tag::KEY_BLOCK) {
        let Value::Structure(fields) = &mut block.value else {
            continue;
        };
        for value in fields.iter_mut().filter(|f| f.tag == tag::KEY_VALUE) {
            if let Value::Structure(parts) = &mut value.value {
                parts.retain(|p| p.tag == tag::KEY_MATERIAL);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_storage_status_mask_in_any_integer_type() {
        for v in [
            Value::Integer(3),
            Value::Enumeration(3),
            Value::LongInteger(3),
        ] {
            let item = Ttlv::new(tag::STORAGE_STATUS_MASK, v);
            assert_eq!(storage_status_mask(&item).unwrap(), 3);
        }
        let text = Ttlv::new(tag::STORAGE_STATUS_MASK, Value::TextString("1".into()));
        assert!(storage_status_mask(&text).is_err());
        let negative = Ttlv::new(tag::STORAGE_STATUS_MASK, Value::LongInteger(-1));
        assert!(storage_status_mask(&negative).is_err());
    }

    #[test]
    fn veeam_gets_key_material_only_in_1x() {
        let key = || {
            Ttlv::structure(
                tag::PRIVATE_KEY,
                vec![Ttlv::structure(
                    tag::KEY_BLOCK,
                    vec![Ttlv::structure(
                        tag::KEY_VALUE,
                        vec![
                            Ttlv::new(tag::KEY_MATERIAL, Value::ByteString(vec![1, 2].into())),
                            Ttlv::structure(tag::ATTRIBUTE, vec![]),
                        ],
                    )],
                )],
            )
        };
        let mut one = key();
        key_value_material_only(&mut one, ProtocolVersion::V1_4);
        let value = one
            .child(tag::KEY_BLOCK)
            .unwrap()
            .child(tag::KEY_VALUE)
            .unwrap();
        assert_eq!(value.children().len(), 1);
        let mut two = key();
        key_value_material_only(&mut two, ProtocolVersion::V2_0);
        assert_eq!(two, key());
    }
}
