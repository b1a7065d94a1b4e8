//! What a connection reports: [`Event`]s, the peer's [`Request`]s, and the
//! [`CallId`] naming each of this side's calls (with the hasher for tables
//! keyed by it). [`settles`] turns an event into the outcome of the call it
//! settles.

use std::fmt;

use bytes::Bytes;

use crate::AmpBox;
use crate::command::{CallError, RemoteError};
use crate::error::ConnectionError;

/// Hashing for tables keyed by this side's call counters: one
/// multiplication, where the default hasher spends far longer. The keys are
/// chosen by this side, never by the peer (a peer's tag is looked up only
/// after it parsed as one of ours, and a miss is a protocol error), so no
/// flooding-resistant hash is needed.
pub type CallIdHash = std::hash::BuildHasherDefault<CallIdHasher>;

/// The hasher of [`CallIdHash`]: Fibonacci hashing of a `u64`.
///
/// ```
/// use std::hash::BuildHasher;
/// let h = amp_core::event::CallIdHash::default();
/// assert_ne!(h.hash_one(1u64), h.hash_one(2u64));
/// ```
#[derive(Default, Clone, Copy, Debug)]
pub struct CallIdHasher(u64);

impl std::hash::Hasher for CallIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Identifies one outgoing call on its connection: the counter behind its
/// `_ask` tag. Tags start at 1 and are never reused on a connection.
///
/// ```
/// let id = amp_core::CallId::new(255);
/// assert_eq!(id.tag(), "ff");
/// assert_eq!(id.get(), 255);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub(crate) u64);

impl CallId {
    /// The call with this counter value.
    ///
    /// ```
    /// assert_eq!(amp_core::CallId::new(1).get(), 1);
    /// ```
    pub fn new(n: u64) -> Self {
        CallId(n)
    }

    /// The counter value.
    ///
    /// ```
    /// assert_eq!(amp_core::CallId::new(7).get(), 7);
    /// ```
    pub fn get(self) -> u64 {
        self.0
    }

    /// The `_ask` tag as Twisted writes it: lower-case hex, no prefix.
    ///
    /// ```
    /// assert_eq!(amp_core::CallId::new(26).tag(), "1a");
    /// ```
    pub fn tag(self) -> String {
        format!("{:x}", self.0)
    }

    pub(crate) fn write_tag(self, buf: &mut [u8; 16]) -> &[u8] {
        let mut n = self.0;
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = b"0123456789abcdef"[(n & 0xf) as usize];
            n >>= 4;
            if n == 0 {
                break;
            }
        }
        &buf[i..]
    }

    /// Parses a tag this side wrote: lower-case hex without leading zeros.
    pub(crate) fn parse(tag: &[u8]) -> Option<CallId> {
        if tag.is_empty() || tag.len() > 16 || (tag[0] == b'0') {
            return None;
        }
        let mut n: u64 = 0;
        for &c in tag {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                _ => return None,
            };
            n = (n << 4) | u64::from(d);
        }
        Some(CallId(n))
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

/// A request the peer sent.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// The `_ask` tag to answer, or `None` for a command that wants no
    /// answer.
    pub tag: Option<Bytes>,
    /// The command's name (`_command`).
    pub command: Bytes,
    /// The box's other keys: the command's arguments (`_ask` and `_command`
    /// removed).
    pub arguments: AmpBox,
}

impl Request {
    /// The command's name as text, if it is UTF-8.
    ///
    /// ```
    /// let r = amp_core::Request { tag: None, command: "Sum".into(), arguments: Default::default() };
    /// assert_eq!(r.command_str(), Some("Sum"));
    /// ```
    pub fn command_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.command).ok()
    }
}

/// Something that happened on a connection, from
/// [`Connection::poll_event`](crate::Connection::poll_event).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The peer asks us to run a command.
    Request(Request),
    /// The answer to one of our calls (`_answer` removed).
    Answer {
        /// The call answered.
        call: CallId,
        /// The response's keys.
        response: AmpBox,
    },
    /// An error answer to one of our calls.
    ErrorAnswer {
        /// The call that failed.
        call: CallId,
        /// The error code and description.
        error: RemoteError,
    },
    /// A box that is neither a request nor an answer, delivered as it is
    /// because [`Config::raw_boxes`](crate::Config::raw_boxes) is on.
    Box(AmpBox),
    /// An outstanding call that will never be answered: the connection
    /// ended. Comes before [`Event::Closed`].
    CallFailed {
        /// The call.
        call: CallId,
        /// Why the connection ended.
        reason: ConnectionError,
    },
    /// The connection ended; nothing more can be sent except what is already
    /// queued (a fatal error box, for instance). The last event.
    Closed(ConnectionError),
}

/// Shortens a [`CallError`] from an event: what a caller waiting on `call`
/// receives. Returns `None` for events that do not settle a call.
///
/// ```
/// use amp_core::{AmpBox, CallId, Event, event::settles};
/// let ev = Event::Answer { call: CallId::new(1), response: AmpBox::new() };
/// let (id, outcome) = settles(ev).unwrap();
/// assert_eq!(id, CallId::new(1));
/// assert!(outcome.is_ok());
/// ```
pub fn settles(event: Event) -> Option<(CallId, Result<AmpBox, CallError>)> {
    match event {
        Event::Answer { call, response } => Some((call, Ok(response))),
        Event::ErrorAnswer { call, error } => Some((call, Err(CallError::Remote(error)))),
        Event::CallFailed { call, reason } => Some((call, Err(CallError::Connection(reason)))),
        _ => None,
    }
}
