//! `amp decode`: a captured raw AMP byte stream, box by box.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use amp_core::{AmpBox, CodecError, Decoder, Limits};
use clap::Args;
use serde_json::{Map, Value, json};

use crate::boxes::{Kind, json_pairs, route};
use crate::capture::{self, CaptureLimits, StreamEnd};
use crate::failure::{Failure, REFUSED, UNREACHED};
use crate::output::shown;

/// The arguments of `amp decode`.
#[derive(Args, Debug)]
#[command(after_help = "\
The input is the raw bytes of one direction of an AMP conversation, as a
socket carried them (for example `socat -r client.bin ...`); it is read as
it arrives, so a live pipe works too. Or it is a packet capture (pcap or
pcapng, as tcpdump, tshark or Wireshark save them): each direction of each
TCP connection in it is reassembled (in sequence order, retransmissions
once) and decoded in turn, after a line naming it. Bytes the capture missed
end what can be followed of that direction, and are reported.

Each box is printed with its byte offset in the input, its kind (a request
`ask` with its command and tag, an `answer`, an `error` with its code and
description, or a plain `box`), its `_route` if it has one, and every key
and value in wire order. Values are shown as text when they are printable
UTF-8, else as escaped bytes in the manner of Python (b'\\x00\\xff').

A stream that ends inside a box is reported as a partial box with its
offset and size (exit status 0). Bytes that break AMP's framing (a key
length over 255, a repeated key, a box over the limits) are reported with
their offset and what is wrong; the stream cannot be followed past them, so
decoding stops there with exit status 1.

Exit status: 0 decoded, 1 framing error, 2 usage error, 3 input unreadable.

Examples:
  amp decode capture.bin
  amp decode - < capture.bin
  tcpdump -i lo -w amp.pcap tcp port 1234; amp decode amp.pcap
  amp decode --json capture.bin | jq -r 'select(.kind == \"ask\") | .command'")]
pub struct DecodeArgs {
    /// The file holding the stream; `-` or nothing for standard input.
    #[arg(value_name = "FILE|-")]
    input: Option<PathBuf>,
    /// One JSON object per line: one per box, and one for a partial box or
    /// a framing error at the end.
    #[arg(long)]
    json: bool,
    /// The largest box accepted, in bytes, terminator included.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::DEFAULT_MAX_BOX_BYTES)]
    max_box_bytes: usize,
    /// The most keys one box may hold.
    #[arg(long, value_name = "N", default_value_t = Limits::DEFAULT_MAX_KEYS)]
    max_keys: usize,
}

/// How much is read at a time.
const CHUNK: usize = 64 * 1024;

/// Runs `amp decode`.
pub fn run(args: &DecodeArgs) -> Result<(), Failure> {
    let (mut input, name): (Box<dyn Read>, String) = match &args.input {
        None => (Box::new(io::stdin().lock()), "standard input".into()),
        Some(path) if path.as_os_str() == "-" => {
            (Box::new(io::stdin().lock()), "standard input".into())
        }
        Some(path) => {
            let file = File::open(path).map_err(|e| {
                Failure::new(
                    UNREACHED,
                    format_args!("cannot open {}: {e}", path.display()),
                )
            })?;
            (Box::new(file), path.display().to_string())
        }
    };
    let limits = Limits::default()
        .max_box_bytes(args.max_box_bytes)
        .max_buffered_bytes(args.max_box_bytes)
        .max_keys(args.max_keys);
    let mut out = io::BufWriter::new(io::stdout().lock());
    // A capture file says so in its first four bytes.
    let mut head = Vec::with_capacity(4);
    (&mut input)
        .take(4)
        .read_to_end(&mut head)
        .map_err(|e| Failure::new(UNREACHED, format_args!("cannot read {name}: {e}")))?;
    let mut input = io::Cursor::new(head.clone()).chain(input);
    if capture::is_capture(&head) {
        decode_capture(&mut input, &name, limits, args.json, &mut out)
    } else {
        decode_stream(&mut input, &name, limits, args.json, &mut out)
    }
}

