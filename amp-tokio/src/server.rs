//! tokio as the engine's runtime, and serving AMP on a tokio TCP listener.
//! The accept loop, the connection cap and the graceful shutdown are
//! [`amp_engine::Server`]'s; what is here is tokio's part of them.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use amp_engine::{Responders, Runtime, Task};
use tokio::net::{TcpStream, ToSocketAddrs};

use crate::transport::{TcpReader, TcpWriter, tcp_split};

/// The tokio runtime the engine runs on: tasks with `tokio::spawn`, timers
/// with `tokio::time::sleep`. Must be used inside a tokio runtime.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use amp_engine::Runtime;
/// amp_tokio::Tokio.sleep(std::time::Duration::from_millis(1)).await;
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Tokio;

impl Runtime for Tokio {
    fn spawn(&self, task: Task) {
        tokio::spawn(task);
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + 'static {
        tokio::time::sleep(duration)
    }
}

amp_engine::tcp_listener! {
    /// A tokio TCP listener, as a server accepts from it: each connection with
    /// `TCP_NODELAY` set (AMP's boxes are small and answered at once).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
    /// let listener: amp_tokio::TcpListener = tokio::net::TcpListener::bind("127.0.0.1:0").await?.into();
    /// let server = amp_tokio::Server::new(amp_tokio::Tokio, listener, |_| amp_tokio::Responders::new());
    /// assert!(server.local_addr()?.port() > 0);
    /// # Ok(()) }
    /// ```
    pub struct TcpListener(tokio::net::TcpListener);
    stream: TcpStream,
    halves: tcp_split => (TcpReader, TcpWriter),
}

/// An AMP server on tokio: accepts TCP connections and serves each with the
/// responders its factory builds for it. See [`amp_engine::Server`] for its
/// settings ([`options`](amp_engine::Server::options),
/// [`max_connections`](amp_engine::Server::max_connections),
/// [`on_connection`](amp_engine::Server::on_connection)) and
/// [`run`](amp_engine::Server::run).
///
/// ```
/// # use amp_core::Command;
/// # #[derive(serde::Serialize, serde::Deserialize)] pub struct SumArgs { a: i64, b: i64 }
/// # #[derive(serde::Serialize, serde::Deserialize)] pub struct Total { total: i64 }
/// # struct Sum; impl Command for Sum { const NAME: &'static str = "Sum"; type Arguments = SumArgs; type Response = Total; type Error = std::convert::Infallible; }
/// use amp_tokio::Responders;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// let server = amp_tokio::bind("127.0.0.1:0", |_addr| {
///     Responders::new().responder(Sum, |_, a: SumArgs| async move {
///         Ok::<_, std::convert::Infallible>(Total { total: a.a + a.b })
///     })
/// })
/// .await?
/// .max_connections(10_000);
/// let addr = server.local_addr()?;
/// let stop = server.shutdown_handle();
/// let running = tokio::spawn(server.run());
///
/// let client = amp_tokio::connect(addr, Responders::new()).await?;
/// assert_eq!(client.call_as::<Sum>(&SumArgs { a: 1, b: 2 }).await.unwrap().total, 3);
///
/// stop.shutdown(std::time::Duration::from_secs(1)).await;
/// running.await.unwrap()?;
/// # Ok(()) }
/// ```
pub type Server = amp_engine::Server<Tokio, TcpListener>;

/// Listens on `addr`; `factory` builds each connection's responders. The
/// server runs on tokio once [`run`](amp_engine::Server::run).
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// let server = amp_tokio::bind("127.0.0.1:1234", |_| amp_tokio::Responders::new()).await?;
/// server.run().await
/// # }
/// ```
pub async fn bind<F>(addr: impl ToSocketAddrs, factory: F) -> io::Result<Server>
where
    F: Fn(SocketAddr) -> Responders + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind(addr).await?;
    Ok(Server::new(Tokio, TcpListener(listener), factory))
}
