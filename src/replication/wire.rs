//! The node-to-node messages and their binary form. A frame is a 4-byte big-endian length, then a 1-byte
//! message type and its body; integers are big-endian, byte strings and texts are a 4-byte length and their
//! bytes. Every length is checked against what is left before anything is allocated.

use zeroize::Zeroize;

use crate::store::{
    AttributeRecord, ChangeKind, ChangeRecord, Mutation, ObjectRecord, SearchKey, StoreError,
};
use crate::ttlv::SecretBytes;

use super::origin::Origin;

/// One request or answer between nodes.
#[derive(Debug, PartialEq, Eq)]
pub enum Message {
    /// Asks for the receiver's last sequence number and the highest it acknowledged.
    LastSeq,
    /// Asks for up to `max` changes above `after`.
    ChangesSince {
        /// Sequence number to start after.
        after: u64,
        /// Most changes to return.
        max: u32,
    },
    /// The sequencer ships changes to a zone or remote node, to be applied in one transaction.
    Apply(Vec<ChangeRecord>),
    /// A follower node asks the sequencer to commit a change on behalf of one of its clients.
    Commit {
        /// Random, chosen by the follower for this change and kept when the message is sent again: the
        /// sequencer applies a given id once and answers a repeat with the first outcome.
        request_id: [u8; 16],
        /// The client the change is made for (the sequencer audits it under this identity).
        origin: Origin,
        /// Whole after-images.
        mutations: Vec<Mutation>,
    },
    /// Asks for the node's status (JSON).
    Status,
    /// Answer: what the node holds and the highest sequence it acknowledged to a client.
    Seq {
        /// The last sequence number it holds.
        held: u64,
        /// The highest acknowledged (0 when the node does not order changes).
        acked: u64,
    },
    /// Answer to [`Message::ChangesSince`].
    Changes(Vec<ChangeRecord>),
    /// Answer to [`Message::Status`].
    Text(String),
    /// A forwarded commit refused by the compare-and-set: `uid` changed after the follower read it
    /// ([`StoreError::VersionConflict`], kept as such so the follower's operation can read again).
    Conflict {
        /// The object.
        uid: String,
        /// The version the change was based on.
        expected: u64,
        /// The version the sequencer holds (`None`: no such object).
        found: Option<u64>,
    },
    /// A failure; `zone` is set when it is a zone that is unavailable.
    Error {
        /// The unavailable zone, or empty.
        zone: String,
        /// What failed.
        message: String,
    },
}

