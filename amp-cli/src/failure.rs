//! How a subcommand fails: a one-line reason on standard error and an exit
//! status that tells scripts what went wrong.

use std::fmt;
use std::io;

/// The data or the peer said no: a framing error in the stream, an error
/// answer to a call.
pub const REFUSED: u8 = 1;
/// The command line is wrong (clap's own status for usage errors).
pub const USAGE: u8 = 2;
/// Could not get as far: the input could not be read, the peer could not be
/// reached, the connection failed, or the time ran out.
pub const UNREACHED: u8 = 3;

/// Why a subcommand stopped.
#[derive(Debug)]
pub enum Failure {
    /// A one-line `reason` for standard error, and the exit `status`.
    Reason {
        /// The exit status.
        status: u8,
        /// What went wrong, on one line.
        reason: String,
    },
    /// Standard output was closed by its reader (`amp decode ... | head`):
    /// stop quietly.
    OutputClosed,
}

impl Failure {
    /// A failure with this exit status and reason.
    pub fn new(status: u8, reason: impl fmt::Display) -> Failure {
        Failure::Reason {
            status,
            // One line, whatever the reason's text holds.
            reason: reason.to_string().replace(['\n', '\r'], " "),
        }
    }

    /// A failure to write standard output.
    pub fn output(e: io::Error) -> Failure {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Failure::OutputClosed
        } else {
            Failure::new(UNREACHED, format_args!("cannot write the output: {e}"))
        }
    }
}
