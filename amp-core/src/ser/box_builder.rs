//! [`BoxBuilder`]: a box's pairs written in wire form into one buffer,
//! split off a chunk shared with the boxes serialized before and after it
//! on the same thread.

use std::marker::PhantomData;

use bytes::{BufMut, Bytes, BytesMut};
use serde::ser::{self, Serialize};
use smallvec::SmallVec;

use super::value::ValueSerializer;
use crate::amp_box::{AmpBox, Pair};
use crate::codec::{check_pair, copy_short};
use crate::error::CodecError;
use crate::values::ValueError;

/// What serializing a box ends in: the box, or its bare wire form.
pub(super) trait Finish: Sized {
    /// Whether it carries descriptors (a box does; wire bytes cannot).
    #[cfg(unix)]
    const DESCRIPTORS: bool;
    fn finish(frame: Bytes, pairs: SmallVec<[Pair; 6]>, fds: Outgoing) -> Self;
}

/// The descriptors of a box's `Descriptor` values: the one a value just
/// handed over, and those under their keys. Made only when a box has one,
/// so a builder without descriptors grows by one pointer.
#[cfg(unix)]
#[derive(Default)]
pub(super) struct BuilderFds {
    pub(super) handed: Option<std::sync::Arc<std::os::fd::OwnedFd>>,
    outgoing: Vec<(Bytes, std::sync::Arc<std::os::fd::OwnedFd>)>,
}

#[cfg(unix)]
impl BuilderFds {
    /// Keeps the descriptor just handed over, if any, under `key` (out of
    /// the way of the builder's own code: only a box with descriptors
    /// comes here).
    #[cold]
    #[inline(never)]
    fn keep(&mut self, key: &[u8]) {
        if let Some(fd) = self.handed.take() {
            self.outgoing.push((Bytes::copy_from_slice(key), fd));
        }
    }
}

#[cfg(unix)]
pub(super) type Outgoing = Option<Box<BuilderFds>>;
#[cfg(not(unix))]
pub(super) type Outgoing = ();

impl Finish for AmpBox {
    #[cfg(unix)]
    const DESCRIPTORS: bool = true;
    #[inline(always)]
    fn finish(frame: Bytes, pairs: SmallVec<[Pair; 6]>, fds: Outgoing) -> Self {
        #[cfg_attr(not(unix), allow(unused_mut))]
        let mut b = AmpBox::from_wire(frame, pairs);
        #[cfg(unix)]
        if let Some(fds) = fds {
            b.attach_outgoing(fds.outgoing);
        }
        #[cfg(not(unix))]
        let () = fds;
        b
    }
}

impl Finish for Bytes {
    #[cfg(unix)]
    const DESCRIPTORS: bool = false;
    #[inline]
    fn finish(frame: Bytes, _: SmallVec<[Pair; 6]>, _: Outgoing) -> Self {
        frame
    }
}

/// Builds the box: every pair is written in its wire form (length, key,
/// length, value) into a single buffer, which becomes the box's frame, each
/// pair a range of it. A box costs one allocation however many fields it
/// has, no reference count per value, and encoding it later is one copy.
pub(super) struct BoxBuilder<O> {
    buf: BytesMut,
    /// The pairs written, as ranges of `buf`.
    pairs: SmallVec<[Pair; 6]>,
    /// A map key written, waiting for its value: where its pair starts.
    key: Option<usize>,
    /// The descriptors of the box's `Descriptor` values.
    #[cfg(unix)]
    fds: Outgoing,
    finish: PhantomData<fn() -> O>,
}

/// Size of the chunks boxes are serialized into.
const CHUNK: usize = 4096;

/// Most pairs a size hint reserves room for. A hint is only what the
/// `Serialize` impl claims (a hand-written one may say `usize::MAX`), so
/// trusting it could overflow or reserve gigabytes for a box of two pairs;
/// a box with more pairs than this still serializes, growing as it goes.
/// At 24 bytes a pair it is more than a chunk, so a hint this large takes
/// a fresh chunk as any larger hint would.
const MAX_HINTED_PAIRS: usize = 256;

thread_local! {
    /// The rest of the chunk the last box serialized on this thread was
    /// written into: the next box goes on from there.
    static SCRATCH: std::cell::Cell<BytesMut> = std::cell::Cell::new(BytesMut::new());
}

// The builder's steps are `inline(always)` (here and in the `Serialize*`
// impls below): left to the compiler's judgement they are called out of
// line from typed responders and calls, and the builder (about 160 bytes)
// is moved in and out of each call, about 5 % of a call's instructions at
// depth (docs/performance-rpc.md, "The descriptor merge's cost").
impl<O: Finish> BoxBuilder<O> {
    #[inline(always)]
    pub(super) fn new(len: usize) -> Self {
        // Boxes serialized one after another on a thread share 4 KiB chunks:
        // each box is split off the chunk it was written into (a reference
        // count, no allocation), instead of a buffer of its own plus the
        // reference-counted header `Bytes` adds to a buffer with room left.
        // Keeping a box alive keeps its chunk.
        let len = len.min(MAX_HINTED_PAIRS);
        let mut buf = SCRATCH.take();
        if buf.capacity() < (len * 24).max(256) {
            buf = BytesMut::with_capacity(CHUNK);
        }
        BoxBuilder {
            buf,
            pairs: SmallVec::with_capacity(len),
            key: None,
            #[cfg(unix)]
            fds: None,
            finish: PhantomData,
        }
    }

