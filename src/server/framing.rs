//! Where one request frame ends: the 8-byte TTLV header of the outermost item gives the length of what follows.
//!
//! The declared length is checked against the configured maximum before any buffer is allocated, so a peer
//! cannot make the server reserve memory by lying in a header.
//!
//! The TTLV codec will provide the same check as `ttlv::frame_len`; until it does, this private copy keeps the
//! connection loop honest and the integrator replaces [`read_frame_len`] with it.

use thiserror::Error;

/// Length of the TTLV header: tag (3 bytes), type (1 byte), length (4 bytes, big-endian).
pub const HEADER_LEN: usize = 8;

/// The item type byte of a Structure; every KMIP message is one.
const STRUCTURE_TYPE: u8 = 0x01;

/// Why a header cannot start an acceptable frame.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// Fewer than [`HEADER_LEN`] bytes were given.
    #[error("frame header is {got} bytes, {HEADER_LEN} are needed")]
    ShortHeader { got: usize },
    /// A message is always a Structure; anything else is not KMIP (or is plaintext garbage).
    #[error("outermost item has type 0x{found:02x}, a message must be a Structure (0x01)")]
    NotAStructure { found: u8 },
    /// The header declares a frame larger than the configured maximum.
    #[error("frame of {declared} bytes exceeds the limit of {limit} bytes")]
    TooLarge { declared: u64, limit: usize },
}

/// The total length (header included) of the frame that `header` starts, checked against `max_message_bytes`.
pub fn read_frame_len(header: &[u8], max_message_bytes: usize) -> Result<usize, FrameError> {
    let (Some(type_byte), Some(length)) = (header.get(3), header.get(4..HEADER_LEN)) else {
        return Err(FrameError::ShortHeader { got: header.len() });
    };
    if *type_byte != STRUCTURE_TYPE {
        return Err(FrameError::NotAStructure { found: *type_byte });
    }
    let mut length_bytes = [0u8; 4];
    length_bytes.copy_from_slice(length);
    let declared = u64::from(u32::from_be_bytes(length_bytes)) + HEADER_LEN as u64;
    match usize::try_from(declared) {
        Ok(total) if total <= max_message_bytes => Ok(total),
        _ => Err(FrameError::TooLarge { declared, limit: max_message_bytes }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_length_includes_the_header() {
        let header = [0x42, 0x00, 0x78, 0x01, 0x00, 0x00, 0x00, 0x20];
        assert_eq!(read_frame_len(&header, 1 << 20), Ok(40));
    }

    #[test]
    fn a_frame_exactly_at_the_limit_is_accepted() {
        let header = [0x42, 0x00, 0x78, 0x01, 0x00, 0x00, 0x00, 0x08];
        assert_eq!(read_frame_len(&header, 16), Ok(16));
        assert_eq!(
            read_frame_len(&header, 15),
            Err(FrameError::TooLarge { declared: 16, limit: 15 })
        );
    }

    #[test]
    fn four_gibibytes_are_refused() {
        let header = [0x42, 0x00, 0x78, 0x01, 0xFF, 0xFF, 0xFF, 0xFF];
        assert_eq!(
            read_frame_len(&header, 1 << 20),
            Err(FrameError::TooLarge { declared: 0xFFFF_FFFF + 8, limit: 1 << 20 })
        );
    }

    #[test]
    fn non_structures_and_short_headers_are_refused() {
        let tls_hello = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x00];
        assert_eq!(read_frame_len(&tls_hello, 1 << 20), Err(FrameError::NotAStructure { found: 2 }));
        assert_eq!(read_frame_len(&[0x42, 0x00], 1 << 20), Err(FrameError::ShortHeader { got: 2 }));
    }
}
