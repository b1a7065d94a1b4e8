//! What the `dispatcher` and `router` checks read from their input alike.

use std::time::Duration;

use amp_core::ResponderError;

use crate::input::Input;

/// A responder's failure: declared, fatal, unhandled or undeclared.
pub(crate) fn responder_error(input: &mut Input) -> ResponderError {
    match input.below(4) {
        0 => ResponderError::Declared {
            code: "ZERO_DIVISION".into(),
            description: String::from_utf8_lossy(input.bytes()).into_owned(),
            fatal: false,
        },
        1 => ResponderError::Declared {
            code: "BROKEN".into(),
            description: "fatal".into(),
            fatal: true,
        },
        2 => ResponderError::unhandled(input.bytes()),
        _ => ResponderError::undeclared("boom"),
    }
}

/// A timeout from one byte of input: 0 to 12.75 ms, in steps of 50 µs
/// (under 1 ms, the configuration makes it 1 ms).
pub(crate) fn timeout(b: u8) -> Duration {
    Duration::from_micros(u64::from(b) * 50)
}
