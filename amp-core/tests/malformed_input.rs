//! Malformed input from a hostile peer, at the byte level: each case feeds
//! the bytes a hostile peer would send to a server's [`Connection`] (whole,
//! then one byte at a time), runs any request it delivers through a
//! [`Locator`] as a server would, and checks the reason the connection
//! closes with and every byte it writes back.
//!
//! These are the cases of the hostile suite that only ask which error a
//! byte sequence gets; the suite (amp-conformance's `hostile`, run over
//! loopback TCP by every runtime binding) keeps the cases that need a live
//! server: memory, the other connections, timing. amp-core cannot depend
//! on amp-conformance (which depends on amp-core), so the commands these
//! cases break are defined here, with the types the suite's server gives
//! them (`Sum` over `i64`, so that an Integer past `i64` fails to decode).
//!
//! Each case prints `ROW | case | expected | observed | test |`, the rows
//! of `docs/reliability.md`'s byte-level table:
//!
//! ```text
//! cargo test -p amp-core --test malformed_input -- --nocapture --test-threads=1 | grep -o 'ROW |.*'
//! ```

use std::convert::Infallible;

use amp_core::values::{DateTime, Decimal};
use amp_core::{
    AmpBox, CodecError, Command, Connection, ConnectionError, Decoder, Event, Limits, Locator,
    ProtocolError,
};
use futures_util::FutureExt;
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------
// The commands of the hostile suite's server that these cases break

#[derive(Serialize, Deserialize, Debug)]
struct SumArgs {
    a: i64,
    b: i64,
}
#[derive(Serialize, Deserialize, Debug)]
struct Total {
    total: i64,
}
struct Sum;
impl Command for Sum {
    const NAME: &'static str = "Sum";
    type Arguments = SumArgs;
    type Response = Total;
    type Error = Infallible;
}

#[derive(Serialize, Deserialize, Debug)]
struct Text {
    text: String,
}
struct Echo;
impl Command for Echo {
    const NAME: &'static str = "Echo";
    type Arguments = Text;
    type Response = Text;
    type Error = Infallible;
}

#[derive(Serialize, Deserialize, Debug)]
struct Empty {}

#[derive(Serialize, Deserialize, Debug)]
struct SlowArgs {
    ms: u64,
}
/// Answers after `ms` milliseconds: here, never (it is still running when
/// the case ends).
struct Slow;
impl Command for Slow {
    const NAME: &'static str = "Slow";
    type Arguments = SlowArgs;
    type Response = Empty;
    type Error = Infallible;
}

/// One optional argument of each type the argument cases break.
#[derive(Serialize, Deserialize, Debug)]
struct CheckArgs {
    flag: Option<bool>,
    when: Option<DateTime>,
    amount: Option<Decimal>,
    counts: Option<Vec<i64>>,
}
struct Check;
impl Command for Check {
    const NAME: &'static str = "Check";
    type Arguments = CheckArgs;
    type Response = Empty;
    type Error = Infallible;
}

/// The server's responders: as the hostile suite's, with `Slow` never done.
fn locator() -> Locator<()> {
    Locator::new()
        .responder(Sum, |_, a: SumArgs| async move {
            Ok::<_, Infallible>(Total {
                total: a.a.wrapping_add(a.b),
            })
        })
        .responder(Echo, |_, t: Text| async move { Ok::<_, Infallible>(t) })
        .responder(Slow, |_, _: SlowArgs| async move {
            std::future::pending::<Result<Empty, Infallible>>().await
        })
        .responder(Check, |_, _: CheckArgs| async move {
            Ok::<_, Infallible>(Empty {})
        })
}

// ---------------------------------------------------------------------------
// Driving a server's Connection

/// What a server's connection did with the bytes of a case.
#[derive(Debug, PartialEq)]
struct Outcome {
    /// Why it closed (`None`: it did not).
    reason: Option<ConnectionError>,
    /// The boxes it wrote back.
    written: Vec<AmpBox>,
    /// The requests it delivered, by command.
    requests: Vec<String>,
}

