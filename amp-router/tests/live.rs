//! Routes on live tokio connections: each route is a full peer.
#![cfg(feature = "tokio")]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use amp_conformance::commands::{Sum, SumArgs, Total};
use amp_core::{AmpBox, CallError, Command, ConnectionError, ProtocolError};
use amp_engine::Responders;
use amp_router::live::RoutedPeer;
use amp_router::{Route, RouteError};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::time::timeout;

const T: Duration = Duration::from_secs(10);

#[derive(Serialize, Deserialize, Debug)]
struct Put {
    key: String,
    value: String,
}
#[derive(Serialize, Deserialize, Debug)]
struct Key {
    key: String,
}
#[derive(Serialize, Deserialize, Debug)]
struct Found {
    value: Option<String>,
}
#[derive(Serialize, Deserialize, Debug)]
struct Nothing {}
struct Store;
impl Command for Store {
    const NAME: &'static str = "Store";
    type Arguments = Put;
    type Response = Nothing;
    type Error = Infallible;
}
struct Fetch;
impl Command for Fetch {
    const NAME: &'static str = "Fetch";
    type Arguments = Key;
    type Response = Found;
    type Error = Infallible;
}

fn calculator() -> Responders {
    Responders::new().responder(Sum, |_, a: SumArgs| async move {
        // A little wait, so calls on both routes overlap.
        tokio::time::sleep(Duration::from_millis(1)).await;
        Ok::<_, Infallible>(Total { total: a.a + a.b })
    })
}

fn store() -> Responders {
    let map = Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let m2 = map.clone();
    Responders::new()
        .responder(Store, move |_, p: Put| {
            map.lock().unwrap().insert(p.key, p.value);
            async move { Ok::<_, Infallible>(Nothing {}) }
        })
        .responder(Fetch, move |_, k: Key| {
            let value = m2.lock().unwrap().get(&k.key).cloned();
            async move { Ok::<_, Infallible>(Found { value }) }
        })
}

