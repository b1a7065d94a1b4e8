//! The box codec: [`AmpBox`] to bytes and back.
//!
//! Each key and each value is written with a two-byte big-endian length, and a
//! box ends with an empty key (`00 00`). Keys are 1 to 255 bytes, values 0 to
//! 65535 bytes.
//!
//! [`Decoder`] is incremental: it accepts the stream in any split, down to one
//! byte at a time, never re-scans what it has already parsed, and slices keys
//! and values out of the received buffer without copying them (AMP's own keys,
//! such as `_ask`, are handed out as static strings instead).

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use smallvec::SmallVec;

use crate::amp_box::{AmpBox, MAX_KEY_LENGTH, MAX_VALUE_LENGTH, Pair};
use crate::error::CodecError;

/// Limits a [`Decoder`] enforces against a hostile or broken peer.
///
/// The defaults allow every box Twisted can produce in practice while keeping
/// one connection's memory small.
///
/// ```
/// let limits = amp_core::Limits::default().max_keys(64).max_box_bytes(256 * 1024);
/// assert_eq!(limits.keys(), 64);
/// assert_eq!(limits.box_bytes(), 256 * 1024);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    max_keys: usize,
    max_box_bytes: usize,
    max_buffered_bytes: usize,
}

impl Limits {
    /// Default number of keys one box may hold.
    pub const DEFAULT_MAX_KEYS: usize = 1024;
    /// Default size of one box on the wire, terminator included.
    pub const DEFAULT_MAX_BOX_BYTES: usize = 1 << 20;
    /// Default number of bytes held while a box is incomplete.
    pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 1 << 20;

    /// Sets how many keys one box may hold.
    ///
    /// ```
    /// assert_eq!(amp_core::Limits::default().max_keys(3).keys(), 3);
    /// ```
    pub fn max_keys(mut self, n: usize) -> Self {
        self.max_keys = n;
        self
    }

    /// Sets how many bytes one box may take on the wire, terminator included.
    ///
    /// ```
    /// assert_eq!(amp_core::Limits::default().max_box_bytes(100).box_bytes(), 100);
    /// ```
    /// At most `u32::MAX - 1`: a decoded box addresses its pairs with
    /// 32-bit offsets.
    pub fn max_box_bytes(mut self, n: usize) -> Self {
        self.max_box_bytes = n.min(u32::MAX as usize - 1);
        self
    }

    /// Sets how many bytes the decoder holds while a box is incomplete.
    ///
    /// ```
    /// assert_eq!(amp_core::Limits::default().max_buffered_bytes(10).buffered_bytes(), 10);
    /// ```
    pub fn max_buffered_bytes(mut self, n: usize) -> Self {
        self.max_buffered_bytes = n;
        self
    }

    /// Keys one box may hold.
    ///
    /// ```
    /// assert_eq!(amp_core::Limits::default().keys(), amp_core::Limits::DEFAULT_MAX_KEYS);
    /// ```
    pub fn keys(&self) -> usize {
        self.max_keys
    }

    /// Bytes one box may take on the wire.
    ///
    /// ```
    /// assert_eq!(amp_core::Limits::default().box_bytes(), 1 << 20);
    /// ```
    pub fn box_bytes(&self) -> usize {
        self.max_box_bytes
    }

    /// Bytes held while a box is incomplete.
    ///
    /// ```
    /// assert_eq!(amp_core::Limits::default().buffered_bytes(), 1 << 20);
    /// ```
    pub fn buffered_bytes(&self) -> usize {
        self.max_buffered_bytes
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_keys: Self::DEFAULT_MAX_KEYS,
            max_box_bytes: Self::DEFAULT_MAX_BOX_BYTES,
            max_buffered_bytes: Self::DEFAULT_MAX_BUFFERED_BYTES,
        }
    }
}

/// Boxes up to this size are encoded in place (see [`encode_box`]).
const SMALL_BOX: usize = 256;

