//! A live AMP connection as seen from async code, runtime-agnostic.
//!
//! [`Connection`] is the pure state machine; this module is what every
//! runtime adapter would otherwise write again around it: the [`Peer`] handle
//! (calls as futures, cancellation by drop, `closed()`), the pending-call
//! table, backpressure, running responders concurrently, and the read and
//! write loops. It uses only `futures` types and a small notification
//! primitive, never a runtime: an adapter provides the transport through
//! [`ReadHalf`] and [`WriteHalf`], spawns the two futures [`start`] returns,
//! and adds connect/listen for its runtime.
//!
//! ```
//! use amp_core::session::{self, Peer, ReadHalf, Responders, WriteHalf};
//! use bytes::BytesMut;
//! use std::io;
//!
//! // A transport that reads nothing (the peer closed at once) and writes
//! // into a vector.
//! struct Closed;
//! impl ReadHalf for Closed {
//!     async fn read(&mut self, _buf: &mut BytesMut) -> io::Result<usize> { Ok(0) }
//! }
//! struct Sink(Vec<u8>);
//! impl WriteHalf for Sink {
//!     async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> { self.0.extend_from_slice(bytes); Ok(()) }
//!     async fn close(&mut self) -> io::Result<()> { Ok(()) }
//! }
//!
//! let (peer, reading, writing) =
//!     session::start(Closed, Sink(Vec::new()), None, Responders::new(), Default::default());
//! futures_executor::block_on(async {
//!     futures_util::future::join(reading, writing).await;
//!     assert_eq!(peer.closed().await, amp_core::ConnectionError::PeerClosed);
//! });
//! ```

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Poll, Waker};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use event_listener::Event as Notify;
use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::task::AtomicWaker;

use crate::command::decode_outcome;
use crate::command::{CallError, CallFailure, CallOutcome, Command};
use crate::dispatcher::{Body, settles};
use crate::{
    AmpBox, CallId, Config, Connection, ConnectionError, Event, Locator, Request, ResponderError,
    SendError,
};

/// The shortest timeout [`Options`] takes.
const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// Settings of a connection.
///
/// ```
/// let options = amp_core::session::Options::default()
///     .max_responders(64)
///     .max_outbound_bytes(1 << 20);
/// assert_eq!(options.responders(), 64);
/// ```
#[derive(Clone, Debug)]
pub struct Options {
    config: Config,
    max_responders: usize,
    max_outbound_bytes: usize,
    max_waiting_bytes: usize,
    read_buffer: usize,
    box_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config: Config::default(),
            max_responders: 1024,
            max_outbound_bytes: 4 << 20,
            max_waiting_bytes: 8 << 20,
            read_buffer: 64 * 1024,
            box_timeout: None,
            idle_timeout: None,
        }
    }
}

impl Options {
    /// The core's settings (decoder limits, raw boxes).
    ///
    /// ```
    /// let o = amp_core::session::Options::default()
    ///     .config(amp_core::Config::default().limits(amp_core::Limits::default().max_keys(16)));
    /// assert_eq!(o.core_config().decoder_limits().keys(), 16);
    /// ```
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// How many responders may run at once on one connection. When reached,
    /// further requests wait (see [`max_waiting_bytes`](Self::max_waiting_bytes))
    /// until one finishes.
    ///
    /// ```
    /// assert_eq!(amp_core::session::Options::default().max_responders(8).responders(), 8);
    /// ```
    pub fn max_responders(mut self, n: usize) -> Self {
        self.max_responders = n.max(1);
        self
    }

    /// How many bytes this side's calls may hold: bytes waiting to be
    /// written plus requests waiting for their answer. Past it, callers wait;
    /// and while the unwritten bytes alone are past it, no new responder
    /// starts (so a peer that does not read cannot grow this side's memory).
    ///
    /// ```
    /// assert_eq!(amp_core::session::Options::default().max_outbound_bytes(4096).outbound_bytes(), 4096);
    /// ```
    pub fn max_outbound_bytes(mut self, n: usize) -> Self {
        self.max_outbound_bytes = n.max(1);
        self
    }

    /// How many bytes of received requests may wait for a responder slot
    /// (also at most as many requests as [`max_responders`](Self::max_responders)).
    /// The connection keeps reading, and settling the answers to its own
    /// calls, while requests wait; once this is full it stops reading until
    /// responders catch up. The default (8 MiB) holds all the requests a peer
    /// with the default [`max_outbound_bytes`](Self::max_outbound_bytes) can
    /// have in flight, so two such peers never both stop reading.
    ///
    /// ```
    /// assert_eq!(amp_core::session::Options::default().max_waiting_bytes(1 << 16).waiting_bytes(), 1 << 16);
    /// ```
    pub fn max_waiting_bytes(mut self, n: usize) -> Self {
        self.max_waiting_bytes = n.max(1);
        self
    }

    /// Bytes of requests allowed to wait for a responder.
    ///
    /// ```
    /// assert_eq!(amp_core::session::Options::default().waiting_bytes(), 8 << 20);
    /// ```
    pub fn waiting_bytes(&self) -> usize {
        self.max_waiting_bytes
    }

    /// How many bytes one read asks the transport for, at least.
    ///
    /// ```
    /// assert_eq!(amp_core::session::Options::default().read_buffer(4096).read_chunk(), 4096);
    /// ```
    pub fn read_buffer(mut self, n: usize) -> Self {
        self.read_buffer = n.max(512);
        self
    }

    /// How long a box may stay unfinished: once a whole `timeout` passes,
    /// while the peer has sent part of a box, with no box completed, the
    /// connection is closed with [`ConnectionError::BoxTimeout`]. A peer
    /// that trickles a box a byte at a time (or sends half a box and waits)
    /// then holds its buffer for at most about twice that long. The clock
    /// only runs while this side is reading and has nothing complete left
    /// to decode, so a busy responder never makes the peer late. Default:
    /// none (as in Twisted); a server open to untrusted peers wants one,
    /// with a connection cap. The transport's [`ReadHalf::sleep`] is the
    /// timer (with tokio, the runtime needs its time driver: `enable_time`
    /// or `enable_all`). At least 1 ms (shorter counts as 1 ms).
    ///
    /// ```
    /// use std::time::Duration;
    /// use amp_core::session::Options;
    /// let o = Options::default().unfinished_box_timeout(Duration::from_secs(30));
    /// assert_eq!(o.box_timeout(), Some(Duration::from_secs(30)));
    /// let o = Options::default().unfinished_box_timeout(Duration::ZERO);
    /// assert_eq!(o.box_timeout(), Some(Duration::from_millis(1)));
    /// ```
    pub fn unfinished_box_timeout(mut self, timeout: Duration) -> Self {
        self.box_timeout = Some(timeout.max(MIN_TIMEOUT));
        self
    }

