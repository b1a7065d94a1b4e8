//! Behaviour of the box codec: the Twisted wire vectors, incremental decoding,
//! length rules, limits, duplicate keys, the protocol switch, zero-copy values,
//! `Debug` and equality.

mod support;

use amp_core::codec::{decode_all, decode_one};
use amp_core::{AmpBox, CodecError, Decoder, Limits};
use bytes::{BufMut, Bytes, BytesMut};

/// A vector box's pairs as raw bytes.
fn vector_pairs(v: &support::BoxVector) -> Vec<(Vec<u8>, Vec<u8>)> {
    v.pairs
        .iter()
        .map(|(k, h)| (k.as_bytes().to_vec(), support::unhex(h)))
        .collect()
}

/// A box's pairs, in order, as raw bytes.
fn pairs_of(b: &AmpBox) -> Vec<(Vec<u8>, Vec<u8>)> {
    b.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect()
}

fn box_of(pairs: &[(Vec<u8>, Vec<u8>)]) -> AmpBox {
    AmpBox::from_pairs(pairs.iter().map(|(k, v)| (k.clone(), v.clone())))
}

/// Decodes every box `d` holds now.
fn drain(d: &mut Decoder) -> Result<Vec<AmpBox>, CodecError> {
    let mut out = Vec::new();
    while let Some(b) = d.decode()? {
        out.push(b);
    }
    Ok(out)
}

fn encode(b: &AmpBox) -> Vec<u8> {
    let mut out = BytesMut::new();
    b.encode(&mut out).unwrap();
    out.to_vec()
}

/// One pair's wire form.
fn pair_wire(key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut w = Vec::new();
    w.extend_from_slice(&(key.len() as u16).to_be_bytes());
    w.extend_from_slice(key);
    w.extend_from_slice(&(value.len() as u16).to_be_bytes());
    w.extend_from_slice(value);
    w
}

/// A box's wire form written by hand (keys may repeat).
fn box_wire(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut w = Vec::new();
    for (k, v) in pairs {
        w.extend_from_slice(&pair_wire(k, v));
    }
    w.extend_from_slice(b"\x00\x00");
    w
}

fn sum_request_wire() -> Vec<u8> {
    let v = support::vectors();
    let b = v
        .boxes
        .iter()
        .find(|b| b.note.starts_with("Sum request"))
        .expect("the Sum request vector");
    support::unhex(&b.wire_hex)
}

fn decoder_with(limits: Limits) -> Decoder {
    Decoder::new(limits)
}

// ---------------------------------------------------------------------------
// Twisted vectors

#[test]
fn vectors_include_the_edge_boxes() {
    let v = support::vectors();
    let boxes = &v.boxes;
    assert!(
        boxes
            .iter()
            .any(|b| b.pairs.is_empty() && b.wire_hex == "0000")
    );
    assert!(
        boxes
            .iter()
            .any(|b| b.pairs.iter().any(|(k, _)| k.len() == 255))
    );
    assert!(
        boxes
            .iter()
            .any(|b| b.pairs.iter().any(|(_, h)| h.len() == 2 * 65535))
    );
}

#[test]
fn every_vector_box_decodes_to_its_pairs_in_order() {
    for v in support::vectors().boxes {
        let wire = support::unhex(&v.wire_hex);
        let mut d = Decoder::default();
        d.feed(&wire).unwrap();
        let b = d
            .decode()
            .unwrap_or_else(|e| panic!("{}: {e}", v.note))
            .unwrap_or_else(|| panic!("{}: no box", v.note));
        assert_eq!(pairs_of(&b), vector_pairs(&v), "{}", v.note);
        assert_eq!(d.buffered(), 0, "{}", v.note);
        assert!(!d.in_box(), "{}", v.note);
        assert_eq!(d.decode().unwrap(), None, "{}", v.note);
        d.finish().unwrap();

        let (b1, used) = decode_one(&wire, &Limits::default()).unwrap().unwrap();
        assert_eq!(pairs_of(&b1), vector_pairs(&v), "{}", v.note);
        assert_eq!(used, wire.len(), "{}", v.note);

        let all = decode_all(Bytes::from(wire.clone()), &Limits::default()).unwrap();
        assert_eq!(all.len(), 1, "{}", v.note);
        assert_eq!(pairs_of(&all[0]), vector_pairs(&v), "{}", v.note);
    }
}

#[test]
fn every_vector_box_encodes_to_its_wire_bytes() {
    for v in support::vectors().boxes {
        let wire = support::unhex(&v.wire_hex);
        let b = box_of(&vector_pairs(&v));
        assert_eq!(b.len(), v.pairs.len(), "{}", v.note);
        assert_eq!(b.encoded_len(), wire.len(), "{}", v.note);
        assert_eq!(encode(&b), wire, "{}", v.note);
        assert_eq!(&b.to_bytes().unwrap()[..], &wire[..], "{}", v.note);

        // Appending keeps what was already in the buffer.
        let mut out = BytesMut::from(&b"prefix"[..]);
        b.encode(&mut out).unwrap();
        assert_eq!(&out[..6], b"prefix");
        assert_eq!(&out[6..], &wire[..], "{}", v.note);
    }
}

