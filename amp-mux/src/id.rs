//! Stream identifiers: 32 lower-case hexadecimal digits, as txampext makes
//! them (`uuid4().hex`).

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

/// A stream's identifier: 32 lower-case hexadecimal digits (128 bits), as
/// txampext's `uuid4().hex`.
///
/// ```
/// use amp_mux::ConnectionId;
/// let id = ConnectionId::new();
/// assert_eq!(id.as_str().len(), 32);
/// assert_eq!(ConnectionId::parse(id.as_str().as_bytes()), Ok(id));
/// assert_ne!(ConnectionId::new(), id);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId([u8; 32]);

/// Why bytes are not a [`ConnectionId`].
///
/// ```
/// let e = amp_mux::ConnectionId::parse(b"ABC").unwrap_err();
/// assert_eq!(e.to_string(), "a stream identifier is 32 lower-case hexadecimal digits, not 3 bytes");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidConnectionId {
    len: usize,
}

impl fmt::Display for InvalidConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.len == 32 {
            f.write_str(
                "a stream identifier is 32 lower-case hexadecimal digits, and these are not",
            )
        } else {
            write!(
                f,
                "a stream identifier is 32 lower-case hexadecimal digits, not {} bytes",
                self.len
            )
        }
    }
}

impl std::error::Error for InvalidConnectionId {}

impl ConnectionId {
    /// A fresh identifier: 128 bits no other identifier of this process
    /// has (a counter, mixed with per-process random keys so that they are
    /// not guessable in order).
    ///
    /// ```
    /// let id = amp_mux::ConnectionId::new();
    /// assert!(id.as_str().bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
    /// ```
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        static KEYS: OnceLock<(u64, RandomState)> = OnceLock::new();
        let (key, state) = KEYS.get_or_init(|| {
            let state = RandomState::new();
            (state.hash_one(u64::MAX), state)
        });
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        // The high half is the counter under a per-process key (one to one,
        // so two identifiers never collide), the low half a keyed hash of it.
        let bits = (u128::from(n ^ key) << 64) | u128::from(state.hash_one(n));
        let mut hex = [0u8; 32];
        for (i, c) in hex.iter_mut().enumerate() {
            let nibble = (bits >> (4 * (31 - i))) & 0xf;
            *c = b"0123456789abcdef"[nibble as usize];
        }
        ConnectionId(hex)
    }

    /// Reads an identifier: exactly 32 lower-case hexadecimal digits.
    ///
    /// ```
    /// use amp_mux::ConnectionId;
    /// assert!(ConnectionId::parse(b"0123456789abcdef0123456789abcdef").is_ok());
    /// assert!(ConnectionId::parse(b"0123456789ABCDEF0123456789ABCDEF").is_err());
    /// ```
    pub fn parse(bytes: &[u8]) -> Result<Self, InvalidConnectionId> {
        let invalid = InvalidConnectionId { len: bytes.len() };
        let hex: [u8; 32] = bytes.try_into().map_err(|_| invalid)?;
        if hex
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
        {
            Ok(ConnectionId(hex))
        } else {
            Err(invalid)
        }
    }

    /// The identifier as text.
    ///
    /// ```
    /// let id = amp_mux::ConnectionId::parse(b"000000000000000000000000000000ff").unwrap();
    /// assert_eq!(id.as_str(), "000000000000000000000000000000ff");
    /// ```
    pub fn as_str(&self) -> &str {
        // Only ASCII hexadecimal digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The identifier as an AMP value.
    ///
    /// ```
    /// let id = amp_mux::ConnectionId::new();
    /// assert_eq!(&id.to_bytes()[..], id.as_str().as_bytes());
    /// ```
    pub fn to_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(&self.0)
    }
}

impl fmt::Debug for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnectionId({})", self.as_str())
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
