//! A child process's pipes as a transport, as Twisted's `spawnProcess` with
//! an AMP protocol (and ampoule's process pools) use them: AMP goes to the
//! child's standard input and comes from its standard output; the
//! connection ends when the child's output has ended and the child has
//! exited, with its exit status as the reason
//! ([`ConnectionError::ProcessExited`]), as Twisted's `processEnded` comes
//! once the process has exited and its pipes are closed.
//!
//! The bindings spawn the child on their runtime (`amp_tokio::process`,
//! `amp_async_std::process`) and wrap their pipe halves in these two.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::process::ExitStatus;
use std::time::Duration;

use amp_core::ConnectionError;
use bytes::BytesMut;

use crate::{ReadHalf, WriteHalf};

type Exit = Pin<Box<dyn Future<Output = io::Result<ExitStatus>> + Send + 'static>>;

/// The child's standard output, as the engine reads it: the bytes of
/// `inner` until it ends; then, once `exit` gives the child's exit status,
/// an error carrying [`ConnectionError::ProcessExited`], which ends the
/// connection with that reason.
///
/// A child that closes its output and goes on running keeps the connection
/// open until it exits (as in Twisted, whose `processEnded` waits for both).
///
/// ```
/// # #[cfg(unix)] {
/// use std::os::unix::process::ExitStatusExt;
/// use std::process::ExitStatus;
/// use amp_engine::process::ChildReader;
/// use amp_engine::ReadHalf;
/// # struct Ended; impl ReadHalf for Ended { async fn read(&mut self, _: &mut bytes::BytesMut) -> std::io::Result<usize> { Ok(0) } }
///
/// // Output that ends at once, from a child that exits with status 3.
/// let mut reader = ChildReader::new(Ended, async { Ok(ExitStatus::from_raw(3 << 8)) });
/// let mut buf = bytes::BytesMut::new();
/// let end = futures_executor::block_on(reader.read(&mut buf)).unwrap_err();
/// let reason = end.get_ref().and_then(|e| e.downcast_ref::<amp_core::ConnectionError>());
/// assert_eq!(reason, Some(&amp_core::ConnectionError::ProcessExited(ExitStatus::from_raw(3 << 8))));
/// # }
/// ```
pub struct ChildReader<R> {
    inner: R,
    /// Resolves with the child's exit status; dropped once it has.
    exit: Option<Exit>,
    /// The exit status (or why it could not be had), once known.
    status: Option<Result<ExitStatus, String>>,
    /// Whether `inner` has ended.
    eof: bool,
}

impl<R: ReadHalf> ChildReader<R> {
    /// Reads the child's output from `inner`; `exit` resolves with its exit
    /// status (the runtime's `child.wait()`).
    ///
    /// See [`ChildReader`] for an example.
    pub fn new(
        inner: R,
        exit: impl Future<Output = io::Result<ExitStatus>> + Send + 'static,
    ) -> Self {
        ChildReader {
            inner,
            exit: Some(Box::pin(exit)),
            status: None,
            eof: false,
        }
    }
}

impl<R: ReadHalf> ReadHalf for ChildReader<R> {
    // Cancel-safe: the inner read is; the exit future lives in `self`
    // across cancellations and is dropped only once it has resolved.
    async fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        if !self.eof {
            let n = self.inner.read(buf).await?;
            if n > 0 {
                return Ok(n);
            }
            self.eof = true;
        }
        if self.status.is_none() {
            let status = match self.exit.as_mut() {
                Some(exit) => exit.as_mut().await.map_err(|e| e.to_string()),
                None => Err("the child's exit cannot be waited for".to_owned()),
            };
            self.exit = None;
            self.status = Some(status);
        }
        match &self.status {
            Some(Ok(status)) => Err(io::Error::other(ConnectionError::ProcessExited(*status))),
            Some(Err(e)) => Err(io::Error::other(format!(
                "waiting for the child process to exit: {e}"
            ))),
            None => Err(io::Error::other("the child's exit status is unknown")),
        }
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send + 'static {
        R::sleep(duration)
    }
}

/// The child's standard input, as the engine writes it. Bytes written once
/// the child has closed its input (a broken pipe) are dropped, as Twisted
/// drops them: the child cannot read them, and the connection ends when the
/// child's output ends and it exits ([`ChildReader`]), with its status
/// rather than a broken pipe as the reason.
///
/// ```
/// use amp_engine::process::ChildWriter;
/// use amp_engine::WriteHalf;
/// # struct Broken; impl WriteHalf for Broken {
/// #     async fn write_all(&mut self, _: &[u8]) -> std::io::Result<()> { Err(std::io::ErrorKind::BrokenPipe.into()) }
/// #     async fn close(&mut self) -> std::io::Result<()> { Ok(()) } }
///
/// // The child closed its input: writing does not fail the connection.
/// let mut writer = ChildWriter::new(Broken);
/// assert!(futures_executor::block_on(writer.write_all(b"box")).is_ok());
/// ```
pub struct ChildWriter<W> {
    inner: W,
    /// Whether the child has closed its input.
    broken: bool,
}

impl<W: WriteHalf> ChildWriter<W> {
    /// Writes the child's input to `inner`.
    ///
    /// See [`ChildWriter`] for an example.
    pub fn new(inner: W) -> Self {
        ChildWriter {
            inner,
            broken: false,
        }
    }
}

impl<W: WriteHalf> WriteHalf for ChildWriter<W> {
    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.broken {
            return Ok(());
        }
        match self.inner.write_all(bytes).await {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.broken = true;
                Ok(())
            }
            other => other,
        }
    }

    async fn close(&mut self) -> io::Result<()> {
        if self.broken {
            return Ok(());
        }
        match self.inner.close().await {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            other => other,
        }
    }
}
