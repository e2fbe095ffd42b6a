//! The change log's payload format: the after-image of a record exactly as stored (object still encrypted),
//! so a replica can apply it without the plaintext, and a wrapped data key for the `DataKey` kind.
//! Binary, length-prefixed, big-endian, led by a format version byte; decoding checks every length.

use super::{AttributeRecord, SearchKey};

/// Version byte of the payload format.
const PAYLOAD_VERSION: u8 = 1;

/// What a change did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ChangeKind {
    /// An object was created or replaced; the payload is its after-image.
    Put = 1,
    /// An object was removed; the payload is empty.
    Delete = 2,
    /// A data key was created; `uid` is the key's id and the payload its creation time and wrapped bytes.
    DataKey = 3,
    /// An access-control entry (owner, grant) was set; `uid` is its key and the payload its value.
    AccessSet = 10,
    /// An access-control entry was removed; `uid` is its key, the payload is empty.
    AccessClear = 11,
}

impl ChangeKind {
    /// The kind stored as `code`.
    pub fn from_code(code: i64) -> Option<ChangeKind> {
        match code {
            1 => Some(ChangeKind::Put),
            2 => Some(ChangeKind::Delete),
            3 => Some(ChangeKind::DataKey),
            10 => Some(ChangeKind::AccessSet),
            11 => Some(ChangeKind::AccessClear),
            _ => None,
        }
    }
}

/// Length of a link of the hash chain over the change log.
pub const CHAIN_HASH_LEN: usize = 32;

/// A change's link in the hash chain: SHA-256 over the previous change's link (zeros before the first) and
/// this change's sequence number, time, kind, uid and payload, each length-prefixed. Two copies whose logs
/// hold the same link at a sequence number hold the same history up to it.
pub(crate) fn chain_hash(
    prev: &[u8; CHAIN_HASH_LEN],
    seq: u64,
    time_ms: i64,
    kind: ChangeKind,
    uid: &str,
    payload: &[u8],
) -> [u8; CHAIN_HASH_LEN] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"kmipd change chain v1");
    h.update(prev);
    h.update(seq.to_be_bytes());
    h.update(time_ms.to_be_bytes());
    h.update([kind as u8]);
    h.update((uid.len() as u64).to_be_bytes());
    h.update(uid.as_bytes());
    h.update((payload.len() as u64).to_be_bytes());
    h.update(payload);
    h.finalize().into()
}

/// An object blob as stored: which data key, the nonce, and the ciphertext with its tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SealedBlob {
    pub data_key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// An object row plus its attributes, object encrypted: what `objects`/`attributes` hold and a Put carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoredObject {
    pub object_type: u32,
    pub state: u32,
    pub archived: bool,
    pub created_seq: u64,
    pub blob: Option<SealedBlob>,
    pub attributes: Vec<AttributeRecord>,
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // Lengths are bounded by SQLite's blob limit (< 2^31), so u32 always fits.
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Encodes a Put payload.
pub(crate) fn encode_put(obj: &StoredObject) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.push(PAYLOAD_VERSION);
    out.extend_from_slice(&obj.object_type.to_be_bytes());
    out.extend_from_slice(&obj.state.to_be_bytes());
    out.push(u8::from(obj.archived));
    out.extend_from_slice(&obj.created_seq.to_be_bytes());
    match &obj.blob {
        None => out.push(0),
        Some(b) => {
            out.push(1);
            put_bytes(&mut out, b.data_key_id.as_bytes());
            put_bytes(&mut out, &b.nonce);
            put_bytes(&mut out, &b.ciphertext);
        }
    }
    out.extend_from_slice(&(obj.attributes.len() as u32).to_be_bytes());
    for a in &obj.attributes {
        put_bytes(&mut out, a.name.as_bytes());
        out.extend_from_slice(&a.index.to_be_bytes());
        put_bytes(&mut out, &a.value);
        match &a.search {
            SearchKey::None => out.push(0),
            SearchKey::Int(i) => {
                out.push(1);
                out.extend_from_slice(&i.to_be_bytes());
            }
            SearchKey::Text(t) => {
                out.push(2);
                put_bytes(&mut out, t.as_bytes());
            }
        }
    }
    out
}

/// A bounds-checked reader over a payload.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.rest.len() < n {
            return Err(format!(
                "truncated: needed {n} bytes, {} left",
                self.rest.len()
            ));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let bytes = self.take(N)?;
        <[u8; N]>::try_from(bytes).map_err(|_| "length mismatch".to_string())
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn text(&mut self) -> Result<String, String> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| "text is not UTF-8".to_string())
    }
}

/// Decodes a Put payload.
pub(crate) fn decode_put(payload: &[u8]) -> Result<StoredObject, String> {
    let mut r = Reader { rest: payload };
    let version = r.u8()?;
    if version != PAYLOAD_VERSION {
        return Err(format!("unknown payload version {version}"));
    }
    let object_type = r.u32()?;
    let state = r.u32()?;
    let archived = match r.u8()? {
        0 => false,
        1 => true,
        other => return Err(format!("bad archived flag {other}")),
    };
    let created_seq = r.u64()?;
    let blob = match r.u8()? {
        0 => None,
        1 => Some(SealedBlob {
            data_key_id: r.text()?,
            nonce: r.bytes()?.to_vec(),
            ciphertext: r.bytes()?.to_vec(),
        }),
        other => return Err(format!("bad object flag {other}")),
    };
    let count = r.u32()? as usize;
    // Each attribute takes at least 13 bytes; refuse counts the payload cannot hold before allocating.
    if count > r.rest.len() / 13 {
        return Err(format!("attribute count {count} exceeds the payload"));
    }
    let mut attributes = Vec::with_capacity(count);
    for _ in 0..count {
        let name = r.text()?;
        let index = r.u32()?;
        let value = r.bytes()?.to_vec();
        let search = match r.u8()? {
            0 => SearchKey::None,
            1 => SearchKey::Int(i64::from_be_bytes(r.array()?)),
            2 => SearchKey::Text(r.text()?),
            other => return Err(format!("bad search key kind {other}")),
        };
        attributes.push(AttributeRecord {
            name,
            index,
            value,
            search,
        });
    }
    if !r.rest.is_empty() {
        return Err(format!("{} trailing bytes", r.rest.len()));
    }
    Ok(StoredObject {
        object_type,
        state,
        archived,
        created_seq,
        blob,
        attributes,
    })
}

/// Encodes a DataKey payload: creation time then the wrapped key.
pub(crate) fn encode_data_key(created_ms: i64, wrapped: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 8 + wrapped.len());
    out.push(PAYLOAD_VERSION);
    out.extend_from_slice(&created_ms.to_be_bytes());
    out.extend_from_slice(wrapped);
    out
}

/// Decodes a DataKey payload into (creation time, wrapped key).
pub(crate) fn decode_data_key(payload: &[u8]) -> Result<(i64, Vec<u8>), String> {
    let mut r = Reader { rest: payload };
    let version = r.u8()?;
    if version != PAYLOAD_VERSION {
        return Err(format!("unknown payload version {version}"));
    }
    let created_ms = i64::from_be_bytes(r.array()?);
    Ok((created_ms, r.rest.to_vec()))
}
