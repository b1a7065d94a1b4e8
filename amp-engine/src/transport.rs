//! What the engine reads from and writes to: the two halves of a transport.

use std::future::Future;
use std::io;
use std::time::Duration;

use amp_core::ConnectionError;
use bytes::BytesMut;

#[cfg(doc)]
use crate::Options;

/// Why a failed read or write ends the connection: the [`ConnectionError`]
/// the error carries, when a transport wraps one in it (a child process's
/// exit, say: [`ConnectionError::ProcessExited`]), else
/// [`ConnectionError::Transport`] with the error's text.
pub(crate) fn end_reason(e: io::Error) -> ConnectionError {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<ConnectionError>())
    {
        Some(reason) => reason.clone(),
        None => ConnectionError::Transport(e.to_string()),
    }
}

/// The receiving half of a transport.
///
/// A read that fails ends the connection with
/// [`ConnectionError::Transport`], unless the error wraps a
/// [`ConnectionError`] (`io::Error::other(reason)`): then that is the
/// reason, typed (so a child process's transport ends the connection with
/// [`ConnectionError::ProcessExited`]). The same holds for [`WriteHalf`].
pub trait ReadHalf: Send + 'static {
    /// Reads some bytes onto the end of `buf`; `Ok(0)` is the end of the
    /// stream. Must be cancel-safe: dropped before it finishes, it has read
    /// nothing.
    fn read(&mut self, buf: &mut BytesMut) -> impl Future<Output = io::Result<usize>> + Send;

    /// Resolves after `duration`: the runtime's timer, used only for
    /// [`Options::unfinished_box_timeout`] and [`Options::idle_timeout`].
    /// The default never resolves, so on a transport that keeps it neither
    /// timeout fires: right for one whose boxes arrive whole and whose
    /// connection is watched elsewhere (a route of `amp-router`), not for
    /// a socket. The readers of amp-tokio and amp-async-std use their
    /// runtime's timer.
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send + 'static
    where
        Self: Sized,
    {
        let _ = duration;
        std::future::pending()
    }

    /// The descriptors that came with the bytes of the last read (a UNIX
    /// socket's `SCM_RIGHTS`), taken out of the half; and whether some were
    /// lost to truncated control data (`MSG_CTRUNC`). The default, for
    /// every transport that carries no descriptors, is none. See
    /// [`amp_core::descriptor`] for which box they belong to.
    ///
    /// ```
    /// # use amp_engine::ReadHalf;
    /// struct R;
    /// impl ReadHalf for R {
    ///     async fn read(&mut self, _: &mut bytes::BytesMut) -> std::io::Result<usize> { Ok(0) }
    /// }
    /// let got = R.take_descriptors();
    /// assert!(got.fds.is_empty() && !got.truncated);
    /// ```
    #[cfg(unix)]
    fn take_descriptors(&mut self) -> ReceivedDescriptors {
        ReceivedDescriptors::default()
    }
}

/// What [`ReadHalf::take_descriptors`] gives: the descriptors a read
/// brought, in the order they came.
///
/// ```
/// let got = amp_engine::ReceivedDescriptors::default();
/// assert!(got.fds.is_empty());
/// ```
#[cfg(unix)]
#[derive(Debug, Default)]
pub struct ReceivedDescriptors {
    /// The descriptors, owned (closed if dropped).
    pub fds: Vec<std::os::fd::OwnedFd>,
    /// Whether the control data was truncated (`MSG_CTRUNC`): some
    /// descriptors the peer sent were lost, which ends the connection.
    pub truncated: bool,
}

/// Writes to a transport without waiting: what
/// [`WriteHalf::direct`] gives.
///
/// ```
/// use std::io::Write;
/// struct Sink(std::sync::Mutex<Vec<u8>>);
/// impl amp_engine::DirectWrite for Sink {
///     fn try_write(&self, bytes: &[u8]) -> std::io::Result<usize> {
///         self.0.lock().unwrap().write(bytes)
///     }
/// }
/// let sink = Sink(Default::default());
/// assert_eq!(amp_engine::DirectWrite::try_write(&sink, b"hi").unwrap(), 2);
/// ```
pub trait DirectWrite: Send + Sync + 'static {
    /// Writes some of `bytes` now and says how many, or fails with
    /// [`io::ErrorKind::WouldBlock`] when none can go now; never waits.
    /// Any other error ends the connection, as a failed
    /// [`WriteHalf::write_all`] does.
    fn try_write(&self, bytes: &[u8]) -> io::Result<usize>;
}

