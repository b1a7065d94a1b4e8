//! Routes against epsilon's real `amprouter` (epsilon 0.8.0 on Twisted
//! 26.10.0): the Python server and client of epsilon's amprouter guide
//! (`interop/route_server.py`, `interop/route_client.py`) against a Rust
//! client and a Rust server written as the `route_client` and `route_server`
//! examples are, and the boxes on the wire between them, checked key by key.
//!
//! The Python environment comes from `AMP_INTEROP_PYTHON`, or else from
//! `scripts/python-env.sh` (which builds `.venv-interop` from PyPI on first
//! use). Without it, or without epsilon in it, these tests fail: they are
//! never skipped.
#![cfg(feature = "tokio")]

#[path = "../examples/common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amp_conformance::interop::python::{
    PROCESS_LIMIT, PyServer, Run, describe, python_importing, repo_root, run_to_end,
};

use amp_core::{AmpBox, ResponderError};
use amp_engine::Responders;
use amp_router::Route;
use amp_router::live::RoutedPeer;
use bytes::Bytes;
use common::{Count, Name, NewRoute, Nothing, Value};
use futures_util::future::join_all;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The time a whole test may take.
const TEST_LIMIT: Duration = Duration::from_secs(60);

// -- Python processes ----------------------------------------------------------------

/// The python with Twisted and epsilon (amp-conformance finds it:
/// `AMP_INTEROP_PYTHON`, or `scripts/python-env.sh`). Panics (fails the
/// test) when it has no epsilon.
fn python() -> &'static Path {
    python_importing("epsilon.amprouter")
}

/// `interop/route_client.py` against `addr`, run to its end off the runtime.
async fn python_route_client(addr: String) -> Run {
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(python());
        command
            .arg(repo_root().join("interop/route_client.py"))
            .arg(addr)
            .current_dir(repo_root());
        run_to_end(command, PROCESS_LIMIT).expect("cannot start interop/route_client.py")
    })
    .await
    .expect("the client's thread")
}

/// The route client's expected standard output: the guide's three routes,
/// each counted 1 to 4.
const CLIENT_OUTPUT: &str = "route 0: [1, 2, 3, 4]\nroute 1: [1, 2, 3, 4]\nroute 2: [1, 2, 3, 4]\n";

fn check_client_run(run: &Run) {
    assert!(
        run.status.is_some_and(|s| s.success()),
        "route_client.py: {}\nstdout:\n{}\nstderr:\n{}",
        describe(run.status),
        run.stdout,
        run.stderr
    );
    assert_eq!(
        run.stdout, CLIENT_OUTPUT,
        "route_client.py's output (stderr:\n{})",
        run.stderr
    );
}

/// `interop/route_server.py` on a port of 127.0.0.1 (killed when dropped),
/// started off the runtime.
async fn route_server() -> PyServer {
    tokio::task::spawn_blocking(|| PyServer::start_with(python(), "route_server.py"))
        .await
        .expect("the route server's start")
}

/// Awaits `future`, failing the test if it takes longer than `limit`.
async fn within<F: Future>(limit: Duration, what: &str, future: F) -> F::Output {
    match tokio::time::timeout(limit, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what}: not done within {limit:?}"),
    }
}

// -- The Rust client ---------------------------------------------------------------

