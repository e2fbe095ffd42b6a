//! Throughput of the binary TTLV codec on representative KMIP messages: a 1.4 Create request with a
//! Template-Attribute, a Get response carrying a 256-bit key, and a batch of 50 Locate requests.
//!
//! Run with `cargo bench --bench codec`. Each measurement runs for a fixed time budget (bounded by an
//! iteration cap), so the whole benchmark finishes in well under 20 seconds.

use std::hint::black_box;
use std::time::{Duration, Instant};

use kmipd::spec::tag;
use kmipd::ttlv::{Limits, SecretBytes, Ttlv, Value, decode, encode, encode_into};

/// How long each measurement runs.
const BUDGET: Duration = Duration::from_millis(1200);
/// Iterations no measurement exceeds, whatever the speed.
const MAX_ITERATIONS: u64 = 20_000_000;

const OPERATION_CREATE: u32 = 0x01;
const OPERATION_LOCATE: u32 = 0x08;
const OPERATION_GET: u32 = 0x0A;
const OBJECT_TYPE_SYMMETRIC_KEY: u32 = 0x02;
const ALGORITHM_AES: u32 = 0x03;
const KEY_FORMAT_RAW: u32 = 0x01;
const NAME_TYPE_TEXT: u32 = 0x01;
const RESULT_SUCCESS: u32 = 0x00;

fn enumeration(t: u32, v: u32) -> Ttlv {
    Ttlv::new(t, Value::Enumeration(v))
}

fn integer(t: u32, v: i32) -> Ttlv {
    Ttlv::new(t, Value::Integer(v))
}

fn text(t: u32, v: &str) -> Ttlv {
    Ttlv::new(t, Value::TextString(v.to_string()))
}

fn attribute(name: &str, value: Ttlv) -> Ttlv {
    Ttlv::structure(tag::ATTRIBUTE, vec![text(tag::ATTRIBUTE_NAME, name), value])
}

fn protocol_version() -> Ttlv {
    Ttlv::structure(
        tag::PROTOCOL_VERSION,
        vec![
            integer(tag::PROTOCOL_VERSION_MAJOR, 1),
            integer(tag::PROTOCOL_VERSION_MINOR, 4),
        ],
    )
}

fn request_header(batch_count: i32) -> Ttlv {
    Ttlv::structure(
        tag::REQUEST_HEADER,
        vec![protocol_version(), integer(tag::BATCH_COUNT, batch_count)],
    )
}

fn name_attribute(name: &str) -> Ttlv {
    attribute(
        "Name",
        Ttlv::structure(
            tag::ATTRIBUTE_VALUE,
            vec![
                text(tag::NAME_VALUE, name),
                enumeration(tag::NAME_TYPE, NAME_TYPE_TEXT),
            ],
        ),
    )
}

/// KMIP 1.4 Create of an AES-256 key, its attributes in a Template-Attribute.
fn create_request() -> Ttlv {
    let template = Ttlv::structure(
        tag::TEMPLATE_ATTRIBUTE,
        vec![
            attribute(
                "Cryptographic Algorithm",
                enumeration(tag::ATTRIBUTE_VALUE, ALGORITHM_AES),
            ),
            attribute("Cryptographic Length", integer(tag::ATTRIBUTE_VALUE, 256)),
            attribute(
                "Cryptographic Usage Mask",
                integer(tag::ATTRIBUTE_VALUE, 0x0C),
            ),
            name_attribute("backup-volume-key-2026-11"),
        ],
    );
    let item = Ttlv::structure(
        tag::BATCH_ITEM,
        vec![
            enumeration(tag::OPERATION, OPERATION_CREATE),
            Ttlv::structure(
                tag::REQUEST_PAYLOAD,
                vec![
                    enumeration(tag::OBJECT_TYPE, OBJECT_TYPE_SYMMETRIC_KEY),
                    template,
                ],
            ),
        ],
    );
    Ttlv::structure(tag::REQUEST_MESSAGE, vec![request_header(1), item])
}

