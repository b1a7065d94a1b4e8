//! The state a connection's handle, reader and writer share: the state
//! machine, the pending-call table, and the wake-ups between them.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use event_listener::Event as Notify;
use futures_util::task::AtomicWaker;

use amp_core::dispatcher::{Body, settles};
use amp_core::router::RoutedEvent;
use amp_core::{
    AmpBox, CallError, CallId, CallOutcome, ConnectionError, Event, Request, SendError,
};

use crate::machine::{Lane, LaneId, Machine, PLAIN, RouteLane, call_key};
use crate::upgrade::{Upgrade, Upgrades, Upgrading};
use crate::{DirectWrite, Options};

/// Requests read and not started yet, and the routes they came on. The
/// routes are kept apart from the requests: a plain connection's requests
/// have none, and its queue holds the requests alone, as it did before
/// routes ran on the engine. On a routed connection every request has its
/// route, in the same order.
#[derive(Default)]
pub(crate) struct Waiting {
    pub(crate) requests: VecDeque<Request>,
    lanes: VecDeque<Arc<RouteLane>>,
}

impl Waiting {
    pub(crate) fn push(&mut self, lane: Lane, req: Request) {
        if let Some(lane) = lane {
            self.lanes.push_back(lane);
        }
        if self.requests.capacity() == 0 {
            // Room for one at first, not the four a first push makes: a
            // quiet connection keeps this allocation while idle.
            self.requests.reserve_exact(1);
        }
        self.requests.push_back(req);
    }

    /// The route of the request [`pop_front`](VecDeque::pop_front) just
    /// took from `requests`.
    pub(crate) fn take_lane(&mut self) -> Lane {
        if self.lanes.is_empty() {
            None
        } else {
            self.lanes.pop_front()
        }
    }

    pub(crate) fn clear(&mut self) {
        self.requests.clear();
        self.lanes.clear();
    }
}

pub(crate) struct State {
    /// The state machine: a plain connection or a router.
    pub(crate) machine: Machine,
    /// This side's calls, from the moment they are queued until their
    /// caller takes the outcome (or gives up).
    pub(crate) pending: HashMap<CallId, Slot, amp_core::dispatcher::CallIdHash>,
    /// Bytes of the requests in `pending` not answered yet: this side's
    /// calls in flight.
    pub(crate) in_flight: usize,
    /// Received boxes that are neither requests nor answers, for the
    /// responders' box receiver (at most what one read brought).
    pub(crate) boxes: VecDeque<(Lane, AmpBox)>,
    /// [`Peer::detach`](crate::Peer::detach) was called: no new call or
    /// box is queued, and the connection comes apart once its traffic is
    /// drained.
    pub(crate) detaching: bool,
    /// Upgrading the transport in place (StartTLS).
    pub(crate) upgrades: Upgrades,
    /// A graceful shutdown's end: the reader closes the connection then,
    /// whatever still runs.
    pub(crate) drain_by: Option<Instant>,
    /// Bytes taken from the queue are being written, by the writer or at
    /// once by the task that queued them (see [`crate::writer::send_now`]):
    /// nobody else takes any until they are out.
    pub(crate) writing: bool,
    /// Bytes taken from the queue and not written yet, which the writer
    /// sends before anything queued after them: what a write at once left
    /// (the transport was full), or what an upgrade holds back for the
    /// new transport (sent once it is up).
    pub(crate) held: BytesMut,
    /// The emptied buffer of the last write at once, for the queue's next
    /// one.
    pub(crate) spare: BytesMut,
}

/// One call's place in the pending table: where its outcome is left for the
/// caller, and who to wake when it is. (No channel per call: the table is
/// under the connection's lock anyway.)
pub(crate) struct Slot {
    pub(crate) waker: Option<Waker>,
    pub(crate) outcome: Option<CallOutcome>,
    /// The request's share of `in_flight` until it is answered.
    pub(crate) size: usize,
}

impl State {
    /// Whether a call of this side waits for its answer, or received bytes
    /// wait to be decoded, or bytes wait to be written (the responders are
    /// the reader's to count).
    pub(crate) fn has_work(&self) -> bool {
        !self.pending.is_empty()
            || self.machine.pending_transmit() > 0
            || self.machine.buffered() > 0
    }