#[test]
fn decoded_vector_boxes_re_encode_to_the_same_bytes() {
    for v in support::vectors().boxes {
        let wire = support::unhex(&v.wire_hex);
        let (b, _) = decode_one(&wire, &Limits::default()).unwrap().unwrap();
        assert_eq!(encode(&b), wire, "{}", v.note);
    }
}

#[test]
fn every_vector_box_decodes_one_byte_at_a_time() {
    for v in support::vectors().boxes {
        let wire = support::unhex(&v.wire_hex);
        let mut d = Decoder::default();
        let mut got = Vec::new();
        for (i, byte) in wire.iter().enumerate() {
            d.feed(&[*byte]).unwrap();
            let boxes = drain(&mut d).unwrap_or_else(|e| panic!("{}: {e}", v.note));
            if i + 1 < wire.len() {
                assert!(boxes.is_empty(), "{}: box after {} bytes", v.note, i + 1);
                assert_eq!(d.buffered(), i + 1);
            }
            got.extend(boxes);
        }
        assert_eq!(got.len(), 1, "{}", v.note);
        assert_eq!(pairs_of(&got[0]), vector_pairs(&v), "{}", v.note);
        d.finish().unwrap();
    }
}

#[test]
fn every_vector_box_decodes_at_every_two_way_split() {
    for v in support::vectors().boxes {
        let wire = support::unhex(&v.wire_hex);
        let expected = vector_pairs(&v);
        for split in 0..=wire.len() {
            let mut d = Decoder::default();
            d.feed(&wire[..split]).unwrap();
            let first = drain(&mut d).unwrap();
            if split < wire.len() {
                assert!(first.is_empty(), "{}: box at split {split}", v.note);
            }
            d.buffer_mut().put_slice(&wire[split..]);
            let second = drain(&mut d).unwrap();
            let got: Vec<_> = first.into_iter().chain(second).collect();
            assert_eq!(got.len(), 1, "{}: split {split}", v.note);
            // The big vector is compared through its length and ends, which
            // catches any misplaced slice, to keep this test quick.
            let g = pairs_of(&got[0]);
            assert_eq!(g.len(), expected.len());
            for ((gk, gv), (ek, ev)) in g.iter().zip(&expected) {
                assert_eq!(gk, ek, "{}: split {split}", v.note);
                assert_eq!(gv.len(), ev.len(), "{}: split {split}", v.note);
                if ev.len() <= 512 {
                    assert_eq!(gv, ev, "{}: split {split}", v.note);
                } else {
                    assert_eq!(gv[..64], ev[..64]);
                    assert_eq!(gv[gv.len() - 64..], ev[ev.len() - 64..]);
                }
            }
            d.finish().unwrap();
        }
    }
}

#[test]
fn the_big_vector_value_is_intact_at_some_splits() {
    let v = support::vectors();
    let big = v
        .boxes
        .iter()
        .find(|b| b.pairs.iter().any(|(_, h)| h.len() == 2 * 65535))
        .unwrap();
    let wire = support::unhex(&big.wire_hex);
    for split in [1, 5, 6, 7, 8, 9, 1000, 65542, 65543] {
        let mut d = Decoder::default();
        d.feed(&wire[..split]).unwrap();
        assert_eq!(d.decode().unwrap(), None);
        d.feed(&wire[split..]).unwrap();
        let b = d.decode().unwrap().unwrap();
        assert_eq!(pairs_of(&b), vector_pairs(big));
    }
}

#[test]
fn all_vector_boxes_in_one_feed_decode_in_order() {
    let v = support::vectors();
    let mut stream = Vec::new();
    for b in &v.boxes {
        stream.extend(support::unhex(&b.wire_hex));
    }
    let mut d = Decoder::default();
    d.feed(&stream).unwrap();
    let got = drain(&mut d).unwrap();
    assert_eq!(got.len(), v.boxes.len());
    for (g, b) in got.iter().zip(&v.boxes) {
        assert_eq!(pairs_of(g), vector_pairs(b), "{}", b.note);
    }
    d.finish().unwrap();

    let all = decode_all(Bytes::from(stream), &Limits::default()).unwrap();
    assert_eq!(all, got);
}

#[test]
fn conversation_streams_decode_box_by_box() {
    for c in support::vectors().conversations {
        if c.note.contains("key length prefix") {
            continue;
        }
        for hex in [&c.client_to_server_hex, &c.server_to_client_hex] {
            let wire = support::unhex(hex);
            let boxes = decode_all(Bytes::from(wire.clone()), &Limits::default())
                .unwrap_or_else(|e| panic!("{}: {e}", c.note));
            let mut again = Vec::new();
            for b in &boxes {
                again.extend(encode(b));
            }
            assert_eq!(again, wire, "{}", c.note);
        }
    }
}

