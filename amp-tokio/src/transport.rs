//! tokio streams as the session's transport: the two halves the engine
//! (`amp_engine`) reads and writes, for code that drives the engine
//! itself (a router, say).

use std::future::Future;
use std::io;
use std::time::Duration;

use amp_engine::{ReadHalf, WriteHalf};
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The receiving half of a tokio stream, as the engine reads it.
pub struct Reader<R>(pub R);
/// The sending half of a tokio stream, as the engine writes it.
pub struct Writer<W>(pub W);

/// Splits a tokio stream into the engine's two transport halves.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (a, _b) = tokio::io::duplex(1024);
/// let (reader, writer) = amp_tokio::transport::split(a);
/// # drop((reader, writer)); }
/// ```
pub fn split<S: AsyncRead + AsyncWrite + Send + 'static>(
    stream: S,
) -> (
    Reader<tokio::io::ReadHalf<S>>,
    Writer<tokio::io::WriteHalf<S>>,
) {
    let (r, w) = tokio::io::split(stream);
    (Reader(r), Writer(w))
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
