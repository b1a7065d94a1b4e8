//! Errors of the codec layer.

use std::fmt;

use bytes::Bytes;

use crate::amp_box::Readable;

/// What was wrong with a box being encoded or decoded.
///
/// ```
/// let e = amp_core::CodecError::TooManyKeys { limit: 8 };
/// assert_eq!(e.to_string(), "box has more than 8 keys");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecError {
    /// A key of zero length in a box being encoded (on the wire an empty key
    /// ends the box).
    EmptyKey,
    /// A key over 255 bytes in a box being encoded.
    KeyTooLong {
        /// The key's length.
        len: usize,
    },
    /// A value over 65535 bytes in a box being encoded.
    ValueTooLong {
        /// The key the value belongs to.
        key: Bytes,
        /// The value's length.
        len: usize,
    },
    /// A received key-length prefix whose high byte is not zero: a key over
    /// 255 bytes, which AMP forbids.
    KeyLengthPrefix {
        /// The prefix's first byte.
        high: u8,
        /// The prefix's second byte, if it had arrived.
        low: Option<u8>,
    },
    /// A received box with more keys than the limit allows.
    TooManyKeys {
        /// The limit.
        limit: usize,
    },
    /// A received box larger than the limit allows.
    BoxTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// More bytes buffered for an incomplete box than the limit allows.
    BufferLimit {
        /// The limit, in bytes.
        limit: usize,
    },
    /// A received box that holds the same key twice.
    DuplicateKey {
        /// The repeated key.
        key: Bytes,
    },
    /// The stream ended in the middle of a box.
    Truncated {
        /// Bytes of the unfinished box that had arrived.
        buffered: usize,
    },
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::EmptyKey => f.write_str("empty key in a box (an empty key ends a box)"),
            CodecError::KeyTooLong { len } => {
                write!(f, "key of {len} bytes is longer than the 255 AMP allows")
            }
            CodecError::ValueTooLong { key, len } => write!(
                f,
                "value of {len} bytes under key {} is longer than the 65535 AMP allows",
                Readable(key)
            ),
            CodecError::KeyLengthPrefix { high, low } => match low {
                Some(low) => write!(
                    f,
                    "key length prefix {high:02x}{low:02x} is over 255 (its first byte must be zero)"
                ),
                None => write!(
                    f,
                    "key length prefix starts with {high:02x}: over 255 (its first byte must be zero)"
                ),
            },
            CodecError::TooManyKeys { limit } => write!(f, "box has more than {limit} keys"),
            CodecError::BoxTooLarge { limit } => {
                write!(f, "box is larger than the {limit}-byte limit")
            }
            CodecError::BufferLimit { limit } => {
                write!(f, "more than {limit} bytes buffered for an incomplete box")
            }
            CodecError::DuplicateKey { key } => {
                write!(f, "key {} appears twice in one box", Readable(key))
            }
            CodecError::Truncated { buffered } => write!(
                f,
                "stream ended in the middle of a box ({buffered} bytes of it received)"
            ),
        }
    }
}

impl std::error::Error for CodecError {}