#[test]
fn encoding_matches_the_wire_format_at_every_size() {
    // Sizes on both sides of any small-box/large-box split an encoder may
    // make, appended after bytes already in the buffer.
    for n in (0..=700).chain([4096, 65535]) {
        let value: Vec<u8> = (0..n).map(|i| (i * 13 + 1) as u8).collect();
        let key = vec![b'k'; 1 + n % 255];
        let b = AmpBox::from_pairs([
            (b"_ask".to_vec(), b"7".to_vec()),
            (key.clone(), value.clone()),
        ]);
        let want = box_wire(&[(b"_ask", b"7"), (&key, &value)]);
        let mut out = BytesMut::from(&b"before"[..]);
        b.encode(&mut out).unwrap();
        assert_eq!(&out[..6], b"before");
        assert_eq!(&out[6..], &want[..], "value of {n} bytes");
        assert_eq!(b.encoded_len(), want.len());
    }
}

// ---------------------------------------------------------------------------
// Encoding errors

#[test]
fn encoding_an_empty_key_fails_and_writes_nothing() {
    let b = AmpBox::from_pairs([("a", "1"), ("", "x")]);
    let mut out = BytesMut::from(&b"kept"[..]);
    assert_eq!(b.encode(&mut out), Err(CodecError::EmptyKey));
    assert_eq!(&out[..], b"kept");
    assert_eq!(b.to_bytes(), Err(CodecError::EmptyKey));
}

#[test]
fn encoding_a_256_byte_key_fails_and_writes_nothing() {
    let ok = AmpBox::from_pairs([(vec![b'k'; 255], "v")]);
    assert_eq!(encode(&ok).len(), 2 + 255 + 2 + 1 + 2);

    let b = AmpBox::from_pairs([(vec![b'a'; 1], vec![]), (vec![b'k'; 256], b"v".to_vec())]);
    let mut out = BytesMut::from(&b"kept"[..]);
    assert_eq!(b.encode(&mut out), Err(CodecError::KeyTooLong { len: 256 }));
    assert_eq!(&out[..], b"kept");
}

#[test]
fn encoding_a_65536_byte_value_fails_and_writes_nothing() {
    let ok = AmpBox::from_pairs([("big", vec![7u8; 65535])]);
    assert_eq!(encode(&ok).len(), 2 + 3 + 2 + 65535 + 2);

    let b = AmpBox::from_pairs([("a", vec![1u8]), ("big", vec![7u8; 65536])]);
    let mut out = BytesMut::from(&b"kept"[..]);
    let cap = out.capacity();
    assert_eq!(
        b.encode(&mut out),
        Err(CodecError::ValueTooLong {
            key: Bytes::from_static(b"big"),
            len: 65536
        })
    );
    assert_eq!(&out[..], b"kept");
    assert_eq!(out.capacity(), cap, "nothing was reserved either");
}

// ---------------------------------------------------------------------------
// Decoding errors

#[test]
fn non_zero_key_length_high_byte_fails_as_soon_as_it_arrives() {
    for high in 1..=255u8 {
        let mut d = Decoder::default();
        d.feed(&[high]).unwrap();
        assert_eq!(
            d.decode(),
            Err(CodecError::KeyLengthPrefix { high, low: None })
        );
    }
    // With the low byte there too, it is reported.
    let mut d = Decoder::default();
    d.feed(b"\x01\x00").unwrap();
    assert_eq!(
        d.decode(),
        Err(CodecError::KeyLengthPrefix {
            high: 1,
            low: Some(0)
        })
    );
}

#[test]
fn non_zero_key_length_high_byte_fails_inside_a_box_and_after_one() {
    // After a complete pair, at the next key.
    let mut wire = pair_wire(b"a", b"1");
    wire.push(0x02);
    let mut d = Decoder::default();
    d.feed(&wire).unwrap();
    assert_eq!(
        d.decode(),
        Err(CodecError::KeyLengthPrefix { high: 2, low: None })
    );

    // After a complete box, at the start of the next one: the first box is
    // still delivered.
    let mut wire = box_wire(&[(b"a", b"1")]);
    wire.push(0x80);
    let mut d = Decoder::default();
    d.feed(&wire).unwrap();
    assert!(d.decode().unwrap().is_some());
    assert_eq!(
        d.decode(),
        Err(CodecError::KeyLengthPrefix {
            high: 0x80,
            low: None
        })
    );
}

#[test]
fn value_length_high_byte_may_be_anything() {
    let wire = box_wire(&[(b"v", &[0u8; 0x1234])]);
    assert_eq!(&wire[3..5], b"\x12\x34");
    let (b, used) = decode_one(&wire, &Limits::default()).unwrap().unwrap();
    assert_eq!(used, wire.len());
    assert_eq!(b.get("v").unwrap().len(), 0x1234);
}

