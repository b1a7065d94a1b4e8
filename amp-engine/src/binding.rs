//! What every runtime binding would otherwise write again around the
//! engine: a graceful shutdown timed by the binding's [`Runtime`], and an
//! accepted stream made ready for the [`Server`](crate::Server).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use amp_core::ConnectionError;

use crate::{Accepted, Peer, Runtime};

/// Whether the engine was built with its `tracing` feature (a binding's
/// `tracing` feature turns it on): then it logs connection ends, failed
/// accepts and dropped responder results.
///
/// ```
/// assert_eq!(amp_engine::TRACING, cfg!(feature = "tracing"));
/// ```
pub const TRACING: bool = cfg!(feature = "tracing");

/// [`shutdown`](crate::shutdown) with at most `grace` for the running
/// responders, timed by `runtime`'s [`sleep`](Runtime::sleep): what every
/// binding's `shutdown(&peer, grace)` is.
///
/// ```
/// # use amp_engine::{Runtime, Task};
/// # let peer = amp_engine::tests_support::idle_peer();
/// #[derive(Clone)]
/// struct NoTime;
/// impl Runtime for NoTime {
///     fn spawn(&self, _: Task) {}
///     fn sleep(&self, _: std::time::Duration) -> impl Future<Output = ()> + Send + 'static {
///         std::future::ready(())
///     }
/// }
/// // The grace period ends at once here: the peer is closed.
/// let grace = std::time::Duration::from_secs(1);
/// let reason = futures_executor::block_on(amp_engine::shutdown_within(&NoTime, &peer, grace));
/// assert_eq!(reason, amp_core::ConnectionError::Closed);
/// ```
pub async fn shutdown_within(
    runtime: &impl Runtime,
    peer: &Peer,
    grace: Duration,
) -> ConnectionError {
    crate::shutdown(peer, runtime.sleep(grace)).await
}

impl<R, W> Accepted<R, W> {
    /// A TCP connection as a listener accepted it, made ready for the
    /// engine: `nodelay` sets `TCP_NODELAY` on the stream (AMP's boxes are
    /// small and answered at once; a stream on which it cannot be set is
    /// served anyway), `split` makes the engine's two halves of it.
    ///
    /// ```
    /// use std::io;
    /// use std::net::SocketAddr;
    ///
    /// struct Stream;
    /// fn nodelay(_: &Stream, on: bool) -> io::Result<()> { assert!(on); Ok(()) }
    /// fn split(_: Stream) -> (&'static str, &'static str) { ("reader", "writer") }
    ///
    /// let addr = SocketAddr::from(([127, 0, 0, 1], 4321));
    /// let accepted = amp_engine::Accepted::tcp((Stream, addr), nodelay, split);
    /// assert_eq!((accepted.reader, accepted.writer), ("reader", "writer"));
    /// assert_eq!(accepted.addr, Some(addr));
    /// ```
    pub fn tcp<S>(
        (stream, addr): (S, SocketAddr),
        nodelay: impl FnOnce(&S, bool) -> io::Result<()>,
        split: impl FnOnce(S) -> (R, W),
    ) -> Self {
        let _ = nodelay(&stream, true);
        let (reader, writer) = split(stream);
        Accepted {
            reader,
            writer,
            addr: Some(addr),
        }
    }
}

/// Defines a binding's TCP listener for the [`Server`](crate::Server): a
/// newtype over the runtime's listener (with a `From` for it) whose
/// [`Listener`](crate::Listener) accepts each connection with
/// `TCP_NODELAY` set ([`Accepted::tcp`]) and splits it into the engine's
/// halves with the binding's `split`.
///
/// The runtimes' TCP types share no trait, only their methods (the
/// listener's `accept()` giving the stream and the peer's address, and its
/// `local_addr()`; the stream's `set_nodelay(bool)`), so the listener is
/// written here once, over those.
///
/// ```
/// use std::io;
/// use std::net::SocketAddr;
/// # use amp_engine::{ReadHalf, WriteHalf};
/// # pub struct Reader; impl ReadHalf for Reader { async fn read(&mut self, _: &mut bytes::BytesMut) -> io::Result<usize> { Ok(0) } }
/// # pub struct Writer; impl WriteHalf for Writer { async fn write_all(&mut self, _: &[u8]) -> io::Result<()> { Ok(()) } async fn close(&mut self) -> io::Result<()> { Ok(()) } }
///
/// /// A runtime's TCP, as far as the listener uses it.
/// mod net {
///     use std::{io, net::SocketAddr};
///     #[derive(Debug)]
///     pub struct TcpListener(pub SocketAddr);
///     impl TcpListener {
///         pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
///             Ok((TcpStream, SocketAddr::from(([127, 0, 0, 1], 5000))))
///         }
///         pub fn local_addr(&self) -> io::Result<SocketAddr> { Ok(self.0) }
///     }
///     pub struct TcpStream;
///     impl TcpStream {
///         pub fn set_nodelay(&self, _on: bool) -> io::Result<()> { Ok(()) }
///     }
/// }
/// fn split(_: net::TcpStream) -> (Reader, Writer) { (Reader, Writer) }
///
/// amp_engine::tcp_listener! {
///     /// The runtime's TCP listener, as a server accepts from it.
///     pub struct TcpListener(net::TcpListener);
///     stream: net::TcpStream,
///     halves: split => (Reader, Writer),
/// }
///
/// use amp_engine::Listener;
/// let listener = TcpListener::from(net::TcpListener(SocketAddr::from(([127, 0, 0, 1], 1234))));
/// assert_eq!(listener.local_addr().unwrap().port(), 1234);
/// let accepted = futures_executor::block_on(listener.accept()).unwrap();
/// assert_eq!(accepted.addr.map(|a| a.port()), Some(5000));
/// ```
#[macro_export]
macro_rules! tcp_listener {
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident($listener:ty);
        stream: $stream:ty,
        halves: $split:path => ($reader:ty, $writer:ty) $(,)?
    ) => {
        $(#[$attr])*
        #[derive(Debug)]
        $vis struct $name(pub $listener);

        impl ::core::convert::From<$listener> for $name {
            fn from(listener: $listener) -> Self {
                $name(listener)
            }
        }

        impl $crate::Listener for $name {
            type Reader = $reader;
            type Writer = $writer;

            async fn accept(&self) -> ::std::io::Result<$crate::Accepted<$reader, $writer>> {
                let accepted = self.0.accept().await?;
                Ok($crate::Accepted::tcp(accepted, <$stream>::set_nodelay, $split))
            }

            fn local_addr(&self) -> ::std::io::Result<::std::net::SocketAddr> {
                self.0.local_addr()
            }
        }
    };
}