/// Feeds `bytes` to a server's connection in chunks of `chunk` bytes (then
/// the end of the stream if `eof`), running each request it delivers: a
/// responder that finishes at once is answered at once, one that does not
/// (`Slow`) is still running when the case ends, and is answered then, as a
/// responder finishing after its connection closed would be.
fn serve(bytes: &[u8], chunk: usize, eof: bool) -> Outcome {
    let locator = locator();
    let mut conn = Connection::default();
    let mut transmit = Vec::new();
    let mut reason = None;
    let mut requests = Vec::new();
    let mut running = Vec::new();
    let mut drain = |conn: &mut Connection, reason: &mut Option<ConnectionError>| {
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Request(req) => {
                    requests.push(String::from_utf8_lossy(&req.command).into_owned());
                    let tag = req.tag.clone();
                    let mut answer = locator.dispatch((), &req.command, req.arguments);
                    match (&mut answer).now_or_never() {
                        Some(result) => conn.respond(tag.as_deref(), result).unwrap(),
                        None => running.push((tag, answer)),
                    }
                }
                Event::Closed(r) => {
                    assert!(reason.is_none(), "closed twice");
                    *reason = Some(r);
                }
                other => panic!("unexpected event {other:?}"),
            }
        }
    };
    for piece in bytes.chunks(chunk.max(1)) {
        if conn.is_closed() {
            break;
        }
        conn.handle_input(piece);
        drain(&mut conn, &mut reason);
        transmit.extend_from_slice(&conn.take_transmit());
    }
    if eof && !conn.is_closed() {
        conn.handle_eof();
        drain(&mut conn, &mut reason);
    }
    transmit.extend_from_slice(&conn.take_transmit());
    // A responder still running when its connection ended has nowhere to
    // send its answer: the connection refuses it and writes nothing.
    for (tag, _) in running {
        let late = AmpBox::new();
        assert!(
            conn.respond(tag.as_deref(), Ok(late)).is_err(),
            "an answer accepted after the close"
        );
    }
    transmit.extend_from_slice(&conn.take_transmit());
    assert_eq!(reason.is_some(), conn.is_closed());
    Outcome {
        reason,
        written: decode_boxes(&transmit),
        requests,
    }
}

fn decode_boxes(bytes: &[u8]) -> Vec<AmpBox> {
    let mut d = Decoder::new(Limits::default());
    d.feed(bytes).unwrap();
    let mut out = Vec::new();
    while let Some(b) = d.decode().expect("the server wrote a malformed box") {
        out.push(b);
    }
    d.finish().expect("the server's output ends inside a box");
    out
}

/// One box on the wire.
fn wire(pairs: &[(&str, &[u8])]) -> Vec<u8> {
    let b: AmpBox = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), bytes::Bytes::copy_from_slice(v)))
        .collect();
    b.to_bytes().unwrap().to_vec()
}

/// A request tagged `1` with these arguments.
fn request(command: &str, args: &[(&str, &[u8])]) -> Vec<u8> {
    let mut pairs: Vec<(&str, &[u8])> = vec![("_ask", b"1"), ("_command", command.as_bytes())];
    pairs.extend_from_slice(args);
    wire(&pairs)
}

fn row(case: &str, expected: &str, observed: &str, test: &str) {
    let cell = |s: &str| s.replace('|', "\\|");
    println!(
        "ROW | {} | {} | {} | `{}` |",
        cell(case),
        cell(expected),
        cell(observed),
        cell(test)
    );
}

/// What the server should write before it closes.
enum Reply {
    /// Nothing at all.
    Nothing,
    /// `UNKNOWN` / `Unknown Error` for the request tagged `1`.
    Unknown,
}

