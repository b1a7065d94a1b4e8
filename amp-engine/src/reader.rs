//! The read loop: reads, lets the state machine decode, runs responders
//! (at most `max_responders` at once, while their answers fit), answers,
//! and keeps the timer for the deadline the state machine gives (the
//! unfinished-box and idle timeouts are decided there, by
//! `Connection::poll_timeout` and `handle_timeout`).

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::io;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::task::{Poll, Waker};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use futures_channel::{mpsc, oneshot};
use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};

use amp_core::{AmpBox, ConnectionError, Request, ResponderError};

use crate::machine::{Lane, LaneId, PLAIN, lane_of};
use crate::peer::Handle;
use crate::shared::State;
use crate::shared::{Shared, Waiting};
use crate::upgrade::{Upgrade, Upgrading};
use crate::{Answer, Context, Deadline, Options, Peer, ReadHalf, Responders};

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
    /// The deadline the state machine gave ([`Connection::poll_timeout`])
    /// has passed.
    Deadline,
}

/// What the loop learns of the connection at the top of each turn.
struct Look {
    closed: bool,
    /// Bytes queued for the writer.
    transmit: usize,
    /// [`Peer::detach`] was called.
    detaching: bool,
    /// This side's calls still waiting for their answer.
    awaited: usize,
    /// An upgrade holds decoding (and so reading).
    holding: bool,
    /// The transport waits to be handed over for an upgrade.
    upgrade_ready: bool,
    /// When a graceful shutdown closes the connection.
    drain_by: Option<Instant>,
}

/// How the reader hands its half over for an upgrade (to the writer, who
/// upgrades both) and gets the new one back.
pub(crate) struct ReadSwitch<R> {
    pub(crate) to_writer: mpsc::UnboundedSender<(R, BytesMut, Upgrade)>,
    pub(crate) from_writer: mpsc::UnboundedReceiver<R>,
}

/// The read loop's state: what it holds between two turns.
struct Reader<R> {
    shared: Arc<Shared>,
    handle: Weak<Handle>,
    /// A routed connection lives until it ends, whoever holds a handle (its
    /// routes are bound and unbound as it goes); a plain one closes once
    /// every handle is gone.
    _keep: Option<Arc<Handle>>,
    /// The transport's receiving half (away while it is being upgraded).
    transport: Option<R>,
    switch: Option<ReadSwitch<R>>,
    responders: Responders,
    options: Options,
    /// Responders that did not answer at their first poll.
    running: FuturesUnordered<Pin<Box<dyn Future<Output = Answer> + Send>>>,
    /// Where reads land before they are handed to the state machine.
    buf: BytesMut,
    /// Room the next read gets: [`MIN_READ`] while reads are small,
    /// growing while they fill it, up to `read_buffer` (see
    /// [`next_read_size`]).
    read_size: usize,
    /// Callers to wake once the lock is released.
    wakers: Vec<Waker>,
    /// Requests read but not started yet, and their size. Reading goes on
    /// while they fit, so answers to this side's own calls keep arriving
    /// even when no responder may start (all slots busy, a full outbound
    /// buffer, a graceful shutdown): a responder waiting on a call back is
    /// never stuck behind requests it cannot take.
    waiting: Waiting,
    waiting_bytes: usize,
    /// Results of responders that answered at once, to send together.
    answered: Vec<Answer>,
    eof: bool,
    since_yield: usize,
    /// Received bytes not decoded yet: requests are decoded a batch at a
    /// time, as responders can take them, so that a large read does not
    /// turn into a long queue of decoded requests (the working set stays
    /// small).
    more_buffered: bool,
    /// Bytes were just read and no answer has been sent for them yet.
    fresh_read: bool,
    /// The last [`apply`](Self::apply) left the writer something to do
    /// (bytes to send, a connection to close, an upgrade under way): it is
    /// woken.
    to_write: bool,
    /// Whether the connection has a timeout to keep (else no clock is read).
    timed: bool,
    /// Whether the state machine was last told that reading is paused.
    paused: bool,
    /// The timer for the deadline the state machine gave last.
    deadline: Deadline,
}

/// What starting responders led to.
enum Started {
    /// Go on to read or wait.
    Wait,
    /// Look at the connection again first (answers were sent, or it ended).
    Again,
}

