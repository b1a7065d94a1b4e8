//! TLS on tokio, with rustls through tokio-rustls (feature `tls`): TLS
//! from the first byte (Twisted's `ssl:` endpoints) and Twisted's
//! `StartTLS`, both ways, on the engine's in-place transport upgrade: the
//! same [`Peer`] goes on over TLS.
//!
//! | | plain until `StartTLS` | TLS from the first byte |
//! |---|---|---|
//! | client | [`connect_upgradable`], then [`start_tls`] | [`connect`] |
//! | server | [`bind_start_tls`] (answers `StartTLS`) | [`bind`] |
//!
//! A responder sees the client's verified certificate (mutual TLS) with
//! [`Context::peer_certificate`](amp_engine::Context::peer_certificate).
//! A failed handshake or a refused certificate ends the connection with
//! [`ConnectionError::UpgradeFailed`](amp_core::ConnectionError::UpgradeFailed).
//!
//! ```
//! use amp_tokio::tls::{ClientTls, ServerTls};
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
//! let (cert, key) = (ca.cert.pem(), ca.key_pair.serialize_pem());
//! let server_tls = ServerTls::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
//! let server = amp_tokio::tls::bind_start_tls("127.0.0.1:0", server_tls, |_| {
//!     amp_tokio::Responders::new().raw_responder("Echo", |_, args| async move { Ok(args) })
//! })
//! .await
//! .unwrap();
//! let addr = server.local_addr().unwrap();
//! tokio::spawn(server.run());
//!
//! let client = amp_tokio::tls::connect_upgradable(addr, amp_tokio::Responders::new()).await.unwrap();
//! let tls = ClientTls::from_pem(cert.as_bytes(), "localhost").unwrap();
//! amp_tokio::tls::start_tls(&client, &tls).await.unwrap();
//! let echoed = client.call_remote("Echo", amp_core::AmpBox::from_pairs([("x", "1")])).await.unwrap();
//! assert_eq!(echoed.get_str("x"), Some("1"));
//! assert!(client.peer_certificates().is_some());
//! # }
//! ```

use std::io;
use std::net::SocketAddr;

pub use amp_engine::tls::{ClientTls, START_TLS, ServerTls, TLS_ERROR_CODE, TlsError, start_tls};
use amp_engine::{Accepted, Listener, Options, Peer, Responders, Runtime, Upgrade};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, ToSocketAddrs};

use crate::Tokio;
use crate::maybe_tls::split;
pub use crate::maybe_tls::{MaybeTls, Rewind, TlsReader, TlsWriter};
use crate::upgradable::Upgrades;

/// The upgrades of a connection that answers `StartTLS` with `answer`, if
/// given.
fn upgrades<S>(answer: Option<ServerTls>) -> Upgrades<S> {
    match answer {
        Some(tls) => Upgrades::new().answer_start_tls(tls),
        None => Upgrades::new(),
    }
}

/// Runs AMP over `stream`, upgradable: plain until [`start_tls`] (this
/// side asks) or, with `answer`, until the peer's `StartTLS` (this side
/// answers with that certificate); with `start` given, TLS from the first
/// byte instead ([`ClientTls`] or [`ServerTls`] boxed: which side this is).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (a, _b) = tokio::io::duplex(1024);
/// let peer = amp_tokio::tls::from_stream(a, None, amp_tokio::Responders::new(), Default::default(), None, None);
/// assert!(!peer.is_upgraded());
/// # }
/// ```
pub fn from_stream<S>(
    stream: S,
    addr: Option<SocketAddr>,
    responders: Responders,
    options: Options,
    answer: Option<ServerTls>,
    start: Option<Box<dyn std::any::Any + Send>>,
) -> Peer
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    crate::upgradable::start(
        stream,
        addr,
        responders,
        options,
        upgrades(answer),
        start.map(Upgrade::Start),
    )
}

/// Connects to `addr` over TCP, plain, ready to [`start_tls`].
///
/// ```no_run
/// # async fn f(tls: amp_tokio::tls::ClientTls) -> Result<(), Box<dyn std::error::Error>> {
/// let peer = amp_tokio::tls::connect_upgradable("127.0.0.1:1234", amp_tokio::Responders::new()).await?;
/// amp_tokio::tls::start_tls(&peer, &tls).await?;
/// # Ok(()) }
/// ```
pub async fn connect_upgradable(
    addr: impl ToSocketAddrs,
    responders: Responders,
) -> io::Result<Peer> {
    let stream = TcpStream::connect(addr).await?;
    let addr = amp_engine::connected_tcp(&stream, TcpStream::set_nodelay, TcpStream::peer_addr)?;
    Ok(from_stream(
        stream,
        addr,
        responders,
        Options::default(),
        None,
        None,
    ))
}

