//! `amp decode` of capture files: pcap and pcapng read with `pcap-parser`,
//! packets with `etherparse`, TCP streams reassembled by the command-line
//! tool (`amp::pcap`), then each stream decoded.

use amp_core::Limits;

use crate::input::Input;

/// Input: a settings byte (bit 0: JSON output; bit 1: a small box limit),
/// then the capture file.
///
/// Checks: no panic; the output is whole lines, each a JSON object when
/// JSON is asked for; a stream's reassembled bytes are never more than the
/// capture's; a failure is a one-line reason with the status of unreadable
/// input (3) or of a framing error (1).
pub fn cli_pcap(data: &[u8]) {
    let mut input = Input::new(data);
    let settings = input.u8();
    let json = settings & 1 == 1;
    let mut limits = Limits::default();
    if settings & 2 == 2 {
        limits = limits.max_box_bytes(64).max_buffered_bytes(64);
    }
    let file = input.rest();
    let mut out = Vec::new();
    let result = amp::decode::decode_capture(file, "fuzz input", limits, json, &mut out);
    let text = String::from_utf8(out).expect("the output is UTF-8");
    assert!(text.is_empty() || text.ends_with('\n'), "a line cut short");
    for line in text.lines() {
        if json {
            let parsed: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            assert!(parsed.is_object(), "{line}");
            if parsed["kind"] == "stream" {
                let bytes = parsed["bytes"].as_u64().expect("a stream's size");
                assert!(bytes as usize <= file.len(), "{line}");
            }
        }
    }
    if let Err(amp::failure::Failure::Reason { status, reason }) = &result {
        assert!(
            *status == amp::failure::UNREACHED || *status == amp::failure::REFUSED,
            "status {status}: {reason}"
        );
        assert!(!reason.contains('\n'), "{reason}");
    }
    if let Ok(capture) = amp::pcap::read_capture(file) {
        for stream in &capture.streams {
            assert!(stream.bytes.len() <= file.len());
        }
    }
}
