//! The write loop: takes what the state machine queued and writes it; and,
//! on an upgradable connection, upgrades the transport in place when the
//! reader hands its half over.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::pin;
use std::sync::{Arc, MutexGuard};
use std::task::Poll;

use amp_core::ConnectionError;
use bytes::{Buf, BytesMut};
use futures_channel::{mpsc, oneshot};
use futures_util::StreamExt;

use crate::shared::{Shared, State};
use crate::upgrade::{Upgrade, Upgraded, Upgrader};
use crate::{DirectWrite, ReadHalf, WriteHalf};

/// How the writer gets the reader's half for an upgrade, upgrades both,
/// and gives the reader its new half.
pub(crate) struct WriteSwitch<R, U> {
    pub(crate) from_reader: mpsc::UnboundedReceiver<(R, BytesMut, Upgrade)>,
    pub(crate) to_reader: mpsc::UnboundedSender<R>,
    pub(crate) upgrader: U,
}

/// The largest write buffer the writer keeps for the next write; a larger
/// one (a burst, a large box) is freed once written, so that a quiet
/// connection does not hold a burst's room.
const KEEP_BUFFER: usize = 8 * 1024;

/// Takes what may be written now into `out` (empty): what is held first
/// ([`State::held`]), then everything queued; but on an upgrading
/// connection no more than the bytes that go out on the old transport (the
/// rest is held for the new one, and written first once it is up). The
/// queue's buffer and `out` trade places: nothing is copied.
fn take(state: &mut State, out: &mut BytesMut) {
    let State {
        machine,
        upgrades,
        held,
        ..
    } = state;
    match upgrades.write_limit {
        Some(0) => {}
        Some(limit) => {
            machine.transmit_into(out);
            if out.len() > limit {
                held.extend_from_slice(&out[limit..]);
                out.truncate(limit);
            }
            upgrades.write_limit = Some(limit - out.len());
        }
        None if !held.is_empty() => {
            machine.transmit_into(held);
            std::mem::swap(held, out);
        }
        None => machine.transmit_into(out),
    }
}

/// Whether a connection over `writer` passes descriptors: its transport
/// can (a UNIX socket's halves) and the connection cannot be upgraded (an
/// upgradable one holds bytes back across an upgrade, and descriptors would
/// have to be held with them). The connection's state machine, its writer
/// and its writes at once all go by this one answer.
pub(crate) fn passes_descriptors<W: WriteHalf>(writer: &W, upgradable: bool) -> bool {
    #[cfg(unix)]
    return !upgradable && writer.passes_descriptors();
    #[cfg(not(unix))]
    {
        let _ = (writer, upgradable);
        false
    }
}

/// The handle that writes `writer`'s transport at once, if it has one and
/// the connection may use it: not one that can be upgraded (bytes are held
/// back across an upgrade, which only the writer knows how to do), nor one
/// that passes descriptors (only the writer sends them).
pub(crate) fn direct_for<W: WriteHalf>(
    writer: &W,
    upgradable: bool,
) -> Option<Arc<dyn DirectWrite>> {
    if upgradable || passes_descriptors(writer, upgradable) {
        None
    } else {
        writer.direct()
    }
}

