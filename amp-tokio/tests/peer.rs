//! Behaviour of tokio peers over in-memory streams and loopback TCP.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use amp_core::{AmpBox, CallError, CallFailure, Command, ConnectionError, Failure, command_errors};
use amp_tokio::{Context, Options, Peer, Responders, Server};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, Semaphore};
use tokio::time::timeout;

#[derive(Serialize, Deserialize, Debug, Clone)]
struct SumArgs {
    a: i64,
    b: i64,
}
#[derive(Serialize, Deserialize, Debug)]
struct Total {
    total: i64,
}
struct Sum;
impl Command for Sum {
    const NAME: &'static str = "Sum";
    type Arguments = SumArgs;
    type Response = Total;
    type Error = Infallible;
}

#[derive(Serialize, Deserialize, Debug)]
struct DivideArgs {
    numerator: i64,
    denominator: i64,
}
#[derive(Serialize, Deserialize, Debug)]
struct Quotient {
    result: f64,
}
command_errors! {
    enum DivideError { ZeroDivision => "ZERO_DIVISION", Broken => "BROKEN" (fatal) }
}
struct Divide;
impl Command for Divide {
    const NAME: &'static str = "Divide";
    type Arguments = DivideArgs;
    type Response = Quotient;
    type Error = DivideError;
}

#[derive(Serialize, Deserialize, Debug)]
struct Empty {}

/// Waits until the test releases it.
struct Wait;
impl Command for Wait {
    const NAME: &'static str = "Wait";
    type Arguments = Empty;
    type Response = Empty;
    type Error = Infallible;
}

/// Calls `Sum` back on the caller `n` times and returns the sum.
#[derive(Serialize, Deserialize, Debug)]
struct FanArgs {
    n: i64,
}
struct Fan;
impl Command for Fan {
    const NAME: &'static str = "Fan";
    type Arguments = FanArgs;
    type Response = Total;
    type Error = Infallible;
}

struct Boom;
impl Command for Boom {
    const NAME: &'static str = "Boom";
    type Arguments = Empty;
    type Response = Empty;
    type Error = Infallible;
}

#[derive(Serialize, Deserialize, Debug)]
struct Text {
    text: String,
}
struct Notify_;
impl Command for Notify_ {
    const NAME: &'static str = "Notify";
    const REQUIRES_ANSWER: bool = false;
    type Arguments = Text;
    type Response = Empty;
    type Error = Infallible;
}

fn sum_responders() -> Responders {
    Responders::new().responder(Sum, |_, a: SumArgs| async move {
        Ok::<_, Infallible>(Total { total: a.a + a.b })
    })
}

fn math(gate: Arc<Notify>, notified: Arc<AtomicUsize>) -> Responders {
    sum_responders()
        .responder(Divide, |_, a: DivideArgs| async move {
            match a.denominator {
                0 => Err(DivideError::ZeroDivision("division by zero".into())),
                -1 => Err(DivideError::Broken("fatal".into())),
                d => Ok(Quotient {
                    result: a.numerator as f64 / d as f64,
                }),
            }
        })
        .responder(Wait, move |_, _: Empty| {
            let gate = gate.clone();
            async move {
                gate.notified().await;
                Ok::<_, Infallible>(Empty {})
            }
        })
        .responder(Fan, |ctx: Context, a: FanArgs| async move {
            let calls = (0..a.n).map(|i| {
                let peer = ctx.peer.clone();
                async move { peer.call::<Sum>(&SumArgs { a: i, b: 1 }).await }
            });
            let mut total = 0;
            for r in futures_util::future::join_all(calls).await {
                total += r.map_err(Failure::undeclared)?.unwrap().total;
            }
            Ok::<_, Failure<Infallible>>(Total { total })
        })
        .responder(Boom, |_, _: Empty| async move {
            Err::<Empty, _>(Failure::<Infallible>::undeclared("boom"))
        })
        .responder(Notify_, move |_, _: Text| {
            let notified = notified.clone();
            async move {
                notified.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Infallible>(Empty {})
            }
        })
}