/// Connects to `addr` over TLS from the first byte (Twisted's `ssl:`
/// client endpoint), verifying the server with `tls`; returns once the
/// handshake is done. A failed handshake or a refused certificate is an
/// error of kind `InvalidData` whose inner error is the connection's
/// [`ConnectionError::UpgradeFailed`](amp_core::ConnectionError::UpgradeFailed).
///
/// ```no_run
/// # async fn f(tls: amp_tokio::tls::ClientTls) -> std::io::Result<()> {
/// let peer = amp_tokio::tls::connect("127.0.0.1:1234", &tls, amp_tokio::Responders::new()).await?;
/// # Ok(()) }
/// ```
pub async fn connect(
    addr: impl ToSocketAddrs,
    tls: &ClientTls,
    responders: Responders,
) -> io::Result<Peer> {
    let stream = TcpStream::connect(addr).await?;
    let addr = amp_engine::connected_tcp(&stream, TcpStream::set_nodelay, TcpStream::peer_addr)?;
    let peer = from_stream(
        stream,
        addr,
        responders,
        Options::default(),
        None,
        Some(Box::new(tls.clone())),
    );
    peer.upgraded()
        .await
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok(peer)
}

/// How a [`TlsListener`]'s connections start.
#[derive(Clone, Debug)]
enum Mode {
    /// TLS from the first byte.
    Tls(ServerTls),
    /// Plain, answering `StartTLS`.
    StartTls(ServerTls),
}

/// A TCP listener whose connections are TLS from the first byte, or plain
/// and answering `StartTLS`: served by the engine's one
/// [`Server`](amp_engine::Server) ([`TlsServer`]).
#[derive(Debug)]
pub struct TlsListener {
    listener: tokio::net::TcpListener,
    mode: Mode,
}

impl TlsListener {
    /// Connections TLS from the first byte (Twisted's `ssl:` server
    /// endpoint).
    ///
    /// ```no_run
    /// # async fn f(tls: amp_tokio::tls::ServerTls) -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let listener = amp_tokio::tls::TlsListener::tls(listener, tls);
    /// # Ok(()) }
    /// ```
    pub fn tls(listener: tokio::net::TcpListener, tls: ServerTls) -> Self {
        TlsListener {
            listener,
            mode: Mode::Tls(tls),
        }
    }

    /// Connections plain until the client calls `StartTLS`, answered with
    /// `tls`'s certificate.
    ///
    /// ```no_run
    /// # async fn f(tls: amp_tokio::tls::ServerTls) -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let listener = amp_tokio::tls::TlsListener::start_tls(listener, tls);
    /// # Ok(()) }
    /// ```
    pub fn start_tls(listener: tokio::net::TcpListener, tls: ServerTls) -> Self {
        TlsListener {
            listener,
            mode: Mode::StartTls(tls),
        }
    }
}

impl Listener for TlsListener {
    type Reader = TlsReader<TcpStream>;
    type Writer = TlsWriter<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&self) -> io::Result<Accepted<Self::Reader, Self::Writer>> {
        let accepted = self.listener.accept().await?;
        Ok(Accepted::tcp(accepted, TcpStream::set_nodelay, |s| {
            split(MaybeTls::Plain(s))
        }))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    fn serve<Rt: Runtime>(
        &self,
        runtime: &Rt,
        accepted: Accepted<Self::Reader, Self::Writer>,
        responders: Responders,
        options: Options,
    ) -> Peer {
        let (upgrader, first) = match &self.mode {
            Mode::Tls(tls) => (upgrades(None), Some(Upgrade::Start(Box::new(tls.clone())))),
            Mode::StartTls(tls) => (upgrades(Some(tls.clone())), None),
        };
        let responders = upgrader.responders(responders);
        amp_engine::spawn_upgradable(
            runtime,
            accepted.reader,
            accepted.writer,
            Some(accepted.addr),
            responders,
            options,
            upgrader,
            first,
        )
    }
}

/// The engine's server on a [`TlsListener`].
pub type TlsServer = amp_engine::Server<Tokio, TlsListener>;

/// Binds a server whose connections are TLS from the first byte, with
/// `tls`'s certificate; `factory` makes each connection's responders.
///
/// ```no_run
/// # async fn f(tls: amp_tokio::tls::ServerTls) -> std::io::Result<()> {
/// let server = amp_tokio::tls::bind("127.0.0.1:0", tls, |_| amp_tokio::Responders::new()).await?;
/// server.run().await
/// # }
/// ```
pub async fn bind<F>(addr: impl ToSocketAddrs, tls: ServerTls, factory: F) -> io::Result<TlsServer>
where
    F: Fn(SocketAddr) -> Responders + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind(addr).await?;
    Ok(TlsServer::new(
        Tokio,
        TlsListener::tls(listener, tls),
        factory,
    ))
}

/// Binds a server whose connections are plain and answer `StartTLS` with
/// `tls`'s certificate.
///
/// ```no_run
/// # async fn f(tls: amp_tokio::tls::ServerTls) -> std::io::Result<()> {
/// let server = amp_tokio::tls::bind_start_tls("127.0.0.1:0", tls, |_| amp_tokio::Responders::new()).await?;
/// server.run().await
/// # }
/// ```
pub async fn bind_start_tls<F>(
    addr: impl ToSocketAddrs,
    tls: ServerTls,
    factory: F,
) -> io::Result<TlsServer>
where
    F: Fn(SocketAddr) -> Responders + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind(addr).await?;
    Ok(TlsServer::new(
        Tokio,
        TlsListener::start_tls(listener, tls),
        factory,
    ))
}
