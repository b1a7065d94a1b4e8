//! What every runtime binding would otherwise write again around the
//! engine: an accepted stream made ready for the [`Server`](crate::Server).

use std::io;
use std::net::SocketAddr;

use crate::{Accepted, Options, Peer, ReadHalf, Responders, Runtime, WriteHalf};

/// Whether the engine was built with its `tracing` feature (a binding's
/// `tracing` feature turns it on): then it logs connection ends, failed
/// accepts and dropped responder results.
///
/// ```
/// assert_eq!(amp_engine::TRACING, cfg!(feature = "tracing"));
/// ```
pub const TRACING: bool = cfg!(feature = "tracing");

/// A runtime that can carry AMP over streams of type `S`: how its binding
/// splits such a stream into the engine's two halves. amp-tokio implements
/// it for `Tokio` over tokio streams, amp-async-std for its runtimes over
/// `futures-io` streams; [`from_stream_with`] and
/// [`routed::from_stream_with`](crate::routed::from_stream_with) then work
/// on any of them.
///
/// ```
/// use amp_engine::{ReadHalf, Runtime, Split, Task, WriteHalf};
/// # struct R; impl ReadHalf for R { async fn read(&mut self, _: &mut bytes::BytesMut) -> std::io::Result<usize> { Ok(0) } }
/// # struct W; impl WriteHalf for W { async fn write_all(&mut self, _: &[u8]) -> std::io::Result<()> { Ok(()) } async fn close(&mut self) -> std::io::Result<()> { Ok(()) } }
/// /// A stream that ends at once, on a runtime of threads.
/// struct Ended;
/// #[derive(Clone)]
/// struct Threads;
/// impl Runtime for Threads {
///     fn spawn(&self, task: Task) { std::thread::spawn(move || futures_executor::block_on(task)); }
///     fn sleep(&self, d: std::time::Duration) -> impl Future<Output = ()> + Send + 'static {
///         async move { std::thread::sleep(d) }
///     }
/// }
/// impl Split<Ended> for Threads {
///     type Reader = R;
///     type Writer = W;
///     fn split(_: Ended) -> (R, W) { (R, W) }
/// }
/// let peer = amp_engine::from_stream_with(Threads, Ended, None, Default::default(), Default::default());
/// assert_eq!(futures_executor::block_on(peer.closed()), amp_core::ConnectionError::PeerClosed);
/// ```
pub trait Split<S>: Runtime {
    /// The receiving half.
    type Reader: ReadHalf;
    /// The sending half.
    type Writer: WriteHalf;
    /// Splits `stream` into the halves the engine reads and writes.
    fn split(stream: S) -> (Self::Reader, Self::Writer);
}

/// Serves AMP over `stream` on `runtime`: splits it ([`Split`]) and
/// [`spawn`](crate::spawn)s the connection, with these responders and
/// settings and the peer's address, if known.
///
/// ```
/// # use amp_engine::{ReadHalf, Runtime, Split, Task, WriteHalf};
/// # struct R; impl ReadHalf for R { async fn read(&mut self, _: &mut bytes::BytesMut) -> std::io::Result<usize> { std::future::pending().await } }
/// # struct W; impl WriteHalf for W { async fn write_all(&mut self, _: &[u8]) -> std::io::Result<()> { Ok(()) } async fn close(&mut self) -> std::io::Result<()> { Ok(()) } }
/// # struct Quiet;
/// # #[derive(Clone)] struct Threads;
/// # impl Runtime for Threads {
/// #     fn spawn(&self, task: Task) { std::thread::spawn(move || futures_executor::block_on(task)); }
/// #     fn sleep(&self, d: std::time::Duration) -> impl Future<Output = ()> + Send + 'static { async move { std::thread::sleep(d) } }
/// # }
/// # impl Split<Quiet> for Threads { type Reader = R; type Writer = W; fn split(_: Quiet) -> (R, W) { (R, W) } }
/// let addr = "127.0.0.1:4000".parse().unwrap();
/// let peer = amp_engine::from_stream_with(Threads, Quiet, Some(addr), Default::default(), Default::default());
/// assert_eq!(peer.peer_addr(), Some(addr));
/// ```
pub fn from_stream_with<Rt: Split<S>, S>(
    runtime: Rt,
    stream: S,
    addr: Option<SocketAddr>,
    responders: Responders,
    options: Options,
) -> Peer {
    let (reader, writer) = Rt::split(stream);
    crate::spawn(&runtime, reader, writer, addr, responders, options)
}

/// A TCP stream this side has just connected, made ready for the engine:
/// `TCP_NODELAY` set (AMP's boxes are small and answered at once), and the
/// peer's address, for [`Peer::peer_addr`]. What every binding's `connect`
/// does between connecting and serving.
///
/// ```
/// use std::io;
/// use std::net::SocketAddr;
/// struct Stream;
/// let addr = SocketAddr::from(([127, 0, 0, 1], 4321));
/// let ready = amp_engine::connected_tcp(&Stream, |_, on| { assert!(on); Ok(()) }, |_| Ok(addr));
/// assert_eq!(ready.unwrap(), Some(addr));
/// let refused = amp_engine::connected_tcp(&Stream, |_, _| Err(io::ErrorKind::Other.into()), |_| Ok(addr));
/// assert!(refused.is_err());
/// ```
pub fn connected_tcp<S>(
    stream: &S,
    nodelay: impl FnOnce(&S, bool) -> io::Result<()>,
    peer_addr: impl FnOnce(&S) -> io::Result<SocketAddr>,
) -> io::Result<Option<SocketAddr>> {
    nodelay(stream, true)?;
    Ok(peer_addr(stream).ok())
}

impl<R, W> Accepted<R, W, SocketAddr> {
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
    /// assert_eq!(accepted.addr, addr);
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
            addr,
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
/// assert_eq!(accepted.addr.port(), 5000);
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
            type Addr = ::std::net::SocketAddr;

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