/// Feeds `bytes` (whole, then one byte at a time; then the end of the
/// stream if `eof`), and checks that the connection closes with a reason
/// `expected` accepts, after writing what `reply` says; prints the ROW.
fn malformed(
    test: &str,
    case: &str,
    expected: &str,
    bytes: &[u8],
    eof: bool,
    reply: Reply,
    check: impl Fn(&ConnectionError) -> bool,
) -> Outcome {
    let outcome = serve(bytes, bytes.len(), eof);
    let reason = outcome
        .reason
        .clone()
        .unwrap_or_else(|| panic!("{case}: the connection stayed open"));
    assert!(check(&reason), "{case}: unexpected reason {reason:?}");
    // One byte at a time: the same error (found as early, so a key-length
    // prefix's low byte may be unknown yet), the same bytes written.
    let by_byte = serve(bytes, 1, eof);
    match &by_byte.reason {
        Some(r) => assert!(
            check(r),
            "{case}, one byte at a time: unexpected reason {r:?}"
        ),
        None => panic!("{case}, one byte at a time: the connection stayed open"),
    }
    assert_eq!(
        (&by_byte.written, &by_byte.requests),
        (&outcome.written, &outcome.requests),
        "{case}: one byte at a time is not the same as all at once"
    );
    let replied = match reply {
        Reply::Nothing => {
            assert!(
                outcome.written.is_empty(),
                "{case}: the server answered {:?}",
                outcome.written
            );
            "nothing written".to_string()
        }
        Reply::Unknown => {
            let boxes = &outcome.written;
            assert_eq!(
                boxes.len(),
                1,
                "{case}: expected one error box, got {boxes:?}"
            );
            let b = &boxes[0];
            assert_eq!(b.get_str("_error"), Some("1"), "{case}: {b:?}");
            assert_eq!(b.get_str("_error_code"), Some("UNKNOWN"), "{case}: {b:?}");
            assert_eq!(
                b.get_str("_error_description"),
                Some("Unknown Error"),
                "{case}: {b:?}"
            );
            "UNKNOWN error box for tag 1 written".to_string()
        }
    };
    row(
        case,
        expected,
        &format!(
            "closed: {reason:?}; {replied} ({} bytes fed, whole and one at a time)",
            bytes.len()
        ),
        test,
    );
    outcome
}

fn codec(reason: &ConnectionError) -> Option<&CodecError> {
    match reason {
        ConnectionError::Protocol(ProtocolError::Codec(e)) => Some(e),
        _ => None,
    }
}

fn protocol(reason: &ConnectionError) -> Option<&ProtocolError> {
    match reason {
        ConnectionError::Protocol(e) => Some(e),
        _ => None,
    }
}

fn unknown_error(reason: &ConnectionError) -> bool {
    matches!(reason, ConnectionError::FatalError { code, .. } if code == "UNKNOWN")
}

// ---------------------------------------------------------------------------
// Malformed boxes

#[test]
fn key_length_prefix_over_255_is_a_codec_error() {
    malformed(
        "key_length_prefix_over_255_is_a_codec_error",
        "key-length prefix over 255 (`01 00`)",
        "codec error KeyLengthPrefix, closed, nothing sent back",
        b"\x01\x00keykeykey",
        false,
        Reply::Nothing,
        |r| matches!(codec(r), Some(CodecError::KeyLengthPrefix { high: 1, .. })),
    );
}

#[test]
fn value_length_past_the_end_then_eof_is_truncated() {
    malformed(
        "value_length_past_the_end_then_eof_is_truncated",
        "value length 65535 with 5 bytes after it, then EOF",
        "codec error Truncated, closed",
        b"\x00\x01k\xff\xffshort",
        true,
        Reply::Nothing,
        |r| matches!(codec(r), Some(CodecError::Truncated { buffered: 10 })),
    );
}

