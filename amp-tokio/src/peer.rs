//! One AMP connection on tokio: the peer handle and the tasks that pump bytes
//! between a stream and an `amp_core::Connection`.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use amp_core::command::{decode_outcome, encode_arguments};
use amp_core::dispatcher::settles;
use amp_core::{
    AmpBox, CallError, CallFailure, CallId, CallOutcome, Command, Config, Connection,
    ConnectionError, Event, Locator, ResponderError, SendError,
};
use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::sync::{Notify, oneshot, watch};

/// Settings of a connection.
///
/// ```
/// let options = amp_tokio::Options::default()
///     .max_responders(64)
///     .max_outbound_bytes(1 << 20);
/// assert_eq!(options.responders(), 64);
/// ```
#[derive(Clone, Debug)]
pub struct Options {
    config: Config,
    max_responders: usize,
    max_outbound_bytes: usize,
    read_buffer: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config: Config::default(),
            max_responders: 1024,
            max_outbound_bytes: 4 << 20,
            read_buffer: 64 * 1024,
        }
    }
}

impl Options {
    /// The core's settings (decoder limits, raw boxes).
    ///
    /// ```
    /// let o = amp_tokio::Options::default()
    ///     .config(amp_core::Config::default().limits(amp_core::Limits::default().max_keys(16)));
    /// assert_eq!(o.core_config().decoder_limits().keys(), 16);
    /// ```
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// How many responders may run at once on one connection. When reached,
    /// the connection stops reading until one finishes.
    ///
    /// ```
    /// assert_eq!(amp_tokio::Options::default().max_responders(8).responders(), 8);
    /// ```
    pub fn max_responders(mut self, n: usize) -> Self {
        self.max_responders = n.max(1);
        self
    }

    /// How many bytes may wait to be written. Past it, callers wait for the
    /// socket to drain, and the connection stops reading requests.
    ///
    /// ```
    /// assert_eq!(amp_tokio::Options::default().max_outbound_bytes(4096).outbound_bytes(), 4096);
    /// ```
    pub fn max_outbound_bytes(mut self, n: usize) -> Self {
        self.max_outbound_bytes = n.max(1);
        self
    }

    /// The core's settings.
    ///
    /// ```
    /// assert!(!amp_tokio::Options::default().core_config().delivers_raw_boxes());
    /// ```
    pub fn core_config(&self) -> &Config {
        &self.config
    }

    /// Responders allowed at once.
    ///
    /// ```
    /// assert_eq!(amp_tokio::Options::default().responders(), 1024);
    /// ```
    pub fn responders(&self) -> usize {
        self.max_responders
    }

    /// Outbound bytes allowed to wait.
    ///
    /// ```
    /// assert_eq!(amp_tokio::Options::default().outbound_bytes(), 4 << 20);
    /// ```
    pub fn outbound_bytes(&self) -> usize {
        self.max_outbound_bytes
    }
}

/// What a responder receives beside its arguments: a handle to the peer that
/// called (to call it back) and its address.
#[derive(Clone, Debug)]
pub struct Context {
    /// The connection the request came on.
    pub peer: Peer,
}

impl Context {
    /// The peer's address, for a TCP connection.
    ///
    /// ```no_run
    /// # fn f(ctx: amp_tokio::Context) {
    /// println!("request from {:?}", ctx.peer_addr());
    /// # }
    /// ```
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer.peer_addr()
    }
}

/// The responders of a tokio connection.
pub type Responders = Locator<Context>;

