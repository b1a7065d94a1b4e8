//! `amp proxy` between real Twisted peers: `tests/data/twisted_caller.py`
//! calling `interop/server.py` through it, and epsilon's route guide
//! (`interop/route_client.py` to `interop/route_server.py`); the log
//! checked, and the bytes forwarded checked to be exactly those sent.
//!
//! The Python environment comes from `AMP_INTEROP_PYTHON`, or else from
//! `scripts/python-env.sh`; without it these tests fail, never skip.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};

use amp_conformance::interop::python::python_importing;
use common::{PyServer, Running, amp, data, plain, repo_root, run_python, schema, stderr, twisted};
use serde_json::{Value, json};

fn proxy(upstream: &str, extra: &[&str]) -> (Running, String) {
    let mut args = vec!["proxy", "127.0.0.1:0", upstream];
    args.extend_from_slice(extra);
    let running = Running::start(&args);
    let first = running.line();
    let addr = if extra.contains(&"--json") {
        let v: Value = serde_json::from_str(&first).expect("JSON");
        v["listening"].as_str().unwrap().to_owned()
    } else {
        first
            .strip_prefix("listening on ")
            .and_then(|r| r.split(',').next())
            .unwrap_or_else(|| panic!("{first:?}"))
            .to_owned()
    };
    (running, addr)
}

/// A log line without its time and connection number.
fn event(line: &str) -> &str {
    let mut parts = line.splitn(3, ' ');
    let _time = parts.next();
    let conn = parts.next().unwrap();
    assert!(conn.starts_with('#'), "{line}");
    parts.next().unwrap()
}

