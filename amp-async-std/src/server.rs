//! Serving AMP on a TCP listener.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use amp_engine::{LiveConnections, Options, Responders, ShutdownHandle};
use async_net::{AsyncToSocketAddrs, TcpListener};
use futures_util::future::{Either, select};

use crate::Spawn;

type Factory = Arc<dyn Fn(Option<SocketAddr>) -> Responders + Send + Sync>;

/// An AMP server: accepts TCP connections and serves each with the
/// responders its factory builds for it (once per connection, so each
/// connection can have state of its own, while what the factory captures is
/// shared).
///
/// ```
/// # use amp_core::Command;
/// # #[derive(serde::Serialize, serde::Deserialize)] pub struct SumArgs { a: i64, b: i64 }
/// # #[derive(serde::Serialize, serde::Deserialize)] pub struct Total { total: i64 }
/// # struct Sum; impl Command for Sum { const NAME: &'static str = "Sum"; type Arguments = SumArgs; type Response = Total; type Error = std::convert::Infallible; }
/// use amp_async_std::{AsyncStd, Responders, Server};
///
/// # async_std::task::block_on(async {
/// let server = Server::bind("127.0.0.1:0", |_addr| {
///     Responders::new().responder(Sum, |_, a: SumArgs| async move {
///         Ok::<_, std::convert::Infallible>(Total { total: a.a + a.b })
///     })
/// })
/// .await?;
/// let addr = server.local_addr()?;
/// let stop = server.shutdown_handle();
/// let running = async_std::task::spawn(server.run(AsyncStd));
///
/// let client = amp_async_std::connect(AsyncStd, addr, Responders::new()).await?;
/// assert_eq!(client.call::<Sum>(&SumArgs { a: 1, b: 2 }).await.unwrap().unwrap().total, 3);
///
/// stop.shutdown(std::time::Duration::from_secs(1)).await;
/// running.await
/// # }).unwrap();
/// ```
pub struct Server {
    listener: TcpListener,
    factory: Factory,
    options: Options,
    stop: ShutdownHandle,
    max_connections: usize,
}

impl Server {
    /// Listens on `addr`; `factory` builds each connection's responders.
    ///
    /// ```no_run
    /// # async fn f() -> std::io::Result<()> {
    /// let server = amp_async_std::Server::bind("127.0.0.1:1234", |_| amp_async_std::Responders::new()).await?;
    /// server.run(amp_async_std::AsyncStd).await
    /// # }
    /// ```
    pub async fn bind<F>(addr: impl AsyncToSocketAddrs, factory: F) -> io::Result<Server>
    where
        F: Fn(Option<SocketAddr>) -> Responders + Send + Sync + 'static,
    {
        Ok(Self::from_listener(TcpListener::bind(addr).await?, factory))
    }

    /// Serves on a listener already bound.
    ///
    /// ```no_run
    /// # async fn f() -> std::io::Result<()> {
    /// let listener = async_net::TcpListener::bind("127.0.0.1:0").await?;
    /// let server = amp_async_std::Server::from_listener(listener, |_| amp_async_std::Responders::new());
    /// # Ok(()) }
    /// ```
    pub fn from_listener<F>(listener: TcpListener, factory: F) -> Server
    where
        F: Fn(Option<SocketAddr>) -> Responders + Send + Sync + 'static,
    {
        Server {
            listener,
            factory: Arc::new(factory),
            options: Options::default(),
            stop: ShutdownHandle::default(),
            max_connections: usize::MAX,
        }
    }

    /// Settings for every connection.
    ///
    /// ```no_run
    /// # async fn f() -> std::io::Result<()> {
    /// let server = amp_async_std::Server::bind("127.0.0.1:0", |_| amp_async_std::Responders::new())
    ///     .await?
    ///     .options(amp_async_std::Options::default().max_responders(32));
    /// # Ok(()) }
    /// ```
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
    /// ```no_run
    /// # async fn f() -> std::io::Result<()> {
    /// let server = amp_async_std::Server::bind("127.0.0.1:0", |_| amp_async_std::Responders::new())
    ///     .await?
    ///     .max_connections(10_000);
    /// # Ok(()) }
    /// ```
    pub fn max_connections(mut self, n: usize) -> Self {
        // At least one: a server that may hold none would never serve.
        self.max_connections = n.max(1);
        self
    }

    /// The address the server listens on.
    ///
    /// ```no_run
    /// # async fn f(server: amp_async_std::Server) -> std::io::Result<()> {
    /// println!("listening on {}", server.local_addr()?);
    /// # Ok(()) }
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle that stops this server gracefully.
    ///
    /// ```no_run
    /// # async fn f(server: amp_async_std::Server) {
    /// let stop = server.shutdown_handle();
    /// # }
    /// ```
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.stop.clone()
    }

    /// Accepts and serves connections until shut down (at most
    /// [`max_connections`](Self::max_connections) at once), spawning each
    /// connection's tasks with `spawner`. An error accepting one connection
    /// (too many open files, say) is not fatal: the server waits a moment
    /// and goes on.
    ///
    /// ```no_run
    /// # async fn f(server: amp_async_std::Server) -> std::io::Result<()> {
    /// server.run(amp_async_std::AsyncStd).await
    /// # }
    /// ```
    pub async fn run(self, spawner: impl Spawn) -> io::Result<()> {
        let live = LiveConnections::default();
        let mut asked = Box::pin(self.stop.asked());
        let grace = loop {
            if let Either::Right((grace, _)) =
                select(Box::pin(live.room(self.max_connections)), asked.as_mut()).await
            {
                break grace;
            }
            let accept = Box::pin(self.listener.accept());
            match select(accept, asked.as_mut()).await {
                Either::Left((Ok((stream, addr)), _)) => {
                    let _ = stream.set_nodelay(true);
                    let responders = (self.factory)(Some(addr));
                    let peer = crate::from_stream_with(
                        spawner.clone(),
                        stream,
                        Some(addr),
                        responders,
                        self.options.clone(),
                    );
                    // The server's handle keeps the connection open until
                    // it ends.
                    spawner.spawn(Box::pin(live.hold(peer)));
                }
                Either::Left((Err(_), _)) => {
                    // Out of descriptors, say: not fatal, wait a moment.
                    async_io::Timer::after(Duration::from_millis(50)).await;
                }
                Either::Right((grace, _)) => break grace,
            }
        };
        drop(self.listener);
        live.shutdown_all(async {
            async_io::Timer::after(grace).await;
        })
        .await;
        self.stop.finished();
        Ok(())
    }
}
