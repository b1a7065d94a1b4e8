//! Multiplexed streams over AMP, wire-compatible with txampext's
//! `multiplexing` module: the commands that open, feed and close a stream
//! carried inside an AMP connection, and the identifiers that name them.
//!
//! txampext (PyPI `txampext` 0.0.11) multiplexes byte streams over one AMP
//! connection with three commands:
//!
//! | command | arguments | response | errors |
//! |---|---|---|---|
//! | [`Connect`] | `factory` (String) | `connection` (String) | `NO_SUCH_FACTORY`, `CONNECTION_REFUSED` |
//! | [`Transmit`] | `connection`, `data` (String) | (none) | `NO_SUCH_CONNECTION` |
//! | [`Disconnect`] | `connection` (String) | (none) | `NO_SUCH_CONNECTION` |
//!
//! `Connect` asks the peer to start a stream with one of its named
//! factories and answers with the new stream's identifier, 32 lower-case
//! hexadecimal digits ([`ConnectionId`]); `Transmit` carries bytes of a
//! stream to the side that did not write them, either way; `Disconnect`
//! ends a stream both ways. The error codes are txampext's, made from its
//! exception names ([`amp_core::command_errors!`] makes them the same way).
//!
//! ```
//! use amp_core::{Command, CommandError};
//! use amp_mux::{Connect, ConnectArgs, ConnectError};
//!
//! assert_eq!(Connect::NAME, "Connect");
//! assert_eq!(ConnectError::NoSuchFactory(String::new()).code(), "NO_SUCH_FACTORY");
//! let b = amp_core::ser::to_box(&ConnectArgs { factory: "echo".into() }).unwrap();
//! assert_eq!(b.get_str("factory"), Some("echo"));
//! ```
//!
//! So far this crate holds the wire declarations (tested against the
//! Python 3 port of txampext's module, `interop/txampext/multiplexing.py`,
//! on real Twisted); the streams themselves, their flow control and local
//! proxying are not written yet.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod commands;
mod id;

pub use commands::{
    Connect, ConnectArgs, ConnectError, Connected, Disconnect, DisconnectArgs, StreamError,
    Transmit, TransmitArgs,
};
pub use id::{ConnectionId, InvalidConnectionId};
