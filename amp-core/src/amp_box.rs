//! [`AmpBox`]: the unit of the AMP wire protocol, an ordered set of
//! key/value byte strings.

use std::fmt;

use bytes::{Bytes, BytesMut};
use smallvec::SmallVec;

use crate::codec;
use crate::error::CodecError;

/// Longest key AMP allows on the wire (the key-length prefix's high byte must
/// be zero).
pub const MAX_KEY_LENGTH: usize = 0xff;
/// Longest value AMP allows on the wire (a 16-bit length prefix).
pub const MAX_VALUE_LENGTH: usize = 0xffff;

/// One AMP box: an ordered set of key/value pairs.
///
/// Keys and values are byte strings. A decoded box keeps the received bytes
/// it came from in one shared buffer and its pairs as ranges of it, so
/// decoding copies nothing and costs no reference count per pair; a pair
/// added by hand holds its own [`Bytes`] (a `&'static str` key costs no
/// allocation). [`get`](Self::get) borrows a value; [`get_bytes`](Self::get_bytes)
/// and [`remove`](Self::remove) hand out a [`Bytes`] that shares the buffer.
///
/// Order is kept as inserted (decoded boxes keep the wire order). Keys are
/// unique: [`insert`](Self::insert) replaces the value of an existing key in
/// place. Lengths are checked when the box is encoded: an empty key, a key over
/// [`MAX_KEY_LENGTH`] bytes or a value over [`MAX_VALUE_LENGTH`] bytes is an
/// error then, never a truncation.
///
/// Two boxes are equal when they hold the same pairs, in any order, as two
/// Twisted `AmpBox` dictionaries are.
///
/// ```
/// use amp_core::AmpBox;
///
/// let mut b = AmpBox::from_pairs([("_command", "Sum"), ("a", "13")]);
/// b.insert("b", "81");
/// assert_eq!(b.get_str("a"), Some("13"));
/// assert_eq!(b.len(), 3);
/// let wire = b.to_bytes().unwrap();
/// assert_eq!(&wire[..4], b"\x00\x08_c");
/// assert_eq!(b.remove("a").as_deref(), Some(&b"13"[..]));
/// assert!(!b.contains_key("a"));
/// ```
#[derive(Clone, Default)]
pub struct AmpBox {
    /// The received box the frame spans are ranges of; empty for a box
    /// built by hand.
    frame: Bytes,
    pairs: SmallVec<[Pair; 6]>,
    /// Keys and values added by hand; their spans index this list. Entries
    /// of removed or replaced pairs stay until the box is dropped.
    owned: Vec<Bytes>,
    /// The frame is exactly the wire form of the pairs, in order and
    /// without the terminator, every length already checked (a box the
    /// serializer wrote and nobody changed since): encoding it is one copy.
    wire: bool,
    /// The descriptors the box carries (see [`crate::descriptor`]).
    #[cfg(unix)]
    attached: Option<std::sync::Arc<crate::descriptor::Attached>>,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Pair {
    key: Span,
    value: Span,
}

impl Pair {
    /// A pair whose key and value are ranges of the frame.
    #[inline]
    pub(crate) fn in_frame(key_start: u32, key_len: u32, value_start: u32, value_len: u32) -> Pair {
        Pair {
            key: Span {
                start: key_start,
                len: key_len,
            },
            value: Span {
                start: value_start,
                len: value_len,
            },
        }
    }

    /// The key of a pair made by [`in_frame`](Self::in_frame), read from
    /// the bytes it is a range of.
    #[inline]
    pub(crate) fn key_in<'a>(&self, frame: &'a [u8]) -> &'a [u8] {
        let start = self.key.start as usize;
        &frame[start..start + self.key.len as usize]
    }

    /// Whether the key of a pair made by [`in_frame`](Self::in_frame) is
    /// `key` (lengths first: most keys differ there).
    #[inline]
    pub(crate) fn key_is(&self, frame: &[u8], key: &[u8]) -> bool {
        self.key.len as usize == key.len() && codec::eq_short(self.key_in(frame), key)
    }
}

/// One key or value: `len` bytes of the frame from `start`, or, when `len`
/// is [`OWNED`], the entry `start` of the box's owned list.
#[derive(Clone, Copy, Debug)]
struct Span {
    start: u32,
    len: u32,
}