struct State {
    conn: Connection,
    pending: HashMap<CallId, oneshot::Sender<CallOutcome>>,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the writer: bytes are queued, or the connection ended.
    write_ready: Notify,
    /// Wakes callers waiting for outbound space.
    space: Notify,
    /// Wakes the reader: a local close or shutdown was asked for.
    wake_reader: Notify,
    closed: watch::Sender<Option<ConnectionError>>,
    /// Set by `shutdown`: stop reading requests, finish the ones running.
    draining: watch::Sender<bool>,
    max_outbound: usize,
    addr: Option<SocketAddr>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock is held can only come from a bug in this
        // crate; the state is still consistent enough to fail calls.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands out the events the core produced: settles calls, collects up to
    /// `room` requests (boxes are decoded lazily, so the rest wait in the
    /// receive buffer), publishes the close.
    fn drain_events(&self, state: &mut State, requests: &mut Vec<amp_core::Request>, room: usize) {
        while requests.len() < room {
            let Some(event) = state.conn.poll_event() else {
                break;
            };
            match event {
                Event::Request(req) => requests.push(req),
                Event::Closed(reason) => {
                    trace!(debug, reason = %reason, "connection closed");
                    self.closed.send_replace(Some(reason));
                    self.write_ready.notify_one();
                    self.space.notify_waiters();
                    self.wake_reader.notify_one();
                }
                Event::Box(b) => {
                    trace!(debug, ?b, "unclassified box dropped: no raw box receiver");
                    let _ = b;
                }
                other => {
                    if let Some((id, outcome)) = settles(other)
                        && let Some(tx) = state.pending.remove(&id)
                    {
                        // The caller may have gone; then the outcome is
                        // dropped, as a cancelled call's answer is.
                        let _ = tx.send(outcome);
                    }
                }
            }
        }
    }
}

struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        // The last user handle is gone: nobody can call or wait any more.
        let mut state = self.shared.lock();
        state.conn.close();
        let mut requests = Vec::new();
        self.shared
            .drain_events(&mut state, &mut requests, usize::MAX);
    }
}

/// A handle to one AMP connection. Cheap to clone; the connection closes when
/// the last handle (and the server's, for an accepted connection) is
/// dropped, when [`close`](Self::close) is called, or when the peer closes.
///
/// AMP is symmetric: the same handle calls the peer while the connection's
/// responders answer the peer's calls.
#[derive(Clone)]
pub struct Peer {
    handle: Arc<Handle>,
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("addr", &self.handle.shared.addr)
            .field("closed", &*self.handle.shared.closed.borrow())
            .finish()
    }
}

/// Cancels a call whose future was dropped before its answer came.
struct CallGuard<'a> {
    shared: &'a Shared,
    id: Option<CallId>,
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let mut state = self.shared.lock();
            state.pending.remove(&id);
            state.conn.forget(id);
        }
    }
}

