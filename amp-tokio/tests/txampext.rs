//! txampext's command-level features against real Twisted with the Python 3
//! port of txampext (`interop/txampext/`), both ways: constrained arguments
//! (refused locally when written, refused with `UNKNOWN` and a closed
//! connection when read), nested boxes, and error codes made from type
//! names. The commands are `interop/txampext_commands.py`'s.
//!
//! The Python comes from `AMP_INTEROP_PYTHON`, or else from
//! `scripts/python-env.sh`. Without it these tests fail: they are never
//! skipped.

use std::time::Duration;

use amp_conformance::interop::python::{PROCESS_LIMIT, PyServer, describe, python, run_to_end};
use amp_core::values::{Constrained, NestedBox, ValueErrorKind};
use amp_core::{AmpBox, CallError, Command, ConnectionError, command_errors};
use amp_tokio::{Context, Responders};
use serde::{Deserialize, Serialize};

amp_core::in_set!(
    /// txampext_commands.py's `inSet(COLOURS)`.
    pub Colour: &str = ["red", "green", "blue"]
);
amp_core::predicate!(
    /// txampext_commands.py's `positive`.
    pub Positive: i64 = |n| *n > 0
);
amp_core::predicate!(
    /// txampext_commands.py's `even`.
    pub Even: i64 = |n| n % 2 == 0
);
amp_core::not_in_set!(
    /// txampext_commands.py's `notInSet({"root"})`.
    pub NotRoot: &str = ["root"]
);

