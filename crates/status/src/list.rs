//! The status list itself: a packed array of `bits`-wide entries
//! (draft-ietf-oauth-status-list §4).
//!
//! Entry `i` occupies bits `[i * bits, (i + 1) * bits)` of the byte array,
//! counting from the least significant bit of byte 0; the array travels as
//! `lst`, the unpadded base64url encoding of its ZLIB (RFC 1950) / DEFLATE
//! (RFC 1951) compression. The draft's examples are test vectors here:
//! `{"bits": 1, "lst": "eNrbuRgAAhcBXQ"}` is the bytes `b9 a3`, entries
//! `1 0 0 1 1 1 0 1 1 1 0 0 0 1 0 1`.

use std::io::{Read as _, Write as _};

use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use passport_jose::b64;
use serde::{Deserialize, Serialize};

use crate::StatusError;

/// The default cap on a decompressed list, in bytes: 16 MiB, a 1-bit list of
/// 134 million entries or a 2-bit list of 67 million. A `lst` that inflates
/// to more is refused without ever holding more than this in memory.
pub const DEFAULT_MAX_DECOMPRESSED: usize = 16 * 1024 * 1024;

/// A status value of the draft's registry that this project uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Status {
    /// `0x00`: the passport is valid.
    Valid,
    /// `0x01`: revoked for good.
    Invalid,
    /// `0x02`: suspended; may be reinstated.
    Suspended,
}

/// A list's status as the verifier's link status. The match is exhaustive:
/// a status added here must be mapped before anything compiles.
impl From<Status> for passport_verifier::LinkStatus {
    fn from(status: Status) -> passport_verifier::LinkStatus {
        match status {
            Status::Valid => passport_verifier::LinkStatus::Valid,
            Status::Invalid => passport_verifier::LinkStatus::Revoked,
            Status::Suspended => passport_verifier::LinkStatus::Suspended,
        }
    }
}

impl Status {
    /// The value written in a status list.
    pub const fn value(self) -> u8 {
        match self {
            Status::Valid => 0x00,
            Status::Invalid => 0x01,
            Status::Suspended => 0x02,
        }
    }

    /// The status a list value stands for; `None` for the values the draft
    /// leaves to applications (`0x03`, `0x0B`–`0x0F`) or has not assigned.
    pub const fn from_value(value: u8) -> Option<Status> {
        match value {
            0x00 => Some(Status::Valid),
            0x01 => Some(Status::Invalid),
            0x02 => Some(Status::Suspended),
            _ => None,
        }
    }

    /// `valid`, `invalid` or `suspended`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Valid => "valid",
            Status::Invalid => "invalid",
            Status::Suspended => "suspended",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status list in memory.
///
/// ```
/// use passport_status::StatusList;
/// let mut list = StatusList::new(2)?;
/// list.set(5, 2)?;
/// let (bits, lst) = list.encode()?;
/// let back = StatusList::decode(bits.into(), &lst, 1024)?;
/// assert_eq!(back.get(5)?, 2);
/// assert_eq!(back.get(4)?, 0);
/// assert_eq!(back.get(1_000).unwrap_err().code(), "index_out_of_range");
/// # Ok::<(), passport_status::StatusError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct StatusList {
    bits: u8,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for StatusList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusList")
            .field("bits", &self.bits)
            .field("entries", &self.len())
            .finish()
    }
}

fn check_bits(bits: u64) -> Result<u8, StatusError> {
    match bits {
        1 | 2 | 4 | 8 => Ok(bits as u8),
        other => Err(StatusError::InvalidBits(other)),
    }
}

impl StatusList {
    /// An empty list of `bits`-wide entries (1, 2, 4 or 8).
    pub fn new(bits: u8) -> Result<StatusList, StatusError> {
        Ok(StatusList {
            bits: check_bits(bits.into())?,
            bytes: Vec::new(),
        })
    }

    /// A list holding `entries` entries, all `0x00` (valid). The byte array
    /// is rounded up to whole bytes, so [`StatusList::len`] may be a little
    /// larger. Refused above [`DEFAULT_MAX_DECOMPRESSED`] bytes.
    pub fn with_capacity(bits: u8, entries: u64) -> Result<StatusList, StatusError> {
        let bits = check_bits(bits.into())?;
        let bytes = byte_len(bits, entries)?;
        Ok(StatusList {
            bits,
            bytes: vec![0; bytes],
        })
    }