async fn tcp_pair() -> (RoutedPeer, RoutedPeer) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = tokio::join!(
        amp_router::tokio::connect(addr, Default::default()),
        listener.accept()
    );
    let server = amp_router::tokio::from_stream(accepted.unwrap().0, Default::default());
    (client.unwrap(), server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_unrelated_protocols_on_two_routes_of_one_tcp_connection() {
    let (client, server) = tcp_pair().await;
    // Route "0" of each side speaks the calculator, route "1" the store.
    let s_calc = server.bind_route(calculator());
    let s_store = server.bind_route(store());
    let c_calc = client.bind_route(Responders::new());
    let c_store = client.bind_route(Responders::new());
    for (c, s) in [(&c_calc, &s_calc), (&c_store, &s_store)] {
        c.connect_to(s.route().name().cloned());
        s.connect_to(c.route().name().cloned());
    }
    let calc = c_calc.peer().unwrap();
    let kv = c_store.peer().unwrap();
    let sums = futures_util::future::join_all(
        (0..200).map(|i| calc.call_as::<Sum>(&SumArgs { a: i, b: i })),
    );
    let stores = futures_util::future::join_all((0..200).map(|i| {
        kv.call_as::<Store>(&Put {
            key: format!("k{i}"),
            value: format!("v{i}"),
        })
    }));
    let (sums, stores) = timeout(T, async { tokio::join!(sums, stores) })
        .await
        .unwrap();
    for (i, s) in sums.into_iter().enumerate() {
        assert_eq!(s.unwrap().total, 2 * i as i128);
    }
    assert!(stores.into_iter().all(|r| r.is_ok()));
    let found = kv
        .call_as::<Fetch>(&Key { key: "k7".into() })
        .await
        .unwrap();
    assert_eq!(found.value.as_deref(), Some("v7"));
    // Each route answers only its own protocol.
    let e = calc
        .call_as::<Fetch>(&Key { key: "k7".into() })
        .await
        .unwrap_err();
    assert!(
        matches!(e, CallError::Remote(ref r) if r.code == "UNHANDLED"),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_route_not_connected_has_no_peer_to_call_with() {
    let (a, _b) = tokio::io::duplex(1024);
    let router = amp_router::tokio::from_stream(a, Default::default());
    let route = router.bind_route(Responders::new());
    assert_eq!(
        route.peer().unwrap_err(),
        RouteError::RouteNotConnected(Route::named("0"))
    );
    assert!(matches!(
        router.bind(Route::named("0"), Responders::new()),
        Err(RouteError::AlreadyBound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_route_as_in_the_epsilon_guide() {
    let (client, server) = tcp_pair().await;
    let control = server
        .bind(Route::Default, {
            let server = server.clone();
            Responders::new().responder(NewRoute, move |_, caller: Name| {
                let count = Arc::new(AtomicI64::new(0));
                let route =
                    server.bind_route(Responders::new().responder(Count, move |_, _: Nothing| {
                        let value = count.fetch_add(1, Ordering::SeqCst) + 1;
                        async move { Ok::<_, Infallible>(Value { value }) }
                    }));
                route.connect_to(Some(caller.name.into()));
                let name = String::from_utf8_lossy(route.route().name().unwrap()).into_owned();
                async move { Ok::<_, Infallible>(Name { name }) }
            })
        })
        .unwrap();
    control.connect_to(None);
    let default = client.bind(Route::Default, Responders::new()).unwrap();
    default.connect_to(None);
    let ctl = default.peer().unwrap();
    let mut peers = Vec::new();
    for _ in 0..3 {
        let route = client.bind_route(Responders::new());
        let mine = String::from_utf8_lossy(route.route().name().unwrap()).into_owned();
        let theirs = ctl.call_as::<NewRoute>(&Name { name: mine }).await.unwrap();
        route.connect_to(Some(theirs.name.into()));
        peers.push(route.peer().unwrap());
    }
    // All routes counting at once.
    let all =
        futures_util::future::join_all(peers.iter().map(|p| {
            futures_util::future::join_all((0..5).map(|_| p.call_as::<Count>(&Nothing {})))
        }));
    for counts in timeout(T, all).await.unwrap() {
        let mut values: Vec<i64> = counts.into_iter().map(|c| c.unwrap().value).collect();
        values.sort_unstable();
        assert_eq!(values, [1, 2, 3, 4, 5]);
    }
}

#[derive(Serialize, Deserialize, Debug)]
struct Name {
    name: String,
}
struct NewRoute;
impl Command for NewRoute {
    const NAME: &'static str = "NewRoute";
    type Arguments = Name;
    type Response = Name;
    type Error = Infallible;
}
#[derive(Serialize, Deserialize, Debug)]
struct Value {
    value: i64,
}
struct Count;
impl Command for Count {
    const NAME: &'static str = "Count";
    type Arguments = Nothing;
    type Response = Value;
    type Error = Infallible;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_box_for_an_unbound_route_ends_the_connection_with_a_typed_reason() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
    let router =
        amp_router::tokio::from_stream(listener.accept().await.unwrap().0, Default::default());
    let route = router.bind_route(calculator());
    route.connect_to(None);
    let pending = {
        let peer = route.peer().unwrap();
        tokio::spawn(async move { peer.call_as::<Sum>(&SumArgs { a: 1, b: 2 }).await })
    };
    let wire = AmpBox::from_pairs([("_command", "Sum"), ("_ask", "1"), ("_route", "99")])
        .to_bytes()
        .unwrap();
    raw.write_all(&wire).await.unwrap();
    assert_eq!(
        timeout(T, router.closed()).await.unwrap(),
        ConnectionError::Protocol(ProtocolError::UnknownRoute {
            name: bytes::Bytes::from_static(b"99")
        })
    );
    // The route's own call fails with the same typed reason.
    let failed = timeout(T, pending).await.unwrap().unwrap();
    assert!(
        matches!(
            &failed,
            Err(CallError::Connection(ConnectionError::Protocol(ProtocolError::UnknownRoute { name }))) if name == "99"
        ),
        "{failed:?}"
    );
}

/// The routed connection's own reader applies the unfinished-box timeout:
/// whole boxes and silence are fine, half a box left past the timeout ends
/// the connection with a reason that says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_a_box_left_past_the_timeout_ends_the_routed_connection() {
    let limit = Duration::from_millis(300);
    let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
    let options = amp_engine::Options::default().unfinished_box_timeout(limit);
    let router = amp_router::tokio::from_stream(ours, options);
    let route = router.bind(Route::Default, calculator()).unwrap();
    route.connect_to(None);
    // A whole box (a call with no answer wanted), then silence: no timeout.
    let whole = AmpBox::from_pairs([("_command", "Sum"), ("a", "1"), ("b", "2")])
        .to_bytes()
        .unwrap();
    theirs.write_all(&whole).await.unwrap();
    tokio::time::sleep(limit * 3).await;
    assert!(!router.is_closed(), "closed while no box was unfinished");
    // Half a box, then silence.
    let started = std::time::Instant::now();
    theirs.write_all(&whole[..7]).await.unwrap();
    assert_eq!(
        timeout(T, router.closed()).await.unwrap(),
        ConnectionError::BoxTimeout {
            timeout: limit,
            buffered: 7
        }
    );
    let after = started.elapsed();
    assert!(after >= limit, "closed after {after:?}, before the timeout");
}

/// The routed connection applies the idle timeout: a route with a
/// responder running keeps it open however long, and so do calls that keep
/// coming; once nothing moves and no route has work under way for a whole
/// timeout, the connection ends with a reason that says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_routed_connection_ends_after_the_idle_timeout() {
    let limit = Duration::from_millis(300);
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let gate = Arc::new(tokio::sync::Notify::new());
    let options = amp_engine::Options::default().idle_timeout(limit);
    let timed = amp_router::tokio::from_stream(ours, options);
    let responders = calculator().raw_responder("Wait", {
        let gate = gate.clone();
        move |_, args| {
            let gate = gate.clone();
            async move {
                gate.notified().await;
                Ok::<_, amp_core::ResponderError>(args)
            }
        }
    });
    timed
        .bind(Route::Default, responders)
        .unwrap()
        .connect_to(None);
    let other = amp_router::tokio::from_stream(theirs, Default::default());
    let caller = other.bind(Route::Default, Responders::new()).unwrap();
    caller.connect_to(None);
    let peer = caller.peer().unwrap();

    // A responder running for three timeouts: not idle.
    let waiting = tokio::spawn({
        let peer = peer.clone();
        async move { peer.call_remote("Wait", AmpBox::new()).await }
    });
    tokio::time::sleep(limit * 3).await;
    assert!(!timed.is_closed(), "closed while a responder ran");
    gate.notify_one();
    timeout(T, waiting).await.unwrap().unwrap().unwrap();
    // Calls every 100 ms for a second: not idle.
    for i in 0..10 {
        let r = timeout(T, peer.call_as::<Sum>(&SumArgs { a: i, b: 1 })).await;
        assert_eq!(r.unwrap().unwrap().total, i + 1);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!timed.is_closed(), "closed while calls kept coming");
    // Then nothing.
    let started = std::time::Instant::now();
    assert_eq!(
        timeout(T, timed.closed()).await.unwrap(),
        ConnectionError::IdleTimeout { timeout: limit }
    );
    assert!(started.elapsed() >= limit, "closed before the timeout");
    assert_eq!(
        timeout(T, other.closed()).await.unwrap(),
        ConnectionError::PeerClosed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbinding_a_route_ends_its_calls_and_leaves_the_others() {
    let (client, server) = tcp_pair().await;
    let s0 = server.bind_route(calculator());
    let s1 = server.bind_route(calculator());
    let c0 = client.bind_route(Responders::new());
    let c1 = client.bind_route(Responders::new());
    for (c, s) in [(&c0, &s0), (&c1, &s1)] {
        c.connect_to(s.route().name().cloned());
        s.connect_to(c.route().name().cloned());
    }
    let p0 = c0.peer().unwrap();
    c0.unbind();
    assert!(timeout(T, p0.closed()).await.is_ok());
    assert!(p0.call_as::<Sum>(&SumArgs { a: 1, b: 1 }).await.is_err());
    let total = c1
        .peer()
        .unwrap()
        .call_as::<Sum>(&SumArgs { a: 2, b: 3 })
        .await
        .unwrap();
    assert_eq!(total.total, 5);
    assert!(!client.is_closed());
}
