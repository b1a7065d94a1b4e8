//! tokio streams as the session's transport.

use std::io;

use amp_core::session::{ReadHalf, WriteHalf};
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub(crate) struct Reader<R>(pub R);
pub(crate) struct Writer<W>(pub W);

impl<R: AsyncRead + Unpin + Send + 'static> ReadHalf for Reader<R> {
    // `read_buf` is cancel-safe: dropped before it completes, it read nothing.
    async fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        self.0.read_buf(buf).await
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