#[derive(Serialize, Deserialize, Debug)]
struct PaintArgs {
    colour: Constrained<String, Colour>,
    coats: Constrained<i64, (Positive, Even)>,
    painter: Constrained<String, NotRoot>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Receipt {
    receipt: String,
}

struct Paint;
impl Command for Paint {
    const NAME: &'static str = "Paint";
    type Arguments = PaintArgs;
    type Response = Receipt;
    type Error = std::convert::Infallible;
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Point {
    x: i64,
    y: i64,
    label: String,
}

#[derive(Serialize, Deserialize, Debug)]
struct MoveArgs {
    to: NestedBox<Point>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Landed {
    landed: NestedBox<Point>,
}

struct Move;
impl Command for Move {
    const NAME: &'static str = "Move";
    type Arguments = MoveArgs;
    type Response = Landed;
    type Error = std::convert::Infallible;
}

command_errors! {
    /// txampext_commands.py's `dict([NoSuchFactory.asAMP(), ConnectionRefused.asAMP()])`,
    /// codes made from the names as txampext makes them.
    #[derive(PartialEq)]
    pub enum ConnectError {
        /// No factory by that name.
        NoSuchFactory,
        /// The factory refused.
        ConnectionRefused,
    }
}

#[derive(Serialize, Deserialize, Debug)]
struct ConnectArgs {
    factory: String,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Connected {
    connection: String,
}

struct Connect;
impl Command for Connect {
    const NAME: &'static str = "Connect";
    type Arguments = ConnectArgs;
    type Response = Connected;
    type Error = ConnectError;
}

fn paint(colour: &str, coats: i64, painter: &str) -> PaintArgs {
    PaintArgs {
        colour: Constrained::new_unchecked(colour.into()),
        coats: Constrained::new_unchecked(coats),
        painter: Constrained::new_unchecked(painter.into()),
    }
}

fn raw_paint(colour: &str, coats: &str, painter: &str) -> AmpBox {
    AmpBox::from_pairs([
        ("colour", colour.to_owned()),
        ("coats", coats.to_owned()),
        ("painter", painter.to_owned()),
    ])
}

fn point(x: i64, y: i64, label: &str) -> Point {
    Point {
        x,
        y,
        label: label.into(),
    }
}

/// The Rust side of the catalogue: what txampext_commands.py's
/// `TxampextProtocol` answers.
fn responders() -> Responders {
    Responders::new()
        .responder(Paint, |_ctx: Context, a: PaintArgs| async move {
            Ok::<_, std::convert::Infallible>(Receipt {
                receipt: format!("{} coats of {} by {}", *a.coats, *a.colour, *a.painter),
            })
        })
        .responder(Move, |_ctx, a: MoveArgs| async move {
            let to = a.to.into_inner();
            Ok::<_, std::convert::Infallible>(Landed {
                landed: NestedBox(point(to.x + 1, to.y + 1, &format!("{}!", to.label))),
            })
        })
        .responder(Connect, |_ctx, a: ConnectArgs| async move {
            match a.factory.as_str() {
                "nope" => Err(ConnectError::NoSuchFactory(format!(
                    "no factory {}",
                    a.factory
                ))),
                "refuse" => Err(ConnectError::ConnectionRefused("refused".into())),
                f => Ok(Connected {
                    connection: format!("{f}-1"),
                }),
            }
        })
}

/// A call with a raw box must come back `UNKNOWN` / `Unknown Error`, and
/// then the Twisted side closes the connection, as it does for the
/// `ValueError` txampext raises while parsing.
async fn assert_unknown_then_closed(peer: &amp_tokio::Peer, command: &str, args: AmpBox) {
    match peer.call_remote(command, args).await {
        Err(CallError::Remote(e)) => {
            assert_eq!(
                (e.code.as_str(), e.description.as_str()),
                ("UNKNOWN", "Unknown Error")
            );
        }
        other => panic!("expected UNKNOWN, got {other:?}"),
    }
    let reason = tokio::time::timeout(Duration::from_secs(10), peer.closed())
        .await
        .expect("the peer closes the connection after UNKNOWN");
    assert_eq!(reason, ConnectionError::PeerClosed);
}

async fn connect_to(server: &PyServer) -> amp_tokio::Peer {
    amp_tokio::connect(server.addr(), Responders::new())
        .await
        .expect("connect to the txampext server")
}

async fn start_python_server() -> PyServer {
    tokio::task::spawn_blocking(|| PyServer::start("txampext_server.py"))
        .await
        .expect("starting txampext_server.py")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constrained_arguments_against_twisted_with_txampext() {
    let server = start_python_server().await;
    let peer = connect_to(&server).await;

    let ok = peer
        .call_as::<Paint>(&paint("green", 2, "ann"))
        .await
        .unwrap();
    assert_eq!(ok.receipt, "2 coats of green by ann");

    // Refused locally, nothing sent: the same connection goes on.
    for (args, failed) in [
        (paint("mauve", 2, "ann"), "colour"),
        (paint("red", 3, "ann"), "coats"),
        (paint("red", -2, "ann"), "coats"),
        (paint("red", 2, "root"), "painter"),
    ] {
        match peer.call_as::<Paint>(&args).await {
            Err(CallError::Value(e)) => {
                assert!(matches!(e.kind(), ValueErrorKind::Constraint { .. }), "{e}");
                assert_eq!(e.path(), failed);
            }
            other => panic!("{args:?} was not refused locally: {other:?}"),
        }
    }
    let ok = peer
        .call_as::<Paint>(&paint("blue", 4, "bo"))
        .await
        .unwrap();
    assert_eq!(ok.receipt, "4 coats of blue by bo");
    assert!(!peer.is_closed());
    peer.shutdown(std::time::Duration::ZERO);

    // Sent anyway (as a peer that does not check would): Twisted with
    // txampext answers UNKNOWN and closes.
    for args in [
        raw_paint("mauve", "2", "ann"),
        raw_paint("red", "0", "ann"),
        raw_paint("red", "2", "root"),
    ] {
        let fresh = connect_to(&server).await;
        assert_unknown_then_closed(&fresh, "Paint", args).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_boxes_and_error_codes_against_twisted_with_txampext() {
    let server = start_python_server().await;
    let peer = connect_to(&server).await;

    let landed = peer
        .call_as::<Move>(&MoveArgs {
            to: NestedBox(point(1, -2, "é")),
        })
        .await
        .unwrap();
    assert_eq!(landed.landed.0, point(2, -1, "é!"));

    for (factory, expected) in [
        (
            "nope",
            ConnectError::NoSuchFactory("no factory nope".into()),
        ),
        ("refuse", ConnectError::ConnectionRefused("refused".into())),
    ] {
        let got = peer
            .call_as::<Connect>(&ConnectArgs {
                factory: factory.into(),
            })
            .await;
        assert_eq!(got, Err(CallError::Declared(expected)));
    }
    let connected = peer
        .call_as::<Connect>(&ConnectArgs {
            factory: "echo".into(),
        })
        .await
        .unwrap();
    assert_eq!(connected.connection, "echo-1");
    peer.shutdown(std::time::Duration::ZERO);

    // An AmpList of two boxes where txampext's NestedAMPBox wants one.
    let one = amp_core::ser::to_box(&MoveArgs {
        to: NestedBox(point(1, 2, "a")),
    })
    .unwrap();
    let one = one.get("to").unwrap();
    let mut two = one.to_vec();
    two.extend_from_slice(one);
    let fresh = connect_to(&server).await;
    assert_unknown_then_closed(&fresh, "Move", AmpBox::from_pairs([("to", two)])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twisted_with_txampext_against_a_rust_server() {
    let server = amp_tokio::bind("127.0.0.1:0", |_| responders())
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let serving = tokio::spawn(server.run());
    let run = tokio::task::spawn_blocking(move || {
        let mut command = std::process::Command::new(python());
        command
            .arg(amp_conformance::interop::python::repo_root().join("interop/txampext_client.py"))
            .arg(addr.to_string());
        run_to_end(command, PROCESS_LIMIT * 2).expect("running txampext_client.py")
    })
    .await
    .unwrap();
    serving.abort();
    let ok = |scenario: &str| run.stdout.lines().any(|l| l == format!("OK {scenario}"));
    for scenario in [
        "paint",
        "paint-refused-locally",
        "move-nested",
        "connect-errors",
        "paint-refused-remotely",
        "move-two-boxes-refused",
    ] {
        assert!(
            ok(scenario),
            "scenario {scenario} did not pass ({}):\n{}\n{}",
            describe(run.status),
            run.stdout,
            run.stderr
        );
    }
    assert!(
        run.status.is_some_and(|s| s.success()),
        "txampext_client.py failed ({}):\n{}\n{}",
        describe(run.status),
        run.stdout,
        run.stderr
    );
}

/// Names of every shape txampext's regular expression treats apart:
/// acronyms first, inside and last, digits, underscores, lower-case
/// starts, non-ASCII letters.
const NAMES: &[&str] = &[
    "NoSuchFactory",
    "ConnectionRefused",
    "NoSuchConnection",
    "AMPException",
    "ExceptionWithAMPThere",
    "AnExampleException",
    "HTTPError",
    "IOError",
    "X509Error",
    "Error2",
    "A1B2C3",
    "lowercase",
    "fooBar",
    "getHTTPResponseCode",
    "ABc",
    "AB",
    "A",
    "My_Error",
    "URLs",
    "ABCDef",
    "AbcDEF",
    "aA",
    "ÄrgerError",
    "ZeroDivisionError",
    "TLSv1Error",
    "XMLHttpRequest",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_codes_are_txampexts() {
    let run = tokio::task::spawn_blocking(|| {
        let mut command = std::process::Command::new(python());
        command
            .arg(amp_conformance::interop::python::repo_root().join("interop/txampext_client.py"))
            .arg("--codes")
            .args(NAMES);
        run_to_end(command, PROCESS_LIMIT).expect("running txampext_client.py --codes")
    })
    .await
    .unwrap();
    assert!(
        run.status.is_some_and(|s| s.success()),
        "txampext_client.py --codes failed ({}):\n{}",
        describe(run.status),
        run.stderr
    );
    let codes: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(codes.len(), NAMES.len(), "{}", run.stdout);
    for (name, python_code) in NAMES.iter().zip(codes) {
        assert_eq!(amp_core::command::error_code(name), python_code, "{name}");
    }
    assert_eq!(amp_core::error_code!(NoSuchFactory), "NO_SUCH_FACTORY");
}

#[derive(Serialize, Deserialize, Debug)]
struct RelayArgs {
    factory: String,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Relayed {
    connection: String,
    receipt: String,
    answers: bool,
}

struct Relay;
impl Command for Relay {
    const NAME: &'static str = "Relay";
    type Arguments = RelayArgs;
    type Response = Relayed;
    type Error = std::convert::Infallible;
}

/// txampext's `EXPOSED_BOX_SENDER` and `EXPOSED_RESPONDER_LOCATOR`: a
/// responder sends a box and calls back on its own connection through
/// `ctx.peer`, and hands a request on to the responders that dispatched it
/// through `ctx.responders()`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_responder_reaches_the_box_sender_and_its_responders() {
    let server_side = responders()
        .include(
            Responders::new().responder(Relay, |ctx: Context, a: RelayArgs| async move {
                ctx.peer
                    .send_box(AmpBox::from_pairs([("note", "relaying")]))
                    .await
                    .map_err(amp_core::Failure::<std::convert::Infallible>::undeclared)?;
                let back = ctx
                    .peer
                    .call_as::<Connect>(&ConnectArgs { factory: a.factory })
                    .await?;
                let paint = ctx
                    .responders()
                    .dispatch(ctx.clone(), b"Paint", raw_paint("red", "2", "relay"))
                    .await
                    .map_err(amp_core::Failure::<std::convert::Infallible>::undeclared)?;
                Ok::<_, amp_core::Failure<std::convert::Infallible>>(Relayed {
                    connection: back.connection,
                    receipt: paint.get_str("receipt").unwrap_or_default().to_owned(),
                    answers: ctx.responders().handles(b"Relay"),
                })
            }),
        )
        .unwrap();
    let (notes_tx, mut notes) = tokio::sync::mpsc::unbounded_channel();
    let client_side = Responders::new()
        .responder(Connect, |_ctx, a: ConnectArgs| async move {
            Ok::<_, ConnectError>(Connected {
                connection: format!("{}-client", a.factory),
            })
        })
        .box_receiver(move |_ctx, b| {
            let _ = notes_tx.send(b);
        });
    let (a, b) = tokio::io::duplex(64 * 1024);
    let server = amp_tokio::from_stream(a, server_side);
    let client = amp_tokio::from_stream(b, client_side);
    let relayed = client
        .call_as::<Relay>(&RelayArgs {
            factory: "echo".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        relayed,
        Relayed {
            connection: "echo-client".into(),
            receipt: "2 coats of red by relay".into(),
            answers: true,
        }
    );
    let note = notes.recv().await.expect("the box the responder sent");
    assert_eq!(note.get_str("note"), Some("relaying"));
    drop(server);
}

/// The catch-all on a live connection: commands nobody declared reach it
/// with their raw box, declared ones their own responder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catch_all_answers_undeclared_commands_on_a_live_connection() {
    let server_side = Responders::compose([
        responders(),
        Responders::new().fallback(|_ctx, command, args: AmpBox| async move {
            let mut answer = args;
            answer.insert("command", command);
            Ok(answer)
        }),
    ])
    .unwrap();
    let (a, b) = tokio::io::duplex(64 * 1024);
    let _server = amp_tokio::from_stream(a, server_side);
    let client = amp_tokio::from_stream(b, Responders::new());
    let answer = client
        .call_remote("Whatever", AmpBox::from_pairs([("k", "v")]))
        .await
        .unwrap();
    assert_eq!(
        (answer.get_str("k"), answer.get_str("command")),
        (Some("v"), Some("Whatever"))
    );
    let connected = client
        .call_as::<Connect>(&ConnectArgs {
            factory: "echo".into(),
        })
        .await
        .unwrap();
    assert_eq!(connected.connection, "echo-1");
}
