//! Serving AMP on an `async-net` TCP listener (async-std and smol alike).
//! The accept loop, the connection cap and the graceful shutdown are
//! [`amp_engine::Server`]'s; what is here is the listener.

use std::io;
use std::net::SocketAddr;

use amp_engine::{Responders, Runtime};
use async_net::{AsyncToSocketAddrs, TcpStream};

use crate::transport::{self, Reader, TcpWriter};

amp_engine::tcp_listener! {
    /// An `async-net` TCP listener, as a server accepts from it: each
    /// connection with `TCP_NODELAY` set.
    ///
    /// ```
    /// # async_std::task::block_on(async {
    /// let listener: amp_async_std::TcpListener = async_net::TcpListener::bind("127.0.0.1:0").await?.into();
    /// let server = amp_async_std::Server::new(amp_async_std::AsyncStd, listener, |_| amp_async_std::Responders::new());
    /// assert!(server.local_addr()?.port() > 0);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub struct TcpListener(async_net::TcpListener);
    stream: TcpStream,
    halves: transport::tcp_split => (Reader<TcpStream>, TcpWriter),
}

/// An AMP server over `async-net`, its connections run on `Rt`
/// ([`AsyncStd`](crate::AsyncStd), [`Smol`](crate::Smol),
/// [`Spawner`](crate::Spawner)). See [`amp_engine::Server`] for its
/// settings and [`run`](amp_engine::Server::run).
///
/// ```
/// # use amp_core::Command;
/// # #[derive(serde::Serialize, serde::Deserialize)] pub struct SumArgs { a: i64, b: i64 }
/// # #[derive(serde::Serialize, serde::Deserialize)] pub struct Total { total: i64 }
/// # struct Sum; impl Command for Sum { const NAME: &'static str = "Sum"; type Arguments = SumArgs; type Response = Total; type Error = std::convert::Infallible; }
/// use amp_async_std::{AsyncStd, Responders};
///
/// # async_std::task::block_on(async {
/// let server = amp_async_std::bind(AsyncStd, "127.0.0.1:0", |_addr| {
///     Responders::new().responder(Sum, |_, a: SumArgs| async move {
///         Ok::<_, std::convert::Infallible>(Total { total: a.a + a.b })
///     })
/// })
/// .await?;
/// let addr = server.local_addr()?;
/// let stop = server.shutdown_handle();
/// let running = async_std::task::spawn(server.run());
///
/// let client = amp_async_std::connect(AsyncStd, addr, Responders::new()).await?;
/// assert_eq!(client.call_as::<Sum>(&SumArgs { a: 1, b: 2 }).await.unwrap().total, 3);
///
/// stop.shutdown(std::time::Duration::from_secs(1)).await;
/// running.await
/// # }).unwrap();
/// ```
pub type Server<Rt> = amp_engine::Server<Rt, TcpListener>;

/// Listens on `addr`; `factory` builds each connection's responders, which
/// run on `runtime` once the server [`run`](amp_engine::Server::run)s.
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// let server = amp_async_std::bind(amp_async_std::AsyncStd, "127.0.0.1:1234", |_| amp_async_std::Responders::new()).await?;
/// server.run().await
/// # }
/// ```
pub async fn bind<Rt, F>(
    runtime: Rt,
    addr: impl AsyncToSocketAddrs,
    factory: F,
) -> io::Result<Server<Rt>>
where
    Rt: Runtime,
    F: Fn(SocketAddr) -> Responders + Send + Sync + 'static,
{
    let listener = async_net::TcpListener::bind(addr).await?;
    Ok(Server::new(runtime, TcpListener(listener), factory))
}
