//! `amp proxy`'s reading of peer bytes (`amp::watch::Watch`): both
//! directions of a connection decoded, answers paired with requests,
//! values decoded by a schema (the interoperability catalogue's), every
//! box shown as a line and as JSON.

use std::sync::Arc;

use amp::schema::Schema;
use amp::watch::{Dir, MAX_PENDING, MAX_ROUTES, Seen, Watch};
use amp_core::{Decoder, Limits};

use crate::input::Input;

/// The schema the watch decodes by: every Twisted type.
const SCHEMA: &str = include_str!("../../amp-cli/tests/data/interop.toml");

/// Input: a settings byte (bit 0: decode by the schema; bits 1-3: a small
/// key limit or none; bits 4-5: a small box limit or none), then steps,
/// each a control byte (bit 0: the direction, server to client when set;
/// bit 1: that direction ends; bits 2-7: microseconds passing) and a
/// length-prefixed piece of bytes sent that way.
///
/// Checks: no panic; every line is one line without escape codes, every
/// JSON form an object; each direction's boxes come back to back from
/// offset 0, exactly as many as amp-core's decoder finds in the same bytes
/// before it fails; nothing is decoded in a direction after it failed or
/// ended; a latency is never more than the time that passed; the requests
/// waiting and the routes remembered stay within their bounds.
pub fn cli_proxy(data: &[u8]) {
    let mut input = Input::new(data);
    let settings = input.u8();
    let schema =
        (settings & 1 == 1).then(|| Arc::new(Schema::parse(SCHEMA).expect("the schema reads")));
    let mut limits = Limits::default();
    if settings & 0b1110 != 0 {
        limits = limits.max_keys(usize::from((settings >> 1) & 0b111));
    }
    if settings & 0b11_0000 != 0 {
        let box_bytes = 16 * usize::from(settings >> 4 & 0b11);
        limits = limits
            .max_box_bytes(box_bytes)
            .max_buffered_bytes(box_bytes);
    }
    let mut watch = Watch::new(schema, limits);
    // Per direction: amp-core's decoder fed the same pieces, and the boxes
    // it gave; the next box's offset, whether it stopped (failed or ended),
    // how many boxes were seen.
    let mut reference = [Decoder::new(limits), Decoder::new(limits)];
    let mut reference_boxes = [0usize; 2];
    let mut reference_stopped = [false, false];
    let mut next: [u64; 2] = [0, 0];
    let mut stopped = [false, false];
    let mut boxes = [0usize; 2];
    let mut now = 0u64;
    while !input.is_empty() {
        let control = input.u8();
        let dir = if control & 1 == 1 {
            Dir::ToClient
        } else {
            Dir::ToServer
        };
        let d = usize::from(control & 1);
        now += u64::from(control >> 2);
        let piece = input.bytes();
        let seen = if control & 2 == 2 {
            reference_stopped[d] = true;
            let seen = watch.end(dir);
            stopped[d] = true;
            seen
        } else {
            if !reference_stopped[d] {
                if reference[d].feed(piece).is_err() {
                    reference_stopped[d] = true;
                }
                while !reference_stopped[d] {
                    match reference[d].decode() {
                        Ok(Some(_)) => reference_boxes[d] += 1,
                        Ok(None) => break,
                        Err(_) => reference_stopped[d] = true,
                    }
                }
            }
            watch.feed(dir, piece, now)
        };
        for s in &seen {
            check_seen(s, now);
            match s {
                Seen::Box(b) => {
                    let i = usize::from(b.dir == Dir::ToClient);
                    assert!(!stopped[i], "a box after the direction stopped: {s:?}");
                    assert_eq!(b.offset, next[i], "boxes come back to back");
                    next[i] += b.length;
                    boxes[i] += 1;
                }
                Seen::Unparseable { dir, offset, .. } => {
                    let i = usize::from(*dir == Dir::ToClient);
                    assert!(!stopped[i], "a failure after the direction stopped");
                    assert_eq!(*offset, next[i], "the failure is at the next box");
                    stopped[i] = true;
                }
                Seen::Partial { dir, offset, .. } => {
                    let i = usize::from(*dir == Dir::ToClient);
                    assert_eq!(*offset, next[i], "the partial box is the next one");
                }
                Seen::Unanswered { .. } => {}
            }
        }
        assert!(watch.pending(Dir::ToServer) <= MAX_PENDING);
        assert!(watch.pending(Dir::ToClient) <= MAX_PENDING);
        assert!(watch.routes() <= MAX_ROUTES);
        // As many boxes as the decoder finds in the same pieces.
        assert_eq!(boxes, reference_boxes, "boxes seen");
    }
}

fn check_seen(s: &Seen, now: u64) {
    let line = s.line();
    assert!(
        !line.contains(['\n', '\r', '\u{1b}']),
        "not one plain line: {line:?}"
    );
    let json = s.to_json();
    assert!(json.is_object(), "{json}");
    serde_json::from_str::<serde_json::Value>(&json.to_string()).expect("the JSON reads back");
    if let Seen::Box(b) = s {
        if let Some(latency) = b.latency_micros {
            assert!(latency <= now, "a latency of {latency} after {now}");
        }
        assert!(b.length >= 2, "a box is at least its terminator");
    }
}
