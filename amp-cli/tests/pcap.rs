//! `amp decode` of capture files: `tests/data/twisted.pcap`, recorded with
//! tcpdump on the loopback interface while `tests/data/twisted_caller.py`
//! (Twisted 26.10) called `interop/server.py` (Twisted) with Sum, Divide,
//! EchoListOfString, EchoAmpList and Fatal; and captures written here, in
//! pcap and pcapng, with segments out of order, retransmitted, or missing.

mod common;

use common::{amp, data, plain, stderr, stdout};
use etherparse::PacketBuilder;
use serde_json::Value;

#[test]
fn a_twisted_capture_decodes_stream_by_stream() {
    let path = data("twisted.pcap").display().to_string();
    let output = amp(&["decode", &path]);
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(plain(&out));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("== stream 1: 127.0.0.1:"), "{out}");
    assert!(lines[0].ends_with(" (286 bytes, from packet 1)"), "{out}");
    assert_eq!(lines[1], "[0] ask Sum tag=1 (40 bytes)");
    let second = lines
        .iter()
        .position(|l| l.starts_with("== stream 2: "))
        .expect("two streams");
    assert_eq!(lines[second + 1], "[0] answer tag=1 (25 bytes)");
    assert!(out.contains(
        "\n[25] error tag=2 code=ZERO_DIVISION description=float division by zero (85 bytes)\n"
    ));
    assert!(out.contains("\n[354] error tag=5 code=FATAL_KEY description='x' (62 bytes)\n"));
    assert_eq!(
        *lines.last().unwrap(),
        "capture: 18 packets, 0 not TCP or not readable, 2 TCP streams with data"
    );

    let output = amp(&["decode", "--json", &path]);
    assert!(output.status.success());
    let objects: Vec<Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(objects[0]["kind"], "stream");
    assert_eq!(objects[1]["kind"], "ask");
    assert_eq!(objects[1]["command"], "Sum");
    assert_eq!(objects[1]["stream"], 1);
    let asks = objects.iter().filter(|o| o["kind"] == "ask").count();
    let answered = objects
        .iter()
        .filter(|o| (o["kind"] == "answer" || o["kind"] == "error") && o["stream"] == 2)
        .count();
    assert_eq!((asks, answered), (5, 5));
    assert_eq!(objects.last().unwrap()["kind"], "capture");
}

/// A capture of one connection's client side: Ethernet, IPv4 or IPv6,
/// TCP segments given as (sequence offset from the SYN's, bytes).
struct Writer {
    ipv6: bool,
    packets: Vec<Vec<u8>>,
}

impl Writer {
    fn segment(&mut self, seq: u32, syn: bool, payload: &[u8]) {
        let base = PacketBuilder::ethernet2([1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]);
        let ip = if self.ipv6 {
            let mut a = [0u8; 16];
            a[15] = 1;
            base.ipv6(a, a, 64)
        } else {
            base.ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
        };
        let mut tcp = ip.tcp(40000, 1234, 1_000_000 + seq, 65535);
        if syn {
            tcp = tcp.syn();
        }
        let mut packet = Vec::new();
        tcp.write(&mut packet, payload).unwrap();
        self.packets.push(packet);
    }

    /// A legacy pcap, little-endian, microseconds, Ethernet.
    fn pcap(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&4u16.to_le_bytes());
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&65535u32.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        for (i, p) in self.packets.iter().enumerate() {
            out.extend_from_slice(&(i as u32).to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&(p.len() as u32).to_le_bytes());
            out.extend_from_slice(&(p.len() as u32).to_le_bytes());
            out.extend_from_slice(p);
        }
        out
    }

    /// A pcapng: a section, one Ethernet interface, enhanced packets.
    fn pcapng(&self) -> Vec<u8> {
        fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
            let padded = body.len().div_ceil(4) * 4;
            let len = (12 + padded) as u32;
            out.extend_from_slice(&kind.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(body);
            out.resize(out.len() + padded - body.len(), 0);
            out.extend_from_slice(&len.to_le_bytes());
        }
        let mut out = Vec::new();
        let mut shb = Vec::new();
        shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        block(&mut out, 0x0a0d_0d0a, &shb);
        let mut idb = Vec::new();
        idb.extend_from_slice(&1u16.to_le_bytes());
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&65535u32.to_le_bytes());
        block(&mut out, 1, &idb);
        for p in &self.packets {
            let mut epb = Vec::new();
            epb.extend_from_slice(&0u32.to_le_bytes());
            epb.extend_from_slice(&[0; 8]);
            epb.extend_from_slice(&(p.len() as u32).to_le_bytes());
            epb.extend_from_slice(&(p.len() as u32).to_le_bytes());
            epb.extend_from_slice(p);
            epb.resize(20 + p.len().div_ceil(4) * 4, 0);
            block(&mut out, 6, &epb);
        }
        out
    }
}

