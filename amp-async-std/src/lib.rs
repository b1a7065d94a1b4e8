//! AMP peers over the `futures-io` traits, for async-std and smol.
//!
//! This crate is a binding, as `amp-tokio` is: every protocol decision is in
//! [`amp_core`], and the connection engine (the [`Peer`] handle, pending
//! calls, backpressure, responders, the read and write loops) is
//! `amp_engine`. What is here: any `futures-io` stream as the
//! transport, TCP through `async-net` and timers through `async-io` (both
//! work under async-std and smol), and a small [`Spawn`] abstraction that
//! runs a connection's two tasks on the runtime you use: [`AsyncStd`]
//! (feature `async-std`, on by default) or [`Smol`] (feature `smol`), or any
//! function that spawns.
//!
//! ```
//! use amp_core::Command;
//! use amp_async_std::{AsyncStd, Responders};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)] struct SumArgs { a: i64, b: i64 }
//! #[derive(Serialize, Deserialize)] struct Total { total: i64 }
//! struct Sum;
//! impl Command for Sum {
//!     const NAME: &'static str = "Sum";
//!     type Arguments = SumArgs; type Response = Total; type Error = std::convert::Infallible;
//! }
//!
//! # async_std::task::block_on(async {
//! let (a, b) = amp_async_std::pipe();
//! let server = amp_async_std::from_stream(AsyncStd, a, Responders::new().responder(Sum, |_ctx, args: SumArgs| async move {
//!     Ok::<_, std::convert::Infallible>(Total { total: args.a + args.b })
//! }));
//! let client = amp_async_std::from_stream(AsyncStd, b, Responders::new());
//! let total = client.call::<Sum>(&SumArgs { a: 13, b: 81 }).await.unwrap().unwrap();
//! assert_eq!(total.total, 94);
//! # drop(server); });
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod server;
pub mod transport;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

pub use amp_core;
pub use amp_engine::{Context, Options, Peer, Responders, ShutdownHandle};
use async_net::{AsyncToSocketAddrs, TcpStream};
use futures_io::{AsyncRead, AsyncWrite};

pub use server::Server;
pub use transport::{Pipe, pipe};

/// A task a connection needs run: its reading or its writing half.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Runs a connection's tasks on some executor.
///
/// Implemented by [`AsyncStd`], [`Smol`] and any `Fn(Task)`:
///
/// ```
/// let on_my_pool = |task: amp_async_std::Task| { async_std::task::spawn(task); };
/// let (a, _b) = amp_async_std::pipe();
/// let peer = amp_async_std::from_stream(on_my_pool, a, amp_async_std::Responders::new());
/// # drop(peer);
/// ```
pub trait Spawn: Clone + Send + Sync + 'static {
    /// Runs `task` to completion in the background.
    fn spawn(&self, task: Task);
}

impl<F: Fn(Task) + Clone + Send + Sync + 'static> Spawn for F {
    fn spawn(&self, task: Task) {
        self(task)
    }
}

/// Spawns on async-std.
#[cfg(feature = "async-std")]
#[derive(Clone, Copy, Debug, Default)]
pub struct AsyncStd;

#[cfg(feature = "async-std")]
impl Spawn for AsyncStd {
    fn spawn(&self, task: Task) {
        async_std::task::spawn(task);
    }
}

/// Spawns on smol's global executor.
#[cfg(feature = "smol")]
#[derive(Clone, Copy, Debug, Default)]
pub struct Smol;

#[cfg(feature = "smol")]
impl Spawn for Smol {
    fn spawn(&self, task: Task) {
        smol::spawn(task).detach();
    }
}

/// Connects to `addr` over TCP and serves `responders` on the connection,
/// its tasks spawned with `spawner`.
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// let peer = amp_async_std::connect(amp_async_std::AsyncStd, "127.0.0.1:1234", amp_async_std::Responders::new()).await?;
/// # Ok(()) }
/// ```
pub async fn connect(
    spawner: impl Spawn,
    addr: impl AsyncToSocketAddrs,
    responders: Responders,
) -> std::io::Result<Peer> {
    connect_with(spawner, addr, responders, Options::default()).await
}

/// [`connect`] with settings.
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// let peer = amp_async_std::connect_with(
///     amp_async_std::AsyncStd,
///     "127.0.0.1:1234",
///     amp_async_std::Responders::new(),
///     amp_async_std::Options::default().max_responders(16),
/// )
/// .await?;
/// # Ok(()) }
/// ```
pub async fn connect_with(
    spawner: impl Spawn,
    addr: impl AsyncToSocketAddrs,
    responders: Responders,
    options: Options,
) -> std::io::Result<Peer> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let addr = stream.peer_addr().ok();
    Ok(from_stream_with(spawner, stream, addr, responders, options))
}

/// Runs AMP over any `futures-io` stream with `responders` answering the
/// peer's calls, its tasks spawned with `spawner`.
///
/// ```
/// # async_std::task::block_on(async {
/// let (a, b) = amp_async_std::pipe();
/// let left = amp_async_std::from_stream(amp_async_std::AsyncStd, a, amp_async_std::Responders::new());
/// let right = amp_async_std::from_stream(amp_async_std::AsyncStd, b, amp_async_std::Responders::new());
/// let answer = left.call_remote("Nope", amp_core::AmpBox::new()).await;
/// assert!(matches!(answer, Err(amp_core::CallFailure::Remote(e)) if e.code == "UNHANDLED"));
/// # drop(right); });
/// ```
pub fn from_stream<S>(spawner: impl Spawn, stream: S, responders: Responders) -> Peer
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    from_stream_with(spawner, stream, None, responders, Options::default())
}

/// [`from_stream`] with settings and the peer's address, if known.
///
/// ```
/// # async_std::task::block_on(async {
/// let (a, _b) = amp_async_std::pipe();
/// let peer = amp_async_std::from_stream_with(amp_async_std::AsyncStd, a, None, amp_async_std::Responders::new(), Default::default());
/// assert!(peer.peer_addr().is_none());
/// # });
/// ```
pub fn from_stream_with<S>(
    spawner: impl Spawn,
    stream: S,
    addr: Option<SocketAddr>,
    responders: Responders,
    options: Options,
) -> Peer
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (reader, writer) = transport::split(stream);
    let (peer, reading, writing) = amp_engine::start(reader, writer, addr, responders, options);
    spawner.spawn(Box::pin(reading));
    spawner.spawn(Box::pin(writing));
    peer
}

/// Closes `peer` gracefully: starts no new responder (requests still arriving
/// get a non-fatal `SHUTTING_DOWN` error), lets the running ones finish (for
/// at most `grace`), writes their answers, closes.
/// Returns why the connection ended.
///
/// ```
/// # async_std::task::block_on(async {
/// let (a, _b) = amp_async_std::pipe();
/// let peer = amp_async_std::from_stream(amp_async_std::AsyncStd, a, amp_async_std::Responders::new());
/// let reason = amp_async_std::shutdown(&peer, std::time::Duration::from_secs(1)).await;
/// assert_eq!(reason, amp_core::ConnectionError::Closed);
/// # });
/// ```
pub async fn shutdown(peer: &Peer, grace: Duration) -> amp_core::ConnectionError {
    use futures_util::future::{Either, select};
    let timer = async_io::Timer::after(grace);
    match select(Box::pin(peer.shutdown()), timer).await {
        Either::Left((reason, _)) => reason,
        Either::Right(_) => {
            peer.close();
            peer.closed().await
        }
    }
}
