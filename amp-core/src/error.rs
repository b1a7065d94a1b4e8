//! The crate's errors, together: the codec's ([`CodecError`]) and the
//! connection's ([`ProtocolError`], [`ConnectionError`], [`SendError`]).

use std::fmt;

use bytes::Bytes;

use crate::amp_box::Readable;
use crate::command::CallError;

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

/// A box the peer sent that AMP does not allow. The connection that sent it
/// is closed.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The bytes do not form valid boxes, or break a limit.
    Codec(CodecError),
    /// An answer or error for a tag that was never outstanding.
    UnknownTag {
        /// `_answer` or `_error`.
        key: &'static str,
        /// The tag received.
        tag: Bytes,
    },
    /// A box with none of `_answer`, `_error` or `_command`.
    NotAmp {
        /// The box's keys.
        keys: Vec<Bytes>,
    },
    /// A box with more than one of `_answer`, `_error` and `_command`.
    Ambiguous {
        /// Which of them it holds.
        keys: Vec<&'static str>,
    },
    /// A request reusing an `_ask` tag whose answer is still owed.
    DuplicateAsk {
        /// The tag.
        tag: Bytes,
    },
    /// A box for a route (`_route`) that is not bound on this side (see
    /// `amp-router`).
    UnknownRoute {
        /// The route name received.
        name: Bytes,
    },
    /// An `_error` box without `_error_code` or `_error_description`.
    MalformedError {
        /// The missing key.
        missing: &'static str,
    },
    /// The peer's descriptors could not be taken as they came (too many
    /// held, or some lost to truncated control data): see
    /// [`crate::descriptor`].
    Descriptors(DescriptorError),
}

/// What went wrong passing descriptors (see [`crate::descriptor`]).
///
/// ```
/// use amp_core::error::DescriptorError;
/// assert_eq!(
///     DescriptorError::Unsupported.to_string(),
///     "this connection cannot pass descriptors (only a UNIX socket can)"
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DescriptorError {
    /// The connection is not one that passes descriptors (a UNIX socket):
    /// a box carrying one is refused, nothing is sent.
    Unsupported,
    /// More descriptors than the bound (received and waiting for the rest
    /// of their box, or queued for sending).
    TooMany {
        /// The bound.
        limit: usize,
    },
    /// The control data that carried descriptors was truncated
    /// (`MSG_CTRUNC`): some the peer sent were lost, so the numbering no
    /// longer matches the peer's.
    Truncated,
}

impl fmt::Display for DescriptorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DescriptorError::Unsupported => {
                f.write_str("this connection cannot pass descriptors (only a UNIX socket can)")
            }
            DescriptorError::TooMany { limit } => {
                write!(f, "more than {limit} descriptors held on one connection")
            }
            DescriptorError::Truncated => {
                f.write_str("descriptors were lost to truncated control data (MSG_CTRUNC)")
            }
        }
    }
}

impl std::error::Error for DescriptorError {}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Codec(e) => e.fmt(f),
            ProtocolError::UnknownTag { key, tag } => write!(
                f,
                "{key} for tag {} that was never asked (or already answered)",
                Readable(tag)
            ),
            ProtocolError::NotAmp { keys } => {
                write!(f, "box with none of _answer, _error, _command (keys: ")?;
                for (i, k) in keys.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", Readable(k))?;
                }
                f.write_str(")")
            }
            ProtocolError::Ambiguous { keys } => {
                write!(f, "box holds more than one of {}", keys.join(", "))
            }
            ProtocolError::DuplicateAsk { tag } => write!(
                f,
                "request reuses _ask tag {} whose answer is still owed",
                Readable(tag)
            ),
            ProtocolError::UnknownRoute { name } => {
                write!(f, "box for route {} that is not bound", Readable(name))
            }
            ProtocolError::MalformedError { missing } => {
                write!(f, "_error box without {missing}")
            }
            ProtocolError::Descriptors(e) => write!(f, "descriptors: {e}"),
        }
    }
}

impl std::error::Error for ProtocolError {}

impl From<CodecError> for ProtocolError {
    fn from(e: CodecError) -> Self {
        ProtocolError::Codec(e)
    }
}

