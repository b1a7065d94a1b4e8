//! The read loop: reads, lets the state machine decode, runs responders
//! (at most `max_responders` at once, while their answers fit), answers,
//! and applies the unfinished-box and idle timeouts.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::io;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::task::{Poll, Waker};

use bytes::{Bytes, BytesMut};
use futures_channel::oneshot;
use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};

use amp_core::{AmpBox, Connection, ConnectionError, Request, ResponderError};

use crate::peer::Handle;
use crate::shared::Shared;
use crate::{Answer, Context, Peer, ReadHalf, Responders};

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

pub(crate) async fn read_loop<R: ReadHalf>(
    shared: Arc<Shared>,
    handle: Weak<Handle>,
    mut reader: R,
    responders: Responders,
    handback: Option<oneshot::Sender<(R, BytesMut)>>,
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
        let (closed, transmit, sent, detaching, awaited) = {
            let state = shared.lock();
            (
                state.conn.is_closed(),
                state.conn.pending_transmit(),
                state.sent,
                state.detaching,
                state.conn.dispatcher().outstanding_calls(),
            )
        };
        // Coming apart is a graceful shutdown that hands the transport back
        // instead of closing it.
        let draining = detaching || shared.draining.load(Ordering::SeqCst);
        if closed || (!detaching && draining && running.is_empty() && !more_buffered) {
            break;
        }
        if detaching && running.is_empty() && awaited == 0 {
            // Everything this side waited for has come, every responder has
            // answered: what is buffered past the last box is the next
            // protocol's. The writer sends what is queued, then hands its
            // half back too.
            let leftover = {
                let mut state = shared.lock();
                let mut leftover = state.conn.switch_protocol();
                leftover.extend_from_slice(&buf);
                leftover
            };
            shared.write_ready.notify();
            if let Some(handback) = handback {
                let _ = handback.send((reader, leftover));
            }
            shared.end(ConnectionError::ProtocolSwitched);
            return;
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
        // Coming apart, reading goes on only for answers still awaited.
        let can_read = !eof && can_take && (!detaching || awaited > 0);
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
        let mut boxes = VecDeque::new();
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
            if !state.boxes.is_empty() {
                std::mem::swap(&mut boxes, &mut state.boxes);
            }
            received
        };
        // The callers whose answers came, now that the lock is free.
        wakers.drain(..).for_each(Waker::wake);
        // Boxes that are neither requests nor answers, to the box receiver.
        if !boxes.is_empty()
            && let Some(handle) = handle.upgrade()
        {
            let peer = Peer { handle };
            for b in boxes {
                let ctx = Context { peer: peer.clone() };
                let received =
                    std::panic::catch_unwind(AssertUnwindSafe(|| responders.receive_box(ctx, b)));
                if received.is_err() {
                    // As an exception in Twisted's ampBoxReceived drops the
                    // connection: this one ends, the others go on.
                    shared.end(ConnectionError::FatalError {
                        code: amp_core::command::UNKNOWN_ERROR_CODE.to_owned(),
                        description: "the box receiver panicked".to_owned(),
                    });
                    break;
                }
            }
        }
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
    fut: amp_core::ResponderFuture,
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