/// The guide's client on `amp_router::tokio`: binds the default route and
/// `routes` routes, asks for a remote route for each with `NewRoute` (all
/// at once), then calls `Count` `counts` times on every route, every call in
/// flight together. Returns, per local route name, the remote route's name
/// and the values in the order the calls were made.
async fn rust_client(
    addr: &str,
    routes: usize,
    counts: usize,
) -> BTreeMap<String, (String, Vec<i64>)> {
    let router = amp_router::tokio::connect(addr, Default::default())
        .await
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    let default = router
        .bind(Route::Default, Responders::new())
        .expect("a fresh router has no default route");
    default.connect_to(None);
    let control = default.peer().expect("connected");

    let bound: Vec<_> = (0..routes)
        .map(|_| router.bind_route(Responders::new()))
        .collect();
    let local = |route: &amp_router::live::RouteHandle| {
        String::from_utf8(route.route().name().expect("named").to_vec()).expect("ASCII")
    };
    let remote_names = join_all(
        bound
            .iter()
            .map(|route| control.call_as::<NewRoute>(&Name { name: local(route) })),
    )
    .await;
    let mut remotes = Vec::new();
    for (route, answer) in bound.iter().zip(remote_names) {
        let theirs = answer
            .unwrap_or_else(|e| panic!("NewRoute for {}: {e}", local(route)))
            .name;
        route.connect_to(Some(Bytes::from(theirs.clone())));
        remotes.push(theirs);
    }

    let peers: Vec<_> = bound.iter().map(|r| r.peer().expect("connected")).collect();
    let calls = peers
        .iter()
        .flat_map(|peer| (0..counts).map(move |_| peer.call_as::<Count>(&Nothing {})));
    let mut values = join_all(calls).await.into_iter();
    let mut results = BTreeMap::new();
    for (route, theirs) in bound.iter().zip(remotes) {
        let counted = values
            .by_ref()
            .take(counts)
            .map(|r| {
                r.unwrap_or_else(|e| panic!("Count on {}: {e}", local(route)))
                    .value
            })
            .collect();
        results.insert(local(route), (theirs, counted));
    }
    router.shutdown(std::time::Duration::ZERO);
    results
}

/// Checks a run of [`rust_client`]: each route's values are 1..=counts, and
/// the server named its routes as epsilon does ("0", "1", ... per
/// connection), one for each of ours.
fn check_rust_client(results: &BTreeMap<String, (String, Vec<i64>)>, routes: usize, counts: usize) {
    assert_eq!(results.len(), routes);
    let expected: Vec<i64> = (1..=counts as i64).collect();
    for (mine, (theirs, values)) in results {
        let mut sorted = values.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted, expected,
            "route {mine} (the server's route {theirs}) counted {values:?}"
        );
    }
    let theirs: BTreeSet<&str> = results.values().map(|(t, _)| t.as_str()).collect();
    let want: BTreeSet<String> = (0..routes).map(|n| n.to_string()).collect();
    assert_eq!(
        theirs,
        want.iter().map(String::as_str).collect(),
        "the server's route names"
    );
}

// -- The Rust server ---------------------------------------------------------------

/// A route's responders, as in the `route_server` example: its own counter.
fn counter() -> Responders {
    let count = Arc::new(AtomicI64::new(0));
    Responders::new().responder(Count, move |_, _: Nothing| {
        let value = count.fetch_add(1, Ordering::SeqCst) + 1;
        async move { Ok::<_, Infallible>(Value { value }) }
    })
}

/// A counting route that also records each `Count` request's arguments as
/// the route sees them.
fn recording_counter(seen: Arc<Mutex<Vec<AmpBox>>>) -> Responders {
    let count = Arc::new(AtomicI64::new(0));
    Responders::new().raw_responder("Count", move |_, arguments: AmpBox| {
        seen.lock().unwrap().push(arguments);
        let value = count.fetch_add(1, Ordering::SeqCst) + 1;
        async move { Ok::<_, ResponderError>(AmpBox::from_pairs([("value", value.to_string())])) }
    })
}

type Routes = Arc<dyn Fn() -> Responders + Send + Sync>;

/// The default route's responders, as in the example: `NewRoute` binds a
/// route served by `routes()`, connected to the caller's route. Each binding
/// is recorded as (the caller's route, the new route).
fn routing(
    router: RoutedPeer,
    routes: Routes,
    bound: Arc<Mutex<Vec<(String, String)>>>,
) -> Responders {
    Responders::new().responder(NewRoute, move |_, caller: Name| {
        let route = router.bind_route(routes());
        route.connect_to(Some(caller.name.clone().into()));
        let name = String::from_utf8_lossy(route.route().name().expect("named")).into_owned();
        bound.lock().unwrap().push((caller.name, name.clone()));
        async move { Ok::<_, Infallible>(Name { name }) }
    })
}

/// A routed server on a port of 127.0.0.1, as the `route_server` example:
/// every connection's default route answers `NewRoute`. Returns the port
/// and the record of routes bound.
async fn rust_server(routes: Routes) -> (u16, Arc<Mutex<Vec<(String, String)>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("local address").port();
    let bound = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&bound);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            stream.set_nodelay(true).expect("nodelay");
            let (routes, record) = (Arc::clone(&routes), Arc::clone(&record));
            amp_router::tokio::from_stream_with(stream, Default::default(), move |router| {
                let default = router
                    .bind(Route::Default, routing(router.clone(), routes, record))
                    .expect("a fresh connection has no default route yet");
                default.connect_to(None);
            });
        }
    });
    (port, bound)
}

