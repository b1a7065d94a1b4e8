//! Descriptor passing, as Twisted's `amp.Descriptor` does it, without a
//! system call: which descriptors a box carries, their ordinals, and which
//! received box each received descriptor belongs to. The bindings do the
//! `sendmsg` and `recvmsg` (`SCM_RIGHTS`) on UNIX sockets.
//!
//! # Numbering (Twisted's)
//!
//! Each side numbers the descriptors it **sends** on a connection 0, 1,
//! 2, ... in the order their boxes are queued, and writes that ordinal as
//! the value of the [`Descriptor`] argument (an `Integer`). Each descriptor
//! goes out with one byte of the stream in a `sendmsg` of its own: the
//! `i`-th descriptor of a box with the box's `i`-th byte, so a box's
//! descriptors always travel on that box's own bytes. Each side numbers
//! the descriptors it **receives** 0, 1, 2, ... in the order they arrive; a
//! [`Descriptor`] value `N` is the one received as number `N`.
//!
//! # Which box takes a received descriptor
//!
//! As in Twisted, a [`Descriptor`] value `N` takes the descriptor received
//! as number `N`, whichever box's bytes it came with. Each received
//! descriptor is handed over with the box that holds the stream byte it
//! arrived with (the last byte of the `recvmsg` that brought it: Linux
//! ends a `recvmsg` on the message that carries descriptors, and both
//! Twisted and this crate send each descriptor with one byte), and waits
//! there, in a pool the connection's boxes share, until an argument takes
//! it: its own box's, or a later box's. That later box matters: Twisted
//! sends the descriptors queued with the first bytes of whatever waits in
//! its write buffer, so when it writes several boxes that carry
//! descriptors in one go, a later box's descriptors ride on an earlier
//! box's bytes.
//!
//! A descriptor no argument takes is closed:
//! - once the box it came with is dropped and an argument has taken a
//!   descriptor numbered after it: Twisted numbers descriptors in the order
//!   of their boxes, so no later box names it;
//! - when the connection has ended and no box it handed over is left;
//! - when it is the oldest such one (its box dropped) and a new descriptor
//!   would go past the bound below.
//!
//! So a box that fails to decode, or a descriptor no argument names, keeps
//! its descriptor open at most until a later descriptor is taken, the
//! bound is reached, or the connection ends: never past the connection.
//!
//! # Bounds
//!
//! A connection holds at most [`MAX_HELD_DESCRIPTORS`] received
//! descriptors that no argument has taken yet, whether they wait for the
//! rest of their box, are in boxes not done with yet (a request waiting for
//! its responder, an answer its caller has not decoded) or wait for a later
//! box. One more closes the oldest whose box is dropped; if every one is
//! still in a box or waiting for one, it ends the connection with
//! [`DescriptorError::TooMany`] (a [`ProtocolError`]). At most as many
//! wait to be sent; queueing more is refused locally
//! ([`SendError::Descriptors`]), as Twisted's transport refuses a 65th.
//!
//! [`Descriptor`]: crate::values::Descriptor
//! [`ProtocolError`]: crate::ProtocolError
//! [`SendError::Descriptors`]: crate::SendError::Descriptors

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

pub use crate::error::DescriptorError;

/// The most descriptors a connection holds, each way: received and not
/// yet taken by an argument, or queued and not yet sent. Twisted's UNIX
/// transport allows 64 queued for sending.
///
/// ```
/// assert_eq!(amp_core::descriptor::MAX_HELD_DESCRIPTORS, 64);
/// ```
pub const MAX_HELD_DESCRIPTORS: usize = 64;

/// The descriptors a box carries: to send (each under its argument's key),
/// or received with it.
#[derive(Debug, Default)]
pub(crate) struct Attached {
    pub(crate) outgoing: Vec<(Bytes, Arc<OwnedFd>)>,
    pub(crate) received: Option<Received>,
}

/// A received box's part in its connection's pool of received
/// descriptors: the ordinals that came with its bytes, and the pool its
/// `Descriptor` values take from.
#[derive(Debug)]
pub(crate) struct Received {
    own: Vec<u64>,
    pool: Arc<Mutex<Pool>>,
}