#[test]
fn stream_ending_mid_box_is_truncated_and_the_request_not_run() {
    let mut bytes = request("Sum", &[("a", b"1"), ("b", b"2")]);
    bytes.truncate(bytes.len() - 2); // no terminator
    let outcome = malformed(
        "stream_ending_mid_box_is_truncated_and_the_request_not_run",
        "stream ends mid-box (a Sum request without its terminator)",
        "codec error Truncated, closed, the request not run",
        &bytes,
        true,
        Reply::Nothing,
        |r| matches!(codec(r), Some(CodecError::Truncated { .. })),
    );
    assert!(outcome.requests.is_empty(), "{:?}", outcome.requests);
}

#[test]
fn duplicate_keys_are_a_codec_error_and_the_request_not_run() {
    let outcome = malformed(
        "duplicate_keys_are_a_codec_error_and_the_request_not_run",
        "duplicate keys (a Sum request with `a` twice)",
        "codec error DuplicateKey, closed, the request not run",
        b"\x00\x04_ask\x00\x011\x00\x08_command\x00\x03Sum\x00\x01a\x00\x011\x00\x01a\x00\x012\x00\x00",
        false,
        Reply::Nothing,
        |r| matches!(codec(r), Some(CodecError::DuplicateKey { key }) if key == "a"),
    );
    assert!(outcome.requests.is_empty(), "{:?}", outcome.requests);
}

// ---------------------------------------------------------------------------
// Boxes AMP forbids

#[test]
fn empty_box_is_not_amp() {
    malformed(
        "empty_box_is_not_amp",
        "empty box (`00 00`)",
        "protocol error NotAmp, closed",
        b"\x00\x00",
        false,
        Reply::Nothing,
        |r| matches!(protocol(r), Some(ProtocolError::NotAmp { keys }) if keys.is_empty()),
    );
}

#[test]
fn box_neither_request_nor_answer_is_not_amp() {
    malformed(
        "box_neither_request_nor_answer_is_not_amp",
        "a box that is neither request nor answer (`hello: world`)",
        "protocol error NotAmp, closed",
        &wire(&[("hello", b"world")]),
        false,
        Reply::Nothing,
        |r| matches!(protocol(r), Some(ProtocolError::NotAmp { keys }) if keys.len() == 1),
    );
}

#[test]
fn answer_and_error_in_one_box_is_ambiguous() {
    malformed(
        "answer_and_error_in_one_box_is_ambiguous",
        "both `_answer` and `_error`",
        "protocol error Ambiguous, closed",
        &wire(&[
            ("_answer", b"1"),
            ("_error", b"1"),
            ("_error_code", b"X"),
            ("_error_description", b"y"),
        ]),
        false,
        Reply::Nothing,
        |r| matches!(protocol(r), Some(ProtocolError::Ambiguous { .. })),
    );
}

#[test]
fn answer_for_a_tag_never_asked_is_an_unknown_tag() {
    malformed(
        "answer_for_a_tag_never_asked_is_an_unknown_tag",
        "an answer for a tag never asked (`_answer: 7`)",
        "protocol error UnknownTag, closed",
        &wire(&[("_answer", b"7"), ("total", b"3")]),
        false,
        Reply::Nothing,
        |r| {
            matches!(
                protocol(r),
                Some(ProtocolError::UnknownTag { key: "_answer", .. })
            )
        },
    );
}

#[test]
fn request_reusing_an_outstanding_tag_is_a_duplicate_ask() {
    let mut bytes = request("Slow", &[("ms", b"10000")]);
    bytes.extend(request("Sum", &[("a", b"1"), ("b", b"2")]));
    let outcome = malformed(
        "request_reusing_an_outstanding_tag_is_a_duplicate_ask",
        "a second request reusing the outstanding `_ask` tag of a running one",
        "protocol error DuplicateAsk, closed (running responder dropped, no answer)",
        &bytes,
        false,
        Reply::Nothing,
        |r| matches!(protocol(r), Some(ProtocolError::DuplicateAsk { tag }) if tag == "1"),
    );
    // The first request ran; the second never did.
    assert_eq!(outcome.requests, ["Slow"]);
}