/// Decodes each TCP stream of the pcap or pcapng capture `input` (called
/// `name` in messages): a line for the stream (its direction and size),
/// then its boxes as [`decode_stream`] prints them, then its end if bytes
/// are missing from the capture; with `json`, a last line counts the
/// streams and the packets left out. A framing error in one stream is reported
/// and the next stream decoded; the result is then a [`Failure`] with exit
/// status 1.
///
/// ```
/// let mut header = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
/// header.extend([0; 8]);
/// header.extend(65535u32.to_le_bytes());
/// header.extend(1u32.to_le_bytes());
/// let mut out = Vec::new();
/// amp::decode::decode_capture(&mut &header[..], "empty.pcap", amp_core::Limits::default(), false, &mut out).unwrap();
/// assert_eq!(String::from_utf8(out).unwrap(), "no TCP stream in empty.pcap\n");
/// ```
pub fn decode_capture(
    input: &mut dyn Read,
    name: &str,
    limits: Limits,
    json: bool,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let (streams, skipped) = capture::reassemble(input, CaptureLimits::default())
        .map_err(|e| Failure::new(REFUSED, format_args!("{name}: {e}")))?;
    if streams.is_empty() && !json {
        writeln!(out, "no TCP stream in {name}").map_err(Failure::output)?;
    }
    let mut result = Ok(());
    for (n, stream) in streams.iter().enumerate() {
        let number = n + 1;
        if json {
            let line = json!({
                "kind": "stream",
                "stream": number,
                "from": stream.from.to_string(),
                "to": stream.to.to_string(),
                "bytes": stream.bytes.len(),
            });
            writeln!(out, "{line}").map_err(Failure::output)?;
        } else {
            writeln!(
                out,
                "== stream {number}: {} -> {} ({} bytes)",
                stream.from,
                stream.to,
                stream.bytes.len()
            )
            .map_err(Failure::output)?;
        }
        let label = format!("stream {number} of {name}");
        match decode_stream(&mut &stream.bytes[..], &label, limits, json, out) {
            Ok(()) => {}
            Err(Failure::OutputClosed) => return Err(Failure::OutputClosed),
            Err(e) => {
                if result.is_ok() {
                    result = Err(e);
                }
            }
        }
        let end = match stream.end {
            StreamEnd::Whole => None,
            StreamEnd::Gap { offset, missing } => Some((
                offset,
                "gap",
                format!("{missing} bytes missing from the capture; not followed further"),
            )),
            StreamEnd::Cut { offset } => Some((
                offset,
                "cut",
                "the stream is longer than the capture limits; not followed further".into(),
            )),
        };
        if let Some((offset, kind, message)) = end {
            if json {
                let line = json!({ "offset": offset, "kind": kind, "message": message });
                writeln!(out, "{line}").map_err(Failure::output)?;
            } else {
                writeln!(out, "[{offset}] {kind}: {message}").map_err(Failure::output)?;
            }
        }
    }
    let ignored = skipped.not_tcp + skipped.unparseable + skipped.over_stream_limit;
    if json {
        let line = json!({
            "kind": "capture",
            "streams": streams.len(),
            "not_tcp": skipped.not_tcp,
            "unreadable": skipped.unparseable,
            "past_stream_limit": skipped.over_stream_limit,
        });
        writeln!(out, "{line}").map_err(Failure::output)?;
    } else if ignored > 0 {
        writeln!(
            out,
            "({} packets not TCP, {} unreadable, {} past the stream limit)",
            skipped.not_tcp, skipped.unparseable, skipped.over_stream_limit
        )
        .map_err(Failure::output)?;
    }
    out.flush().map_err(Failure::output)?;
    result
}

