//! Connections whose transport changes under them, over futures-io
//! (async-std, smol): Twisted's `StartTLS` (with the `tls` feature, see
//! [`crate::tls`]) and Twisted's `ProtocolSwitchCommand`, both on the
//! engine's in-place upgrade ([`amp_engine::Upgrader`]).
//!
//! A switch hands the transport, with every byte read after the box that
//! switched, to the protocol switched to: this side's caller
//! ([`switch_protocol`]) once the answer comes, or the handler given for
//! the command ([`Upgrades::switch`]) once this side has answered.
//!
//! ```
//! use amp_async_std::AsyncStd;
//! use amp_async_std::upgradable::{Upgrades, switch_protocol};
//! use futures_util::io::{AsyncReadExt, AsyncWriteExt};
//! # async_std::task::block_on(async {
//! let (a, b) = amp_async_std::pipe();
//! // The server: after answering SwitchToEcho, it echoes what comes.
//! let upgrades = Upgrades::new().switch("SwitchToEcho", |switched| {
//!     async_std::task::spawn(async move {
//!         let (mut r, mut w) = switched.into_stream().split();
//!         futures_util::io::copy(&mut r, &mut w).await
//!     });
//! });
//! let responders = amp_async_std::Responders::new()
//!     .raw_responder("SwitchToEcho", |_, _| async { Ok(amp_core::AmpBox::new()) });
//! let _server = amp_async_std::upgradable::from_stream(AsyncStd, a, None, responders, Default::default(), upgrades);
//! let client = amp_async_std::upgradable::from_stream(
//!     AsyncStd, b, None, amp_async_std::Responders::new(), Default::default(), Upgrades::new(),
//! );
//! let (_answer, switched) = switch_protocol::<amp_async_std::Pipe>(&client, "SwitchToEcho", amp_core::AmpBox::new())
//!     .await
//!     .unwrap();
//! let mut stream = switched.into_stream();
//! stream.write_all(b"hello").await.unwrap();
//! let mut back = [0; 5];
//! stream.read_exact(&mut back).await.unwrap();
//! assert_eq!(&back, b"hello");
//! # });
//! ```

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use amp_core::AmpBox;
use amp_engine::{Options, Peer, Responders, Runtime, Upgrade, UpgradeError, Upgraded, Upgrader};
use bytes::{Buf, Bytes, BytesMut};
use futures_channel::oneshot;
use futures_io::{AsyncRead, AsyncWrite};

use crate::transport::{Reader, Writer};

/// A stream that gives `first` before what it reads from `inner`: the
/// bytes read past the switch, for the TLS that takes the stream over.
#[derive(Debug)]
pub struct Rewind<S> {
    first: BytesMut,
    inner: S,
}

impl<S> Rewind<S> {
    /// `inner`, read after `first`.
    ///
    /// ```
    /// use futures_util::io::AsyncReadExt;
    /// # futures_executor::block_on(async {
    /// let mut r = amp_async_std::upgradable::Rewind::new("ab".into(), &b"cd"[..]);
    /// let mut all = String::new();
    /// r.read_to_string(&mut all).await.unwrap();
    /// assert_eq!(all, "abcd");
    /// # });
    /// ```
    pub fn new(first: BytesMut, inner: S) -> Self {
        Rewind { first, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if !self.first.is_empty() {
            let n = self.first.len().min(buf.len());
            buf[..n].copy_from_slice(&self.first[..n]);
            self.first.advance(n);
            return Poll::Ready(Ok(n));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// A stream that is plain now and may be TLS later: what an upgradable
/// connection runs over.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum MaybeTls<S> {
    /// Plain.
    Plain(S),
    /// TLS, this side the client.
    #[cfg(feature = "tls")]
    Client(Box<futures_rustls::client::TlsStream<Rewind<S>>>),
    /// TLS, this side the server.
    #[cfg(feature = "tls")]
    Server(Box<futures_rustls::server::TlsStream<Rewind<S>>>),
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            MaybeTls::Plain($s) => {
                let $s = Pin::new($s);
                $e
            }
            #[cfg(feature = "tls")]
            MaybeTls::Client($s) => {
                let $s = Pin::new(&mut **$s);
                $e
            }
            #[cfg(feature = "tls")]
            MaybeTls::Server($s) => {
                let $s = Pin::new(&mut **$s);
                $e
            }
        }
    };
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for MaybeTls<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => s.poll_read(cx, buf))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for MaybeTls<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => s.poll_write(cx, buf))
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => s.poll_flush(cx))
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => s.poll_close(cx))
    }
}

