//! The request sequences of real KMIP clients (`../shared/kmip/CLIENTS.md`), sent over mutual TLS with binary
//! TTLV to the real listener, each in the exact shape its client uses: version, header fields, 1.x attribute
//! forms, batch layout. A client that breaks on a server detail breaks one of these tests first.

#[path = "support/kmip.rs"]
mod kmip;
#[path = "support/pykmip_script.rs"]
mod pykmip_script;
#[path = "support/engine.rs"]
mod test_engine;
#[path = "support/tls.rs"]
mod tls;

use kmipd::spec::enums::{
    block_cipher_mode, cryptographic_algorithm, key_format_type, object_type, operation,
    padding_method, query_function, result_reason, revocation_reason_code, storage_status_mask,
};
use kmipd::spec::tag;
use kmipd::ttlv::{Ttlv, Value};

use kmip::*;

/// Encrypt | Decrypt, the usage mask MongoDB, vSphere and keyring_okv send (12).
const ENCRYPT_DECRYPT: i32 = 4 | 8;

/// A server on a fresh store, and a connection to it.
struct Session {
    client: tls::KmipClient,
    _server: tls::TlsServer,
    _engine: test_engine::TestEngine,
}

fn session() -> Session {
    let engine = test_engine::fresh();
    let server = tls::TlsServer::start(engine.engine.clone());
    Session {
        client: server.connect(),
        _server: server,
        _engine: engine,
    }
}

impl Session {
    fn send(&mut self, request: &Ttlv) -> Ttlv {
        self.client.send(request)
    }
}

/// Create (Symmetric Key, AES-256, Encrypt|Decrypt, no Name) as 1.x clients send it.
fn create_aes_256(version: (i32, i32), extra_attributes: Vec<Ttlv>) -> Ttlv {
    let mut attributes = vec![
        attribute(
            "Cryptographic Algorithm",
            None,
            Value::Enumeration(cryptographic_algorithm::AES),
        ),
        attribute("Cryptographic Length", None, Value::Integer(256)),
        attribute(
            "Cryptographic Usage Mask",
            None,
            Value::Integer(ENCRYPT_DECRYPT),
        ),
    ];
    attributes.extend(extra_attributes);
    request(
        version,
        vec![item(
            operation::CREATE,
            vec![
                enumeration(tag::OBJECT_TYPE, object_type::SYMMETRIC_KEY),
                template_attribute(attributes),
            ],
        )],
    )
}

/// A raw AES-256 Symmetric Key object.
fn raw_aes_key(material: &[u8]) -> Ttlv {
    structure(
        tag::SYMMETRIC_KEY,
        vec![structure(
            tag::KEY_BLOCK,
            vec![
                enumeration(tag::KEY_FORMAT_TYPE, key_format_type::RAW),
                structure(tag::KEY_VALUE, vec![bytes(tag::KEY_MATERIAL, material)]),
                enumeration(tag::CRYPTOGRAPHIC_ALGORITHM, cryptographic_algorithm::AES),
                int(tag::CRYPTOGRAPHIC_LENGTH, 256),
            ],
        )],
    )
}

fn get_attributes(version: (i32, i32), id: &str, names: &[&str]) -> Ttlv {
    let mut payload = vec![uid(id)];
    payload.extend(names.iter().map(|n| text(tag::ATTRIBUTE_NAME, n)));
    request(version, vec![item(operation::GET_ATTRIBUTES, payload)])
}

fn simple(version: (i32, i32), op: u32, id: &str) -> Ttlv {
    request(version, vec![item(op, vec![uid(id)])])
}

#[test]
fn mongodb_create_activate_get_and_poll_state() {
    let v12 = (1, 2);
    let mut s = session();
    let created = s.send(&create_aes_256(v12, Vec::new()));
    assert_eq!(response_version(&created), v12);
    let id = text_child(only_success(&created), tag::UNIQUE_IDENTIFIER);

    let activated = s.send(&simple(v12, operation::ACTIVATE, &id));
    assert_eq!(
        text_child(only_success(&activated), tag::UNIQUE_IDENTIFIER),
        id
    );

    let got = s.send(&simple(v12, operation::GET, &id));
    let payload = only_success(&got);
    assert_eq!(
        payload.child(tag::OBJECT_TYPE).map(|o| &o.value),
        Some(&Value::Enumeration(object_type::SYMMETRIC_KEY))
    );
    assert_eq!(raw_key_material(payload).len(), 32, "a 256-bit key");

    // At start-up and every 900 s: Get Attributes State; anything but Active stops mongod.
    let polled = s.send(&get_attributes(v12, &id, &["State"]));
    let payload = only_success(&polled);
    assert_eq!(text_child(payload, tag::UNIQUE_IDENTIFIER), id);
    assert_eq!(state_of(payload), ACTIVE);
}