    /// How long a connection may stay idle: once a whole `timeout` passes
    /// with nothing received and nothing sent, and nothing under way (no
    /// call of this side waiting for its answer, no responder running or
    /// waiting, no part of a box received, nothing left to write), the
    /// connection is closed with [`ConnectionError::IdleTimeout`]. The timer
    /// runs all the time and looks when it goes off, so an idle connection
    /// ends between one and two timeouts after it went quiet. With a
    /// server's `max_connections`, it keeps peers that connect and then say
    /// nothing from holding every place. Default: none (as in Twisted).
    /// Like [`unfinished_box_timeout`](Self::unfinished_box_timeout), it
    /// uses the transport's [`ReadHalf::sleep`]. At least 1 ms (shorter
    /// counts as 1 ms: a timer that is always due would keep a busy
    /// connection's reader spinning).
    ///
    /// ```
    /// use std::time::Duration;
    /// use amp_core::session::Options;
    /// let o = Options::default().idle_timeout(Duration::from_secs(300));
    /// assert_eq!(o.idle(), Some(Duration::from_secs(300)));
    /// let o = Options::default().idle_timeout(Duration::ZERO);
    /// assert_eq!(o.idle(), Some(Duration::from_millis(1)));
    /// ```
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout.max(MIN_TIMEOUT));
        self
    }

    /// How long a connection may stay idle, if that is bounded.
    ///
    /// ```
    /// assert_eq!(amp_core::session::Options::default().idle(), None);
    /// ```
    pub fn idle(&self) -> Option<Duration> {
        self.idle_timeout
    }

    /// How long a box may stay unfinished, if that is bounded.
    ///
    /// ```
    /// assert_eq!(amp_core::session::Options::default().box_timeout(), None);
    /// ```
    pub fn box_timeout(&self) -> Option<Duration> {
        self.box_timeout
    }

    /// The core's settings.
    ///
    /// ```
    /// assert!(!amp_core::session::Options::default().core_config().delivers_raw_boxes());
    /// ```
    pub fn core_config(&self) -> &Config {
        &self.config
    }

    /// Responders allowed at once.
    ///
    /// ```
    /// assert_eq!(amp_core::session::Options::default().responders(), 1024);
    /// ```
    pub fn responders(&self) -> usize {
        self.max_responders
    }

    /// Outbound bytes allowed to wait.
    ///
    /// ```
    /// assert_eq!(amp_core::session::Options::default().outbound_bytes(), 4 << 20);
    /// ```
    pub fn outbound_bytes(&self) -> usize {
        self.max_outbound_bytes
    }

    /// Bytes asked for per read.
    ///
    /// ```
    /// assert_eq!(amp_core::session::Options::default().read_chunk(), 64 * 1024);
    /// ```
    pub fn read_chunk(&self) -> usize {
        self.read_buffer
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
    /// The peer's address, if the transport has one.
    ///
    /// ```no_run
    /// # fn f(ctx: amp_core::session::Context) {
    /// println!("request from {:?}", ctx.peer_addr());
    /// # }
    /// ```
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer.peer_addr()
    }
}

/// The responders of a connection run by this module.
pub type Responders = Locator<Context>;

/// The receiving half of a transport.
pub trait ReadHalf: Send + 'static {
    /// Reads some bytes onto the end of `buf`; `Ok(0)` is the end of the
    /// stream. Must be cancel-safe: dropped before it finishes, it has read
    /// nothing.
    fn read(&mut self, buf: &mut BytesMut) -> impl Future<Output = io::Result<usize>> + Send;

    /// Resolves after `duration`: the runtime's timer, used only for
    /// [`Options::unfinished_box_timeout`] and [`Options::idle_timeout`].
    /// The default never resolves, so on a transport that keeps it neither
    /// timeout fires: right for one whose boxes arrive whole and whose
    /// connection is watched elsewhere (a route of `amp-router`), not for
    /// a socket. The readers of amp-tokio and amp-async-std use their
    /// runtime's timer.
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send + 'static
    where
        Self: Sized,
    {
        let _ = duration;
        std::future::pending()
    }
}

/// The sending half of a transport.
pub trait WriteHalf: Send + 'static {
    /// Writes all of `bytes` (and flushes them).
    fn write_all(&mut self, bytes: &[u8]) -> impl Future<Output = io::Result<()>> + Send;
    /// Closes the sending direction once everything is written.
    fn close(&mut self) -> impl Future<Output = io::Result<()>> + Send;
}

struct State {
    conn: Connection,
    /// This side's calls, from the moment they are queued until their
    /// caller takes the outcome (or gives up).
    pending: HashMap<CallId, Slot, crate::dispatcher::CallIdHash>,
    /// Bytes of the requests in `pending` not answered yet: this side's
    /// calls in flight.
    in_flight: usize,
    /// Bytes handed to the writer so far (for the idle timeout).
    sent: u64,
}

/// One call's place in the pending table: where its outcome is left for the
/// caller, and who to wake when it is. (No channel per call: the table is
/// under the connection's lock anyway.)
struct Slot {
    waker: Option<Waker>,
    outcome: Option<CallOutcome>,
    /// The request's share of `in_flight` until it is answered.
    size: usize,
}

impl State {
    /// Whether a call of this side waits for its answer, or received bytes
    /// wait to be decoded, or bytes wait to be written (the responders are
    /// the reader's to count).
    fn has_work(&self) -> bool {
        !self.pending.is_empty() || self.conn.pending_transmit() > 0 || self.conn.buffered() > 0
    }

    /// Leaves a call's outcome for its caller; returns who to wake.
    fn settle(&mut self, id: CallId, outcome: CallOutcome) -> Option<Waker> {
        // A caller that went away has no slot: its outcome is dropped, as a
        // cancelled call's answer is dropped.
        let slot = self.pending.get_mut(&id)?;
        if slot.outcome.is_some() {
            return None;
        }
        slot.outcome = Some(outcome);
        self.in_flight -= std::mem::take(&mut slot.size);
        slot.waker.take()
    }

    /// Whether a call or a box may be queued now: the bytes waiting to be
    /// written plus this side's requests still waiting for their answer are
    /// under the budget (or the connection has ended, which queueing then
    /// reports).
    fn has_room(&self, max_outbound: usize) -> bool {
        self.conn.is_closed() || self.conn.pending_transmit() + self.in_flight < max_outbound
    }

    /// Queues a call and gives it a slot in the pending table, with the
    /// caller's waker if it is known already.
    fn queue_call(
        &mut self,
        command: &str,
        arguments: Body<'_>,
        requires_answer: bool,
        waker: Option<&Waker>,
    ) -> Result<Option<CallId>, SendError> {
        let queued = self.conn.call_body(command, arguments, requires_answer);
        if let Ok(Some(id)) = queued {
            let size = arguments.encoded_len() + command.len() + 32;
            self.pending.insert(
                id,
                Slot {
                    waker: waker.cloned(),
                    outcome: None,
                    size,
                },
            );
            self.in_flight += size;
        }
        queued
    }
}

