//! `amp decode` on arbitrary packet captures: reading pcap and pcapng
//! files, parsing each packet's headers, and reassembling TCP streams under
//! limits, then decoding each stream.

use amp::capture::{CaptureLimits, StreamEnd, reassemble};

use crate::input::Input;

/// Input: a settings byte (bit 0: JSON output; bits 1-2: a small stream
/// limit or none; bits 3-4: a small limit on the number of streams or
/// none), then the capture file.
///
/// Checks: no panic and no hang (a damaged or truncated capture is an
/// error); each stream keeps at most the stream limit, all of them at most
/// the total limit, and at most the stream count; a stream that ends in a
/// gap or a cut ends exactly where its bytes do; `amp decode` on the same
/// file prints whole lines (JSON objects when asked), and fails only with
/// the status of refused input.
pub fn cli_pcap(data: &[u8]) {
    let mut input = Input::new(data);
    let settings = input.u8();
    let json = settings & 1 == 1;
    let mut limits = CaptureLimits::default();
    match (settings >> 1) & 0b11 {
        0 => {}
        n => {
            limits.max_stream_bytes = 8 << (2 * n);
            limits.max_total_bytes = 3 * limits.max_stream_bytes;
        }
    }
    match (settings >> 3) & 0b11 {
        0 => {}
        n => limits.max_streams = usize::from(n),
    }
    let capture = input.rest();

    if let Ok((streams, _skipped)) = reassemble(&mut &capture[..], limits) {
        assert!(
            streams.len() <= limits.max_streams,
            "{} streams",
            streams.len()
        );
        let mut total = 0;
        for s in &streams {
            // Listed only with bytes, or with the hole or cut that starts it.
            assert!(
                !s.bytes.is_empty()
                    || matches!(
                        s.end,
                        StreamEnd::Gap { offset: 0, .. } | StreamEnd::Cut { offset: 0 }
                    ),
                "{s:?}"
            );
            assert!(s.bytes.len() <= limits.max_stream_bytes, "{s:?}");
            total += s.bytes.len();
            match s.end {
                StreamEnd::Whole => {}
                StreamEnd::Gap { offset, missing } => {
                    assert_eq!(offset, s.bytes.len() as u64, "{s:?}");
                    assert!(missing > 0, "{s:?}");
                }
                StreamEnd::Cut { offset } => assert_eq!(offset, s.bytes.len() as u64, "{s:?}"),
            }
        }
        assert!(total <= limits.max_total_bytes, "{total} bytes kept");
    }

    let mut out = Vec::new();
    let result = amp::decode::decode_capture(
        &mut &capture[..],
        "fuzz capture",
        amp_core::Limits::default(),
        json,
        &mut out,
    );
    let text = String::from_utf8(out).expect("the output is UTF-8");
    assert!(text.is_empty() || text.ends_with('\n'), "a line cut short");
    if json {
        for line in text.lines() {
            let parsed: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            assert!(parsed.is_object(), "{line}");
        }
    }
    if let Err(amp::failure::Failure::Reason { status, .. }) = result {
        assert_eq!(status, amp::failure::REFUSED);
    }
}