/// The client side of Twisted's conversation in twisted.pcap, as bytes.
fn twisted_requests() -> Vec<u8> {
    let path = data("twisted.pcap").display().to_string();
    let output = amp(&["decode", "--json", &path]);
    let mut bytes = Vec::new();
    for line in stdout(&output).lines() {
        let object: Value = serde_json::from_str(line).unwrap();
        if object["stream"] == 1 && object["kind"] == "ask" {
            for pair in object["pairs"].as_array().unwrap() {
                let key = hex::decode(pair["key_hex"].as_str().unwrap()).unwrap();
                let value = hex::decode(pair["value_hex"].as_str().unwrap()).unwrap();
                bytes.extend_from_slice(&(key.len() as u16).to_be_bytes());
                bytes.extend_from_slice(&key);
                bytes.extend_from_slice(&(value.len() as u16).to_be_bytes());
                bytes.extend_from_slice(&value);
            }
            bytes.extend_from_slice(&[0, 0]);
        }
    }
    assert_eq!(bytes.len(), 286);
    bytes
}

fn write(name: &str, bytes: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("amp-pcap-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

/// What `amp decode` prints for the stream itself, raw.
fn raw_decode(bytes: &[u8]) -> String {
    let path = write("raw.bin", bytes);
    stdout(&amp(&["decode", &path]))
}

#[test]
fn segments_out_of_order_and_retransmitted_are_reassembled() {
    let stream = twisted_requests();
    for ipv6 in [false, true] {
        let mut w = Writer {
            ipv6,
            packets: Vec::new(),
        };
        w.segment(0, true, b"");
        // 13-byte segments, each pair swapped, every third sent twice.
        let pieces: Vec<(u32, &[u8])> = stream
            .chunks(13)
            .enumerate()
            .map(|(i, c)| (1 + 13 * i as u32, c))
            .collect();
        for (i, pair) in pieces.chunks(2).enumerate() {
            for &(seq, piece) in pair.iter().rev() {
                w.segment(seq, false, piece);
                if i % 3 == 0 {
                    w.segment(seq, false, piece);
                }
            }
        }
        let expected = raw_decode(&stream);
        for (name, file) in [("capture.pcap", w.pcap()), ("capture.pcapng", w.pcapng())] {
            let path = write(name, &file);
            let output = amp(&["decode", &path]);
            assert!(output.status.success(), "{name}: {}", stderr(&output));
            let out = stdout(&output);
            let body: String = out
                .lines()
                .skip(1)
                .take_while(|l| !l.starts_with("capture: "))
                .map(|l| format!("{l}\n"))
                .collect();
            assert_eq!(body, expected, "{name}, ipv6 {ipv6}");
            assert!(out.starts_with("== stream 1: "), "{out}");
        }
    }
}

#[test]
fn a_missing_segment_ends_the_stream_at_the_gap() {
    let stream = twisted_requests();
    let mut w = Writer {
        ipv6: false,
        packets: Vec::new(),
    };
    w.segment(0, true, b"");
    w.segment(1, false, &stream[..50]);
    // stream[50..60] never captured.
    w.segment(61, false, &stream[60..]);
    let path = write("gap.pcap", &w.pcap());
    let output = amp(&["decode", &path]);
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("\n[0] ask Sum tag=1 (40 bytes)\n"), "{out}");
    assert!(
        out.contains("\n[40] partial box: 10 bytes, the stream ends inside it\n"),
        "{out}"
    );
    assert!(
        out.contains("\n[50] gap: 10 bytes missing from the capture; the 226 bytes after them are not decoded\n"),
        "{out}"
    );
}

#[test]
fn a_broken_capture_is_one_line() {
    let path = write("broken.pcap", b"\xd4\xc3\xb2\xa1\x02\x00");
    let output = amp(&["decode", &path]);
    assert_eq!(output.status.code(), Some(3));
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("amp decode: cannot read "), "{err}");
    // --raw reads it as a raw AMP stream instead: not AMP either.
    let output = amp(&["decode", "--raw", &path]);
    assert_eq!(output.status.code(), Some(1));
}