/// A wake-up for one waiting task, kept until it is taken (so a signal sent
/// while the task is busy is not lost) and costing no allocation per wait.
#[derive(Default)]
struct Signal {
    set: AtomicBool,
    waker: AtomicWaker,
}

impl Signal {
    fn notify(&self) {
        self.set.store(true, Ordering::Release);
        self.waker.wake();
    }

    fn poll_take(&self, cx: &mut std::task::Context<'_>) -> Poll<()> {
        if self.set.swap(false, Ordering::AcqRel) {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        if self.set.swap(false, Ordering::AcqRel) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

struct Shared {
    state: Mutex<State>,
    /// Bytes are queued, or the connection ended (the writer waits on it).
    write_ready: Signal,
    /// Outbound space freed, or the connection ended (callers wait on it).
    space: Notify,
    /// The reader has something to look at (space freed, a shutdown, a
    /// close).
    wake_reader: Signal,
    /// The connection ended.
    ended: Notify,
    /// A graceful shutdown was asked for.
    draining: AtomicBool,
    /// Responders running or waiting for a slot, as the reader last saw
    /// them (for [`Peer::is_busy`]).
    responders_busy: AtomicUsize,
    options: Options,
    addr: Option<SocketAddr>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock but a bug in this module;
        // the state is still usable to fail calls then.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn close_reason(&self) -> Option<ConnectionError> {
        self.lock().conn.close_reason().cloned()
    }

    /// Hands out the core's events: settles calls (their callers' wakers go
    /// into `wakers`, to be woken once the lock is released), collects
    /// requests, wakes everyone when the connection ends. Stops after
    /// `max_requests` requests (the core decodes a box only when asked for
    /// the next event, so the rest stay undecoded in its buffer); returns
    /// whether it stopped there.
    fn drain(
        &self,
        state: &mut State,
        requests: &mut VecDeque<Request>,
        wakers: &mut Vec<Waker>,
        max_requests: usize,
    ) -> bool {
        let mut settled = false;
        let mut taken = 0;
        let mut stopped = false;
        while let Some(event) = state.conn.poll_event() {
            match event {
                Event::Request(req) => {
                    requests.push_back(req);
                    taken += 1;
                    if taken == max_requests {
                        stopped = true;
                        break;
                    }
                }
                Event::Closed(_reason) => {
                    #[cfg(feature = "tracing")]
                    tracing::debug!(reason = %_reason, "connection ended");
                    self.write_ready.notify();
                    self.space.notify(usize::MAX);
                    self.wake_reader.notify();
                    self.ended.notify(usize::MAX);
                }
                Event::Box(_) => {
                    // No raw box receiver in this engine: dropped.
                }
                Event::Answer { call, response } => {
                    // The common case, settled without going through a
                    // (call, outcome) pair first.
                    settled = true;
                    wakers.extend(state.settle(call, Ok(response)));
                }
                other => {
                    if let Some((id, outcome)) = settles(other) {
                        settled = true;
                        wakers.extend(state.settle(id, outcome));
                    }
                }
            }
        }
        if settled {
            // Room in the in-flight budget: one waiting caller, who passes
            // it on (see `poll_queue`).
            self.space.notify(1);
        }
        stopped
    }

    /// Closes with `reason` (if still open) and hands out what follows.
    fn end(&self, reason: ConnectionError) {
        let mut wakers = Vec::new();
        {
            let mut state = self.lock();
            state.conn.connection_lost(reason);
            self.drain(&mut state, &mut VecDeque::new(), &mut wakers, usize::MAX);
        }
        wakers.into_iter().for_each(Waker::wake);
    }

    /// The outcome of call `id`, once there is one.
    fn poll_answer(&self, id: CallId, cx: &mut std::task::Context<'_>) -> Poll<CallOutcome> {
        let mut state = self.lock();
        let Some(slot) = state.pending.get_mut(&id) else {
            // Not reached: only the caller takes its slot away. Report the
            // end rather than wait forever.
            drop(state);
            return Poll::Ready(Err(CallFailure::Connection(
                self.close_reason().unwrap_or(ConnectionError::Closed),
            )));
        };
        if slot.outcome.is_some() {
            let outcome = state.pending.remove(&id).and_then(|slot| slot.outcome);
            return Poll::Ready(
                outcome.unwrap_or(Err(CallFailure::Connection(ConnectionError::Closed))),
            );
        }
        match &mut slot.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            w => *w = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Runs `queue` (given the connection's state and the polling task's
    /// waker) once there is outbound room or the connection has ended (see
    /// [`State::has_room`]), then wakes the writer. `listener` carries the
    /// wait from one poll to the next: it is made (an allocation) only once
    /// the buffer was found full, and the room is looked at again before
    /// waiting on it, so no wake-up is missed.
    ///
    /// Freed room wakes one waiting caller at a time: each one that finds
    /// room left after queueing passes the wake-up on to the next, so a
    /// full buffer with many callers waiting does not wake them all to
    /// find it full again.
    fn poll_queue<T>(
        &self,
        listener: &mut Option<event_listener::EventListener>,
        cx: &mut std::task::Context<'_>,
        mut queue: impl FnMut(&mut State, &Waker) -> T,
    ) -> Poll<T> {
        let mut woken = false;
        loop {
            {
                let mut state = self.lock();
                if state.has_room(self.options.max_outbound_bytes) {
                    let result = queue(&mut state, cx.waker());
                    let pass_on = woken && state.has_room(self.options.max_outbound_bytes);
                    drop(state);
                    self.write_ready.notify();
                    if pass_on {
                        self.space.notify(1);
                    }
                    return Poll::Ready(result);
                }
            }
            match listener {
                None => *listener = Some(self.space.listen()),
                Some(l) => {
                    std::task::ready!(Pin::new(l).poll(cx));
                    *listener = None;
                    woken = true;
                }
            }
        }
    }

    /// Forgets a call whose caller gave up: a late answer is dropped.
    fn cancel(&self, id: CallId) {
        let mut state = self.lock();
        if let Some(slot) = state.pending.remove(&id)
            && slot.outcome.is_none()
        {
            state.in_flight -= slot.size;
            state.conn.forget(id);
            drop(state);
            self.space.notify(1);
        }
    }
}

/// The user's handles; the last one dropped closes the connection.
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.end(ConnectionError::Closed);
    }
}

/// A handle to one AMP connection. Cheap to clone. The connection closes when
/// [`close`](Self::close) is called, when the peer closes, or when the last
/// handle is dropped (a server keeps one per connection until it ends).
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
            .field("closed", &self.handle.shared.close_reason())
            .finish()
    }
}

