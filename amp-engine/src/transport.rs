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
}

/// The sending half of a transport.
pub trait WriteHalf: Send + 'static {
    /// Writes all of `bytes` (and flushes them).
    fn write_all(&mut self, bytes: &[u8]) -> impl Future<Output = io::Result<()>> + Send;
    /// Closes the sending direction once everything is written.
    fn close(&mut self) -> impl Future<Output = io::Result<()>> + Send;
}