// ---------------------------------------------------------------------------
// Arguments that do not decode: Twisted answers UNKNOWN and closes

/// A request for `command` with `args` that do not decode.
fn argument_error(test: &str, case: &str, command: &str, args: &[(&str, &[u8])]) {
    let outcome = malformed(
        test,
        case,
        "UNKNOWN error box, then closed (FatalError UNKNOWN)",
        &request(command, args),
        false,
        Reply::Unknown,
        unknown_error,
    );
    assert_eq!(outcome.requests, [command]);
}

#[test]
fn invalid_utf8_for_unicode_is_unknown() {
    argument_error(
        "invalid_utf8_for_unicode_is_unknown",
        "invalid UTF-8 for a Unicode argument (Echo `text: ff fe`)",
        "Echo",
        &[("text", b"\xff\xfe")],
    );
}

#[test]
fn non_numeric_integer_is_unknown() {
    argument_error(
        "non_numeric_integer_is_unknown",
        "non-numeric Integer (Sum `a: abc`)",
        "Sum",
        &[("a", b"abc"), ("b", b"1")],
    );
}

#[test]
fn integer_overflowing_i64_is_unknown() {
    argument_error(
        "integer_overflowing_i64_is_unknown",
        "Integer overflowing i64 (Sum `a: 99999999999999999999`)",
        "Sum",
        &[("a", b"99999999999999999999"), ("b", b"1")],
    );
}

#[test]
fn true_for_a_boolean_is_unknown() {
    argument_error(
        "true_for_a_boolean_is_unknown",
        "`true` for a Boolean (Check `flag: true`)",
        "Check",
        &[("flag", b"true")],
    );
}

#[test]
fn datetime_of_31_characters_is_unknown() {
    argument_error(
        "datetime_of_31_characters_is_unknown",
        "a 31-character DateTime (Check `when: 2012-01-23T12:34:56.054321-00:0`)",
        "Check",
        &[("when", b"2012-01-23T12:34:56.054321-00:0")],
    );
}

#[test]
fn malformed_decimal_is_unknown() {
    argument_error(
        "malformed_decimal_is_unknown",
        "a malformed Decimal (Check `amount: 1.2.3`)",
        "Check",
        &[("amount", b"1.2.3")],
    );
}

#[test]
fn list_of_integers_with_a_lying_length_is_unknown() {
    argument_error(
        "list_of_integers_with_a_lying_length_is_unknown",
        "a ListOf(Integer) whose inner length lies (Check `counts: 00 01 31 00 05 32`)",
        "Check",
        &[("counts", b"\x00\x011\x00\x052")],
    );
}

/// The same server answers well-formed requests: the cases above fail for
/// their bytes, not for a server that answers nothing.
#[test]
fn well_formed_requests_are_answered() {
    let mut bytes = request("Sum", &[("a", b"1"), ("b", b"2")]);
    bytes.extend(wire(&[
        ("_ask", b"2"),
        ("_command", b"Check"),
        ("flag", b"True"),
        ("when", b"2012-01-23T12:34:56.054321-00:00"),
        ("amount", b"1.23"),
        ("counts", b"\x00\x011\x00\x012"),
    ]));
    bytes.extend(wire(&[
        ("_ask", b"3"),
        ("_command", b"Echo"),
        ("text", "h\u{e9}".as_bytes()),
    ]));
    for chunk in [bytes.len(), 1] {
        let outcome = serve(&bytes, chunk, false);
        assert_eq!(outcome.reason, None);
        assert_eq!(outcome.requests, ["Sum", "Check", "Echo"]);
        let answers: Vec<_> = outcome
            .written
            .iter()
            .map(|b| (b.get_str("_answer"), b.get_str("total"), b.get_str("text")))
            .collect();
        assert_eq!(
            answers,
            [
                (Some("1"), Some("3"), None),
                (Some("2"), None, None),
                (Some("3"), None, Some("h\u{e9}"))
            ]
        );
    }
}
