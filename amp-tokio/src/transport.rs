//! tokio streams as the session's transport: the two halves the engine
//! (`amp_engine`) reads and writes, for code that drives the engine
//! itself (a router, say).

use std::future::Future;
use std::io;
use std::time::Duration;

use std::sync::Arc;

use amp_engine::{DirectWrite, ReadHalf, Split, WriteHalf};

use crate::Tokio;
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// The receiving half of a tokio stream, as the engine reads it.
#[derive(Debug)]
pub struct Reader<R>(pub R);
/// The sending half of a tokio stream, as the engine writes it.
pub struct Writer<W>(pub W);

/// tokio carries AMP over any tokio stream: [`Tokio`]'s halves of it, as
/// the engine reads and writes them.
///
/// ```
/// use amp_engine::Split;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (a, _b) = tokio::io::duplex(1024);
/// let (reader, writer) = amp_tokio::Tokio::split(a);
/// # drop((reader, writer)); }
/// ```
impl<S: AsyncRead + AsyncWrite + Send + 'static> Split<S> for Tokio {
    type Reader = Reader<tokio::io::ReadHalf<S>>;
    type Writer = Writer<tokio::io::WriteHalf<S>>;

    fn split(stream: S) -> (Self::Reader, Self::Writer) {
        let (r, w) = tokio::io::split(stream);
        (Reader(r), Writer(w))
    }
}

impl<R: AsyncRead + Unpin + Send + 'static> ReadHalf for Reader<R> {
    // `read_buf` is cancel-safe: dropped before it completes, it read nothing.
    async fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        self.0.read_buf(buf).await
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send + 'static {
        tokio::time::sleep(duration)
    }
}

impl<W: AsyncWrite + Unpin + Send + 'static> WriteHalf for Writer<W> {
    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes).await?;
        self.0.flush().await
    }

    async fn close(&mut self) -> io::Result<()> {
        self.0.shutdown().await
    }
}

/// The receiving half of a tokio TCP stream (see [`tcp_split`]).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// use amp_engine::ReadHalf;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let stream = tokio::net::TcpStream::connect(listener.local_addr()?).await?;
/// let (mut reader, _writer) = amp_tokio::tcp_split(stream);
/// drop(listener.accept().await?); // the other end closes
/// assert_eq!(reader.read(&mut bytes::BytesMut::with_capacity(64)).await?, 0);
/// # Ok(()) }
/// ```
pub type TcpReader = Reader<OwnedReadHalf>;

/// The sending half of a tokio TCP stream (see [`tcp_split`]): the engine
/// writes through it, and also at once from the task that queued the bytes
/// ([`WriteHalf::direct`]), which saves waking the writer's task.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// use amp_engine::WriteHalf;
/// use tokio::io::AsyncReadExt;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let stream = tokio::net::TcpStream::connect(listener.local_addr()?).await?;
/// let (_reader, mut writer) = amp_tokio::tcp_split(stream);
/// writer.write_all(b"hi").await?;
/// writer.close().await?;
/// let mut got = Vec::new();
/// listener.accept().await?.0.read_to_end(&mut got).await?;
/// assert_eq!(got, b"hi");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TcpWriter(Arc<TcpSend>);

/// What [`TcpWriter`] writes with, shared with the engine's writes at once.
#[derive(Debug)]
struct TcpSend(OwnedWriteHalf);

/// Splits a tokio TCP stream into the halves the engine reads and writes:
/// what `amp_tokio::connect` and [`TcpListener`](crate::TcpListener) use.
/// Unlike [`Tokio::split`]'s halves of any stream, these take no lock per
/// read or write, and the sending half writes at once when it can.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// use amp_engine::WriteHalf;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let stream = tokio::net::TcpStream::connect(listener.local_addr()?).await?;
/// let (reader, writer) = amp_tokio::tcp_split(stream);
/// assert!(writer.direct().is_some());
/// let peer = amp_engine::spawn(&amp_tokio::Tokio, reader, writer, None, Default::default(), Default::default());
/// # drop(peer); Ok(()) }
/// ```
pub fn tcp_split(stream: TcpStream) -> (TcpReader, TcpWriter) {
    let (r, w) = stream.into_split();
    (Reader(r), TcpWriter(Arc::new(TcpSend(w))))
}

impl WriteHalf for TcpWriter {
    async fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        let stream: &TcpStream = self.0.0.as_ref();
        while !bytes.is_empty() {
            match stream.try_write(bytes) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => stream.writable().await?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn close(&mut self) -> io::Result<()> {
        let stream: &TcpStream = self.0.0.as_ref();
        socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Write)
    }

    fn direct(&self) -> Option<Arc<dyn DirectWrite>> {
        Some(self.0.clone())
    }
}

impl DirectWrite for TcpSend {
    fn try_write(&self, bytes: &[u8]) -> io::Result<usize> {
        self.0.try_write(bytes)
    }
}
