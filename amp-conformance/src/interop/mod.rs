//! Interoperability with real Twisted (26.10.0, from `interop/`), for every
//! runtime binding: a Rust client against Twisted's `server.py`, and
//! Twisted's `client.py` against a Rust server, both speaking the catalogue
//! of `interop/COMMANDS.md` ([`crate::catalogue`]).
//!
//! A binding's test expands [`interop_suite!`](crate::interop_suite) with
//! its [`Runtime`], as for the conformance suite; each scenario starts the
//! Python peer it needs ([`python::PyServer`], [`python::run_to_end`]). The
//! Python environment comes from `AMP_INTEROP_PYTHON`, or else from
//! `scripts/python-env.sh`; without it the scenarios fail: they are never
//! skipped.

pub mod echo;
pub mod python;
#[cfg(unix)]
pub mod transports;

use std::convert::Infallible;
use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::pin::Pin;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use amp_core::{AmpBox, CallError, ConnectionError};
use bytes::Bytes;
use futures_util::future::{join, join_all};

use crate::catalogue::{
    self, Boom, Count, Die, Divide, DivideArgs, DivideError, EchoLong, Empty,
    FATAL_KEY_DESCRIPTION, Fatal, FatalError, GetNotified, Hang, LONG_KEY, Long, Notify,
    NotifyFail, Storm, Sum, SumArgs, Text, ZERO_DIVISION_DESCRIPTION,
};
use crate::{Options, Peer, Responders, Runtime, blocking, within_for};
use echo::{check_every_echo_case, hex};
use python::{PyServer, describe, python, repo_root, run_to_end};

/// The time any single step may take: a call, a close, a process start.
pub const STEP: Duration = Duration::from_secs(10);
/// How promptly a peer must close a connection it should close, and fail
/// calls pending on a dead connection (the Twisted client's `CLOSE_WITHIN`).
pub const CLOSE_WITHIN: Duration = Duration::from_secs(5);

/// How long one interop scenario may take (Twisted's `client.py` gives
/// itself 120 s, and is killed at 150 s).
pub const DEADLINE: Duration = Duration::from_secs(300);

/// Starts `interop/<script>` off the runtime (it blocks until the script
/// listens).
async fn start(script: &'static str) -> PyServer {
    blocking(move || PyServer::start(script)).await
}

/// A new connection to `server` answering the whole catalogue.
async fn connect<R: Runtime>(rt: &R, server: &PyServer) -> Peer {
    connect_with(rt, server, catalogue::responders()).await
}

async fn connect_with<R: Runtime>(rt: &R, server: &PyServer, responders: Responders) -> Peer {
    within_for(
        rt,
        STEP,
        "connecting",
        rt.connect(server.addr(), responders, Options::default()),
    )
    .await
    .unwrap_or_else(|e| panic!("connecting to {}: {e}", server.addr()))
}

// -- Echo cases -----------------------------------------------------------------

