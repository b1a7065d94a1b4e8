//! AMP peers over the `futures-io` traits, for async-std and smol.
//!
//! This crate is a binding, as `amp-tokio` is: every protocol decision is in
//! [`amp_core`], and the connection engine (the [`Peer`] handle, pending
//! calls, backpressure, responders, the read and write loops, the server's
//! accept loop) is [`amp_engine`]. What is here: any `futures-io` stream as
//! the transport, TCP through `async-net` and timers through `async-io`
//! (both work under async-std and smol), and the engine's [`Runtime`] for
//! the executor you use: [`AsyncStd`] (feature `async-std`, on by default),
//! [`Smol`] (feature `smol`), or any function that spawns ([`Spawner`]).
//! On unix, the other ways Twisted carries AMP too: UNIX sockets
//! ([`unix`]), the process's own standard input and output ([`stdio`],
//! Twisted's `StandardIO`) and a child process's pipes ([`process`],
//! Twisted's `spawnProcess`, through `async-process`).
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
//! let total = client.call_as::<Sum>(&SumArgs { a: 13, b: 81 }).await.unwrap();
//! assert_eq!(total.total, 94);
//! # drop(server); });
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

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

use std::future::Future;
use std::time::Duration;

pub use amp_core;
use amp_engine::connected_tcp;
pub use amp_engine::{
    Context, Options, Peer, Responders, Runtime, ShutdownHandle, Split, Task, from_stream_with,
};
use async_net::{AsyncToSocketAddrs, TcpStream};

pub use server::{Server, TcpListener, bind};
pub use transport::{Pipe, pipe};

/// Any function that spawns a task, as the engine's runtime: tasks go to
/// the function, timers are `async-io`'s (which run under async-std, smol
/// and any executor).
///
/// ```
/// let on_my_pool = amp_async_std::Spawner(|task: amp_async_std::Task| { async_std::task::spawn(task); });
/// let (a, _b) = amp_async_std::pipe();
/// let peer = amp_async_std::from_stream(on_my_pool, a, amp_async_std::Responders::new());
/// # drop(peer);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Spawner<F>(pub F);

/// `async-io`'s timer, for every runtime of this crate.
async fn sleep(duration: Duration) {
    async_io::Timer::after(duration).await;
}

impl<F: Fn(Task) + Clone + Send + Sync + 'static> Runtime for Spawner<F> {
    fn spawn(&self, task: Task) {
        (self.0)(task)
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + 'static {
        sleep(duration)
    }
}

/// async-std as the engine's runtime.
///
/// ```
/// use amp_engine::Runtime;
/// async_std::task::block_on(amp_async_std::AsyncStd.sleep(std::time::Duration::from_millis(1)));
/// ```
#[cfg(feature = "async-std")]
#[derive(Clone, Copy, Debug, Default)]
pub struct AsyncStd;

#[cfg(feature = "async-std")]
impl Runtime for AsyncStd {
    fn spawn(&self, task: Task) {
        async_std::task::spawn(task);
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + 'static {
        sleep(duration)
    }
}

/// smol's global executor as the engine's runtime.
///
/// ```
/// use amp_engine::Runtime;
/// smol::block_on(amp_async_std::Smol.sleep(std::time::Duration::from_millis(1)));
/// ```
#[cfg(feature = "smol")]
#[derive(Clone, Copy, Debug, Default)]
pub struct Smol;

#[cfg(feature = "smol")]
impl Runtime for Smol {
    fn spawn(&self, task: Task) {
        smol::spawn(task).detach();
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + 'static {
        sleep(duration)
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
    runtime: impl Split<TcpStream>,
    addr: impl AsyncToSocketAddrs,
    responders: Responders,
) -> std::io::Result<Peer> {
    connect_with(runtime, addr, responders, Options::default()).await
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
    runtime: impl Split<TcpStream>,
    addr: impl AsyncToSocketAddrs,
    responders: Responders,
    options: Options,
) -> std::io::Result<Peer> {
    let stream = TcpStream::connect(addr).await?;
    let peer = connected_tcp(&stream, TcpStream::set_nodelay, TcpStream::peer_addr)?;
    let (reader, writer) = transport::tcp_split(stream);
    Ok(amp_engine::spawn(
        &runtime, reader, writer, peer, responders, options,
    ))
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
/// assert!(matches!(answer, Err(amp_core::CallError::Remote(e)) if e.code == "UNHANDLED"));
/// # drop(right); });
/// ```
pub fn from_stream<Rt: Split<S>, S>(runtime: Rt, stream: S, responders: Responders) -> Peer {
    from_stream_with(runtime, stream, None, responders, Options::default())
}