// -- A recording proxy ---------------------------------------------------------------

/// What went through a [`proxy`] connection, each way.
#[derive(Default)]
struct Recording {
    /// From the connecting side (the client) to the upstream (the server).
    to_server: Vec<u8>,
    /// From the upstream to the client.
    to_client: Vec<u8>,
}

/// A TCP proxy on a port of 127.0.0.1 to `upstream`, for one connection,
/// recording the bytes both ways.
async fn proxy(upstream: String) -> (u16, Arc<Mutex<Recording>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("local address").port();
    let recording = Arc::new(Mutex::new(Recording::default()));
    let record = Arc::clone(&recording);
    tokio::spawn(async move {
        let (client, _) = listener.accept().await.expect("accept");
        let server = TcpStream::connect(&upstream)
            .await
            .expect("connect upstream");
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        let up = relay(client_read, server_write, Arc::clone(&record), true);
        let down = relay(server_read, client_write, record, false);
        tokio::join!(up, down);
    });
    (port, recording)
}

async fn relay(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    record: Arc<Mutex<Recording>>,
    to_server: bool,
) {
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        {
            let mut r = record.lock().unwrap();
            let into = if to_server {
                &mut r.to_server
            } else {
                &mut r.to_client
            };
            into.extend_from_slice(&buf[..n]);
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

fn boxes(wire: &[u8]) -> Vec<AmpBox> {
    amp_core::codec::decode_all(Bytes::copy_from_slice(wire), &Default::default())
        .expect("the recorded stream decodes into whole boxes")
}

fn text(b: &AmpBox, key: &str) -> Option<String> {
    b.get(key).map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Checks one recorded connection of the guide's exchange, key by key:
///
/// - `NewRoute` requests and their answers carry no `_route` (the default
///   routes on both sides);
/// - every `Count` request carries `_route` naming a route the server
///   answered to `NewRoute`, and each answer carries `_route` naming the
///   client's route paired with it (the `name` that `NewRoute` was called
///   with), with the request's tag;
/// - each of `routes` routes counted 1..=`counts`.
///
/// Returns the client's route names by the server's.
fn check_recording(recording: &Recording, routes: usize, counts: usize) -> HashMap<String, String> {
    let requests = boxes(&recording.to_server);
    let answers = boxes(&recording.to_client);
    let described = |b: &AmpBox| format!("{:?}", b.sorted());

    // The default route: NewRoute and its answer, without `_route`.
    let mut asked_for: HashMap<String, String> = HashMap::new(); // _ask -> the client's route
    for b in requests
        .iter()
        .filter(|b| text(b, "_command").as_deref() == Some("NewRoute"))
    {
        assert!(
            b.get("_route").is_none(),
            "NewRoute on the default route: {}",
            described(b)
        );
        let ask = text(b, "_ask").expect("NewRoute asks");
        asked_for.insert(ask, text(b, "name").expect("NewRoute's name"));
    }
    assert_eq!(asked_for.len(), routes, "NewRoute calls");
    let mut client_route: HashMap<String, String> = HashMap::new(); // the server's -> the client's
    for b in answers.iter().filter(|b| b.get("_route").is_none()) {
        let tag = text(b, "_answer").unwrap_or_else(|| panic!("unrouted box {}", described(b)));
        let mine = asked_for
            .get(&tag)
            .unwrap_or_else(|| panic!("an answer to no NewRoute: {}", described(b)));
        let theirs = text(b, "name").expect("NewRoute's answer names the route");
        client_route.insert(theirs, mine.clone());
    }
    assert_eq!(
        client_route.len(),
        routes,
        "NewRoute answers: {client_route:?}"
    );

    // The routes: Count with `_route` both ways.
    let mut asked: BTreeSet<(String, String)> = BTreeSet::new(); // (the server's route, _ask)
    for b in requests
        .iter()
        .filter(|b| text(b, "_command").as_deref() != Some("NewRoute"))
    {
        assert_eq!(
            text(b, "_command").as_deref(),
            Some("Count"),
            "{}",
            described(b)
        );
        let route =
            text(b, "_route").unwrap_or_else(|| panic!("Count without `_route`: {}", described(b)));
        assert!(
            client_route.contains_key(&route),
            "Count to an unknown route: {}",
            described(b)
        );
        let keys: BTreeSet<&[u8]> = b.keys().collect();
        assert_eq!(
            keys,
            BTreeSet::from([&b"_ask"[..], b"_command", b"_route"]),
            "{}",
            described(b)
        );
        assert!(asked.insert((route, text(b, "_ask").expect("Count asks"))));
    }
    assert_eq!(asked.len(), routes * counts, "Count calls");
    let mut counted: HashMap<String, Vec<i64>> = HashMap::new();
    let server_route: HashMap<&String, &String> =
        client_route.iter().map(|(s, c)| (c, s)).collect();
    for b in answers.iter().filter(|b| b.get("_route").is_some()) {
        let mine = text(b, "_route").expect("routed");
        let theirs = server_route
            .get(&mine)
            .unwrap_or_else(|| panic!("an answer to an unknown route: {}", described(b)));
        let tag = text(b, "_answer").unwrap_or_else(|| panic!("not an answer: {}", described(b)));
        assert!(
            asked.remove(&((*theirs).clone(), tag)),
            "an answer to no Count of the server's route {theirs}: {}",
            described(b)
        );
        let value = text(b, "value")
            .and_then(|v| v.parse().ok())
            .expect("a value");
        counted.entry(mine).or_default().push(value);
    }
    assert!(asked.is_empty(), "Count calls without an answer: {asked:?}");
    let expected: Vec<i64> = (1..=counts as i64).collect();
    for (route, mut values) in counted {
        values.sort_unstable();
        assert_eq!(values, expected, "the client's route {route}");
    }
    client_route
}

// -- The tests -----------------------------------------------------------------------

/// The Rust client against epsilon's guide server: many routes counting at
/// once, each from 1, independently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_against_epsilon_server() {
    let server = route_server().await;
    const ROUTES: usize = 8;
    const COUNTS: usize = 25;
    let results = within(
        TEST_LIMIT,
        "the Rust client",
        rust_client(&server.addr().to_string(), ROUTES, COUNTS),
    )
    .await;
    check_rust_client(&results, ROUTES, COUNTS);
    // A second connection has routes of its own, counted from 1 again.
    let again = within(
        TEST_LIMIT,
        "the Rust client again",
        rust_client(&server.addr().to_string(), 3, 4),
    )
    .await;
    check_rust_client(&again, 3, 4);
}

/// epsilon's guide client against a Rust server written as the example.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn epsilon_client_against_rust_server() {
    let (port, bound) = rust_server(Arc::new(counter)).await;
    let run = within(
        TEST_LIMIT,
        "route_client.py",
        python_route_client(format!("127.0.0.1:{port}")),
    )
    .await;
    check_client_run(&run);
    // One route bound for each of epsilon's, named as epsilon names them.
    let bound = bound.lock().unwrap().clone();
    let names = |pick: fn(&(String, String)) -> &String| -> BTreeSet<String> {
        bound.iter().map(pick).cloned().collect()
    };
    let three: BTreeSet<String> = ["0", "1", "2"].map(String::from).into();
    assert_eq!(bound.len(), 3, "routes bound: {bound:?}");
    assert_eq!(
        names(|(caller, _)| caller),
        three,
        "the callers' routes: {bound:?}"
    );
    assert_eq!(names(|(_, new)| new), three, "the routes bound: {bound:?}");
}

/// The wire between epsilon's client and the Rust server: epsilon's boxes
/// carry `_route`, which the Rust side removes before the route sees the
/// box, and the Rust side's answers carry `_route` naming epsilon's route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wire_epsilon_client_to_rust_server() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let routes: Routes = Arc::new(move || recording_counter(Arc::clone(&record)));
    let (port, _) = rust_server(routes).await;
    let (proxy_port, recording) = proxy(format!("127.0.0.1:{port}")).await;
    let run = within(
        TEST_LIMIT,
        "route_client.py",
        python_route_client(format!("127.0.0.1:{proxy_port}")),
    )
    .await;
    check_client_run(&run);

    // Every Count reached a route with its `_route` (and `_ask`,
    // `_command`) removed: no arguments left.
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3 * 4, "Count requests the routes saw");
    for arguments in seen.iter() {
        assert!(arguments.is_empty(), "a route saw {:?}", arguments.sorted());
    }

    // (The proxy records bytes before passing them on, so everything either
    // side received is in the recording.)
    let pairs = check_recording(&recording.lock().unwrap(), 3, 4);
    let three: BTreeSet<String> = ["0", "1", "2"].map(String::from).into();
    assert_eq!(
        pairs.keys().cloned().collect::<BTreeSet<_>>(),
        three,
        "the Rust routes: {pairs:?}"
    );
    assert_eq!(
        pairs.values().cloned().collect::<BTreeSet<_>>(),
        three,
        "epsilon's routes: {pairs:?}"
    );
}

