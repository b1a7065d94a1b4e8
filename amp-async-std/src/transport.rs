//! `futures-io` streams as the session's transport (for code that drives
//! the engine itself, a router say), and an in-memory pipe.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use amp_engine::{DirectWrite, ReadHalf, WriteHalf};
use async_io::Async;
use async_net::TcpStream;
use bytes::BytesMut;
use futures_io::{AsyncRead, AsyncWrite};
use futures_util::io::AsyncWriteExt;

/// Most bytes asked of the stream per read.
const CHUNK: usize = 64 * 1024;

/// Fewest bytes asked of the stream per read.
const MIN_READ: usize = 1024;

/// The receiving half of a `futures-io` stream, as the engine
/// (`amp_engine`) reads it.
pub struct Reader<R> {
    inner: R,
    /// Where reads land before they are appended to the session's buffer:
    /// `futures-io` reads into initialised memory, and zeroing the buffer's
    /// spare room on every read would cost more than copying what arrived.
    /// As large as the room the engine gives the read (which starts small
    /// and grows only while reads fill it), so that a quiet connection
    /// holds 1 KiB here, not a 64 KiB block zeroed when it was accepted.
    scratch: Box<[u8]>,
}

impl<R> Reader<R> {
    /// Wraps a `futures-io` reader.
    ///
    /// ```
    /// let (a, _b) = amp_async_std::pipe();
    /// let reader = amp_async_std::transport::Reader::new(a);
    /// # drop(reader);
    /// ```
    pub fn new(inner: R) -> Self {
        Reader {
            inner,
            scratch: Box::default(),
        }
    }

    /// The `futures-io` reader inside.
    ///
    /// ```
    /// let (a, _b) = amp_async_std::pipe();
    /// let reader = amp_async_std::transport::Reader::new(a);
    /// let _pipe = reader.into_inner();
    /// ```
    pub fn into_inner(self) -> R {
        self.inner
    }
}

/// The sending half of a `futures-io` stream, as the engine writes it.
pub struct Writer<W>(pub W);

/// The engine's two halves of a `futures-io` stream: what this crate's
/// runtimes' [`Split`](amp_engine::Split) gives, for a runtime of your own
/// to give the same.
///
/// ```
/// use amp_engine::{Runtime, Split, Task};
/// use amp_async_std::transport::{Reader, Writer};
/// use futures_util::io::{ReadHalf, WriteHalf};
///
/// #[derive(Clone)]
/// struct MyRuntime;
/// impl Runtime for MyRuntime {
///     fn spawn(&self, task: Task) { async_std::task::spawn(task); }
///     fn sleep(&self, d: std::time::Duration) -> impl Future<Output = ()> + Send + 'static {
///         async_std::task::sleep(d)
///     }
/// }
/// impl<S: futures_io::AsyncRead + futures_io::AsyncWrite + Send + 'static> Split<S> for MyRuntime {
///     type Reader = Reader<ReadHalf<S>>;
///     type Writer = Writer<WriteHalf<S>>;
///     fn split(stream: S) -> (Self::Reader, Self::Writer) {
///         amp_async_std::transport::split(stream)
///     }
/// }
/// let (a, _b) = amp_async_std::pipe();
/// let peer = amp_async_std::from_stream(MyRuntime, a, amp_async_std::Responders::new());
/// # drop(peer);
/// ```
pub fn split<S: AsyncRead + AsyncWrite + Send + 'static>(
    stream: S,
) -> (
    Reader<futures_util::io::ReadHalf<S>>,
    Writer<futures_util::io::WriteHalf<S>>,
) {
    use futures_util::io::AsyncReadExt;
    let (r, w) = stream.split();
    (Reader::new(r), Writer(w))
}

