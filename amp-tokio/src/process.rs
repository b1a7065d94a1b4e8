//! AMP with a child process over its pipes, as Twisted's `spawnProcess`
//! with an AMP protocol (and ampoule's process pools) speak it: AMP goes
//! to the child's standard input and comes from its standard output; its
//! standard error is whatever the command says (inherited by default).
//!
//! The connection ends when the child's output has ended and the child has
//! exited, with [`ConnectionError::ProcessExited`](amp_core::ConnectionError::ProcessExited)
//! and its exit status (see [`amp_engine::process`]). Closing the
//! connection from this side closes the child's input, which a child
//! serving on its standard input takes as the end
//! ([`crate::stdio::serve`] does); the child is not killed, and is reaped
//! by tokio once it exits.

use std::io;
use std::process::Stdio;

use amp_engine::process::{ChildReader, ChildWriter};
use tokio::process::Command;

use crate::transport::{Reader, Writer};
use crate::{Options, Peer, Responders, Tokio};

/// Spawns `command` with piped standard input and output and speaks AMP
/// with it over them, `responders` answering its calls.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// use std::os::unix::process::ExitStatusExt;
/// // A child that is no AMP peer: it exits at once, with status 3.
/// let mut command = tokio::process::Command::new("sh");
/// command.args(["-c", "exit 3"]);
/// let peer = amp_tokio::process::spawn(&mut command, amp_tokio::Responders::new())?;
/// let reason = peer.closed().await;
/// assert_eq!(reason, amp_core::ConnectionError::ProcessExited(std::process::ExitStatus::from_raw(3 << 8)));
/// # Ok(()) }
/// ```
pub fn spawn(command: &mut Command, responders: Responders) -> io::Result<Peer> {
    spawn_with(command, responders, Options::default())
}

/// [`spawn`] with settings. Must be called inside a tokio runtime.
///
/// ```no_run
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let mut command = tokio::process::Command::new("target/debug/examples/ampserver");
/// command.arg("stdio");
/// let options = amp_tokio::Options::default().max_responders(16);
/// let peer = amp_tokio::process::spawn_with(&mut command, amp_tokio::Responders::new(), options)?;
/// # Ok(()) }
/// ```
pub fn spawn_with(
    command: &mut Command,
    responders: Responders,
    options: Options,
) -> io::Result<Peer> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let (Some(input), Some(output)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(io::Error::other(
            "the child's standard input and output were not piped",
        ));
    };
    let reader = ChildReader::new(Reader(output), async move { child.wait().await });
    let writer = ChildWriter::new(Writer(input));
    Ok(amp_engine::spawn(
        &Tokio, reader, writer, None, responders, options,
    ))
}
