//! [`MuxStream`]: one multiplexed stream, read and written as bytes.

use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};

use amp_core::{CallError, ConnectionError, MAX_VALUE_LENGTH};
use amp_engine::Peer;
use bytes::{Buf, Bytes};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use crate::mux::Inner;
use crate::{Disconnect, DisconnectArgs, StreamError, Transmit, TransmitArgs};

/// The most bytes one `Transmit` carries: one AMP value.
pub const MAX_CHUNK: usize = MAX_VALUE_LENGTH;

/// What both ends of one stream share: the bytes received and not read
/// yet, and how the stream ended.
pub(crate) struct Shared {
    connection: Bytes,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    inbound: VecDeque<Bytes>,
    buffered: usize,
    reader: Option<Waker>,
    /// `Transmit` responders waiting for the reader to make room.
    space: Vec<Waker>,
    /// The peer sent `Disconnect`.
    remote_closed: bool,
    /// This side closed or dropped the stream: what arrives is dropped.
    local_closed: bool,
    /// Kept for a stream being opened that turned out not to be this one.
    orphaned: bool,
}

impl Shared {
    pub(crate) fn new(connection: Bytes) -> Self {
        Shared {
            connection,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes the peer sent.
    pub(crate) fn received(&self, data: Bytes) {
        let mut state = self.lock();
        if state.local_closed || state.remote_closed || data.is_empty() {
            return;
        }
        state.buffered += data.len();
        state.inbound.push_back(data);
        if let Some(reader) = state.reader.take() {
            drop(state);
            reader.wake();
        }
    }

    /// Resolves once fewer than `window` bytes wait for the reader (or
    /// nobody will read them).
    pub(crate) async fn space(&self, window: usize) {
        poll_fn(|cx| {
            let mut state = self.lock();
            if state.buffered < window || state.local_closed || state.remote_closed {
                Poll::Ready(())
            } else {
                if !state.space.iter().any(|w| w.will_wake(cx.waker())) {
                    state.space.push(cx.waker().clone());
                }
                Poll::Pending
            }
        })
        .await;
    }

    /// The peer sent `Disconnect`: the reader gets what is buffered, then
    /// the end.
    pub(crate) fn remote_closed(&self) {
        let mut state = self.lock();
        state.remote_closed = true;
        let wakers: Vec<Waker> = state
            .reader
            .take()
            .into_iter()
            .chain(state.space.drain(..))
            .collect();
        drop(state);
        wakers.into_iter().for_each(Waker::wake);
    }

    /// No stream will read these bytes: a stream written to while this side
    /// was opening streams, whose identifier no answer named.
    pub(crate) fn orphan(&self) {
        self.lock().orphaned = true;
        self.local_closed();
    }

    /// Whether [`orphan`](Self::orphan)ed.
    pub(crate) fn orphaned(&self) -> bool {
        self.lock().orphaned
    }

    fn local_closed(&self) {
        let mut state = self.lock();
        state.local_closed = true;
        state.inbound.clear();
        state.buffered = 0;
        let wakers: Vec<Waker> = state.space.drain(..).collect();
        drop(state);
        wakers.into_iter().for_each(Waker::wake);
    }
}

type Answer = Pin<Box<dyn Future<Output = (usize, Result<(), CallError<StreamError>>)> + Send>>;
type Queueing = Pin<Box<dyn Future<Output = Result<Answer, CallError<StreamError>>> + Send>>;
type Closing = Pin<Box<dyn Future<Output = Result<(), CallError<StreamError>>> + Send>>;
type Ended = Pin<Box<dyn Future<Output = ConnectionError> + Send>>;

/// One multiplexed stream: bytes written here are read by the other end,
/// and the other way round (`AsyncRead + AsyncWrite` with the features
/// `tokio` and `futures-io`).
///
/// Closing it (`shutdown`, `close`) sends what is written, waits for it to
/// be taken, and ends the stream both ways with `Disconnect` (txampext's
/// streams have no half-close). When the peer ends it, reading gives what
/// was buffered and then the end (0 bytes), and writing fails with
/// `BrokenPipe`. When the AMP connection ends without either, reading
/// (once the buffer is empty) and writing fail with `ConnectionAborted`:
/// bytes may have been lost. Dropping a stream without closing it forgets
/// it on this side only: the peer learns of it when it next sends
/// (`NO_SUCH_CONNECTION`).
pub struct MuxStream {
    shared: Arc<Shared>,
    peer: Peer,
    mux: Weak<Inner>,
    window: usize,
    /// The last chunk accepted, not queued on the connection yet (one at
    /// a time, so chunks go out in order), and its length.
    sending: Option<(Queueing, usize)>,
    /// Chunks queued, waiting for their answer.
    in_flight: FuturesUnordered<Answer>,
    unanswered: usize,
    closing: Option<Closing>,
    ended: Ended,
    failed: Option<(io::ErrorKind, String)>,
    closed: bool,
    /// The writer's task, while it waits.
    write_waker: Option<Waker>,
}

impl fmt::Debug for MuxStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MuxStream")
            .field("connection", &self.shared.connection)
            .field("unanswered", &self.unanswered)
            .field("closed", &self.closed)
            .finish()
    }
}