/// Each runtime of this crate carries AMP over any `futures-io` stream.
macro_rules! split_futures_io {
    ($($(#[$cfg:meta])* [$($bound:tt)*] $runtime:ty;)+) => {$(
        $(#[$cfg])*
        impl<S: AsyncRead + AsyncWrite + Send + 'static, $($bound)*> amp_engine::Split<S> for $runtime {
            type Reader = Reader<futures_util::io::ReadHalf<S>>;
            type Writer = Writer<futures_util::io::WriteHalf<S>>;
            fn split(stream: S) -> (Self::Reader, Self::Writer) {
                split(stream)
            }
        }
    )+};
}

split_futures_io! {
    #[cfg(feature = "async-std")]
    [] crate::AsyncStd;
    #[cfg(feature = "smol")]
    [] crate::Smol;
    [F: Fn(amp_engine::Task) + Clone + Send + Sync + 'static] crate::Spawner<F>;
}

impl<R: AsyncRead + Unpin + Send + 'static> ReadHalf for Reader<R> {
    // Cancel-safe: the bytes of a read are appended in the poll that
    // returns them, so a dropped read has read nothing.
    async fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        // As much as the engine made room for (as tokio's `read_buf` reads).
        let room = (buf.capacity() - buf.len()).clamp(MIN_READ, CHUNK);
        if room > self.scratch.len() || (buf.is_empty() && self.scratch.len() > 4 * room) {
            // Grown (by powers of two) for larger reads; given back once
            // the engine's reads have become small again (it starts each
            // burst's buffer empty).
            self.scratch = vec![0; room.next_power_of_two().min(CHUNK)].into_boxed_slice();
        }
        std::future::poll_fn(|cx| {
            let scratch = &mut self.scratch[..room];
            let n = match Pin::new(&mut self.inner).poll_read(cx, scratch) {
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            // A reader that claims more than it was given is not believed.
            let n = n.min(room);
            buf.extend_from_slice(&scratch[..n]);
            Poll::Ready(Ok(n))
        })
        .await
    }

    async fn sleep(duration: Duration) {
        async_io::Timer::after(duration).await;
    }
}

impl<W: AsyncWrite + Unpin + Send + 'static> WriteHalf for Writer<W> {
    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes).await?;
        self.0.flush().await
    }

    async fn close(&mut self) -> io::Result<()> {
        self.0.close().await
    }
}

/// The sending half of an `async-net` TCP stream (see [`tcp_split`]): the
/// engine writes through it, and also at once from the task that queued
/// the bytes ([`WriteHalf::direct`]), which saves waking the writer's task.
///
/// ```
/// # async_std::task::block_on(async {
/// use amp_engine::WriteHalf;
/// use futures_util::io::AsyncReadExt;
/// let listener = async_net::TcpListener::bind("127.0.0.1:0").await?;
/// let stream = async_net::TcpStream::connect(listener.local_addr()?).await?;
/// let (_reader, mut writer) = amp_async_std::transport::tcp_split(stream);
/// writer.write_all(b"hi").await?;
/// writer.close().await?;
/// let mut got = Vec::new();
/// listener.accept().await?.0.read_to_end(&mut got).await?;
/// assert_eq!(got, b"hi");
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct TcpWriter {
    stream: TcpStream,
    direct: Arc<TcpSend>,
}

/// What [`TcpWriter`] writes at once with: the same socket.
struct TcpSend(Arc<Async<std::net::TcpStream>>);

/// Splits an `async-net` TCP stream (async-std's and smol's) into the
/// halves the engine reads and writes: what `connect` and
/// [`TcpListener`](crate::TcpListener) use. Unlike [`split`]'s halves of any
/// stream, these share the socket without a lock, and the sending half
/// writes at once when it can.
///
/// ```
/// # async_std::task::block_on(async {
/// use amp_engine::WriteHalf;
/// let listener = async_net::TcpListener::bind("127.0.0.1:0").await?;
/// let stream = async_net::TcpStream::connect(listener.local_addr()?).await?;
/// let (reader, writer) = amp_async_std::transport::tcp_split(stream);
/// assert!(writer.direct().is_some());
/// let peer = amp_engine::spawn(&amp_async_std::AsyncStd, reader, writer, None, Default::default(), Default::default());
/// # drop(peer);
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub fn tcp_split(stream: TcpStream) -> (Reader<TcpStream>, TcpWriter) {
    let direct = Arc::new(TcpSend(stream.clone().into()));
    (Reader::new(stream.clone()), TcpWriter { stream, direct })
}

impl WriteHalf for TcpWriter {
    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    async fn close(&mut self) -> io::Result<()> {
        self.stream.close().await
    }

    fn direct(&self) -> Option<Arc<dyn DirectWrite>> {
        Some(self.direct.clone())
    }
}

impl DirectWrite for TcpSend {
    fn try_write(&self, bytes: &[u8]) -> io::Result<usize> {
        // The socket is non-blocking (`Async` made it so): this writes what
        // fits now, or fails with `WouldBlock`.
        io::Write::write(&mut self.0.get_ref(), bytes)
    }
}

