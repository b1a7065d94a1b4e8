//! AMP over UNIX stream sockets (Twisted's `connectUNIX` and `listenUNIX`):
//! connect to a socket path, or serve on one with the engine's one
//! [`Server`](amp_engine::Server). A UNIX peer has no IP address, so the
//! server's factory gets `()` and [`Peer::peer_addr`] is `None`.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use amp_engine::descriptors::Piece;
use amp_engine::{Accepted, Listener, ReceivedDescriptors, Responders};
use bytes::BytesMut;
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

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
    Ok(from_unix_stream(stream, responders, options))
}

/// Serves `responders` on a connected tokio UNIX stream (one end of
/// `UnixStream::pair`, say), passing descriptors: [`connect`] without the
/// connecting.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (a, b) = tokio::net::UnixStream::pair().unwrap();
/// let server = amp_tokio::unix::from_unix_stream(a, amp_tokio::Responders::new(), Default::default());
/// let client = amp_tokio::unix::from_unix_stream(b, amp_tokio::Responders::new(), Default::default());
/// let answer = client.call_remote("Nope", amp_core::AmpBox::new()).await;
/// assert!(matches!(answer, Err(amp_core::CallError::Remote(e)) if e.code == "UNHANDLED"));
/// # drop(server); }
/// ```
pub fn from_unix_stream(stream: UnixStream, responders: Responders, options: Options) -> Peer {
    let (reader, writer) = split(stream);
    amp_engine::spawn(&Tokio, reader, writer, None, responders, options)
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
    type Reader = UnixReader;
    type Writer = UnixWriter;
    /// UNIX peers have no address.
    type Addr = ();

    async fn accept(&self) -> io::Result<Accepted<Self::Reader, Self::Writer, ()>> {
        let (stream, _) = self.listener.accept().await?;
        let (reader, writer) = split(stream);
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

/// Bytes asked of the socket per read.
const CHUNK: usize = 16 * 1024;

/// Splits a UNIX stream into the engine's halves, which pass descriptors
/// (`SCM_RIGHTS`; see [`amp_core::descriptor`]): the reader uses `recvmsg`
/// and keeps what descriptors come, the writer sends each queued
/// descriptor with one byte in a `sendmsg` of its own and everything else
/// with plain writes.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use amp_engine::WriteHalf;
/// let (a, _b) = tokio::net::UnixStream::pair().unwrap();
/// let (_reader, writer) = amp_tokio::unix::split(a);
/// assert!(writer.passes_descriptors());
/// # }
/// ```
pub fn split(stream: UnixStream) -> (UnixReader, UnixWriter) {
    let (r, w) = stream.into_split();
    (
        UnixReader {
            inner: r,
            scratch: vec![0; CHUNK].into_boxed_slice(),
            got: ReceivedDescriptors::default(),
        },
        UnixWriter(w),
    )
}

/// The receiving half of a tokio UNIX stream (see [`split`]).
#[derive(Debug)]
pub struct UnixReader {
    inner: OwnedReadHalf,
    /// Where `recvmsg` reads (into initialised memory) before the bytes
    /// are appended to the session's buffer.
    scratch: Box<[u8]>,
    got: ReceivedDescriptors,
}

/// The sending half of a tokio UNIX stream (see [`split`]).
#[derive(Debug)]
pub struct UnixWriter(OwnedWriteHalf);

fn socket(stream: &UnixStream) -> BorrowedFd<'_> {
    stream.as_fd()
}

impl amp_engine::ReadHalf for UnixReader {
    // Cancel-safe: `async_io` runs the `recvmsg` inside one poll, and the
    // bytes it read are appended before that poll returns.
    async fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        let UnixReader {
            inner,
            scratch,
            got,
        } = self;
        let stream: &UnixStream = inner.as_ref();
        let n = stream
            .async_io(Interest::READABLE, || {
                amp_engine::descriptors::recv(socket(stream), scratch, got)
            })
            .await?;
        buf.extend_from_slice(&scratch[..n]);
        Ok(n)
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send + 'static {
        tokio::time::sleep(duration)
    }

    fn take_descriptors(&mut self) -> ReceivedDescriptors {
        std::mem::take(&mut self.got)
    }
}

impl amp_engine::WriteHalf for UnixWriter {
    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes).await?;
        self.0.flush().await
    }

    async fn close(&mut self) -> io::Result<()> {
        self.0.shutdown().await
    }

    fn passes_descriptors(&self) -> bool {
        true
    }

    async fn write_with_descriptors(
        &mut self,
        bytes: &[u8],
        fds: &[(usize, std::sync::Arc<std::os::fd::OwnedFd>)],
    ) -> io::Result<()> {
        for piece in amp_engine::descriptors::pieces(bytes, fds)? {
            match piece {
                Piece::Plain(plain) => self.0.write_all(plain).await?,
                Piece::WithDescriptor(byte, fd) => {
                    let stream: &UnixStream = self.0.as_ref();
                    stream
                        .async_io(Interest::WRITABLE, || {
                            amp_engine::descriptors::send(socket(stream), byte, fd)
                        })
                        .await?;
                }
            }
        }
        self.0.flush().await
    }
}
