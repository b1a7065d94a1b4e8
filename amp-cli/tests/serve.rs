//! `amp serve` answering a real Twisted client (`tests/data/twisted_caller.py`
//! on `interop/commands.py`), its log checked.
//!
//! The Python environment comes from `AMP_INTEROP_PYTHON`, or else from
//! `scripts/python-env.sh`; without it these tests fail, never skip.

mod common;

use common::{Running, amp, data, plain, run_python, schema, stderr};
use serde_json::Value;

fn serve(extra: &[&str]) -> (Running, u16) {
    let schema = schema();
    let answers = data("answers.toml").display().to_string();
    let mut args = vec![
        "serve",
        "127.0.0.1:0",
        "--schema",
        &schema,
        "--answers",
        &answers,
    ];
    args.extend_from_slice(extra);
    let server = Running::start(&args);
    let port = if extra.contains(&"--json") {
        let first: Value = serde_json::from_str(&server.line()).expect("JSON");
        let addr = first["listening"].as_str().expect("listening").to_owned();
        addr.rsplit_once(':').unwrap().1.parse().unwrap()
    } else {
        server.listening_port()
    };
    (server, port)
}

#[test]
fn twisted_gets_the_canned_answers() {
    let (server, port) = serve(&[]);
    let addr = format!("127.0.0.1:{port}");
    let out = run_python(
        &data("twisted_caller.py"),
        &[&addr, "Sum", "Divide", "EchoAmpList", "EchoLong", "Fatal"],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Sum answer {'total': 94}");
    assert_eq!(
        lines[1],
        "Divide error ZeroDivisionError float division by zero"
    );
    assert_eq!(
        lines[2],
        "EchoAmpList answer {'repr': 'canned', 'value': [{'name': 'one', 'items': [{'n': 1}], 'note': 'x'}]}"
    );
    assert!(
        lines[3].starts_with("EchoLong answer {'big': b'\\x00\\x00"),
        "{}",
        lines[3]
    );
    assert_eq!(lines[4], "Fatal error KeyError \"'x'\"");
    assert_eq!(lines[5], "done");

    let log = server.lines_until("closed");
    let log: Vec<&str> = log.iter().map(|l| l.split_once(' ').unwrap().1).collect();
    assert!(log.iter().all(|l| plain(l)), "{log:?}");
    let who = log[0]
        .strip_suffix(" connected")
        .expect("a connection first");
    let expected = [
        "Sum a=13 b=81".to_owned(),
        "Sum answer total=94".to_owned(),
        "Divide numerator=1 denominator=0".to_owned(),
        "Divide error ZERO_DIVISION: float division by zero".to_owned(),
    ];
    for (line, want) in log[1..5].iter().zip(&expected) {
        assert_eq!(*line, format!("{who} {want}"));
    }
    assert!(
        log[5].starts_with(&format!("{who} EchoAmpList value=[{{name: \"one\"")),
        "{}",
        log[5]
    );
    assert!(
        log.iter()
            .any(|l| l.ends_with("Fatal error FATAL_KEY: 'x'")),
        "{log:?}"
    );
    assert!(
        log.last()
            .unwrap()
            .contains("closed: connection closed after fatal error FATAL_KEY"),
        "{log:?}"
    );
}

#[test]
fn the_json_log_has_one_object_per_event() {
    let (server, port) = serve(&["--json"]);
    let addr = format!("127.0.0.1:{port}");
    run_python(&data("twisted_caller.py"), &[&addr, "Sum", "EchoInteger"]);
    let log: Vec<Value> = server
        .lines_until("\"closed\"")
        .iter()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let events: Vec<&str> = log.iter().map(|v| v["event"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        ["connected", "call", "answer", "call", "answer", "closed"]
    );
    assert_eq!(log[1]["command"], "Sum");
    assert_eq!(log[1]["arguments"], serde_json::json!({"a": 13, "b": 81}));
    assert_eq!(log[2]["answer"], serde_json::json!({"total": 94}));
    // EchoInteger is echoed: its value, and no `repr`, which Twisted then
    // misses (the log says so too).
    assert_eq!(log[3]["arguments"]["value"], "18446744073709551616");
    assert_eq!(
        log[4]["answer"]["repr"]["error"],
        "missing: Unicode is required"
    );
}

#[test]
fn amp_call_gets_the_canned_answers_too() {
    let (_server, port) = serve(&[]);
    let addr = format!("127.0.0.1:{port}");
    let schema = schema();
    let output = amp(&["call", "--schema", &schema, &addr, "Sum", "a=1", "b=2"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(common::stdout(&output), "total: 94\n");
    // Undeclared: UNHANDLED, as Twisted answers.
    let output = amp(&["call", &addr, "Nope"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(common::stdout(&output).starts_with("code: UNHANDLED\n"));
    // Arguments that do not decode: UNKNOWN, as Twisted answers.
    let output = amp(&["call", &addr, "Sum", "a=x", "b=1"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(common::stdout(&output).starts_with("code: UNKNOWN\n"));
}

#[test]
fn bad_answers_files_and_addresses_fail_in_one_line() {
    let schema = schema();
    let dir = std::env::temp_dir().join(format!("amp-serve-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("answers.toml");
    std::fs::write(&bad, "[Sum]\nanswer = { total = \"x\" }\n").unwrap();
    let bad = bad.display().to_string();
    let output = amp(&[
        "serve",
        "127.0.0.1:0",
        "--schema",
        &schema,
        "--answers",
        &bad,
    ]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("amp serve: Sum.answer.total: not a Integer"),
        "{err}"
    );

    let output = amp(&["serve", "tls:x:1", "--schema", &schema]);
    assert_eq!(output.status.code(), Some(2));
    // A port in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = amp(&["serve", &addr, "--schema", &schema]);
    assert_eq!(output.status.code(), Some(3));
    assert!(stderr(&output).starts_with(&format!("amp serve: cannot listen on {addr}: ")));
    std::fs::remove_dir_all(&dir).unwrap();
}
