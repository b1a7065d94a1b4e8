//! `unix:PATH` addresses: `amp call` and `amp bench` on a Twisted server
//! listening on a UNIX socket (`interop/server.py unix:PATH`), `amp proxy`
//! from TCP to it, and `amp serve` on a UNIX socket called by `amp call`.
//!
//! The Python environment comes from `AMP_INTEROP_PYTHON`, or else from
//! `scripts/python-env.sh`; without it these tests fail, never skip.

mod common;

use std::path::PathBuf;

use amp_conformance::interop::python::python;
use common::{PyServer, Running, amp, schema, stderr, stdout};

/// A socket path of this test's own, gone from the previous run.
fn socket(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("amp-cli-{}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

fn twisted_on_unix(name: &str) -> (PyServer, String) {
    let path = socket(name);
    let address = format!("unix:{}", path.display());
    let server = PyServer::start_at(python(), "server.py", &address);
    assert_eq!(
        server.listening, address,
        "server.py listens where it was told"
    );
    (server, address)
}

#[test]
fn call_reaches_twisted_on_a_unix_socket() {
    let (_server, address) = twisted_on_unix("call");
    let output = amp(&["call", &address, "Sum", "a=13", "b=81"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "total: 94\n");
}

#[test]
fn a_missing_socket_is_a_one_line_failure() {
    let path = socket("missing");
    let output = amp(&[
        "call",
        &format!("unix:{}", path.display()),
        "Sum",
        "a=1",
        "b=2",
    ]);
    assert_eq!(output.status.code(), Some(3), "{}", stdout(&output));
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot connect to unix:"), "{err}");
}

#[test]
fn bench_runs_against_twisted_on_a_unix_socket() {
    let (_server, address) = twisted_on_unix("bench");
    let output = amp(&[
        "bench", &address, "Sum", "a=1", "b=2", "-c", "4", "-n", "200", "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(stdout(&output).trim()).expect("JSON");
    assert_eq!(
        (&report["calls"], &report["ok"]),
        (&200.into(), &200.into()),
        "{report}"
    );
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
    assert_eq!(report["addr"], address.as_str(), "{report}");
}

#[test]
fn the_proxy_forwards_from_tcp_to_a_unix_socket() {
    let (_server, address) = twisted_on_unix("proxy");
    let proxy = Running::start(&["proxy", "127.0.0.1:0", &address]);
    let first = proxy.line();
    let listening = first
        .strip_prefix("listening on ")
        .and_then(|r| r.split(',').next())
        .unwrap_or_else(|| panic!("{first:?}"))
        .to_owned();
    assert!(
        first.contains(&format!("forwarding to {address}")),
        "{first}"
    );
    let output = amp(&["call", &listening, "Sum", "a=2", "b=3"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "total: 5\n");
    let seen = proxy.lines_until("answer");
    assert!(seen.iter().any(|l| l.contains("Sum")), "{seen:?}");
}

#[test]
fn serve_listens_on_a_unix_socket() {
    let path = socket("serve");
    let address = format!("unix:{}", path.display());
    let server = Running::start(&["serve", &address, "--schema", &schema()]);
    let first = server.line();
    assert!(
        first.starts_with(&format!("listening on {address}")),
        "{first}"
    );
    let output = amp(&["call", &address, "Sum", "a=13", "b=81"]);
    assert!(output.status.success(), "{}", stderr(&output));
    // Without an answers file, a command is answered with its arguments.
    assert_eq!(stdout(&output), "a: 13\nb: 81\n");
    let logged = server.lines_until("Sum");
    assert!(
        logged.last().is_some_and(|l| l.contains("Sum")),
        "{logged:?}"
    );
}