/// Decodes everything `input` (called `name` in messages) holds under
/// `limits`, writing each box to `out` as text or (`json`) one JSON object
/// per line; then a partial box or a framing error, if the stream ends in
/// one. A framing error is a [`Failure`] with exit status 1, after its line.
///
/// ```
/// let wire = amp_core::AmpBox::from_pairs([("_ask", "1"), ("_command", "Sum")]).to_bytes().unwrap();
/// let mut out = Vec::new();
/// amp::decode::decode_stream(&mut &wire[..], "test", amp_core::Limits::default(), false, &mut out).unwrap();
/// assert!(String::from_utf8(out).unwrap().starts_with("[0] ask Sum tag=1"));
/// ```
pub fn decode_stream(
    input: &mut dyn Read,
    name: &str,
    limits: Limits,
    json: bool,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let mut decoder = Decoder::new(limits);
    let mut chunk = vec![0; CHUNK];
    let outcome = loop {
        let n = match input.read(&mut chunk) {
            Ok(0) => break decoder.finish(),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                out.flush().map_err(Failure::output)?;
                return Err(Failure::new(
                    UNREACHED,
                    format_args!("cannot read {name}: {e}"),
                ));
            }
        };
        if let Err(e) = decoder.feed(&chunk[..n]) {
            break Err(e);
        }
        if let Err(e) = print_boxes(&mut decoder, json, out) {
            match e {
                Stop::Output(e) => return Err(Failure::output(e)),
                Stop::Codec(e) => break Err(e),
            }
        }
    };
    let result = match outcome {
        Ok(()) => Ok(()),
        Err(CodecError::Truncated { buffered }) => {
            let offset = decoder.consumed();
            if json {
                let line = json!({ "offset": offset, "kind": "partial", "bytes": buffered });
                writeln!(out, "{line}").map_err(Failure::output)?;
            } else {
                writeln!(
                    out,
                    "[{offset}] partial box: {buffered} bytes, the stream ends inside it"
                )
                .map_err(Failure::output)?;
            }
            Ok(())
        }
        Err(e) => {
            let box_offset = decoder.consumed();
            let limits = *decoder.limits();
            let within = error_within_box(&decoder.buffer_mut()[..], &e, &limits);
            let offset = box_offset + within as u64;
            if json {
                let line = json!({
                    "offset": offset,
                    "kind": "framing_error",
                    "box_offset": box_offset,
                    "message": e.to_string(),
                });
                writeln!(out, "{line}").map_err(Failure::output)?;
            } else {
                writeln!(
                    out,
                    "[{offset}] framing error (in the box at {box_offset}): {e}"
                )
                .map_err(Failure::output)?;
            }
            Err(Failure::new(
                REFUSED,
                format_args!("framing error at byte {offset}: {e}"),
            ))
        }
    };
    out.flush().map_err(Failure::output)?;
    result
}

/// Why printing boxes stopped.
enum Stop {
    Output(io::Error),
    Codec(CodecError),
}

/// Prints every complete box the decoder holds.
fn print_boxes(decoder: &mut Decoder, json: bool, out: &mut impl Write) -> Result<(), Stop> {
    loop {
        let offset = decoder.consumed();
        match decoder.decode() {
            Ok(Some(b)) => {
                let length = decoder.consumed() - offset;
                print_box(&b, offset, length, json, out).map_err(Stop::Output)?;
            }
            Ok(None) => return Ok(()),
            Err(e) => return Err(Stop::Codec(e)),
        }
    }
}

/// Prints one box found at `offset`, `length` bytes long.
fn print_box(
    b: &AmpBox,
    offset: u64,
    length: u64,
    json: bool,
    out: &mut impl Write,
) -> io::Result<()> {
    let kind = Kind::of(b);
    if json {
        let mut object = Map::new();
        object.insert("offset".into(), offset.into());
        object.insert("length".into(), length.into());
        kind.add_json(&mut object);
        object.insert(
            "route".into(),
            route(b).map_or(Value::Null, |r| shown(r).into()),
        );
        object.insert("pairs".into(), json_pairs(b));
        return writeln!(out, "{}", Value::Object(object));
    }
    let route = route(b).map_or_else(String::new, |r| format!(" route={}", shown(r)));
    writeln!(out, "[{offset}] {}{route} ({length} bytes)", kind.summary())?;
    for (key, value) in b.iter() {
        writeln!(out, "    {}: {}", shown(key), shown(value))?;
    }
    Ok(())
}