impl Peer {
    /// Connects to `addr` over TCP and serves `responders` on the
    /// connection.
    ///
    /// ```no_run
    /// # async fn f() -> std::io::Result<()> {
    /// let peer = amp_tokio::Peer::connect("127.0.0.1:1234", amp_tokio::Responders::new()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(
        addr: impl ToSocketAddrs,
        responders: Responders,
    ) -> std::io::Result<Peer> {
        Self::connect_with(addr, responders, Options::default()).await
    }

    /// [`connect`](Self::connect) with settings.
    ///
    /// ```no_run
    /// # async fn f() -> std::io::Result<()> {
    /// let peer = amp_tokio::Peer::connect_with(
    ///     "127.0.0.1:1234",
    ///     amp_tokio::Responders::new(),
    ///     amp_tokio::Options::default().max_responders(16),
    /// ).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_with(
        addr: impl ToSocketAddrs,
        responders: Responders,
        options: Options,
    ) -> std::io::Result<Peer> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let addr = stream.peer_addr().ok();
        Ok(Self::spawn(stream, addr, responders, options))
    }

    /// Runs AMP over any stream (a UNIX socket, TLS, an in-memory duplex)
    /// with `responders` answering the peer's calls. Must be called inside a
    /// tokio runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (a, b) = tokio::io::duplex(64 * 1024);
    /// let left = amp_tokio::Peer::new(a, amp_tokio::Responders::new());
    /// let right = amp_tokio::Peer::new(b, amp_tokio::Responders::new());
    /// let answer = left.call_remote("Nope", amp_core::AmpBox::new()).await;
    /// assert!(matches!(answer, Err(amp_core::CallFailure::Remote(e)) if e.code == "UNHANDLED"));
    /// # drop(right); }
    /// ```
    pub fn new<S>(stream: S, responders: Responders) -> Peer
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        Self::spawn(stream, None, responders, Options::default())
    }

    /// [`new`](Self::new) with settings and the peer's address, if known.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (a, _b) = tokio::io::duplex(1024);
    /// let p = amp_tokio::Peer::with_options(a, None, amp_tokio::Responders::new(), Default::default());
    /// assert!(p.peer_addr().is_none());
    /// # }
    /// ```
    pub fn with_options<S>(
        stream: S,
        addr: Option<SocketAddr>,
        responders: Responders,
        options: Options,
    ) -> Peer
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        Self::spawn(stream, addr, responders, options)
    }

    fn spawn<S>(
        stream: S,
        addr: Option<SocketAddr>,
        responders: Responders,
        options: Options,
    ) -> Peer
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                conn: Connection::new(&options.config),
                pending: HashMap::new(),
            }),
            write_ready: Notify::new(),
            space: Notify::new(),
            wake_reader: Notify::new(),
            closed: watch::channel(None).0,
            draining: watch::channel(false).0,
            max_outbound: options.max_outbound_bytes,
            addr,
        });
        let handle = Arc::new(Handle {
            shared: Arc::clone(&shared),
        });
        let (reader, writer) = tokio::io::split(stream);
        let writing = write_loop(Arc::clone(&shared), writer);
        let reading = read_loop(
            Arc::clone(&shared),
            Arc::downgrade(&handle),
            reader,
            responders,
            options,
        );
        #[cfg(feature = "tracing")]
        let (writing, reading) = {
            use tracing::Instrument;
            let span = tracing::debug_span!("amp_connection", peer = ?addr);
            (writing.instrument(span.clone()), reading.instrument(span))
        };
        tokio::spawn(writing);
        tokio::spawn(reading);
        Peer { handle }
    }

    fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    /// The peer's address, for a TCP connection.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (a, _b) = tokio::io::duplex(1024);
    /// assert!(amp_tokio::Peer::new(a, amp_tokio::Responders::new()).peer_addr().is_none());
    /// # }
    /// ```
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.shared().addr
    }

    /// Queues a box built by `queue` once there is outbound space; returns
    /// what `queue` returned.
    async fn queue<T>(
        &self,
        mut queue: impl FnMut(&mut State) -> Result<T, SendError>,
    ) -> Result<T, SendError> {
        let shared = self.shared();
        loop {
            let notified = shared.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = shared.lock();
                if state.conn.is_closed() || state.conn.pending_transmit() < shared.max_outbound {
                    let result = queue(&mut state);
                    drop(state);
                    shared.write_ready.notify_one();
                    return result;
                }
            }
            notified.await;
        }
    }

    async fn call_box(
        &self,
        command: &str,
        arguments: &AmpBox,
        requires_answer: bool,
    ) -> Result<Option<AmpBox>, CallFailure> {
        let rx = self
            .queue(|state| {
                let id = state
                    .conn
                    .call_remote(command, arguments, requires_answer)?;
                Ok(id.map(|id| {
                    let (tx, rx) = oneshot::channel();
                    state.pending.insert(id, tx);
                    (id, rx)
                }))
            })
            .await
            .map_err(|e| match e {
                SendError::Closed(reason) => CallFailure::Connection(reason),
                other => CallFailure::Connection(ConnectionError::Transport(other.to_string())),
            })?;
        let Some((id, rx)) = rx else {
            return Ok(None);
        };
        let mut guard = CallGuard {
            shared: self.shared(),
            id: Some(id),
        };
        let outcome = rx.await;
        guard.id = None;
        match outcome {
            Ok(outcome) => outcome.map(Some),
            // The connection task is gone without settling the call.
            Err(_) => Err(CallFailure::Connection(self.close_reason_or_closed())),
        }
    }

    fn close_reason_or_closed(&self) -> ConnectionError {
        self.shared()
            .closed
            .borrow()
            .clone()
            .unwrap_or(ConnectionError::Closed)
    }

    /// Calls command `C` and waits for its response. A command that wants no
    /// answer returns as soon as it is queued, with `None`. The arguments are
    /// encoded when `call` is called; the returned future borrows nothing
    /// and can be spawned.
    ///
    /// The error says what happened: one of the command's declared errors,
    /// an undeclared remote error (`UNKNOWN`, `UNHANDLED`, ...), a value that
    /// does not encode or decode, or the end of the connection.
    ///
    /// Dropping the future cancels the call: its answer, if it comes, is
    /// ignored. Wrap it in `tokio::time::timeout` for a deadline:
    ///
    /// ```no_run
    /// # use amp_core::Command;
    /// # #[derive(serde::Serialize, serde::Deserialize)] pub struct SumArgs { a: i64, b: i64 }
    /// # #[derive(serde::Serialize, serde::Deserialize)] pub struct Total { total: i64 }
    /// # struct Sum; impl Command for Sum { const NAME: &'static str = "Sum"; type Arguments = SumArgs; type Response = Total; type Error = std::convert::Infallible; }
    /// # async fn f(peer: amp_tokio::Peer) {
    /// use std::time::Duration;
    /// match tokio::time::timeout(Duration::from_secs(5), peer.call::<Sum>(&SumArgs { a: 1, b: 2 })).await {
    ///     Ok(Ok(Some(total))) => println!("total {}", total.total),
    ///     Ok(Ok(None)) => unreachable!("Sum wants an answer"),
    ///     Ok(Err(e)) => println!("call failed: {e}"),
    ///     Err(_) => println!("no answer within 5 s; the call is cancelled"),
    /// }
    /// # }
    /// ```
    pub fn call<C: Command>(
        &self,
        arguments: &C::Arguments,
    ) -> impl Future<Output = Result<Option<C::Response>, CallError<C::Error>>> + Send + 'static + use<C>
    {
        // Encode now, so the future borrows nothing and can be spawned.
        let encoded = encode_arguments::<C>(arguments);
        let peer = self.clone();
        let call = async move {
            let b = encoded.map_err(CallError::Value)?;
            let outcome = match peer.call_box(C::NAME, &b, C::REQUIRES_ANSWER).await {
                Ok(None) => return Ok(None),
                Ok(Some(answer)) => Ok(answer),
                Err(e) => Err(e),
            };
            decode_outcome::<C>(outcome).map(Some)
        };
        #[cfg(feature = "tracing")]
        let call = tracing::Instrument::instrument(
            call,
            tracing::debug_span!("amp_call", command = C::NAME),
        );
        call
    }

    /// Calls a command by name with a raw argument box and waits for the
    /// answer's box (Twisted's `callRemoteString`).
    ///
    /// ```no_run
    /// # async fn f(peer: amp_tokio::Peer) {
    /// let answer = peer
    ///     .call_remote("Sum", amp_core::AmpBox::from_pairs([("a", "1"), ("b", "2")]))
    ///     .await;
    /// # }
    /// ```
    pub async fn call_remote(
        &self,
        command: &str,
        arguments: AmpBox,
    ) -> Result<AmpBox, CallFailure> {
        self.call_box(command, &arguments, true)
            .await
            .map(|answer| answer.unwrap_or_default())
    }

    /// Sends a command by name without asking for an answer.
    ///
    /// ```no_run
    /// # async fn f(peer: amp_tokio::Peer) {
    /// peer.notify_remote("Notify", amp_core::AmpBox::from_pairs([("text", "hi")])).await.unwrap();
    /// # }
    /// ```
    pub async fn notify_remote(&self, command: &str, arguments: AmpBox) -> Result<(), CallFailure> {
        self.call_box(command, &arguments, false).await.map(|_| ())
    }

    /// Sends any box as it is.
    ///
    /// ```no_run
    /// # async fn f(peer: amp_tokio::Peer) {
    /// peer.send_box(amp_core::AmpBox::from_pairs([("hello", "world")])).await.unwrap();
    /// # }
    /// ```
    pub async fn send_box(&self, b: AmpBox) -> Result<(), SendError> {
        self.queue(|state| state.conn.send_box(&b)).await
    }

    /// Closes the connection now: pending calls fail with
    /// [`ConnectionError::Closed`], running responders' results are dropped,
    /// queued bytes are still written.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (a, _b) = tokio::io::duplex(1024);
    /// let peer = amp_tokio::Peer::new(a, amp_tokio::Responders::new());
    /// peer.close();
    /// assert_eq!(peer.closed().await, amp_core::ConnectionError::Closed);
    /// # }
    /// ```
    pub fn close(&self) {
        let shared = self.shared();
        let mut state = shared.lock();
        state.conn.close();
        let mut ignored = Vec::new();
        shared.drain_events(&mut state, &mut ignored, usize::MAX);
    }

    /// Closes gracefully: stops reading new requests, lets the running
    /// responders finish (for at most `grace`), writes their answers, then
    /// closes. Returns once the connection has closed.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (a, _b) = tokio::io::duplex(1024);
    /// let peer = amp_tokio::Peer::new(a, amp_tokio::Responders::new());
    /// let reason = peer.shutdown(std::time::Duration::from_secs(1)).await;
    /// assert_eq!(reason, amp_core::ConnectionError::Closed);
    /// # }
    /// ```
    pub async fn shutdown(&self, grace: Duration) -> ConnectionError {
        let shared = self.shared();
        shared.draining.send_replace(true);
        shared.wake_reader.notify_one();
        match tokio::time::timeout(grace, self.closed()).await {
            Ok(reason) => reason,
            Err(_) => {
                self.close();
                self.closed().await
            }
        }
    }

    /// Resolves when the connection has ended, with the reason.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (a, b) = tokio::io::duplex(1024);
    /// let peer = amp_tokio::Peer::new(a, amp_tokio::Responders::new());
    /// drop(b);
    /// assert_eq!(peer.closed().await, amp_core::ConnectionError::PeerClosed);
    /// # }
    /// ```
    pub fn closed(&self) -> impl Future<Output = ConnectionError> + Send + 'static {
        let mut rx = self.shared().closed.subscribe();
        async move {
            match rx.wait_for(|c| c.is_some()).await {
                Ok(reason) => reason.clone().unwrap_or(ConnectionError::Closed),
                Err(_) => ConnectionError::Closed,
            }
        }
    }

    /// Whether the connection has ended.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (a, _b) = tokio::io::duplex(1024);
    /// assert!(!amp_tokio::Peer::new(a, amp_tokio::Responders::new()).is_closed());
    /// # }
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared().closed.borrow().is_some()
    }
}