/// Sends what is queued, given the connection's state (locked) right after
/// something was queued: at once from this task, when the transport has a
/// [`DirectWrite`] handle and nobody is writing; else it wakes the writer.
///
/// A write at once saves a task hop (waking the writer's task and running
/// it) per write. It writes only what is queued now and never waits:
/// bytes it cannot write now go to the writer, which sends them before
/// anything queued after them. While it writes, `writing` keeps the writer
/// (and anyone else) from taking bytes, so the order on the wire is the
/// order of the queue.
pub(crate) fn send_now(shared: &Shared, mut state: MutexGuard<'_, State>) {
    let direct = match &shared.direct {
        Some(direct)
            if !state.writing
                && state.held.is_empty()
                && state.machine.pending_transmit() > 0
                && !state.machine.is_closed() =>
        {
            direct
        }
        _ => {
            drop(state);
            shared.write_ready.notify();
            return;
        }
    };
    let mut out = std::mem::take(&mut state.spare);
    state.machine.transmit_into(&mut out);
    state.writing = true;
    drop(state);
    // Room again, as when the writer takes the queue.
    shared.space.notify(1);
    let mut done = 0;
    let failed = loop {
        match direct.try_write(&out[done..]) {
            Ok(0) => break Some(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => {
                done += n;
                if done == out.len() {
                    break None;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break None,
            Err(e) => break Some(e),
        }
    };
    let mut state = shared.lock();
    state.writing = false;
    if let Some(e) = failed {
        drop(state);
        shared.end(crate::end_reason(e));
        return;
    }
    if done < out.len() {
        // The transport is full: the writer waits for room and sends the
        // rest first.
        out.advance(done);
        state.held = out;
    } else if out.capacity() <= KEEP_BUFFER {
        out.clear();
        state.spare = out;
    }
    // The writer may have looked while this wrote, and left what was
    // queued meanwhile (or the connection's end) to it.
    let wake =
        !state.held.is_empty() || state.machine.pending_transmit() > 0 || state.machine.is_closed();
    drop(state);
    if wake {
        shared.write_ready.notify();
    }
}

pub(crate) async fn write_loop<R: ReadHalf, W: WriteHalf, U: Upgrader<R, W>>(
    shared: Arc<Shared>,
    mut writer: W,
    handback: Option<oneshot::Sender<W>>,
    mut switch: Option<WriteSwitch<R, U>>,
) {
    // Descriptors go out only on a connection that passes them (a plain
    // one over a UNIX socket); what is queued when the writer stops is
    // closed then.
    #[cfg(unix)]
    let passing = passes_descriptors(&writer, switch.is_some());
    #[cfg(unix)]
    let _close_queued = passing.then(|| DropQueued(&shared));
    // What is being written; emptied after each write and given to the
    // state machine as its queue's next buffer.
    let mut out = BytesMut::new();
    // The reader's half, handed over for an upgrade, until everything
    // before the switch is written.
    let mut handed: Option<(R, BytesMut, Upgrade)> = None;
    let mut reader_gone = false;
    // This loop took the bytes being written (`writing` is its own).
    let mut mine = false;
    loop {
        #[cfg(unix)]
        let mut fds = Vec::new();
        let (closed, at_switch) = {
            let mut state = shared.lock();
            if std::mem::take(&mut mine) {
                state.writing = false;
            }
            if state.writing {
                // Written at once by another task ([`send_now`]), which
                // wakes this loop when it is done if anything is left.
                (false, false)
            } else {
                #[cfg(unix)]
                let from = state.machine.transmitted();
                take(&mut state, &mut out);
                #[cfg(unix)]
                if passing {
                    fds = state.machine.take_descriptors(from);
                }
                if !out.is_empty() {
                    state.writing = true;
                    mine = true;
                }
                (
                    state.machine.is_closed(),
                    state.upgrades.write_limit == Some(0),
                )
            }
        };
        if !out.is_empty() {
            // Room again: wake callers waiting for space, and the reader if
            // a full outbound buffer may have kept it from starting
            // responders (waking it otherwise costs a read that finds
            // nothing on runtimes that do not remember an empty socket).
            shared.space.notify(1);
            if out.len() >= shared.options.max_outbound_bytes {
                shared.wake_reader.notify();
            }
            #[cfg(unix)]
            let written = if fds.is_empty() {
                writer.write_all(&out).await
            } else {
                writer.write_with_descriptors(&out, &fds).await
            };
            #[cfg(not(unix))]
            let written = writer.write_all(&out).await;
            if let Err(e) = written {
                shared.end(crate::end_reason(e));
                return;
            }
            if out.capacity() > KEEP_BUFFER {
                out = BytesMut::new();
            } else {
                out.clear();
            }
            continue;
        }
        if closed {
            // Taken apart: everything queued is written, and the half goes
            // back unclosed to whoever takes the transport over.
            if let Some(handback) = handback
                && shared.close_reason() == Some(ConnectionError::ProtocolSwitched)
            {
                let _ = handback.send(writer);
                return;
            }
            let _ = writer.close().await;
            return;
        }
        if at_switch
            && let (Some((reader, leftover, how)), Some(switch)) = (handed.take(), &mut switch)
        {
            // Boxed: an upgrade is rare, and its handshake would otherwise make
            // every connection's writer as large as its largest state.
            match Box::pin(upgrade(&shared, switch, reader, writer, leftover, how)).await {
                Some(upgraded) => {
                    writer = upgraded;
                    continue;
                }
                None => return,
            }
        }
        // A signal sent since the bytes were taken is kept: not lost.
        poll_fn(|cx| {
            if let Some(switch) = &mut switch
                && handed.is_none()
                && !reader_gone
                && let Poll::Ready(message) = switch.from_reader.poll_next_unpin(cx)
            {
                match message {
                    Some(message) => handed = Some(message),
                    None => reader_gone = true,
                }
                return Poll::Ready(());
            }
            shared.write_ready.poll_take(cx)
        })
        .await;
    }
}

/// Upgrades both halves; gives the reader its new half and returns the
/// writer's. `None`: the connection has ended (the upgrade failed, or the
/// connection ended meanwhile).
async fn upgrade<R: ReadHalf, W: WriteHalf, U: Upgrader<R, W>>(
    shared: &Shared,
    switch: &mut WriteSwitch<R, U>,
    reader: R,
    writer: W,
    leftover: BytesMut,
    how: Upgrade,
) -> Option<W> {
    // A handshake the peer stalls is bounded as an unfinished box or an
    // idle connection would be, by the shorter of the two timeouts set.
    let limit = [
        shared.options.unfinished_box_timeout,
        shared.options.idle_timeout,
    ]
    .into_iter()
    .flatten()
    .min();
    let outcome = {
        let mut upgrading = pin!(switch.upgrader.upgrade(reader, writer, leftover, how));
        let mut ended = pin!(ended(shared));
        let mut late = pin!(async move {
            match limit {
                Some(limit) => {
                    R::sleep(limit).await;
                    limit
                }
                None => std::future::pending().await,
            }
        });
        poll_fn(|cx| {
            if let Poll::Ready(outcome) = upgrading.as_mut().poll(cx) {
                return Poll::Ready(Some(outcome));
            }
            if let Poll::Ready(limit) = late.as_mut().poll(cx) {
                return Poll::Ready(Some(Err(format!(
                    "the upgrade did not finish within {limit:?}"
                ))));
            }
            ended.as_mut().poll(cx).map(|()| None)
        })
        .await
    };
    let Upgraded {
        reader,
        writer,
        peer_certificates,
    } = match outcome? {
        Ok(Some(upgraded)) => upgraded,
        Ok(None) => {
            // Handed to another protocol: the AMP connection is over, and
            // what was held for after the switch is not sent (as Twisted
            // refuses boxes once switched).
            shared.end(ConnectionError::ProtocolSwitched);
            return None;
        }
        Err(why) => {
            shared.end(ConnectionError::UpgradeFailed(why));
            return None;
        }
    };
    {
        let mut state = shared.lock();
        let upgrades = &mut state.upgrades;
        upgrades.now = None;
        upgrades.write_limit = None;
        upgrades.hold_decoding = false;
        upgrades.done += 1;
        if peer_certificates.is_some() {
            upgrades.peer_certificates = peer_certificates.map(Into::into);
        }
    }
    if switch.to_reader.unbounded_send(reader).is_err() {
        shared.end(ConnectionError::Closed);
        return None;
    }
    shared.upgraded.notify(usize::MAX);
    shared.wake_reader.notify();
    shared.space.notify(1);
    Some(writer)
}

/// Resolves once the connection has ended.
async fn ended(shared: &Shared) {
    loop {
        let listener = shared.ended.listen();
        if shared.lock().machine.is_closed() {
            return;
        }
        listener.await;
    }
}

/// Closes the descriptors still queued when the writer stops (dropped).
#[cfg(unix)]
struct DropQueued<'a>(&'a Shared);

#[cfg(unix)]
impl Drop for DropQueued<'_> {
    fn drop(&mut self) {
        self.0.lock().machine.drop_outgoing_descriptors();
    }
}
