//! `amp decode` on streams made here, on bytes recorded from Twisted, and on
//! broken streams: what it prints, at which offsets, with which status.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use amp_core::AmpBox;
use serde_json::Value;

/// Runs `amp` with `args`, `stdin` on its standard input.
fn amp(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_amp"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("amp starts");
    let mut input = child.stdin.take().expect("piped");
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // amp may stop reading early (a framing error): ignore a closed pipe.
        let _ = input.write_all(&stdin);
    });
    let output = child.wait_with_output().expect("amp runs");
    writer.join().expect("the writer");
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("UTF-8 output")
}

fn json_lines(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect()
}

fn wire(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let b: AmpBox = pairs
        .iter()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect();
    b.to_bytes().expect("encodable").to_vec()
}

/// Five boxes of every kind, and the offset of each.
fn stream() -> (Vec<u8>, Vec<usize>) {
    let boxes = [
        wire(&[
            (b"_ask", b"1"),
            (b"_command", b"Sum"),
            (b"a", b"13"),
            (b"b", b"81"),
        ]),
        wire(&[(b"_answer", b"1"), (b"total", b"94")]),
        wire(&[
            (b"_error", b"2"),
            (b"_error_code", b"UNHANDLED"),
            (b"_error_description", b"Unhandled Command: b'Nope'"),
        ]),
        wire(&[(b"_ask", b"3"), (b"_command", b"Count"), (b"_route", b"0")]),
        wire(&[(b"blob", b"\x00\x01\xff'"), (b"lines", b"a\nb")]),
    ];
    let mut offsets = Vec::new();
    let mut all = Vec::new();
    for b in &boxes {
        offsets.push(all.len());
        all.extend_from_slice(b);
    }
    (all, offsets)
}

#[test]
fn every_kind_of_box_is_shown_at_its_offset() {
    let (input, at) = stream();
    let output = amp(&["decode"], &input);
    assert!(output.status.success(), "{}", stderr(&output));
    let expected = format!(
        "\
[{}] ask Sum tag=1 (40 bytes)
    _ask: 1
    _command: Sum
    a: 13
    b: 81
[{}] answer tag=1 (25 bytes)
    _answer: 1
    total: 94
[{}] error tag=2 code=UNHANDLED description=Unhandled Command: b'Nope' (85 bytes)
    _error: 2
    _error_code: UNHANDLED
    _error_description: Unhandled Command: b'Nope'
[{}] ask Count tag=3 route=0 (39 bytes)
    _ask: 3
    _command: Count
    _route: 0
[{}] box (26 bytes)
    blob: b\"\\x00\\x01\\xff'\"
    lines: b'a\\nb'
",
        at[0], at[1], at[2], at[3], at[4]
    );
    assert_eq!(stdout(&output), expected);
    assert_eq!(stderr(&output), "");
    assert_eq!(input.len(), at[4] + 26);
}

