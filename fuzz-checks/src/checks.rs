//! The checks behind every fuzz target, on plain byte slices.
//!
//! Each target in `fuzz/fuzz_targets/` is one line calling a function here
//! (or in `router_checks.rs`), and this crate's tests replay the seed corpus
//! and every saved crash through them on stable Rust.
//!
//! Structured inputs (the decoder's limits and chunking, the dispatcher's
//! actions) are read with [`Input`], the small byte reader of `input.rs`,
//! so that the stable replay reads a saved input exactly as the fuzzer did.
//! Running out of bytes reads zeros, so every input is valid.
//!
//! The dispatcher's timeouts are checked against the [`Clock`] of
//! `timeout_model.rs`, the model the `router` check of `router_checks.rs`
//! uses too.
//!
//! A check that finds a bug panics with a message saying which invariant
//! broke.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::path::PathBuf;
use std::time::Duration;

use amp_core::codec::decode_one;
use amp_core::values::{DateTime, Decimal, ValueError, ValueErrorKind, decode_value, encode_value};
use amp_core::{
    AmpBox, CallId, CodecError, Config, Connection, ConnectionError, Decoder, Event, Limits,
    ResponderError, SendError, Timeouts, de, ser,
};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use crate::input::Input;
use crate::timeout_model::Clock;

// ---------------------------------------------------------------------------
// decoder

/// The decoder against arbitrary bytes in arbitrary chunks.
///
/// Input: a 6-byte header, then the stream.
/// - byte 0: bit 0 set: small limits from bytes 1..=3 (keys `b1 % 20`, box
///   bytes `4 * b2`, buffered bytes `4 * b3`); clear: the default limits;
/// - byte 4: largest chunk (0: the whole stream in one chunk);
/// - byte 5: seed of the chunk sizes.
///
/// Checks: no panic; a decoded box re-encodes to exactly the bytes it was
/// decoded from, and keeps within the limits; an error persists (`decode`,
/// `feed` and `finish` all return it again); `finish` fails exactly when a
/// box is unfinished; the boxes are those the whole stream decoded at once
/// gives (a prefix of them when the chunked run failed), and the same error
/// stops both, except the buffered-bytes limit, which depends on the
/// chunking.
pub fn decoder(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.u8();
    let (b1, b2, b3) = (input.u8(), input.u8(), input.u8());
    let max_chunk = input.u8() as usize;
    let mut seed = u32::from(input.u8()) | 0x100;
    let stream = input.rest();
    let limits = if mode & 1 == 1 {
        Limits::default()
            .max_keys(b1 as usize % 20)
            .max_box_bytes(4 * b2 as usize)
            .max_buffered_bytes(4 * b3 as usize)
    } else {
        Limits::default()
    };

    let mut chunks = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        let n = if max_chunk == 0 {
            stream.len()
        } else {
            // xorshift32: a cheap, deterministic spread of chunk sizes.
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            1 + seed as usize % max_chunk
        };
        let end = (at + n).min(stream.len());
        chunks.push(&stream[at..end]);
        at = end;
    }

    let chunked = run_decoder(limits, &chunks, stream);
    let whole = run_decoder(limits, &[stream], stream);
    match &chunked.error {
        // The buffered-bytes limit depends on how the stream is cut: the
        // chunked run may stop earlier, never later.
        Some(CodecError::BufferLimit { .. }) => {
            assert!(
                whole.boxes.starts_with(&chunked.boxes),
                "chunked boxes are not a prefix of the whole stream's"
            );
        }
        Some(e) => {
            assert_eq!(chunked.boxes, whole.boxes, "boxes differ with the chunking");
            let w = whole.error.as_ref().expect("the chunked run failed alone");
            assert_eq!(
                std::mem::discriminant(e),
                std::mem::discriminant(w),
                "different errors: chunked {e:?}, whole {w:?}"
            );
        }
        None => {
            assert_eq!(whole.error, None, "the whole stream failed alone");
            assert_eq!(chunked.boxes, whole.boxes, "boxes differ with the chunking");
            assert_eq!(
                chunked.finish, whole.finish,
                "finish differs with the chunking"
            );
        }
    }
}

struct DecoderRun {
    boxes: Vec<AmpBox>,
    error: Option<CodecError>,
    finish: Result<(), CodecError>,
}

