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
//! # Which box a received descriptor belongs to
//!
//! A descriptor belongs to the box that holds the stream byte it arrived
//! with (the last byte of the `recvmsg` that brought it: Linux ends a
//! `recvmsg` on the message that carries descriptors, and both Twisted and
//! this crate send each descriptor with one byte). It is handed over with
//! that box (in the [`Request`](crate::Request)'s arguments, or the answer
//! given to the caller); decoding a [`Descriptor`] argument takes it out;
//! the ones no argument takes are closed when the box is dropped, so a box
//! that fails to decode, or a descriptor no argument names, leaks nothing.
//!
//! Twisted sends a box's descriptors with the first bytes of whatever is
//! waiting in its write buffer when it writes, which is the start of that
//! box when the box is written on its own (the usual case: one call, or one
//! answer, per reactor turn). When Twisted writes several boxes that carry
//! descriptors in one go, a later box's descriptors ride on an earlier
//! box's bytes; such a later box then fails to decode (its descriptor is
//! not with it) and the descriptor is closed with the earlier box.
//!
//! # Bounds
//!
//! A connection holds at most [`MAX_HELD_DESCRIPTORS`] received
//! descriptors that no argument has taken yet, whether they wait for the
//! rest of their box or are in boxes not done with yet (a request waiting
//! for its responder, an answer its caller has not decoded); one more ends
//! the connection with [`DescriptorError::TooMany`] (a [`ProtocolError`]). At most as many
//! wait to be sent; queueing more is refused locally
//! ([`SendError::Descriptors`]), as Twisted's transport refuses a 65th.
//!
//! [`Descriptor`]: crate::values::Descriptor
//! [`ProtocolError`]: crate::ProtocolError
//! [`SendError::Descriptors`]: crate::SendError::Descriptors

use std::cell::RefCell;
use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

pub use crate::error::DescriptorError;

/// The most descriptors a connection holds, each way: received and not
/// yet handed over with their box, or queued and not yet sent. Twisted's
/// UNIX transport allows 64 queued for sending.
///
/// ```
/// assert_eq!(amp_core::descriptor::MAX_HELD_DESCRIPTORS, 64);
/// ```
pub const MAX_HELD_DESCRIPTORS: usize = 64;

/// The descriptors a box carries: to send (each under its argument's key),
/// or received with it (each with its ordinal).
#[derive(Debug, Default)]
pub(crate) struct Attached {
    pub(crate) outgoing: Vec<(Bytes, Arc<OwnedFd>)>,
    pub(crate) received: Mutex<Vec<(u64, OwnedFd)>>,
    /// The connection's count of received descriptors held in boxes, which
    /// this box's count is part of until they are taken or dropped.
    pub(crate) held: Option<Arc<AtomicUsize>>,
}

impl Attached {
    /// Takes the descriptor received as number `ordinal`, if it came with
    /// this box and no argument took it yet.
    pub(crate) fn take(&self, ordinal: u64) -> Option<OwnedFd> {
        let mut received = self.received.lock().unwrap_or_else(|e| e.into_inner());
        let i = received.iter().position(|(n, _)| *n == ordinal)?;
        if let Some(held) = &self.held {
            held.fetch_sub(1, Ordering::Relaxed);
        }
        Some(received.swap_remove(i).1)
    }

    /// How many received descriptors no argument has taken yet.
    pub(crate) fn unclaimed(&self) -> usize {
        self.received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        // The descriptors left are closed now: no longer held.
        if let Some(held) = &self.held {
            let left = match self.received.get_mut() {
                Ok(r) => r.len(),
                Err(e) => e.into_inner().len(),
            };
            held.fetch_sub(left, Ordering::Relaxed);
        }
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
    /// an argument (nor closed with their box) yet.
    pub(crate) held: Arc<AtomicUsize>,
}

impl Passing {
    /// Received descriptors this connection holds: waiting for their box,
    /// or in boxes not done with yet.
    pub(crate) fn holding(&self) -> usize {
        self.incoming.len() + self.held.load(Ordering::Relaxed)
    }

    /// The received descriptors that belong to a box ending before stream
    /// position `end`, as that box carries them; `None` if there are none.
    pub(crate) fn for_box(&mut self, end: u64) -> Option<Arc<Attached>> {
        if self.incoming.front().is_none_or(|(at, _, _)| *at >= end) {
            return None;
        }
        let mut received = Vec::new();
        while let Some((at, _, _)) = self.incoming.front()
            && *at < end
        {
            let Some((_, ordinal, fd)) = self.incoming.pop_front() else {
                break;
            };
            received.push((ordinal, fd));
        }
        self.held.fetch_add(received.len(), Ordering::Relaxed);
        Some(Arc::new(Attached {
            outgoing: Vec::new(),
            received: Mutex::new(received),
            held: Some(Arc::clone(&self.held)),
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
