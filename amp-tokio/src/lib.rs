//! AMP peers on tokio: connect, serve, call commands as futures, run async
//! responders concurrently.
//!
//! This crate is a binding: every protocol decision is in [`amp_core`], and
//! the connection engine (the [`Peer`] handle, pending calls, backpressure,
//! responders, the read and write loops, the server's accept loop) is
//! [`amp_engine`], shared with the futures-io binding. What is here: the
//! [`Tokio`] runtime (spawn, sleep), tokio's TCP listener and streams as the
//! transport, and on unix the other ways Twisted carries AMP: UNIX sockets
//! ([`unix`]), the process's own standard input and output ([`stdio`],
//! Twisted's `StandardIO`) and a child process's pipes ([`process`],
//! Twisted's `spawnProcess`).
//!
//! ```
//! use amp_tokio::Responders;
//!
//! amp_core::command! {
//!     pub struct Sum { pub a: i64, pub b: i64 } -> pub struct Total { pub total: i64 }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let (a, b) = tokio::io::duplex(64 * 1024);
//! let server = amp_tokio::from_stream(a, Responders::new().on(|_ctx, Sum { a, b }| async move {
//!     Ok(Total { total: a + b })
//! }));
//! let client = amp_tokio::from_stream(b, Responders::new());
//! let total = client.call(Sum { a: 13, b: 81 }).await.unwrap();
//! assert_eq!(total.total, 94);
//! # drop(server); }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "codec")]
pub mod codec;
mod maybe_tls;
#[cfg(unix)]
pub mod process;
mod server;
#[cfg(unix)]
pub mod stdio;
#[cfg(feature = "tls")]
pub mod tls;
pub mod transport;
#[cfg(unix)]
pub mod unix;
pub mod upgradable;

use std::net::SocketAddr;

pub use amp_core;
use amp_engine::connected_tcp;
pub use amp_engine::{Context, Options, Peer, Responders, ShutdownHandle};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, ToSocketAddrs};

pub use server::{Server, TcpListener, Tokio, bind};
pub use transport::tcp_split;

/// Connects to `addr` over TCP and serves `responders` on the connection.
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// let peer = amp_tokio::connect("127.0.0.1:1234", amp_tokio::Responders::new()).await?;
/// # Ok(()) }
/// ```
pub async fn connect(addr: impl ToSocketAddrs, responders: Responders) -> std::io::Result<Peer> {
    connect_with(addr, responders, Options::default()).await
}

/// [`connect`] with settings.
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// let peer = amp_tokio::connect_with(
///     "127.0.0.1:1234",
///     amp_tokio::Responders::new(),
///     amp_tokio::Options::default().max_responders(16),
/// )
/// .await?;
/// # Ok(()) }
/// ```
pub async fn connect_with(
    addr: impl ToSocketAddrs,
    responders: Responders,
    options: Options,
) -> std::io::Result<Peer> {
    let stream = TcpStream::connect(addr).await?;
    let peer = connected_tcp(&stream, TcpStream::set_nodelay, TcpStream::peer_addr)?;
    let (reader, writer) = tcp_split(stream);
    Ok(amp_engine::spawn(
        &Tokio, reader, writer, peer, responders, options,
    ))
}

/// Runs AMP over any stream (a UNIX socket, TLS, an in-memory duplex) with
/// `responders` answering the peer's calls. Spawns the connection's two
/// tasks, so it must be called inside a tokio runtime.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (a, b) = tokio::io::duplex(64 * 1024);
/// let left = amp_tokio::from_stream(a, amp_tokio::Responders::new());
/// let right = amp_tokio::from_stream(b, amp_tokio::Responders::new());
/// let answer = left.call_remote("Nope", amp_core::AmpBox::new()).await;
/// assert!(matches!(answer, Err(amp_core::CallError::Remote(e)) if e.code == "UNHANDLED"));
/// # drop(right); }
/// ```
pub fn from_stream<S>(stream: S, responders: Responders) -> Peer
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    from_stream_with(stream, None, responders, Options::default())
}

/// [`from_stream`] with settings and the peer's address, if known.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (a, _b) = tokio::io::duplex(1024);
/// let peer = amp_tokio::from_stream_with(a, None, amp_tokio::Responders::new(), Default::default());
/// assert!(peer.peer_addr().is_none());
/// # }
/// ```
pub fn from_stream_with<S>(
    stream: S,
    addr: Option<SocketAddr>,
    responders: Responders,
    options: Options,
) -> Peer
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    amp_engine::from_stream_with(Tokio, stream, addr, responders, options)
}

/// The tower chapter of the guide, compiled and run as doctests.
#[cfg(all(doctest, feature = "tower"))]
#[doc = include_str!("../../docs/tower.md")]
pub struct TowerDoctests;

/// The guide's tokio chapter, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/tokio.md")]
pub struct GuideDoctests;

/// The transports chapter (UNIX sockets, stdio, child processes), its
/// tokio samples compiled and run as doctests.
#[cfg(all(doctest, unix))]
#[doc = include_str!("../../docs/transports.md")]
pub struct TransportsDoctests;