impl<R: ReadHalf> Reader<R> {
    fn look(&self) -> Look {
        let state = self.shared.lock();
        Look {
            closed: state.machine.is_closed(),
            transmit: state.machine.pending_transmit(),
            detaching: state.detaching,
            awaited: state.machine.outstanding_calls(),
            holding: state.upgrades.hold_decoding,
            upgrade_ready: state.upgrades.is_ready(),
            drain_by: state.drain_by,
        }
    }

    /// Starts what may start: a free slot, room to send its answer. Most
    /// responders answer at once: each is polled once here and only those
    /// that wait join the running ones.
    async fn start_responders(&mut self, transmit: usize) -> Started {
        let chunk = if self.fresh_read {
            self.fresh_read = false;
            FIRST_CHUNK
        } else {
            YIELD_EVERY
        };
        let Some(handle) = self.handle.upgrade() else {
            // Every handle is gone; the connection is closing.
            self.waiting.clear();
            self.waiting_bytes = 0;
            return Started::Wait;
        };
        let answered = &mut self.answered;
        if answered.capacity() == 0 {
            // Room for one at first, not the four a first push makes: a
            // quiet connection keeps this allocation while idle.
            answered.reserve_exact(1);
        }
        while self.running.len() < self.options.max_responders
            && transmit < self.options.max_outbound_bytes
            && answered.len() < chunk
        {
            let Some(mut req) = self.waiting.requests.pop_front() else {
                break;
            };
            let route = self.waiting.take_lane();
            let (lane, peer, responders) = lane_of(&route, (&handle, &self.responders));
            self.waiting_bytes -= req.arguments.held_len();
            let ctx = Context {
                peer: Peer {
                    handle: Arc::clone(peer),
                },
                responders: responders.clone(),
            };
            // One span per request served, under the connection's.
            #[cfg(feature = "tracing")]
            let span = tracing::debug_span!(
                "amp_request",
                command = %String::from_utf8_lossy(&req.command),
                tag = ?req.tag.as_deref().map(String::from_utf8_lossy),
            );
            #[cfg(feature = "tracing")]
            let entered = span.enter();
            // A responder that answers without waiting answers here, and
            // one that panics even before making its future is `UNKNOWN`.
            let mut tag = req.tag;
            let mut gave = false;
            let dispatched = std::panic::catch_unwind(AssertUnwindSafe(|| {
                responders.dispatch_to(ctx, &req.command, &mut req.arguments, &mut |result| {
                    log_answer(&result);
                    answered.push((lane, tag.take(), result));
                    gave = true;
                })
            }));
            let mut fut = match dispatched {
                Ok(Some(fut)) => fut,
                Ok(None) => continue,
                Err(_) if gave => continue,
                Err(_) => {
                    answered.push((lane, tag, Err(panicked())));
                    continue;
                }
            };
            // A result goes straight into `answered`, not through the
            // poll's return value.
            let first = poll_fn(|cx| {
                Poll::Ready(std::panic::catch_unwind(AssertUnwindSafe(|| {
                    match fut.as_mut().poll(cx) {
                        Poll::Ready(result) => {
                            log_answer(&result);
                            answered.push((lane, tag.take(), result));
                            true
                        }
                        Poll::Pending => false,
                    }
                })))
            })
            .await;
            #[cfg(feature = "tracing")]
            drop(entered);
            match first {
                Ok(true) => {}
                Ok(false) => {
                    #[cfg(feature = "tracing")]
                    let fut = Box::pin(tracing::Instrument::instrument(fut, span));
                    self.running.push(keep_running(lane, tag, fut));
                }
                Err(_) => answered.push((lane, tag, Err(panicked()))),
            }
        }
        if self.answered.is_empty() {
            return Started::Wait;
        }
        let closed_now = {
            let mut state = self.shared.lock();
            for (lane, tag, result) in &self.answered {
                self.more_buffered |= respond(&mut state, *lane, tag.as_deref(), result.as_ref());
            }
            self.answered.clear();
            // An answer that decides an upgrade: the loop's top hands the
            // transport over.
            let closed_now = state.machine.is_closed() || state.upgrades.is_ready();
            // The answers go out now, from this task where the transport
            // lets it, as a raw server answers what it read.
            crate::writer::send_now(&self.shared, state);
            closed_now
        };
        if closed_now {
            // A fatal answer ended the connection: the loop's top sees it
            // and hands out the end.
            return Started::Again;
        }
        if !self.waiting.requests.is_empty() {
            // Let the writer send these answers while the rest are worked
            // out: both ends stay busy.
            yield_now().await;
            return Started::Again;
        }
        Started::Wait
    }

