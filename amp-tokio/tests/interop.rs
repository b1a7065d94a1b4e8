//! Interoperability with real Twisted (26.10.0, from `interop/`): a Rust
//! client against Twisted's `server.py`, and Twisted's `client.py` against a
//! Rust server, both speaking the catalogue of `interop/COMMANDS.md`.
//!
//! The Python environment comes from `AMP_INTEROP_PYTHON`, or else from
//! `scripts/python-env.sh` (which builds `.venv-interop` from PyPI on first
//! use). Without it these tests fail: they are never skipped.

mod catalogue;

use std::convert::Infallible;
use std::fmt::Debug;
use std::future::Future;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, mpsc};
use std::time::{Duration, Instant};

use amp_core::values::{decode_value, encode_value};
use amp_core::{AmpBox, CallError, CallFailure, ConnectionError};
use amp_tokio::{Peer, Server};
use bytes::Bytes;
use catalogue::*;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The time any single step may take: a call, a close, a process start.
const STEP: Duration = Duration::from_secs(10);
/// How promptly a peer must close a connection it should close, and fail
/// calls pending on a dead connection (the Twisted client's `CLOSE_WITHIN`).
const CLOSE_WITHIN: Duration = Duration::from_secs(5);

// -- Python processes ----------------------------------------------------------------

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("amp-tokio lives in the workspace")
        .to_path_buf()
}

/// The python with Twisted: `AMP_INTEROP_PYTHON`, or the last line that
/// `scripts/python-env.sh` prints. Panics (fails the test) when neither
/// works.
fn python() -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(find_python) {
        Ok(path) => path,
        Err(why) => panic!("no Python with Twisted for the interoperability tests: {why}"),
    }
}

fn find_python() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("AMP_INTEROP_PYTHON").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.exists() {
            Ok(path)
        } else {
            Err(format!(
                "AMP_INTEROP_PYTHON={} does not exist",
                path.display()
            ))
        };
    }
    let script = repo_root().join("scripts/python-env.sh");
    let mut command = Command::new("bash");
    command.arg(&script).current_dir(repo_root());
    // Building the environment installs from PyPI: allow it some minutes.
    let run = run_to_end(command, Duration::from_secs(600))
        .map_err(|e| format!("running bash {}: {e}", script.display()))?;
    if !run.status.is_some_and(|s| s.success()) {
        return Err(format!(
            "bash {} failed ({}); set AMP_INTEROP_PYTHON to a python with Twisted 26.10.0",
            script.display(),
            describe(run.status)
        ));
    }
    let line = run.stdout.lines().last().unwrap_or("").trim();
    if line.is_empty() || !Path::new(line).exists() {
        return Err(format!(
            "bash {} printed no usable python path (last line {line:?})",
            script.display()
        ));
    }
    Ok(PathBuf::from(line))
}

/// What a finished (or timed out) process printed.
struct Run {
    /// `None` when the process was killed at the deadline.
    status: Option<ExitStatus>,
    stdout: String,
}

fn describe(status: Option<ExitStatus>) -> String {
    status.map_or_else(|| "killed at its deadline".into(), |s| s.to_string())
}

/// Runs `command` to its end (standard error inherited, standard output
/// collected), killing it at `deadline`.
fn run_to_end(mut command: Command, deadline: Duration) -> std::io::Result<Run> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stdout.read_to_end(&mut text);
        String::from_utf8_lossy(&text).into_owned()
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = reader.join().unwrap_or_default();
    Ok(Run { status, stdout })
}

/// A Python server from `interop/`, listening on a port of 127.0.0.1; killed
/// when dropped. Its standard input is a pipe kept open, so it also exits
/// when this process dies.
struct PyServer {
    child: Child,
    stdin: Option<ChildStdin>,
    port: u16,
}