impl MuxStream {
    pub(crate) fn new(shared: Arc<Shared>, peer: Peer, mux: Weak<Inner>, window: usize) -> Self {
        let ended = Box::pin(peer.closed());
        MuxStream {
            shared,
            peer,
            mux,
            window,
            sending: None,
            in_flight: FuturesUnordered::new(),
            unanswered: 0,
            closing: None,
            ended,
            failed: None,
            closed: false,
            write_waker: None,
        }
    }

    /// The stream's identifier, as it travels in `Transmit` and
    /// `Disconnect`.
    ///
    /// ```no_run
    /// # async fn f(peer: amp_engine::Peer, mux: amp_mux::Mux) {
    /// let stream = mux.open(&peer, "echo").await.unwrap();
    /// assert!(amp_mux::ConnectionId::parse(stream.connection()).is_ok());
    /// # }
    /// ```
    pub fn connection(&self) -> &[u8] {
        &self.shared.connection
    }

    fn fail(&mut self, kind: io::ErrorKind, why: String) -> io::Error {
        self.failed = Some((kind, why.clone()));
        io::Error::new(kind, why)
    }

    fn failure(&self) -> Option<io::Error> {
        self.failed
            .as_ref()
            .map(|(kind, why)| io::Error::new(*kind, why.clone()))
    }

    fn call_failed(&mut self, e: CallError<StreamError>) -> io::Error {
        match e {
            CallError::Declared(StreamError::NoSuchConnection(_)) => self.fail(
                io::ErrorKind::BrokenPipe,
                "the peer has no such stream any more: bytes were lost".into(),
            ),
            CallError::Connection(reason) => self.fail(
                io::ErrorKind::ConnectionAborted,
                format!("the AMP connection ended ({reason}): bytes may have been lost"),
            ),
            other => self.fail(
                io::ErrorKind::Other,
                format!("a Transmit of this stream failed: {other}"),
            ),
        }
    }