async fn write_loop<W: AsyncWrite>(shared: Arc<Shared>, writer: W) {
    tokio::pin!(writer);
    loop {
        let (bytes, closed) = {
            let mut state = shared.lock();
            (state.conn.take_transmit(), state.conn.is_closed())
        };
        if !bytes.is_empty() {
            // Room again: wake callers waiting for space and a reader paused
            // by a full outbound buffer (its permit is kept if it is busy).
            shared.space.notify_waiters();
            shared.wake_reader.notify_one();
            if let Err(e) = write_all(&mut writer, bytes).await {
                let mut state = shared.lock();
                state
                    .conn
                    .connection_lost(ConnectionError::Transport(e.to_string()));
                let mut ignored = Vec::new();
                shared.drain_events(&mut state, &mut ignored, usize::MAX);
                return;
            }
            continue;
        }
        if closed {
            let _ = writer.flush().await;
            let _ = writer.shutdown().await;
            return;
        }
        shared.write_ready.notified().await;
    }
}

async fn write_all<W: AsyncWrite + Unpin>(writer: &mut W, bytes: Bytes) -> std::io::Result<()> {
    writer.write_all(&bytes).await?;
    writer.flush().await
}

type Running = FuturesUnordered<
    std::pin::Pin<Box<dyn Future<Output = (Option<Bytes>, Result<AmpBox, ResponderError>)> + Send>>,
