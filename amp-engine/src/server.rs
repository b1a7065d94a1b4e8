//! Serving AMP on a listener, for any runtime: one accept loop, one
//! connection cap, one graceful shutdown. A binding supplies its listener
//! (a [`Listener`]) and its [`Runtime`].

use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use crate::{
    LiveConnections, Options, Peer, ReadHalf, Responders, Runtime, ShutdownHandle, WriteHalf,
};

/// How long the accept loop waits after a failed accept (out of descriptors,
/// say) before it tries again.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// A connection a [`Listener`] accepted: the two halves the engine reads and
/// writes, and where it came from (a TCP peer's [`SocketAddr`], `()` for a
/// UNIX socket's peer: see [`PeerAddr`]).
pub struct Accepted<R, W, A = SocketAddr> {
    /// The receiving half.
    pub reader: R,
    /// The sending half.
    pub writer: W,
    /// Where the connection came from.
    pub addr: A,
}

/// Where an accepted connection came from, as a [`Server`]'s factory gets
/// it: a [`SocketAddr`] for TCP (and TLS over TCP), `()` for a UNIX
/// socket, whose peers have no address. [`socket_addr`](Self::socket_addr) is what
/// [`Peer::peer_addr`] then says.
///
/// ```
/// use amp_engine::PeerAddr;
/// let tcp = std::net::SocketAddr::from(([127, 0, 0, 1], 7));
/// assert_eq!(tcp.socket_addr(), Some(tcp));
/// assert_eq!(().socket_addr(), None);
/// ```
pub trait PeerAddr: Clone + Send + Sync + std::fmt::Debug + 'static {
    /// The IP address and port, if the peer has one.
    fn socket_addr(&self) -> Option<SocketAddr>;
}

impl PeerAddr for SocketAddr {
    fn socket_addr(&self) -> Option<SocketAddr> {
        Some(*self)
    }
}

/// A peer with no address: a UNIX socket's.
impl PeerAddr for () {
    fn socket_addr(&self) -> Option<SocketAddr> {
        None
    }
}

/// A peer that may have an address.
impl PeerAddr for Option<SocketAddr> {
    fn socket_addr(&self) -> Option<SocketAddr> {
        *self
    }
}

/// Where a server's connections come from: a TCP listener of some runtime,
/// a UNIX one, anything that accepts.
///
/// ```
/// use std::io;
/// use std::net::SocketAddr;
/// use amp_engine::{Accepted, Listener, ReadHalf, WriteHalf};
///
/// # struct R; impl ReadHalf for R { async fn read(&mut self, _: &mut bytes::BytesMut) -> io::Result<usize> { Ok(0) } }
/// # struct W; impl WriteHalf for W { async fn write_all(&mut self, _: &[u8]) -> io::Result<()> { Ok(()) } async fn close(&mut self) -> io::Result<()> { Ok(()) } }
/// /// A listener that never accepts anything.
/// struct Nothing;
/// impl Listener for Nothing {
///     type Reader = R;
///     type Writer = W;
///     type Addr = SocketAddr;
///     async fn accept(&self) -> io::Result<Accepted<R, W>> {
///         std::future::pending().await
///     }
///     fn local_addr(&self) -> io::Result<SocketAddr> {
///         Ok(SocketAddr::from(([127, 0, 0, 1], 0)))
///     }
/// }
/// assert!(Nothing.local_addr().is_ok());
/// ```
pub trait Listener: Send + Sync + 'static {
    /// The receiving half of an accepted connection.
    type Reader: ReadHalf;
    /// The sending half of an accepted connection.
    type Writer: WriteHalf;
    /// Where a connection comes from: what the [`Server`]'s factory gets.
    type Addr: PeerAddr;

    /// Accepts the next connection, ready for the engine (a TCP listener
    /// sets `TCP_NODELAY` here).
    fn accept(
        &self,
    ) -> impl Future<Output = io::Result<Accepted<Self::Reader, Self::Writer, Self::Addr>>> + Send;

    /// The address listened on.
    fn local_addr(&self) -> io::Result<SocketAddr>;

    /// Starts serving an accepted connection on `runtime`: what the
    /// [`Server`] does with each. The default runs it plainly
    /// ([`spawn`](crate::spawn)); a listener whose connections are TLS,
    /// or can become TLS, starts them upgradable
    /// ([`spawn_upgradable`](crate::spawn_upgradable)).
    fn serve<Rt: Runtime>(
        &self,
        runtime: &Rt,
        accepted: Accepted<Self::Reader, Self::Writer, Self::Addr>,
        responders: Responders,
        options: Options,
    ) -> Peer {
        crate::spawn(
            runtime,
            accepted.reader,
            accepted.writer,
            accepted.addr.socket_addr(),
            responders,
            options,
        )
    }
}

type Factory<A> = Arc<dyn Fn(A) -> Responders + Send + Sync>;
type Hook = Arc<dyn Fn(&Peer) + Send + Sync>;

