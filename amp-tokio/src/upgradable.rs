//! Connections whose transport changes under them, on tokio: Twisted's
//! `StartTLS` (with the `tls` feature, see [`crate::tls`]) and Twisted's
//! `ProtocolSwitchCommand`, both on the engine's in-place upgrade
//! ([`amp_engine::Upgrader`]).
//!
//! A switch hands the transport, with every byte read after the box that
//! switched, to the protocol switched to: this side's caller
//! ([`switch_protocol`]) once the answer comes, or the handler given for
//! the command ([`Upgrades::switch`]) once this side has answered.
//!
//! ```
//! use amp_tokio::upgradable::{Upgrades, switch_protocol};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let (a, b) = tokio::io::duplex(4096);
//! // The server: after answering SwitchToEcho, it echoes what comes.
//! let upgrades = Upgrades::new().switch("SwitchToEcho", |switched| {
//!     tokio::spawn(async move {
//!         let (mut stream, first) = (switched.stream, switched.leftover);
//!         stream.write_all(&first).await?;
//!         let mut buf = [0; 1024];
//!         loop {
//!             let n = stream.read(&mut buf).await?;
//!             if n == 0 { return Ok::<_, std::io::Error>(()); }
//!             stream.write_all(&buf[..n]).await?;
//!         }
//!     });
//! });
//! let responders = amp_tokio::Responders::new()
//!     .raw_responder("SwitchToEcho", |_, _| async { Ok(amp_core::AmpBox::new()) });
//! let _server = amp_tokio::upgradable::from_stream(a, None, responders, Default::default(), upgrades);
//! let client = amp_tokio::upgradable::from_stream(
//!     b, None, amp_tokio::Responders::new(), Default::default(), Upgrades::new(),
//! );
//! let (_answer, switched) =
//!     switch_protocol::<tokio::io::DuplexStream>(&client, "SwitchToEcho", amp_core::AmpBox::new())
//!         .await
//!         .unwrap();
//! let mut stream = switched.into_stream();
//! stream.write_all(b"hello").await.unwrap();
//! let mut back = [0; 5];
//! stream.read_exact(&mut back).await.unwrap();
//! assert_eq!(&back, b"hello");
//! # }
//! ```

use std::io;
use std::net::SocketAddr;

use amp_core::AmpBox;
use amp_engine::{Options, Peer, Responders, Upgrade, UpgradeError};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::Tokio;
use crate::maybe_tls::split;
pub use crate::maybe_tls::{MaybeTls, Rewind, TlsReader, TlsWriter};

/// The receiving half of an upgradable connection.
pub type UpgradableReader<S> = TlsReader<S>;
/// The sending half of an upgradable connection.
pub type UpgradableWriter<S> = TlsWriter<S>;

/// A transport handed to another protocol by a switch: the stream (plain,
/// or TLS if it was upgraded before) and every byte read from it after the
/// box that switched, which
/// [`into_stream`](amp_engine::upgradable::Switched::into_stream) reads
/// first.
///
/// ```
/// use tokio::io::AsyncReadExt;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (a, _b) = tokio::io::duplex(64);
/// let switched = amp_tokio::upgradable::Switched {
///     stream: amp_tokio::upgradable::MaybeTls::Plain(a),
///     leftover: "early".into(),
/// };
/// let mut first = [0; 5];
/// switched.into_stream().read_exact(&mut first).await.unwrap();
/// assert_eq!(&first, b"early");
/// # }
/// ```
pub type Switched<S> = amp_engine::upgradable::Switched<MaybeTls<S>>;

/// The protocol switches (and, with TLS, the `StartTLS`) that a connection
/// over `S` answers: the engine's
/// [`Upgrades`](amp_engine::upgradable::Upgrades) on tokio's streams.
///
/// ```
/// let upgrades = amp_tokio::upgradable::Upgrades::<tokio::io::DuplexStream>::new()
///     .switch("SwitchToEcho", |switched| drop(switched));
/// # drop(upgrades);
/// ```
pub type Upgrades<S> = amp_engine::upgradable::Upgrades<MaybeTls<S>>;

/// Runs AMP over `stream`, its transport upgradable: switched to another
/// protocol by [`switch_protocol`] or by a peer's switch that `upgrades`
/// answers (and with TLS, see [`crate::tls`]; when `upgrades` answers
/// `StartTLS`, its responder is added unless `responders` has one).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (a, _b) = tokio::io::duplex(1024);
/// let peer = amp_tokio::upgradable::from_stream(
///     a, None, amp_tokio::Responders::new(), Default::default(),
///     amp_tokio::upgradable::Upgrades::new(),
/// );
/// assert!(!peer.is_upgraded());
/// # }
/// ```
pub fn from_stream<S>(
    stream: S,
    addr: Option<SocketAddr>,
    responders: Responders,
    options: Options,
    upgrades: Upgrades<S>,
) -> Peer
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    start(stream, addr, responders, options, upgrades, None)
}