#[test]
fn percona_mysql_register_locate_with_offset_and_erase() {
    let v10 = (1, 0);
    let mut s = session();
    let group = "percona-keyring";
    let mut ids = Vec::new();
    for n in 0..3u8 {
        let registered = s.send(&request(
            v10,
            vec![item(
                operation::REGISTER,
                vec![
                    enumeration(tag::OBJECT_TYPE, object_type::SYMMETRIC_KEY),
                    template_attribute(vec![
                        attribute(
                            "Cryptographic Usage Mask",
                            None,
                            Value::Integer(ENCRYPT_DECRYPT),
                        ),
                        attribute("Object Group", None, Value::TextString(group.into())),
                    ]),
                    raw_aes_key(&[0xA0 + n; 32]),
                ],
            )],
        ));
        let id = text_child(only_success(&registered), tag::UNIQUE_IDENTIFIER);
        only_success(&s.send(&simple(v10, operation::ACTIVATE, &id)));
        ids.push(id);
    }

    // Load: Locate by Object Group, Maximum Items 16 plus Offset Items (a 1.3 field) under a 1.0 header.
    let locate = |offset: i32| {
        request(
            v10,
            vec![item(
                operation::LOCATE,
                vec![
                    int(tag::MAXIMUM_ITEMS, 16),
                    int(tag::OFFSET_ITEMS, offset),
                    attribute("Object Group", None, Value::TextString(group.into())),
                ],
            )],
        )
    };
    let located = |response: &Ttlv| -> Vec<String> {
        only_success(response)
            .children_with(tag::UNIQUE_IDENTIFIER)
            .map(|u| match &u.value {
                Value::TextString(s) => s.clone(),
                other => panic!("identifier {other:?}"),
            })
            .collect()
    };
    let all = located(&s.send(&locate(0)));
    let mut sorted = all.clone();
    sorted.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(
        sorted, expected,
        "Locate by Object Group finds the three keys"
    );
    let rest = located(&s.send(&locate(1)));
    assert_eq!(
        rest,
        all[1..].to_vec(),
        "Offset Items skips the first match"
    );

    // Per key: Get and Get Attributes(Name).
    let got = s.send(&simple(v10, operation::GET, &ids[0]));
    assert_eq!(raw_key_material(only_success(&got)), vec![0xA0; 32]);

    // Erase: Revoke then Destroy.
    let revoke = request(
        v10,
        vec![item(
            operation::REVOKE,
            vec![
                uid(&ids[0]),
                structure(
                    tag::REVOCATION_REASON,
                    vec![enumeration(
                        tag::REVOCATION_REASON_CODE,
                        revocation_reason_code::CESSATION_OF_OPERATION,
                    )],
                ),
            ],
        )],
    );
    only_success(&s.send(&revoke));
    let destroyed = s.send(&simple(v10, operation::DESTROY, &ids[0]));
    assert_eq!(
        text_child(only_success(&destroyed), tag::UNIQUE_IDENTIFIER),
        ids[0]
    );
    let after = s.send(&simple(v10, operation::GET, &ids[0]));
    assert_ne!(
        batch_items(&after)[0]
            .child(tag::RESULT_STATUS)
            .map(|r| &r.value),
        Some(&Value::Enumeration(
            kmipd::spec::enums::result_status::SUCCESS
        )),
        "a destroyed key is not returned"
    );
}

