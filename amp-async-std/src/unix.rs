//! AMP over UNIX stream sockets through `async-net` (async-std and smol
//! alike), as Twisted's `connectUNIX` and `listenUNIX`: connect to a socket
//! path, or serve on one with the engine's one
//! [`Server`](amp_engine::Server). A UNIX peer has no IP address, so the
//! server's factory gets `()` and [`Peer::peer_addr`] is `None`.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use amp_engine::{Accepted, Listener, Responders, Runtime, Split};
use async_net::unix::UnixStream;
use futures_util::io::{ReadHalf, WriteHalf};

use crate::transport::{self, Reader, Writer};
use crate::{Options, Peer};

/// Connects to the UNIX socket at `path` and serves `responders` on the
/// connection, its tasks on `runtime`.
///
/// ```
/// use amp_async_std::{AsyncStd, Responders};
/// # async_std::task::block_on(async {
/// let path = std::env::temp_dir().join(format!("amp-doc-fio-{}.sock", std::process::id()));
/// # let _ = std::fs::remove_file(&path);
/// let server = amp_async_std::unix::bind(AsyncStd, &path, |_| Responders::new())?;
/// async_std::task::spawn(server.run());
/// let peer = amp_async_std::unix::connect(AsyncStd, &path, Responders::new()).await?;
/// let answer = peer.call_remote("Nope", amp_core::AmpBox::new()).await;
/// assert!(matches!(answer, Err(amp_core::CallError::Remote(e)) if e.code == "UNHANDLED"));
/// # std::fs::remove_file(&path)?; std::io::Result::Ok(()) }).unwrap();
/// ```
pub async fn connect(
    runtime: impl Split<UnixStream>,
    path: impl AsRef<Path>,
    responders: Responders,
) -> io::Result<Peer> {
    connect_with(runtime, path, responders, Options::default()).await
}

/// [`connect`] with settings.
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// let options = amp_async_std::Options::default().max_responders(16);
/// let peer = amp_async_std::unix::connect_with(
///     amp_async_std::AsyncStd, "/run/amp.sock", amp_async_std::Responders::new(), options,
/// ).await?;
/// # Ok(()) }
/// ```
pub async fn connect_with(
    runtime: impl Split<UnixStream>,
    path: impl AsRef<Path>,
    responders: Responders,
    options: Options,
) -> io::Result<Peer> {
    let stream = UnixStream::connect(path.as_ref()).await?;
    Ok(crate::from_stream_with(
        runtime, stream, None, responders, options,
    ))
}

/// An `async-net` UNIX socket listener, as the
/// [`Server`](amp_engine::Server) accepts from it.
///
/// ```
/// # async_std::task::block_on(async {
/// let path = std::env::temp_dir().join(format!("amp-doc-fio-listener-{}.sock", std::process::id()));
/// # let _ = std::fs::remove_file(&path);
/// let listener = amp_async_std::unix::UnixListener::bind(&path)?;
/// assert_eq!(listener.path(), path);
/// let server = amp_async_std::unix::Server::new(amp_async_std::AsyncStd, listener, |addr| {
///     let () = addr; // UNIX peers have no address
///     amp_async_std::Responders::new()
/// });
/// # drop(server); std::fs::remove_file(&path)?; std::io::Result::Ok(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct UnixListener {
    listener: async_net::unix::UnixListener,
    path: PathBuf,
}

impl UnixListener {
    /// Listens on a new UNIX socket at `path` (which must not exist yet).
    ///
    /// See [`UnixListener`] for an example.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let listener = async_net::unix::UnixListener::bind(&path)?;
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
        let (reader, writer) = transport::split(stream);
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

/// An AMP server on an `async-net` UNIX socket, its connections run on
/// `Rt`: the engine's [`Server`](amp_engine::Server) over a
/// [`UnixListener`].
///
/// ```
/// # async_std::task::block_on(async {
/// let path = std::env::temp_dir().join(format!("amp-doc-fio-server-{}.sock", std::process::id()));
/// # let _ = std::fs::remove_file(&path);
/// let server = amp_async_std::unix::bind(amp_async_std::AsyncStd, &path, |_| amp_async_std::Responders::new())?;
/// let stop = server.shutdown_handle();
/// let running = async_std::task::spawn(server.run());
/// stop.shutdown(std::time::Duration::from_secs(1)).await;
/// running.await?;
/// # std::fs::remove_file(&path)?; std::io::Result::Ok(()) }).unwrap();
/// ```
pub type Server<Rt> = amp_engine::Server<Rt, UnixListener>;

/// Listens on a new UNIX socket at `path` (which must not exist yet);
/// `factory` builds each connection's responders (it gets `()`: UNIX
/// peers have no address), which run on `runtime`. The socket file
/// stays when the server stops.
///
/// See [`Server`] for an example.
pub fn bind<Rt, F>(runtime: Rt, path: impl AsRef<Path>, factory: F) -> io::Result<Server<Rt>>
where
    Rt: Runtime,
    F: Fn(()) -> Responders + Send + Sync + 'static,
{
    Ok(Server::new(runtime, UnixListener::bind(path)?, factory))
}