    /// Starts a pair with a known key: room for the key's length, the key,
    /// room for the value's length, made in one step (one buffer call, not
    /// one per piece).
    fn start_pair(&mut self, key: &[u8]) -> usize {
        let start = self.buf.len();
        self.buf.resize(start + 4 + key.len(), 0);
        copy_short(&mut self.buf[start + 2..start + 2 + key.len()], key);
        start
    }

    /// Writes the value of the pair started at `start` (its `key_len`-byte
    /// key and the room for the value's length the last things written)
    /// and fills in both lengths, or takes the key out again if the value
    /// is `None`.
    #[inline(always)]
    fn field<T: Serialize + ?Sized>(
        &mut self,
        start: usize,
        key_len: usize,
        value: &T,
    ) -> Result<(), ValueError> {
        let key_start = start + 2;
        let value_start = key_start + key_len + 2;
        debug_assert_eq!(value_start, self.buf.len());
        let present = value.serialize(ValueSerializer {
            out: &mut self.buf,
            #[cfg(unix)]
            fds: if O::DESCRIPTORS {
                Some(&mut self.fds)
            } else {
                None
            },
        });
        let key = &self.buf[key_start..key_start + key_len];
        let present = present.map_err(|e| e.at_key_bytes(key))?;
        if !present {
            // `None` wrote nothing: the key is left out.
            self.buf.truncate(start);
            return Ok(());
        }
        let v = &self.buf[value_start..];
        if let Err(e) = check_pair(key, v) {
            return Err(ValueError::codec(e).at_key_bytes(key));
        }
        if self.buf.len() > u32::MAX as usize {
            return Err(ValueError::unsupported("a box over 4 GiB").at_key_bytes(key));
        }
        let duplicate = self.pairs.iter().any(|p| p.key_is(&self.buf, key));
        if duplicate {
            let key = Bytes::copy_from_slice(key);
            return Err(
                ValueError::codec(CodecError::DuplicateKey { key: key.clone() }).at_key_bytes(&key),
            );
        }
        let value_len = self.buf.len() - value_start;
        // Both fit: check_pair bounds a key to 255 bytes and a value to
        // 65535, and the whole buffer was checked against u32::MAX.
        self.buf[start..key_start].copy_from_slice(&(key_len as u16).to_be_bytes());
        self.buf[value_start - 2..value_start].copy_from_slice(&(value_len as u16).to_be_bytes());
        // A Descriptor value handed its descriptor over: it goes with the
        // box, under this key.
        #[cfg(unix)]
        if let Some(fds) = &mut self.fds {
            fds.keep(&self.buf[key_start..key_start + key_len]);
        }
        self.pairs.push(Pair::in_frame(
            key_start as u32,
            key_len as u32,
            value_start as u32,
            value_len as u32,
        ));
        Ok(())
    }

    #[inline(always)]
    fn finish(mut self) -> O {
        let frame = self.buf.split().freeze();
        // What is left of the chunk serves the next box.
        SCRATCH.set(self.buf);
        #[cfg(unix)]
        let fds = self.fds;
        #[cfg(not(unix))]
        let fds = ();
        O::finish(frame, self.pairs, fds)
    }
}

impl<O: Finish> ser::SerializeStruct for BoxBuilder<O> {
    type Ok = O;
    type Error = ValueError;

    #[inline(always)]
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        let start = self.start_pair(key.as_bytes());
        self.field(start, key.len(), value)
    }

    #[inline(always)]
    fn end(self) -> Result<O, ValueError> {
        Ok(self.finish())
    }
}

impl<O: Finish> ser::SerializeMap for BoxBuilder<O> {
    type Ok = O;
    type Error = ValueError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ValueError> {
        if let Some(start) = self.key.take() {
            // A key without its value: forget it.
            self.buf.truncate(start);
        }
        let start = self.buf.len();
        self.buf.put_u16(0);
        let present = key.serialize(ValueSerializer::plain(&mut self.buf))?;
        if !present {
            self.buf.truncate(start);
            return Err(ValueError::unsupported("None as a map key"));
        }
        self.key = Some(start);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        let start = self
            .key
            .take()
            .ok_or_else(|| ValueError::unsupported("map value without a key"))?;
        let key_len = self.buf.len() - (start + 2);
        self.buf.put_u16(0);
        self.field(start, key_len, value)
    }

    fn end(self) -> Result<O, ValueError> {
        if let Some(start) = self.key {
            return Err(ValueError::unsupported("map key without a value")
                .at_key_bytes(&self.buf[start + 2..]));
        }
        Ok(self.finish())
    }
}
