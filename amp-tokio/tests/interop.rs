//! Interoperability with real Twisted (26.10.0, from `interop/`): a Rust
//! client against Twisted's `server.py`, and Twisted's `client.py` against a
//! Rust server, both speaking the catalogue of `interop/COMMANDS.md`.
//!
//! The Python environment comes from `AMP_INTEROP_PYTHON`, or else from
//! `scripts/python-env.sh` (which builds `.venv-interop` from PyPI on first
//! use). Without it these tests fail: they are never skipped.

mod catalogue;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use amp_core::{AmpBox, CallError, CallFailure, ConnectionError};
use amp_tokio::Peer;
use bytes::Bytes;
use catalogue::twisted::*;
use catalogue::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The time any single step may take: a call, a close, a process start.
const STEP: Duration = Duration::from_secs(10);
/// How promptly a peer must close a connection it should close, and fail
/// calls pending on a dead connection (the Twisted client's `CLOSE_WITHIN`).
const CLOSE_WITHIN: Duration = Duration::from_secs(5);

// -- Connecting with tokio -----------------------------------------------------------

/// Awaits `future`, failing the test if it takes longer than `limit`.
async fn within<F: Future>(limit: Duration, what: &str, future: F) -> F::Output {
    match tokio::time::timeout(limit, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what}: no result within {limit:?}"),
    }
}

/// A new tokio connection to `server` answering the whole catalogue.
async fn connect(server: &PyServer) -> Peer {
    connect_with(server, catalogue::responders()).await
}

async fn connect_with(server: &PyServer, responders: amp_tokio::Responders) -> Peer {
    within(
        STEP,
        "connecting",
        amp_tokio::connect(server.addr(), responders),
    )
    .await
    .unwrap_or_else(|e| panic!("connecting to {}: {e}", server.addr()))
}

// -- Echo cases ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn every_echo_case_round_trips_through_twisted() {
    let server = PyServer::start("server.py");
    let peer = connect(&server).await;
    let (problems, handled, total) = within(
        Duration::from_secs(60),
        "the echo cases",
        check_every_echo_case(&peer),
    )
    .await;
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert_eq!(handled, total);
    assert!(!peer.is_closed(), "the echo connection closed");
}

#[tokio::test(flavor = "multi_thread")]
async fn echo_long_takes_the_longest_key_and_value() {
    assert_eq!(LONG_KEY.len(), 255);
    assert!(LONG_KEY.bytes().all(|b| b == b'k'));
    let server = PyServer::start("server.py");
    let peer = connect(&server).await;
    let long = Long {
        keyed: Bytes::from_static(b"under the longest key"),
        big: (0..65535).map(|i| (i % 256) as u8).collect(),
    };
    // The key really is the 255-byte one.
    let boxed = amp_core::ser::to_box(&long).unwrap();
    assert_eq!(boxed.get(LONG_KEY), Some(&b"under the longest key"[..]));
    let answer = within(STEP, "EchoLong", peer.call::<EchoLong>(&long))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer.keyed, long.keyed);
    assert_eq!(answer.big.len(), 65535);
    assert!(
        answer.big == long.big,
        "the 65535-byte value came back changed"
    );
}