#[test]
fn json_has_one_object_per_box() {
    let (input, at) = stream();
    let output = amp(&["decode", "--json"], &input);
    assert!(output.status.success(), "{}", stderr(&output));
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 5);
    let offsets: Vec<u64> = lines
        .iter()
        .map(|l| l["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, at.iter().map(|&o| o as u64).collect::<Vec<_>>());
    let kinds: Vec<&str> = lines.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ask", "answer", "error", "ask", "box"]);
    assert_eq!(lines[0]["command"], "Sum");
    assert_eq!(lines[0]["tag"], "1");
    assert_eq!(lines[0]["length"], 40);
    assert_eq!(lines[0]["route"], Value::Null);
    assert_eq!(lines[1]["tag"], "1");
    assert_eq!(lines[2]["code"], "UNHANDLED");
    assert_eq!(lines[2]["description"], "Unhandled Command: b'Nope'");
    assert_eq!(lines[3]["route"], "0");
    let blob = &lines[4]["pairs"][0];
    assert_eq!(blob["key"], "blob");
    assert_eq!(blob["value"], "b\"\\x00\\x01\\xff'\"");
    assert_eq!(blob["text"], false);
    assert_eq!(blob["value_hex"], "0001ff27");
    let total = &lines[1]["pairs"][1];
    assert_eq!(
        (&total["key"], &total["value"], &total["text"]),
        (&"total".into(), &"94".into(), &true.into())
    );
}

#[test]
fn a_file_is_read_as_standard_input_is() {
    let (input, _) = stream();
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("amp-decode-stream.bin");
    std::fs::write(&path, &input).expect("writable");
    let from_file = amp(&["decode", path.to_str().unwrap()], b"");
    let from_stdin = amp(&["decode", "-"], &input);
    assert!(from_file.status.success(), "{}", stderr(&from_file));
    assert_eq!(from_file.stdout, from_stdin.stdout);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_missing_file_is_a_one_line_failure() {
    let output = amp(&["decode", "/nonexistent/amp-capture.bin"], b"");
    assert_eq!(output.status.code(), Some(3));
    let err = stderr(&output);
    assert!(err.starts_with("amp decode: cannot open /nonexistent/amp-capture.bin"));
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn a_truncated_stream_ends_with_the_partial_box() {
    let (input, at) = stream();
    // The last box cut after 7 of its 26 bytes.
    let cut = &input[..at[4] + 7];
    let output = amp(&["decode"], cut);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains(&format!("[{}] ask Count tag=3 route=0", at[3])),
        "{text}"
    );
    assert_eq!(
        text.lines().last(),
        Some(
            format!(
                "[{}] partial box: 7 bytes, the stream ends inside it",
                at[4]
            )
            .as_str()
        )
    );

    let lines = json_lines(&amp(&["decode", "--json"], cut));
    assert_eq!(lines.len(), 5);
    assert_eq!(
        lines[4],
        serde_json::json!({"offset": at[4], "kind": "partial", "bytes": 7})
    );
}

#[test]
fn an_empty_stream_has_no_boxes() {
    let output = amp(&["decode"], b"");
    assert!(output.status.success());
    assert_eq!(stdout(&output), "");
}

#[test]
fn a_key_length_over_255_stops_decoding_at_its_offset() {
    let (mut input, at) = stream();
    // After the first box: a pair, then a key length prefix of 0x0100.
    let mut broken = input[..at[1]].to_vec();
    broken.extend_from_slice(b"\x00\x01k\x00\x01v\x01\x00kkk");
    broken.extend_from_slice(&input.split_off(at[1]));
    let bad = at[1] + 6;
    let output = amp(&["decode"], &broken);
    assert_eq!(output.status.code(), Some(1));
    let message = "key length prefix 0100 is over 255 (its first byte must be zero)";
    let text = stdout(&output);
    assert_eq!(
        text.lines().last(),
        Some(format!("[{bad}] framing error (in the box at {}): {message}", at[1]).as_str()),
        "{text}"
    );
    assert_eq!(text.lines().filter(|l| l.starts_with('[')).count(), 2);
    assert_eq!(
        stderr(&output),
        format!("amp decode: framing error at byte {bad}: {message}\n")
    );

    let output = amp(&["decode", "--json"], &broken);
    assert_eq!(output.status.code(), Some(1));
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[1],
        serde_json::json!({
            "offset": bad, "kind": "framing_error", "box_offset": at[1], "message": message,
        })
    );
}

#[test]
fn a_repeated_key_is_placed_at_its_second_occurrence() {
    let broken = b"\x00\x01a\x00\x011\x00\x01b\x00\x00\x00\x01a\x00\x012\x00\x00";
    let output = amp(&["decode", "--json"], broken);
    assert_eq!(output.status.code(), Some(1));
    let lines = json_lines(&output);
    assert_eq!(lines[0]["offset"], 11);
    assert_eq!(lines[0]["kind"], "framing_error");
    assert_eq!(lines[0]["message"], "key \"a\" appears twice in one box");
}

#[test]
fn limits_can_be_set() {
    let (input, _) = stream();
    let output = amp(&["decode", "--json", "--max-keys", "3"], &input);
    assert_eq!(output.status.code(), Some(1));
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["message"], "box has more than 3 keys");
    assert_eq!(
        lines[0]["offset"],
        2 + 4 + 2 + 1 + 2 + 8 + 2 + 3 + 2 + 1 + 2 + 2
    );

    let output = amp(&["decode", "--json", "--max-box-bytes", "39"], &input);
    assert_eq!(output.status.code(), Some(1));
    let lines = json_lines(&output);
    assert_eq!(lines[0]["message"], "box is larger than the 39-byte limit");
}