/// Writes one checked pair at the start of `room`, returning the rest.
/// `room` has been sized for it by the caller.
pub(crate) fn fill_pair<'a>(room: &'a mut [u8], key: &[u8], value: &[u8]) -> &'a mut [u8] {
    let (pair, rest) = room.split_at_mut(4 + key.len() + value.len());
    let (klen, pair) = pair.split_at_mut(2);
    klen.copy_from_slice(&(key.len() as u16).to_be_bytes());
    let (k, pair) = pair.split_at_mut(key.len());
    copy_short(k, key);
    let (vlen, v) = pair.split_at_mut(2);
    vlen.copy_from_slice(&(value.len() as u16).to_be_bytes());
    copy_short(v, value);
    rest
}

/// `a == b`, without a call into the C library for short keys: up to 16
/// bytes are compared as two fixed-size, overlapping pieces.
#[inline]
pub(crate) fn eq_short(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0 => true,
        1..4 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..8 => {
            a.first_chunk::<4>() == b.first_chunk::<4>()
                && a.last_chunk::<4>() == b.last_chunk::<4>()
        }
        8..=16 => {
            a.first_chunk::<8>() == b.first_chunk::<8>()
                && a.last_chunk::<8>() == b.last_chunk::<8>()
        }
        _ => a == b,
    }
}

/// `dst.copy_from_slice(src)`, without a call into the C library for the
/// short keys and values most boxes are made of: up to 16 bytes are copied
/// as two fixed-size, overlapping pieces (plain loads and stores), longer
/// ones by `copy_from_slice`. Panics if the lengths differ, as
/// `copy_from_slice` does.
#[inline]
pub(crate) fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    assert_eq!(dst.len(), n, "copy_short: lengths differ");
    match n {
        0 => {}
        1..4 => {
            dst[0] = src[0];
            dst[n / 2] = src[n / 2];
            dst[n - 1] = src[n - 1];
        }
        4..8 => {
            dst[..4].copy_from_slice(&src[..4]);
            dst[n - 4..].copy_from_slice(&src[n - 4..]);
        }
        8..=16 => {
            dst[..8].copy_from_slice(&src[..8]);
            dst[n - 8..].copy_from_slice(&src[n - 8..]);
        }
        _ => dst.copy_from_slice(src),
    }
}

/// The keys of a box's wire form (its pairs without the terminator), in
/// order. Meant for wire forms this crate wrote; on bytes that are not one,
/// it stops at the first pair that does not fit rather than fail.
pub(crate) fn wire_keys(mut wire: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let (klen, rest) = wire.split_first_chunk::<2>()?;
        let (key, rest) = rest.split_at_checked(u16::from_be_bytes(*klen) as usize)?;
        let (vlen, rest) = rest.split_first_chunk::<2>()?;
        wire = rest.get(u16::from_be_bytes(*vlen) as usize..)?;
        Some(key)
    })
}

/// Appends `b`'s wire form to `dst`; on error `dst` is left as it was.
pub(crate) fn encode_box(b: &AmpBox, dst: &mut BytesMut) -> Result<(), CodecError> {
    if let Some(wire) = b.wire_form() {
        dst.reserve(wire.len() + 2);
        dst.extend_from_slice(wire);
        dst.put_u16(0);
        return Ok(());
    }
    for (k, v) in b.iter() {
        check_pair(k, v)?;
    }
    let len = b.encoded_len();
    if len <= SMALL_BOX {
        // Small boxes are written into zeroed room in place: plain stores
        // for the length prefixes instead of a buffer call per piece. The
        // terminator is the last two zero bytes.
        let start = dst.len();
        dst.resize(start + len, 0);
        let mut out = &mut dst[start..];
        for (k, v) in b.iter() {
            out = fill_pair(out, k, v);
        }
        debug_assert_eq!(out, [0, 0]);
        return Ok(());
    }
    dst.reserve(len);
    for (k, v) in b.iter() {
        dst.put_u16(k.len() as u16);
        dst.put_slice(k);
        dst.put_u16(v.len() as u16);
        dst.put_slice(v);
    }
    dst.put_u16(0);
    Ok(())
}