/// Where, from the start of the unfinished box `pending`, the decoder met
/// `error`: the length prefix of the offending key, found by walking the
/// box's pairs as the decoder does. The start of the box when the error is
/// about the box as a whole (or cannot be placed more precisely).
fn error_within_box(pending: &[u8], error: &CodecError, limits: &Limits) -> usize {
    let mut seen: Vec<&[u8]> = Vec::new();
    let mut pos = 0;
    loop {
        let (Some(&high), Some(&key_len)) = (pending.get(pos), pending.get(pos + 1)) else {
            return match error {
                CodecError::KeyLengthPrefix { .. } if pos < pending.len() => pos,
                _ => 0,
            };
        };
        if high != 0 {
            return pos;
        }
        let key_len = usize::from(key_len);
        if key_len == 0 {
            return 0;
        }
        if matches!(error, CodecError::TooManyKeys { .. }) && seen.len() >= limits.keys() {
            return pos;
        }
        let len_at = pos + 2 + key_len;
        let (Some(key), Some(value_len)) = (
            pending.get(pos + 2..len_at),
            pending.get(len_at..len_at + 2),
        ) else {
            return match error {
                CodecError::BoxTooLarge { .. } => pos,
                _ => 0,
            };
        };
        let end = len_at + 2 + usize::from(u16::from_be_bytes([value_len[0], value_len[1]]));
        if matches!(error, CodecError::BoxTooLarge { .. }) && end + 2 > limits.box_bytes() {
            return pos;
        }
        if matches!(error, CodecError::DuplicateKey { .. }) && seen.contains(&key) {
            return pos;
        }
        if end > pending.len() {
            return 0;
        }
        seen.push(key);
        pos = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(wire: &[u8], limits: Limits) -> (CodecError, usize) {
        let mut d = Decoder::new(limits);
        d.feed(wire).unwrap();
        let e = loop {
            match d.decode() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("no error in {wire:?}"),
                Err(e) => break e,
            }
        };
        let at = d.consumed() as usize + error_within_box(&d.buffer_mut()[..], &e, &limits);
        (e, at)
    }

    #[test]
    fn errors_are_placed_at_the_offending_key() {
        let ok = b"\x00\x01k\x00\x01v\x00\x00";
        let mut wire = ok.to_vec();
        wire.extend_from_slice(b"\x00\x01a\x00\x00\x01\x00");
        let (e, at) = place(&wire, Limits::default());
        assert!(matches!(e, CodecError::KeyLengthPrefix { .. }));
        assert_eq!(at, ok.len() + 5);

        let (e, at) = place(
            b"\x00\x01a\x00\x00\x00\x01a\x00\x00\x00\x00",
            Limits::default(),
        );
        assert!(matches!(e, CodecError::DuplicateKey { .. }));
        assert_eq!(at, 5);

        let (e, at) = place(
            b"\x00\x01a\x00\x00\x00\x01b\x00\x00",
            Limits::default().max_keys(1),
        );
        assert!(matches!(e, CodecError::TooManyKeys { .. }));
        assert_eq!(at, 5);

        let (e, at) = place(
            b"\x00\x01a\x00\x00\x00\x01b\x00\x10",
            Limits::default().max_box_bytes(12),
        );
        assert!(matches!(e, CodecError::BoxTooLarge { .. }));
        assert_eq!(at, 5);
    }

    #[test]
    fn a_prefix_alone_is_placed() {
        let (e, at) = place(b"\x00\x01a\x00\x00\x07", Limits::default());
        assert!(matches!(e, CodecError::KeyLengthPrefix { low: None, .. }));
        assert_eq!(at, 5);
    }
}