#[test]
fn twisted_over_long_key_conversation_fails_at_its_first_byte() {
    let v = support::vectors();
    let c = v
        .conversations
        .iter()
        .find(|c| c.note.contains("key length prefix over 255"))
        .expect("the over-long key conversation");
    assert!(c.server_closed_connection);
    let wire = support::unhex(&c.client_to_server_hex);
    assert_ne!(wire[0], 0);

    let mut d = Decoder::default();
    d.feed(&wire).unwrap();
    assert_eq!(
        d.decode(),
        Err(CodecError::KeyLengthPrefix {
            high: wire[0],
            low: Some(wire[1])
        })
    );

    let mut d = Decoder::default();
    d.feed(&wire[..1]).unwrap();
    assert_eq!(
        d.decode(),
        Err(CodecError::KeyLengthPrefix {
            high: wire[0],
            low: None
        })
    );
    assert!(decode_one(&wire, &Limits::default()).is_err());
}

#[test]
fn value_running_past_the_end_is_truncated_at_finish() {
    // The value claims 10 bytes; 3 arrive.
    let wire = b"\x00\x01k\x00\x0aabc";
    let mut d = Decoder::default();
    d.feed(wire).unwrap();
    assert_eq!(d.decode(), Ok(None));
    assert!(d.in_box());
    assert_eq!(
        d.finish(),
        Err(CodecError::Truncated {
            buffered: wire.len()
        })
    );
    // Failed for good.
    assert!(d.decode().is_err());
    assert!(d.finish().is_err());

    assert_eq!(
        decode_all(Bytes::from_static(wire), &Limits::default()),
        Err(CodecError::Truncated {
            buffered: wire.len()
        })
    );
    assert_eq!(decode_one(wire, &Limits::default()), Ok(None));
}

#[test]
fn stream_ending_anywhere_inside_a_box_is_truncated() {
    let wire = sum_request_wire();
    for cut in 1..wire.len() {
        let mut d = Decoder::default();
        d.feed(&wire[..cut]).unwrap();
        assert_eq!(d.decode(), Ok(None), "cut at {cut}");
        assert_eq!(d.buffered(), cut);
        assert_eq!(
            d.finish(),
            Err(CodecError::Truncated { buffered: cut }),
            "cut at {cut}"
        );
    }
    // A stream ending between boxes is fine, including an empty one.
    Decoder::default().finish().unwrap();
    let mut d = Decoder::default();
    d.feed(&[wire.clone(), wire.clone()].concat()).unwrap();
    assert_eq!(drain(&mut d).unwrap().len(), 2);
    d.finish().unwrap();
    // A box and part of the next.
    let mut d = Decoder::default();
    d.feed(&[&wire[..], &wire[..5]].concat()).unwrap();
    assert_eq!(drain(&mut d).unwrap().len(), 1);
    assert_eq!(d.finish(), Err(CodecError::Truncated { buffered: 5 }));
    assert_eq!(
        decode_all(
            Bytes::from([&wire[..], &wire[..5]].concat()),
            &Limits::default()
        ),
        Err(CodecError::Truncated { buffered: 5 })
    );
}

// ---------------------------------------------------------------------------
// Limits

#[test]
fn keys_per_box_limit_allows_exactly_the_limit() {
    let sum = sum_request_wire(); // four keys
    let mut d = decoder_with(Limits::default().max_keys(4));
    d.feed(&sum).unwrap();
    assert_eq!(d.decode().unwrap().unwrap().len(), 4);

    let mut d = decoder_with(Limits::default().max_keys(3));
    d.feed(&sum).unwrap();
    assert_eq!(d.decode(), Err(CodecError::TooManyKeys { limit: 3 }));

    // Zero keys allowed: only the empty box passes.
    let mut d = decoder_with(Limits::default().max_keys(0));
    d.feed(b"\x00\x00").unwrap();
    assert!(d.decode().unwrap().unwrap().is_empty());
    d.feed(b"\x00\x01").unwrap();
    assert_eq!(d.decode(), Err(CodecError::TooManyKeys { limit: 0 }));

    // The default limit, exactly, and one over.
    let n = Limits::DEFAULT_MAX_KEYS;
    let keys: Vec<String> = (0..=n).map(|i| format!("k{i}")).collect();
    let at: Vec<(&[u8], &[u8])> = keys[..n].iter().map(|k| (k.as_bytes(), &b""[..])).collect();
    let over: Vec<(&[u8], &[u8])> = keys.iter().map(|k| (k.as_bytes(), &b""[..])).collect();
    let (b, _) = decode_one(&box_wire(&at), &Limits::default())
        .unwrap()
        .unwrap();
    assert_eq!(b.len(), n);
    assert_eq!(
        decode_one(&box_wire(&over), &Limits::default()),
        Err(CodecError::TooManyKeys { limit: n })
    );
}

#[test]
fn too_many_keys_fails_before_the_extra_pair_arrives() {
    let mut wire = box_wire(&[(b"a", b"1"), (b"b", b"2")]);
    wire.truncate(wire.len() - 2);
    wire.extend_from_slice(b"\x00\x01"); // a third key's length
    let mut d = decoder_with(Limits::default().max_keys(2));
    d.feed(&wire).unwrap();
    assert_eq!(d.decode(), Err(CodecError::TooManyKeys { limit: 2 }));
}