fn pair(server: Responders, client: Responders) -> (Peer, Peer) {
    let (a, b) = tokio::io::duplex(256 * 1024);
    (
        amp_tokio::from_stream(a, server),
        amp_tokio::from_stream(b, client),
    )
}

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn typed_calls_answers_and_declared_errors() {
    let (_server, client) = pair(math(Arc::default(), Arc::default()), Responders::new());
    let total = client.call::<Sum>(&SumArgs { a: 13, b: 81 }).await.unwrap();
    assert_eq!(total.unwrap().total, 94);
    let q = client
        .call::<Divide>(&DivideArgs {
            numerator: 10,
            denominator: 4,
        })
        .await
        .unwrap();
    assert_eq!(q.unwrap().result, 2.5);
    let e = client
        .call::<Divide>(&DivideArgs {
            numerator: 1,
            denominator: 0,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(e, CallError::Declared(DivideError::ZeroDivision(ref d)) if d == "division by zero")
    );
    // The connection is still usable after a declared error.
    assert!(client.call::<Sum>(&SumArgs { a: 1, b: 1 }).await.is_ok());
}

#[tokio::test]
async fn unknown_commands_get_unhandled_and_the_connection_survives() {
    let (_server, client) = pair(math(Arc::default(), Arc::default()), Responders::new());
    match client.call_remote("NoSuch", AmpBox::new()).await {
        Err(CallFailure::Remote(e)) => {
            assert_eq!(e.code, "UNHANDLED");
            assert_eq!(e.description, "Unhandled Command: b'NoSuch'");
        }
        other => panic!("{other:?}"),
    }
    let answer = client
        .call_remote("Sum", AmpBox::from_pairs([("a", "2"), ("b", "3")]))
        .await
        .unwrap();
    assert_eq!(answer.get_str("total"), Some("5"));
}

#[tokio::test]
async fn fatal_and_undeclared_errors_close_the_connection_after_the_error() {
    let (server, client) = pair(math(Arc::default(), Arc::default()), Responders::new());
    let e = client
        .call::<Divide>(&DivideArgs {
            numerator: 1,
            denominator: -1,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(e, CallError::Declared(DivideError::Broken(_))),
        "{e:?}"
    );
    assert_eq!(
        timeout(T, server.closed()).await.unwrap(),
        ConnectionError::FatalError {
            code: "BROKEN".into(),
            description: "fatal".into()
        }
    );
    assert_eq!(
        timeout(T, client.closed()).await.unwrap(),
        ConnectionError::PeerClosed
    );

    let (server, client) = pair(math(Arc::default(), Arc::default()), Responders::new());
    let e = client.call::<Boom>(&Empty {}).await.unwrap_err();
    assert!(
        matches!(e, CallError::Remote(ref r) if r.code == "UNKNOWN" && r.description == "Unknown Error"),
        "{e:?}"
    );
    assert!(matches!(
        timeout(T, server.closed()).await.unwrap(),
        ConnectionError::FatalError { .. }
    ));
    assert!(matches!(
        client.call::<Sum>(&SumArgs { a: 1, b: 1 }).await,
        Err(CallError::Connection(_))
    ));
}

#[tokio::test]
async fn commands_without_answer_return_once_queued() {
    let notified = Arc::new(AtomicUsize::new(0));
    let (_server, client) = pair(math(Arc::default(), notified.clone()), Responders::new());
    for i in 0..3 {
        let r = client
            .call::<Notify_>(&Text {
                text: i.to_string(),
            })
            .await;
        assert!(matches!(r, Ok(None)));
    }
    // A later answered call proves the notifications were handled first.
    client.call::<Sum>(&SumArgs { a: 0, b: 0 }).await.unwrap();
    assert_eq!(notified.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn both_sides_call_at_once_and_responders_call_back() {
    let (server, client) = pair(math(Arc::default(), Arc::default()), sum_responders());
    let from_client = async {
        let calls = (0..200).map(|i| client.call::<Sum>(&SumArgs { a: i, b: i }));
        futures_util::future::join_all(calls).await
    };
    let from_server = async {
        let calls = (0..200).map(|i| server.call::<Sum>(&SumArgs { a: i, b: 1 }));
        futures_util::future::join_all(calls).await
    };
    let fan = client.call::<Fan>(&FanArgs { n: 200 });
    let (a, b, fan) = timeout(T, async { tokio::join!(from_client, from_server, fan) })
        .await
        .unwrap();
    for (i, r) in a.into_iter().enumerate() {
        assert_eq!(r.unwrap().unwrap().total, 2 * i as i64);
    }
    for (i, r) in b.into_iter().enumerate() {
        assert_eq!(r.unwrap().unwrap().total, i as i64 + 1);
    }
    assert_eq!(
        fan.unwrap().unwrap().total,
        (0..200).map(|i| i + 1).sum::<i64>()
    );
}

#[tokio::test]
async fn responders_run_concurrently_and_answer_in_the_order_they_finish() {
    let gate = Arc::new(Notify::new());
    let (_server, client) = pair(math(gate.clone(), Arc::default()), Responders::new());
    let slow = tokio::spawn({
        let client = client.clone();
        async move { client.call::<Wait>(&Empty {}).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    // The waiting responder does not hold up the next call.
    let fast = timeout(T, client.call::<Sum>(&SumArgs { a: 1, b: 2 }))
        .await
        .unwrap();
    assert_eq!(fast.unwrap().unwrap().total, 3);
    assert!(!slow.is_finished());
    gate.notify_one();
    timeout(T, slow).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn dropping_a_call_cancels_it_and_its_late_answer_is_ignored() {
    let gate = Arc::new(Notify::new());
    let (_server, client) = pair(math(gate.clone(), Arc::default()), Responders::new());
    let r = timeout(Duration::from_millis(50), client.call::<Wait>(&Empty {})).await;
    assert!(r.is_err(), "the call was still waiting");
    gate.notify_one();
    // The late answer arrives and is dropped; the connection stays healthy.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let total = client.call::<Sum>(&SumArgs { a: 2, b: 2 }).await.unwrap();
    assert_eq!(total.unwrap().total, 4);
    assert!(!client.is_closed());
}

#[tokio::test]
async fn connection_loss_fails_every_pending_call_with_the_reason() {
    let gate = Arc::new(Notify::new());
    let (server, client) = pair(math(gate, Arc::default()), Responders::new());
    let pending: Vec<_> = (0..20)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.call::<Wait>(&Empty {}).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(30)).await;
    server.close();
    drop(server);
    for p in pending {
        let r = timeout(T, p).await.unwrap().unwrap();
        assert!(
            matches!(r, Err(CallError::Connection(ConnectionError::PeerClosed))),
            "{r:?}"
        );
    }
    assert_eq!(
        timeout(T, client.closed()).await.unwrap(),
        ConnectionError::PeerClosed
    );
    assert!(matches!(
        client.call::<Sum>(&SumArgs { a: 1, b: 1 }).await,
        Err(CallError::Connection(ConnectionError::PeerClosed))
    ));
}

#[tokio::test]
async fn responders_in_flight_are_bounded() {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Semaphore::new(0));
    let responders = {
        let (running, peak, release) = (running.clone(), peak.clone(), release.clone());
        Responders::new().responder(Wait, move |_, _: Empty| {
            let (running, peak, release) = (running.clone(), peak.clone(), release.clone());
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                release.acquire().await.unwrap().forget();
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, Infallible>(Empty {})
            }
        })
    };
    let (a, b) = tokio::io::duplex(1 << 20);
    let _server =
        amp_tokio::from_stream_with(a, None, responders, Options::default().max_responders(4));
    let client = amp_tokio::from_stream(b, Responders::new());
    let calls: Vec<_> = (0..40)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.call::<Wait>(&Empty {}).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(running.load(Ordering::SeqCst), 4);
    release.add_permits(40);
    for c in calls {
        timeout(T, c).await.unwrap().unwrap().unwrap();
    }
    assert_eq!(peak.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn callers_wait_when_the_outbound_buffer_is_full() {
    // A peer that does not read: the stream's buffer fills, then ours.
    let (a, _unread) = tokio::io::duplex(1024);
    let client = amp_tokio::from_stream_with(
        a,
        None,
        Responders::new(),
        Options::default().max_outbound_bytes(16 * 1024),
    );
    let big = AmpBox::from_pairs([("v", vec![b'x'; 8 * 1024])]);
    let mut queued = 0;
    // Until a caller is left waiting for space:
    while let Ok(r) = timeout(Duration::from_millis(100), client.send_box(big.clone())).await {
        r.unwrap();
        queued += 1;
        assert!(queued < 20, "the outbound buffer is not bounded");
    }
    assert!(queued >= 2);
}

#[tokio::test]
async fn closed_reports_why_and_close_fails_pending_calls() {
    let gate = Arc::new(Notify::new());
    let (_server, client) = pair(math(gate, Arc::default()), Responders::new());
    let pending = tokio::spawn({
        let c = client.clone();
        async move { c.call::<Wait>(&Empty {}).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    client.close();
    assert_eq!(client.closed().await, ConnectionError::Closed);
    assert!(matches!(
        timeout(T, pending).await.unwrap().unwrap(),
        Err(CallError::Connection(ConnectionError::Closed))
    ));
}

#[tokio::test]
async fn a_responder_that_panics_is_an_undeclared_error() {
    let responders = Responders::new().responder(Boom, |_, _: Empty| async move {
        if true {
            panic!("responder bug");
        }
        Ok::<_, Infallible>(Empty {})
    });
    let (server, client) = pair(responders, Responders::new());
    let e = client.call::<Boom>(&Empty {}).await.unwrap_err();
    assert!(
        matches!(e, CallError::Remote(ref r) if r.code == "UNKNOWN"),
        "{e:?}"
    );
    assert!(matches!(
        timeout(T, server.closed()).await.unwrap(),
        ConnectionError::FatalError { .. }
    ));
}

#[tokio::test]
async fn tcp_server_with_per_connection_state_and_graceful_shutdown() {
    // Each connection counts its own calls; the total is shared.
    let shared_total = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Notify::new());
    let server = Server::bind("127.0.0.1:0", {
        let shared_total = shared_total.clone();
        let gate = gate.clone();
        move |addr| {
            assert!(addr.is_some());
            let mine = Arc::new(AtomicUsize::new(0));
            let shared_total = shared_total.clone();
            let gate = gate.clone();
            Responders::new()
                .responder(Sum, move |ctx: Context, _: SumArgs| {
                    assert!(ctx.peer_addr().is_some());
                    let n = mine.fetch_add(1, Ordering::SeqCst) as i64 + 1;
                    shared_total.fetch_add(1, Ordering::SeqCst);
                    async move { Ok::<_, Infallible>(Total { total: n }) }
                })
                .responder(Wait, move |_, _: Empty| {
                    let gate = gate.clone();
                    async move {
                        gate.notified().await;
                        Ok::<_, Infallible>(Empty {})
                    }
                })
        }
    })
    .await
    .unwrap();
    let addr = server.local_addr().unwrap();
    let stop = server.shutdown_handle();
    let running = tokio::spawn(server.run());

    let one = amp_tokio::connect(addr, Responders::new()).await.unwrap();
    let two = amp_tokio::connect(addr, Responders::new()).await.unwrap();
    let args = SumArgs { a: 0, b: 0 };
    assert_eq!(one.call::<Sum>(&args).await.unwrap().unwrap().total, 1);
    assert_eq!(one.call::<Sum>(&args).await.unwrap().unwrap().total, 2);
    assert_eq!(two.call::<Sum>(&args).await.unwrap().unwrap().total, 1);
    assert_eq!(shared_total.load(Ordering::SeqCst), 3);

    // A call in flight when the shutdown starts still gets its answer.
    let in_flight = tokio::spawn({
        let one = one.clone();
        async move { one.call::<Wait>(&Empty {}).await }
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    let stopping = tokio::spawn(async move { stop.shutdown(Duration::from_secs(5)).await });
    tokio::time::sleep(Duration::from_millis(30)).await;
    gate.notify_waiters();
    timeout(T, in_flight).await.unwrap().unwrap().unwrap();
    timeout(T, stopping).await.unwrap().unwrap();
    timeout(T, running).await.unwrap().unwrap().unwrap();
    // Then the connections are closed and new connections are refused.
    assert!(timeout(T, one.closed()).await.is_ok());
    assert!(matches!(
        one.call::<Sum>(&args).await,
        Err(CallError::Connection(_))
    ));
    assert!(amp_tokio::connect(addr, Responders::new()).await.is_err());
}