    /// Bits per entry.
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// How many entries the list holds (the byte array's size times
    /// `8 / bits`).
    pub fn len(&self) -> u64 {
        self.bytes.len() as u64 * u64::from(8 / self.bits)
    }

    /// True when the list holds no entry.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The packed byte array.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The status value of entry `idx`; [`StatusError::IndexOutOfRange`]
    /// past the end (never "valid by default").
    pub fn get(&self, idx: u64) -> Result<u8, StatusError> {
        let per_byte = u64::from(8 / self.bits);
        let byte = usize::try_from(idx / per_byte).ok();
        let Some(&b) = byte.and_then(|i| self.bytes.get(i)) else {
            return Err(StatusError::IndexOutOfRange {
                idx,
                len: self.len(),
            });
        };
        let shift = (idx % per_byte) as u32 * u32::from(self.bits);
        Ok((b >> shift) & self.mask())
    }

    /// Sets entry `idx` to `value`, growing the list (with valid entries) when
    /// `idx` is past the end. The value must fit in `bits`; the list may not
    /// grow past [`DEFAULT_MAX_DECOMPRESSED`] bytes.
    pub fn set(&mut self, idx: u64, value: u8) -> Result<(), StatusError> {
        if value > self.mask() {
            return Err(StatusError::InvalidValue {
                value,
                bits: self.bits,
            });
        }
        let per_byte = u64::from(8 / self.bits);
        let needed = byte_len(self.bits, idx.saturating_add(1))?;
        if needed > self.bytes.len() {
            self.bytes.resize(needed, 0);
        }
        let shift = (idx % per_byte) as u32 * u32::from(self.bits);
        let byte = (idx / per_byte) as usize;
        let mask = self.mask() << shift;
        if let Some(b) = self.bytes.get_mut(byte) {
            *b = (*b & !mask) | (value << shift);
        }
        Ok(())
    }

    /// `(bits, lst)`: the list compressed with ZLIB at the best compression
    /// level (as the draft recommends) and base64url-encoded.
    pub fn encode(&self) -> Result<(u8, String), StatusError> {
        let mut encoder = ZlibEncoder::new(
            Vec::with_capacity(self.bytes.len() / 64 + 64),
            Compression::best(),
        );
        encoder
            .write_all(&self.bytes)
            .map_err(|e| StatusError::Compression(e.to_string()))?;
        let compressed = encoder
            .finish()
            .map_err(|e| StatusError::Compression(e.to_string()))?;
        Ok((self.bits, b64::encode(compressed)))
    }

    /// Decodes `bits` and `lst` from a Status List Token, refusing: `bits`
    /// outside {1, 2, 4, 8}; `lst` that is not canonical unpadded base64url;
    /// anything but exactly one valid ZLIB stream (bad header, corrupt data,
    /// bad Adler-32, truncation, trailing bytes); and a list that inflates to
    /// more than `max_decompressed` bytes. Inflation stops at
    /// `max_decompressed + 1` bytes and the buffer never grows beyond the cap,
    /// so a "zip bomb" costs at most the cap in memory.
    pub fn decode(
        bits: u64,
        lst: &str,
        max_decompressed: usize,
    ) -> Result<StatusList, StatusError> {
        let bits = check_bits(bits)?;
        let compressed = b64::decode(lst).ok_or(StatusError::InvalidBase64)?;
        let mut decoder = ZlibDecoder::new(compressed.as_slice());
        let mut bytes: Vec<u8> = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let n = decoder
                .read(&mut chunk)
                .map_err(|e| StatusError::InvalidZlib(e.to_string()))?;
            if n == 0 {
                break;
            }
            let new_len = bytes.len() + n;
            if new_len > max_decompressed {
                return Err(StatusError::ListTooLarge {
                    max: max_decompressed,
                });
            }
            if new_len > bytes.capacity() {
                // Grow geometrically, but never past the cap.
                let target = new_len
                    .max(bytes.capacity().saturating_mul(2))
                    .min(max_decompressed);
                bytes.reserve_exact(target - bytes.len());
            }
            bytes.extend_from_slice(&chunk[..n]);
        }
        // A truncated stream ends without error in some inflaters, and bytes
        // after the stream would be ignored: insist the stream was complete
        // and consumed everything.
        if decoder.total_in() != compressed.len() as u64 {
            return Err(StatusError::InvalidZlib(
                "the data does not end where the ZLIB stream ends".into(),
            ));
        }
        Ok(StatusList { bits, bytes })
    }

    fn mask(&self) -> u8 {
        // bits is 1, 2, 4 or 8.
        ((1u16 << self.bits) - 1) as u8
    }
}