/// Checks one pair against the wire's length rules.
pub(crate) fn check_pair(key: &[u8], value: &[u8]) -> Result<(), CodecError> {
    if key.is_empty() {
        return Err(CodecError::EmptyKey);
    }
    if key.len() > MAX_KEY_LENGTH {
        return Err(CodecError::KeyTooLong { len: key.len() });
    }
    if value.len() > MAX_VALUE_LENGTH {
        return Err(CodecError::ValueTooLong {
            key: Bytes::copy_from_slice(key),
            len: value.len(),
        });
    }
    Ok(())
}

/// Keys of boxes with more fields than this are checked for duplicates
/// through a hash table instead of a scan.
const LINEAR_DUPLICATE_SCAN: usize = 16;

/// Incremental box decoder.
///
/// Feed it bytes with [`feed`](Self::feed) (or read straight into
/// [`buffer_mut`](Self::buffer_mut)), then call [`decode`](Self::decode) until
/// it returns `Ok(None)`. After an error the decoder is poisoned: the stream
/// cannot be resynchronised, so every later call returns the same error.
///
/// ```
/// use amp_core::{AmpBox, Decoder};
///
/// let wire = AmpBox::from_pairs([("a", "13"), ("b", "81")]).to_bytes().unwrap();
/// let mut decoder = Decoder::default();
/// let mut boxes = Vec::new();
/// for byte in wire.iter() {
///     decoder.feed(&[*byte]).unwrap();
///     while let Some(b) = decoder.decode().unwrap() {
///         boxes.push(b);
///     }
/// }
/// assert_eq!(boxes, [AmpBox::from_pairs([("a", "13"), ("b", "81")])]);
/// assert!(decoder.finish().is_ok());
/// ```
#[derive(Debug)]
pub struct Decoder {
    buf: BytesMut,
    limits: Limits,
    /// Offset of the next length prefix to read, from the start of the box.
    pos: usize,
    /// The pairs of the box being decoded, as ranges of it: handed to the
    /// box as they are.
    fields: SmallVec<[Pair; 6]>,
    /// Hash of each key seen so far, once the box has many keys.
    seen: Option<(RandomState, HashMap<u64, u32>)>,
    failed: Option<CodecError>,
    /// Bytes taken out of the buffer so far (see [`consumed`](Self::consumed)).
    consumed: u64,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(Limits::default())
    }
}

impl Decoder {
    /// A decoder enforcing `limits`.
    ///
    /// ```
    /// let d = amp_core::Decoder::new(amp_core::Limits::default().max_keys(4));
    /// assert_eq!(d.buffered(), 0);
    /// ```
    pub fn new(limits: Limits) -> Self {
        Decoder {
            buf: BytesMut::new(),
            limits,
            pos: 0,
            fields: SmallVec::new(),
            seen: None,
            failed: None,
            consumed: 0,
        }
    }