/// The response to a Get of a 256-bit AES key in Raw format.
fn get_response() -> Ttlv {
    let key_block = Ttlv::structure(
        tag::KEY_BLOCK,
        vec![
            enumeration(tag::KEY_FORMAT_TYPE, KEY_FORMAT_RAW),
            Ttlv::structure(
                tag::KEY_VALUE,
                vec![Ttlv::new(
                    tag::KEY_MATERIAL,
                    Value::ByteString(SecretBytes::new((0u8..32).collect())),
                )],
            ),
            enumeration(tag::CRYPTOGRAPHIC_ALGORITHM, ALGORITHM_AES),
            integer(tag::CRYPTOGRAPHIC_LENGTH, 256),
        ],
    );
    let payload = Ttlv::structure(
        tag::RESPONSE_PAYLOAD,
        vec![
            enumeration(tag::OBJECT_TYPE, OBJECT_TYPE_SYMMETRIC_KEY),
            text(
                tag::UNIQUE_IDENTIFIER,
                "7c1f3c4e-2b1a-4f6e-9d2c-5a8b0e6f1d3a",
            ),
            Ttlv::structure(tag::SYMMETRIC_KEY, vec![key_block]),
        ],
    );
    let header = Ttlv::structure(
        tag::RESPONSE_HEADER,
        vec![
            protocol_version(),
            Ttlv::new(tag::TIME_STAMP, Value::DateTime(1_795_000_000)),
            integer(tag::BATCH_COUNT, 1),
        ],
    );
    let item = Ttlv::structure(
        tag::BATCH_ITEM,
        vec![
            enumeration(tag::OPERATION, OPERATION_GET),
            enumeration(tag::RESULT_STATUS, RESULT_SUCCESS),
            payload,
        ],
    );
    Ttlv::structure(tag::RESPONSE_MESSAGE, vec![header, item])
}

/// One request carrying 50 Locate batch items, each by object type and name.
fn locate_batch() -> Ttlv {
    let mut items = vec![request_header(50)];
    for i in 0..50u32 {
        items.push(Ttlv::structure(
            tag::BATCH_ITEM,
            vec![
                enumeration(tag::OPERATION, OPERATION_LOCATE),
                Ttlv::new(
                    tag::UNIQUE_BATCH_ITEM_ID,
                    Value::ByteString(SecretBytes::new(i.to_be_bytes().to_vec())),
                ),
                Ttlv::structure(
                    tag::REQUEST_PAYLOAD,
                    vec![
                        integer(tag::MAXIMUM_ITEMS, 10),
                        attribute(
                            "Object Type",
                            enumeration(tag::ATTRIBUTE_VALUE, OBJECT_TYPE_SYMMETRIC_KEY),
                        ),
                        name_attribute(&format!("tenant-{i:02}-data-key")),
                    ],
                ),
            ],
        ));
    }
    Ttlv::structure(tag::REQUEST_MESSAGE, items)
}

/// Runs `op` until the budget or the iteration cap is spent; returns iterations and time taken.
fn measure(mut op: impl FnMut()) -> (u64, Duration) {
    // Warm caches and the allocator before timing.
    for _ in 0..1_000 {
        op();
    }
    let start = Instant::now();
    let mut iterations = 0u64;
    while iterations < MAX_ITERATIONS {
        for _ in 0..64 {
            op();
        }
        iterations += 64;
        if start.elapsed() >= BUDGET {
            break;
        }
    }
    (iterations, start.elapsed())
}

fn report(what: &str, size: usize, (iterations, elapsed): (u64, Duration)) {
    let seconds = elapsed.as_secs_f64();
    let per_second = iterations as f64 / seconds;
    let mb_per_second = per_second * size as f64 / 1e6;
    let ns = seconds * 1e9 / iterations as f64;
    println!("  {what:<22} {mb_per_second:>9.1} MB/s {per_second:>12.0} msg/s {ns:>9.0} ns/msg");
}

fn main() {
    let limits = Limits::DEFAULT;
    let messages = [
        ("Create 1.4 + Template-Attribute", create_request()),
        ("Get response, 32-byte key", get_response()),
        ("Locate batch of 50", locate_batch()),
    ];
    let started = Instant::now();
    for (name, tree) in &messages {
        let bytes = encode(tree);
        assert_eq!(
            decode(&bytes, &limits).as_ref(),
            Ok(tree),
            "{name} round-trips"
        );
        println!("{name}: {} bytes", bytes.len());
        report(
            "decode",
            bytes.len(),
            measure(|| {
                black_box(decode(black_box(&bytes), &limits).is_ok());
            }),
        );
        report(
            "encode (new Vec)",
            bytes.len(),
            measure(|| {
                black_box(encode(black_box(tree)));
            }),
        );
        let mut buffer = Vec::with_capacity(bytes.len());
        report(
            "encode_into (reused)",
            bytes.len(),
            measure(|| {
                buffer.clear();
                encode_into(black_box(tree), &mut buffer);
                black_box(buffer.len());
            }),
        );
    }
    println!("total {:.1} s", started.elapsed().as_secs_f64());
}