#[test]
fn bytes_per_box_limit_allows_exactly_the_limit() {
    let sum = sum_request_wire();
    let n = sum.len();
    let mut d = decoder_with(Limits::default().max_box_bytes(n));
    d.feed(&sum).unwrap();
    d.feed(&sum).unwrap();
    assert_eq!(drain(&mut d).unwrap().len(), 2);

    let mut d = decoder_with(Limits::default().max_box_bytes(n - 1));
    d.feed(&sum).unwrap();
    assert_eq!(d.decode(), Err(CodecError::BoxTooLarge { limit: n - 1 }));

    // Byte by byte the same limits hold.
    let mut d = decoder_with(Limits::default().max_box_bytes(n - 1));
    let mut err = None;
    for b in &sum {
        d.feed(&[*b]).unwrap_or(());
        if let Err(e) = d.decode() {
            err = Some(e);
            break;
        }
    }
    assert_eq!(err, Some(CodecError::BoxTooLarge { limit: n - 1 }));
}

#[test]
fn bytes_per_box_limit_fails_on_the_announced_length() {
    // The value length announces 1000 bytes: the box cannot fit in 100, which
    // is known before the value arrives.
    let mut d = decoder_with(Limits::default().max_box_bytes(100));
    d.feed(b"\x00\x01k\x03\xe8").unwrap();
    assert_eq!(d.decode(), Err(CodecError::BoxTooLarge { limit: 100 }));

    // A long key is measured as its length arrives, before the key itself.
    let mut d = decoder_with(Limits::default().max_box_bytes(100));
    d.feed(b"\x00\xff").unwrap();
    assert_eq!(d.decode(), Err(CodecError::BoxTooLarge { limit: 100 }));

    // At the same sizes a default decoder just waits.
    let mut d = Decoder::default();
    d.feed(b"\x00\x01k\x03\xe8").unwrap();
    assert_eq!(d.decode(), Ok(None));
}

#[test]
fn buffered_bytes_limit_applies_to_an_incomplete_box() {
    let sum = sum_request_wire();
    let mut d = decoder_with(Limits::default().max_buffered_bytes(10));
    d.feed(&sum[..10]).unwrap();
    assert_eq!(d.decode(), Ok(None));
    d.feed(&sum[10..11]).unwrap();
    assert_eq!(d.decode(), Err(CodecError::BufferLimit { limit: 10 }));
    assert!(d.feed(&sum[11..]).is_err());

    // Complete boxes arriving together are decoded; only what is left over
    // from an incomplete box counts.
    let mut d = decoder_with(Limits::default().max_buffered_bytes(10));
    d.feed(&[&sum[..], &sum[..], &sum[..10]].concat()).unwrap();
    assert_eq!(drain(&mut d).unwrap().len(), 2);
    assert_eq!(d.buffered(), 10);
    d.feed(&sum[10..11]).unwrap();
    assert_eq!(d.decode(), Err(CodecError::BufferLimit { limit: 10 }));
}

// ---------------------------------------------------------------------------
// Duplicate keys

#[test]
fn duplicate_key_in_a_small_box_fails() {
    let wire = box_wire(&[(b"a", b"1"), (b"b", b"2"), (b"a", b"3")]);
    let mut d = Decoder::default();
    d.feed(&wire).unwrap();
    assert_eq!(
        d.decode(),
        Err(CodecError::DuplicateKey {
            key: Bytes::from_static(b"a")
        })
    );
    // Same value or empty value: still a duplicate.
    let wire = box_wire(&[(b"k", b""), (b"k", b"")]);
    assert_eq!(
        decode_one(&wire, &Limits::default()),
        Err(CodecError::DuplicateKey {
            key: Bytes::from_static(b"k")
        })
    );
}

#[test]
fn duplicate_key_is_found_before_its_value_arrives() {
    let mut wire = box_wire(&[(b"a", b"1")]);
    wire.truncate(wire.len() - 2);
    wire.extend_from_slice(b"\x00\x01a\x00\x05"); // "a" again, value pending
    let mut d = Decoder::default();
    d.feed(&wire).unwrap();
    assert!(matches!(d.decode(), Err(CodecError::DuplicateKey { .. })));
}

fn many_keys(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("key-{i}").into_bytes()).collect()
}