#[test]
fn arbitrary_bytes_never_crash_it() {
    // A fixed pseudo-random stream: whatever it holds, amp reports it and
    // exits 0 or 1, never panics.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for len in [1, 2, 3, 17, 256, 4096] {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // Mostly small bytes, so that some boxes decode.
                (state % 7) as u8
            })
            .collect();
        for args in [&["decode"][..], &["decode", "--json"]] {
            let output = amp(args, &bytes);
            assert!(
                matches!(output.status.code(), Some(0 | 1)),
                "{len} bytes: {:?} {}",
                output.status,
                stderr(&output)
            );
        }
    }
}

// -- Bytes recorded from Twisted -------------------------------------------------

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../interop/vectors/twisted-amp.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("the vectors parse")
}

fn unhex(s: &Value) -> Vec<u8> {
    hex::decode(s.as_str().expect("hex text")).expect("hex")
}

#[test]
fn every_box_twisted_wrote_decodes_to_its_recorded_pairs() {
    let vectors = vectors();
    let boxes = vectors["boxes"].as_array().expect("boxes");
    assert!(!boxes.is_empty());
    for recorded in boxes {
        let note = &recorded["note"];
        let input = unhex(&recorded["wire_hex"]);
        let output = amp(&["decode", "--json"], &input);
        assert!(output.status.success(), "{note}: {}", stderr(&output));
        let lines = json_lines(&output);
        assert_eq!(lines.len(), 1, "{note}");
        let decoded = &lines[0];
        assert_eq!(decoded["offset"], 0, "{note}");
        assert_eq!(decoded["length"], input.len(), "{note}");
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = decoded["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (unhex(&p["key_hex"]), unhex(&p["value_hex"])))
            .collect();
        let want: Vec<(Vec<u8>, Vec<u8>)> = recorded["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_str().unwrap().as_bytes().to_vec(), unhex(&p[1])))
            .collect();
        assert_eq!(pairs, want, "{note}");
    }
    let by_note = |note: &str| {
        let recorded = boxes.iter().find(|b| b["note"] == note).expect(note);
        json_lines(&amp(&["decode", "--json"], &unhex(&recorded["wire_hex"])))[0].clone()
    };
    let sum = by_note("Sum request from the AMP front page");
    assert_eq!(
        (&sum["kind"], &sum["command"], &sum["tag"]),
        (&"ask".into(), &"Sum".into(), &"1".into())
    );
    let routed = by_note("routed request (epsilon.amprouter)");
    assert_eq!(
        (&routed["command"], &routed["route"]),
        (&"Count".into(), &"0".into())
    );
    let error = by_note("error answer");
    assert_eq!(error["kind"], "error");
}

#[test]
fn twisteds_answers_decode_to_the_results_its_client_saw() {
    let vectors = vectors();
    let conversation = vectors["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["note"] == "two Sum calls in one write")
        .expect("the recorded conversation");
    let output = amp(
        &["decode", "--json"],
        &unhex(&conversation["server_to_client_hex"]),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let answers = json_lines(&output);
    let results = conversation["client_results"].as_array().unwrap();
    assert_eq!(answers.len(), results.len());
    let mut offset = 0;
    for (tag, (answer, result)) in answers.iter().zip(results).enumerate() {
        assert_eq!(answer["kind"], "answer");
        assert_eq!(answer["tag"], (tag + 1).to_string());
        assert_eq!(answer["offset"], offset);
        offset += answer["length"].as_u64().unwrap();
        assert_eq!(result[0], "ok");
        let values: serde_json::Map<String, Value> = answer["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["key"] != "_answer")
            .map(|p| (p["key"].as_str().unwrap().to_owned(), p["value"].clone()))
            .collect();
        assert_eq!(Value::Object(values), result[1]);
    }
}

#[test]
fn the_over_long_key_twisted_drops_is_a_framing_error_here_too() {
    let vectors = vectors();
    let conversation = vectors["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["note"] == "key length prefix over 255: Twisted drops the connection")
        .expect("the recorded conversation");
    let output = amp(&["decode"], &unhex(&conversation["client_to_server_hex"]));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "amp decode: framing error at byte 0: key length prefix 0100 is over 255 (its first byte must be zero)\n"
    );
}

/// interop/captures/twisted-howto.pcap: Twisted's documented example
/// (`Sum(13, 81)` and `Divide(1234, 0)`, each on a connection of its own)
/// captured by tcpdump on loopback (interop/captures/record.sh).
fn howto_capture() -> Vec<u8> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop/captures/twisted-howto.pcap");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The value of `key` in a decoded box's JSON pairs.
fn pair<'a>(b: &'a Value, key: &str) -> Option<&'a str> {
    b["pairs"]
        .as_array()?
        .iter()
        .find(|p| p["key"] == key)
        .and_then(|p| p["value"].as_str())
}

#[test]
fn a_capture_of_twisted_traffic_decodes_stream_by_stream() {
    let output = amp(&["decode", "--json", "-"], &howto_capture());
    assert!(output.status.success(), "{}", stderr(&output));
    let lines = json_lines(&output);
    let streams: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "stream").collect();
    assert_eq!(
        streams.len(),
        4,
        "two connections, two directions each: {lines:?}"
    );
    // Each stream has a stream going the other way.
    for s in &streams {
        assert!(
            streams
                .iter()
                .any(|o| o["from"] == s["to"] && o["to"] == s["from"]),
            "{s}"
        );
    }
    let sum = lines
        .iter()
        .find(|l| l["kind"] == "ask" && l["command"] == "Sum")
        .expect("the Sum request");
    assert_eq!((pair(sum, "a"), pair(sum, "b")), (Some("13"), Some("81")));
    let divide = lines
        .iter()
        .find(|l| l["kind"] == "ask" && l["command"] == "Divide")
        .expect("the Divide request");
    assert_eq!(pair(divide, "denominator"), Some("0"));
    let answer = lines
        .iter()
        .find(|l| l["kind"] == "answer")
        .expect("Sum's answer");
    assert_eq!(pair(answer, "total"), Some("94"));
    assert!(
        lines
            .iter()
            .any(|l| l["kind"] == "error" && pair(l, "_error_code") == Some("ZERO_DIVISION")),
        "{lines:?}"
    );
}

#[test]
fn a_capture_reads_the_same_from_a_file_and_as_text() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop/captures/twisted-howto.pcap");
    let output = amp(&["decode", path.to_str().unwrap()], b"");
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert_eq!(text.matches("== stream ").count(), 4, "{text}");
    assert!(text.contains("ask Sum tag=1"), "{text}");
    assert!(text.contains("code=ZERO_DIVISION"), "{text}");
}

#[test]
fn a_truncated_capture_is_a_one_line_failure() {
    let capture = howto_capture();
    let output = amp(&["decode", "-"], &capture[..capture.len() - 10]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("ends inside a block"), "{err}");
}