    /// Tells the state machine whether this side reads, and sets the timer
    /// for the deadline it gives (the timeouts are its decisions).
    /// A graceful shutdown's end (`drain_by`) is a deadline too.
    fn set_timer(&mut self, reading: bool, drain_by: Option<Instant>) {
        let machine = if self.timed {
            let mut state = self.shared.lock();
            if self.paused == reading {
                self.paused = !reading;
                state.machine.pause_reading(self.paused);
            }
            state.machine.poll_timeout(Instant::now())
        } else if drain_by.is_none() {
            return;
        } else {
            None
        };
        let deadline = match (machine, drain_by) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.deadline.set::<R>(deadline);
    }

    /// Waits for whichever comes first: a responder finishing, a read, a
    /// wake-up, the deadline.
    async fn wait(&mut self, can_read: bool, decode_more: bool) -> Step {
        if decode_more {
            // Decode more of what was read before reading again; pick up a
            // responder that has finished on the way.
            return poll_fn(|cx| match self.running.poll_next_unpin(cx) {
                Poll::Ready(Some(answer)) => Poll::Ready(Step::Answered(answer)),
                _ => Poll::Ready(Step::Woken),
            })
            .await;
        }
        let Reader {
            shared,
            transport,
            running,
            buf,
            deadline,
            ..
        } = self;
        let mut read = pin!(async {
            if can_read && let Some(transport) = transport {
                transport.read(buf).await
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
            if deadline.poll(cx).is_ready() {
                return Poll::Ready(Step::Deadline);
            }
            Poll::Pending
        })
        .await
    }

    /// Hands what happened to the state machine, then takes its events:
    /// requests to wait for a responder, answers to their callers, boxes
    /// for the box receiver. Returns how many requests came.
    fn apply(&mut self, step: Step, draining: bool, boxes: &mut VecDeque<(Lane, AmpBox)>) -> usize {
        let queued_before = self.waiting.requests.len();
        let mut state = self.shared.lock();
        // An upgrade under way holds the writer back; what this step reads
        // may let it go on (an upgrade refused) with nothing new queued.
        let upgrading = state.upgrades.under_way();
        match step {
            Step::Answered((lane, tag, result)) => {
                self.more_buffered |= respond(&mut state, lane, tag.as_deref(), result.as_ref());
            }
            Step::Read(Ok(0)) => {
                self.eof = true;
                state.machine.handle_eof();
            }
            Step::Read(Ok(n)) => {
                self.read_size = next_read_size(self.read_size, n, self.options.read_buffer);
                self.fresh_read = true;
                let core_buf = state.machine.read_buffer();
                if core_buf.is_empty() {
                    std::mem::swap(core_buf, &mut self.buf);
                } else {
                    core_buf.extend_from_slice(&self.buf);
                    self.buf.clear();
                }
                // Descriptors that came with these bytes belong to the box
                // holding the last of them (amp_core::descriptor).
                #[cfg(unix)]
                if let Some(transport) = &mut self.transport {
                    let got = transport.take_descriptors();
                    if !got.fds.is_empty() || got.truncated {
                        state.machine.receive_descriptors(got);
                    }
                }
            }
            Step::Read(Err(e)) => state.machine.connection_lost(crate::end_reason(e)),
            Step::Woken => {}
            Step::Deadline => state.machine.handle_timeout(Instant::now()),
        }
        // Shutting down: everything received is taken, to be refused.
        let batch = if draining { usize::MAX } else { YIELD_EVERY };
        self.more_buffered =
            self.shared
                .drain(&mut state, &mut self.waiting, &mut self.wakers, batch);
        // The state machine decoded all it got: when the next read needs
        // room, its buffer's is taken back (the two are swapped at each
        // read), so that a quiet connection holds one read buffer, not two.
        if self.buf.is_empty() && self.buf.capacity() < self.read_size / 4 {
            let core_buf = state.machine.read_buffer();
            if core_buf.is_empty() && core_buf.capacity() >= self.read_size / 4 {
                std::mem::swap(core_buf, &mut self.buf);
            }
        }
        let received = self.waiting.requests.len() - queued_before;
        self.waiting_bytes += self
            .waiting
            .requests
            .range(queued_before..)
            .map(|req| req.arguments.held_len())
            .sum::<usize>();
        if draining {
            // Shutting down or coming apart: requests not started are
            // refused.
            while let Some(req) = self.waiting.requests.pop_front() {
                let route = self.waiting.take_lane();
                let lane = route.as_ref().map_or(PLAIN, |l| l.id);
                refuse(&mut state, lane, req);
            }
            self.waiting_bytes = 0;
        }
        if !state.boxes.is_empty() {
            std::mem::swap(boxes, &mut state.boxes);
        }
        // The writer has something to do: bytes to send (an answer, a
        // refusal), a connection to close, or an upgrade's progress to
        // look at.
        self.to_write = upgrading
            || state.upgrades.under_way()
            || state.machine.pending_transmit() > 0
            || state.machine.is_closed();
        received
    }

    /// Boxes that are neither requests nor answers, to the box receiver.
    fn deliver(&mut self, boxes: VecDeque<(Lane, AmpBox)>) {
        let Some(handle) = self.handle.upgrade() else {
            return;
        };
        for (route, b) in boxes {
            let (_, peer, responders) = lane_of(&route, (&handle, &self.responders));
            let ctx = Context {
                peer: Peer {
                    handle: Arc::clone(peer),
                },
                responders: responders.clone(),
            };
            let received =
                std::panic::catch_unwind(AssertUnwindSafe(|| responders.receive_box(ctx, b)));
            if received.is_err() {
                // As an exception in Twisted's ampBoxReceived drops the
                // connection: this one ends, the others go on.
                self.shared.end(ConnectionError::FatalError {
                    code: amp_core::command::UNKNOWN_ERROR_CODE.to_owned(),
                    description: "the box receiver panicked".to_owned(),
                });
                return;
            }
        }
    }

    /// Hands the receiving half and the bytes read past the last box to
    /// the writer, who upgrades the transport, and waits for the new half;
    /// running responders' answers are queued meanwhile (the writer sends
    /// them on the new transport).
    async fn switch(&mut self) {
        let (leftover, how) = {
            let mut state = self.shared.lock();
            let how = match state.upgrades.now.take() {
                Some(Upgrading::Ready(how)) => how,
                other => {
                    state.upgrades.now = other;
                    return;
                }
            };
            state.upgrades.now = Some(Upgrading::Switching);
            let mut leftover = state.machine.take_unread();
            leftover.extend_from_slice(&self.buf);
            self.buf.clear();
            (leftover, how)
        };
        let (Some(switch), Some(transport)) = (&mut self.switch, self.transport.take()) else {
            self.shared.end(ConnectionError::UpgradeFailed(
                "this connection cannot be upgraded".to_owned(),
            ));
            return;
        };
        if switch
            .to_writer
            .unbounded_send((transport, leftover, how))
            .is_err()
        {
            // The writer has finished: the connection has ended.
            self.shared.end(ConnectionError::Closed);
            return;
        }
        self.shared.write_ready.notify();
        let Reader {
            running, shared, ..
        } = self;
        loop {
            let step = poll_fn(|cx| {
                if let Poll::Ready(Some(answer)) = running.poll_next_unpin(cx) {
                    return Poll::Ready(Err(answer));
                }
                switch.from_writer.poll_next_unpin(cx).map(Ok)
            })
            .await;
            match step {
                Err((lane, tag, result)) => {
                    respond(&mut shared.lock(), lane, tag.as_deref(), result.as_ref());
                    shared.write_ready.notify();
                }
                Ok(Some(reader)) => {
                    self.transport = Some(reader);
                    return;
                }
                // The writer ended (and ended the connection first).
                Ok(None) => return,
            }
        }
    }

    /// Everything this side waited for has come, every responder has
    /// answered: what is buffered past the last box is the next protocol's.
    /// The writer sends what is queued, then hands its half back too.
    fn take_apart(self, handback: Option<oneshot::Sender<(R, BytesMut)>>) {
        let leftover = {
            let mut state = self.shared.lock();
            let mut leftover = state.machine.switch_protocol();
            leftover.extend_from_slice(&self.buf);
            leftover
        };
        self.shared.write_ready.notify();
        if let Some(handback) = handback
            && let Some(transport) = self.transport
        {
            let _ = handback.send((transport, leftover));
        }
        self.shared.end(ConnectionError::ProtocolSwitched);
    }
}

pub(crate) async fn read_loop<R: ReadHalf>(
    shared: Arc<Shared>,
    handle: Weak<Handle>,
    keep: Option<Arc<Handle>>,
    transport: R,
    responders: Responders,
    handback: Option<oneshot::Sender<(R, BytesMut)>>,
    switch: Option<ReadSwitch<R>>,
) {
    let options = shared.options.clone();
    let timed = !options.connection_config().timeouts().is_off();
    let mut r = Reader {
        buf: BytesMut::with_capacity(MIN_READ.min(options.read_buffer)),
        read_size: MIN_READ.min(options.read_buffer),
        shared,
        handle,
        _keep: keep,
        transport: Some(transport),
        switch,
        responders,
        options,
        running: FuturesUnordered::new(),
        wakers: Vec::new(),
        waiting: Waiting::default(),
        waiting_bytes: 0,
        answered: Vec::new(),
        eof: false,
        since_yield: 0,
        more_buffered: false,
        fresh_read: false,
        to_write: false,
        timed,
        paused: false,
        deadline: Deadline::default(),
    };
    loop {
        let look = r.look();
        // Coming apart is a graceful shutdown that hands the transport back
        // instead of closing it.
        let draining = look.detaching || r.shared.draining.load(Ordering::SeqCst);
        if look.closed || (!look.detaching && draining && r.running.is_empty() && !r.more_buffered)
        {
            break;
        }
        if look.drain_by.is_some_and(|by| Instant::now() >= by) {
            // The grace period is over: what still runs is dropped.
            break;
        }
        if look.detaching && r.running.is_empty() && look.awaited == 0 {
            return r.take_apart(handback);
        }
        if look.upgrade_ready {
            // Boxed: rare, and it would otherwise enlarge every reader.
            Box::pin(r.switch()).await;
            continue;
        }
        if !r.waiting.requests.is_empty()
            && !draining
            && let Started::Again = r.start_responders(look.transmit).await
        {
            continue;
        }
        let can_take = r.waiting.requests.len() < r.options.max_responders
            && r.waiting_bytes < r.options.max_waiting_bytes;
        // Coming apart, reading goes on only for answers still awaited.
        // Upgrading, what follows is the new transport's: not read yet.
        let can_read = !r.eof && can_take && !look.holding && (!look.detaching || look.awaited > 0);
        // An idle connection holds a small buffer: one that a burst grew
        // is let go once empty.
        if r.buf.is_empty() && r.buf.capacity() > 2 * r.read_size {
            r.buf = BytesMut::new();
        }
        if r.buf.capacity() - r.buf.len() < r.read_size / 4 {
            r.buf.reserve(r.read_size);
        }
        r.set_timer(can_read, look.drain_by);
        r.shared.responders_busy.store(
            r.running.len() + r.waiting.requests.len(),
            Ordering::Relaxed,
        );
        let step = r
            .wait(can_read, r.more_buffered && (can_take || draining))
            .await;
        let mut boxes = VecDeque::new();
        let received = r.apply(step, draining, &mut boxes);
        // The callers whose answers came, now that the lock is free.
        r.wakers.drain(..).for_each(Waker::wake);
        if !boxes.is_empty() {
            r.deliver(boxes);
        }
        r.since_yield += 1 + received;
        if r.to_write {
            r.shared.write_ready.notify();
        }
        // Nothing here waits while input keeps coming: give the writer (and
        // the callers just woken) a turn now and then, or a single-threaded
        // runtime would send nothing until the input stops.
        if r.since_yield >= YIELD_EVERY {
            r.since_yield = 0;
            yield_now().await;
        }
    }
    // Whoever ended the connection, make sure everyone hears of it. A
    // graceful shutdown ends here with the answers queued.
    r.shared.end(ConnectionError::Closed);
    // The routes' responders may hold handles: let them go.
    let lanes = r.shared.lock().machine.routed().map(|routed| {
        routed.by_id.clear();
        std::mem::take(&mut routed.lanes)
    });
    drop(lanes);
}

/// The room a connection's first read gets, and the least any read gets
/// (unless `Options::read_buffer` is smaller): an idle connection holds no
/// more than this for reading.
const MIN_READ: usize = 1024;

/// The room for the next read, after one that brought `n` bytes into
/// `size`: four times more (up to `max`) when it filled it, half (down to
/// [`MIN_READ`]) when it used less than an eighth, else the same. Busy
/// pipelined connections reach `max` in a few reads; quiet ones stay small.
///
/// The sizes stay within `[MIN_READ.min(max), max]`.
fn next_read_size(size: usize, n: usize, max: usize) -> usize {
    let least = MIN_READ.min(max);
    if n >= size {
        size.saturating_mul(4).min(max)
    } else if n < size / 8 {
        (size / 2).max(least)
    } else {
        size
    }
}

/// Error code of the answer to a request that arrives while the connection
/// is shutting down gracefully (not fatal).
pub const SHUTTING_DOWN_ERROR_CODE: &str = "SHUTTING_DOWN";

/// Answers a request that will not run: the connection is shutting down. A
/// request without `_ask` is dropped (failing it would close the connection
/// at once).
fn refuse(state: &mut State, lane: LaneId, req: Request) {
    if let Some(tag) = req.tag {
        let _ = state.machine.fail(
            lane,
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
    lane: LaneId,
    tag: Option<Bytes>,
    fut: amp_core::ResponderFuture,
) -> Pin<Box<dyn Future<Output = Answer> + Send>> {
    Box::pin(async move {
        let result = AssertUnwindSafe(fut)
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(panicked()));
        log_answer(&result);
        (lane, tag, result)
    })
}

/// An error answer, as an event in the request's span (an undeclared
/// failure's reason is logged where it happens, by the responders).
#[inline]
fn log_answer(_result: &Result<AmpBox, ResponderError>) {
    #[cfg(feature = "tracing")]
    if let Err(e) = _result {
        tracing::debug!(code = e.code(), fatal = e.is_fatal(), "error answer");
    }
}

/// What a responder that panicked answers.
fn panicked() -> ResponderError {
    ResponderError::undeclared("responder panicked")
}

/// Sends a responder's result. Refused only when the connection has ended;
/// the result is dropped then, with nobody left to send it to. The answer
/// to an upgrade request decides the upgrade: yes, and it is the last box
/// written on the old transport; an error, and decoding goes on (returns
/// true then: the buffered bytes are to be decoded).
fn respond(
    state: &mut State,
    lane: LaneId,
    tag: Option<&[u8]>,
    result: Result<&AmpBox, &ResponderError>,
) -> bool {
    if let Err(_e) = state.machine.respond_ref(lane, tag, result) {
        #[cfg(feature = "tracing")]
        tracing::debug!(error = %_e, "responder result dropped");
    }
    if lane == PLAIN
        && let Some(Upgrading::Asked {
            tag: asked,
            command,
        }) = &state.upgrades.now
        && tag == Some(&asked[..])
    {
        if result.is_ok() && !state.machine.is_closed() {
            let command = command.clone();
            state.upgrades.now = Some(Upgrading::Ready(Upgrade::Answered { command }));
            state.upgrades.write_limit = Some(state.machine.pending_transmit());
        } else {
            state.upgrades.now = None;
            state.upgrades.hold_decoding = false;
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::{MIN_READ, next_read_size};

    #[test]
    fn reads_that_fill_the_room_grow_it_to_the_most_and_small_ones_shrink_it() {
        let max = 64 * 1024;
        let mut size = MIN_READ;
        let mut steps = 0;
        while size < max {
            size = next_read_size(size, size, max);
            steps += 1;
        }
        assert_eq!(size, max, "never past the most");
        assert!(
            steps <= 4,
            "a busy connection reaches the most in a few reads"
        );
        // A read that leaves room changes nothing.
        assert_eq!(next_read_size(size, size / 2, max), size);
        while size > MIN_READ {
            size = next_read_size(size, 40, max);
        }
        assert_eq!(size, MIN_READ, "never below the least");
        assert_eq!(next_read_size(MIN_READ, 0, max), MIN_READ);
    }

    #[test]
    fn a_read_buffer_below_the_least_is_the_size_of_every_read() {
        assert_eq!(next_read_size(512, 512, 512), 512);
        assert_eq!(next_read_size(512, 1, 512), 512);
    }
}