#[test]
fn duplicate_key_in_a_large_box_fails_at_every_position() {
    let n = 40;
    let keys = many_keys(n);
    // The second occurrence sits at `j`, repeating key `i`; `j` ranges over
    // both sides of the switch from a scan to a hash table.
    for j in [1, 2, 15, 16, 17, 18, 30, n] {
        for i in [0, j / 2, j - 1] {
            let mut pairs: Vec<(&[u8], &[u8])> =
                keys[..j].iter().map(|k| (&k[..], &b"v"[..])).collect();
            pairs.push((&keys[i], b"again"));
            pairs.extend(keys[j..].iter().map(|k| (&k[..], &b"v"[..])));
            let wire = box_wire(&pairs);
            let want = Err(CodecError::DuplicateKey {
                key: Bytes::from(keys[i].clone()),
            });
            assert_eq!(
                decode_one(&wire, &Limits::default()),
                want,
                "key {i} repeated at {j}"
            );
            // And byte by byte, which grows the table as keys arrive.
            let mut d = Decoder::default();
            let mut got = Ok(None);
            for b in &wire {
                d.feed(&[*b]).unwrap_or(());
                got = d.decode();
                if got.is_err() {
                    break;
                }
            }
            assert_eq!(got.map(|_| None), want, "key {i} repeated at {j}, bytewise");
        }
    }
}

#[test]
fn many_distinct_keys_are_no_duplicates() {
    // Prefixes of each other, same length, one byte apart, binary.
    let mut keys: Vec<Vec<u8>> = (1..=255).map(|n| vec![b'a'; n]).collect();
    keys.extend((0..=255u8).map(|b| vec![b'z', b]));
    keys.extend((0..=255u8).filter(|&b| b != b'a').map(|b| vec![b]));
    keys.extend(many_keys(200));
    let pairs: Vec<(&[u8], &[u8])> = keys.iter().map(|k| (&k[..], &k[..1])).collect();
    let wire = box_wire(&pairs);
    let (b, used) = decode_one(&wire, &Limits::default()).unwrap().unwrap();
    assert_eq!(used, wire.len());
    assert_eq!(b.len(), keys.len());
    let got: Vec<Vec<u8>> = b.keys().map(|k| k.to_vec()).collect();
    assert_eq!(got, keys);
    assert_eq!(encode(&b), wire);
}

#[test]
fn the_same_keys_in_successive_boxes_are_fine() {
    for n in [3, 16, 17, 50] {
        let keys = many_keys(n);
        let pairs: Vec<(&[u8], &[u8])> = keys.iter().map(|k| (&k[..], &b"v"[..])).collect();
        let one = box_wire(&pairs);
        let mut d = Decoder::default();
        d.feed(&[one.clone(), one.clone(), one].concat()).unwrap();
        let got = drain(&mut d).unwrap();
        assert_eq!(got.len(), 3, "{n} keys");
        assert!(got.iter().all(|b| b.len() == n));
    }
}

// ---------------------------------------------------------------------------
// Decoder state

#[test]
fn after_an_error_the_decoder_stays_failed() {
    let mut d = Decoder::default();
    d.feed(b"\x07").unwrap();
    let e = d.decode().unwrap_err();
    assert_eq!(d.decode(), Err(e.clone()));
    assert_eq!(d.feed(&sum_request_wire()), Err(e.clone()));
    d.buffer_mut().put_slice(&sum_request_wire());
    assert_eq!(d.decode(), Err(e.clone()));
    assert_eq!(d.finish(), Err(e.clone()));
    assert_eq!(d.decode(), Err(e));

    // Limit errors too.
    let mut d = decoder_with(Limits::default().max_keys(1));
    d.feed(&sum_request_wire()).unwrap();
    let e = d.decode().unwrap_err();
    assert_eq!(e, CodecError::TooManyKeys { limit: 1 });
    assert_eq!(d.decode(), Err(e.clone()));
    assert_eq!(d.feed(b"\x00\x00"), Err(e.clone()));
    assert_eq!(d.finish(), Err(e));
}

#[test]
fn truncation_at_finish_also_sticks() {
    let mut d = Decoder::default();
    d.feed(b"\x00").unwrap();
    let e = d.finish().unwrap_err();
    assert_eq!(d.feed(b"\x01k\x00\x00\x00\x00"), Err(e.clone()));
    assert_eq!(d.decode(), Err(e));
}

#[test]
fn several_boxes_in_one_feed_and_across_feeds() {
    let a = box_wire(&[(b"_ask", b"1"), (b"x", b"1")]);
    let b = box_wire(&[]);
    let c = box_wire(&[(b"_answer", b"1"), (b"total", b"94")]);
    let stream = [a.clone(), b.clone(), c.clone()].concat();
    let mut d = Decoder::default();
    // Two and a half boxes, then the rest.
    let cut = a.len() + b.len() + 3;
    d.feed(&stream[..cut]).unwrap();
    let first = drain(&mut d).unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(d.buffered(), 3);
    d.feed(&stream[cut..]).unwrap();
    let second = drain(&mut d).unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(encode(&first[0]), a);
    assert_eq!(encode(&first[1]), b);
    assert_eq!(encode(&second[0]), c);
    assert_eq!(d.buffered(), 0);
}

#[test]
fn take_remaining_returns_the_bytes_after_the_last_box() {
    let sum = sum_request_wire();
    let tail = b"\x16\x03\x01 TLS or anything else \xff\x00";
    let mut d = Decoder::default();
    d.feed(&[&sum[..], &tail[..]].concat()).unwrap();
    let b = d.decode().unwrap().unwrap();
    assert_eq!(b.get_str("_command"), Some("Sum"));
    assert_eq!(&d.take_remaining()[..], &tail[..]);
    assert_eq!(d.buffered(), 0);
    assert!(!d.in_box());
    // The decoder is empty and usable.
    d.feed(&sum).unwrap();
    assert!(d.decode().unwrap().is_some());
    d.finish().unwrap();
}