#[test]
fn vsphere_custom_attributes_before_they_exist_and_batched_adds() {
    let v11 = (1, 1);
    let mut s = session();
    let discovered = s.send(&request(
        v11,
        vec![item(operation::DISCOVER_VERSIONS, vec![])],
    ));
    assert!(
        only_success(&discovered)
            .children_with(tag::PROTOCOL_VERSION)
            .any(|v| v == &protocol_version(v11)),
        "Discover Versions lists 1.1"
    );
    let queried = s.send(&request(
        v11,
        vec![item(
            operation::QUERY,
            vec![enumeration(
                tag::QUERY_FUNCTION,
                query_function::QUERY_SERVER_INFORMATION,
            )],
        )],
    ));
    assert!(
        only_success(&queried)
            .child(tag::VENDOR_IDENTIFICATION)
            .is_some()
    );

    let created = s.send(&create_aes_256(v11, Vec::new()));
    let id = text_child(only_success(&created), tag::UNIQUE_IDENTIFIER);

    // One name at a time; the x- attributes do not exist yet: success with no attribute.
    let state = s.send(&get_attributes(v11, &id, &["State"]));
    assert!(attribute_value(only_success(&state), "State").is_some());
    let custom = [
        "x-Vendor",
        "x-Product",
        "x-Product_Version",
        "x-Identifier",
        "x-Component",
        "x-Name",
    ];
    for name in custom {
        let answer = s.send(&get_attributes(v11, &id, &[name]));
        let payload = only_success(&answer);
        assert_eq!(text_child(payload, tag::UNIQUE_IDENTIFIER), id);
        assert!(
            attributes_1x(payload).is_empty(),
            "{name} must not exist yet"
        );
    }

    // Add Attribute x3 in one batch, each with an 8-byte Unique Batch Item ID that must be echoed.
    let adds = [
        (
            "x-Vendor",
            "VMware, Inc.",
            *b"\x00\x00\x00\x00\x00\x00\x00\x01",
        ),
        (
            "x-Product",
            "VMware vSphere",
            *b"\x00\x00\x00\x00\x00\x00\x00\x02",
        ),
        (
            "x-Product_Version",
            "8.0.2",
            *b"\xff\x00\x10\x20\x30\x40\x50\x60",
        ),
    ];
    let batch = request(
        v11,
        adds.iter()
            .map(|(name, value, batch_id)| {
                item_with_id(
                    operation::ADD_ATTRIBUTE,
                    batch_id,
                    vec![
                        uid(&id),
                        attribute(name, None, Value::TextString((*value).into())),
                    ],
                )
            })
            .collect(),
    );
    let answer = s.send(&batch);
    let items = batch_items(&answer);
    assert_eq!(items.len(), 3);
    for (item, (name, value, batch_id)) in items.iter().zip(&adds) {
        assert_eq!(
            item.child(tag::UNIQUE_BATCH_ITEM_ID).map(|b| &b.value),
            Some(&Value::ByteString(batch_id.as_slice().into())),
            "Unique Batch Item ID echoed"
        );
        let payload = success(item);
        assert_eq!(
            attribute_value(payload, name),
            Some(&Value::TextString((*value).into()))
        );
    }
    let vendor = s.send(&get_attributes(v11, &id, &["x-Vendor"]));
    assert_eq!(
        attribute_value(only_success(&vendor), "x-Vendor"),
        Some(&Value::TextString("VMware, Inc.".into()))
    );

    only_success(&s.send(&simple(v11, operation::GET, &id)));
    only_success(&s.send(&simple(v11, operation::ACTIVATE, &id)));
    let state = s.send(&get_attributes(v11, &id, &["State"]));
    assert_eq!(state_of(only_success(&state)), ACTIVE);
}

#[test]
fn synology_register_secret_data_and_rename() {
    let v12 = (1, 2);
    let mut s = session();
    let secret = password_secret(b"synology volume passphrase");
    let registered = s.send(&request(
        v12,
        vec![item(
            operation::REGISTER,
            vec![
                enumeration(tag::OBJECT_TYPE, object_type::SECRET_DATA),
                template_attribute(vec![
                    attribute_structure("Name", name_value("syno-volume-1")),
                    attribute("Cryptographic Usage Mask", None, Value::Integer(0)),
                    // Synology sends it; the server accepts and keeps it.
                    attribute(
                        "Operation Policy Name",
                        None,
                        Value::TextString("default".into()),
                    ),
                ]),
                secret,
            ],
        )],
    ));
    let id = text_child(only_success(&registered), tag::UNIQUE_IDENTIFIER);

    let modify = request(
        v12,
        vec![item(
            operation::MODIFY_ATTRIBUTE,
            vec![
                uid(&id),
                attribute_structure("Name", name_value("syno-volume-2")),
            ],
        )],
    );
    let modified = s.send(&modify);
    let payload = only_success(&modified);
    assert_eq!(text_child(payload, tag::UNIQUE_IDENTIFIER), id);
    assert_eq!(
        attribute_value(payload, "Name"),
        Some(&Value::Structure(name_value("syno-volume-2"))),
        "Modify Attribute returns the new attribute"
    );
    let names = s.send(&get_attributes(v12, &id, &["Name"]));
    assert_eq!(
        attribute_value(only_success(&names), "Name"),
        Some(&Value::Structure(name_value("syno-volume-2")))
    );
    let got = s.send(&simple(v12, operation::GET, &id));
    let data = only_success(&got)
        .child(tag::SECRET_DATA)
        .and_then(|d| d.child(tag::KEY_BLOCK))
        .and_then(|b| b.child(tag::KEY_VALUE))
        .and_then(|v| v.child(tag::KEY_MATERIAL))
        .map(|m| m.value.clone());
    assert_eq!(
        data,
        Some(Value::ByteString(
            b"synology volume passphrase".as_slice().into()
        ))
    );
}

