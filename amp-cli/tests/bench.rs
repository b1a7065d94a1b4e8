//! `amp bench` against real Twisted (`interop/server.py`) and against the
//! Rust `ampserver` example's responders (Twisted's howto's `Sum` and
//! `Divide`, served here in-process on amp-tokio); short runs that stop by
//! themselves. The progress bar is checked on a pseudo-terminal made by
//! `script(1)`; piped, the output carries no escape codes and no bar.
//!
//! The Python environment comes from `AMP_INTEROP_PYTHON`, or else from
//! `scripts/python-env.sh`; without it the Twisted tests fail, never skip.

mod common;

use std::process::Command;

use common::{amp, plain, stderr, stdout, twisted};
use serde_json::Value;

/// The howto's server (the `ampserver` example's responders) on a free
/// port of 127.0.0.1, for the rest of the test process.
fn rust_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener: amp_tokio::TcpListener =
                tokio::net::TcpListener::from_std(listener).unwrap().into();
            let server = amp_tokio::Server::new(amp_tokio::Tokio, listener, |_| {
                amp_conformance::howto::responders()
            });
            let _ = server.run().await;
        });
    });
    addr
}

/// The report's `name  value` line's value.
fn field<'a>(report: &'a str, name: &str) -> &'a str {
    report
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(name).map(str::trim))
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

#[test]
fn a_short_run_against_twisted_reports_every_call() {
    let server = twisted();
    let addr = server.addr().to_string();
    let output = amp(&[
        "bench", &addr, "Sum", "a=13", "b=81", "-c", "8", "-n", "300",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report = stdout(&output);
    assert!(plain(&report) && plain(&stderr(&output)), "{report}");
    assert!(report.starts_with(&format!(
        "amp bench Sum on {addr}: 8 in flight over 1 connection\n"
    )));
    assert_eq!(field(&report, "calls"), "300");
    assert_eq!(field(&report, "answered"), "300");
    assert_eq!(field(&report, "errors"), "0");
    assert!(field(&report, "throughput").ends_with(" calls/s"));
    let mut last = 0.0;
    for name in ["p50", "p90", "p99", "p99.9", "max"] {
        let ms: f64 = field(&report, name).parse().unwrap();
        assert!(ms > 0.0 && ms >= last, "{name} {ms} in {report}");
        last = ms;
    }
    // No progress bar when standard error is not a terminal.
    assert_eq!(stderr(&output), "");
}

#[test]
fn errors_are_broken_down_by_code() {
    let server = twisted();
    let addr = server.addr().to_string();
    let output = amp(&[
        "bench",
        "--json",
        &addr,
        "Divide",
        "numerator=1",
        "denominator=0",
        "-c",
        "4",
        "-n",
        "50",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(report["calls"], 50);
    assert_eq!(report["ok"], 0);
    assert_eq!(report["errors"], serde_json::json!({"ZERO_DIVISION": 50}));
    assert_eq!(
        stderr(&output),
        "amp bench: 50 of 50 calls failed (most: ZERO_DIVISION, 50 times)\n"
    );
}

#[test]
fn a_run_against_the_rust_server_over_several_connections() {
    let addr = rust_server();
    let output = amp(&[
        "bench",
        "--json",
        &addr,
        "Sum",
        "a=13",
        "b=81",
        "-c",
        "64",
        "-n",
        "20000",
        "--connections",
        "3",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(report["calls"], 20000);
    assert_eq!(report["ok"], 20000);
    assert_eq!(report["connections"], 3);
    assert_eq!(report["errors"], serde_json::json!({}));
    assert!(report["rate"].as_f64().unwrap() > 0.0);
    let latency = &report["latency_ms"];
    for name in ["p50", "p90", "p99", "p99.9", "max", "min", "mean"] {
        assert!(latency[name].as_f64().unwrap() > 0.0, "{name}: {latency}");
    }
}

#[test]
fn a_timed_run_stops_by_itself() {
    let addr = rust_server();
    let started = std::time::Instant::now();
    let output = amp(&[
        "bench", "--json", &addr, "Sum", "a=1", "b=2", "-c", "16", "-d", "300ms",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert!(report["calls"].as_u64().unwrap() > 0);
    let seconds = report["seconds"].as_f64().unwrap();
    assert!((0.3..5.0).contains(&seconds), "{seconds}");
    assert!(started.elapsed().as_secs_f64() < 10.0);
}

#[test]
fn the_progress_bar_is_drawn_on_a_terminal() {
    let addr = rust_server();
    // script(1) runs the command on a pseudo-terminal and copies what it
    // wrote, escape codes included.
    let line = format!(
        "{} bench {addr} Sum a=1 b=2 -c 4 -d 700ms",
        env!("CARGO_BIN_EXE_amp")
    );
    let output = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .output()
        .expect("script(1) runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen = String::from_utf8_lossy(&output.stdout);
    assert!(seen.contains("calls, "), "no progress message: {seen:?}");
    assert!(seen.contains('='), "no bar: {seen:?}");
    assert!(
        seen.contains('\u{1b}'),
        "no escape codes on a terminal: {seen:?}"
    );
    assert!(seen.contains("throughput"), "{seen:?}");
}

#[test]
fn bad_command_lines_are_usage_errors() {
    for args in [
        &["bench", "127.0.0.1:1", "Sum"][..],
        &["bench", "127.0.0.1:1", "Sum", "-n", "1", "-d", "1s"],
        &["bench", "127.0.0.1:1", "Sum", "-n", "0"],
        &["bench", "127.0.0.1:1", "Sum", "-c", "0", "-n", "1"],
        &["bench", "127.0.0.1:1", "Sum", "-d", "1x"],
        &["bench", "127.0.0.1:1", "Sum", "a=1", "a=2", "-n", "1"],
        &["bench", "tls:x:1", "Sum", "-n", "1"],
    ] {
        let output = amp(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = amp(&["bench", &format!("127.0.0.1:{port}"), "Sum", "-n", "1"]);
    assert_eq!(output.status.code(), Some(3));
    assert!(stderr(&output).starts_with("amp bench: cannot connect to "));
}