fn run_decoder(limits: Limits, chunks: &[&[u8]], stream: &[u8]) -> DecoderRun {
    let mut d = Decoder::new(limits);
    let mut boxes = Vec::new();
    let mut fed = 0usize;
    let mut consumed = 0usize;
    let mut error = None;
    'feed: for chunk in chunks {
        d.feed(chunk).expect("feed failed before any error");
        fed += chunk.len();
        loop {
            match d.decode() {
                Ok(Some(b)) => {
                    let now = fed - d.buffered();
                    let used = &stream[consumed..now];
                    let wire = b.to_bytes().expect("a decoded box does not re-encode");
                    assert_eq!(
                        &wire[..],
                        used,
                        "box {} re-encodes to other bytes than it was decoded from",
                        boxes.len()
                    );
                    assert!(b.len() <= limits.keys(), "box over the key limit");
                    assert!(
                        used.len() <= limits.box_bytes(),
                        "box of {} bytes over the {}-byte limit",
                        used.len(),
                        limits.box_bytes()
                    );
                    let (again, n) = decode_one(used, &limits)
                        .expect("decode_one refuses a decoded box")
                        .expect("decode_one finds no box");
                    assert_eq!((again, n), (b.clone(), used.len()));
                    consumed = now;
                    boxes.push(b);
                }
                Ok(None) => {
                    assert!(
                        d.buffered() <= limits.buffered_bytes(),
                        "holding {} bytes, over the buffered-bytes limit",
                        d.buffered()
                    );
                    break;
                }
                Err(e) => {
                    error = Some(e);
                    break 'feed;
                }
            }
        }
    }
    let finish = match &error {
        Some(e) => {
            // Poisoned: everything returns the same error from now on.
            assert_eq!(d.decode().as_ref().err(), Some(e), "decode after an error");
            assert_eq!(
                d.feed(b"\x00\x00").as_ref().err(),
                Some(e),
                "feed after an error"
            );
            assert_eq!(d.finish().as_ref().err(), Some(e), "finish after an error");
            assert_eq!(
                d.decode().as_ref().err(),
                Some(e),
                "decode after an error, again"
            );
            Err(e.clone())
        }
        None => {
            assert_eq!(consumed + d.buffered(), stream.len(), "bytes lost");
            let finish = d.finish();
            match &finish {
                Ok(()) => assert_eq!(d.buffered(), 0, "finish accepted an unfinished box"),
                Err(CodecError::Truncated { buffered }) => {
                    assert_eq!(*buffered, stream.len() - consumed)
                }
                Err(e) => panic!("finish failed with {e:?}"),
            }
            if finish.is_err() {
                assert_eq!(d.finish(), finish, "finish does not persist");
                assert!(d.feed(b"x").is_err(), "feed after a failed finish");
            }
            finish
        }
    };
    DecoderRun {
        boxes,
        error,
        finish,
    }
}

// ---------------------------------------------------------------------------
// values

/// An AmpList element covering Twisted's AmpList vectors:
/// `[a: Integer, b: Unicode]`, `[a: Integer, b: Unicode optional]` and
/// `[name: Unicode, items: AmpList([n: Integer])]`.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Entry {
    a: Option<i64>,
    b: Option<String>,
    name: Option<String>,
    items: Option<Vec<Item>>,
}

/// The inner AmpList element.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Item {
    n: i64,
}

/// A re-encoding may fail only by growing past what the wire can hold
/// (Python's `repr` of `1e5` is `100000.0`): nothing else.
fn too_long(e: &ValueError) -> bool {
    matches!(
        e.kind(),
        ValueErrorKind::Codec(CodecError::ValueTooLong { .. })
            | ValueErrorKind::AmpList(CodecError::ValueTooLong { .. })
            | ValueErrorKind::ElementTooLong { .. }
    )
}

/// Whatever decodes must encode, decode again to an equal value (as `same`
/// says), and encode again to the same bytes.
fn value_roundtrip<T>(wire: &[u8], same: fn(&T, &T) -> bool)
where
    T: DeserializeOwned + Serialize + Debug,
{
    let Ok(v) = decode_value::<T>(wire) else {
        return;
    };
    let enc = match encode_value(&v) {
        Ok(enc) => enc,
        Err(e) if too_long(&e) => return,
        Err(e) => panic!("{v:?}, decoded from {wire:?}, does not encode: {e}"),
    };
    let v2 = decode_value::<T>(&enc)
        .unwrap_or_else(|e| panic!("{v:?} encodes as {enc:?}, which does not decode: {e}"));
    assert!(same(&v, &v2), "{v:?} comes back as {v2:?} (wire {enc:?})");
    let enc2 = encode_value(&v2).expect("a value decoded from our own encoding does not encode");
    assert_eq!(enc, enc2, "encoding not stable for {v:?}");
}