#[test]
fn mysql_keyring_okv_index_zero_response_size_and_integer_storage_mask() {
    let v11 = (1, 1);
    let mut s = session();
    let header = || vec![int(tag::MAXIMUM_RESPONSE_SIZE, 280_000)];
    // Attribute Index 0, explicit, on every attribute.
    let create = request_with(
        v11,
        header(),
        vec![item(
            operation::CREATE,
            vec![
                enumeration(tag::OBJECT_TYPE, object_type::SYMMETRIC_KEY),
                template_attribute(vec![
                    attribute(
                        "Cryptographic Algorithm",
                        Some(0),
                        Value::Enumeration(cryptographic_algorithm::AES),
                    ),
                    attribute("Cryptographic Length", Some(0), Value::Integer(256)),
                    attribute(
                        "Cryptographic Usage Mask",
                        Some(0),
                        Value::Integer(ENCRYPT_DECRYPT),
                    ),
                    attribute(
                        "Name",
                        Some(0),
                        Value::Structure(name_value("okv-master-key")),
                    ),
                ]),
            ],
        )],
    );
    let created = s.send(&create);
    let id = text_child(only_success(&created), tag::UNIQUE_IDENTIFIER);

    // Storage Status Mask sent as an Integer (On-line Storage), a 1.3 field in a 1.1 request.
    let locate = request_with(
        v11,
        header(),
        vec![item(
            operation::LOCATE,
            vec![
                int(
                    tag::STORAGE_STATUS_MASK,
                    storage_status_mask::ON_LINE_STORAGE as i32,
                ),
                attribute(
                    "Name",
                    Some(0),
                    Value::Structure(name_value("okv-master-key")),
                ),
            ],
        )],
    );
    let located = s.send(&locate);
    let found: Vec<String> = only_success(&located)
        .children_with(tag::UNIQUE_IDENTIFIER)
        .map(|u| format!("{:?}", u.value))
        .collect();
    assert_eq!(found, vec![format!("{:?}", Value::TextString(id.clone()))]);

    let missing = s.send(&get_attributes(v11, "no-such-object", &["State"]));
    assert_eq!(
        failure_reason(batch_items(&missing)[0]),
        result_reason::ITEM_NOT_FOUND
    );
}

/// The bytes of a Byte String field of a response payload.
fn byte_child(payload: &Ttlv, t: kmipd::ttlv::Tag) -> Vec<u8> {
    match payload.child(t).map(|c| &c.value) {
        Some(Value::ByteString(b)) => b.to_vec(),
        other => panic!("no Byte String {t:#x}: {other:?}"),
    }
}

/// Create → Activate as MongoDB and libmongocrypt send them (1.2); the new key's identifier.
fn create_active_aes_256(s: &mut Session) -> String {
    let v12 = (1, 2);
    let created = s.send(&create_aes_256(v12, Vec::new()));
    let id = text_child(only_success(&created), tag::UNIQUE_IDENTIFIER);
    only_success(&s.send(&simple(v12, operation::ACTIVATE, &id)));
    id
}

/// AES-CBC decryption by Python's `cryptography` package (the PyKMIP test environment), the padding left in
/// place: an oracle for the server's ciphertext and padding bytes that shares no code with kmipd.
fn cbc_decrypt_by_cryptography(key: &[u8], iv: &[u8], ciphertext: &[u8]) -> Vec<u8> {
    const SCRIPT: &str = "import sys\n\
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes\n\
key, iv, data = (bytes.fromhex(a) for a in sys.argv[1:4])\n\
d = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()\n\
print((d.update(data) + d.finalize()).hex())\n";
    let out = std::process::Command::new(pykmip_script::pykmip_python())
        .args(["-c", SCRIPT])
        .args([hex::encode(key), hex::encode(iv), hex::encode(ciphertext)])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cryptography: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    hex::decode(String::from_utf8(out.stdout).unwrap().trim()).unwrap()
}

