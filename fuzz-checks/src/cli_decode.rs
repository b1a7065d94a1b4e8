//! `amp decode` on arbitrary bytes: the command-line tool's reading of a
//! captured stream, which walks boxes the decoder refused to place the
//! error, and prints every value.

use std::io::Read;

use amp_core::{Limits, codec::decode_all};

use crate::input::Input;

/// Hands out the stream in the pieces the input chose.
struct Pieces<'a> {
    data: &'a [u8],
    sizes: Vec<usize>,
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = self.sizes.pop().unwrap_or(usize::MAX).max(1);
        let n = want.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Input: a settings byte (bit 0: JSON output; bits 1-3: a small key limit
/// or none; bits 4-5: a small box limit or none), four piece sizes, then
/// the stream.
///
/// Checks: no panic; the output is whole lines, each a JSON object when
/// JSON is asked for; `amp decode` succeeds exactly when the stream decodes
/// (a partial box at the end included) and then prints one box per box the
/// decoder gives; a failure is a framing error (status 1) whose line comes
/// last.
pub fn cli_decode(data: &[u8]) {
    let mut input = Input::new(data);
    let settings = input.u8();
    let json = settings & 1 == 1;
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
    let sizes = (0..4).map(|_| usize::from(input.u8())).collect();
    let stream = input.rest();
    let mut out = Vec::new();
    let result = amp::decode::decode_stream(
        &mut Pieces {
            data: stream,
            sizes,
        },
        "fuzz input",
        limits,
        json,
        &mut out,
    );
    let text = String::from_utf8(out).expect("the output is UTF-8");
    assert!(text.is_empty() || text.ends_with('\n'), "a line cut short");
    let lines: Vec<&str> = text.lines().collect();
    if json {
        for line in &lines {
            let parsed: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            assert!(parsed.is_object(), "{line}");
        }
    }
    let core = decode_all(bytes::Bytes::copy_from_slice(stream), &limits);
    match (&result, &core) {
        (Ok(()), Ok(boxes)) => {
            if json {
                let shown = lines
                    .iter()
                    .filter(|l| !l.contains("\"kind\":\"partial\""))
                    .count();
                assert_eq!(shown, boxes.len(), "{text}");
            }
        }
        // A stream that ends inside a box: decoded up to it, then reported.
        (Ok(()), Err(amp_core::CodecError::Truncated { .. })) => {
            let last = lines.last().expect("the partial box is reported");
            assert!(last.contains("partial"), "{last}");
        }
        (Err(amp::failure::Failure::Reason { status, .. }), Err(_)) => {
            assert_eq!(*status, amp::failure::REFUSED);
            let last = lines.last().expect("the framing error is reported");
            assert!(last.contains("framing"), "{last}");
        }
        (ours, core) => panic!("amp decode gave {ours:?}, the decoder {core:?}"),
    }
}