impl PyServer {
    fn start(script: &str) -> PyServer {
        let path = repo_root().join("interop").join(script);
        let mut child = Command::new(python())
            .arg(&path)
            .arg("127.0.0.1:0")
            .current_dir(repo_root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut server = PyServer {
            child,
            stdin,
            port: 0,
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = String::new();
            let _ = tx.send(stdout.read_line(&mut line).map(|_| line));
            // Keep draining: ampserver.py prints a line per operation.
            let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => panic!("reading {script}'s standard output: {e}"),
            Err(_) => panic!("{script} printed no LISTENING line within 30 s"),
        };
        server.port = line
            .trim()
            .strip_prefix("LISTENING ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{script} printed {line:?}, not `LISTENING <port>`"));
        server
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A new connection answering the whole catalogue.
    async fn connect(&self) -> Peer {
        self.connect_with(catalogue::responders()).await
    }

    async fn connect_with(&self, responders: amp_tokio::Responders) -> Peer {
        within(
            STEP,
            "connecting",
            amp_tokio::connect(self.addr(), responders),
        )
        .await
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", self.addr()))
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Awaits `future`, failing the test if it takes longer than `limit`.
async fn within<F: Future>(limit: Duration, what: &str, future: F) -> F::Output {
    match tokio::time::timeout(limit, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what}: no result within {limit:?}"),
    }
}

// -- Echo cases ----------------------------------------------------------------------

/// One case of `interop/echo_cases.json`.
#[derive(Deserialize, Debug)]
struct Case {
    command: String,
    /// Python's repr of the value sent (for messages).
    value: String,
    /// The value's wire bytes as Twisted sends them; `None`: the key is absent.
    sent_hex: Option<String>,
    /// The wire bytes the echo must carry.
    echoed_hex: Option<String>,
    repr: String,
}

fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len() % 2 == 0, "odd hex {text:?}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digits"))
        .collect()
}

