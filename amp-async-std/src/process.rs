//! AMP with a child process over its pipes, through `async-process`
//! (async-std and smol alike), as Twisted's `spawnProcess` with an AMP
//! protocol (and ampoule's process pools) speak it: AMP goes to the
//! child's standard input and comes from its standard output; its standard
//! error is whatever the command says (inherited by default).
//!
//! The connection ends when the child's output has ended and the child has
//! exited, with [`ConnectionError::ProcessExited`](amp_core::ConnectionError::ProcessExited)
//! and its exit status (see [`amp_engine::process`]). Closing the
//! connection from this side closes the child's input, which a child
//! serving on its standard input takes as the end
//! ([`crate::stdio::serve`] does); the child is not killed, and is reaped
//! by `async-process` once it exits.

use std::io;

use amp_engine::Runtime;
use amp_engine::process::{ChildReader, ChildWriter};
use async_process::{Command, Stdio};

use crate::transport::{Reader, Writer};
use crate::{Options, Peer, Responders};

/// Spawns `command` with piped standard input and output and speaks AMP
/// with it over them, `responders` answering its calls, its tasks on
/// `runtime`.
///
/// ```
/// use std::os::unix::process::ExitStatusExt;
/// # async_std::task::block_on(async {
/// // A child that is no AMP peer: it exits at once, with status 3.
/// let mut command = async_process::Command::new("sh");
/// command.args(["-c", "exit 3"]);
/// let peer = amp_async_std::process::spawn(amp_async_std::AsyncStd, &mut command, amp_async_std::Responders::new())?;
/// let reason = peer.closed().await;
/// assert_eq!(reason, amp_core::ConnectionError::ProcessExited(std::process::ExitStatus::from_raw(3 << 8)));
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub fn spawn(
    runtime: impl Runtime,
    command: &mut Command,
    responders: Responders,
) -> io::Result<Peer> {
    spawn_with(runtime, command, responders, Options::default())
}

/// [`spawn`] with settings.
///
/// ```no_run
/// let mut command = async_process::Command::new("target/debug/examples/ampserver_async_std");
/// command.arg("stdio");
/// let options = amp_async_std::Options::default().max_responders(16);
/// let peer = amp_async_std::process::spawn_with(amp_async_std::AsyncStd, &mut command, amp_async_std::Responders::new(), options)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn spawn_with(
    runtime: impl Runtime,
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
    let exit = child.status();
    let reader = ChildReader::new(Reader::new(output), async move {
        // The child stays here until it has exited (dropped, it would be
        // left to the reaper).
        let _child = child;
        exit.await
    });
    let writer = ChildWriter::new(Writer(input));
    Ok(amp_engine::spawn(
        &runtime, reader, writer, None, responders, options,
    ))
}