    /// The limits this decoder enforces.
    ///
    /// ```
    /// assert_eq!(amp_core::Decoder::default().limits(), &amp_core::Limits::default());
    /// ```
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Appends received bytes. Fails only if the decoder already failed; the
    /// limits are checked by [`decode`](Self::decode), which also fails once
    /// the bytes held for an incomplete box pass the buffered-bytes limit.
    ///
    /// ```
    /// let mut d = amp_core::Decoder::new(amp_core::Limits::default().max_buffered_bytes(4));
    /// d.feed(b"\x00\x01a\x00\x10abcdefgh").unwrap();
    /// assert!(matches!(d.decode(), Err(amp_core::CodecError::BufferLimit { limit: 4 })));
    /// assert!(d.feed(b"more").is_err());
    /// ```
    pub fn feed(&mut self, data: &[u8]) -> Result<(), CodecError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// The receive buffer, for reading from a socket without an extra copy.
    /// Bytes appended here are decoded by the next [`decode`](Self::decode).
    ///
    /// ```
    /// use bytes::BufMut;
    /// let mut d = amp_core::Decoder::default();
    /// d.buffer_mut().put_slice(b"\x00\x01k\x00\x01v\x00\x00");
    /// assert!(d.decode().unwrap().is_some());
    /// ```
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Bytes received and not yet returned as part of a box.
    ///
    /// ```
    /// let mut d = amp_core::Decoder::default();
    /// d.feed(b"\x00\x01").unwrap();
    /// assert_eq!(d.buffered(), 2);
    /// ```
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Bytes taken out of the buffer so far: every decoded box's, and what
    /// [`take_remaining`](Self::take_remaining) handed back. With
    /// [`buffered`](Self::buffered), every byte received; it grows by a
    /// whole box each time one is decoded (the connection's timeouts tell
    /// a finished box from an unfinished one by it).
    ///
    /// ```
    /// let mut d = amp_core::Decoder::default();
    /// d.feed(b"\x00\x01k\x00\x01v\x00\x00\x00\x01").unwrap();
    /// assert!(d.decode().unwrap().is_some());
    /// assert_eq!((d.consumed(), d.buffered()), (8, 2));
    /// ```
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Whether a box has been started and not finished.
    ///
    /// ```
    /// let mut d = amp_core::Decoder::default();
    /// assert!(!d.in_box());
    /// d.feed(b"\x00").unwrap();
    /// assert!(d.in_box());
    /// ```
    pub fn in_box(&self) -> bool {
        !self.buf.is_empty()
    }

    fn fail(&mut self, e: CodecError) -> CodecError {
        self.failed = Some(e.clone());
        e
    }