/// `data` followed by its PKCS#5 padding: n bytes of value n, 1 <= n <= 16.
fn pkcs5_padded(data: &[u8]) -> Vec<u8> {
    let n = 16 - data.len() % 16;
    let mut out = data.to_vec();
    out.extend(std::iter::repeat_n(n as u8, n));
    out
}

#[test]
fn mongodb_audit_log_encrypt_without_parameters_and_decrypt() {
    let v12 = (1, 2);
    let mut s = session();
    let id = create_active_aes_256(&mut s);
    let key = raw_key_material(only_success(&s.send(&simple(v12, operation::GET, &id))));
    let record = b"{\"atype\":\"authenticate\",\"ts\":1700000000}".to_vec();
    // mongod sends Encrypt with the key and the data only: no Cryptographic Parameters, no IV.
    let encrypted = s.send(&request(
        v12,
        vec![item(
            operation::ENCRYPT,
            vec![uid(&id), bytes(tag::DATA, &record)],
        )],
    ));
    let payload = only_success(&encrypted);
    assert_eq!(text_child(payload, tag::UNIQUE_IDENTIFIER), id);
    let iv = byte_child(payload, tag::IV_COUNTER_NONCE);
    let ciphertext = byte_child(payload, tag::DATA);
    assert_eq!(iv.len(), 16, "the server generates a 16-byte CBC IV");
    // AES-CBC with PKCS#5 padding under the returned IV, checked with an independent implementation.
    assert_eq!(
        cbc_decrypt_by_cryptography(&key, &iv, &ciphertext),
        pkcs5_padded(&record)
    );
    let decrypted = s.send(&request(
        v12,
        vec![item(
            operation::DECRYPT,
            vec![
                uid(&id),
                bytes(tag::DATA, &ciphertext),
                bytes(tag::IV_COUNTER_NONCE, &iv),
            ],
        )],
    ));
    assert_eq!(byte_child(only_success(&decrypted), tag::DATA), record);
}

#[test]
fn libmongocrypt_delegated_cbc_random_iv_round_trip() {
    let v12 = (1, 2);
    let mut s = session();
    let id = create_active_aes_256(&mut s);
    let params = || {
        structure(
            tag::CRYPTOGRAPHIC_PARAMETERS,
            vec![
                enumeration(tag::BLOCK_CIPHER_MODE, block_cipher_mode::CBC),
                enumeration(tag::PADDING_METHOD, padding_method::PKCS5),
                Ttlv::new(tag::RANDOM_IV, Value::Boolean(true)),
            ],
        )
    };
    // The data key libmongocrypt protects: 96 bytes.
    let data_key: Vec<u8> = (0u8..96).collect();
    let encrypted = s.send(&request(
        v12,
        vec![item(
            operation::ENCRYPT,
            vec![uid(&id), params(), bytes(tag::DATA, &data_key)],
        )],
    ));
    let payload = only_success(&encrypted);
    let iv = byte_child(payload, tag::IV_COUNTER_NONCE);
    let ciphertext = byte_child(payload, tag::DATA);
    assert_eq!(iv.len(), 16);
    assert_eq!(
        ciphertext.len(),
        112,
        "96 bytes plus a full block of PKCS#5 padding"
    );
    let key = raw_key_material(only_success(&s.send(&simple(v12, operation::GET, &id))));
    let plain = cbc_decrypt_by_cryptography(&key, &iv, &ciphertext);
    assert_eq!(plain, pkcs5_padded(&data_key));
    assert_eq!(plain[96..], [16u8; 16], "a full block of 0x10");
    let decrypted = s.send(&request(
        v12,
        vec![item(
            operation::DECRYPT,
            vec![
                uid(&id),
                params(),
                bytes(tag::DATA, &ciphertext),
                bytes(tag::IV_COUNTER_NONCE, &iv),
            ],
        )],
    ));
    assert_eq!(byte_child(only_success(&decrypted), tag::DATA), data_key);
    // A second encryption of the same data key draws a fresh IV.
    let again = s.send(&request(
        v12,
        vec![item(
            operation::ENCRYPT,
            vec![uid(&id), params(), bytes(tag::DATA, &data_key)],
        )],
    ));
    assert_ne!(byte_child(only_success(&again), tag::IV_COUNTER_NONCE), iv);
}