/// Every case of `interop/echo_cases.json` round-trips through Twisted's
/// server: our encoding is Twisted's, and Twisted reads ours as it reads its
/// own.
pub async fn every_echo_case_round_trips_through_twisted<R: Runtime>(rt: R) {
    let server = start("server.py").await;
    let peer = connect(&rt, &server).await;
    let (problems, handled, total) = within_for(
        &rt,
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

/// `EchoLong` carries a value under the longest key AMP allows (255 bytes)
/// and the longest value (65535 bytes), unchanged.
pub async fn echo_long_takes_the_longest_key_and_value<R: Runtime>(rt: R) {
    assert_eq!(LONG_KEY.len(), 255);
    assert!(LONG_KEY.bytes().all(|b| b == b'k'));
    let server = start("server.py").await;
    let peer = connect(&rt, &server).await;
    let long = Long {
        keyed: Bytes::from_static(b"under the longest key"),
        big: (0..65535).map(|i| (i % 256) as u8).collect(),
    };
    // The key really is the 255-byte one.
    let boxed = amp_core::ser::to_box(&long).unwrap();
    assert_eq!(boxed.get(LONG_KEY), Some(&b"under the longest key"[..]));
    let answer = within_for(&rt, STEP, "EchoLong", peer.call_as::<EchoLong>(&long))
        .await
        .unwrap();
    assert_eq!(answer.keyed, long.keyed);
    assert_eq!(answer.big.len(), 65535);
    assert!(
        answer.big == long.big,
        "the 65535-byte value came back changed"
    );
}

// -- Arithmetic and errors ------------------------------------------------------

/// `Sum` beyond 64 bits, `Divide`, and the declared `ZERO_DIVISION` with
/// Python's description, after which the connection goes on.
pub async fn sum_and_divide_with_twisted<R: Runtime>(rt: R) {
    let server = start("server.py").await;
    let peer = connect(&rt, &server).await;
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
        let total = within_for(&rt, STEP, "Sum", peer.call_as::<Sum>(&SumArgs { a, b }))
            .await
            .unwrap_or_else(|e| panic!("Sum({a}, {b}): {e}"));
        assert_eq!(total.total, a + b, "Sum({a}, {b})");
    }
    for (numerator, denominator, result) in [
        (5, 2, 2.5),
        (10, 4, 2.5),
        (1234, 4, 308.5),
        (1, 3, 1.0 / 3.0),
    ] {
        let q = within_for(
            &rt,
            STEP,
            "Divide",
            peer.call_as::<Divide>(&DivideArgs {
                numerator,
                denominator,
            }),
        )
        .await
        .unwrap();
        assert_eq!(q.result, result, "Divide({numerator}, {denominator})");
    }
    for numerator in [1234, 1] {
        let e = within_for(
            &rt,
            STEP,
            "Divide by zero",
            peer.call_as::<Divide>(&DivideArgs {
                numerator,
                denominator: 0,
            }),
        )
        .await
        .unwrap_err();
        match e {
            CallError::Declared(DivideError::ZeroDivision(d)) => {
                assert_eq!(d, ZERO_DIVISION_DESCRIPTION)
            }
            other => panic!("Divide({numerator}, 0): expected ZERO_DIVISION, got {other:?}"),
        }
    }
    // Not fatal: the connection goes on.
    let total = within_for(
        &rt,
        STEP,
        "Sum",
        peer.call_as::<Sum>(&SumArgs { a: 1, b: 2 }),
    )
    .await
    .unwrap();
    assert_eq!(total.total, 3);
    assert!(!peer.is_closed());
}

/// A declared fatal error arrives as that error, then Twisted closes.
pub async fn fatal_declared_error_then_twisted_closes<R: Runtime>(rt: R) {
    let server = start("server.py").await;
    let peer = connect(&rt, &server).await;
    match within_for(&rt, STEP, "Fatal", peer.call_as::<Fatal>(&Empty {})).await {
        Err(CallError::Declared(FatalError::Key(d))) => assert_eq!(d, FATAL_KEY_DESCRIPTION),
        other => panic!("Fatal: expected FATAL_KEY, got {other:?}"),
    }
    assert_eq!(
        within_for(&rt, CLOSE_WITHIN, "closing after FATAL_KEY", peer.closed()).await,
        ConnectionError::PeerClosed
    );
}

/// An undeclared failure arrives as `UNKNOWN` / `Unknown Error`, then
/// Twisted closes.
pub async fn undeclared_error_is_unknown_then_twisted_closes<R: Runtime>(rt: R) {
    let server = start("server.py").await;
    let peer = connect(&rt, &server).await;
    match within_for(&rt, STEP, "Boom", peer.call_as::<Boom>(&Empty {})).await {
        Err(CallError::Remote(e)) => {
            assert_eq!(e.code, "UNKNOWN");
            assert_eq!(e.description, "Unknown Error");
        }
        other => panic!("Boom: expected UNKNOWN, got {other:?}"),
    }
    assert_eq!(
        within_for(&rt, CLOSE_WITHIN, "closing after UNKNOWN", peer.closed()).await,
        ConnectionError::PeerClosed
    );
}

/// A command Twisted's server does not know is `UNHANDLED`, with Twisted's
/// description, and the connection goes on.
pub async fn unknown_command_is_unhandled_and_not_fatal<R: Runtime>(rt: R) {
    let server = start("server.py").await;
    let peer = connect(&rt, &server).await;
    match within_for(
        &rt,
        STEP,
        "NoSuchCommand",
        peer.call_remote("NoSuchCommand", AmpBox::new()),
    )
    .await
    {
        Err(CallError::Remote(e)) => {
            assert_eq!(e.code, "UNHANDLED");
            assert_eq!(e.description, "Unhandled Command: b'NoSuchCommand'");
        }
        other => panic!("NoSuchCommand: expected UNHANDLED, got {other:?}"),
    }
    let total = within_for(
        &rt,
        STEP,
        "Sum",
        peer.call_as::<Sum>(&SumArgs { a: 40, b: 2 }),
    )
    .await
    .unwrap();
    assert_eq!(total.total, 42);
    assert!(!peer.is_closed(), "the connection closed after UNHANDLED");
}

// -- Commands without an answer ---------------------------------------------------

/// `Notify` calls return once sent; Twisted's log of them (per connection)
/// holds them in order.
pub async fn notify_without_answer_then_get_notified<R: Runtime>(rt: R) {
    let server = start("server.py").await;
    let peer = connect(&rt, &server).await;
    let texts = ["first", "zweite \u{fc}", "third \u{1f389}"];
    for text in texts {
        let sent = within_for(
            &rt,
            STEP,
            "Notify",
            peer.notify_as::<Notify>(&Text { text: text.into() }),
        )
        .await;
        assert!(matches!(sent, Ok(())), "Notify({text:?}): {sent:?}");
    }
    let got = within_for(
        &rt,
        STEP,
        "GetNotified",
        peer.call_as::<GetNotified>(&Empty {}),
    )
    .await
    .unwrap();
    assert_eq!(got.texts, texts);
    // Another connection has its own, empty log.
    let other = connect(&rt, &server).await;
    let got = within_for(
        &rt,
        STEP,
        "GetNotified",
        other.call_as::<GetNotified>(&Empty {}),
    )
    .await
    .unwrap();
    assert!(got.texts.is_empty(), "a fresh connection's log: {got:?}");
}

/// A `NotifyFail` (no answer wanted) whose responder fails makes Twisted
/// close the connection, writing nothing.
pub async fn notify_fail_makes_twisted_close_without_a_word<R: Runtime>(rt: R) {
    let server = start("server.py").await;
    let peer = connect(&rt, &server).await;
    let sent = within_for(
        &rt,
        STEP,
        "NotifyFail",
        peer.notify_as::<NotifyFail>(&Text {
            text: "fail".into(),
        }),
    )
    .await;
    assert!(matches!(sent, Ok(())), "NotifyFail: {sent:?}");
    assert_eq!(
        within_for(&rt, CLOSE_WITHIN, "closing after NotifyFail", peer.closed()).await,
        ConnectionError::PeerClosed
    );

    // On a bare socket: Twisted writes nothing before it closes.
    let received = silent_close(&rt, server.addr(), "NotifyFail").await;
    assert!(
        received.is_empty(),
        "Twisted wrote {} before closing",
        hex(&received)
    );
}

/// Sends `command` without `_ask` on a bare socket and returns every byte
/// the server writes until it closes the connection (which it must do
/// within [`CLOSE_WITHIN`]).
async fn silent_close<R: Runtime>(rt: &R, addr: SocketAddr, command: &'static str) -> Vec<u8> {
    let request = AmpBox::from_pairs([
        ("_command", command.to_owned()),
        ("text", "fail".to_owned()),
    ]);
    let bytes = request.to_bytes().unwrap();
    let read = blocking(move || {
        let mut socket = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connecting: {e}"));
        socket.write_all(&bytes).unwrap();
        socket.set_read_timeout(Some(CLOSE_WITHIN)).unwrap();
        let mut received = Vec::new();
        socket.read_to_end(&mut received).map(|_| received)
    });
    within_for(
        rt,
        CLOSE_WITHIN,
        &format!("{addr} closing after {command} without _ask"),
        read,
    )
    .await
    .unwrap_or_else(|e| panic!("{addr} closing after {command} without _ask: {e}"))
}

/// Requests without `_ask` that fail (a failing responder, or no responder
/// at all) make Twisted's server and ours close the connection silently.
pub async fn failing_requests_without_ask_close_silently_on_both_servers<R: Runtime>(rt: R) {
    let twisted = start("server.py").await;
    let rust = rt
        .serve(Arc::new(|_| catalogue::responders()), Options::default())
        .await
        .unwrap();
    // NotifyFail's responder fails; NoSuchCommand has none (UNHANDLED with
    // nowhere to go): either way Twisted closes and writes nothing.
    for command in ["NotifyFail", "NoSuchCommand"] {
        let from_twisted = silent_close(&rt, twisted.addr(), command).await;
        assert!(
            from_twisted.is_empty(),
            "Twisted wrote {} after {command} without _ask",
            hex(&from_twisted)
        );
        let from_rust = silent_close(&rt, rust.addr, command).await;
        assert!(
            from_rust.is_empty(),
            "the Rust server wrote {} after {command} without _ask (Twisted writes nothing)",
            hex(&from_rust)
        );
    }
    within_for(
        &rt,
        STEP,
        "shutting the server down",
        rust.stop.shutdown(STEP),
    )
    .await;
    within_for(&rt, STEP, "the server stopping", rust.running)
        .await
        .unwrap();
}

// -- Concurrency and connection loss ----------------------------------------------

/// 200 `Sum` calls in flight while Twisted's `Storm(200)` calls `Sum` back
/// on us 200 times: every answer right, every callback answered.
pub async fn two_hundred_sums_in_flight_during_a_storm<R: Runtime>(rt: R) {
    let server = start("server.py").await;
    let answered = Arc::new(AtomicUsize::new(0));
    let peer = connect_with(
        &rt,
        &server,
        catalogue::responders_counting_sums(answered.clone()),
    )
    .await;
    let count = 200i128;
    let big = 10i128.pow(20);
    let sums = join_all((0..count).map(|i| peer.call_as::<Sum>(&SumArgs { a: i, b: big + i })));
    let storm = peer.call_as::<Storm>(&Count { count });
    let (sums, storm) = within_for(
        &rt,
        Duration::from_secs(15),
        "200 Sum calls and Storm(200)",
        join(sums, storm),
    )
    .await;
    for (i, answer) in sums.into_iter().enumerate() {
        let total = answer.unwrap_or_else(|e| panic!("Sum #{i}: {e}")).total;
        assert_eq!(total, big + 2 * i as i128, "Sum #{i}");
    }
    let storm = storm.expect("Storm(200)");
    assert_eq!(storm.total, 20100);
    assert_eq!(
        answered.load(Ordering::SeqCst),
        200,
        "Sum calls Twisted made back on us"
    );
    assert!(!peer.is_closed());
}

type Pending = Pin<Box<dyn Future<Output = Result<Empty, CallError<Infallible>>> + Send>>;

/// Twisted's `Die` aborts the connection: the five `Hang` calls before it,
/// and `Die` itself, fail with a connection error.
pub async fn die_fails_every_pending_call<R: Runtime>(rt: R) {
    let server = start("server.py").await;
    let peer = connect(&rt, &server).await;
    // Five Hang calls, then Die, queued in that order.
    let mut calls: Vec<Pending> = (0..5)
        .map(|_| Box::pin(peer.call_as::<Hang>(&Empty {})) as Pending)
        .collect();
    calls.push(Box::pin(peer.call_as::<Die>(&Empty {})));
    let outcomes = within_for(
        &rt,
        CLOSE_WITHIN,
        "the pending calls failing after Die",
        join_all(calls),
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
    within_for(
        &rt,
        CLOSE_WITHIN,
        "the connection closing after Die",
        peer.closed(),
    )
    .await;
    assert!(peer.is_closed());
}

// -- Twisted's client against a Rust server -----------------------------------------

/// Every scenario of Twisted's `client.py` passes against a Rust server of
/// the catalogue.
pub async fn twisted_client_scenarios_against_rust_server<R: Runtime>(rt: R) {
    let python = python().to_path_buf();
    let client = repo_root().join("interop/client.py");

    let mut list = Command::new(&python);
    list.arg(&client).arg("--list").current_dir(repo_root());
    let listed = blocking(move || run_to_end(list, STEP))
        .await
        .expect("client.py --list");
    assert!(
        listed.status.is_some_and(|s| s.success()),
        "client.py --list: {}\n{}",
        describe(listed.status),
        listed.stderr
    );
    let scenarios = listed
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    assert!(scenarios > 0, "client.py --list printed no scenario");

    let server = rt
        .serve(Arc::new(|_| catalogue::responders()), Options::default())
        .await
        .unwrap();

    let mut run = Command::new(&python);
    run.arg(&client)
        .arg(server.addr.to_string())
        .current_dir(repo_root());
    // client.py limits itself to 120 s (and kills itself 15 s later).
    let ran = blocking(move || run_to_end(run, Duration::from_secs(150)))
        .await
        .expect("running client.py");
    let last = ran.stdout.lines().last().unwrap_or("");
    let want = format!("{scenarios} passed, 0 failed");
    assert!(
        ran.status.is_some_and(|s| s.success()) && last == want,
        "client.py against the Rust server: {}, last line {last:?} (expected {want:?}); its output:\n{}\n{}",
        describe(ran.status),
        ran.stdout,
        ran.stderr
    );

    println!("client.py against the Rust server:\n{}", ran.stdout);
    within_for(
        &rt,
        STEP,
        "shutting the server down",
        server.stop.shutdown(STEP),
    )
    .await;
    within_for(&rt, STEP, "the server stopping", server.running)
        .await
        .unwrap();
}

/// Expands to one `#[test]` per scenario of [`crate::interop`], each
/// running on the runtime `$make` evaluates to, as [`crate::suite!`] does
/// (with [`DEADLINE`] for each).
///
/// ```text
/// amp_conformance::interop_suite!(MyRuntime::default());
/// ```
#[macro_export]
macro_rules! interop_suite {
    ($make:expr) => {
        $crate::interop_suite!(@tests $make;
            every_echo_case_round_trips_through_twisted,
            echo_long_takes_the_longest_key_and_value,
            sum_and_divide_with_twisted,
            fatal_declared_error_then_twisted_closes,
            undeclared_error_is_unknown_then_twisted_closes,
            unknown_command_is_unhandled_and_not_fatal,
            notify_without_answer_then_get_notified,
            notify_fail_makes_twisted_close_without_a_word,
            failing_requests_without_ask_close_silently_on_both_servers,
            two_hundred_sums_in_flight_during_a_storm,
            die_fails_every_pending_call,
            twisted_client_scenarios_against_rust_server,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::run_within(
                    stringify!($name),
                    $crate::interop::DEADLINE,
                    move || $make,
                    $crate::interop::$name,
                );
            }
        )*
    };
}