    /// Waits for the chunk being queued to be queued.
    fn poll_sending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some((queueing, len)) = &mut self.sending else {
            return Poll::Ready(Ok(()));
        };
        let len = *len;
        match queueing.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(answer)) => {
                self.sending = None;
                self.in_flight.push(answer);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => {
                self.sending = None;
                self.unanswered -= len;
                Poll::Ready(Err(self.call_failed(e)))
            }
        }
    }

    /// Takes the answers that came.
    fn poll_answers(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        while let Poll::Ready(Some((len, result))) = self.in_flight.poll_next_unpin(cx) {
            self.unanswered -= len;
            if let Err(e) = result {
                return Err(self.call_failed(e));
            }
        }
        Ok(())
    }

    /// The AMP connection's end, as an error, if it has ended.
    fn poll_ended(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        match self.ended.as_mut().poll(cx) {
            Poll::Ready(reason) => Poll::Ready(self.fail(
                io::ErrorKind::ConnectionAborted,
                format!("the AMP connection ended ({reason}): bytes may have been lost"),
            )),
            Poll::Pending => Poll::Pending,
        }
    }

    fn start_chunk(&mut self, data: Bytes) {
        let len = data.len();
        let queued = self.peer.call_queued::<Transmit>(&TransmitArgs {
            connection: self.shared.connection.clone(),
            data,
        });
        let queueing: Queueing = Box::pin(async move {
            let answer = queued.await?;
            Ok(Box::pin(async move { (len, answer.await) }) as Answer)
        });
        self.unanswered += len;
        self.sending = Some((queueing, len));
    }

    /// `AsyncWrite::poll_write`.
    fn poll_write_bytes(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if let Some(e) = self.failure() {
            return Poll::Ready(Err(e));
        }
        if self.closed || self.closing.is_some() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the stream is closed",
            )));
        }
        if self.shared.lock().remote_closed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the peer ended the stream",
            )));
        }
        std::task::ready!(self.poll_sending(cx))?;
        self.poll_answers(cx)?;
        if self.unanswered >= self.window {
            // Woken by an answer (the in-flight calls hold this task's
            // waker) or by the connection's end.
            return match self.poll_ended(cx) {
                Poll::Ready(e) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            };
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let len = buf.len().min(MAX_CHUNK).min(self.window - self.unanswered);
        self.start_chunk(Bytes::copy_from_slice(&buf[..len]));
        // Queue it now if there is room; the bytes are this stream's either
        // way.
        if let Poll::Ready(Err(e)) = self.poll_sending(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(len))
    }

    /// `AsyncWrite::poll_flush`: every byte written is answered.
    fn poll_flush_bytes(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.failure() {
            return Poll::Ready(Err(e));
        }
        std::task::ready!(self.poll_sending(cx))?;
        self.poll_answers(cx)?;
        if self.in_flight.is_empty() {
            return Poll::Ready(Ok(()));
        }
        match self.poll_ended(cx) {
            Poll::Ready(e) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// `AsyncWrite::poll_close` / `poll_shutdown`: flushes, then ends the
    /// stream both ways.
    fn poll_close_stream(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.closed {
            return Poll::Ready(Ok(()));
        }
        if self.closing.is_none() {
            // A flush that fails (recorded in `failed`) still ends the
            // stream: the peer is told, and the error is reported after.
            if !self.shared.lock().remote_closed {
                let _ = std::task::ready!(self.poll_flush_bytes(cx));
            }
            let remote_closed = self.shared.lock().remote_closed;
            if remote_closed || self.peer.is_closed() {
                self.finish();
                return Poll::Ready(self.failure().map_or(Ok(()), Err));
            }
            let call = self.peer.call_as::<Disconnect>(&DisconnectArgs {
                connection: self.shared.connection.clone(),
            });
            self.closing = Some(Box::pin(call));
        }
        let Some(closing) = &mut self.closing else {
            return Poll::Ready(Ok(()));
        };
        let result = std::task::ready!(closing.as_mut().poll(cx));
        self.closing = None;
        self.finish();
        match result {
            // Gone already on the other side: ended all the same.
            Ok(()) | Err(CallError::Declared(StreamError::NoSuchConnection(_))) => {
                Poll::Ready(self.failure().map_or(Ok(()), Err))
            }
            Err(e) => Poll::Ready(Err(self.call_failed(e))),
        }
    }

    /// `AsyncRead::poll_read`: at most `max` bytes, handed to `put`.
    fn poll_read_with(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
        put: impl FnOnce(&[u8]),
    ) -> Poll<io::Result<usize>> {
        if max == 0 {
            return Poll::Ready(Ok(0));
        }
        // A chunk written and not queued yet goes out while its writer
        // waits for an answer to it (a failure shows on the next write);
        // the writer, if it waits, is woken then, as the chunk's queueing
        // now wakes this task instead.
        if self.sending.is_some()
            && self.poll_sending(cx).is_ready()
            && let Some(writer) = self.write_waker.take()
        {
            writer.wake();
        }
        {
            let mut state = self.shared.lock();
            if let Some(front) = state.inbound.front_mut() {
                let len = front.len().min(max);
                put(&front[..len]);
                front.advance(len);
                if front.is_empty() {
                    state.inbound.pop_front();
                }
                state.buffered -= len;
                let wakers: Vec<Waker> = state.space.drain(..).collect();
                drop(state);
                wakers.into_iter().for_each(Waker::wake);
                return Poll::Ready(Ok(len));
            }
            if state.remote_closed || self.closed {
                return Poll::Ready(Ok(0));
            }
            state.reader = Some(cx.waker().clone());
        }
        if let Some(e) = self.failure() {
            return Poll::Ready(Err(e));
        }
        match self.poll_ended(cx) {
            Poll::Ready(e) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Runs a write-side poll, keeping the writer's waker while it waits
    /// (see [`poll_read_with`](Self::poll_read_with)).
    fn writing<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(&mut Self, &mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        let result = poll(self, cx);
        if result.is_pending() {
            self.write_waker = Some(cx.waker().clone());
        }
        result
    }

    /// Forgets the stream on this side.
    fn finish(&mut self) {
        self.closed = true;
        self.shared.local_closed();
        if let Some(mux) = self.mux.upgrade() {
            let mut streams = mux.streams();
            if streams
                .get(&self.shared.connection)
                .is_some_and(|s| Arc::ptr_eq(s, &self.shared))
            {
                streams.remove(&self.shared.connection);
            }
        }
    }
}

impl Drop for MuxStream {
    fn drop(&mut self) {
        if !self.closed {
            self.finish();
        }
    }
}

#[cfg(feature = "tokio")]
impl tokio::io::AsyncRead for MuxStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // Straight into the unfilled part: nothing to zero first.
        let max = buf.remaining();
        std::task::ready!(self.get_mut().poll_read_with(cx, max, |b| buf.put_slice(b)))?;
        Poll::Ready(Ok(()))
    }
}

#[cfg(feature = "tokio")]
impl tokio::io::AsyncWrite for MuxStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .writing(cx, |this, cx| this.poll_write_bytes(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().writing(cx, Self::poll_flush_bytes)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().writing(cx, Self::poll_close_stream)
    }
}

#[cfg(feature = "futures-io")]
impl futures_io::AsyncRead for MuxStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let max = buf.len();
        self.get_mut()
            .poll_read_with(cx, max, |b| buf[..b.len()].copy_from_slice(b))
    }
}

#[cfg(feature = "futures-io")]
impl futures_io::AsyncWrite for MuxStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .writing(cx, |this, cx| this.poll_write_bytes(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().writing(cx, Self::poll_flush_bytes)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().writing(cx, Self::poll_close_stream)
    }
}
