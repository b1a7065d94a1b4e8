//! AMP over UNIX stream sockets (Twisted's `connectUNIX` and `listenUNIX`):
//! connect to a socket path, or serve on one with the engine's one
//! [`Server`](amp_engine::Server). A UNIX peer has no IP address, so the
//! server's factory gets `()` and [`Peer::peer_addr`] is `None`.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use amp_engine::{Accepted, Listener, Responders, Split};
use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::UnixStream;

use crate::transport::{Reader, Writer};
use crate::{Options, Peer, Tokio};

/// Connects to the UNIX socket at `path` and serves `responders` on the
/// connection.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// let dir = std::env::temp_dir().join(format!("amp-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("connect.sock");
/// # let _ = std::fs::remove_file(&path);
/// let server = amp_tokio::unix::bind(&path, |_| amp_tokio::Responders::new())?;
/// tokio::spawn(server.run());
/// let peer = amp_tokio::unix::connect(&path, amp_tokio::Responders::new()).await?;
/// let answer = peer.call_remote("Nope", amp_core::AmpBox::new()).await;
/// assert!(matches!(answer, Err(amp_core::CallError::Remote(e)) if e.code == "UNHANDLED"));
/// # std::fs::remove_dir_all(&dir)?; Ok(()) }
/// ```
pub async fn connect(path: impl AsRef<Path>, responders: Responders) -> io::Result<Peer> {
    connect_with(path, responders, Options::default()).await
}

/// [`connect`] with settings.
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// let options = amp_tokio::Options::default().max_responders(16);
/// let peer = amp_tokio::unix::connect_with("/run/amp.sock", amp_tokio::Responders::new(), options).await?;
/// # Ok(()) }
/// ```
pub async fn connect_with(
    path: impl AsRef<Path>,
    responders: Responders,
    options: Options,
) -> io::Result<Peer> {
    let stream = UnixStream::connect(path).await?;
    Ok(crate::from_stream_with(stream, None, responders, options))
}

/// A tokio UNIX socket listener, as the [`Server`](amp_engine::Server)
/// accepts from it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// let path = std::env::temp_dir().join(format!("amp-doc-listener-{}.sock", std::process::id()));
/// # let _ = std::fs::remove_file(&path);
/// let listener = amp_tokio::unix::UnixListener::bind(&path)?;
/// assert_eq!(listener.path(), path);
/// let server = amp_tokio::unix::Server::new(amp_tokio::Tokio, listener, |addr| {
///     let () = addr; // UNIX peers have no address
///     amp_tokio::Responders::new()
/// });
/// # drop(server); std::fs::remove_file(&path)?; Ok(()) }
/// ```
#[derive(Debug)]
pub struct UnixListener {
    listener: tokio::net::UnixListener,
    path: PathBuf,
}

impl UnixListener {
    /// Listens on a new UNIX socket at `path` (which must not exist yet).
    /// Must be called inside a tokio runtime.
    ///
    /// See [`UnixListener`] for an example.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let listener = tokio::net::UnixListener::bind(&path)?;
        Ok(UnixListener { listener, path })
    }

    /// The socket's path.
    ///
    /// See [`UnixListener`] for an example.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Listener for UnixListener {
    type Reader = Reader<ReadHalf<UnixStream>>;
    type Writer = Writer<WriteHalf<UnixStream>>;
    /// UNIX peers have no address.
    type Addr = ();

    async fn accept(&self) -> io::Result<Accepted<Self::Reader, Self::Writer, ()>> {
        let (stream, _) = self.listener.accept().await?;
        let (reader, writer) = Tokio::split(stream);
        Ok(Accepted {
            reader,
            writer,
            addr: (),
        })
    }

    /// A UNIX socket has no IP address: always an error of kind
    /// `Unsupported` (its path is [`UnixListener::path`]).
    fn local_addr(&self) -> io::Result<SocketAddr> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "a UNIX socket listener ({}) has no IP address",
                self.path.display()
            ),
        ))
    }
}

/// An AMP server on a tokio UNIX socket: the engine's
/// [`Server`](amp_engine::Server) over a [`UnixListener`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// let path = std::env::temp_dir().join(format!("amp-doc-server-{}.sock", std::process::id()));
/// # let _ = std::fs::remove_file(&path);
/// let server = amp_tokio::unix::bind(&path, |_| amp_tokio::Responders::new())?.max_connections(100);
/// let stop = server.shutdown_handle();
/// let running = tokio::spawn(server.run());
/// stop.shutdown(std::time::Duration::from_secs(1)).await;
/// running.await.unwrap()?;
/// # std::fs::remove_file(&path)?; Ok(()) }
/// ```
pub type Server = amp_engine::Server<Tokio, UnixListener>;

/// Listens on a new UNIX socket at `path` (which must not exist yet);
/// `factory` builds each connection's responders (it gets `()`: UNIX
/// peers have no address). Must be called inside a tokio runtime; the
/// socket file stays when the server stops.
///
/// See [`Server`] for an example.
pub fn bind<F>(path: impl AsRef<Path>, factory: F) -> io::Result<Server>
where
    F: Fn(()) -> Responders + Send + Sync + 'static,
{
    Ok(Server::new(Tokio, UnixListener::bind(path)?, factory))
}