/// Waits for a queued call's outcome; dropped before it, forgets the call.
struct AnswerWait<'a> {
    shared: &'a Shared,
    id: Option<CallId>,
}

impl Future for AnswerWait<'_> {
    type Output = CallOutcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<CallOutcome> {
        let Some(id) = self.id else {
            return Poll::Ready(Err(CallFailure::Connection(ConnectionError::Closed)));
        };
        let outcome = std::task::ready!(self.shared.poll_answer(id, cx));
        self.id = None;
        Poll::Ready(outcome)
    }
}

impl Drop for AnswerWait<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.shared.cancel(id);
        }
    }
}

/// A typed call: queued once there is room, then waiting for its answer,
/// then decoded. Written by hand rather than as an `async` block so that it
/// stays small (it is moved into whatever holds the caller's futures).
struct TypedCall<C: Command> {
    peer: Peer,
    stage: Stage,
    command: std::marker::PhantomData<fn() -> C>,
}

enum Stage {
    /// Arguments encoded (their pairs' wire form: the future stays small
    /// and queueing is one copy), not queued yet; a listener once the
    /// outbound budget was found full.
    Send(Bytes, Option<event_listener::EventListener>),
    /// The arguments did not encode.
    Invalid(crate::ValueError),
    /// Queued; waiting for the answer.
    Wait(CallId),
    Done,
}

impl<C: Command> Future for TypedCall<C> {
    type Output = Result<Option<C::Response>, CallError<C::Error>>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let shared = &*this.peer.handle.shared;
        match &mut this.stage {
            Stage::Send(arguments, listener) => {
                let queued = std::task::ready!(shared.poll_queue(listener, cx, |state, waker| {
                    state.queue_call(
                        C::NAME,
                        Body::Wire(arguments),
                        C::REQUIRES_ANSWER,
                        Some(waker),
                    )
                }));
                match queued {
                    Ok(Some(id)) => {
                        // Its slot has this task's waker: wait without
                        // looking again.
                        this.stage = Stage::Wait(id);
                        Poll::Pending
                    }
                    Ok(None) => {
                        this.stage = Stage::Done;
                        Poll::Ready(Ok(None))
                    }
                    Err(e) => {
                        this.stage = Stage::Done;
                        Poll::Ready(decode_outcome::<C>(Err(send_failure(e))).map(Some))
                    }
                }
            }
            Stage::Wait(id) => {
                let outcome = std::task::ready!(shared.poll_answer(*id, cx));
                this.stage = Stage::Done;
                Poll::Ready(decode_outcome::<C>(outcome).map(Some))
            }
            Stage::Invalid(_) | Stage::Done => {
                match std::mem::replace(&mut this.stage, Stage::Done) {
                    Stage::Invalid(e) => Poll::Ready(Err(CallError::Value(e))),
                    _ => panic!("a call's future was polled after it completed"),
                }
            }
        }
    }
}

impl<C: Command> Drop for TypedCall<C> {
    fn drop(&mut self) {
        if let Stage::Wait(id) = self.stage {
            self.peer.handle.shared.cancel(id);
        }
    }
}

/// What a call that could not be queued failed with.
fn send_failure(e: SendError) -> CallFailure {
    match e {
        SendError::Closed(reason) => CallFailure::Connection(reason),
        other => CallFailure::Send(other),
    }
}

