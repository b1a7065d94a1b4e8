//! Properties of the box codec over generated boxes, byte streams and
//! chunkings.

use amp_core::codec::decode_one;
use amp_core::{AmpBox, CodecError, Decoder, Limits};
use bytes::{BufMut, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// Generators

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => vec(any::<u8>(), 1..=8),
        1 => vec(any::<u8>(), 1..=255),
        1 => Just(vec![b'k'; 255]),
    ]
}

/// A value of `n` bytes cheaper to make than `n` random draws.
fn patterned(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| seed.wrapping_add((i as u8).wrapping_mul(31)))
        .collect()
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        20 => vec(any::<u8>(), 0..=2000),
        4 => Just(Vec::new()),
        1 => (2001usize..=65535, any::<u8>()).prop_map(|(n, s)| patterned(n, s)),
        1 => any::<u8>().prop_map(|s| patterned(65535, s)),
    ]
}

/// Any box AMP can carry: distinct keys of 1..=255 bytes, values of
/// 0..=65535 bytes, in any order, sometimes past the duplicate-scan cutover.
fn amp_box() -> impl Strategy<Value = AmpBox> {
    prop_oneof![
        6 => vec((key(), value()), 0..=6),
        2 => vec((key(), vec(any::<u8>(), 0..=16)), 10..=40),
    ]
    .prop_map(AmpBox::from_pairs)
}

/// Chunk sizes to cut a stream with, used in turn and repeated.
fn chunking() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        1 => Just(vec![1]),
        3 => vec(1usize..=16, 1..=8),
        3 => vec(1usize..=5000, 1..=8),
        1 => vec(prop_oneof![Just(1usize), Just(2), Just(65536)], 1..=4),
    ]
}

fn chunks<'a>(data: &'a [u8], sizes: &'a [usize]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut at = 0;
    let mut i = 0;
    std::iter::from_fn(move || {
        if at >= data.len() {
            return None;
        }
        let n = sizes[i % sizes.len()].max(1).min(data.len() - at);
        i += 1;
        let c = &data[at..at + n];
        at += n;
        Some(c)
    })
}

fn wire(b: &AmpBox) -> Vec<u8> {
    let mut out = BytesMut::new();
    b.encode(&mut out).expect("generated boxes are valid");
    out.to_vec()
}

fn ordered(b: &AmpBox) -> Vec<(Vec<u8>, Vec<u8>)> {
    b.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect()
}

/// Feeds `data` cut by `sizes` (through `feed` or straight into the buffer)
/// and collects every box until the first error.
fn decode_chunked(
    data: &[u8],
    sizes: &[usize],
    limits: Limits,
    into_buffer: bool,
) -> (Vec<AmpBox>, Result<(), CodecError>, Decoder) {
    let mut d = Decoder::new(limits);
    let mut boxes = Vec::new();
    for c in chunks(data, sizes) {
        if into_buffer {
            d.buffer_mut().put_slice(c);
        } else if let Err(e) = d.feed(c) {
            return (boxes, Err(e), d);
        }
        loop {
            match d.decode() {
                Ok(Some(b)) => boxes.push(b),
                Ok(None) => break,
                Err(e) => return (boxes, Err(e), d),
            }
        }
    }
    (boxes, Ok(()), d)
}

/// Streams that are mostly, but not always, well formed.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let segment = prop_oneof![
        4 => amp_box().prop_map(|b| wire(&b)),
        // A valid box with one byte changed.
        2 => (amp_box(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|(b, i, x)| {
            let mut w = wire(&b);
            let i = i.index(w.len());
            w[i] = x;
            w
        }),
        // A valid box cut short.
        1 => (amp_box(), any::<prop::sample::Index>()).prop_map(|(b, i)| {
            let mut w = wire(&b);
            w.truncate(i.index(w.len()));
            w
        }),
        1 => vec(any::<u8>(), 0..=64),
        // Zero-heavy noise, so that length prefixes often look valid.
        1 => vec(prop_oneof![3 => Just(0u8), 1 => any::<u8>()], 0..=64),
    ];
    vec(segment, 0..=5).prop_map(|s| s.concat())
}

fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        2 => Just(Limits::default()),
        3 => (0usize..=50, 0usize..=70_000, 0usize..=70_000).prop_map(|(k, b, buf)| {
            Limits::default()
                .max_keys(k)
                .max_box_bytes(b)
                .max_buffered_bytes(buf)
        }),
    ]
}

/// The error with the parts that depend on how the stream was cut (whether
/// the byte after a bad key-length byte had arrived) blanked out.
fn normalised(e: &CodecError) -> CodecError {
    match e {
        CodecError::KeyLengthPrefix { high, .. } => CodecError::KeyLengthPrefix {
            high: *high,
            low: None,
        },
        e => e.clone(),
    }
}

// ---------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    /// Any valid box survives encode then decode, however its bytes arrive.
    #[test]
    fn any_box_round_trips_under_any_chunking(
        b in amp_box(),
        sizes in chunking(),
        into_buffer in any::<bool>(),
    ) {
        let w = wire(&b);
        prop_assert_eq!(w.len(), b.encoded_len());
        let (got, res, mut d) = decode_chunked(&w, &sizes, Limits::default(), into_buffer);
        prop_assert_eq!(res, Ok(()));
        prop_assert_eq!(got.len(), 1);
        prop_assert_eq!(ordered(&got[0]), ordered(&b));
        prop_assert_eq!(&got[0], &b);
        prop_assert_eq!(d.buffered(), 0);
        prop_assert_eq!(d.finish(), Ok(()));
    }

    /// Boxes back to back decode to the same sequence, however cut.
    #[test]
    fn concatenated_boxes_decode_to_the_same_sequence(
        boxes in vec(amp_box(), 0..=6),
        sizes in chunking(),
        into_buffer in any::<bool>(),
    ) {
        let w: Vec<u8> = boxes.iter().flat_map(wire).collect();
        let (got, res, mut d) = decode_chunked(&w, &sizes, Limits::default(), into_buffer);
        prop_assert_eq!(res, Ok(()));
        prop_assert_eq!(got.len(), boxes.len());
        for (g, b) in got.iter().zip(&boxes) {
            prop_assert_eq!(ordered(g), ordered(b));
        }
        prop_assert_eq!(d.finish(), Ok(()));
    }

    /// Byte by byte is the hardest chunking; check it on its own, with
    /// several boxes so that state carries from one box to the next.
    #[test]
    fn boxes_decode_one_byte_at_a_time(boxes in vec(amp_box(), 1..=3)) {
        let w: Vec<u8> = boxes.iter().flat_map(wire).collect();
        let (got, res, _) = decode_chunked(&w, &[1], Limits::default(), false);
        prop_assert_eq!(res, Ok(()));
        let got: Vec<_> = got.iter().map(ordered).collect();
        let want: Vec<_> = boxes.iter().map(ordered).collect();
        prop_assert_eq!(got, want);
    }

    /// Arbitrary input, arbitrarily cut, never panics: the decoder yields
    /// boxes, waits, or fails, and once failed it keeps failing the same way.
    /// Every box it yields re-encodes to exactly the bytes it came from.
    #[test]
    fn arbitrary_input_never_panics_and_errors_stick(
        data in stream(),
        sizes in chunking(),
        limits in limits(),
        into_buffer in any::<bool>(),
    ) {
        let mut d = Decoder::new(limits);
        let mut at = 0; // stream offset of the next undecoded byte
        let mut fed = 0;
        let mut failed: Option<CodecError> = None;
        for c in chunks(&data, &sizes) {
            if let Some(e) = &failed {
                prop_assert_eq!(&d.feed(c), &Err(e.clone()));
                prop_assert_eq!(&d.decode(), &Err(e.clone()));
                continue;
            }
            if into_buffer {
                d.buffer_mut().put_slice(c);
            } else {
                prop_assert_eq!(d.feed(c), Ok(()));
            }
            fed += c.len();
            loop {
                match d.decode() {
                    Ok(Some(b)) => {
                        let w = wire(&b);
                        prop_assert_eq!(&w[..], &data[at..at + w.len()]);
                        at += w.len();
                        prop_assert_eq!(d.buffered(), fed - at);
                        prop_assert!(b.len() <= limits.keys());
                        prop_assert!(w.len() <= limits.box_bytes().max(2));
                    }
                    Ok(None) => {
                        prop_assert_eq!(d.buffered(), fed - at);
                        prop_assert!(d.buffered() <= limits.buffered_bytes());
                        break;
                    }
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
        }
        match failed {
            Some(e) => {
                prop_assert_eq!(d.decode(), Err(e.clone()));
                prop_assert_eq!(d.finish(), Err(e.clone()));
                prop_assert_eq!(d.feed(b"\x00\x00"), Err(e.clone()));
                prop_assert_eq!(d.decode(), Err(e));
            }
            None => {
                let left = d.buffered();
                match d.finish() {
                    Ok(()) => prop_assert_eq!(left, 0),
                    Err(e) => {
                        prop_assert_eq!(&e, &CodecError::Truncated { buffered: left });
                        prop_assert_eq!(d.decode(), Err(e));
                    }
                }
            }
        }
    }

    /// How a stream is cut changes nothing (as long as the buffered-bytes
    /// limit, which is about cutting, is out of the way): the same boxes come
    /// out and the same error ends the stream.
    #[test]
    fn chunking_does_not_change_the_outcome(
        data in stream(),
        sizes in chunking(),
        limits in limits(),
    ) {
        let limits = limits.max_buffered_bytes(usize::MAX);
        let (whole, whole_res, mut dw) = decode_chunked(&data, &[usize::MAX], limits, true);
        let (cut, cut_res, mut dc) = decode_chunked(&data, &sizes, limits, false);
        prop_assert_eq!(
            cut.iter().map(ordered).collect::<Vec<_>>(),
            whole.iter().map(ordered).collect::<Vec<_>>()
        );
        prop_assert_eq!(
            cut_res.as_ref().map_err(normalised),
            whole_res.as_ref().map_err(normalised)
        );
        if whole_res.is_ok() {
            prop_assert_eq!(dc.finish(), dw.finish());
        }
    }

    /// `decode_one` agrees with the decoder, and reports how much it used.
    #[test]
    fn decode_one_takes_exactly_one_box(b in amp_box(), tail in vec(any::<u8>(), 0..=8)) {
        let w = wire(&b);
        let mut input = w.clone();
        input.extend_from_slice(&tail);
        let (got, used) = decode_one(&input, &Limits::default()).unwrap().unwrap();
        prop_assert_eq!(used, w.len());
        prop_assert_eq!(ordered(&got), ordered(&b));
    }

    /// A box with one pair too long for the wire fails to encode and leaves
    /// the output as it was.
    #[test]
    fn invalid_boxes_do_not_touch_the_output(
        b in amp_box(),
        bad in prop_oneof![
            Just((Vec::new(), Vec::new())),
            (256usize..=300).prop_map(|n| (vec![b'k'; n], Vec::new())),
            (65536usize..=65600).prop_map(|n| (b"\xff\xfe-too-long".to_vec(), vec![0u8; n])),
        ],
        before in vec(any::<u8>(), 0..=16),
    ) {
        let mut b = b;
        b.insert(bad.0, bad.1);
        let mut out = BytesMut::from(&before[..]);
        prop_assert!(b.encode(&mut out).is_err());
        prop_assert_eq!(&out[..], &before[..]);
    }
}

// ---------------------------------------------------------------------------
// Boxes written by the serializer (which keep their wire form ready, so that
// encoding them is one copy) against the same boxes built pair by pair.

/// Pairs serialized as a map, in order, keys and values as byte strings.
struct AsMap<'a>(&'a [(Vec<u8>, Vec<u8>)]);

