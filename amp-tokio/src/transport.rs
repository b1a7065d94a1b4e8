//! tokio streams as the session's transport: the two halves the engine
//! (`amp_engine`) reads and writes, for code that drives the engine
//! itself (a router, say).

use std::future::Future;
use std::io;
use std::time::Duration;

use amp_engine::{ReadHalf, Split, WriteHalf};

use crate::Tokio;
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The receiving half of a tokio stream, as the engine reads it.
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