impl Peer {
    fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    /// The peer's address, if the transport has one.
    ///
    /// ```
    /// # let peer = amp_core::session::tests_support::idle_peer();
    /// assert!(peer.peer_addr().is_none());
    /// ```
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.shared().addr
    }

    /// Runs `queue` on the connection once there is room (or the connection
    /// has ended, which `queue` then reports): the bytes waiting to be
    /// written plus this side's requests still waiting for their answer stay
    /// under `max_outbound_bytes`. Bounding the requests in flight, not only
    /// the unwritten bytes, is what lets two peers that flood each other
    /// with calls both keep reading: each holds at most the other's budget
    /// of requests it cannot start yet (see `max_waiting_bytes`).
    async fn queue<T>(
        &self,
        mut queue: impl FnMut(&mut State) -> Result<T, SendError>,
    ) -> Result<T, SendError> {
        let mut listener = None;
        poll_fn(|cx| {
            self.shared()
                .poll_queue(&mut listener, cx, |state, _| queue(state))
        })
        .await
    }

    async fn call_box(
        &self,
        command: &str,
        arguments: &AmpBox,
        requires_answer: bool,
    ) -> Result<Option<AmpBox>, CallFailure> {
        let shared = self.shared();
        let queued = self
            .queue(|state| state.queue_call(command, Body::Box(arguments), requires_answer, None))
            .await
            .map_err(send_failure)?;
        let Some(id) = queued else {
            return Ok(None);
        };
        AnswerWait {
            shared,
            id: Some(id),
        }
        .await
        .map(Some)
    }

    /// Calls command `C` and waits for its response. A command that wants no
    /// answer returns as soon as it is queued, with `None`. The arguments are
    /// encoded when `call` is called, so the returned future borrows nothing
    /// and can be spawned.
    ///
    /// The error says what happened: one of the command's declared errors,
    /// an undeclared remote error (`UNKNOWN`, `UNHANDLED`, ...), a value that
    /// does not encode or decode, or the end of the connection.
    ///
    /// Dropping the future cancels the call: its answer, if it comes, is
    /// dropped quietly. A timeout is therefore the runtime's timeout wrapped
    /// around this future.
    ///
    /// ```
    /// # use amp_core::Command;
    /// # #[derive(serde::Serialize, serde::Deserialize)] pub struct SumArgs { a: i64, b: i64 }
    /// # #[derive(serde::Serialize, serde::Deserialize)] pub struct Total { total: i64 }
    /// # struct Sum; impl Command for Sum { const NAME: &'static str = "Sum"; type Arguments = SumArgs; type Response = Total; type Error = std::convert::Infallible; }
    /// # let peer = amp_core::session::tests_support::idle_peer();
    /// let call = peer.call::<Sum>(&SumArgs { a: 1, b: 2 });
    /// drop(call); // cancelled before it was even sent
    /// ```
    pub fn call<C: Command>(
        &self,
        arguments: &C::Arguments,
    ) -> impl Future<Output = Result<Option<C::Response>, CallError<C::Error>>> + Send + 'static + use<C>
    {
        let stage = match crate::ser::to_wire(arguments) {
            Ok(wire) => Stage::Send(wire, None),
            Err(e) => Stage::Invalid(e),
        };
        let call = TypedCall::<C> {
            peer: self.clone(),
            stage,
            command: std::marker::PhantomData,
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
    /// # async fn f(peer: amp_core::session::Peer) {
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
            .map(Option::unwrap_or_default)
    }

    /// Sends a command by name without asking for an answer.
    ///
    /// ```no_run
    /// # async fn f(peer: amp_core::session::Peer) {
    /// peer.notify_remote("Notify", amp_core::AmpBox::from_pairs([("text", "hi")])).await.unwrap();
    /// # }
    /// ```
    pub async fn notify_remote(&self, command: &str, arguments: AmpBox) -> Result<(), CallFailure> {
        self.call_box(command, &arguments, false).await.map(|_| ())
    }

    /// Sends any box as it is.
    ///
    /// ```no_run
    /// # async fn f(peer: amp_core::session::Peer) {
    /// peer.send_box(amp_core::AmpBox::from_pairs([("hello", "world")])).await.unwrap();
    /// # }
    /// ```
    pub async fn send_box(&self, b: AmpBox) -> Result<(), SendError> {
        self.queue(|state| state.conn.send_box(&b)).await
    }

    /// Closes the connection now: pending calls fail with
    /// [`ConnectionError::Closed`], running responders' results are dropped,
    /// bytes already queued are still written.
    ///
    /// ```
    /// # let peer = amp_core::session::tests_support::idle_peer();
    /// peer.close();
    /// assert!(peer.is_closed());
    /// ```
    pub fn close(&self) {
        self.shared().end(ConnectionError::Closed);
    }

    /// Starts a graceful close: the connection starts no new responder
    /// (requests still arriving are answered with a
    /// [`SHUTTING_DOWN_ERROR_CODE`] error, not fatal), lets the running
    /// responders finish (their calls back still get their answers), writes
    /// their answers, then closes ([`ConnectionError::Closed`]). Resolves when it has closed. Wrap it in
    /// the runtime's timeout and call [`close`](Self::close) after it to
    /// bound the wait.
    ///
    /// ```no_run
    /// # async fn f(peer: amp_core::session::Peer) {
    /// let reason = peer.shutdown().await;
    /// # }
    /// ```
    pub fn shutdown(&self) -> impl Future<Output = ConnectionError> + Send + 'static + use<> {
        let shared = self.shared();
        shared.draining.store(true, Ordering::SeqCst);
        shared.wake_reader.notify();
        self.closed()
    }

    /// Resolves when the connection has ended, with the reason.
    ///
    /// ```
    /// # let peer = amp_core::session::tests_support::idle_peer();
    /// peer.close();
    /// let reason = futures_executor::block_on(peer.closed());
    /// assert_eq!(reason, amp_core::ConnectionError::Closed);
    /// ```
    pub fn closed(&self) -> impl Future<Output = ConnectionError> + Send + 'static + use<> {
        // Holds the connection's state only, not a handle: waiting does not
        // keep the connection open.
        let shared = Arc::clone(&self.handle.shared);
        async move {
            loop {
                let listener = shared.ended.listen();
                if let Some(reason) = shared.close_reason() {
                    return reason;
                }
                listener.await;
            }
        }
    }

    /// Whether the connection has ended.
    ///
    /// ```
    /// # let peer = amp_core::session::tests_support::idle_peer();
    /// assert!(!peer.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared().lock().conn.is_closed()
    }

    /// Whether the connection has work under way: a call of this side
    /// waiting for its answer, a responder running or waiting for a slot,
    /// received bytes not decoded yet, or bytes not written yet. A
    /// connection that is not busy and sees no traffic is idle (what
    /// [`Options::idle_timeout`] looks for).
    ///
    /// ```
    /// # let peer = amp_core::session::tests_support::idle_peer();
    /// assert!(!peer.is_busy());
    /// ```
    pub fn is_busy(&self) -> bool {
        let shared = self.shared();
        shared.lock().has_work() || shared.responders_busy.load(Ordering::Relaxed) > 0
    }
}

type Answer = (Option<Bytes>, Result<AmpBox, ResponderError>);

/// Starts a connection over a transport: returns the peer handle and the two
/// futures that run it (reading and responding, writing), which the caller
/// spawns on its runtime. Both finish when the connection has ended.
///
/// ```
/// # use amp_core::session::{self, ReadHalf, WriteHalf};
/// # struct R; impl ReadHalf for R { async fn read(&mut self, _: &mut bytes::BytesMut) -> std::io::Result<usize> { Ok(0) } }
/// # struct W; impl WriteHalf for W { async fn write_all(&mut self, _: &[u8]) -> std::io::Result<()> { Ok(()) } async fn close(&mut self) -> std::io::Result<()> { Ok(()) } }
/// let (peer, reading, writing) = session::start(R, W, None, session::Responders::new(), Default::default());
/// // e.g. tokio::spawn(reading); tokio::spawn(writing);
/// # futures_executor::block_on(futures_util::future::join(reading, writing));
/// # assert!(peer.is_closed());
/// ```
pub fn start<R: ReadHalf, W: WriteHalf>(
    reader: R,
    writer: W,
    addr: Option<SocketAddr>,
    responders: Responders,
    options: Options,
) -> (
    Peer,
    impl Future<Output = ()> + Send + 'static,
    impl Future<Output = ()> + Send + 'static,
) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            conn: Connection::new(&options.config),
            pending: HashMap::default(),
            in_flight: 0,
            sent: 0,
        }),
        write_ready: Signal::default(),
        space: Notify::new(),
        wake_reader: Signal::default(),
        ended: Notify::new(),
        draining: AtomicBool::new(false),
        responders_busy: AtomicUsize::new(0),
        options,
        addr,
    });
    let handle = Arc::new(Handle {
        shared: Arc::clone(&shared),
    });
    let reading = read_loop(
        Arc::clone(&shared),
        Arc::downgrade(&handle),
        reader,
        responders,
    );
    let writing = write_loop(shared, writer);
    (Peer { handle }, reading, writing)
}

async fn write_loop<W: WriteHalf>(shared: Arc<Shared>, mut writer: W) {
    loop {
        let (bytes, closed) = {
            let mut state = shared.lock();
            let bytes = state.conn.take_transmit();
            state.sent += bytes.len() as u64;
            (bytes, state.conn.is_closed())
        };
        if !bytes.is_empty() {
            // Room again: wake callers waiting for space, and the reader if
            // a full outbound buffer may have kept it from starting
            // responders (waking it otherwise costs a read that finds
            // nothing on runtimes that do not remember an empty socket).
            shared.space.notify(1);
            if bytes.len() >= shared.options.max_outbound_bytes {
                shared.wake_reader.notify();
            }
            if let Err(e) = writer.write_all(&bytes).await {
                shared.end(ConnectionError::Transport(e.to_string()));
                return;
            }
            continue;
        }
        if closed {
            let _ = writer.close().await;
            return;
        }
        // A signal sent since the bytes were taken is kept: not lost.
        poll_fn(|cx| shared.write_ready.poll_take(cx)).await;
    }
}

