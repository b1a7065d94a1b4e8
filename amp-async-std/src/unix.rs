//! AMP over UNIX stream sockets through `async-net` (async-std and smol
//! alike), as Twisted's `connectUNIX` and `listenUNIX`: connect to a socket
//! path, or serve on one with the engine's one
//! [`Server`](amp_engine::Server). A UNIX peer has no IP address, so the
//! server's factory gets `()` and [`Peer::peer_addr`] is `None`.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::time::Duration;

use amp_engine::descriptors::Piece;
use amp_engine::{Accepted, Listener, ReceivedDescriptors, Responders, Runtime, Split};
use async_io::Async;
use async_net::unix::UnixStream;
use bytes::BytesMut;

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
    Ok(from_unix_stream(&runtime, stream, responders, options))
}

/// Serves `responders` on a connected UNIX stream (one end of
/// `UnixStream::pair`, say) on `runtime`, passing descriptors: `connect`
/// without the connecting.
///
/// ```
/// use amp_async_std::AsyncStd;
/// async_std::task::block_on(async {
///     let (a, b) = async_net::unix::UnixStream::pair().unwrap();
///     let server = amp_async_std::unix::from_unix_stream(&AsyncStd, a, amp_async_std::Responders::new(), Default::default());
///     let client = amp_async_std::unix::from_unix_stream(&AsyncStd, b, amp_async_std::Responders::new(), Default::default());
///     let answer = client.call_remote("Nope", amp_core::AmpBox::new()).await;
///     assert!(matches!(answer, Err(amp_core::CallError::Remote(e)) if e.code == "UNHANDLED"));
///     drop(server);
/// });
/// ```
pub fn from_unix_stream(
    runtime: &impl Runtime,
    stream: UnixStream,
    responders: Responders,
    options: Options,
) -> Peer {
    let (reader, writer) = split(stream);
    amp_engine::spawn(runtime, reader, writer, None, responders, options)
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

/// Bytes asked of the socket per read.
const CHUNK: usize = 64 * 1024;

type Socket = Arc<Async<std::os::unix::net::UnixStream>>;

/// Splits a UNIX stream into the engine's halves, which pass descriptors
/// (`SCM_RIGHTS`; see [`amp_core::descriptor`]): the reader uses `recvmsg`
/// and keeps what descriptors come, the writer sends each queued
/// descriptor with one byte in a `sendmsg` of its own and everything else
/// with plain writes.
///
/// ```
/// use amp_engine::WriteHalf;
/// let (a, _b) = async_net::unix::UnixStream::pair().unwrap();
/// let (_reader, writer) = amp_async_std::unix::split(a);
/// assert!(writer.passes_descriptors());
/// ```
pub fn split(stream: UnixStream) -> (UnixReader, UnixWriter) {
    let socket: Socket = stream.into();
    (
        UnixReader {
            socket: Arc::clone(&socket),
            scratch: vec![0; CHUNK].into_boxed_slice(),
            got: ReceivedDescriptors::default(),
        },
        UnixWriter(socket),
    )
}

/// The receiving half of a UNIX stream (see [`split`]).
#[derive(Debug)]
pub struct UnixReader {
    socket: Socket,
    /// Where `recvmsg` reads (into initialised memory) before the bytes
    /// are appended to the session's buffer.
    scratch: Box<[u8]>,
    got: ReceivedDescriptors,
}

/// The sending half of a UNIX stream (see [`split`]).
#[derive(Debug)]
pub struct UnixWriter(Socket);

fn fd(stream: &std::os::unix::net::UnixStream) -> BorrowedFd<'_> {
    stream.as_fd()
}

impl amp_engine::ReadHalf for UnixReader {
    // Cancel-safe: `read_with` runs the `recvmsg` inside one poll, and the
    // bytes it read are appended before that poll returns.
    async fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        let UnixReader {
            socket,
            scratch,
            got,
        } = self;
        let n = socket
            .read_with(|s| amp_engine::descriptors::recv(fd(s), scratch, got))
            .await?;
        buf.extend_from_slice(&scratch[..n]);
        Ok(n)
    }

    async fn sleep(duration: Duration) {
        async_io::Timer::after(duration).await;
    }

    fn take_descriptors(&mut self) -> ReceivedDescriptors {
        std::mem::take(&mut self.got)
    }
}

impl amp_engine::WriteHalf for UnixWriter {
    async fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let n = self.0.write_with(|mut s| s.write(bytes)).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            bytes = &bytes[n..];
        }
        Ok(())
    }

    async fn close(&mut self) -> io::Result<()> {
        self.0.get_ref().shutdown(std::net::Shutdown::Write)
    }

    fn passes_descriptors(&self) -> bool {
        true
    }

    async fn write_with_descriptors(
        &mut self,
        bytes: &[u8],
        fds: &[(usize, Arc<std::os::fd::OwnedFd>)],
    ) -> io::Result<()> {
        for piece in amp_engine::descriptors::pieces(bytes, fds)? {
            match piece {
                Piece::Plain(plain) => self.write_all(plain).await?,
                Piece::WithDescriptor(byte, passed) => {
                    self.0
                        .write_with(|s| amp_engine::descriptors::send(fd(s), byte, passed))
                        .await?;
                }
            }
        }
        Ok(())
    }
}
