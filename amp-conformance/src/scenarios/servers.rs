//! TCP servers: per-connection state and graceful shutdown, the connection
//! limit, and Twisted's recorded conversations replayed against the server.

use std::convert::Infallible;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use amp_core::{AmpBox, CallError, ConnectionError};

use crate::commands::{Empty, Probes, Sum, SumArgs, Total, math};
use crate::vectors::{self, PROBE_TAG};
use crate::{Factory, Options, Responders, Runtime, WAIT, blocking, within};

use super::{started_wait, sum};

/// Connects to `addr` with a plain socket until the connection is refused.
async fn until_refused(addr: std::net::SocketAddr) {
    blocking(move || {
        let started = Instant::now();
        while TcpStream::connect(addr).is_ok() {
            assert!(
                started.elapsed() < WAIT,
                "the server still accepts {WAIT:?} after its shutdown began"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    })
    .await
}

/// A TCP server builds responders per connection (state of their own, and
/// state shared by all); its graceful shutdown lets a call in flight finish,
/// closes every connection, and new connections are refused.
pub async fn tcp_server_with_per_connection_state_and_graceful_shutdown<R: Runtime>(rt: R) {
    let shared_total = Arc::new(AtomicUsize::new(0));
    let probes = Probes::default();
    let factory: Factory = Arc::new({
        let shared_total = shared_total.clone();
        let probes = probes.clone();
        move |addr| {
            assert!(addr.is_some(), "the server knows the peer's address");
            let mine = Arc::new(AtomicUsize::new(0));
            let shared_total = shared_total.clone();
            let waits = math(&probes);
            // `Sum` counts this connection's calls; the rest is `math`.
            waits.responder(Sum, move |ctx: amp_engine::Context, _: SumArgs| {
                assert!(ctx.peer_addr().is_some());
                let n = mine.fetch_add(1, Ordering::SeqCst) as i128 + 1;
                shared_total.fetch_add(1, Ordering::SeqCst);
                async move { Ok::<_, Infallible>(Total { total: n }) }
            })
        }
    });
    let served = within(
        &rt,
        "the server to bind",
        rt.serve(factory, Options::default()),
    )
    .await
    .unwrap();
    let addr = served.addr;
    assert!(addr.ip().is_loopback());

    let one = within(
        &rt,
        "connect",
        rt.connect(addr, Responders::new(), Options::default()),
    )
    .await
    .unwrap();
    let two = within(
        &rt,
        "connect",
        rt.connect(addr, Responders::new(), Options::default()),
    )
    .await
    .unwrap();
    assert_eq!(one.peer_addr(), Some(addr));
    let args = sum(0, 0);
    for (peer, expected) in [(&one, 1), (&one, 2), (&two, 1)] {
        let r = within(&rt, "Sum", peer.call_as::<Sum>(&args)).await;
        assert_eq!(r.unwrap().total, expected);
    }
    assert_eq!(shared_total.load(Ordering::SeqCst), 3);

    // A call in flight when the shutdown starts still gets its answer.
    let in_flight = started_wait(&rt, &one, &probes).await;
    let stopping = rt.spawn({
        let stop = served.stop.clone();
        async move { stop.shutdown(WAIT).await }
    });
    // The server has stopped accepting: its shutdown is under way.
    within(&rt, "the listener to close", until_refused(addr)).await;
    assert!(!in_flight.is_finished());
    probes.gate.open(1);
    let r = within(&rt, "the call in flight", in_flight).await;
    assert!(matches!(r, Ok(Empty {})), "{r:?}");
    within(&rt, "the shutdown", stopping).await;
    within(&rt, "the server's run", served.running)
        .await
        .unwrap();
    // Then the connections are closed and new connections are refused.
    assert_eq!(
        within(&rt, "the first connection to close", one.closed()).await,
        ConnectionError::PeerClosed
    );
    assert_eq!(
        within(&rt, "the second connection to close", two.closed()).await,
        ConnectionError::PeerClosed
    );
    let r = within(&rt, "a call after the shutdown", one.call_as::<Sum>(&args)).await;
    assert!(matches!(r, Err(CallError::Connection(_))), "{r:?}");
    let again = within(
        &rt,
        "a connection after the shutdown",
        rt.connect(addr, Responders::new(), Options::default()),
    )
    .await;
    assert!(again.is_err(), "connected after the shutdown");
}

/// A server at its connection limit accepts no more connections until one
/// ends: the next peer's connection waits in the backlog, its call
/// unanswered, and is served as soon as an earlier connection closes.
pub async fn a_server_at_its_connection_limit_accepts_once_one_ends<R: Runtime>(rt: R) {
    let served = within(
        &rt,
        "the server to bind",
        rt.serve_at_most(
            Arc::new(|_| math(&Probes::default())),
            Options::default(),
            2,
        ),
    )
    .await
    .unwrap();
    let connect = || {
        within(
            &rt,
            "connect",
            rt.connect(served.addr, Responders::new(), Options::default()),
        )
    };
    let one = connect().await.unwrap();
    let two = connect().await.unwrap();
    for peer in [&one, &two] {
        let r = within(&rt, "Sum", peer.call_as::<Sum>(&sum(1, 2))).await;
        assert_eq!(r.unwrap().total, 3);
    }
    // Twice: one more connection is made (the listener's backlog takes it)
    // but not served while two are open, and served once one of them ends.
    let mut kept = Vec::new();
    for (ending, n) in [(one, 2), (two, 3)] {
        let next = connect().await.unwrap();
        let waiting = rt.spawn({
            let next = next.clone();
            async move { next.call_as::<Sum>(&sum(n, 1)).await }
        });
        rt.sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished(), "served beyond the limit");
        ending.shutdown(std::time::Duration::ZERO);
        let r = within(&rt, "the waiting connection's call", waiting).await;
        assert_eq!(r.unwrap().total, i128::from(n + 1));
        kept.push(next);
    }
    served.stop.shutdown(WAIT).await;
    within(&rt, "the server's run", served.running)
        .await
        .unwrap();
}

/// Twisted's recorded conversations, replayed against the binding's TCP
/// server from a plain socket: the server writes the boxes Twisted's server
/// wrote (key order aside) and closes exactly when it closed.
pub async fn twisted_conversations_over_tcp<R: Runtime>(rt: R) {
    let v = vectors::load();
    assert_eq!(
        v.conversations.len(),
        7,
        "every recorded conversation is replayed"
    );
    let served = within(
        &rt,
        "the server to bind",
        rt.serve(
            Arc::new(|_| vectors::server_responders()),
            Options::default(),
        ),
    )
    .await
    .unwrap();
    let addr = served.addr;
    for conv in v.conversations {
        let input = vectors::unhex(&conv.client_to_server_hex);
        let expected = vectors::boxes(&vectors::unhex(&conv.server_to_client_hex));
        let closes = conv.server_closed_connection;
        let ex = within(
            &rt,
            &conv.note,
            blocking(move || {
                if closes {
                    vectors::exchange_until_closed(addr, &input, vectors::QUIET)
                } else {
                    vectors::exchange_then_probe(addr, &input, vectors::QUIET)
                }
            }),
        )
        .await;
        let mut got = vectors::boxes(&ex.read);
        if closes {
            assert!(
                ex.closed,
                "{}: the server did not close the connection: {ex:?}",
                conv.note
            );
        } else {
            // The answer to the probe sent after the conversation proves the
            // connection open and everything before it written.
            assert!(
                !ex.closed && ex.error.is_none(),
                "{}: the server closed the connection or went quiet: {ex:?}",
                conv.note
            );
            let probe = got.pop().expect("the probe's answer");
            assert_eq!(
                probe,
                AmpBox::from_pairs([("_answer", PROBE_TAG), ("total", "2")]),
                "{}: the probe's answer comes last",
                conv.note
            );
        }
        assert_eq!(got, expected, "{}: the server's boxes differ", conv.note);
    }
    within(&rt, "the shutdown", served.stop.shutdown(WAIT)).await;
    within(&rt, "the server's run", served.running)
        .await
        .unwrap();
}
