//! `amp call` against real Twisted peers: `interop/server.py` (Twisted's AMP
//! speaking the catalogue of `interop/COMMANDS.md`) and
//! `interop/route_server.py` (epsilon's amprouter guide).
//!
//! The Python environment comes from `AMP_INTEROP_PYTHON`, or else from
//! `scripts/python-env.sh` (which builds `.venv-interop` from PyPI on first
//! use). Without it these tests fail: they are never skipped.
//!
//! `--route` to a route the peer has bound from the start is called against
//! a Rust route server here: epsilon's guide binds its routes only on request.

use std::net::TcpListener;
use std::process::{Command, Output};

use amp_conformance::interop::python::{PyServer, python, python_importing};
use amp_core::router::Route;
use amp_core::{AmpBox, ResponderError};
use amp_tokio::{Options, Responders};
use bytes::Bytes;
use serde_json::Value;

/// Runs `amp` with `args` to its end.
fn amp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_amp"))
        .args(args)
        .output()
        .expect("amp runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("UTF-8 output")
}

/// Standard error is exactly one line.
fn one_line(output: &Output) -> String {
    let err = stderr(output);
    assert_eq!(err.lines().count(), 1, "not one line: {err:?}");
    err
}

fn twisted() -> PyServer {
    PyServer::start_with(python(), "server.py")
}

fn route_server() -> PyServer {
    PyServer::start_with(python_importing("epsilon.amprouter"), "route_server.py")
}

#[test]
fn sum_is_answered_by_twisted() {
    let server = twisted();
    let addr = server.addr().to_string();
    let output = amp(&["call", &addr, "Sum", "a=13", "b=81"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "total: 94\n");
    assert_eq!(stderr(&output), "");
}

#[test]
fn json_output_parses() {
    let server = twisted();
    let addr = server.addr().to_string();
    let output = amp(&["call", "--json", &addr, "Sum", "a=13", "b=81"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let answer: Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(
        answer,
        serde_json::json!({"ok": true, "answer": {"total": "94"}})
    );

    let output = amp(&["call", "--json", &addr, "NoSuchCommand"]);
    assert_eq!(output.status.code(), Some(1));
    let error: Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(error["ok"], false);
    assert_eq!(error["error"]["code"], "UNHANDLED");
}

#[test]
fn an_unknown_command_is_unhandled() {
    let server = twisted();
    let addr = server.addr().to_string();
    let output = amp(&["call", &addr, "NoSuchCommand", "x=1"]);
    assert_eq!(output.status.code(), Some(1));
    let out = stdout(&output);
    assert!(out.starts_with("code: UNHANDLED\ndescription: "), "{out}");
    let err = one_line(&output);
    assert!(
        err.starts_with("amp call: NoSuchCommand answered UNHANDLED: "),
        "{err}"
    );
}

#[test]
fn a_declared_error_is_shown_with_its_code() {
    let server = twisted();
    let addr = server.addr().to_string();
    let output = amp(&["call", &addr, "Divide", "numerator=1", "denominator=0"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).starts_with("code: ZERO_DIVISION\n"));
    one_line(&output);
}

#[test]
fn a_call_without_an_answer_in_time_times_out() {
    let server = twisted();
    let addr = server.addr().to_string();
    let output = amp(&["call", "--timeout", "0.5", &addr, "Hang"]);
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(
        one_line(&output),
        "amp call: calling Hang: no reply within 0.5 s\n"
    );
}

#[test]
fn a_refused_connection_is_one_line() {
    // A port nothing listens on: bound, then released.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let output = amp(&["call", &addr, "Sum", "a=1", "b=2"]);
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(stdout(&output), "");
    let err = one_line(&output);
    assert!(
        err.starts_with(&format!("amp call: cannot connect to {addr}: ")),
        "{err}"
    );
    assert!(err.to_lowercase().contains("refused"), "{err}");

    let output = amp(&["call", "--json", &addr, "Sum"]);
    let failure: Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(failure["ok"], false);
    assert!(
        failure["reason"]
            .as_str()
            .unwrap()
            .contains("cannot connect")
    );
}

#[test]
fn bad_arguments_are_usage_errors() {
    for args in [
        &["call", "127.0.0.1:1", "Sum", "a"][..],
        &["call", "127.0.0.1:1", "Sum", "=1"],
        &["call", "127.0.0.1:1", "Sum", "_ask=1"],
        &["call", "127.0.0.1:1", "Sum", "_command=Other"],
        &["call", "127.0.0.1:1", "Sum", "a=1", "a=2"],
        &["call", "127.0.0.1", "Sum"],
        &["call", "127.0.0.1:1", ""],
        &["call", "--timeout", "0", "127.0.0.1:1", "Sum"],
        &[
            "call",
            "--route",
            "0",
            "--open-route",
            "NewRoute",
            "127.0.0.1:1",
            "Count",
        ],
    ] {
        let output = amp(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(!stderr(&output).is_empty(), "{args:?}");
    }
}

#[test]
fn a_route_opened_on_epsilons_router_is_called_through() {
    let server = route_server();
    let addr = server.addr().to_string();
    let output = amp(&["call", "--open-route", "NewRoute", &addr, "Count"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "value: 1\n");

    let output = amp(&["call", "--json", "--open-route", "NewRoute", &addr, "Count"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let answer: Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(
        answer,
        serde_json::json!({"ok": true, "answer": {"value": "1"}})
    );
}

#[test]
fn a_route_epsilons_router_does_not_have_fails_in_one_line() {
    // epsilon drops a connection that names a route it has not bound.
    let server = route_server();
    let addr = server.addr().to_string();
    let output = amp(&["call", "--route", "7", &addr, "Count"]);
    assert_eq!(output.status.code(), Some(3));
    assert!(one_line(&output).starts_with("amp call: connection failed: "));
}

/// A Rust route server on a port of 127.0.0.1: each connection has a route
/// named `echo`, bound from the start and connected to the caller's route
/// `0` (amp call's own route), whose `Echo` answers its arguments.
fn rust_route_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = listener.local_addr().expect("bound");
    listener.set_nonblocking(true).expect("non-blocking");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            let mut connections = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                let router = amp_router::tokio::from_stream(stream, Options::default());
                let echo = Responders::new().raw_responder("Echo", |_, args: AmpBox| async move {
                    Ok::<_, ResponderError>(args)
                });
                let route = router
                    .bind(Route::named("echo"), echo)
                    .expect("a fresh router");
                route.connect_to(Some(Bytes::from_static(b"0")));
                connections.push((router, route));
            }
        });
    });
    addr
}

#[test]
fn a_named_route_is_called_through() {
    let addr = rust_route_server().to_string();
    let output = amp(&["call", "--route", "echo", &addr, "Echo", "text=hi", "n=1"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "text: hi\nn: 1\n");
}