/// The wire between the Rust client and epsilon's server: the Rust client's
/// `Count` boxes carry `_route` naming epsilon's route, which epsilon
/// accepts and answers with `_route` naming the Rust route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wire_rust_client_to_epsilon_server() {
    let server = route_server().await;
    let (proxy_port, recording) = proxy(server.addr().to_string()).await;
    const ROUTES: usize = 4;
    const COUNTS: usize = 5;
    let results = within(
        TEST_LIMIT,
        "the Rust client",
        rust_client(&format!("127.0.0.1:{proxy_port}"), ROUTES, COUNTS),
    )
    .await;
    check_rust_client(&results, ROUTES, COUNTS);
    let pairs = check_recording(&recording.lock().unwrap(), ROUTES, COUNTS);
    // The recorded pairing is the one the client was told.
    for (theirs, mine) in &pairs {
        assert_eq!(&results[mine].0, theirs, "the Rust route {mine}");
    }
}

// -- Protocol errors on a route ------------------------------------------------------

/// On a fresh connection to `addr`: `NewRoute(name="x")` on the default
/// route (answered with the server's route "0"), then `last`. Returns
/// whether the server closed the connection within 5 s.
async fn closes_after(addr: &str, last: &AmpBox) -> bool {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let new_route = AmpBox::from_pairs([("_command", "NewRoute"), ("_ask", "1"), ("name", "x")]);
    stream
        .write_all(&new_route.to_bytes().expect("encodes"))
        .await
        .expect("send");
    let mut decoder = amp_core::Decoder::new(Default::default());
    let answer = loop {
        if let Some(b) = decoder.decode().expect("the server's boxes decode") {
            break b;
        }
        let mut buf = [0; 4096];
        let n = within(PROCESS_LIMIT, "NewRoute's answer", stream.read(&mut buf))
            .await
            .expect("read");
        assert!(n > 0, "the server closed before answering NewRoute");
        decoder.feed(&buf[..n]).expect("buffered");
    };
    assert_eq!(text(&answer, "name").as_deref(), Some("0"), "{answer:?}");
    stream
        .write_all(&last.to_bytes().expect("encodes"))
        .await
        .expect("send");
    let mut buf = [0; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// Checks that epsilon's server, then the Rust server, closes the
/// connection after `last`.
async fn both_close_after(last: AmpBox) {
    let python = route_server().await;
    assert!(
        closes_after(&python.addr().to_string(), &last).await,
        "epsilon's server kept the connection open after {last:?}"
    );
    let (port, _) = rust_server(Arc::new(counter)).await;
    assert!(
        closes_after(&format!("127.0.0.1:{port}"), &last).await,
        "the Rust server kept the connection open after {last:?}, which epsilon's closes"
    );
}

/// A box for a route that is not bound ends the connection, on both sides
/// (epsilon: the router's `KeyError`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_route_ends_the_connection() {
    both_close_after(AmpBox::from_pairs([
        ("_command", "Count"),
        ("_ask", "1"),
        ("_route", "zz"),
    ]))
    .await;
}

/// An answer to no call, on a bound route, ends the whole connection in
/// epsilon: the route's `AMP` raises `KeyError` in `ampBoxReceived`, which
/// goes up through the router into the transport, and Twisted drops the
/// connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_error_on_a_route_ends_the_connection() {
    both_close_after(AmpBox::from_pairs([("_answer", "99"), ("_route", "0")])).await;
}