const LAST_SEQ: u8 = 1;
const CHANGES_SINCE: u8 = 2;
const APPLY: u8 = 3;
const COMMIT: u8 = 4;
const STATUS: u8 = 5;
const SEQ: u8 = 0x81;
const CHANGES: u8 = 0x82;
const TEXT: u8 = 0x83;
const CONFLICT: u8 = 0x84;
const ERROR: u8 = 0xFF;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The frame ended early or a length pointed past its end.
    #[error("truncated node message")]
    Truncated,
    /// Unknown message type or field value.
    #[error("malformed node message: {0}")]
    Malformed(&'static str),
    /// The frame declares more bytes than allowed.
    #[error("node message of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Declared length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl From<WireError> for StoreError {
    fn from(e: WireError) -> Self {
        StoreError::CorruptChange {
            seq: 0,
            reason: e.to_string(),
        }
    }
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn bytes(&mut self, v: &[u8]) {
        // Lengths above u32 cannot occur: frames are bounded far below 4 GiB.
        self.u32(u32::try_from(v.len()).unwrap_or(u32::MAX));
        self.0.extend_from_slice(v);
    }
    fn text(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.0.len() < n {
            return Err(WireError::Truncated);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64, WireError> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    fn bytes(&mut self) -> Result<&'a [u8], WireError> {
        let len = usize::try_from(self.u32()?).map_err(|_| WireError::Truncated)?;
        self.take(len)
    }
    fn text(&mut self) -> Result<String, WireError> {
        String::from_utf8(self.bytes()?.to_vec())
            .map_err(|_| WireError::Malformed("text is not UTF-8"))
    }
    /// A count of items each at least `min_size` bytes: refused when the rest cannot hold them.
    fn count(&mut self, min_size: usize) -> Result<usize, WireError> {
        let n = usize::try_from(self.u32()?).map_err(|_| WireError::Truncated)?;
        if n.saturating_mul(min_size) > self.0.len() {
            return Err(WireError::Truncated);
        }
        Ok(n)
    }
}

fn write_changes(w: &mut Writer, changes: &[ChangeRecord]) {
    w.u32(u32::try_from(changes.len()).unwrap_or(u32::MAX));
    for c in changes {
        w.u64(c.seq);
        w.i64(c.time_ms);
        w.u8(c.kind as u8);
        w.text(&c.uid);
        w.bytes(&c.payload);
        match &c.hash {
            Some(h) => {
                w.u8(1);
                w.0.extend_from_slice(h);
            }
            None => w.u8(0),
        }
    }
}

fn read_changes(r: &mut Reader<'_>) -> Result<Vec<ChangeRecord>, WireError> {
    let n = r.count(25)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let seq = r.u64()?;
        let time_ms = r.i64()?;
        let kind = ChangeKind::from_code(i64::from(r.u8()?))
            .ok_or(WireError::Malformed("unknown change kind"))?;
        let uid = r.text()?;
        let payload = r.bytes()?.to_vec();
        let hash = match r.u8()? {
            0 => None,
            1 => Some(r.array()?),
            _ => return Err(WireError::Malformed("hash chain flag")),
        };
        out.push(ChangeRecord {
            seq,
            time_ms,
            kind,
            uid,
            payload,
            hash,
        });
    }
    Ok(out)
}

fn write_mutations(w: &mut Writer, mutations: &[Mutation]) {
    w.u32(u32::try_from(mutations.len()).unwrap_or(u32::MAX));
    for m in mutations {
        match m {
            Mutation::Put(o) => {
                w.u8(1);
                w.text(&o.uid);
                w.u32(o.object_type);
                w.u32(o.state);
                w.u8(u8::from(o.archived));
                w.u64(o.created_seq);
                w.u64(o.version);
                match &o.object {
                    Some(bytes) => {
                        w.u8(1);
                        w.bytes(bytes);
                    }
                    None => w.u8(0),
                }
                w.u32(u32::try_from(o.attributes.len()).unwrap_or(u32::MAX));
                for a in &o.attributes {
                    w.text(&a.name);
                    w.u32(a.index);
                    w.bytes(&a.value);
                    match &a.search {
                        SearchKey::None => w.u8(0),
                        SearchKey::Int(i) => {
                            w.u8(1);
                            w.i64(*i);
                        }
                        SearchKey::Text(t) => {
                            w.u8(2);
                            w.text(t);
                        }
                    }
                }
            }
            Mutation::Delete { uid, version } => {
                w.u8(2);
                w.text(uid);
                w.u64(*version);
            }
            Mutation::SetAccess { key, value } => {
                w.u8(3);
                w.text(key);
                w.bytes(value);
            }
            Mutation::ClearAccess { key } => {
                w.u8(4);
                w.text(key);
            }
        }
    }
}