const OWNED: u32 = u32::MAX;

impl Span {
    fn owned(index: usize) -> Span {
        Span {
            start: index as u32,
            len: OWNED,
        }
    }
}

/// Iterator over a box's pairs, from [`AmpBox::iter`].
#[derive(Clone)]
pub struct Iter<'a> {
    b: &'a AmpBox,
    pairs: std::slice::Iter<'a, Pair>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.pairs
            .next()
            .map(|p| (self.b.span(p.key), self.b.span(p.value)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.pairs.size_hint()
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl AmpBox {
    /// An empty box.
    ///
    /// ```
    /// assert!(amp_core::AmpBox::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty box with room for `n` pairs (at most 256 reserved up front;
    /// the box grows past that as pairs are added).
    ///
    /// ```
    /// let b = amp_core::AmpBox::with_capacity(8);
    /// assert_eq!(b.len(), 0);
    /// ```
    pub fn with_capacity(n: usize) -> Self {
        // Room for at most this many pairs up front: `n` may be a size hint
        // (what an iterator or a `Serialize` impl claims), and trusting a
        // huge one would overflow `2 * n` or reserve gigabytes. A box given
        // more pairs than this still grows to hold them.
        const MAX_RESERVED_PAIRS: usize = 256;
        let n = n.min(MAX_RESERVED_PAIRS);
        AmpBox {
            frame: Bytes::new(),
            pairs: SmallVec::with_capacity(n),
            owned: Vec::with_capacity(2 * n),
            wire: false,
            #[cfg(unix)]
            attached: None,
        }
    }

    #[inline]
    fn span(&self, s: Span) -> &[u8] {
        if s.len == OWNED {
            &self.owned[s.start as usize]
        } else {
            &self.frame[s.start as usize..s.start as usize + s.len as usize]
        }
    }

    fn span_bytes(&self, s: Span) -> Bytes {
        if s.len == OWNED {
            self.owned[s.start as usize].clone()
        } else {
            self.frame
                .slice(s.start as usize..s.start as usize + s.len as usize)
        }
    }

    fn own(&mut self, b: Bytes) -> Span {
        self.owned.push(b);
        Span::owned(self.owned.len() - 1)
    }

    /// Builds a box from pairs; a later pair replaces an earlier one with the
    /// same key.
    ///
    /// ```
    /// let b = amp_core::AmpBox::from_pairs([("a", "1"), ("a", "2")]);
    /// assert_eq!(b.get_str("a"), Some("2"));
    /// ```
    pub fn from_pairs<K, V, I>(pairs: I) -> Self
    where
        K: Into<Bytes>,
        V: Into<Bytes>,
        I: IntoIterator<Item = (K, V)>,
    {
        pairs.into_iter().collect()
    }

    /// A decoded box: `frame` is the received box, its pairs ranges of it,
    /// with keys already known to be distinct.
    pub(crate) fn from_frame(frame: Bytes, pairs: SmallVec<[Pair; 6]>) -> Self {
        AmpBox {
            frame,
            pairs,
            owned: Vec::new(),
            wire: false,
            #[cfg(unix)]
            attached: None,
        }
    }

    /// A box the serializer wrote: `frame` is the wire form of exactly these
    /// pairs, in this order, without the terminator, with every length
    /// checked and keys distinct.
    pub(crate) fn from_wire(frame: Bytes, pairs: SmallVec<[Pair; 6]>) -> Self {
        AmpBox {
            wire: true,
            ..AmpBox::from_frame(frame, pairs)
        }
    }

    /// How many descriptors the box carries: to send with it (its
    /// [`Descriptor`](crate::values::Descriptor) arguments), or received
    /// with it and not taken by an argument yet. Dropping the box closes
    /// the received ones still here.
    ///
    /// ```
    /// assert_eq!(amp_core::AmpBox::new().descriptor_count(), 0);
    /// ```
    #[cfg(unix)]
    pub fn descriptor_count(&self) -> usize {
        self.attached
            .as_ref()
            .map_or(0, |a| a.outgoing.len() + a.unclaimed())
    }

    #[cfg(unix)]
    pub(crate) fn attached(&self) -> Option<&std::sync::Arc<crate::descriptor::Attached>> {
        self.attached.as_ref()
    }

    /// The descriptors to send with the box, under their keys, if any.
    #[cfg(unix)]
    #[inline]
    pub(crate) fn outgoing_descriptors(
        &self,
    ) -> Option<&[(Bytes, std::sync::Arc<std::os::fd::OwnedFd>)]> {
        match &self.attached {
            Some(a) if !a.outgoing.is_empty() => Some(&a.outgoing),
            _ => None,
        }
    }

    /// The box without its descriptors (what is encoded once they are
    /// numbered).
    #[cfg(unix)]
    pub(crate) fn without_descriptors(&self) -> AmpBox {
        AmpBox {
            attached: None,
            ..self.clone()
        }
    }

    /// Hands the box the descriptors received with it.
    #[cfg(unix)]
    pub(crate) fn attach_received(
        &mut self,
        attached: std::sync::Arc<crate::descriptor::Attached>,
    ) {
        self.attached = Some(attached);
    }

    /// Gives the box the descriptors its `Descriptor` values handed over,
    /// under their keys. In place and out of line: the serializer builds
    /// every box the same way and only the rare one with descriptors comes
    /// here, so the box is not moved for them.
    #[cfg(unix)]
    #[cold]
    #[inline(never)]
    pub(crate) fn attach_outgoing(
        &mut self,
        outgoing: Vec<(Bytes, std::sync::Arc<std::os::fd::OwnedFd>)>,
    ) {
        self.attached = Some(std::sync::Arc::new(crate::descriptor::Attached {
            outgoing,
            received: None,
        }));
    }

    /// The pairs' wire form without the terminator, when the box holds it
    /// ready (see [`from_wire`](Self::from_wire)).
    #[inline]
    pub(crate) fn wire_form(&self) -> Option<&[u8]> {
        self.wire.then_some(&self.frame[..])
    }

    /// Number of pairs.
    ///
    /// ```
    /// assert_eq!(amp_core::AmpBox::from_pairs([("k", "v")]).len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether the box holds no pair.
    ///
    /// ```
    /// assert!(amp_core::AmpBox::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    #[inline]
    fn position(&self, key: &[u8]) -> Option<usize> {
        self.pairs.iter().position(|p| self.span(p.key) == key)
    }

    /// The value stored under `key`.
    ///
    /// ```
    /// let b = amp_core::AmpBox::from_pairs([("k", "v")]);
    /// assert_eq!(b.get("k"), Some(&b"v"[..]));
    /// assert!(b.get("x").is_none());
    /// ```
    #[inline]
    pub fn get(&self, key: impl AsRef<[u8]>) -> Option<&[u8]> {
        let key = key.as_ref();
        self.pairs
            .iter()
            .find(|p| self.span(p.key) == key)
            .map(|p| self.span(p.value))
    }

    /// The value stored under `key` as [`Bytes`] sharing the box's buffer
    /// (no copy).
    ///
    /// ```
    /// let b = amp_core::AmpBox::from_pairs([("k", "v")]);
    /// assert_eq!(b.get_bytes("k"), Some(bytes::Bytes::from_static(b"v")));
    /// ```
    pub fn get_bytes(&self, key: impl AsRef<[u8]>) -> Option<Bytes> {
        self.position(key.as_ref())
            .map(|i| self.span_bytes(self.pairs[i].value))
    }

    /// The value stored under `key`, if it is valid UTF-8.
    ///
    /// ```
    /// let b = amp_core::AmpBox::from_pairs([("k", &b"\xff"[..]), ("s", &b"ok"[..])]);
    /// assert_eq!(b.get_str("k"), None);
    /// assert_eq!(b.get_str("s"), Some("ok"));
    /// ```
    pub fn get_str(&self, key: impl AsRef<[u8]>) -> Option<&str> {
        self.get(key).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Whether `key` is present.
    ///
    /// ```
    /// let b = amp_core::AmpBox::from_pairs([("k", "")]);
    /// assert!(b.contains_key("k"));
    /// ```
    pub fn contains_key(&self, key: impl AsRef<[u8]>) -> bool {
        self.position(key.as_ref()).is_some()
    }

    /// Sets `key` to `value`, returning the value it replaced. A replaced key
    /// keeps its place; a new key goes last.
    ///
    /// ```
    /// let mut b = amp_core::AmpBox::new();
    /// assert!(b.insert("k", "1").is_none());
    /// assert_eq!(b.insert("k", "2").as_deref(), Some(&b"1"[..]));
    /// ```
    pub fn insert(&mut self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Option<Bytes> {
        self.wire = false;
        let key = key.into();
        let value = self.own(value.into());
        match self.position(&key) {
            Some(i) => {
                let old = std::mem::replace(&mut self.pairs[i].value, value);
                Some(self.span_bytes(old))
            }
            None => {
                let key = self.own(key);
                self.pairs.push(Pair { key, value });
                None
            }
        }
    }

    /// Where each of `keys` is, in one pass over the pairs (for keys that
    /// start with `_`, as every key the dispatcher reads does).
    pub(crate) fn positions<const N: usize>(&self, keys: [&str; N]) -> [Option<usize>; N] {
        let mut found = [None; N];
        for (i, p) in self.pairs.iter().enumerate() {
            let k = self.span(p.key);
            if k.first() != Some(&b'_') {
                continue;
            }
            if let Some(j) = keys
                .iter()
                .position(|key| codec::eq_short(key.as_bytes(), k))
            {
                found[j] = Some(i);
            }
        }
        found
    }

    /// Removes the pair at `index` (from [`positions`](Self::positions)),
    /// returning its value. The other pairs keep their order.
    pub(crate) fn take_at(&mut self, index: usize) -> Bytes {
        self.wire = false;
        let value = self.pairs.remove(index).value;
        self.span_bytes(value)
    }

    /// The value of the pair at `index` (from [`positions`](Self::positions)),
    /// borrowed.
    pub(crate) fn value_at(&self, index: usize) -> &[u8] {
        self.span(self.pairs[index].value)
    }

    /// Removes the pair at `index`, as [`take_at`](Self::take_at) does,
    /// without handing out its value.
    pub(crate) fn remove_at(&mut self, index: usize) {
        self.wire = false;
        self.pairs.remove(index);
    }

    /// Removes `key`, returning its value. The other pairs keep their order.
    ///
    /// ```
    /// let mut b = amp_core::AmpBox::from_pairs([("a", "1"), ("b", "2")]);
    /// assert!(b.remove("a").is_some());
    /// assert!(b.remove("a").is_none());
    /// assert_eq!(b.keys().next(), Some(&b"b"[..]));
    /// ```
    pub fn remove(&mut self, key: impl AsRef<[u8]>) -> Option<Bytes> {
        self.position(key.as_ref()).map(|i| {
            self.wire = false;
            let value = self.pairs.remove(i).value;
            self.span_bytes(value)
        })
    }

    /// The pairs, in order.
    ///
    /// ```
    /// let b = amp_core::AmpBox::from_pairs([("a", "1"), ("b", "2")]);
    /// let keys: Vec<&[u8]> = b.iter().map(|(k, _)| k).collect();
    /// assert_eq!(keys, [&b"a"[..], &b"b"[..]]);
    /// ```
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            b: self,
            pairs: self.pairs.iter(),
        }
    }

    /// The keys, in order.
    ///
    /// ```
    /// let b = amp_core::AmpBox::from_pairs([("a", "1")]);
    /// assert_eq!(b.keys().count(), 1);
    /// ```
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &[u8]> {
        self.iter().map(|(k, _)| k)
    }

    /// Number of bytes [`encode`](Self::encode) writes, terminator included.
    ///
    /// ```
    /// let b = amp_core::AmpBox::from_pairs([("a", "13")]);
    /// assert_eq!(b.encoded_len(), 2 + 1 + 2 + 2 + 2);
    /// ```
    pub fn encoded_len(&self) -> usize {
        if let Some(wire) = self.wire_form() {
            return wire.len() + 2;
        }
        self.iter()
            .map(|(k, v)| 4 + k.len() + v.len())
            .sum::<usize>()
            + 2
    }

    /// Bytes this box holds on to: its frame (for a received box, all of
    /// the box as it arrived) and the values added by hand. Cheap (no walk
    /// over the pairs), for accounting what waits in memory.
    ///
    /// ```
    /// let b = amp_core::AmpBox::from_pairs([("a", "1")]);
    /// assert!(b.held_len() >= 1);
    /// ```
    #[inline]
    pub fn held_len(&self) -> usize {
        self.frame.len() + self.owned.iter().map(Bytes::len).sum::<usize>()
    }

    /// Appends this box's wire form to `dst`. On error nothing is appended.
    ///
    /// ```
    /// let mut out = bytes::BytesMut::new();
    /// amp_core::AmpBox::from_pairs([("a", "1")]).encode(&mut out).unwrap();
    /// assert_eq!(&out[..], b"\x00\x01a\x00\x011\x00\x00");
    /// let bad = amp_core::AmpBox::from_pairs([("", "1")]);
    /// assert!(bad.encode(&mut out).is_err());
    /// assert_eq!(out.len(), 8);
    /// ```
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), CodecError> {
        codec::encode_box(self, dst)
    }

    /// This box's wire form as a fresh buffer.
    ///
    /// ```
    /// let wire = amp_core::AmpBox::new().to_bytes().unwrap();
    /// assert_eq!(&wire[..], b"\x00\x00");
    /// ```
    pub fn to_bytes(&self) -> Result<Bytes, CodecError> {
        let mut out = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut out)?;
        Ok(out.freeze())
    }

    /// Pairs sorted by key, the order Twisted writes a box in.
    ///
    /// ```
    /// let b = amp_core::AmpBox::from_pairs([("b", "2"), ("a", "1")]);
    /// assert_eq!(b.sorted().keys().next(), Some(&b"a"[..]));
    /// ```
    pub fn sorted(&self) -> AmpBox {
        let mut pairs = self.pairs.clone();
        pairs.sort_by(|a, b| self.span(a.key).cmp(self.span(b.key)));
        AmpBox {
            frame: self.frame.clone(),
            pairs,
            owned: self.owned.clone(),
            wire: false,
            #[cfg(unix)]
            attached: self.attached.clone(),
        }
    }
}

