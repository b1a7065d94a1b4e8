#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod amp_box;
pub mod codec;
pub mod command;
pub mod dispatcher;
pub mod error;
pub mod locator;

pub use amp_box::{AmpBox, Iter, MAX_KEY_LENGTH, MAX_VALUE_LENGTH};
pub use codec::{Decoder, Limits};
pub use command::{
    CallError, CallFailure, CallOutcome, Command, CommandError, Failure, RemoteError,
    ResponderError,
};
pub use dispatcher::{
    CallId, Config, Connection, ConnectionError, Dispatcher, Event, ProtocolError, Request,
    SendError,
};
pub use error::CodecError;
pub use locator::{Locator, ResponderFuture};
pub mod de;
pub mod ser;
pub mod values;

pub use values::ValueError;

/// The user guide's code samples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/guide.md")]
pub struct GuideDoctests;

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