/// `text` cut to 60 characters, for messages.
fn short(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.into(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks one echo case of command `C` on `peer`; returns what went wrong.
async fn check_echo<C: Echo>(peer: &Peer, case: &Case) -> Vec<String>
where
    C::Value: Debug,
{
    let name = format!("{} {}", C::NAME, short(&case.value));
    let (Some(sent_hex), Some(echoed_hex)) = (&case.sent_hex, &case.echoed_hex) else {
        return vec![format!("{name}: the case has no bytes")];
    };
    let (sent, echoed) = (unhex(sent_hex), unhex(echoed_hex));
    let mut problems = Vec::new();
    let value: C::Value = match decode_value(&sent) {
        Ok(value) => value,
        Err(e) => {
            return vec![format!(
                "{name}: Twisted's bytes {sent_hex} do not decode: {e}"
            )];
        }
    };
    match encode_value(&value) {
        Ok(ours) if ours[..] == echoed[..] => {}
        Ok(ours) => problems.push(format!(
            "{name}: we encode {value:?} as {}, Twisted as {echoed_hex}",
            hex(&ours)
        )),
        Err(e) => problems.push(format!("{name}: {value:?} does not encode: {e}")),
    }
    let ours = value.py_repr();
    if ours != case.repr {
        problems.push(format!(
            "{name}: our repr {ours:?}, Twisted's {:?}",
            case.repr
        ));
    }
    let args = EchoArgs { value };
    match within(STEP, &name, peer.call::<C>(&args)).await {
        Ok(Some(answer)) => {
            if !answer.value.same(&args.value) {
                problems.push(format!(
                    "{name}: sent {:?}, echoed {:?}",
                    args.value, answer.value
                ));
            }
            match encode_value(&answer.value) {
                Ok(again) if again[..] == echoed[..] => {}
                Ok(again) => problems.push(format!(
                    "{name}: the echo re-encodes as {}, not {echoed_hex}",
                    hex(&again)
                )),
                Err(e) => problems.push(format!("{name}: the echo does not re-encode: {e}")),
            }
            if answer.repr != case.repr {
                problems.push(format!(
                    "{name}: Twisted read our bytes as {:?}, expected {:?}",
                    answer.repr, case.repr
                ));
            }
        }
        Ok(None) => problems.push(format!("{name}: no answer")),
        Err(e) => problems.push(format!("{name}: the call failed: {e}")),
    }
    problems
}

/// Checks one EchoOptional case (`sent_hex` null: no `value` key).
async fn check_optional(peer: &Peer, case: &Case) -> Vec<String> {
    let name = format!("EchoOptional {}", short(&case.value));
    let mut problems = Vec::new();
    let value: Option<String> = match &case.sent_hex {
        None => None,
        Some(sent_hex) => match decode_value(&unhex(sent_hex)) {
            Ok(value) => Some(value),
            Err(e) => {
                return vec![format!(
                    "{name}: Twisted's bytes {sent_hex} do not decode: {e}"
                )];
            }
        },
    };
    let echoed = case.echoed_hex.as_deref().map(unhex);
    if value.py_repr() != case.repr {
        problems.push(format!(
            "{name}: our repr {:?}, Twisted's {:?}",
            value.py_repr(),
            case.repr
        ));
    }
    let args = OptionalArgs { value };
    match within(STEP, &name, peer.call::<EchoOptional>(&args)).await {
        Ok(Some(answer)) => {
            if answer.present != args.value.is_some() {
                problems.push(format!("{name}: present = {}", answer.present));
            }
            if !answer.value.same(&args.value) {
                problems.push(format!("{name}: echoed {:?}", answer.value));
            }
            let again = answer
                .value
                .as_ref()
                .map(|v| encode_value(v).unwrap().to_vec());
            if again != echoed {
                problems.push(format!(
                    "{name}: the echo re-encodes as {again:?}, not {echoed:?}"
                ));
            }
            if answer.repr != case.repr {
                problems.push(format!(
                    "{name}: Twisted read our bytes as {:?}, expected {:?}",
                    answer.repr, case.repr
                ));
            }
        }
        Ok(None) => problems.push(format!("{name}: no answer")),
        Err(e) => problems.push(format!("{name}: the call failed: {e}")),
    }
    problems
}

#[tokio::test(flavor = "multi_thread")]
async fn every_echo_case_round_trips_through_twisted() {
    let text = std::fs::read_to_string(repo_root().join("interop/echo_cases.json"))
        .expect("interop/echo_cases.json");
    let cases: Vec<Case> = serde_json::from_str(&text).expect("echo_cases.json parses");
    assert!(!cases.is_empty());
    let server = PyServer::start("server.py");
    let peer = server.connect().await;
    let mut problems = Vec::new();
    let mut handled = 0;
    for case in &cases {
        let found = match case.command.as_str() {
            "EchoInteger" => check_echo::<EchoInteger>(&peer, case).await,
            "EchoString" => check_echo::<EchoString>(&peer, case).await,
            "EchoUnicode" => check_echo::<EchoUnicode>(&peer, case).await,
            "EchoBoolean" => check_echo::<EchoBoolean>(&peer, case).await,
            "EchoFloat" => check_echo::<EchoFloat>(&peer, case).await,
            "EchoDecimal" => check_echo::<EchoDecimal>(&peer, case).await,
            "EchoDateTime" => check_echo::<EchoDateTime>(&peer, case).await,
            "EchoListOfInteger" => check_echo::<EchoListOfInteger>(&peer, case).await,
            "EchoListOfUnicode" => check_echo::<EchoListOfUnicode>(&peer, case).await,
            "EchoListOfString" => check_echo::<EchoListOfString>(&peer, case).await,
            "EchoListOfBoolean" => check_echo::<EchoListOfBoolean>(&peer, case).await,
            "EchoAmpList" => check_echo::<EchoAmpList>(&peer, case).await,
            "EchoPath" => check_echo::<EchoPath>(&peer, case).await,
            "EchoOptional" => check_optional(&peer, case).await,
            other => vec![format!("unknown echo command {other}")],
        };
        handled += 1;
        problems.extend(found);
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert_eq!(handled, cases.len());
    assert!(!peer.is_closed(), "the echo connection closed");
}

#[tokio::test(flavor = "multi_thread")]
async fn echo_long_takes_the_longest_key_and_value() {
    assert_eq!(LONG_KEY.len(), 255);
    assert!(LONG_KEY.bytes().all(|b| b == b'k'));
    let server = PyServer::start("server.py");
    let peer = server.connect().await;
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
    let peer = server.connect().await;
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
    let peer = server.connect().await;
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
    let peer = server.connect().await;
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
    let peer = server.connect().await;
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
    let peer = server.connect().await;
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
    let other = server.connect().await;
    let got = within(STEP, "GetNotified", other.call::<GetNotified>(&Empty {}))
        .await
        .unwrap()
        .unwrap();
    assert!(got.texts.is_empty(), "a fresh connection's log: {got:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn notify_fail_makes_twisted_close_without_a_word() {
    let server = PyServer::start("server.py");
    let peer = server.connect().await;
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
    let rust = Server::bind("127.0.0.1:0", |_| catalogue::responders())
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
    let peer = server
        .connect_with(catalogue::responders_counting_sums(answered.clone()))
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
    let peer = server.connect().await;
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

    let server = Server::bind("127.0.0.1:0", |_| catalogue::responders())
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
