//! Boxes too big to hold: the server must refuse them at the limit, before
//! it holds more than the limit, while the other connection carries on and
//! the process's memory stays flat. (Malformed boxes that only ask which
//! error they get are byte-level tests of the state machine:
//! `amp-core/tests/malformed_input.rs`.)

use amp_core::{CodecError, ConnectionError, Limits, ProtocolError};

use super::bystander::Bystander;
use super::harness::{Harness, connect_raw, decode_boxes, read_to_close, write_tolerant};
use super::report::{memory, row, rss_kib, short};
use crate::{Options, Runtime};

/// Sends `chunks` on a raw connection (as much as the server takes), then
/// checks that the server sends nothing back, closes, and ends the
/// connection with a reason `expected` accepts; all while the well-behaved
/// client keeps calling.
async fn malformed<R: Runtime>(
    rt: &R,
    case: &str,
    expected: &str,
    chunks: impl IntoIterator<Item = Vec<u8>>,
    check: impl Fn(&ConnectionError) -> bool,
) {
    let h = Harness::start(rt, Options::default()).await;
    let mut other = Bystander::start(rt, h.addr).await;
    let before = rss_kib();
    other.begin();

    let (mut raw, me) = connect_raw(h.addr).await;
    let mut sent = 0usize;
    for chunk in chunks {
        if !write_tolerant(&mut raw, &chunk).await {
            break;
        }
        sent += chunk.len();
    }
    let (got, how) = read_to_close(rt, &mut raw).await;
    let reason = h.reason(me).await;
    assert!(check(&reason), "{case}: unexpected reason {reason:?}");
    let boxes = decode_boxes(&got);
    assert!(boxes.is_empty(), "{case}: the server answered {boxes:?}");
    let summary = other.checkpoint().await;
    let observed = format!(
        "{how} after {sent} bytes sent; server: {}; {summary}",
        short(&reason)
    );
    row(case, expected, &observed, &memory(before));
    other.stop().await;
}

fn codec(reason: &ConnectionError) -> Option<&CodecError> {
    match reason {
        ConnectionError::Protocol(ProtocolError::Codec(e)) => Some(e),
        _ => None,
    }
}

/// A box of a million distinct 3-byte keys: refused at the 1,025th key.
pub async fn h04_a_million_tiny_keys<R: Runtime>(rt: R) {
    // 1,000,000 distinct 3-byte keys with empty values, 7 bytes each.
    let keys = (0..1_000_000u32).collect::<Vec<_>>();
    let chunks: Vec<Vec<u8>> = keys
        .chunks(8192)
        .map(|keys| {
            let mut out = Vec::with_capacity(keys.len() * 7);
            for k in keys {
                let [_, a, b, c] = k.to_be_bytes();
                out.extend_from_slice(&[0, 3, a, b, c, 0, 0]);
            }
            out
        })
        .collect();
    malformed(
        &rt,
        "a box of 1,000,000 tiny keys (7 MB)",
        "codec error TooManyKeys at the 1,025th key, closed",
        chunks,
        |r| matches!(codec(r), Some(CodecError::TooManyKeys { limit: 1024 })),
    )
    .await;
}

/// A box of 65535-byte values: refused at the length prefix that passes
/// 1 MiB, before its bytes arrive.
pub async fn h05_box_over_the_size_limit<R: Runtime>(rt: R) {
    // Pairs of 65535-byte values: the 17th one's length prefix takes the
    // box past the 1 MiB limit, before its bytes arrive.
    let value = vec![b'v'; 65535];
    let chunks: Vec<Vec<u8>> = (0..64u8)
        .map(|i| {
            let mut out = vec![0, 2, b'k', b'a' + i % 26, 0xff, 0xff];
            if i >= 26 {
                out[3] = b'A' + (i - 26) % 26;
            }
            if i >= 52 {
                out[2] = b'x';
            }
            out.extend_from_slice(&value);
            out
        })
        .collect();
    malformed(
        &rt,
        "a box declaring more than 1 MiB (65535-byte values, no terminator)",
        "codec error BoxTooLarge at the length prefix that passes 1 MiB, closed",
        chunks,
        |r| {
            matches!(
                codec(r),
                Some(CodecError::BoxTooLarge { limit }) if *limit == Limits::DEFAULT_MAX_BOX_BYTES
            )
        },
    )
    .await;
}