/// Steps (and requests) of the read loop between two yields.
const YIELD_EVERY: usize = 32;

/// Requests answered before the writer gets its first turn after a read.
/// A few answers sent at once let the peer start on them while the rest
/// are worked out, so that with a handful of calls in flight both ends
/// work at the same time instead of taking turns; later chunks are larger
/// (fewer writes when much is queued).
const FIRST_CHUNK: usize = 8;

/// Lets the other tasks of the executor run once.
async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// What woke the read loop.
enum Step {
    Answered(Answer),
    Read(io::Result<usize>),
    Woken,
    /// The unfinished-box timer went off.
    BoxTimer,
    /// The idle timer went off.
    IdleTimer,
}

async fn read_loop<R: ReadHalf>(
    shared: Arc<Shared>,
    handle: Weak<Handle>,
    mut reader: R,
    responders: Responders,
) {
    let options = shared.options.clone();
    let mut running: FuturesUnordered<Pin<Box<dyn Future<Output = Answer> + Send>>> =
        FuturesUnordered::new();
    let mut buf = BytesMut::with_capacity(options.read_buffer);
    let mut wakers: Vec<Waker> = Vec::new();
    // Requests read but not started yet, and their size. Reading goes on
    // while they fit, so answers to this side's own calls keep arriving even
    // when no responder may start (all slots busy, a full outbound buffer, a
    // graceful shutdown): a responder waiting on a call back is never stuck
    // behind requests it cannot take.
    let mut waiting: VecDeque<Request> = VecDeque::new();
    let mut waiting_bytes = 0usize;
    let mut answered: Vec<Answer> = Vec::new();
    let mut eof = false;
    let mut since_yield = 0usize;
    // Received bytes not decoded yet: requests are decoded a batch at a
    // time, as responders can take them, so that a large read does not turn
    // into a long queue of decoded requests (the working set stays small).
    let mut more_buffered = false;
    // Bytes were just read and no answer has been sent for them yet.
    let mut fresh_read = false;
    // The unfinished-box timeout: bytes of a box begun and not finished
    // (after everything complete was decoded), every byte read so far, and
    // the timer with how many bytes had been decoded into whole boxes when
    // it was set. When it goes off with none decoded since, the peer is
    // late.
    let box_timeout = options.box_timeout();
    let mut unfinished = 0usize;
    let mut total_read = 0u64;
    let mut box_timer = None;
    let mut decoded_at_arm = 0u64;
    // The idle timeout: the timer, always set, with the bytes read and sent
    // when it was. When it goes off with neither moved and nothing under
    // way, the connection was idle for a whole timeout; otherwise it is set
    // again.
    let idle_timeout = options.idle();
    let mut idle_timer = None;
    let mut moved_at_arm = (0u64, 0u64);
    loop {
        let (closed, transmit, sent) = {
            let state = shared.lock();
            (
                state.conn.is_closed(),
                state.conn.pending_transmit(),
                state.sent,
            )
        };
        let draining = shared.draining.load(Ordering::SeqCst);
        if closed || (draining && running.is_empty() && !more_buffered) {
            break;
        }
        // Start what may start: a free slot, room to send its answer.
        if !waiting.is_empty() && !draining {
            let chunk = if fresh_read {
                fresh_read = false;
                FIRST_CHUNK
            } else {
                YIELD_EVERY
            };
            if let Some(handle) = handle.upgrade() {
                let peer = Peer { handle };
                while running.len() < options.max_responders
                    && transmit < options.max_outbound_bytes
                    && answered.len() < chunk
                {
                    let Some(mut req) = waiting.pop_front() else {
                        break;
                    };
                    waiting_bytes -= req.arguments.held_len();
                    let ctx = Context { peer: peer.clone() };
                    let mut fut =
                        responders.dispatch_in_place(ctx, &req.command, &mut req.arguments);
                    // Most responders answer at once: poll each once here and
                    // keep only those that wait among the running ones.
                    // A result goes straight into `answered`, not through
                    // the poll's return value.
                    let mut tag = req.tag;
                    let first = poll_fn(|cx| {
                        Poll::Ready(std::panic::catch_unwind(AssertUnwindSafe(|| {
                            match fut.as_mut().poll(cx) {
                                Poll::Ready(result) => {
                                    answered.push((tag.take(), result));
                                    true
                                }
                                Poll::Pending => false,
                            }
                        })))
                    })
                    .await;
                    match first {
                        Ok(true) => {}
                        Ok(false) => running.push(keep_running(tag, fut)),
                        Err(_) => answered.push((tag, Err(panicked()))),
                    }
                }
                if !answered.is_empty() {
                    let closed_now = {
                        let mut state = shared.lock();
                        for (tag, result) in &answered {
                            respond(&mut state.conn, tag.as_deref(), result.as_ref());
                        }
                        answered.clear();
                        state.conn.is_closed()
                    };
                    shared.write_ready.notify();
                    if closed_now {
                        // A fatal answer ended the connection: the loop's
                        // top sees it and hands out the end.
                        continue;
                    }
                    if !waiting.is_empty() {
                        // Let the writer send these answers while the rest
                        // are worked out: both ends stay busy.
                        yield_now().await;
                        continue;
                    }
                }
            } else {
                // Every handle is gone; the connection is closing.
                waiting.clear();
                waiting_bytes = 0;
            }
        }
        let can_take =
            waiting.len() < options.max_responders && waiting_bytes < options.max_waiting_bytes;
        let can_read = !eof && can_take;
        if buf.capacity() - buf.len() < options.read_buffer / 4 {
            buf.reserve(options.read_buffer);
        }
        if let Some(timeout) = box_timeout {
            if unfinished > 0 && can_read && !more_buffered {
                if box_timer.is_none() {
                    box_timer = Some(Box::pin(R::sleep(timeout)));
                    decoded_at_arm = total_read.saturating_sub(unfinished as u64);
                }
            } else {
                box_timer = None;
            }
        }
        if let Some(timeout) = idle_timeout
            && idle_timer.is_none()
        {
            // Always running: whether the connection was idle is decided
            // when it goes off (nothing wakes this loop when the last
            // answer is written, say).
            idle_timer = Some(Box::pin(R::sleep(timeout)));
            moved_at_arm = (total_read, sent);
        }
        shared
            .responders_busy
            .store(running.len() + waiting.len(), Ordering::Relaxed);
        let step = if more_buffered && (can_take || draining) {
            // Decode more of what was read before reading again; pick up a
            // responder that has finished on the way.
            poll_fn(|cx| match running.poll_next_unpin(cx) {
                Poll::Ready(Some(answer)) => Poll::Ready(Step::Answered(answer)),
                _ => Poll::Ready(Step::Woken),
            })
            .await
        } else {
            let mut read = pin!(async {
                if can_read {
                    reader.read(&mut buf).await
                } else {
                    std::future::pending().await
                }
            });
            poll_fn(|cx| {
                if let Poll::Ready(Some(answer)) = running.poll_next_unpin(cx) {
                    return Poll::Ready(Step::Answered(answer));
                }
                if let Poll::Ready(r) = read.as_mut().poll(cx) {
                    return Poll::Ready(Step::Read(r));
                }
                if shared.wake_reader.poll_take(cx).is_ready() {
                    return Poll::Ready(Step::Woken);
                }
                if let Some(timer) = box_timer.as_mut()
                    && timer.as_mut().poll(cx).is_ready()
                {
                    return Poll::Ready(Step::BoxTimer);
                }
                if let Some(timer) = idle_timer.as_mut()
                    && timer.as_mut().poll(cx).is_ready()
                {
                    return Poll::Ready(Step::IdleTimer);
                }
                Poll::Pending
            })
            .await
        };
        let queued_before = waiting.len();
        let received = {
            let mut state = shared.lock();
            match step {
                Step::Answered((tag, result)) => {
                    respond(&mut state.conn, tag.as_deref(), result.as_ref())
                }
                Step::Read(Ok(0)) => {
                    eof = true;
                    state.conn.handle_eof();
                }
                Step::Read(Ok(n)) => {
                    total_read += n as u64;
                    fresh_read = true;
                    let core_buf = state.conn.read_buffer();
                    if core_buf.is_empty() {
                        std::mem::swap(core_buf, &mut buf);
                    } else {
                        core_buf.extend_from_slice(&buf);
                        buf.clear();
                    }
                }
                Step::Read(Err(e)) => state
                    .conn
                    .connection_lost(ConnectionError::Transport(e.to_string())),
                Step::Woken => {}
                Step::BoxTimer => {
                    box_timer = None;
                    let buffered = state.conn.buffered();
                    let decoded = total_read.saturating_sub(buffered as u64);
                    let late = buffered > 0 && decoded == decoded_at_arm;
                    if let (true, Some(timeout)) = (late, box_timeout) {
                        let reason = ConnectionError::BoxTimeout { timeout, buffered };
                        state.conn.connection_lost(reason);
                    }
                    // Otherwise a whole box came since the timer was set: a
                    // new one is set if a box is still unfinished.
                }
                Step::IdleTimer => {
                    idle_timer = None;
                    let idle = moved_at_arm == (total_read, state.sent)
                        && !state.has_work()
                        && waiting.is_empty()
                        && running.is_empty();
                    if let (true, Some(timeout)) = (idle, idle_timeout) {
                        state
                            .conn
                            .connection_lost(ConnectionError::IdleTimeout { timeout });
                    }
                    // Otherwise something moved, or is under way: the
                    // timer is set again.
                }
            }
            // Shutting down: everything received is taken, to be refused.
            let batch = if draining { usize::MAX } else { YIELD_EVERY };
            more_buffered = shared.drain(&mut state, &mut waiting, &mut wakers, batch);
            unfinished = if more_buffered {
                0
            } else {
                state.conn.buffered()
            };
            let received = waiting.len() - queued_before;
            waiting_bytes += waiting
                .range(queued_before..)
                .map(|req| req.arguments.held_len())
                .sum::<usize>();
            if shared.draining.load(Ordering::SeqCst) {
                // Shutting down: requests not started are refused.
                for req in waiting.drain(..) {
                    refuse(&mut state.conn, req);
                }
                waiting_bytes = 0;
            }
            received
        };
        // The callers whose answers came, now that the lock is free.
        wakers.drain(..).for_each(Waker::wake);
        since_yield += 1 + received;
        shared.write_ready.notify();
        // Nothing here waits while input keeps coming: give the writer (and
        // the callers just woken) a turn now and then, or a single-threaded
        // runtime would send nothing until the input stops.
        if since_yield >= YIELD_EVERY {
            since_yield = 0;
            yield_now().await;
        }
    }
    // Whoever ended the connection, make sure everyone hears of it. A
    // graceful shutdown ends here with the answers queued.
    shared.end(ConnectionError::Closed);
}