/// The receiving half of an upgradable connection.
pub type TlsReader<S> = Reader<futures_util::io::ReadHalf<MaybeTls<S>>>;
/// The sending half of an upgradable connection.
pub type TlsWriter<S> = Writer<futures_util::io::WriteHalf<MaybeTls<S>>>;

pub(crate) fn split<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: MaybeTls<S>,
) -> (TlsReader<S>, TlsWriter<S>) {
    crate::transport::split(stream)
}

/// The receiving half of an upgradable connection.
pub type UpgradableReader<S> = TlsReader<S>;
/// The sending half of an upgradable connection.
pub type UpgradableWriter<S> = TlsWriter<S>;

/// A transport handed to another protocol by a switch: the stream, and
/// every byte read from it after the box that switched (to be read first).
#[derive(Debug)]
pub struct Switched<S> {
    /// The stream (plain, or TLS if it was upgraded before).
    pub stream: MaybeTls<S>,
    /// The bytes read after the switch.
    pub leftover: BytesMut,
}

impl<S> Switched<S> {
    /// The stream, reading the bytes read after the switch first.
    ///
    /// ```
    /// use futures_util::io::AsyncReadExt;
    /// # futures_executor::block_on(async {
    /// let (a, _b) = amp_async_std::pipe();
    /// let switched = amp_async_std::upgradable::Switched {
    ///     stream: amp_async_std::upgradable::MaybeTls::Plain(a),
    ///     leftover: "early".into(),
    /// };
    /// let mut first = [0; 5];
    /// switched.into_stream().read_exact(&mut first).await.unwrap();
    /// assert_eq!(&first, b"early");
    /// # });
    /// ```
    pub fn into_stream(self) -> Rewind<MaybeTls<S>> {
        Rewind::new(self.leftover, self.stream)
    }
}

/// What takes over the transport after this side answered a switch.
type Handler<S> = Arc<dyn Fn(Switched<S>) + Send + Sync>;

/// Where this side's switch call sends the transport.
struct SwitchTo<S>(oneshot::Sender<Switched<S>>);

/// The engine's [`Upgrader`] over futures-io: TLS (with the `tls` feature) and
/// protocol switches.
pub struct Upgrades<S> {
    #[cfg(feature = "tls")]
    pub(crate) answer_tls: Option<amp_engine::tls::ServerTls>,
    switches: HashMap<Bytes, Handler<S>>,
}

impl<S> Clone for Upgrades<S> {
    fn clone(&self) -> Self {
        Upgrades {
            #[cfg(feature = "tls")]
            answer_tls: self.answer_tls.clone(),
            switches: self.switches.clone(),
        }
    }
}

impl<S> Default for Upgrades<S> {
    fn default() -> Self {
        Upgrades {
            #[cfg(feature = "tls")]
            answer_tls: None,
            switches: HashMap::new(),
        }
    }
}