/// The sending half of a transport.
pub trait WriteHalf: Send + 'static {
    /// Writes all of `bytes` (and flushes them).
    fn write_all(&mut self, bytes: &[u8]) -> impl Future<Output = io::Result<()>> + Send;
    /// Closes the sending direction once everything is written.
    fn close(&mut self) -> impl Future<Output = io::Result<()>> + Send;

    /// A handle that writes to the same transport without waiting
    /// ([`DirectWrite`]), if it has one; the default is `None`.
    ///
    /// With one, bytes queued while the writer is idle are written at once
    /// by the task that queued them (the reader with its answers, a caller
    /// with its request on an otherwise quiet connection) instead of
    /// waking the writer's task for them: one task hop less per call. The
    /// writer still writes whatever does not go out at once, in order.
    /// Not used on a connection that can be upgraded or passes
    /// descriptors. A plain TCP stream's half has one in amp-tokio and
    /// amp-async-std.
    ///
    /// ```
    /// # use amp_engine::WriteHalf;
    /// struct W;
    /// impl WriteHalf for W {
    ///     async fn write_all(&mut self, _: &[u8]) -> std::io::Result<()> { Ok(()) }
    ///     async fn close(&mut self) -> std::io::Result<()> { Ok(()) }
    /// }
    /// assert!(W.direct().is_none());
    /// ```
    fn direct(&self) -> Option<std::sync::Arc<dyn DirectWrite>> {
        None
    }

    /// Whether this half sends descriptors ([`write_with_descriptors`](Self::write_with_descriptors)):
    /// a UNIX socket's does. The engine then lets boxes carry
    /// [`Descriptor`](amp_core::values::Descriptor) values; otherwise they
    /// are refused locally. The default is `false`.
    ///
    /// ```
    /// # use amp_engine::WriteHalf;
    /// struct W;
    /// impl WriteHalf for W {
    ///     async fn write_all(&mut self, _: &[u8]) -> std::io::Result<()> { Ok(()) }
    ///     async fn close(&mut self) -> std::io::Result<()> { Ok(()) }
    /// }
    /// assert!(!W.passes_descriptors());
    /// ```
    #[cfg(unix)]
    fn passes_descriptors(&self) -> bool {
        false
    }

    /// Writes all of `bytes` (and flushes them), sending each descriptor
    /// of `fds` with the one byte at its position in `bytes` (a `sendmsg`
    /// of its own with `SCM_RIGHTS`), as Twisted's UNIX transport sends
    /// them, and the bytes between them plainly:
    /// [`descriptors::pieces`](crate::descriptors::pieces) cuts them so.
    /// The writer calls it, instead of [`write_all`](Self::write_all),
    /// only for bytes that carry descriptors, and only if
    /// [`passes_descriptors`](Self::passes_descriptors); the default fails
    /// with `Unsupported`.
    ///
    /// ```
    /// # use amp_engine::WriteHalf;
    /// # struct W;
    /// # impl WriteHalf for W {
    /// #     async fn write_all(&mut self, _: &[u8]) -> std::io::Result<()> { Ok(()) }
    /// #     async fn close(&mut self) -> std::io::Result<()> { Ok(()) }
    /// # }
    /// let (s, _) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let fds = [(0, std::sync::Arc::new(std::os::fd::OwnedFd::from(s)))];
    /// let sent = futures_executor::block_on(W.write_with_descriptors(b"x", &fds));
    /// assert_eq!(sent.unwrap_err().kind(), std::io::ErrorKind::Unsupported);
    /// ```
    #[cfg(unix)]
    fn write_with_descriptors(
        &mut self,
        bytes: &[u8],
        fds: &[(usize, std::sync::Arc<std::os::fd::OwnedFd>)],
    ) -> impl Future<Output = io::Result<()>> + Send {
        let _ = (bytes, fds);
        async {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this transport cannot pass descriptors",
            ))
        }
    }
}