/// A connection's received descriptors that were handed over with their
/// boxes and that no argument has taken yet (see the module's docs for
/// when they are closed).
#[derive(Debug, Default)]
pub(crate) struct Pool {
    /// By ordinal: whether the box it came with is still alive, and the
    /// descriptor.
    fds: BTreeMap<u64, (bool, OwnedFd)>,
    /// The highest ordinal an argument has taken.
    highest_taken: Option<u64>,
    /// Boxes handed over with a part in the pool and not dropped yet.
    boxes: usize,
    /// The connection has ended: no box will come.
    ended: bool,
}

impl Pool {
    /// Closes what no box can take any more.
    fn sweep(&mut self) {
        if self.ended && self.boxes == 0 {
            self.fds.clear();
            return;
        }
        if let Some(highest) = self.highest_taken {
            self.fds
                .retain(|ordinal, (carried, _)| *carried || *ordinal > highest);
        }
    }

    /// Takes the descriptor received as number `ordinal`.
    fn take(&mut self, ordinal: u64) -> Option<OwnedFd> {
        let (_, fd) = self.fds.remove(&ordinal)?;
        self.highest_taken = Some(self.highest_taken.map_or(ordinal, |h| h.max(ordinal)));
        self.sweep();
        Some(fd)
    }

    /// Closes the oldest descriptor whose box is dropped, to make room:
    /// `false` if there is none.
    fn evict_one(&mut self) -> bool {
        let oldest = self
            .fds
            .iter()
            .find(|(_, (carried, _))| !carried)
            .map(|(ordinal, _)| *ordinal);
        oldest.is_some_and(|o| self.fds.remove(&o).is_some())
    }

    /// The connection has ended.
    fn end(&mut self) {
        self.ended = true;
        self.sweep();
    }
}

fn lock(pool: &Mutex<Pool>) -> MutexGuard<'_, Pool> {
    pool.lock().unwrap_or_else(|e| e.into_inner())
}

impl Attached {
    /// Takes the descriptor received as number `ordinal`, if it came (with
    /// this box or another of its connection) and no argument took it yet.
    pub(crate) fn take(&self, ordinal: u64) -> Option<OwnedFd> {
        lock(&self.received.as_ref()?.pool).take(ordinal)
    }

    /// How many descriptors that came with this box no argument has taken
    /// yet.
    pub(crate) fn unclaimed(&self) -> usize {
        self.received.as_ref().map_or(0, |r| {
            let pool = lock(&r.pool);
            r.own.iter().filter(|o| pool.fds.contains_key(o)).count()
        })
    }
}

impl Drop for Received {
    fn drop(&mut self) {
        let mut pool = lock(&self.pool);
        for ordinal in &self.own {
            if let Some((carried, _)) = pool.fds.get_mut(ordinal) {
                *carried = false;
            }
        }
        pool.boxes -= 1;
        pool.sweep();
    }
}

thread_local! {
    /// The descriptor a [`Descriptor`](crate::values::Descriptor) being
    /// serialized hands to the serializer.
    static HANDED: RefCell<Option<Arc<OwnedFd>>> = const { RefCell::new(None) };
    /// While `de::from_box` runs on a box that came with descriptors.
    static RECEIVED: RefCell<Option<Arc<Attached>>> = const { RefCell::new(None) };
}

/// The name a [`Descriptor`](crate::values::Descriptor) serializes as a
/// newtype struct under, for the box serializer to recognise.
pub(crate) const MAGIC: &str = "$amp_core::Descriptor";

/// Offers `fd` to the serializer for the value being written.
pub(crate) fn hand(fd: Arc<OwnedFd>) {
    HANDED.with(|h| *h.borrow_mut() = Some(fd));
}

/// Takes back a descriptor no serializer took: `true` if there was one
/// (then the value was written somewhere that cannot carry it).
pub(crate) fn not_taken() -> bool {
    HANDED.with(|h| h.borrow_mut().take()).is_some()
}