impl PartialEq for AmpBox {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl Eq for AmpBox {}

impl<K: Into<Bytes>, V: Into<Bytes>> FromIterator<(K, V)> for AmpBox {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut b = AmpBox::new();
        for (k, v) in iter {
            b.insert(k, v);
        }
        b
    }
}

impl<K: Into<Bytes>, V: Into<Bytes>> Extend<(K, V)> for AmpBox {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

/// The pairs as [`Bytes`] sharing the box's buffer.
impl IntoIterator for AmpBox {
    type Item = (Bytes, Bytes);
    type IntoIter = std::vec::IntoIter<(Bytes, Bytes)>;
    fn into_iter(self) -> Self::IntoIter {
        self.pairs
            .iter()
            .map(|p| (self.span_bytes(p.key), self.span_bytes(p.value)))
            .collect::<Vec<_>>()
            .into_iter()
    }
}

impl<'a> IntoIterator for &'a AmpBox {
    type Item = (&'a [u8], &'a [u8]);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Writes a byte string readably: as a quoted string when it is printable
/// UTF-8, otherwise as `b"..."` with escapes.
pub(crate) struct Readable<'a>(pub &'a [u8]);

impl fmt::Debug for Readable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(self.0) {
            Ok(s) if !s.chars().any(char::is_control) => write!(f, "{s:?}"),
            _ => write!(f, "b\"{}\"", self.0.escape_ascii()),
        }
    }
}

impl fmt::Display for Readable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Shows printable keys and values as strings and others escaped; a value
/// over 64 bytes is cut short with its length noted.
///
/// ```
/// let b = amp_core::AmpBox::from_pairs([("a", &b"13"[..]), ("raw", &b"\x00\xff"[..])]);
/// assert_eq!(format!("{b:?}"), r#"AmpBox {"a": "13", "raw": b"\x00\xff"}"#);
/// ```
impl fmt::Debug for AmpBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOW: usize = 64;
        struct Value<'a>(&'a [u8]);
        impl fmt::Debug for Value<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if self.0.len() > SHOW {
                    write!(
                        f,
                        "{:?}... ({} bytes)",
                        Readable(&self.0[..SHOW]),
                        self.0.len()
                    )
                } else {
                    write!(f, "{:?}", Readable(self.0))
                }
            }
        }
        f.write_str("AmpBox ")?;
        f.debug_map()
            .entries(self.iter().map(|(k, v)| (Readable(k), Value(v))))
            .finish()
    }
}