#[test]
fn take_remaining_with_a_half_received_box() {
    let sum = sum_request_wire();
    for cut in [1, 2, 9, 12, sum.len() - 1] {
        let mut d = Decoder::default();
        d.feed(&[&sum[..], &sum[..cut]].concat()).unwrap();
        assert!(d.decode().unwrap().is_some());
        assert_eq!(d.decode().unwrap(), None);
        assert_eq!(&d.take_remaining()[..], &sum[..cut], "cut at {cut}");
        assert_eq!(d.buffered(), 0);
        d.finish().unwrap();
        // No parse state survives: a fresh box decodes from its start.
        d.feed(&sum).unwrap();
        assert_eq!(encode(&d.decode().unwrap().unwrap()), sum);
    }
    // Nothing decoded yet: everything comes back.
    let mut d = Decoder::default();
    d.feed(&sum[..20]).unwrap();
    assert_eq!(d.decode().unwrap(), None);
    assert_eq!(&d.take_remaining()[..], &sum[..20]);
    // Nothing at all.
    assert!(Decoder::default().take_remaining().is_empty());
}

#[test]
fn take_remaining_after_several_boxes_keeps_undecoded_ones() {
    let sum = sum_request_wire();
    let mut d = Decoder::default();
    d.feed(&[&sum[..], &sum[..], b"rest"].concat()).unwrap();
    assert!(d.decode().unwrap().is_some());
    // The second box was never asked for: it is handed over unparsed.
    assert_eq!(&d.take_remaining()[..], &[&sum[..], b"rest"].concat()[..]);
}

// ---------------------------------------------------------------------------
// Zero copy

/// The keys AMP itself writes.
const PROTOCOL_KEYS: [&[u8]; 6] = [
    b"_ask",
    b"_command",
    b"_answer",
    b"_error",
    b"_error_code",
    b"_error_description",
];

fn assert_inside(outer: (*const u8, usize), inner: &[u8], what: &str) {
    let (start, len) = outer;
    let (s, e) = (start as usize, start as usize + len);
    let p = inner.as_ptr() as usize;
    assert!(
        p >= s && p + inner.len() <= e,
        "{what} at {p:#x}+{} is not inside the buffer {s:#x}..{e:#x}",
        inner.len()
    );
}

#[test]
fn decoded_values_are_slices_of_the_receive_buffer() {
    let v = support::vectors();
    let mut stream = Vec::new();
    for b in &v.boxes {
        stream.extend(support::unhex(&b.wire_hex));
    }
    let mut d = Decoder::default();
    let buf = d.buffer_mut();
    buf.reserve(stream.len());
    buf.put_slice(&stream);
    let region = (buf.as_ptr(), buf.len());
    let boxes = drain(&mut d).unwrap();
    assert_eq!(boxes.len(), v.boxes.len());
    let mut checked = 0;
    for b in &boxes {
        for (k, val) in b.iter() {
            assert_inside(region, k, "key");
            if !val.is_empty() {
                assert_inside(region, val, "value");
                checked += 1;
            }
        }
    }
    assert!(checked > 10);
}

#[test]
fn a_large_value_is_not_copied_when_received_in_pieces() {
    let value: Vec<u8> = (0..65535u32).map(|i| (i * 7) as u8).collect();
    let wire = box_wire(&[(b"big", &value)]);
    let mut d = Decoder::default();
    // Room for the whole box up front, as a reader sizing its buffer would.
    d.buffer_mut().reserve(wire.len());
    let base = d.buffer_mut().as_ptr();
    for chunk in wire.chunks(4096) {
        d.buffer_mut().put_slice(chunk);
        if d.buffered() < wire.len() {
            assert_eq!(d.decode().unwrap(), None);
        }
    }
    assert_eq!(d.buffer_mut().as_ptr(), base, "the buffer did not move");
    let b = d.decode().unwrap().unwrap();
    let got = b.get("big").unwrap();
    assert_eq!(got, &value[..]);
    assert_inside((base, wire.len()), got, "value");
    assert_eq!(got.as_ptr() as usize, base as usize + 2 + 3 + 2);
}

#[test]
fn fed_values_are_slices_of_the_decoder_buffer() {
    let sum = sum_request_wire();
    let mut d = Decoder::default();
    d.feed(&sum).unwrap();
    let region = {
        let buf = d.buffer_mut();
        (buf.as_ptr(), buf.len())
    };
    let b = d.decode().unwrap().unwrap();
    for (k, v) in b.iter() {
        assert_inside(region, k, "key");
        assert_inside(region, v, "value");
    }
}