// -- Arithmetic and errors -----------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn sum_and_divide_with_twisted() {
    let server = PyServer::start("server.py");
    let peer = connect(&server).await;
    let p64 = 1i128 << 64;
    let e30 = 10i128.pow(30);
    for (a, b) in [
        (13, 81),
        (0, 0),
        (-5, 3),
        (p64, e30),
        (-e30, 1),
        (i64::MAX as i128, i64::MAX as i128),
        (p64 - 1, 1),
        (-p64, -p64),
    ] {
        let total = within(STEP, "Sum", peer.call::<Sum>(&SumArgs { a, b }))
            .await
            .unwrap_or_else(|e| panic!("Sum({a}, {b}): {e}"))
            .unwrap();
        assert_eq!(total.total, a + b, "Sum({a}, {b})");
    }
    for (numerator, denominator, result) in [(5, 2, 2.5), (1234, 4, 308.5), (1, 3, 1.0 / 3.0)] {
        let q = within(
            STEP,
            "Divide",
            peer.call::<Divide>(&DivideArgs {
                numerator,
                denominator,
            }),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(q.result, result, "Divide({numerator}, {denominator})");
    }
    let e = within(
        STEP,
        "Divide by zero",
        peer.call::<Divide>(&DivideArgs {
            numerator: 1234,
            denominator: 0,
        }),
    )
    .await
    .unwrap_err();
    match e {
        CallError::Declared(DivideError::ZeroDivision(d)) => {
            assert_eq!(d, ZERO_DIVISION_DESCRIPTION)
        }
        other => panic!("Divide(1234, 0): expected ZERO_DIVISION, got {other:?}"),
    }
    // Not fatal: the connection goes on.
    let total = within(STEP, "Sum", peer.call::<Sum>(&SumArgs { a: 1, b: 2 }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(total.total, 3);
    assert!(!peer.is_closed());
}

#[tokio::test(flavor = "multi_thread")]
async fn fatal_declared_error_then_twisted_closes() {
    let server = PyServer::start("server.py");
    let peer = connect(&server).await;
    match within(STEP, "Fatal", peer.call::<Fatal>(&Empty {})).await {
        Err(CallError::Declared(FatalError::Key(d))) => assert_eq!(d, FATAL_KEY_DESCRIPTION),
        other => panic!("Fatal: expected FATAL_KEY, got {other:?}"),
    }
    assert_eq!(
        within(CLOSE_WITHIN, "closing after FATAL_KEY", peer.closed()).await,
        ConnectionError::PeerClosed
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn undeclared_error_is_unknown_then_twisted_closes() {
    let server = PyServer::start("server.py");
    let peer = connect(&server).await;
    match within(STEP, "Boom", peer.call::<Boom>(&Empty {})).await {
        Err(CallError::Remote(e)) => {
            assert_eq!(e.code, "UNKNOWN");
            assert_eq!(e.description, "Unknown Error");
        }
        other => panic!("Boom: expected UNKNOWN, got {other:?}"),
    }
    assert_eq!(
        within(CLOSE_WITHIN, "closing after UNKNOWN", peer.closed()).await,
        ConnectionError::PeerClosed
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_command_is_unhandled_and_not_fatal() {
    let server = PyServer::start("server.py");
    let peer = connect(&server).await;
    match within(
        STEP,
        "NoSuchCommand",
        peer.call_remote("NoSuchCommand", AmpBox::new()),
    )
    .await
    {
        Err(CallFailure::Remote(e)) => {
            assert_eq!(e.code, "UNHANDLED");
            assert_eq!(e.description, "Unhandled Command: b'NoSuchCommand'");
        }
        other => panic!("NoSuchCommand: expected UNHANDLED, got {other:?}"),
    }
    let total = within(STEP, "Sum", peer.call::<Sum>(&SumArgs { a: 40, b: 2 }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(total.total, 42);
    assert!(!peer.is_closed(), "the connection closed after UNHANDLED");
}

// -- Commands without an answer --------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn notify_without_answer_then_get_notified() {
    let server = PyServer::start("server.py");
    let peer = connect(&server).await;
    let texts = ["first", "zweite \u{fc}", "third \u{1f389}"];
    for text in texts {
        let sent = within(
            STEP,
            "Notify",
            peer.call::<Notify>(&Text { text: text.into() }),
        )
        .await;
        assert!(matches!(sent, Ok(None)), "Notify({text:?}): {sent:?}");
    }
    let got = within(STEP, "GetNotified", peer.call::<GetNotified>(&Empty {}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.texts, texts);
    // Another connection has its own, empty log.
    let other = connect(&server).await;
    let got = within(STEP, "GetNotified", other.call::<GetNotified>(&Empty {}))
        .await
        .unwrap()
        .unwrap();
    assert!(got.texts.is_empty(), "a fresh connection's log: {got:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn notify_fail_makes_twisted_close_without_a_word() {
    let server = PyServer::start("server.py");
    let peer = connect(&server).await;
    let sent = within(
        STEP,
        "NotifyFail",
        peer.call::<NotifyFail>(&Text {
            text: "fail".into(),
        }),
    )
    .await;
    assert!(matches!(sent, Ok(None)), "NotifyFail: {sent:?}");
    assert_eq!(
        within(CLOSE_WITHIN, "closing after NotifyFail", peer.closed()).await,
        ConnectionError::PeerClosed
    );

    // On a bare socket: Twisted writes nothing before it closes.
    let received = silent_close(&server.addr(), "NotifyFail").await;
    assert!(
        received.is_empty(),
        "Twisted wrote {} before closing",
        hex(&received)
    );
}

/// Sends `command` without `_ask` on a bare socket and returns every byte
/// the server writes until it closes the connection (which it must do
/// within `CLOSE_WITHIN`).
async fn silent_close(addr: &str, command: &str) -> Vec<u8> {
    let mut socket = within(STEP, "connecting", tokio::net::TcpStream::connect(addr))
        .await
        .unwrap();
    let request = AmpBox::from_pairs([
        ("_command", command.to_owned()),
        ("text", "fail".to_owned()),
    ]);
    socket
        .write_all(&request.to_bytes().unwrap())
        .await
        .unwrap();
    let mut received = Vec::new();
    within(
        CLOSE_WITHIN,
        &format!("{addr} closing after {command} without _ask"),
        socket.read_to_end(&mut received),
    )
    .await
    .unwrap_or_else(|e| panic!("{command} without _ask: {e}"));
    received
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_requests_without_ask_close_silently_on_both_servers() {
    let twisted = PyServer::start("server.py");
    let rust = amp_tokio::bind("127.0.0.1:0", |_| catalogue::responders())
        .await
        .unwrap();
    let rust_addr = rust.local_addr().unwrap().to_string();
    let stop = rust.shutdown_handle();
    let serving = tokio::spawn(rust.run());
    // NotifyFail's responder fails; NoSuchCommand has none (UNHANDLED with
    // nowhere to go): either way Twisted closes and writes nothing.
    for command in ["NotifyFail", "NoSuchCommand"] {
        let from_twisted = silent_close(&twisted.addr(), command).await;
        assert!(
            from_twisted.is_empty(),
            "Twisted wrote {} after {command} without _ask",
            hex(&from_twisted)
        );
        let from_rust = silent_close(&rust_addr, command).await;
        assert!(
            from_rust.is_empty(),
            "the Rust server wrote {} after {command} without _ask (Twisted writes nothing)",
            hex(&from_rust)
        );
    }
    within(STEP, "shutting the server down", stop.shutdown(STEP)).await;
    within(STEP, "the server stopping", serving)
        .await
        .unwrap()
        .unwrap();
}

// -- Concurrency and connection loss -----------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_sums_in_flight_during_a_storm() {
    let server = PyServer::start("server.py");
    let answered = Arc::new(AtomicUsize::new(0));
    let peer = connect_with(
        &server,
        catalogue::responders_counting_sums(answered.clone()),
    )
    .await;
    let count = 200i128;
    let big = 10i128.pow(20);
    let sums = futures_util::future::join_all(
        (0..count).map(|i| peer.call::<Sum>(&SumArgs { a: i, b: big + i })),
    );
    let storm = peer.call::<Storm>(&Count { count });
    let (sums, storm) = within(
        Duration::from_secs(15),
        "200 Sum calls and Storm(200)",
        async { tokio::join!(sums, storm) },
    )
    .await;
    for (i, answer) in sums.into_iter().enumerate() {
        let total = answer
            .unwrap_or_else(|e| panic!("Sum #{i}: {e}"))
            .unwrap()
            .total;
        assert_eq!(total, big + 2 * i as i128, "Sum #{i}");
    }
    let storm = storm.expect("Storm(200)").unwrap();
    assert_eq!(storm.total, 20100);
    assert_eq!(
        answered.load(Ordering::SeqCst),
        200,
        "Sum calls Twisted made back on us"
    );
    assert!(!peer.is_closed());
}

type Pending = Pin<Box<dyn Future<Output = Result<Option<Empty>, CallError<Infallible>>> + Send>>;

#[tokio::test(flavor = "multi_thread")]
async fn die_fails_every_pending_call() {
    let server = PyServer::start("server.py");
    let peer = connect(&server).await;
    // Five Hang calls, then Die, queued in that order.
    let mut calls: Vec<Pending> = (0..5)
        .map(|_| Box::pin(peer.call::<Hang>(&Empty {})) as Pending)
        .collect();
    calls.push(Box::pin(peer.call::<Die>(&Empty {})));
    let outcomes = within(
        CLOSE_WITHIN,
        "the pending calls failing after Die",
        futures_util::future::join_all(calls),
    )
    .await;
    for (n, outcome) in outcomes.into_iter().enumerate() {
        let name = if n < 5 {
            format!("Hang #{}", n + 1)
        } else {
            "Die".into()
        };
        assert!(
            matches!(outcome, Err(CallError::Connection(_))),
            "{name}: expected a connection error, got {outcome:?}"
        );
    }
    within(
        CLOSE_WITHIN,
        "the connection closing after Die",
        peer.closed(),
    )
    .await;
    assert!(peer.is_closed());
}

// -- Twisted's client against a Rust server ------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn twisted_client_scenarios_against_rust_server() {
    let python = python().to_path_buf();
    let client = repo_root().join("interop/client.py");

    let mut list = Command::new(&python);
    list.arg(&client).arg("--list").current_dir(repo_root());
    let listed = tokio::task::spawn_blocking(move || run_to_end(list, STEP))
        .await
        .unwrap()
        .expect("client.py --list");
    assert!(
        listed.status.is_some_and(|s| s.success()),
        "client.py --list: {}",
        describe(listed.status)
    );
    let scenarios = listed
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    assert!(scenarios > 0, "client.py --list printed no scenario");

    let server = amp_tokio::bind("127.0.0.1:0", |_| catalogue::responders())
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let stop = server.shutdown_handle();
    let serving = tokio::spawn(server.run());

    let mut run = Command::new(&python);
    run.arg(&client)
        .arg(addr.to_string())
        .current_dir(repo_root());
    // client.py limits itself to 120 s (and kills itself 15 s later).
    let ran = tokio::task::spawn_blocking(move || run_to_end(run, Duration::from_secs(150)))
        .await
        .unwrap()
        .expect("running client.py");
    let last = ran.stdout.lines().last().unwrap_or("");
    let want = format!("{scenarios} passed, 0 failed");
    assert!(
        ran.status.is_some_and(|s| s.success()) && last == want,
        "client.py against the Rust server: {}, last line {last:?} (expected {want:?}); its output:\n{}",
        describe(ran.status),
        ran.stdout
    );

    println!("client.py against the Rust server:\n{}", ran.stdout);
    within(STEP, "shutting the server down", stop.shutdown(STEP)).await;
    within(STEP, "the server stopping", serving)
        .await
        .unwrap()
        .unwrap();
}