impl serde::Serialize for AsMap<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(serde_bytes::Bytes::new(k), serde_bytes::Bytes::new(v))?;
        }
        m.end()
    }
}

fn distinct_pairs() -> impl Strategy<Value = Vec<(Vec<u8>, Vec<u8>)>> {
    amp_box().prop_map(|b| ordered(&b))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A serialized box encodes to exactly the bytes of the same pairs
    /// built by hand, alone, after a change, and inside a dispatcher's
    /// request; and it decodes back to them.
    #[test]
    fn serialized_boxes_encode_like_boxes_built_by_hand(
        pairs in distinct_pairs(),
        drop_one in any::<prop::sample::Index>(),
    ) {
        let by_hand = AmpBox::from_pairs(pairs.clone());
        let serialized = amp_core::ser::to_box(&AsMap(&pairs)).unwrap();
        prop_assert_eq!(ordered(&serialized), pairs.clone());
        prop_assert_eq!(serialized.encoded_len(), by_hand.encoded_len());
        prop_assert_eq!(wire(&serialized), wire(&by_hand));
        prop_assert_eq!(serialized.to_bytes().unwrap(), by_hand.to_bytes().unwrap());

        // Plain and routed (`_route` written after the body), a serialized
        // body small or large (large ones are appended as they are, not
        // into zeroed room), twice in a row.
        for route in [None, Some(bytes::Bytes::from_static(b"route-1"))] {
            let mut d1 = amp_core::Dispatcher::default();
            let mut d2 = amp_core::Dispatcher::default();
            d1.set_route(route.clone());
            d2.set_route(route.clone());
            for _ in 0..2 {
                d1.call_remote("Cmd", &serialized, true).unwrap();
                d2.call_remote("Cmd", &by_hand, true).unwrap();
            }
            let sent = d1.take_transmit();
            prop_assert_eq!(&sent, &d2.take_transmit());
            let (request, _) = decode_one(&sent, &Limits::default()).unwrap().unwrap();
            prop_assert_eq!(request.get("_route"), route.as_deref());
            prop_assert_eq!(request.get("_command"), Some(&b"Cmd"[..]));
        }

        let (back, _) = decode_one(&wire(&serialized), &Limits::default()).unwrap().unwrap();
        prop_assert_eq!(ordered(&back), pairs.clone());

        if !pairs.is_empty() {
            let (k, _) = &pairs[drop_one.index(pairs.len())];
            let (mut a, mut b) = (serialized.clone(), by_hand.clone());
            a.remove(k);
            b.remove(k);
            prop_assert_eq!(wire(&a), wire(&b));
            prop_assert_eq!(a.encoded_len(), b.encoded_len());
            a.insert(k.clone(), "again");
            b.insert(k.clone(), "again");
            prop_assert_eq!(wire(&a), wire(&b));
        }
    }

    /// A serialized box with a key the dispatcher writes itself is refused
    /// as a request body, as a box built by hand is.
    #[test]
    fn serialized_boxes_cannot_smuggle_reserved_keys(
        pairs in vec((key(), vec(any::<u8>(), 0..=8)), 0..=4),
        reserved in prop::sample::select(vec!["_ask", "_answer", "_error", "_command", "_error_code", "_error_description"]),
        at in any::<prop::sample::Index>(),
    ) {
        let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = AmpBox::from_pairs(pairs).iter().map(|(k, v)| (k.to_vec(), v.to_vec())).filter(|(k, _)| k != reserved.as_bytes()).collect();
        pairs.insert(at.index(pairs.len() + 1), (reserved.as_bytes().to_vec(), b"1".to_vec()));
        let serialized = amp_core::ser::to_box(&AsMap(&pairs)).unwrap();
        let mut d = amp_core::Dispatcher::default();
        let e = d.call_remote("Cmd", &serialized, true).unwrap_err();
        prop_assert!(matches!(e, amp_core::SendError::ReservedKey(ref k) if &k[..] == reserved.as_bytes()), "{:?}", e);
        prop_assert!(d.take_transmit().is_empty());
    }
}