fn read_mutations(r: &mut Reader<'_>) -> Result<Vec<Mutation>, WireError> {
    let n = r.count(5)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        match r.u8()? {
            1 => {
                let uid = r.text()?;
                let object_type = r.u32()?;
                let state = r.u32()?;
                let archived = r.u8()? != 0;
                let created_seq = r.u64()?;
                let version = r.u64()?;
                let object = match r.u8()? {
                    0 => None,
                    1 => Some(SecretBytes::from(r.bytes()?.to_vec())),
                    _ => return Err(WireError::Malformed("object flag")),
                };
                let count = r.count(13)?;
                let mut attributes = Vec::with_capacity(count);
                for _ in 0..count {
                    let name = r.text()?;
                    let index = r.u32()?;
                    let value = r.bytes()?.to_vec();
                    let search = match r.u8()? {
                        0 => SearchKey::None,
                        1 => SearchKey::Int(r.i64()?),
                        2 => SearchKey::Text(r.text()?),
                        _ => return Err(WireError::Malformed("search key kind")),
                    };
                    attributes.push(AttributeRecord {
                        name,
                        index,
                        value,
                        search,
                    });
                }
                out.push(Mutation::Put(ObjectRecord {
                    uid,
                    object_type,
                    state,
                    archived,
                    created_seq,
                    object,
                    attributes,
                    version,
                }));
            }
            2 => out.push(Mutation::Delete {
                uid: r.text()?,
                version: r.u64()?,
            }),
            3 => out.push(Mutation::SetAccess {
                key: r.text()?,
                value: r.bytes()?.to_vec(),
            }),
            4 => out.push(Mutation::ClearAccess { key: r.text()? }),
            _ => return Err(WireError::Malformed("mutation kind")),
        }
    }
    Ok(out)
}

impl Message {
    /// The whole frame (length prefix included). A Commit frame holds key material: the caller wipes it.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(vec![0; 4]);
        match self {
            Message::LastSeq => w.u8(LAST_SEQ),
            Message::ChangesSince { after, max } => {
                w.u8(CHANGES_SINCE);
                w.u64(*after);
                w.u32(*max);
            }
            Message::Apply(changes) => {
                w.u8(APPLY);
                write_changes(&mut w, changes);
            }
            Message::Commit {
                request_id,
                origin,
                mutations,
            } => {
                w.u8(COMMIT);
                w.0.extend_from_slice(request_id);
                w.text(&origin.identity);
                w.text(&origin.source);
                w.text(&origin.operation);
                write_mutations(&mut w, mutations);
            }
            Message::Status => w.u8(STATUS),
            Message::Seq { held, acked } => {
                w.u8(SEQ);
                w.u64(*held);
                w.u64(*acked);
            }
            Message::Changes(changes) => {
                w.u8(CHANGES);
                write_changes(&mut w, changes);
            }
            Message::Text(t) => {
                w.u8(TEXT);
                w.text(t);
            }
            Message::Conflict {
                uid,
                expected,
                found,
            } => {
                w.u8(CONFLICT);
                w.text(uid);
                w.u64(*expected);
                match found {
                    Some(v) => {
                        w.u8(1);
                        w.u64(*v);
                    }
                    None => w.u8(0),
                }
            }
            Message::Error { zone, message } => {
                w.u8(ERROR);
                w.text(zone);
                w.text(message);
            }
        }
        let len = u32::try_from(w.0.len() - 4).unwrap_or(u32::MAX);
        w.0[..4].copy_from_slice(&len.to_be_bytes());
        w.0
    }

    /// A message from a frame body (after the length prefix). Key material read from a Commit is held in
    /// zeroizing buffers; the caller wipes `body`.
    pub fn decode(body: &[u8]) -> Result<Message, WireError> {
        let mut r = Reader(body);
        let message = match r.u8()? {
            LAST_SEQ => Message::LastSeq,
            CHANGES_SINCE => Message::ChangesSince {
                after: r.u64()?,
                max: r.u32()?,
            },
            APPLY => Message::Apply(read_changes(&mut r)?),
            COMMIT => Message::Commit {
                request_id: r.array()?,
                origin: Origin {
                    identity: r.text()?,
                    source: r.text()?,
                    operation: r.text()?,
                },
                mutations: read_mutations(&mut r)?,
            },
            STATUS => Message::Status,
            SEQ => Message::Seq {
                held: r.u64()?,
                acked: r.u64()?,
            },
            CHANGES => Message::Changes(read_changes(&mut r)?),
            TEXT => Message::Text(r.text()?),
            CONFLICT => Message::Conflict {
                uid: r.text()?,
                expected: r.u64()?,
                found: match r.u8()? {
                    0 => None,
                    1 => Some(r.u64()?),
                    _ => return Err(WireError::Malformed("conflict version flag")),
                },
            },
            ERROR => Message::Error {
                zone: r.text()?,
                message: r.text()?,
            },
            _ => return Err(WireError::Malformed("unknown message type")),
        };
        if !r.0.is_empty() {
            return Err(WireError::Malformed("trailing bytes"));
        }
        Ok(message)
    }
}