    /// Leaves a call's outcome for its caller; returns who to wake.
    pub(crate) fn settle(&mut self, id: CallId, outcome: CallOutcome) -> Option<Waker> {
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
    pub(crate) fn has_room(&self, max_outbound: usize) -> bool {
        self.machine.is_closed() || self.machine.pending_transmit() + self.in_flight < max_outbound
    }

    /// Queues a call and gives it a slot in the pending table, with the
    /// caller's waker if it is known already.
    pub(crate) fn queue_call(
        &mut self,
        lane: LaneId,
        command: &str,
        arguments: Body<'_>,
        requires_answer: bool,
        waker: Option<&Waker>,
    ) -> Result<Option<CallId>, SendError> {
        if self.detaching || self.upgrades.locked {
            return Err(SendError::Closed(ConnectionError::ProtocolSwitched));
        }
        let queued = self
            .machine
            .call_body(lane, command, arguments, requires_answer);
        if let Ok(Some(id)) = queued {
            let size = arguments.encoded_len() + command.len() + 32;
            self.pending.insert(
                call_key(lane, id),
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
pub(crate) struct Signal {
    pub(crate) set: AtomicBool,
    pub(crate) waker: AtomicWaker,
}

impl Signal {
    pub(crate) fn notify(&self) {
        self.set.store(true, Ordering::Release);
        self.waker.wake();
    }

    pub(crate) fn poll_take(&self, cx: &mut std::task::Context<'_>) -> Poll<()> {
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

pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    /// Bytes are queued, or the connection ended (the writer waits on it).
    pub(crate) write_ready: Signal,
    /// Outbound space freed, or the connection ended (callers wait on it).
    pub(crate) space: Notify,
    /// The reader has something to look at (space freed, a shutdown, a
    /// close).
    pub(crate) wake_reader: Signal,
    /// The connection ended.
    pub(crate) ended: Notify,
    /// An upgrade of the transport finished, or the connection ended.
    pub(crate) upgraded: Notify,
    /// A graceful shutdown was asked for.
    pub(crate) draining: AtomicBool,
    /// Responders running or waiting for a slot, as the reader last saw
    /// them (for [`Peer::is_busy`]).
    pub(crate) responders_busy: AtomicUsize,
    pub(crate) options: Options,
    pub(crate) addr: Option<SocketAddr>,
    /// Writes to the transport without waiting, if it can
    /// ([`WriteHalf::direct`](crate::WriteHalf::direct)).
    pub(crate) direct: Option<Arc<dyn DirectWrite>>,
    /// The connection's span: its loops run in it, and its requests' and
    /// calls' spans are its children.
    #[cfg(feature = "tracing")]
    pub(crate) span: tracing::Span,
}

impl Shared {
    /// The shared state of a new connection driving `machine`.
    pub(crate) fn new(
        machine: Machine,
        options: Options,
        addr: Option<SocketAddr>,
        direct: Option<Arc<dyn DirectWrite>>,
    ) -> Arc<Shared> {
        #[cfg(feature = "tracing")]
        let span = tracing::debug_span!(
            "amp_connection",
            peer = ?addr,
            routed = matches!(machine, Machine::Routed(_)),
        );
        Arc::new(Shared {
            state: Mutex::new(State {
                machine,
                pending: HashMap::default(),
                in_flight: 0,
                boxes: VecDeque::new(),
                detaching: false,
                upgrades: Upgrades::default(),
                drain_by: None,
                writing: false,
                held: BytesMut::new(),
                spare: BytesMut::new(),
            }),
            write_ready: Signal::default(),
            space: Notify::new(),
            wake_reader: Signal::default(),
            ended: Notify::new(),
            upgraded: Notify::new(),
            draining: AtomicBool::new(false),
            responders_busy: AtomicUsize::new(0),
            options,
            addr,
            direct,
            #[cfg(feature = "tracing")]
            span,
        })
    }

    /// `reading` and `writing` in the connection's span.
    pub(crate) fn in_span<F: Future<Output = ()>>(
        &self,
        loop_: F,
    ) -> impl Future<Output = ()> + use<F> {
        #[cfg(feature = "tracing")]
        let loop_ = tracing::Instrument::instrument(loop_, self.span.clone());
        loop_
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock but a bug in this module;
        // the state is still usable to fail calls then.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops the connection: at once for a zero `grace`; otherwise it
    /// starts no new responder, and the reader closes it when the running
    /// ones are done or `grace` has passed, whichever comes first. A second
    /// stop can only bring the end closer.
    pub(crate) fn stop(&self, grace: Duration) {
        if grace.is_zero() {
            self.end(ConnectionError::Closed);
            return;
        }
        if let Some(by) = Instant::now().checked_add(grace) {
            let mut state = self.lock();
            state.drain_by = Some(state.drain_by.map_or(by, |at| at.min(by)));
        }
        self.draining.store(true, Ordering::SeqCst);
        self.wake_reader.notify();
    }

    pub(crate) fn close_reason(&self) -> Option<ConnectionError> {
        self.lock().machine.close_reason().cloned()
    }

    /// Hands out the core's events: settles calls (their callers' wakers go
    /// into `wakers`, to be woken once the lock is released), collects
    /// requests, wakes everyone when the connection ends. Stops after
    /// `max_requests` requests (the core decodes a box only when asked for
    /// the next event, so the rest stay undecoded in its buffer); returns
    /// whether it stopped there.
    pub(crate) fn drain(
        &self,
        state: &mut State,
        requests: &mut Waiting,
        wakers: &mut Vec<Waker>,
        max_requests: usize,
    ) -> bool {
        // One loop, made twice: the plain connection's has no route to look
        // up and nothing built around its events.
        match state.machine {
            Machine::Plain(_) => self.drain_from(state, requests, wakers, max_requests, next_plain),
            Machine::Routed(_) => {
                self.drain_from(state, requests, wakers, max_requests, next_routed)
            }
        }
    }

    #[inline(always)]
    fn drain_from(
        &self,
        state: &mut State,
        requests: &mut Waiting,
        wakers: &mut Vec<Waker>,
        max_requests: usize,
        mut next: impl FnMut(&mut State, &mut Lane) -> Option<Event>,
    ) -> bool {
        let mut settled = false;
        let mut taken = 0;
        let mut stopped = false;
        loop {
            // Coming apart: not one box is decoded past the last answer
            // this side waits for; what follows is the next protocol's.
            // (Not `stopped`: those bytes are left for the next protocol,
            // not waiting to be decoded.)
            if state.detaching && state.machine.outstanding_calls() == 0 {
                break;
            }
            // Upgrading: the bytes after the box that switches are the
            // new transport's.
            if state.upgrades.hold_decoding && !state.machine.is_closed() {
                break;
            }
            let mut lane = None;
            let Some(event) = next(state, &mut lane) else {
                break;
            };
            match event {
                Event::Request(req) => {
                    if state.upgrades.enabled
                        && lane.is_none()
                        && state.upgrades.upgrades_on(&req.command)
                        && let Some(tag) = &req.tag
                    {
                        if state.upgrades.now.is_some() {
                            // One upgrade at a time.
                            let _ = state.machine.fail(
                                PLAIN,
                                tag,
                                &amp_core::ResponderError::Declared {
                                    code: UPGRADE_IN_PROGRESS_ERROR_CODE.to_owned(),
                                    description: "an upgrade of this connection is under way"
                                        .to_owned(),
                                    fatal: false,
                                },
                            );
                            continue;
                        }
                        // Nothing after it is decoded until it is answered:
                        // if the answer says yes, what follows is the new
                        // transport's.
                        state.upgrades.now = Some(Upgrading::Asked {
                            tag: tag.clone(),
                            command: req.command.clone(),
                        });
                        state.upgrades.hold_decoding = true;
                        requests.push(lane, req);
                        break;
                    }
                    requests.push(lane, req);
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
                    self.upgraded.notify(usize::MAX);
                }
                Event::Box(b) => {
                    // For the responders' box receiver, which the reader
                    // runs once the lock is released.
                    state.boxes.push_back((lane, b));
                }
                Event::Answer { call, response } => {
                    // The common case, settled without going through a
                    // (call, outcome) pair first.
                    settled = true;
                    let key = call_key(lane.as_ref().map_or(PLAIN, |l| l.id), call);
                    wakers.extend(state.settle(key, Ok(response)));
                    if let Some(Upgrading::Called { call, how }) = &mut state.upgrades.now
                        && *call == key
                    {
                        // The peer said yes: the answer was the last box of
                        // the old transport.
                        let how = how.take().unwrap_or_else(|| Box::new(()));
                        state.upgrades.now = Some(Upgrading::Ready(Upgrade::Called(how)));
                        state.upgrades.hold_decoding = true;
                        break;
                    }
                }
                other => {
                    if let Some((id, outcome)) = settles(other) {
                        settled = true;
                        let key = call_key(lane.as_ref().map_or(PLAIN, |l| l.id), id);
                        wakers.extend(state.settle(key, outcome));
                        // An upgrade call refused: the writer goes on.
                        state.upgrades.call_failed(key);
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
    pub(crate) fn end(&self, reason: ConnectionError) {
        let mut wakers = Vec::new();
        {
            let mut state = self.lock();
            state.machine.connection_lost(reason);
            self.drain(&mut state, &mut Waiting::default(), &mut wakers, usize::MAX);
        }
        wakers.into_iter().for_each(Waker::wake);
    }

    /// The outcome of call `id` of `lane`, once there is one.
    pub(crate) fn poll_answer(
        &self,
        lane: LaneId,
        id: CallId,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<CallOutcome> {
        let id = call_key(lane, id);
        let mut state = self.lock();
        let Some(slot) = state.pending.get_mut(&id) else {
            // Not reached: only the caller takes its slot away. Report the
            // end rather than wait forever.
            drop(state);
            return Poll::Ready(Err(CallError::Connection(
                self.close_reason().unwrap_or(ConnectionError::Closed),
            )));
        };
        if slot.outcome.is_some() {
            let outcome = state.pending.remove(&id).and_then(|slot| slot.outcome);
            return Poll::Ready(
                outcome.unwrap_or(Err(CallError::Connection(ConnectionError::Closed))),
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
    pub(crate) fn poll_queue<T>(
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
                    if state.pending.len() <= 1 {
                        // Nothing else of this side in flight: no other call
                        // to send along with it, so it goes now.
                        crate::writer::send_now(self, state);
                    } else {
                        // Others in flight: the writer sends whatever their
                        // callers queue meanwhile in one write.
                        drop(state);
                        self.write_ready.notify();
                    }
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
    pub(crate) fn cancel(&self, lane: LaneId, id: CallId) {
        let mut state = self.lock();
        if let Some(slot) = state.pending.remove(&call_key(lane, id))
            && slot.outcome.is_none()
        {
            state.in_flight -= slot.size;
            // An upgrade call's answer still switches the transport (the
            // peer switches when it answers): it is not forgotten.
            let upgrading = matches!(
                &state.upgrades.now,
                Some(Upgrading::Called { call, .. }) if *call == call_key(lane, id)
            );
            if !upgrading {
                state.machine.forget(lane, id);
            }
            drop(state);
            self.space.notify(1);
        }
    }
}

/// The plain connection's next event.
#[inline(always)]
fn next_plain(state: &mut State, _lane: &mut Lane) -> Option<Event> {
    match &mut state.machine {
        Machine::Plain(conn) => conn.poll_event(),
        Machine::Routed(_) => None,
    }
}

/// The routed connection's next event, and the route it came on.
fn next_routed(state: &mut State, lane: &mut Lane) -> Option<Event> {
    let Machine::Routed(routed) = &mut state.machine else {
        return None;
    };
    loop {
        match routed.router.poll_event()? {
            // The end of the whole connection.
            RoutedEvent {
                event: event @ Event::Closed(_),
                ..
            } => return Some(event),
            RoutedEvent { route, event } => {
                if let Some(found) = routed.lanes.get(&route) {
                    *lane = Some(Arc::clone(found));
                    return Some(event);
                }
                // An event for a route unbound since: its calls are
                // failed already (see `Peer::close`).
            }
        }
    }
}

/// Error code of the answer to an upgrade request (StartTLS) that arrives
/// while another upgrade of the connection is under way (not fatal).
pub const UPGRADE_IN_PROGRESS_ERROR_CODE: &str = "UPGRADE_IN_PROGRESS";
