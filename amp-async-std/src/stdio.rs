//! AMP on the process's own standard input and output, as Twisted's
//! `StandardIO` serves a protocol: for a program that is the child of
//! another (spawned by Twisted's `spawnProcess`, an ampoule process pool,
//! or [`crate::process::spawn`]).

use std::fs::File;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use amp_engine::Runtime;
use async_io::Async;
use blocking::Unblock;
use futures_io::{AsyncRead, AsyncWrite};

use crate::transport::{Reader, Writer};
pub use amp_engine::stdio::{Flushed, Served};

use crate::{Options, Responders};

/// Serves `responders` on standard input and output, its tasks on
/// `runtime` (see [`serve_with`]).
///
/// ```no_run
/// async_std::task::block_on(async {
///     let served = amp_async_std::stdio::serve(amp_async_std::AsyncStd, amp_async_std::Responders::new())?;
///     // Until the parent closes our input (or either side closes).
///     let reason = served.peer.closed().await;
///     served.flushed.await; // the last bytes are out
///     eprintln!("done: {reason}");
///     std::io::Result::Ok(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn serve(runtime: impl Runtime, responders: Responders) -> io::Result<Served> {
    serve_with(runtime, responders, Options::default())
}

/// Serves `responders` on standard input and output with settings: AMP
/// comes from standard input and goes to standard output, and nothing
/// else does (see [`amp_engine::stdio::take`]: descriptors 0 and 1 then
/// point at `/dev/null`, so `println!` output goes nowhere; print
/// diagnostics to standard error). The connection ends when standard input
/// ends ([`ConnectionError::PeerClosed`](amp_core::ConnectionError::PeerClosed));
/// closing it closes standard output, which the parent sees as the end of
/// the stream. Pipes, sockets and terminals are waited on by `async-io`;
/// regular files are read and written on `blocking`'s threads. Call it
/// once per process.
///
/// ```no_run
/// let options = amp_async_std::Options::default().max_responders(4);
/// let served = amp_async_std::stdio::serve_with(amp_async_std::AsyncStd, amp_async_std::Responders::new(), options)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn serve_with(
    runtime: impl Runtime,
    responders: Responders,
    options: Options,
) -> io::Result<Served> {
    let taken = amp_engine::stdio::take()?;
    let input = Stdio::new(taken.input)?;
    let output = Stdio::new(taken.output)?;
    let (writer, flushed) = amp_engine::stdio::watch(Writer(output));
    let peer = amp_engine::spawn(
        &runtime,
        Reader::new(input),
        writer,
        None,
        responders,
        options,
    );
    Ok(Served { peer, flushed })
}

/// Standard input or output as `futures-io` reads and writes it.
struct Stdio(Kind);

enum Kind {
    Polled(Async<File>),
    Blocking(Unblock<File>),
}

impl Stdio {
    fn new(file: File) -> io::Result<Self> {
        Ok(Stdio(if amp_engine::stdio::pollable(&file)? {
            Kind::Polled(Async::new(file)?)
        } else {
            Kind::Blocking(Unblock::new(file))
        }))
    }
}

impl AsyncRead for Stdio {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().0 {
            Kind::Polled(r) => Pin::new(r).poll_read(cx, buf),
            Kind::Blocking(f) => Pin::new(f).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stdio {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().0 {
            Kind::Polled(w) => Pin::new(w).poll_write(cx, buf),
            Kind::Blocking(f) => Pin::new(f).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Kind::Polled(w) => Pin::new(w).poll_flush(cx),
            Kind::Blocking(f) => Pin::new(f).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Kind::Polled(w) => Pin::new(w).poll_close(cx),
            Kind::Blocking(f) => Pin::new(f).poll_close(cx),
        }
    }
}