/// The descriptor handed over by the value being serialized, if any.
pub(crate) fn take_handed() -> Option<Arc<OwnedFd>> {
    HANDED.with(|h| h.borrow_mut().take())
}

/// Why a descriptor value was refused where no box is being built.
pub(crate) const NEEDS_BOX: &str =
    "a Descriptor outside a box being built (ser::to_box carries it; to_wire cannot)";

/// Makes a box's received descriptors the ones `Descriptor` values decode
/// from, until dropped.
pub(crate) struct Installed(Option<Arc<Attached>>);

impl Installed {
    pub(crate) fn new(attached: Arc<Attached>) -> Installed {
        Installed(RECEIVED.with(|r| r.borrow_mut().replace(attached)))
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let outer = self.0.take();
        RECEIVED.with(|r| *r.borrow_mut() = outer);
    }
}

/// The received descriptor number `ordinal` of the box being decoded.
pub(crate) fn take_received(ordinal: u64) -> Option<OwnedFd> {
    RECEIVED.with(|r| r.borrow().as_ref().and_then(|a| a.take(ordinal)))
}

/// A connection's descriptor state, once it passes descriptors.
#[derive(Debug, Default)]
pub(crate) struct Passing {
    /// The next ordinal to send.
    pub(crate) next_send: u64,
    /// Descriptors queued, with the stream position of the byte each goes
    /// out with.
    pub(crate) outgoing: VecDeque<(u64, Arc<OwnedFd>)>,
    /// The next ordinal received.
    pub(crate) next_received: u64,
    /// Received descriptors whose box is not decoded yet: the stream
    /// position of the byte each came with, its ordinal.
    pub(crate) incoming: VecDeque<(u64, u64, OwnedFd)>,
    /// Received descriptors handed over with their boxes and not taken by
    /// an argument (nor closed) yet.
    pool: Arc<Mutex<Pool>>,
}

impl Passing {
    /// Received descriptors this connection holds: waiting for their box,
    /// or handed over and not taken or closed yet.
    pub(crate) fn holding(&self) -> usize {
        self.incoming.len() + lock(&self.pool).fds.len()
    }

    /// Makes room for one more received descriptor, if the bound allows
    /// (see the module's docs): `false` if it does not.
    pub(crate) fn make_room(&mut self) -> bool {
        if self.holding() < MAX_HELD_DESCRIPTORS {
            return true;
        }
        lock(&self.pool).evict_one()
    }

    /// The connection has ended: the descriptors waiting for their box
    /// are closed now, the handed over ones once no box can take them.
    pub(crate) fn end(&mut self) {
        self.incoming.clear();
        lock(&self.pool).end();
    }

    /// The received descriptors of a box ending before stream position
    /// `end`, as that box carries them: `None` if none came with it and
    /// none wait in the pool for a later box.
    pub(crate) fn for_box(&mut self, end: u64) -> Option<Arc<Attached>> {
        let own_came = self.incoming.front().is_some_and(|(at, _, _)| *at < end);
        let mut pool = lock(&self.pool);
        if !own_came && pool.fds.is_empty() {
            return None;
        }
        let mut own = Vec::new();
        while let Some((at, _, _)) = self.incoming.front()
            && *at < end
        {
            let Some((_, ordinal, fd)) = self.incoming.pop_front() else {
                break;
            };
            own.push(ordinal);
            pool.fds.insert(ordinal, (true, fd));
        }
        pool.boxes += 1;
        drop(pool);
        Some(Arc::new(Attached {
            outgoing: Vec::new(),
            received: Some(Received {
                own,
                pool: Arc::clone(&self.pool),
            }),
        }))
    }
}

/// Descriptors taken for sending, each with where its byte is in the bytes
/// taken with it ([`Connection::take_descriptors`](crate::Connection::take_descriptors)).
///
/// ```
/// # #[cfg(unix)] {
/// let mut c = amp_core::Connection::default();
/// c.pass_descriptors();
/// assert!(c.take_descriptors(0).is_empty());
/// # }
/// ```
pub type Outgoing = Vec<(usize, Arc<OwnedFd>)>;
