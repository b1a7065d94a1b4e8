#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod amp_box;
pub mod codec;
pub mod command;
pub mod config;
pub mod connection;
pub mod declare;
#[cfg(unix)]
pub mod descriptor;
pub mod dispatcher;
pub mod error;
pub mod event;
pub mod locator;
pub mod router;
pub mod timeout;

pub use amp_box::{AmpBox, Iter, MAX_KEY_LENGTH, MAX_VALUE_LENGTH};
pub use codec::{Decoder, Limits};
pub use command::{
    CallError, CallOutcome, Command, CommandError, Failure, RemoteError, ResponderError,
};
pub use config::Config;
pub use connection::Connection;
pub use dispatcher::Dispatcher;
pub use error::{CodecError, ConnectionError, ProtocolError, SendError};
pub use event::{CallId, Event, Request};
pub use locator::{ComposeError, Locator, ResponderFuture};
pub use timeout::Timeouts;
pub mod de;
pub mod ser;
pub mod values;
pub mod wire;

pub use values::ValueError;

// So that `command!` works inside this crate's own tests as it does outside.
extern crate self as amp_core;

/// What the crate's macros expand to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use serde;
}

/// The user guide's code samples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/guide.md")]
pub struct GuideDoctests;

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