/// Error code of the answer to a request that arrives while the connection
/// is shutting down gracefully (not fatal).
pub const SHUTTING_DOWN_ERROR_CODE: &str = "SHUTTING_DOWN";

/// Answers a request that will not run: the connection is shutting down. A
/// request without `_ask` is dropped (failing it would close the connection
/// at once).
fn refuse(conn: &mut Connection, req: Request) {
    if let Some(tag) = req.tag {
        let _ = conn.fail(
            &tag,
            &ResponderError::Declared {
                code: SHUTTING_DOWN_ERROR_CODE.to_owned(),
                description: "the connection is shutting down".to_owned(),
                fatal: false,
            },
        );
    }
}

/// A responder that did not answer at its first poll, to run among the
/// others.
fn keep_running(
    tag: Option<Bytes>,
    fut: crate::ResponderFuture,
) -> Pin<Box<dyn Future<Output = Answer> + Send>> {
    Box::pin(async move {
        let result = AssertUnwindSafe(fut)
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(panicked()));
        (tag, result)
    })
}

/// What a responder that panicked answers.
fn panicked() -> ResponderError {
    ResponderError::undeclared("responder panicked")
}

/// Sends a responder's result. Refused only when the connection has ended;
/// the result is dropped then, with nobody left to send it to.
fn respond(conn: &mut Connection, tag: Option<&[u8]>, result: Result<&AmpBox, &ResponderError>) {
    if let Err(_e) = conn.respond_ref(tag, result) {
        #[cfg(feature = "tracing")]
        tracing::debug!(error = %_e, "responder result dropped");
    }
}

/// Connections a server holds open, for a graceful shutdown of them all.
///
/// ```
/// let live = amp_core::session::LiveConnections::default();
/// assert_eq!(live.len(), 0);
/// ```
#[derive(Clone, Default)]
pub struct LiveConnections {
    inner: Arc<LiveInner>,
}

#[derive(Default)]
struct LiveInner {
    held: Mutex<(u64, HashMap<u64, Peer>)>,
    /// A held connection ended.
    left: Notify,
}