/// An AMP server: accepts connections and serves each with the responders
/// its factory builds for it.
///
/// The factory runs once per connection, so each connection can have state
/// of its own (like a Twisted protocol instance), while state the factory
/// captures is shared by all. The bindings name it for their runtime and
/// listener (`amp_tokio::Server`, `amp_async_std::Server`) and give it a
/// `bind`.
///
/// ```
/// # use std::io; use std::net::SocketAddr;
/// # use amp_engine::{Accepted, Listener, ReadHalf, Runtime, Task, WriteHalf};
/// # struct R; impl ReadHalf for R { async fn read(&mut self, _: &mut bytes::BytesMut) -> io::Result<usize> { Ok(0) } }
/// # struct W; impl WriteHalf for W { async fn write_all(&mut self, _: &[u8]) -> io::Result<()> { Ok(()) } async fn close(&mut self) -> io::Result<()> { Ok(()) } }
/// # struct Nothing; impl Listener for Nothing { type Reader = R; type Writer = W; type Addr = SocketAddr;
/// #     async fn accept(&self) -> io::Result<Accepted<R, W>> { std::future::pending().await }
/// #     fn local_addr(&self) -> io::Result<SocketAddr> { Ok(SocketAddr::from(([127, 0, 0, 1], 0))) } }
/// # #[derive(Clone)] struct Inline;
/// # impl Runtime for Inline { fn spawn(&self, _: Task) {} fn sleep(&self, _: std::time::Duration) -> impl Future<Output = ()> + Send + 'static { std::future::ready(()) } }
/// let server = amp_engine::Server::new(Inline, Nothing, |_addr| amp_engine::Responders::new())
///     .max_connections(100)
///     .on_connection(|peer| println!("connection from {:?}", peer.peer_addr()));
/// let stop = server.shutdown_handle();
/// stop.ask(std::time::Duration::ZERO);
/// futures_executor::block_on(server.run()).unwrap();
/// ```
pub struct Server<Rt, L: Listener> {
    runtime: Rt,
    listener: L,
    factory: Factory<L::Addr>,
    on_connection: Option<Hook>,
    options: Options,
    stop: ShutdownHandle,
    max_connections: usize,
}

impl<Rt: Runtime, L: Listener> Server<Rt, L> {
    /// Serves on `listener`, running every connection on `runtime`;
    /// `factory` builds each connection's responders, from where it came
    /// ([`Listener::Addr`]: a [`SocketAddr`] for TCP, `()` for a UNIX
    /// socket).
    ///
    /// See [`Server`] for an example.
    pub fn new<F>(runtime: Rt, listener: L, factory: F) -> Self
    where
        F: Fn(L::Addr) -> Responders + Send + Sync + 'static,
    {
        Server {
            runtime,
            listener,
            factory: Arc::new(factory),
            on_connection: None,
            options: Options::default(),
            stop: ShutdownHandle::default(),
            max_connections: usize::MAX,
        }
    }

    /// Settings for every connection.
    ///
    /// See [`Server`] for an example.
    pub fn options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// At most `n` connections served at once (default: no limit; 0 counts
    /// as 1). When `n` are open the server accepts no more until one ends:
    /// connecting peers wait in the listener's backlog. With the
    /// per-connection bounds of [`Options`], this bounds the server's
    /// memory in total.
    ///
    /// See [`Server`] for an example.
    pub fn max_connections(mut self, n: usize) -> Self {
        // At least one: a server that may hold none would never serve.
        self.max_connections = n.max(1);
        self
    }

    /// Runs `hook` on each connection as it starts, with its [`Peer`]: to
    /// count or log connections, keep their handles, or wait for
    /// [`Peer::closed`] to learn why each one ended.
    ///
    /// See [`Server`] for an example.
    pub fn on_connection(mut self, hook: impl Fn(&Peer) + Send + Sync + 'static) -> Self {
        self.on_connection = Some(Arc::new(hook));
        self
    }

    /// The address the server listens on.
    ///
    /// See [`Server`] for an example.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle that stops this server gracefully.
    ///
    /// See [`Server`] for an example.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.stop.clone()
    }

    /// Accepts and serves connections until shut down (at most
    /// [`max_connections`](Self::max_connections) at once). An error
    /// accepting one connection (too many open files, say) is not fatal: the
    /// server logs it (with the `tracing` feature), waits 50 ms and goes on.
    /// Once shut down, it stops accepting, lets each connection's running
    /// responders finish within the grace period, closes every connection
    /// and returns.
    ///
    /// See [`Server`] for an example.
    pub async fn run(self) -> io::Result<()> {
        let live = LiveConnections::default();
        let mut asked = pin!(self.stop.asked());
        let grace = 'serving: loop {
            {
                let mut room = pin!(live.room(self.max_connections));
                let asked_now = poll_fn(|cx| {
                    if let Poll::Ready(grace) = asked.as_mut().poll(cx) {
                        return Poll::Ready(Some(grace));
                    }
                    room.as_mut().poll(cx).map(|()| None)
                })
                .await;
                if let Some(grace) = asked_now {
                    break 'serving grace;
                }
            }
            let accepted = {
                let mut accept = pin!(self.listener.accept());
                poll_fn(|cx| {
                    if let Poll::Ready(grace) = asked.as_mut().poll(cx) {
                        return Poll::Ready(Err(grace));
                    }
                    accept.as_mut().poll(cx).map(Ok)
                })
                .await
            };
            match accepted {
                Err(grace) => break 'serving grace,
                Ok(Ok(accepted)) => {
                    let responders = (self.factory)(accepted.addr.clone());
                    let peer = self.listener.serve(
                        &self.runtime,
                        accepted,
                        responders,
                        self.options.clone(),
                    );
                    if let Some(hook) = &self.on_connection {
                        hook(&peer);
                    }
                    // The server's handle keeps the connection open until
                    // it ends.
                    self.runtime.spawn(Box::pin(live.hold(peer)));
                }
                Ok(Err(_e)) => {
                    #[cfg(feature = "tracing")]
                    tracing::warn!(error = %_e, "accepting a connection failed; retrying in 50 ms");
                    self.runtime.sleep(ACCEPT_RETRY).await;
                }
            }
        };
        drop(self.listener);
        live.shutdown_all(grace).await;
        self.stop.finished();
        Ok(())
    }
}