fn eq<T: PartialEq>(a: &T, b: &T) -> bool {
    a == b
}

/// Floats compare by their encoding (done by [`value_roundtrip`]): NaN is
/// not equal to itself, and `-0.0 == 0.0` hides a lost sign.
fn any<T>(_: &T, _: &T) -> bool {
    true
}

/// The argument types `values` picks from, by the input's first byte.
pub const VALUE_TYPES: &[&str] = &[
    "i64",
    "u8",
    "i128",
    "String (Unicode)",
    "bool",
    "f64",
    "Decimal",
    "DateTime",
    "Vec<i64>",
    "Vec<String>",
    "Vec<Entry> (nested AmpList)",
    "PathBuf",
    "Bytes (String)",
    "Vec<bool>",
    "Vec<Vec<i64>>",
    "f32",
    "u64",
    "Vec<f64>",
    "char",
    "Vec<Bytes>",
];

/// Every argument type's decoder: the first byte picks the type
/// ([`VALUE_TYPES`]), the rest is the value's wire form.
pub fn values(data: &[u8]) {
    let Some((&which, wire)) = data.split_first() else {
        return;
    };
    match which as usize % VALUE_TYPES.len() {
        0 => value_roundtrip::<i64>(wire, eq),
        1 => value_roundtrip::<u8>(wire, eq),
        2 => value_roundtrip::<i128>(wire, eq),
        3 => value_roundtrip::<String>(wire, eq),
        4 => value_roundtrip::<bool>(wire, eq),
        5 => value_roundtrip::<f64>(wire, any),
        6 => value_roundtrip::<Decimal>(wire, eq),
        7 => value_roundtrip::<DateTime>(wire, eq),
        8 => value_roundtrip::<Vec<i64>>(wire, eq),
        9 => value_roundtrip::<Vec<String>>(wire, eq),
        10 => value_roundtrip::<Vec<Entry>>(wire, eq),
        11 => value_roundtrip::<PathBuf>(wire, eq),
        12 => value_roundtrip::<Bytes>(wire, eq),
        13 => value_roundtrip::<Vec<bool>>(wire, eq),
        14 => value_roundtrip::<Vec<Vec<i64>>>(wire, eq),
        15 => value_roundtrip::<f32>(wire, any),
        16 => value_roundtrip::<u64>(wire, eq),
        17 => value_roundtrip::<Vec<f64>>(wire, any),
        18 => value_roundtrip::<char>(wire, eq),
        _ => value_roundtrip::<Vec<serde_bytes::ByteBuf>>(wire, eq),
    }
}

// ---------------------------------------------------------------------------
// serde_box

/// `Sum`'s arguments.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct SumArgs {
    a: i64,
    b: i64,
}

/// `Divide`'s answer.
#[derive(Serialize, Deserialize, Debug)]
pub struct Quotient {
    result: f64,
}

/// Text and bytes borrowed from the box.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Note<'a> {
    text: &'a str,
    #[serde(borrow, with = "serde_bytes")]
    data: &'a [u8],
}

/// One optional field of each argument type.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Typed {
    int: Option<i128>,
    text: Option<String>,
    raw: Option<Bytes>,
    flag: Option<bool>,
    amount: Option<Decimal>,
    when: Option<DateTime>,
    path: Option<PathBuf>,
    counts: Option<Vec<u32>>,
    names: Option<Vec<String>>,
}

/// A listing: an AmpList of AmpLists.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Listing {
    name: String,
    entries: Vec<Entry>,
}