>;

async fn read_loop<R: AsyncRead>(
    shared: Arc<Shared>,
    handle: Weak<Handle>,
    reader: R,
    responders: Responders,
    options: Options,
) {
    tokio::pin!(reader);
    let mut running: Running = FuturesUnordered::new();
    let mut buf = BytesMut::with_capacity(options.read_buffer);
    let mut requests = Vec::new();
    let mut draining = shared.draining.subscribe();
    let mut eof = false;
    loop {
        let closed = shared.closed.borrow().is_some();
        let is_draining = *draining.borrow();
        if closed || (is_draining && running.is_empty()) {
            break;
        }
        let can_read = !eof
            && !is_draining
            && running.len() < options.max_responders
            && shared.lock().conn.pending_transmit() < shared.max_outbound;
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(options.read_buffer);
        }
        tokio::select! {
            biased;
            Some((tag, result)) = running.next(), if !running.is_empty() => {
                let mut state = shared.lock();
                if let Err(e) = state.conn.respond(tag.as_deref(), result) {
                    trace!(warn, error = %e, "responder result dropped");
                    let _ = e;
                }
                shared.drain_events(&mut state, &mut requests, options.max_responders.saturating_sub(running.len()));
                drop(state);
                shared.write_ready.notify_one();
            }
            r = reader.read_buf(&mut buf), if can_read => {
                let mut state = shared.lock();
                match r {
                    Ok(0) => {
                        eof = true;
                        state.conn.handle_eof();
                    }
                    Ok(_) => {
                        let core_buf = state.conn.read_buffer();
                        if core_buf.is_empty() {
                            std::mem::swap(core_buf, &mut buf);
                        } else {
                            core_buf.extend_from_slice(&buf);
                            buf.clear();
                        }
                    }
                    Err(e) => state.conn.connection_lost(ConnectionError::Transport(e.to_string())),
                }
                shared.drain_events(&mut state, &mut requests, options.max_responders.saturating_sub(running.len()));
                drop(state);
                shared.write_ready.notify_one();
            }
            _ = shared.wake_reader.notified() => {}
            _ = draining.changed() => {}
        }
        if !requests.is_empty() {
            match handle.upgrade() {
                Some(handle) => {
                    let peer = Peer { handle };
                    for req in requests.drain(..) {
                        let ctx = Context { peer: peer.clone() };
                        let fut = responders.dispatch(ctx, &req.command, req.arguments);
                        let tag = req.tag;
                        running.push(Box::pin(async move {
                            let result =
                                AssertUnwindSafe(fut)
                                    .catch_unwind()
                                    .await
                                    .unwrap_or_else(|_| {
                                        Err(ResponderError::undeclared("responder panicked"))
                                    });
                            (tag, result)
                        }));
                    }
                }
                None => requests.clear(),
            }
        }
    }
    if !running.is_empty() {
        trace!(
            warn,
            dropped = running.len(),
            "connection ended with responders running; their results are dropped"
        );
    }
    // Make sure the writer sees the end, whoever ended it.
    let mut state = shared.lock();
    state.conn.close();
    let mut ignored = Vec::new();
    shared.drain_events(&mut state, &mut ignored, usize::MAX);
}