/// One direction of a [`Pipe`].
#[derive(Default)]
struct Channel {
    data: std::collections::VecDeque<u8>,
    closed: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

/// Bytes a pipe direction holds before a writer waits.
const PIPE_CAPACITY: usize = 256 * 1024;

/// One end of an in-memory, bounded, bidirectional byte stream (for tests
/// and examples, as `tokio::io::duplex` is for tokio). Dropping an end
/// closes both directions for the other end.
pub struct Pipe {
    incoming: Arc<Mutex<Channel>>,
    outgoing: Arc<Mutex<Channel>>,
}

/// Two connected in-memory stream ends.
///
/// ```
/// use futures_util::io::{AsyncReadExt, AsyncWriteExt};
/// let (mut a, mut b) = amp_async_std::pipe();
/// async_std::task::block_on(async {
///     a.write_all(b"ping").await.unwrap();
///     let mut got = [0u8; 4];
///     b.read_exact(&mut got).await.unwrap();
///     assert_eq!(&got, b"ping");
/// });
/// ```
pub fn pipe() -> (Pipe, Pipe) {
    let ab = Arc::new(Mutex::new(Channel::default()));
    let ba = Arc::new(Mutex::new(Channel::default()));
    (
        Pipe {
            incoming: Arc::clone(&ba),
            outgoing: Arc::clone(&ab),
        },
        Pipe {
            incoming: ab,
            outgoing: ba,
        },
    )
}

fn lock(c: &Mutex<Channel>) -> std::sync::MutexGuard<'_, Channel> {
    c.lock().unwrap_or_else(|e| e.into_inner())
}

impl AsyncRead for Pipe {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut c = lock(&self.incoming);
        if c.data.is_empty() {
            if c.closed {
                return Poll::Ready(Ok(0));
            }
            c.reader = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = out.len().min(c.data.len());
        for (dst, src) in out.iter_mut().zip(c.data.drain(..n)) {
            *dst = src;
        }
        if let Some(w) = c.writer.take() {
            w.wake();
        }
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for Pipe {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut c = lock(&self.outgoing);
        if c.closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let room = PIPE_CAPACITY.saturating_sub(c.data.len());
        if room == 0 {
            c.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = room.min(data.len());
        c.data.extend(&data[..n]);
        if let Some(w) = c.reader.take() {
            w.wake();
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut c = lock(&self.outgoing);
        c.closed = true;
        if let Some(w) = c.reader.take() {
            w.wake();
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        for channel in [&self.incoming, &self.outgoing] {
            let mut c = lock(channel);
            c.closed = true;
            if let Some(w) = c.reader.take() {
                w.wake();
            }
            if let Some(w) = c.writer.take() {
                w.wake();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::io::AsyncWriteExt;

    /// The reader's scratch follows the room the engine gives each read:
    /// 1 KiB for a quiet connection, larger while reads fill larger room,
    /// small again once the engine's buffer is small; and every byte
    /// arrives once, in order, whatever the room.
    #[test]
    fn the_scratch_follows_the_room_given_and_loses_no_byte() {
        futures_executor::block_on(async {
            let (a, mut b) = pipe();
            let mut reader = Reader::new(a);
            assert_eq!(
                reader.scratch.len(),
                0,
                "nothing is allocated before a read"
            );
            let sent: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
            let mut got = Vec::new();

            b.write_all(&sent[..10]).await.unwrap();
            let mut buf = BytesMut::with_capacity(1024);
            assert_eq!(reader.read(&mut buf).await.unwrap(), 10);
            assert_eq!(reader.scratch.len(), 1024);
            got.extend_from_slice(&buf.split());

            b.write_all(&sent[10..]).await.unwrap();
            while got.len() < sent.len() {
                let mut buf = BytesMut::with_capacity(CHUNK);
                let n = reader.read(&mut buf).await.unwrap();
                assert!(n > 0 && n <= CHUNK);
                assert_eq!(reader.scratch.len(), CHUNK);
                got.extend_from_slice(&buf);
            }
            assert_eq!(got, sent);

            b.write_all(b"quiet").await.unwrap();
            let mut buf = BytesMut::with_capacity(1024);
            assert_eq!(reader.read(&mut buf).await.unwrap(), 5);
            assert_eq!(&buf[..], b"quiet");
            assert_eq!(
                reader.scratch.len(),
                1024,
                "a burst's scratch is given back"
            );
        });
    }
}