impl LiveInner {
    fn lock(&self) -> MutexGuard<'_, (u64, HashMap<u64, Peer>)> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl LiveConnections {
    /// Holds `peer` until its connection ends; returns the future that waits
    /// for that end and lets go (spawn it).
    ///
    /// ```
    /// # let peer = amp_core::session::tests_support::idle_peer();
    /// let live = amp_core::session::LiveConnections::default();
    /// let watch = live.hold(peer.clone());
    /// assert_eq!(live.len(), 1);
    /// peer.close();
    /// futures_executor::block_on(watch);
    /// assert_eq!(live.len(), 0);
    /// ```
    pub fn hold(&self, peer: Peer) -> impl Future<Output = ()> + Send + 'static + use<> {
        let ended = peer.closed();
        let id = {
            let mut held = self.lock();
            held.0 += 1;
            let id = held.0;
            held.1.insert(id, peer);
            id
        };
        let inner = Arc::clone(&self.inner);
        async move {
            ended.await;
            inner.lock().1.remove(&id);
            inner.left.notify(usize::MAX);
        }
    }

    fn lock(&self) -> MutexGuard<'_, (u64, HashMap<u64, Peer>)> {
        self.inner.lock()
    }

    /// Waits until fewer than `max` connections are held (at once if they
    /// are): a server with a connection limit waits on it before accepting
    /// the next one, so memory is bounded in total, not only per
    /// connection. A connection is let go when the future [`hold`]
    /// returned sees it end.
    ///
    /// [`hold`]: Self::hold
    ///
    /// ```
    /// # let peer = amp_core::session::tests_support::idle_peer();
    /// use futures_util::FutureExt;
    /// let live = amp_core::session::LiveConnections::default();
    /// let watch = live.hold(peer.clone());
    /// assert!(live.room(1).now_or_never().is_none());
    /// peer.close();
    /// futures_executor::block_on(watch);
    /// assert!(live.room(1).now_or_never().is_some());
    /// ```
    pub async fn room(&self, max: usize) {
        loop {
            if self.len() < max {
                return;
            }
            let listener = self.inner.left.listen();
            // Looked at again once listening: a connection that ended in
            // between is not missed.
            if self.len() < max {
                return;
            }
            listener.await;
        }
    }

    /// Connections held.
    ///
    /// ```
    /// assert_eq!(amp_core::session::LiveConnections::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.lock().1.len()
    }

    /// Whether none is held.
    ///
    /// ```
    /// assert!(amp_core::session::LiveConnections::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Shuts every held connection down gracefully; `deadline` bounds the
    /// wait (a runtime's sleep), after which the rest are closed at once.
    ///
    /// ```
    /// let live = amp_core::session::LiveConnections::default();
    /// futures_executor::block_on(live.shutdown_all(std::future::pending()));
    /// ```
    pub async fn shutdown_all(&self, deadline: impl Future<Output = ()>) {
        let peers: Vec<Peer> = self.lock().1.values().cloned().collect();
        let all = futures_util::future::join_all(peers.iter().map(Peer::shutdown));
        let mut all = pin!(all);
        let mut deadline = pin!(deadline);
        let in_time = poll_fn(|cx| {
            if all.as_mut().poll(cx).is_ready() {
                return Poll::Ready(true);
            }
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(false);
            }
            Poll::Pending
        })
        .await;
        if !in_time {
            for peer in &peers {
                peer.close();
            }
        }
    }
}

/// Stops a server gracefully from elsewhere: shared by a server's accept
/// loop and whoever asks it to stop.
///
/// ```
/// use std::time::Duration;
/// let handle = amp_core::session::ShutdownHandle::default();
/// let server_side = handle.clone();
/// handle.ask(Duration::from_secs(2));
/// futures_executor::block_on(async {
///     assert_eq!(server_side.asked().await, Duration::from_secs(2));
///     server_side.finished();
///     handle.done().await;
/// });
/// ```
#[derive(Clone, Default)]
pub struct ShutdownHandle {
    inner: Arc<StopState>,
}

#[derive(Default)]
struct StopState {
    grace: Mutex<Option<std::time::Duration>>,
    done: AtomicBool,
    changed: Notify,
}

impl ShutdownHandle {
    /// Stops the server: it stops accepting, lets each connection's running
    /// responders finish (for at most `grace`), writes their answers, closes
    /// every connection, and finishes. Returns once it has. New calls on the
    /// closing connections fail with a connection error.
    ///
    /// ```no_run
    /// # async fn f(handle: amp_core::session::ShutdownHandle) {
    /// handle.shutdown(std::time::Duration::from_secs(5)).await;
    /// # }
    /// ```
    pub async fn shutdown(&self, grace: std::time::Duration) {
        self.ask(grace);
        self.done().await;
    }

    /// Asks for the stop without waiting for it.
    ///
    /// ```
    /// let h = amp_core::session::ShutdownHandle::default();
    /// h.ask(std::time::Duration::ZERO);
    /// assert!(h.is_asked());
    /// ```
    pub fn ask(&self, grace: std::time::Duration) {
        let mut asked = self.inner.grace.lock().unwrap_or_else(|e| e.into_inner());
        asked.get_or_insert(grace);
        drop(asked);
        self.inner.changed.notify(usize::MAX);
    }

    /// Whether a stop was asked for.
    ///
    /// ```
    /// assert!(!amp_core::session::ShutdownHandle::default().is_asked());
    /// ```
    pub fn is_asked(&self) -> bool {
        self.inner
            .grace
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// For the server: resolves with the grace period once a stop is asked.
    ///
    /// ```
    /// let h = amp_core::session::ShutdownHandle::default();
    /// h.ask(std::time::Duration::from_millis(5));
    /// let grace = futures_executor::block_on(h.asked());
    /// assert_eq!(grace.as_millis(), 5);
    /// ```
    pub async fn asked(&self) -> std::time::Duration {
        loop {
            let listener = self.inner.changed.listen();
            if let Some(grace) = *self.inner.grace.lock().unwrap_or_else(|e| e.into_inner()) {
                return grace;
            }
            listener.await;
        }
    }

    /// For the server: says it has finished stopping.
    ///
    /// ```
    /// let h = amp_core::session::ShutdownHandle::default();
    /// h.finished();
    /// futures_executor::block_on(h.done());
    /// ```
    pub fn finished(&self) {
        self.inner.done.store(true, Ordering::SeqCst);
        self.inner.changed.notify(usize::MAX);
    }

    /// Resolves once the server has finished stopping.
    ///
    /// ```
    /// let h = amp_core::session::ShutdownHandle::default();
    /// h.finished();
    /// futures_executor::block_on(h.done());
    /// ```
    pub async fn done(&self) {
        loop {
            let listener = self.inner.changed.listen();
            if self.inner.done.load(Ordering::SeqCst) {
                return;
            }
            listener.await;
        }
    }
}

#[doc(hidden)]
/// Helpers for this module's examples.
pub mod tests_support {
    use super::*;

    struct Never;
    impl ReadHalf for Never {
        async fn read(&mut self, _: &mut BytesMut) -> io::Result<usize> {
            std::future::pending().await
        }
    }
    impl WriteHalf for Never {
        async fn write_all(&mut self, _: &[u8]) -> io::Result<()> {
            Ok(())
        }
        async fn close(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A peer on a transport that never delivers anything, its loops not
    /// running.
    pub fn idle_peer() -> Peer {
        let (peer, _reading, _writing) =
            start(Never, Never, None, Responders::new(), Options::default());
        peer
    }
}