#[test]
fn decode_all_slices_a_uniquely_owned_buffer() {
    let v = support::vectors();
    let mut stream = Vec::new();
    for b in &v.boxes {
        stream.extend(support::unhex(&b.wire_hex));
    }
    let wire = Bytes::from(stream);
    let region = (wire.as_ptr(), wire.len());
    let boxes = decode_all(wire, &Limits::default()).unwrap();
    for b in &boxes {
        for (k, val) in b.iter() {
            assert_inside(region, k, "key");
            if !val.is_empty() {
                assert_inside(region, val, "value");
            }
        }
    }
}

#[test]
fn protocol_keys_decode_like_any_other_key() {
    // Protocol keys, keys that start like them, and the same bytes as values.
    let mut pairs: Vec<(&[u8], &[u8])> = PROTOCOL_KEYS.iter().map(|k| (*k, *k)).collect();
    pairs.extend([
        (&b"_as"[..], &b"x"[..]),
        (b"_askk", b"x"),
        (b"_ASK", b"x"),
        (b"_error_codes", b"x"),
        (b"ask", b"_ask"),
    ]);
    let wire = box_wire(&pairs);
    let (b, _) = decode_one(&wire, &Limits::default()).unwrap().unwrap();
    let got: Vec<(&[u8], &[u8])> = b.iter().collect();
    assert_eq!(got, pairs);
    assert_eq!(encode(&b), wire);
    assert_eq!(b.get_str("_command"), Some("_command"));
}

#[test]
fn decoded_boxes_outlive_the_decoder_and_later_reads() {
    let sum = sum_request_wire();
    let mut d = Decoder::default();
    d.feed(&sum).unwrap();
    let first = d.decode().unwrap().unwrap();
    // Reusing the receive buffer must not disturb the box handed out.
    for _ in 0..100 {
        d.feed(&sum).unwrap();
        d.decode().unwrap().unwrap();
    }
    drop(d);
    assert_eq!(encode(&first), sum);
}

// ---------------------------------------------------------------------------
// Debug and equality

#[test]
fn debug_shows_text_as_strings_and_escapes_binary() {
    let b = AmpBox::from_pairs([
        (&b"_command"[..], &b"Sum"[..]),
        (b"raw", b"\x00\xff"),
        (b"line", b"a\nb"),
        (b"\x01k", b"v"),
        (b"utf8", "h\u{e9}llo".as_bytes()),
        (b"q", b"say \"hi\""),
    ]);
    assert_eq!(
        format!("{b:?}"),
        r#"AmpBox {"_command": "Sum", "raw": b"\x00\xff", "line": b"a\nb", b"\x01k": "v", "utf8": "héllo", "q": "say \"hi\""}"#
    );
    assert_eq!(format!("{:?}", AmpBox::new()), "AmpBox {}");
}

#[test]
fn debug_cuts_long_values_short() {
    let b = AmpBox::from_pairs([("big", vec![b'x'; 1000])]);
    let s = format!("{b:?}");
    assert!(s.contains("(1000 bytes)"), "{s}");
    assert!(s.len() < 200, "{s}");
    assert!(s.contains(&"x".repeat(64)), "{s}");
    assert!(!s.contains(&"x".repeat(65)), "{s}");
}

#[test]
fn equality_ignores_order_but_not_content() {
    let ab = AmpBox::from_pairs([("a", "1"), ("b", "2")]);
    let ba = AmpBox::from_pairs([("b", "2"), ("a", "1")]);
    assert_eq!(ab, ba);
    assert_eq!(ab.sorted(), ba);
    assert_ne!(ab, AmpBox::from_pairs([("a", "1"), ("b", "3")]));
    assert_ne!(ab, AmpBox::from_pairs([("a", "1"), ("c", "2")]));
    let abc = AmpBox::from_pairs([("a", "1"), ("b", "2"), ("c", "3")]);
    assert_ne!(ab, abc);
    assert_ne!(abc, ab);
    assert_ne!(ab, AmpBox::new());
    assert_eq!(AmpBox::new(), AmpBox::new());
    // Empty value vs missing key.
    assert_ne!(
        AmpBox::from_pairs([("a", ""), ("b", "")]),
        AmpBox::from_pairs([("a", ""), ("c", "")])
    );
}

#[test]
fn a_decoded_box_equals_its_pairs_in_any_order_but_keeps_wire_order() {
    let sum = sum_request_wire();
    let (b, _) = decode_one(&sum, &Limits::default()).unwrap().unwrap();
    let reversed =
        AmpBox::from_pairs([("b", "81"), ("a", "13"), ("_command", "Sum"), ("_ask", "1")]);
    assert_eq!(b, reversed);
    let keys: Vec<&[u8]> = b.keys().collect();
    assert_eq!(keys, [&b"_ask"[..], b"_command", b"a", b"b"]);
    // Re-encoding the reordered box gives different bytes of the same box.
    let other = encode(&reversed);
    assert_ne!(other, sum);
    assert_eq!(
        decode_one(&other, &Limits::default()).unwrap().unwrap().0,
        b
    );
}