pub(crate) fn start<S>(
    stream: S,
    addr: Option<SocketAddr>,
    responders: Responders,
    options: Options,
    upgrades: Upgrades<S>,
    first: Option<Upgrade>,
) -> Peer
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let responders = upgrades.responders(responders);
    let (reader, writer) = split(MaybeTls::Plain(stream));
    amp_engine::spawn_upgradable(
        &Tokio, reader, writer, addr, responders, options, upgrades, first,
    )
}

/// Calls `command` as Twisted's `ProtocolSwitchCommand` on a connection
/// started upgradable over a stream of type `S`: while it is pending no
/// other call or box may be queued (they fail with
/// [`ConnectionError::ProtocolSwitched`](amp_core::ConnectionError::ProtocolSwitched));
/// an error answer lifts that ([`UpgradeError::Call`]); once the answer
/// comes, returns it with the transport and every byte read after the
/// answer, even those read with it. The AMP connection has ended then.
///
/// ```no_run
/// # async fn f(peer: amp_tokio::Peer) -> Result<(), amp_engine::UpgradeError> {
/// let (_answer, switched) = amp_tokio::upgradable::switch_protocol::<tokio::net::TcpStream>(
///     &peer, "SwitchToEcho", amp_core::AmpBox::new(),
/// ).await?;
/// # Ok(()) }
/// ```
pub async fn switch_protocol<S: Send + 'static>(
    peer: &Peer,
    command: &str,
    arguments: AmpBox,
) -> Result<(AmpBox, Switched<S>), UpgradeError> {
    amp_engine::upgradable::switch_protocol(peer, command, arguments).await
}

/// A TCP listener whose connections are upgradable: they answer the
/// switches (and, with TLS, the `StartTLS`) of its [`Upgrades`]. Served by
/// the engine's one [`Server`](amp_engine::Server) ([`UpgradableServer`]).
#[derive(Debug)]
pub struct UpgradableListener {
    listener: tokio::net::TcpListener,
    upgrades: Upgrades<tokio::net::TcpStream>,
}

impl UpgradableListener {
    /// Connections of `listener`, answering what `upgrades` answers.
    ///
    /// ```no_run
    /// # async fn f() -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let listener = amp_tokio::upgradable::UpgradableListener::new(
    ///     listener,
    ///     amp_tokio::upgradable::Upgrades::new().switch("SwitchToEcho", |s| drop(s)),
    /// );
    /// # Ok(()) }
    /// ```
    pub fn new(
        listener: tokio::net::TcpListener,
        upgrades: Upgrades<tokio::net::TcpStream>,
    ) -> Self {
        UpgradableListener { listener, upgrades }
    }
}

impl amp_engine::Listener for UpgradableListener {
    type Reader = UpgradableReader<tokio::net::TcpStream>;
    type Writer = UpgradableWriter<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&self) -> io::Result<amp_engine::Accepted<Self::Reader, Self::Writer>> {
        let accepted = self.listener.accept().await?;
        Ok(amp_engine::Accepted::tcp(
            accepted,
            tokio::net::TcpStream::set_nodelay,
            |s| split(MaybeTls::Plain(s)),
        ))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    fn serve<Rt: amp_engine::Runtime>(
        &self,
        runtime: &Rt,
        accepted: amp_engine::Accepted<Self::Reader, Self::Writer>,
        responders: Responders,
        options: Options,
    ) -> Peer {
        let responders = self.upgrades.responders(responders);
        amp_engine::spawn_upgradable(
            runtime,
            accepted.reader,
            accepted.writer,
            Some(accepted.addr),
            responders,
            options,
            self.upgrades.clone(),
            None,
        )
    }
}

/// The engine's server on an [`UpgradableListener`].
pub type UpgradableServer = amp_engine::Server<Tokio, UpgradableListener>;

/// Binds a server whose connections answer what `upgrades` answers;
/// `factory` makes each connection's responders.
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// let upgrades = amp_tokio::upgradable::Upgrades::new().switch("SwitchToEcho", |s| drop(s));
/// let server = amp_tokio::upgradable::bind("127.0.0.1:0", upgrades, |_| amp_tokio::Responders::new()).await?;
/// server.run().await
/// # }
/// ```
pub async fn bind<F>(
    addr: impl tokio::net::ToSocketAddrs,
    upgrades: Upgrades<tokio::net::TcpStream>,
    factory: F,
) -> io::Result<UpgradableServer>
where
    F: Fn(SocketAddr) -> Responders + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind(addr).await?;
    Ok(UpgradableServer::new(
        Tokio,
        UpgradableListener::new(listener, upgrades),
        factory,
    ))
}