/// Boxes serialized one after another on a thread share buffer chunks: a
/// box kept while thousands more are written (small, and larger than a
/// chunk) keeps its own bytes.
#[test]
fn serialized_boxes_do_not_share_bytes_with_later_ones() {
    let first = amp_core::ser::to_box(&AsMap(&[(b"k".to_vec(), b"first".to_vec())])).unwrap();
    let wire_before = wire(&first);
    let mut kept = Vec::new();
    for i in 0..3000usize {
        let value = vec![(i % 251) as u8; if i % 500 == 0 { 5000 } else { i % 40 }];
        let b = amp_core::ser::to_box(&AsMap(&[(b"v".to_vec(), value.clone())])).unwrap();
        assert_eq!(b.get("v"), Some(&value[..]));
        kept.push((b, value));
    }
    assert_eq!(wire(&first), wire_before);
    assert_eq!(first.get("k"), Some(&b"first"[..]));
    for (b, value) in &kept {
        assert_eq!(b.get("v"), Some(&value[..]));
        assert_eq!(wire(b), wire(&AmpBox::from_pairs([("v", value.clone())])));
    }
}

/// How a writer takes the queued bytes in [`queued_bytes_reach_the_writer_whole_and_in_order`].
#[derive(Debug, Clone, Copy)]
enum Take {
    /// Into its buffer, written and cleared (the engine's writer).
    Write,
    /// Onto the end of what its buffer still holds (a write still to come).
    Append,
    /// Into a new buffer of its own.
    Fresh,
    /// With `take_transmit`.
    Frozen,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// However the writer takes the queue (buffers swapped, appended,
    /// frozen), every box sent reaches the wire whole, once and in order,
    /// and the count of bytes taken is exact.
    #[test]
    fn queued_bytes_reach_the_writer_whole_and_in_order(
        steps in vec((vec(amp_box(), 0..=3), prop_oneof![
            Just(Take::Write), Just(Take::Append), Just(Take::Fresh), Just(Take::Frozen)
        ]), 1..=8),
    ) {
        let mut d = amp_core::Dispatcher::default();
        let mut expected = Vec::new();
        let mut written = Vec::new();
        let mut buf = BytesMut::new();
        for (boxes, take) in &steps {
            for b in boxes {
                d.send_box(b).unwrap();
                expected.extend_from_slice(&wire(b));
            }
            match take {
                Take::Write => {
                    d.transmit_into(&mut buf);
                    written.extend_from_slice(&buf);
                    buf.clear();
                }
                Take::Append => d.transmit_into(&mut buf),
                Take::Fresh => {
                    written.extend_from_slice(&buf);
                    buf = BytesMut::new();
                    d.transmit_into(&mut buf);
                }
                Take::Frozen => {
                    written.extend_from_slice(&buf);
                    buf.clear();
                    written.extend_from_slice(&d.take_transmit());
                }
            }
            prop_assert_eq!(d.pending_transmit(), 0);
        }
        written.extend_from_slice(&buf);
        prop_assert_eq!(d.transmitted(), expected.len() as u64);
        prop_assert_eq!(&written, &expected);
        let mut decoder = Decoder::default();
        decoder.feed(&written).unwrap();
        for (boxes, _) in &steps {
            for b in boxes {
                let got = decoder.decode().unwrap().unwrap();
                prop_assert_eq!(ordered(&got), ordered(b));
            }
        }
        prop_assert_eq!(decoder.buffered(), 0);
    }
}