/// Strips the latency (`1.234ms`) from a line.
fn without_latency(line: &str) -> String {
    line.split(' ')
        .filter(|w| !(w.ends_with("ms") && w[..w.len() - 2].parse::<f64>().is_ok()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn a_twisted_conversation_is_logged_box_by_box() {
    let server = twisted();
    let schema = schema();
    let (proxy, addr) = proxy(&server.addr().to_string(), &["--schema", &schema]);
    let out = run_python(
        &data("twisted_caller.py"),
        &[
            &addr,
            "Sum",
            "Divide",
            "EchoListOfString",
            "EchoAmpList",
            "Fatal",
        ],
    );
    // Twisted's client got Twisted's server's answers through the proxy.
    assert_eq!(
        out.lines().take(3).collect::<Vec<_>>(),
        [
            "Sum answer {'total': 94}",
            "Divide error ZeroDivisionError float division by zero",
            "EchoListOfString answer {'repr': \"[b'a', b'\\\\x00\\\\xff']\", 'value': [b'a', b'\\x00\\xff']}",
        ]
    );
    assert!(
        out.ends_with("Fatal error KeyError \"'x'\"\ndone\n"),
        "{out}"
    );

    let log = proxy.lines_until("closed:");
    assert!(log.iter().all(|l| plain(l)), "{log:?}");
    let events: Vec<String> = log.iter().map(|l| without_latency(event(l))).collect();
    assert!(events[0].starts_with("connected: 127.0.0.1:"), "{events:?}");
    assert_eq!(
        events[1..events.len() - 1],
        [
            "C->S ask Sum tag=1 a=13 b=81",
            "S->C answer Sum tag=1 total=94",
            "C->S ask Divide tag=2 numerator=1 denominator=0",
            "S->C error Divide tag=2 ZERO_DIVISION: float division by zero",
            "C->S ask EchoListOfString tag=3 value=[\"a\", b'\\x00\\xff']",
            "S->C answer EchoListOfString tag=3 value=[\"a\", b'\\x00\\xff'] repr=[b'a', b'\\x00\\xff']",
            "C->S ask EchoAmpList tag=4 value=[{name: \"one\", items: [{n: 1}], note: \"x\"}, {name: \"two\", items: []}]",
            "S->C answer EchoAmpList tag=4 value=[{name: \"one\", items: [{n: 1}], note: \"x\"}, {name: \"two\", items: []}] repr=[{'name': 'one', 'items': [{'n': 1}], 'note': 'x'}, {'name': 'two', 'items': [], 'note': None}]",
            "C->S ask Fatal tag=5",
            "S->C error Fatal tag=5 FATAL_KEY: 'x'",
        ]
    );
    // Every answer has its latency.
    for line in log.iter().filter(|l| event(l).starts_with("S->C ")) {
        let latency = event(line).split(' ').nth(4).unwrap();
        assert!(latency.ends_with("ms"), "{line}");
    }
    assert!(
        events.last().unwrap().starts_with("closed: C->S "),
        "{events:?}"
    );
}

#[test]
fn the_json_log_carries_typed_values_and_latencies() {
    let server = twisted();
    let schema = schema();
    let (proxy, addr) = proxy(&server.addr().to_string(), &["--json", "--schema", &schema]);
    run_python(&data("twisted_caller.py"), &[&addr, "EchoInteger"]);
    let log: Vec<Value> = proxy
        .lines_until("\"closed\"")
        .iter()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let kinds: Vec<&str> = log.iter().map(|v| v["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["connected", "ask", "answer", "closed"]);
    assert_eq!(log[1]["values"], json!({"value": "18446744073709551616"}));
    assert_eq!(log[1]["answer_wanted"], true);
    assert_eq!(log[2]["command"], "EchoInteger");
    assert!(log[2]["latency_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(log[2]["values"]["repr"], "18446744073709551616");
    assert_eq!(log[3]["conn"], 1);
}

#[test]
fn epsilon_routes_are_shown() {
    let route_python = python_importing("epsilon.amprouter");
    let server = PyServer::start_with(route_python, "route_server.py");
    let (proxy, addr) = proxy(&server.addr().to_string(), &[]);
    let out = run_python(&repo_root().join("interop/route_client.py"), &[&addr]);
    assert_eq!(out.lines().count(), 3, "{out}");
    let log = proxy.lines_until("closed:");
    let events: Vec<String> = log.iter().map(|l| without_latency(event(l))).collect();
    // NewRoute on the default route (no _route), then Count on the routes.
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("C->S ask NewRoute tag=") && !e.contains("route=")),
        "{events:?}"
    );
    let counts: Vec<&String> = events
        .iter()
        .filter(|e| e.contains(" answer Count "))
        .collect();
    assert_eq!(counts.len(), 12, "{events:?}");
    assert!(counts.iter().all(|e| e.contains(" route=")), "{counts:?}");
    assert!(
        !events.iter().any(|e| e.contains("answer ?")),
        "every answer paired: {events:?}"
    );
}

/// A TCP server on 127.0.0.1 that sends back everything it receives, once
/// the client has finished sending.
fn echo_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut got = Vec::new();
            let _ = stream.read_to_end(&mut got);
            let _ = stream.write_all(&got);
        }
    });
    addr
}

#[test]
fn bytes_are_forwarded_unchanged_and_garbage_is_shown_as_such() {
    let upstream = echo_server();
    let (proxy, addr) = proxy(&upstream, &[]);
    let ask = amp_core::AmpBox::from_pairs([("_ask", "1"), ("_command", "Sum"), ("a", "1")])
        .to_bytes()
        .unwrap();
    let mut sent = ask.to_vec();
    sent.extend_from_slice(b"\x01\x02 not AMP at all \xff");
    sent.extend_from_slice(&(0..=255u8).collect::<Vec<_>>());
    let mut client = TcpStream::connect(&addr).unwrap();
    client.write_all(&sent).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    client.read_to_end(&mut back).unwrap();
    assert_eq!(back, sent, "the bytes came back exactly as sent");

    let log = proxy.lines_until("closed:");
    let events: Vec<&str> = log.iter().map(|l| event(l)).collect();
    assert_eq!(events[1], "C->S ask Sum tag=1 a=1");
    assert!(
        events[2].starts_with(&format!(
            "C->S unparseable at byte {}: key length prefix 0102 is over 255",
            ask.len()
        )),
        "{events:?}"
    );
    assert!(
        events[2].contains("b'\\x01\\x02 not AMP at all \\xff"),
        "{}",
        events[2]
    );
    // The echo brings the request back, then the same garbage.
    assert_eq!(events[3], "S->C ask Sum tag=1 a=1");
    assert!(
        events[4].starts_with("S->C unparseable at byte"),
        "{events:?}"
    );
    let total = sent.len();
    assert_eq!(
        *events.last().unwrap(),
        format!("closed: C->S {total} bytes, S->C {total} bytes")
    );
}

#[test]
fn an_unreachable_upstream_is_logged_and_the_proxy_goes_on() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (proxy, addr) = proxy(&format!("127.0.0.1:{port}"), &[]);
    for _ in 0..2 {
        let mut client = TcpStream::connect(&addr).unwrap();
        let mut rest = Vec::new();
        // The proxy drops the client: end of file.
        client.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
        let line = proxy.line();
        assert!(
            line.contains(&format!("cannot connect to 127.0.0.1:{port}")),
            "{line}"
        );
    }
}

#[test]
fn bad_command_lines_are_usage_errors() {
    for args in [
        &["proxy", "127.0.0.1:0"][..],
        &["proxy", "127.0.0.1", "127.0.0.1:1"],
        &[
            "proxy",
            "127.0.0.1:0",
            "127.0.0.1:1",
            "--schema",
            "/nonexistent/schema.toml",
        ],
    ] {
        let output = amp(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(!stderr(&output).is_empty());
    }
}