/// Why a connection ended. Every call outstanding then fails with it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The peer broke the protocol.
    Protocol(ProtocolError),
    /// The peer closed the connection between boxes.
    PeerClosed,
    /// A responder on this side failed with an error that closes the
    /// connection (a fatal declared error, or `UNKNOWN` for an undeclared
    /// failure); its error box, if the request had a tag, was sent first.
    FatalError {
        /// The error code.
        code: String,
        /// The error description.
        description: String,
    },
    /// Closed by this side.
    Closed,
    /// The connection switched to another protocol.
    ProtocolSwitched,
    /// The transport failed (reported by the adapter).
    Transport(String),
    /// The route this conversation ran on was unbound (see `amp-router`);
    /// the connection itself may go on.
    RouteUnbound,
    /// The peer began a box and did not finish it in time (see
    /// [`Config::unfinished_box_timeout`](crate::Config::unfinished_box_timeout);
    /// on a live connection `amp_engine::Options::unfinished_box_timeout`).
    BoxTimeout {
        /// The time allowed.
        timeout: std::time::Duration,
        /// Bytes of the unfinished box received.
        buffered: usize,
    },
    /// Nothing was received or sent, with nothing under way, for the idle
    /// timeout (see [`Config::idle_timeout`](crate::Config::idle_timeout); on a
    /// live connection `amp_engine::Options::idle_timeout`).
    IdleTimeout {
        /// The time allowed.
        timeout: std::time::Duration,
    },
    /// The transport could not be upgraded in place (a TLS handshake
    /// failed, or a certificate was refused); what went wrong.
    UpgradeFailed(String),
    /// The peer was a child process speaking AMP over its standard input
    /// and output, and it exited (after its output ended): its exit status
    /// (Twisted's `ProcessDone` for a status of 0, `ProcessTerminated`
    /// otherwise). Reported by the bindings' child-process transports.
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// use std::os::unix::process::ExitStatusExt;
    /// let reason = amp_core::ConnectionError::ProcessExited(std::process::ExitStatus::from_raw(3 << 8));
    /// assert_eq!(reason.to_string(), "the child process exited: exit status: 3");
    /// # }
    /// ```
    ProcessExited(std::process::ExitStatus),
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectionError::Protocol(e) => write!(f, "protocol error: {e}"),
            ConnectionError::PeerClosed => f.write_str("connection closed by the peer"),
            ConnectionError::FatalError { code, description } => write!(
                f,
                "connection closed after fatal error {code}: {description}"
            ),
            ConnectionError::Closed => f.write_str("connection closed locally"),
            ConnectionError::ProtocolSwitched => f.write_str("connection switched protocol"),
            ConnectionError::Transport(e) => write!(f, "transport error: {e}"),
            ConnectionError::RouteUnbound => f.write_str("route unbound"),
            ConnectionError::BoxTimeout { timeout, buffered } => write!(
                f,
                "the peer left a box unfinished for {timeout:?} ({buffered} bytes of it received)"
            ),
            ConnectionError::IdleTimeout { timeout } => {
                write!(f, "the connection was idle for {timeout:?}")
            }
            ConnectionError::UpgradeFailed(e) => write!(f, "transport upgrade failed: {e}"),
            ConnectionError::ProcessExited(status) => {
                write!(f, "the child process exited: {status}")
            }
        }
    }
}

impl std::error::Error for ConnectionError {}

/// A local action the dispatcher refused.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum SendError {
    /// The connection has ended; nothing more can be queued.
    Closed(ConnectionError),
    /// The box cannot be encoded (a key or value too long, an empty key).
    Codec(CodecError),
    /// The arguments or response hold a key the protocol reserves
    /// (`_ask`, `_answer`, `_command`, `_error`, ...).
    ReservedKey(Bytes),
    /// An answer for a tag the peer is not waiting on.
    NotAsked(Bytes),
    /// The box carries descriptors that cannot be sent (see
    /// [`DescriptorError`]); nothing was queued.
    Descriptors(DescriptorError),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed(e) => write!(f, "cannot send: {e}"),
            SendError::Codec(e) => write!(f, "cannot encode: {e}"),
            SendError::ReservedKey(k) => {
                write!(f, "key {} is reserved by the protocol", Readable(k))
            }
            SendError::Descriptors(e) => write!(f, "cannot send: {e}"),
            SendError::NotAsked(t) => {
                write!(
                    f,
                    "no request with _ask tag {} awaits an answer",
                    Readable(t)
                )
            }
        }
    }
}

impl std::error::Error for SendError {}

impl From<CodecError> for SendError {
    fn from(e: CodecError) -> Self {
        SendError::Codec(e)
    }
}

impl<E> From<SendError> for CallError<E> {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Closed(c) => CallError::Connection(c),
            other => CallError::Send(other),
        }
    }
}