/// A command's arguments read into a struct: whatever reads must write
/// back, read back equal (as `$same` says), and write the same box again.
/// A macro rather than a function so that borrowing types read from each
/// box with that box's lifetime.
macro_rules! box_roundtrip {
    ($ty:ty, $b:expr, $same:expr) => {{
        let b: &AmpBox = $b;
        if let Ok(v) = de::from_box::<$ty>(b) {
            match ser::to_box(&v) {
                Ok(b2) => {
                    let v2 = de::from_box::<$ty>(&b2).unwrap_or_else(|e| {
                        panic!("{v:?} writes {b2:?}, which does not read back: {e}")
                    });
                    assert!($same(&v, &v2), "{v:?} comes back as {v2:?}");
                    let b3 = ser::to_box(&v2).expect("a value read from our box does not write");
                    assert_eq!(
                        b2.to_bytes().expect("our box does not encode"),
                        b3.to_bytes().expect("our box does not encode"),
                        "writing {v:?} is not stable"
                    );
                }
                Err(e) if too_long(&e) => {}
                Err(e) => panic!("{v:?}, read from {b:?}, does not write: {e}"),
            }
        }
    }};
}

/// A box, decoded from the input, read into a few typical argument structs
/// (and a map): see [`box_roundtrip`].
pub fn serde_box(data: &[u8]) {
    let Ok(Some((b, _))) = decode_one(data, &Limits::default()) else {
        return;
    };
    box_roundtrip!(SumArgs, &b, eq);
    box_roundtrip!(Quotient, &b, any);
    box_roundtrip!(Note<'_>, &b, eq);
    box_roundtrip!(Typed, &b, eq);
    box_roundtrip!(Listing, &b, eq);
    box_roundtrip!(BTreeMap<String, Bytes>, &b, eq);
    box_roundtrip!(BTreeMap<String, i64>, &b, eq);
}

// ---------------------------------------------------------------------------
// dispatcher

/// Tracks what a connection must be doing, from the calls made on it and
/// the events it gave out.
struct Model {
    /// Calls made with a tag, not yet answered, failed or forgotten.
    outstanding: BTreeSet<u64>,
    /// Calls forgotten (for generating late answers).
    forgotten: BTreeSet<u64>,
    /// Tags of requests received and not answered yet.
    owed: Vec<Bytes>,
    /// The next call's id.
    next_call: u64,
    /// Event::Closed has been handed out.
    closed_seen: bool,
    /// Bytes queued when the connection was last seen closed.
    closed_transmit: Option<usize>,
    /// Everything the connection sent, decoded.
    sent: Decoder,
    /// Counter for fresh tags in received requests.
    fresh: u64,
    /// The timeouts: time, and what the connection looked like at each
    /// `poll_timeout`/`handle_timeout`.
    clock: Clock,
}

impl Model {
    fn new(timeouts: Timeouts) -> Self {
        let unlimited = Limits::default()
            .max_keys(usize::MAX)
            .max_box_bytes(usize::MAX)
            .max_buffered_bytes(usize::MAX);
        Model {
            outstanding: BTreeSet::new(),
            forgotten: BTreeSet::new(),
            owed: Vec::new(),
            next_call: 1,
            closed_seen: false,
            closed_transmit: None,
            sent: Decoder::new(unlimited),
            fresh: 0,
            clock: Clock::new(timeouts),
        }
    }

    fn pick_outstanding(&self, input: &mut Input) -> Option<u64> {
        let i = input.u8() as usize;
        self.outstanding
            .iter()
            .nth(i % self.outstanding.len().max(1))
            .copied()
    }

    fn pick_owed(&self, input: &mut Input) -> Option<Bytes> {
        let i = input.u8() as usize;
        self.owed.get(i % self.owed.len().max(1)).cloned()
    }

    fn event(&mut self, conn: &Connection, raw_boxes: bool, event: Event) {
        assert!(!self.closed_seen, "event after Closed: {event:?}");
        match event {
            Event::Request(req) => {
                assert!(!conn.is_closed(), "a request after the connection ended");
                if let Some(tag) = req.tag {
                    assert!(
                        !self.owed.contains(&tag),
                        "a request reuses owed tag {tag:?}"
                    );
                    self.owed.push(tag);
                }
            }
            Event::Answer { call, .. } | Event::ErrorAnswer { call, .. } => {
                assert!(
                    self.outstanding.remove(&call.get()),
                    "answer for call {call} that is not outstanding"
                );
            }
            Event::Box(b) => {
                assert!(raw_boxes, "a raw box without raw boxes on");
                for key in ["_answer", "_error", "_command"] {
                    assert!(!b.contains_key(key), "a raw box holding {key}");
                }
            }
            Event::CallFailed { call, .. } => {
                assert!(conn.is_closed(), "CallFailed on an open connection");
                assert!(
                    self.outstanding.remove(&call.get()),
                    "CallFailed for call {call} that is not outstanding"
                );
            }
            Event::Closed(reason) => {
                assert!(
                    self.outstanding.is_empty(),
                    "Closed before CallFailed for {:?}",
                    self.outstanding
                );
                assert_eq!(conn.close_reason(), Some(&reason), "close reason");
                self.closed_seen = true;
                self.owed.clear();
                self.forgotten.clear();
            }
            other => panic!("unexpected event {other:?}"),
        }
    }

    fn poll(&mut self, conn: &mut Connection, raw_boxes: bool, n: usize) {
        for _ in 0..n {
            let Some(event) = conn.poll_event() else {
                if !conn.is_closed() {
                    // No whole box left: what is buffered is part of one.
                    self.clock.drained_at = self.clock.fed;
                }
                return;
            };
            self.event(conn, raw_boxes, event);
        }
    }

    /// Hands received bytes to the connection (counted while it is open:
    /// later ones are ignored).
    fn feed(&mut self, conn: &mut Connection, data: &[u8]) {
        if !conn.is_closed() {
            self.clock.fed += data.len() as u64;
        }
        conn.handle_input(data);
    }

    /// One time action, by the model's rules (see [`Clock::time`]).
    fn time(&mut self, conn: &mut Connection, input: &mut Input) {
        let calls = !self.outstanding.is_empty() || !self.owed.is_empty();
        self.clock.time(conn, input, calls);
    }

    fn take_transmit(&mut self, conn: &mut Connection) {
        let out = conn.take_transmit();
        self.clock.transmitted += out.len() as u64;
        self.sent.feed(&out).expect("our output does not decode");
        while let Some(b) = self.sent.decode().expect("our output does not decode") {
            drop(b);
        }
    }

    /// Invariants that hold between any two actions.
    fn check(&mut self, conn: &Connection) {
        let d = conn.dispatcher();
        if conn.is_closed() {
            let now = conn.pending_transmit();
            if let Some(before) = self.closed_transmit {
                assert!(now <= before, "bytes queued after the connection ended");
            }
            self.closed_transmit = Some(now);
            assert_eq!(d.outstanding_calls(), 0, "outstanding calls after close");
            assert_eq!(d.owed_answers(), 0, "owed answers after close");
        } else {
            assert!(!self.closed_seen, "open after Closed");
            assert_eq!(
                d.outstanding_calls(),
                self.outstanding.len(),
                "outstanding calls"
            );
            assert_eq!(d.owed_answers(), self.owed.len(), "owed answers");
        }
    }
}

/// A small box of 0 to 3 pairs, sometimes holding a reserved or over-long
/// key.
fn arguments(input: &mut Input) -> AmpBox {
    let mut b = AmpBox::new();
    for _ in 0..input.below(4) {
        let key: Bytes = match input.below(8) {
            0 => Bytes::from_static(b"_ask"),
            1 => Bytes::from_static(b"_answer"),
            2 => Bytes::from(vec![b'k'; 256]),
            3 => Bytes::new(),
            4 => Bytes::from_static(b"a"),
            5 => Bytes::from_static(b"b"),
            _ => Bytes::copy_from_slice(input.bytes()),
        };
        let value: Bytes = match input.below(16) {
            0 => Bytes::from(vec![b'v'; 65536]),
            _ => Bytes::copy_from_slice(input.bytes()),
        };
        b.insert(key, value);
    }
    b
}

fn command_name(input: &mut Input) -> Bytes {
    match input.below(4) {
        0 => Bytes::from_static(b"Sum"),
        1 => Bytes::from_static(b"Echo"),
        2 => Bytes::new(),
        _ => Bytes::copy_from_slice(input.bytes()),
    }
}

/// A well-formed box of the kind the input picks, as a peer could send it.
fn peer_box(input: &mut Input, model: &mut Model) -> AmpBox {
    let mut b = AmpBox::new();
    let random_tag = |input: &mut Input| Bytes::copy_from_slice(input.bytes());
    match input.below(12) {
        // A request with a fresh tag.
        0 | 1 => {
            model.fresh += 1;
            b.insert("_ask", format!("p{}", model.fresh));
            b.insert("_command", command_name(input));
        }
        // A request reusing a tag we owe an answer for.
        2 => {
            let tag = model.pick_owed(input).unwrap_or_else(|| random_tag(input));
            b.insert("_ask", tag);
            b.insert("_command", command_name(input));
        }
        // A request without a tag.
        3 => {
            b.insert("_command", command_name(input));
        }
        // An answer to a call of ours.
        4 | 5 => {
            let tag = match model.pick_outstanding(input) {
                Some(id) => Bytes::from(CallId::new(id).tag()),
                None => random_tag(input),
            };
            b.insert("_answer", tag);
        }
        // An error answer, sometimes missing its code or description.
        6 => {
            let tag = match model.pick_outstanding(input) {
                Some(id) => Bytes::from(CallId::new(id).tag()),
                None => random_tag(input),
            };
            b.insert("_error", tag);
            let shape = input.below(4);
            if shape != 1 {
                b.insert("_error_code", "ZERO_DIVISION");
            }
            if shape != 2 {
                b.insert("_error_description", Bytes::copy_from_slice(input.bytes()));
            }
        }
        // A late answer to a call we forgot.
        7 => {
            let i = input.u8() as usize;
            let tag = match nth(&model.forgotten, i) {
                Some(id) => Bytes::from(CallId::new(id).tag()),
                None => random_tag(input),
            };
            b.insert(if input.bool() { "_answer" } else { "_error" }, tag);
            b.insert("_error_code", "X");
            b.insert("_error_description", "y");
        }
        // An answer or error for any tag.
        8 => {
            b.insert(
                if input.bool() { "_answer" } else { "_error" },
                random_tag(input),
            );
        }
        // A box that is neither request nor answer.
        9 => {}
        // More than one of _answer, _error, _command.
        10 => {
            let all = ["_answer", "_error", "_command"];
            let skip = input.below(4);
            for (i, key) in all.iter().enumerate() {
                if i != skip {
                    b.insert(*key, "1");
                }
            }
        }
        // A request carrying a protocol key among its arguments.
        _ => {
            model.fresh += 1;
            b.insert("_ask", format!("p{}", model.fresh));
            b.insert("_command", "Sum");
            b.insert("_error_code", "odd");
        }
    }
    for _ in 0..input.below(3) {
        let key = input.bytes();
        if !key.is_empty() && !b.contains_key(key) && !key.starts_with(b"_") {
            b.insert(
                Bytes::copy_from_slice(key),
                Bytes::copy_from_slice(input.bytes()),
            );
        }
    }
    b
}

fn nth(set: &BTreeSet<u64>, i: usize) -> Option<u64> {
    set.iter().nth(i % set.len().max(1)).copied()
}

fn responder_error(input: &mut Input) -> ResponderError {
    match input.below(4) {
        0 => ResponderError::Declared {
            code: "ZERO_DIVISION".into(),
            description: String::from_utf8_lossy(input.bytes()).into_owned(),
            fatal: false,
        },
        1 => ResponderError::Declared {
            code: "BROKEN".into(),
            description: "fatal".into(),
            fatal: true,
        },
        2 => ResponderError::unhandled(input.bytes()),
        _ => ResponderError::undeclared("boom"),
    }
}

/// Checks a refused local action: refused because the connection ended iff
/// it has; nothing queued either way.
fn refused(conn: &Connection, e: &SendError, before: usize) {
    assert_eq!(
        conn.pending_transmit(),
        before,
        "a refused action queued bytes"
    );
    if conn.is_closed() {
        assert!(
            matches!(e, SendError::Closed(_)),
            "closed, refused with {e:?}"
        );
    } else {
        assert!(
            !matches!(e, SendError::Closed(_)),
            "open, refused as closed"
        );
    }
}

/// A timeout from one byte of input: 0 to 12.75 ms, in steps of 50 µs
/// (under 1 ms, the configuration makes it 1 ms).
fn timeout(b: u8) -> Duration {
    Duration::from_micros(u64::from(b) * 50)
}

/// The configuration holds the timeouts asked for, none under 1 ms.
fn check_timeouts(config: &Config, unfinished_box: bool, idle: bool) {
    let t = config.timeouts();
    assert_eq!(t.unfinished_box.is_some(), unfinished_box, "{t:?}");
    assert_eq!(t.idle.is_some(), idle, "{t:?}");
    for d in [t.unfinished_box, t.idle].into_iter().flatten() {
        assert!(d >= Duration::from_millis(1), "a timeout under 1 ms: {d:?}");
    }
}

/// A [`Connection`] driven by a sequence of actions read from the input.
///
/// Input: one byte of settings (bit 0: raw boxes; bit 1: small limits from
/// the next three bytes, as in [`decoder`]; bit 2: an unfinished-box
/// timeout, bit 3: an idle timeout, each from the next byte, in steps of
/// 50 µs), then actions until the input ends, each an opcode byte (mod 16)
/// and its operands:
///
/// | opcode | action |
/// |---|---|
/// | 0 | receive bytes (a length byte and the bytes) |
/// | 1 | receive a well-formed box of a kind the next byte picks, in two writes |
/// | 2 | call (name, arguments, whether it wants an answer) |
/// | 3 | answer a request we owe (or a tag nobody asked) |
/// | 4 | fail a request we owe (declared, fatal, unhandled, undeclared) |
/// | 5 | respond to a request, tagged or not, with a result or an error |
/// | 6 | forget a call |
/// | 7 | take up to 4 events |
/// | 8 | take the bytes to send |
/// | 9 | send a raw box |
/// | 10 | close |
/// | 11 | end of stream |
/// | 12 | transport lost |
/// | 13 | switch protocol |
/// | 14 | take every event |
/// | 15 | time: a byte (mod 8) picks what, then its operands (below) |
///
/// Time is one more action: the check keeps the time (it starts at the
/// instant the check starts) and hands it to the connection.
///
/// | time | action |
/// |---|---|
/// | 0 | ask for the deadline (`poll_timeout`) |
/// | 1 | go to the deadline last returned, then `handle_timeout` |
/// | 2 | go to a nanosecond before it, then `handle_timeout` |
/// | 3 | let a number of microseconds pass (two bytes), then `handle_timeout` |
/// | 4 | let a number of microseconds pass (two bytes) |
/// | 5 | stop reading, or read again (one bit) |
/// | 6 | let a number of microseconds pass (two bytes), then ask for the deadline |
/// | 7 | `handle_timeout` now |
///
/// Then it takes every event, ends the stream, and takes every event again.
///
/// Checks: no panic; events concern only calls still outstanding; no event
/// after `Closed`, which comes after a `CallFailed` for every outstanding
/// call; no outstanding call or owed answer once closed; a local action is
/// refused as `Closed` exactly when the connection has ended, and a refused
/// action queues nothing; no byte is queued after the end; the dispatcher's
/// counts of calls and owed answers match the events; everything sent
/// decodes as whole boxes; the end of the stream always ends the connection.
/// And the timeouts: the configuration holds what was asked (at least
/// 1 ms); every deadline is the one a model of the rules gives (over what
/// the check fed, polled and took, and the instants it passed); a timeout
/// ends the connection exactly when, and with the reason, the model says,
/// never the idle one while the model says busy; after the end there is
/// no deadline and no timeout.
pub fn dispatcher(data: &[u8]) {
    let mut input = Input::new(data);
    let settings = input.u8();
    let raw_boxes = settings & 1 == 1;
    let mut limits = Limits::default();
    if settings & 2 == 2 {
        limits = limits
            .max_keys(input.u8() as usize % 20)
            .max_box_bytes(4 * input.u8() as usize)
            .max_buffered_bytes(4 * input.u8() as usize);
    }
    let mut config = Config::default().limits(limits).raw_boxes(raw_boxes);
    if settings & 4 == 4 {
        config = config.unfinished_box_timeout(timeout(input.u8()));
    }
    if settings & 8 == 8 {
        config = config.idle_timeout(timeout(input.u8()));
    }
    check_timeouts(&config, settings & 4 == 4, settings & 8 == 8);
    let mut conn = Connection::new(&config);
    let mut model = Model::new(config.timeouts());

    while !input.is_empty() {
        let before = conn.pending_transmit();
        match input.u8() % 16 {
            0 => {
                let data = input.bytes();
                model.feed(&mut conn, data);
            }
            1 => {
                let b = peer_box(&mut input, &mut model);
                let wire = b.to_bytes().expect("a generated box does not encode");
                let cut = input.u16() as usize % (wire.len() + 1);
                model.feed(&mut conn, &wire[..cut]);
                model.feed(&mut conn, &wire[cut..]);
            }
            2 => {
                let name = command_name(&mut input);
                let name = String::from_utf8_lossy(&name).into_owned();
                let args = arguments(&mut input);
                let wants = input.u8() & 3 != 0;
                match conn.call_remote(&name, &args, wants) {
                    Ok(Some(id)) => {
                        assert!(wants, "a call wanting no answer got an id");
                        assert_eq!(id.get(), model.next_call, "call ids not in sequence");
                        model.next_call += 1;
                        model.outstanding.insert(id.get());
                    }
                    Ok(None) => assert!(!wants, "a call wanting an answer got no id"),
                    Err(e) => refused(&conn, &e, before),
                }
            }
            3 | 4 => {
                let tag = model
                    .pick_owed(&mut input)
                    .unwrap_or_else(|| Bytes::copy_from_slice(input.bytes()));
                let owed = !conn.is_closed() && model.owed.contains(&tag);
                let (result, fatal) = if input.u8() & 1 == 0 {
                    let response = arguments(&mut input);
                    (conn.answer(&tag, &response), false)
                } else {
                    let e = responder_error(&mut input);
                    (conn.fail(&tag, &e), e.is_fatal())
                };
                match result {
                    Ok(()) => {
                        assert!(owed, "answered tag {tag:?} that is not owed");
                        model.owed.retain(|t| *t != tag);
                        if fatal {
                            assert!(conn.is_closed(), "a fatal error left the connection open");
                        }
                    }
                    Err(e) => {
                        if owed {
                            assert!(
                                matches!(e, SendError::Codec(_) | SendError::ReservedKey(_)),
                                "owed tag refused with {e:?}"
                            );
                        } else {
                            assert!(
                                matches!(e, SendError::NotAsked(_) | SendError::Closed(_)),
                                "tag not owed refused with {e:?}"
                            );
                        }
                        refused(&conn, &e, before);
                    }
                }
            }
            5 => {
                let tag = if input.bool() {
                    model.pick_owed(&mut input)
                } else {
                    None
                };
                let result = if input.bool() {
                    Ok(arguments(&mut input))
                } else {
                    Err(responder_error(&mut input))
                };
                let was_open = !conn.is_closed();
                let owed = was_open && tag.as_ref().is_some_and(|t| model.owed.contains(t));
                let ok = result.is_ok();
                match conn.respond(tag.as_deref(), result) {
                    Ok(()) => {
                        assert!(was_open, "respond accepted after the end");
                        if let Some(tag) = &tag {
                            assert!(owed, "responded to tag {tag:?} that is not owed");
                            model.owed.retain(|t| t != tag);
                        } else if !ok {
                            assert!(conn.is_closed(), "a failed tagless request left it open");
                        }
                    }
                    Err(e) => refused(&conn, &e, before),
                }
            }
            6 => {
                let id = match model.pick_outstanding(&mut input) {
                    Some(id) if input.bool() => id,
                    _ => u64::from(input.u8()),
                };
                let expected = !conn.is_closed() && model.outstanding.contains(&id);
                assert_eq!(conn.forget(CallId::new(id)), expected, "forget({id})");
                if expected {
                    model.outstanding.remove(&id);
                    model.forgotten.insert(id);
                }
            }
            7 => {
                let n = 1 + input.below(4);
                model.poll(&mut conn, raw_boxes, n);
            }
            8 => model.take_transmit(&mut conn),
            9 => {
                let b = arguments(&mut input);
                if let Err(e) = conn.send_box(&b) {
                    refused(&conn, &e, before);
                }
            }
            10 => conn.close(),
            11 => conn.handle_eof(),
            12 => conn.connection_lost(ConnectionError::Transport("reset".into())),
            13 => {
                conn.switch_protocol();
                assert!(conn.is_closed(), "open after a protocol switch");
            }
            14 => model.poll(&mut conn, raw_boxes, usize::MAX),
            _ => model.time(&mut conn, &mut input),
        }
        model.check(&conn);
    }

    model.poll(&mut conn, raw_boxes, usize::MAX);
    model.check(&conn);
    conn.handle_eof();
    model.poll(&mut conn, raw_boxes, usize::MAX);
    model.check(&conn);
    assert!(
        model.closed_seen,
        "the end of the stream did not end the connection"
    );
    conn.handle_input(b"\x00\x08_command\x00\x03Sum\x00\x00");
    assert_eq!(conn.poll_event(), None, "an event after Closed");
    model.take_transmit(&mut conn);
    model.sent.finish().expect("our output ends inside a box");
}
