//! AMP on the process's own standard input and output, as Twisted's
//! `StandardIO` serves a protocol: for a program that is the child of
//! another (spawned by Twisted's `spawnProcess`, an ampoule process pool,
//! or [`crate::process::spawn`]).

use std::fs::File;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::unix::pipe;

use crate::transport::{Reader, Writer};
pub use amp_engine::stdio::{Flushed, Served};

use crate::{Options, Responders, Tokio};

/// Serves `responders` on standard input and output (see [`serve_with`]).
///
/// ```no_run
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let served = amp_tokio::stdio::serve(amp_tokio::Responders::new())?;
/// // Until the parent closes our input (or either side closes).
/// let reason = served.peer.closed().await;
/// served.flushed.await; // the last bytes are out
/// eprintln!("done: {reason}");
/// # Ok(()) }
/// ```
pub fn serve(responders: Responders) -> io::Result<Served> {
    serve_with(responders, Options::default())
}

/// Serves `responders` on standard input and output with settings: AMP
/// comes from standard input and goes to standard output, and nothing
/// else does (see [`amp_engine::stdio::take`]: descriptors 0 and 1 then
/// point at `/dev/null`, so `println!` output goes nowhere; print
/// diagnostics to standard error). The connection ends when standard input
/// ends ([`ConnectionError::PeerClosed`](amp_core::ConnectionError::PeerClosed));
/// closing it closes standard output, which the parent sees as the end of
/// the stream. Pipes, sockets and terminals are waited on by tokio's
/// reactor; regular files are read and written on tokio's blocking
/// threads. Must be called inside a tokio runtime, once.
///
/// ```no_run
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let options = amp_tokio::Options::default().max_responders(4);
/// let served = amp_tokio::stdio::serve_with(amp_tokio::Responders::new(), options)?;
/// # Ok(()) }
/// ```
pub fn serve_with(responders: Responders, options: Options) -> io::Result<Served> {
    let taken = amp_engine::stdio::take()?;
    let input = Input::new(taken.input)?;
    let output = Output::new(taken.output)?;
    let (writer, flushed) = amp_engine::stdio::watch(Writer(output));
    let peer = amp_engine::spawn(&Tokio, Reader(input), writer, None, responders, options);
    Ok(Served { peer, flushed })
}

/// Standard input as tokio reads it.
struct Input(InputKind);

enum InputKind {
    Polled(pipe::Receiver),
    Blocking(tokio::fs::File),
}

impl Input {
    fn new(file: File) -> io::Result<Self> {
        Ok(Input(if amp_engine::stdio::pollable(&file)? {
            amp_engine::stdio::set_nonblocking(&file)?;
            // Any descriptor epoll waits on reads as a pipe does.
            InputKind::Polled(pipe::Receiver::from_file_unchecked(file)?)
        } else {
            InputKind::Blocking(tokio::fs::File::from_std(file))
        }))
    }
}

/// Standard output as tokio writes it.
struct Output(OutputKind);

enum OutputKind {
    Polled(pipe::Sender),
    Blocking(tokio::fs::File),
}

impl Output {
    fn new(file: File) -> io::Result<Self> {
        Ok(Output(if amp_engine::stdio::pollable(&file)? {
            amp_engine::stdio::set_nonblocking(&file)?;
            OutputKind::Polled(pipe::Sender::from_file_unchecked(file)?)
        } else {
            OutputKind::Blocking(tokio::fs::File::from_std(file))
        }))
    }
}

impl AsyncRead for Input {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            InputKind::Polled(r) => Pin::new(r).poll_read(cx, buf),
            InputKind::Blocking(f) => Pin::new(f).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Output {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().0 {
            OutputKind::Polled(w) => Pin::new(w).poll_write(cx, buf),
            OutputKind::Blocking(f) => Pin::new(f).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            OutputKind::Polled(w) => Pin::new(w).poll_flush(cx),
            OutputKind::Blocking(f) => Pin::new(f).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            OutputKind::Polled(w) => Pin::new(w).poll_shutdown(cx),
            OutputKind::Blocking(f) => Pin::new(f).poll_shutdown(cx),
        }
    }
}