    /// Decodes the next complete box, if the buffer holds one.
    ///
    /// ```
    /// let mut d = amp_core::Decoder::default();
    /// d.feed(b"\x01\x00").unwrap();
    /// assert!(matches!(d.decode(), Err(amp_core::CodecError::KeyLengthPrefix { .. })));
    /// ```
    #[inline]
    pub fn decode(&mut self) -> Result<Option<AmpBox>, CodecError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.step() {
            Ok(Some(b)) => Ok(Some(b)),
            Ok(None) => {
                if self.buf.len() > self.limits.max_buffered_bytes {
                    let limit = self.limits.max_buffered_bytes;
                    return Err(self.fail(CodecError::BufferLimit { limit }));
                }
                Ok(None)
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    #[inline]
    fn step(&mut self) -> Result<Option<AmpBox>, CodecError> {
        loop {
            let buf = &self.buf[..];
            let pos = self.pos;
            // The high byte of a key length must be zero (keys are at most
            // 255 bytes); Twisted drops a connection that breaks this.
            match buf.get(pos) {
                None => return Ok(None),
                Some(0) => {}
                Some(&high) => {
                    let low = buf.get(pos + 1).copied();
                    return Err(CodecError::KeyLengthPrefix { high, low });
                }
            }
            let Some(&key_len) = buf.get(pos + 1) else {
                return Ok(None);
            };
            let key_len = key_len as usize;
            if key_len == 0 {
                self.check_size(pos + 2)?;
                return Ok(Some(self.finish_box(pos + 2)));
            }
            if self.fields.len() >= self.limits.max_keys {
                return Err(CodecError::TooManyKeys {
                    limit: self.limits.max_keys,
                });
            }
            // No sum below can overflow: `pos` is within the box (at most
            // `buf.len()`), `key_len` is at most 255 and `value_len` at
            // most 65535, so each adds less than 70000 to it.
            let key_start = pos + 2;
            let len_at = key_start + key_len;
            if buf.len() < len_at + 2 {
                // The key and the value's length have not all arrived, but the
                // box's size so far is already known.
                self.check_size(len_at + 2 + 2)?;
                return Ok(None);
            }
            let value_len = u16::from_be_bytes([buf[len_at], buf[len_at + 1]]) as usize;
            let value_start = len_at + 2;
            let end = value_start + value_len;
            let have = buf.len();
            // The box needs at least its terminator after this pair.
            self.check_size(end + 2)?;
            self.check_duplicate(key_start, key_len)?;
            if have < end {
                return Ok(None);
            }
            // All four fit a `u32`: `check_size(end + 2)` passed, and
            // `Limits` keeps the box limit at most `u32::MAX - 1`.
            self.fields.push(Pair::in_frame(
                key_start as u32,
                key_len as u32,
                value_start as u32,
                value_len as u32,
            ));
            self.pos = end;
        }
    }

    fn check_size(&self, needed: usize) -> Result<(), CodecError> {
        if needed > self.limits.max_box_bytes {
            Err(CodecError::BoxTooLarge {
                limit: self.limits.max_box_bytes,
            })
        } else {
            Ok(())
        }
    }

    /// Fails if the key at `start..start+len` is already in the box. Small
    /// boxes are scanned; large ones use a table of key hashes (keyed per
    /// decoder, so a peer cannot aim collisions at it).
    #[inline]
    fn check_duplicate(&mut self, start: usize, len: usize) -> Result<(), CodecError> {
        if self.fields.len() >= LINEAR_DUPLICATE_SCAN {
            return self.check_duplicate_hashed(start, len);
        }
        let buf = &self.buf[..];
        let key = &buf[start..start + len];
        for f in &self.fields {
            if f.key_is(buf, key) {
                return Err(CodecError::DuplicateKey {
                    key: Bytes::copy_from_slice(key),
                });
            }
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn check_duplicate_hashed(&mut self, start: usize, len: usize) -> Result<(), CodecError> {
        let buf = &self.buf[..];
        let key = &buf[start..start + len];
        let same = |f: &Pair| f.key_is(buf, key);
        let (state, table) = self
            .seen
            .get_or_insert_with(|| (RandomState::new(), HashMap::new()));
        if table.len() < self.fields.len() {
            // `i` fits a `u32`: every pair takes at least 5 bytes of a box
            // of at most `u32::MAX - 1`.
            for (i, f) in self.fields.iter().enumerate().skip(table.len()) {
                table.insert(state.hash_one(f.key_in(buf)), i as u32);
            }
        }
        let h = state.hash_one(key);
        if let Some(&i) = table.get(&h) {
            // Equal hashes: compare the bytes; on a true collision fall back to
            // a scan, bounded by the key limit.
            if same(&self.fields[i as usize]) || self.fields.iter().any(same) {
                return Err(CodecError::DuplicateKey {
                    key: Bytes::copy_from_slice(key),
                });
            }
        }
        Ok(())
    }

    #[inline]
    fn finish_box(&mut self, len: usize) -> AmpBox {
        let frame = self.buf.split_to(len).freeze();
        self.consumed += len as u64;
        // The pairs stay ranges of the frame: no reference count per pair.
        let b = AmpBox::from_frame(frame, std::mem::take(&mut self.fields));
        self.pos = 0;
        self.seen = None;
        b
    }

    /// Checks the end of the stream: fails with [`CodecError::Truncated`] if
    /// a box was started and not finished.
    ///
    /// ```
    /// let mut d = amp_core::Decoder::default();
    /// d.feed(b"\x00\x01k").unwrap();
    /// assert!(d.decode().unwrap().is_none());
    /// assert!(matches!(d.finish(), Err(amp_core::CodecError::Truncated { buffered: 3 })));
    /// ```
    pub fn finish(&mut self) -> Result<(), CodecError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.buf.is_empty() {
            Ok(())
        } else {
            let buffered = self.buf.len();
            Err(self.fail(CodecError::Truncated { buffered }))
        }
    }

    /// Takes every byte received after the last decoded box, unparsed, and
    /// leaves the decoder empty: the protocol switch point.
    ///
    /// ```
    /// let mut d = amp_core::Decoder::default();
    /// d.feed(b"\x00\x01k\x00\x01v\x00\x00GET / HTTP/1.1").unwrap();
    /// assert!(d.decode().unwrap().is_some());
    /// assert_eq!(&d.take_remaining()[..], b"GET / HTTP/1.1");
    /// ```
    pub fn take_remaining(&mut self) -> BytesMut {
        self.pos = 0;
        self.fields.clear();
        self.seen = None;
        self.consumed += self.buf.len() as u64;
        std::mem::take(&mut self.buf)
    }
}

/// Decodes exactly one box from the start of `wire`, returning it and the
/// number of bytes it took. Returns `Ok(None)` if `wire` holds no complete box.
///
/// ```
/// let (b, used) = amp_core::codec::decode_one(b"\x00\x01k\x00\x01v\x00\x00rest", &amp_core::Limits::default())
///     .unwrap()
///     .unwrap();
/// assert_eq!(b.get_str("k"), Some("v"));
/// assert_eq!(used, 8);
/// ```
pub fn decode_one(wire: &[u8], limits: &Limits) -> Result<Option<(AmpBox, usize)>, CodecError> {
    let mut d = Decoder::new(*limits);
    d.feed(wire)?;
    match d.decode()? {
        Some(b) => Ok(Some((b, wire.len() - d.buffered()))),
        None => Ok(None),
    }
}

/// Decodes a buffer holding whole boxes back to back (as an AmpList value
/// does), failing if it ends inside a box.
///
/// ```
/// let mut wire = bytes::BytesMut::new();
/// amp_core::AmpBox::from_pairs([("a", "1")]).encode(&mut wire).unwrap();
/// amp_core::AmpBox::from_pairs([("a", "2")]).encode(&mut wire).unwrap();
/// let boxes = amp_core::codec::decode_all(wire.freeze(), &amp_core::Limits::default()).unwrap();
/// assert_eq!(boxes.len(), 2);
/// ```
pub fn decode_all(wire: Bytes, limits: &Limits) -> Result<Vec<AmpBox>, CodecError> {
    let mut d = Decoder::new(*limits);
    // Try to reuse the buffer without a copy.
    d.buf = BytesMut::from(wire);
    let mut out = Vec::new();
    while let Some(b) = d.decode()? {
        out.push(b);
    }
    d.finish()?;
    Ok(out)
}

/// Reads a big-endian `u16` from the start of `buf`, if there are two bytes.
pub(crate) fn read_u16(buf: &mut &[u8]) -> Option<u16> {
    if buf.len() < 2 {
        None
    } else {
        Some(buf.get_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    proptest! {
        /// Every length, short or long, copies exactly what
        /// `copy_from_slice` copies.
        #[test]
        fn copy_short_copies_like_copy_from_slice(
            src in vec(any::<u8>(), 0..48),
            fill in any::<u8>(),
        ) {
            let mut dst = vec![fill; src.len()];
            copy_short(&mut dst, &src);
            prop_assert_eq!(dst, src);
        }

        /// Equal exactly when the slices are, whatever the lengths.
        #[test]
        fn eq_short_agrees_with_slice_equality(
            a in vec(any::<u8>(), 0..40),
            flip in any::<prop::sample::Index>(),
            same in any::<bool>(),
            other in vec(any::<u8>(), 0..40),
        ) {
            let mut b = if same { a.clone() } else { other };
            if !same && b.len() == a.len() && !a.is_empty() {
                // Same length, one byte differs somewhere.
                b = a.clone();
                let i = flip.index(a.len());
                b[i] ^= 1;
            }
            prop_assert_eq!(eq_short(&a, &b), a == b);
            prop_assert!(eq_short(&a, &a.clone()));
        }

        /// The keys read back from a wire form are the box's keys, in order.
        #[test]
        fn wire_keys_are_the_boxes_keys(
            pairs in vec((vec(any::<u8>(), 1..=20), vec(any::<u8>(), 0..=300)), 0..8),
        ) {
            let b = AmpBox::from_pairs(pairs);
            let wire = b.to_bytes().unwrap();
            let keys: Vec<&[u8]> = wire_keys(&wire[..wire.len() - 2]).collect();
            prop_assert_eq!(keys, b.keys().collect::<Vec<_>>());
        }

        /// Bytes that are not a wire form end the walk; they never panic it.
        #[test]
        fn wire_keys_stop_on_bytes_that_do_not_fit(bytes in vec(any::<u8>(), 0..64)) {
            prop_assert!(wire_keys(&bytes).count() <= bytes.len() / 4);
        }
    }
}