impl<S> fmt::Debug for Upgrades<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgrades")
            .field("switches", &self.switches.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl<S> Upgrades<S> {
    /// No switch answered (and no `StartTLS`); this side may still call
    /// [`switch_protocol`] (and, with TLS, `start_tls`).
    ///
    /// ```
    /// let upgrades = amp_async_std::upgradable::Upgrades::<amp_async_std::Pipe>::new();
    /// # drop(upgrades);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers requests for `command` as Twisted's `ProtocolSwitchCommand`:
    /// once the connection's responder for `command` has answered without
    /// an error, `take_over` gets the transport and every byte read after
    /// the request (the AMP connection ends with
    /// [`ConnectionError::ProtocolSwitched`](amp_core::ConnectionError::ProtocolSwitched)).
    /// The responder itself is registered as any other.
    ///
    /// ```
    /// let upgrades = amp_async_std::upgradable::Upgrades::<amp_async_std::Pipe>::new()
    ///     .switch("SwitchToEcho", |switched| drop(switched));
    /// # drop(upgrades);
    /// ```
    pub fn switch(
        mut self,
        command: &str,
        take_over: impl Fn(Switched<S>) + Send + Sync + 'static,
    ) -> Self {
        self.switches.insert(
            Bytes::copy_from_slice(command.as_bytes()),
            Arc::new(take_over),
        );
        self
    }
}

fn reunite<S: AsyncRead + AsyncWrite + Unpin>(
    reader: UpgradableReader<S>,
    writer: UpgradableWriter<S>,
) -> Result<MaybeTls<S>, String> {
    reader
        .into_inner()
        .reunite(writer.0)
        .map_err(|_| "the halves are not of one stream".to_owned())
}

impl<S> Upgrader<UpgradableReader<S>, UpgradableWriter<S>> for Upgrades<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    fn commands(&self) -> Vec<Bytes> {
        #[allow(unused_mut)]
        let mut commands: Vec<Bytes> = self.switches.keys().cloned().collect();
        #[cfg(feature = "tls")]
        if self.answer_tls.is_some() {
            commands.push(Bytes::from_static(amp_engine::tls::START_TLS.as_bytes()));
        }
        commands
    }

    async fn upgrade(
        &mut self,
        reader: UpgradableReader<S>,
        writer: UpgradableWriter<S>,
        leftover: BytesMut,
        how: Upgrade,
    ) -> Result<Option<Upgraded<UpgradableReader<S>, UpgradableWriter<S>>>, String> {
        let how = match how {
            Upgrade::Answered { command } if self.switches.contains_key(&command) => {
                let stream = reunite(reader, writer)?;
                (self.switches[&command])(Switched { stream, leftover });
                return Ok(None);
            }
            Upgrade::Called(how) => match how.downcast::<SwitchTo<S>>() {
                Ok(to) => {
                    let stream = reunite(reader, writer)?;
                    let _ = to.0.send(Switched { stream, leftover });
                    return Ok(None);
                }
                Err(how) => Upgrade::Called(how),
            },
            how => how,
        };
        #[cfg(feature = "tls")]
        {
            crate::tls::upgrade(self.answer_tls.as_ref(), reader, writer, leftover, how).await
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = (reader, writer, leftover, how);
            Err("nothing to upgrade to (built without the tls feature)".to_owned())
        }
    }
}

/// Runs AMP over `stream`, its transport upgradable: switched to another
/// protocol by [`switch_protocol`] or by a peer's switch that `upgrades`
/// answers (and with TLS, see [`crate::tls`]).
///
/// ```
/// let (a, _b) = amp_async_std::pipe();
/// let peer = amp_async_std::upgradable::from_stream(
///     amp_async_std::Spawner(|task| drop(task)),
///     a, None, amp_async_std::Responders::new(), Default::default(),
///     amp_async_std::upgradable::Upgrades::new(),
/// );
/// assert!(!peer.is_upgraded());
/// ```
pub fn from_stream<Rt, S>(
    runtime: Rt,
    stream: S,
    addr: Option<SocketAddr>,
    responders: Responders,
    options: Options,
    upgrades: Upgrades<S>,
) -> Peer
where
    Rt: Runtime,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    start(runtime, stream, addr, responders, options, upgrades, None)
}