/// Reads one frame body from `stream`, refusing a declared length above `max` before allocating.
pub fn read_frame(stream: &mut impl std::io::Read, max: usize) -> Result<Vec<u8>, std::io::Error> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let len = usize::try_from(u32::from_be_bytes(len)).unwrap_or(usize::MAX);
    if len > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            WireError::TooLarge { len, max },
        ));
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body)?;
    Ok(body)
}

/// Wipes a buffer that may hold key material (a Commit frame).
pub fn wipe(mut buffer: Vec<u8>) {
    buffer.zeroize();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_survives_encoding() {
        let change = ChangeRecord {
            seq: 7,
            time_ms: 1_700_000_000_000,
            kind: ChangeKind::Put,
            uid: "u-1".into(),
            payload: vec![1, 2, 3],
            hash: Some([3; 32]),
        };
        let mut record = ObjectRecord::new("u-2", 2, 1);
        record.version = 41;
        record.object = Some(SecretBytes::from(vec![9u8; 32]));
        record.attributes.push(AttributeRecord {
            name: "Name".into(),
            index: 0,
            value: vec![4, 5],
            search: SearchKey::Text("k".into()),
        });
        record.attributes.push(AttributeRecord {
            name: "Length".into(),
            index: 1,
            value: vec![],
            search: SearchKey::Int(-3),
        });
        for message in [
            Message::LastSeq,
            Message::ChangesSince { after: 3, max: 10 },
            Message::Apply(vec![change.clone()]),
            Message::Commit {
                request_id: [7; 16],
                origin: Origin {
                    identity: "alice".into(),
                    source: "127.0.0.1:40000".into(),
                    operation: "Create".into(),
                },
                mutations: vec![
                    Mutation::Put(record),
                    Mutation::Delete {
                        uid: "u-3".into(),
                        version: 12,
                    },
                    Mutation::SetAccess {
                        key: "owner/u-3".into(),
                        value: b"alice".to_vec(),
                    },
                    Mutation::ClearAccess {
                        key: "grant/g-1".into(),
                    },
                ],
            },
            Message::Status,
            Message::Seq { held: 5, acked: 4 },
            Message::Changes(vec![change]),
            Message::Text("{}".into()),
            Message::Conflict {
                uid: "u-4".into(),
                expected: 9,
                found: Some(11),
            },
            Message::Conflict {
                uid: "u-5".into(),
                expected: 2,
                found: None,
            },
            Message::Error {
                zone: "b".into(),
                message: "down".into(),
            },
        ] {
            let frame = message.encode();
            let body = read_frame(&mut &frame[..], 1 << 20).unwrap();
            assert_eq!(Message::decode(&body).unwrap(), message);
        }
    }

    #[test]
    fn truncated_oversized_and_padded_frames_are_refused() {
        let frame = Message::Apply(vec![]).encode();
        assert!(read_frame(&mut &frame[..frame.len() - 1], 1 << 20).is_err());
        assert!(read_frame(&mut &frame[..], 2).is_err());
        // A count of a billion changes in a 5-byte body is refused before allocating.
        assert!(Message::decode(&[APPLY, 0x40, 0, 0, 0]).is_err());
        assert!(Message::decode(&[LAST_SEQ, 0]).is_err());
        assert!(Message::decode(&[0x42]).is_err());
    }
}