/// The bytes needed for `entries` entries of `bits` bits, capped.
fn byte_len(bits: u8, entries: u64) -> Result<usize, StatusError> {
    let per_byte = u64::from(8 / bits);
    let bytes = entries.div_ceil(per_byte);
    match usize::try_from(bytes) {
        Ok(n) if n <= DEFAULT_MAX_DECOMPRESSED => Ok(n),
        _ => Err(StatusError::ListTooLarge {
            max: DEFAULT_MAX_DECOMPRESSED,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draft_vector_one_bit() {
        let list = StatusList::decode(1, "eNrbuRgAAhcBXQ", 1024).unwrap();
        assert_eq!(list.as_bytes(), [0xb9, 0xa3]);
        let expected = [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1];
        for (i, v) in expected.iter().enumerate() {
            assert_eq!(list.get(i as u64).unwrap(), *v, "entry {i}");
        }
        assert_eq!(list.len(), 16);
        assert_eq!(list.get(16).unwrap_err().code(), "index_out_of_range");
    }

    #[test]
    fn draft_vector_two_bits() {
        let list = StatusList::decode(2, "eNo76fITAAPfAgc", 1024).unwrap();
        assert_eq!(list.as_bytes(), [0xc9, 0x44, 0xf9]);
        let expected = [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3];
        for (i, v) in expected.iter().enumerate() {
            assert_eq!(list.get(i as u64).unwrap(), *v, "entry {i}");
        }
        let mut built = StatusList::new(2).unwrap();
        for (i, v) in expected.iter().enumerate() {
            built.set(i as u64, *v).unwrap();
        }
        assert_eq!(built.as_bytes(), list.as_bytes());
    }

    #[test]
    fn every_width_round_trips() {
        for bits in [1u8, 2, 4, 8] {
            let max = ((1u16 << bits) - 1) as u8;
            let mut list = StatusList::with_capacity(bits, 1000).unwrap();
            for i in (0..1000u64).step_by(7) {
                list.set(i, (i % (u64::from(max) + 1)) as u8).unwrap();
            }
            let (b, lst) = list.encode().unwrap();
            let back = StatusList::decode(b.into(), &lst, 1 << 20).unwrap();
            assert_eq!(back, list);
            assert_eq!(
                list.set(0, max.wrapping_add(1)).map_err(|e| e.code()),
                if bits == 8 {
                    Ok(())
                } else {
                    Err("invalid_status_value")
                }
            );
        }
    }

    #[test]
    fn set_grows_and_get_past_end_is_an_error() {
        let mut list = StatusList::new(1).unwrap();
        assert!(list.is_empty());
        assert_eq!(list.get(0).unwrap_err().code(), "index_out_of_range");
        list.set(17, 1).unwrap();
        assert_eq!(list.len(), 24);
        assert_eq!(list.get(17).unwrap(), 1);
        assert_eq!(list.get(16).unwrap(), 0);
        assert_eq!(list.set(u64::MAX, 1).unwrap_err().code(), "list_too_large");
        assert_eq!(
            StatusList::with_capacity(1, u64::MAX).unwrap_err().code(),
            "list_too_large"
        );
    }

    #[test]
    fn bits_outside_the_draft_are_refused() {
        for bits in [0u8, 3, 5, 16, 255] {
            assert_eq!(StatusList::new(bits).unwrap_err().code(), "invalid_bits");
        }
        for bits in [0u64, 3, 16, 1 << 40] {
            assert_eq!(
                StatusList::decode(bits, "eNrbuRgAAhcBXQ", 1024)
                    .unwrap_err()
                    .code(),
                "invalid_bits"
            );
        }
    }

    #[test]
    fn status_values() {
        for s in [Status::Valid, Status::Invalid, Status::Suspended] {
            assert_eq!(Status::from_value(s.value()), Some(s));
        }
        assert_eq!(Status::from_value(3), None);
    }
}