pub(crate) fn start<Rt, S>(
    runtime: Rt,
    stream: S,
    addr: Option<SocketAddr>,
    responders: Responders,
    options: Options,
    upgrades: Upgrades<S>,
    first: Option<Upgrade>,
) -> Peer
where
    Rt: Runtime,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (reader, writer) = split(MaybeTls::Plain(stream));
    amp_engine::spawn_upgradable(
        &runtime, reader, writer, addr, responders, options, upgrades, first,
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
/// # async fn f(peer: amp_async_std::Peer) -> Result<(), amp_engine::UpgradeError> {
/// let (_answer, switched) = amp_async_std::upgradable::switch_protocol::<async_net::TcpStream>(
///     &peer, "SwitchToEcho", amp_core::AmpBox::new(),
/// ).await?;
/// # Ok(()) }
/// ```
pub async fn switch_protocol<S: Send + 'static>(
    peer: &Peer,
    command: &str,
    arguments: AmpBox,
) -> Result<(AmpBox, Switched<S>), UpgradeError> {
    let (to, switched) = oneshot::channel();
    let answer = peer
        .call_switching(command, arguments, Box::new(SwitchTo::<S>(to)))
        .await?;
    match switched.await {
        Ok(switched) => Ok((answer, switched)),
        Err(_) => Err(UpgradeError::Failed(
            amp_core::ConnectionError::UpgradeFailed(
                "the connection's transport is not of the type asked for".to_owned(),
            ),
        )),
    }
}

/// A TCP listener whose connections are upgradable: they answer the
/// switches (and, with TLS, the `StartTLS`) of its [`Upgrades`]. Served by
/// the engine's one [`Server`](amp_engine::Server) ([`UpgradableServer`]).
#[derive(Debug)]
pub struct UpgradableListener {
    listener: async_net::TcpListener,
    upgrades: Upgrades<async_net::TcpStream>,
}

impl UpgradableListener {
    /// Connections of `listener`, answering what `upgrades` answers.
    ///
    /// ```no_run
    /// # async fn f() -> std::io::Result<()> {
    /// let listener = async_net::TcpListener::bind("127.0.0.1:0").await?;
    /// let listener = amp_async_std::upgradable::UpgradableListener::new(
    ///     listener,
    ///     amp_async_std::upgradable::Upgrades::new().switch("SwitchToEcho", |s| drop(s)),
    /// );
    /// # Ok(()) }
    /// ```
    pub fn new(listener: async_net::TcpListener, upgrades: Upgrades<async_net::TcpStream>) -> Self {
        UpgradableListener { listener, upgrades }
    }
}

impl amp_engine::Listener for UpgradableListener {
    type Reader = UpgradableReader<async_net::TcpStream>;
    type Writer = UpgradableWriter<async_net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&self) -> io::Result<amp_engine::Accepted<Self::Reader, Self::Writer>> {
        let accepted = self.listener.accept().await?;
        Ok(amp_engine::Accepted::tcp(
            accepted,
            async_net::TcpStream::set_nodelay,
            |s| split(MaybeTls::Plain(s)),
        ))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    fn serve<Rt: Runtime>(
        &self,
        runtime: &Rt,
        accepted: amp_engine::Accepted<Self::Reader, Self::Writer>,
        responders: Responders,
        options: Options,
    ) -> Peer {
        #[cfg(feature = "tls")]
        let responders = match self.upgrades.answer_tls {
            Some(_) => amp_engine::tls::answer_start_tls(responders),
            None => responders,
        };
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
pub type UpgradableServer<Rt> = amp_engine::Server<Rt, UpgradableListener>;

/// Binds a server whose connections answer what `upgrades` answers;
/// `factory` makes each connection's responders.
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// let upgrades = amp_async_std::upgradable::Upgrades::new().switch("SwitchToEcho", |s| drop(s));
/// let server = amp_async_std::upgradable::bind(
///     amp_async_std::AsyncStd, "127.0.0.1:0", upgrades, |_| amp_async_std::Responders::new(),
/// ).await?;
/// server.run().await
/// # }
/// ```
pub async fn bind<Rt, F>(
    runtime: Rt,
    addr: impl async_net::AsyncToSocketAddrs,
    upgrades: Upgrades<async_net::TcpStream>,
    factory: F,
) -> io::Result<UpgradableServer<Rt>>
where
    Rt: Runtime,
    F: Fn(SocketAddr) -> Responders + Send + Sync + 'static,
{
    let listener = async_net::TcpListener::bind(addr).await?;
    Ok(UpgradableServer::new(
        runtime,
        UpgradableListener::new(listener, upgrades),
        factory,
    ))
}
