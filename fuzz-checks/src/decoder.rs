//! The `decoder` target: the box decoder against arbitrary bytes in
//! arbitrary chunks, under small random limits.

use amp_core::codec::decode_one;
use amp_core::{AmpBox, CodecError, Decoder, Limits};

use crate::input::Input;

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
