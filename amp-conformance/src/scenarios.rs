//! The scenarios: each is what one behaviour of a binding must look like,
//! written against [`Runtime`] only.

use std::convert::Infallible;
use std::net::TcpStream;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use amp_core::{AmpBox, CallError, ConnectionError, Failure};
use futures_util::FutureExt;
use futures_util::future::{Either, join_all, join3, select};

use crate::commands::{
    Boom, Divide, DivideArgs, DivideError, Echo, Empty, Fan, FanArgs, Notify, Probes, Sum, SumArgs,
    Text, Total, Wait, echo_responders, math, sum_responders,
};
use crate::sync::{Counter, Gate};
use crate::vectors::{self, PROBE_TAG};
use crate::{Factory, Options, Peer, Responders, Runtime, Task, WAIT, blocking, within};

fn sum(a: i64, b: i64) -> SumArgs {
    SumArgs {
        a: a.into(),
        b: b.into(),
    }
}

/// Calls `Sum(a, b)` on `client` (within the bound) and checks the total.
async fn sums<R: Runtime>(rt: &R, what: &str, client: &Peer, a: i64, b: i64) {
    let total = within(rt, what, client.call::<Sum>(&sum(a, b))).await;
    assert_eq!(total.unwrap().total, i128::from(a + b), "{what}");
}

/// Typed calls get typed answers; a declared error arrives as that error and
/// the connection goes on.
pub async fn typed_calls_answers_and_declared_errors<R: Runtime>(rt: R) {
    let (_server, client) = rt.pair(math(&Probes::default()), Responders::new());
    sums(&rt, "Sum", &client, 13, 81).await;
    let q = within(
        &rt,
        "Divide",
        client.call::<Divide>(&DivideArgs {
            numerator: 10,
            denominator: 4,
        }),
    )
    .await;
    assert_eq!(q.unwrap().result, 2.5);
    let e = within(
        &rt,
        "Divide by zero",
        client.call::<Divide>(&DivideArgs {
            numerator: 1,
            denominator: 0,
        }),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, CallError::Declared(DivideError::ZeroDivision(ref d)) if d == "division by zero"),
        "{e:?}"
    );
    // The connection is still usable after a declared error.
    sums(&rt, "Sum after the error", &client, 1, 1).await;
    assert!(!client.is_closed());
}

/// A command nobody answers gets `UNHANDLED` with Twisted's description, and
/// the connection survives it.
pub async fn unknown_commands_get_unhandled_and_the_connection_survives<R: Runtime>(rt: R) {
    let (server, client) = rt.pair(math(&Probes::default()), Responders::new());
    match within(&rt, "NoSuch", client.call_remote("NoSuch", AmpBox::new())).await {
        Err(CallError::Remote(e)) => {
            assert_eq!(e.code, "UNHANDLED");
            assert_eq!(e.description, "Unhandled Command: b'NoSuch'");
        }
        other => panic!("{other:?}"),
    }
    let answer = within(
        &rt,
        "Sum by name",
        client.call_remote("Sum", AmpBox::from_pairs([("a", "2"), ("b", "3")])),
    )
    .await
    .unwrap();
    assert_eq!(answer.get_str("total"), Some("5"));
    assert!(!server.is_closed());
    assert!(!client.is_closed());
}

/// A declared fatal error and an undeclared failure are sent, then the
/// connection closes: the responding side says why, the calling side sees
/// the peer close.
pub async fn fatal_and_undeclared_errors_close_the_connection_after_the_error<R: Runtime>(rt: R) {
    let (server, client) = rt.pair(math(&Probes::default()), Responders::new());
    let e = within(
        &rt,
        "Divide by -1",
        client.call::<Divide>(&DivideArgs {
            numerator: 1,
            denominator: -1,
        }),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, CallError::Declared(DivideError::Broken(ref d)) if d == "fatal"),
        "{e:?}"
    );
    assert_eq!(
        within(&rt, "the server to close", server.closed()).await,
        ConnectionError::FatalError {
            code: "BROKEN".into(),
            description: "fatal".into()
        }
    );
    assert_eq!(
        within(&rt, "the client to close", client.closed()).await,
        ConnectionError::PeerClosed
    );

    let (server, client) = rt.pair(math(&Probes::default()), Responders::new());
    boom_is_unknown_and_closes_both_ends(&rt, &server, &client).await;
    let r = within(
        &rt,
        "a call after the close",
        client.call::<Sum>(&sum(1, 1)),
    )
    .await;
    assert!(matches!(r, Err(CallError::Connection(_))), "{r:?}");
}

/// A command that wants no answer returns `None` as soon as it is queued,
/// and its responder runs on the other side.
pub async fn commands_without_answer_return_once_queued<R: Runtime>(rt: R) {
    let probes = Probes::default();
    let (_server, client) = rt.pair(math(&probes), Responders::new());
    for i in 0..3 {
        let r = within(
            &rt,
            "Notify",
            client.notify::<Notify>(&Text {
                text: i.to_string(),
            }),
        )
        .await;
        assert!(matches!(r, Ok(())), "{r:?}");
    }
    within(
        &rt,
        "the Notify responders to run",
        probes.notified.at_least(3),
    )
    .await;
    sums(&rt, "Sum", &client, 0, 0).await;
    assert_eq!(probes.notified.get(), 3);
}

/// Both sides call at once, 200 calls in flight each way, while a responder
/// calls back its caller 200 times.
pub async fn both_sides_call_at_once_and_responders_call_back<R: Runtime>(rt: R) {
    let (server, client) = rt.pair(math(&Probes::default()), sum_responders());
    let from_client = join_all((0..200).map(|i| client.call::<Sum>(&sum(i, i))));
    let from_server = join_all((0..200).map(|i| server.call::<Sum>(&sum(i, 1))));
    let fan = client.call::<Fan>(&FanArgs { n: 200 });
    let (a, b, fan) = within(&rt, "calls both ways", join3(from_client, from_server, fan)).await;
    for (i, r) in a.into_iter().enumerate() {
        assert_eq!(r.unwrap().total, 2 * i as i128);
    }
    for (i, r) in b.into_iter().enumerate() {
        assert_eq!(r.unwrap().total, i as i128 + 1);
    }
    assert_eq!(fan.unwrap().total, (0..200).map(|i| i + 1).sum::<i128>());
}

/// A responder that waits does not hold up the next call: that one is
/// answered first.
pub async fn responders_run_concurrently_and_answer_in_the_order_they_finish<R: Runtime>(rt: R) {
    let probes = Probes::default();
    let (_server, client) = rt.pair(math(&probes), Responders::new());
    let slow = started_wait(&rt, &client, &probes).await;
    sums(&rt, "Sum", &client, 1, 2).await;
    // The gate is still shut: the first call cannot have been answered.
    assert!(!slow.is_finished());
    assert_eq!(probes.passed.get(), 0);
    probes.gate.open(1);
    let r = within(&rt, "the Wait call", slow).await;
    assert!(matches!(r, Ok(Empty {})), "{r:?}");
}

/// Dropping a call's future cancels it; its answer, when it comes, is
/// dropped quietly and the connection stays healthy.
pub async fn dropping_a_call_cancels_it_and_its_late_answer_is_ignored<R: Runtime>(rt: R) {
    let probes = Probes::default();
    let (server, client) = rt.pair(math(&probes), Responders::new());
    {
        let mut call = pin!(client.call::<Wait>(&Empty {}));
        // Drive the call until its responder has started on the other side.
        let started = within(
            &rt,
            "the Wait responder to start",
            select(call.as_mut(), Box::pin(probes.entered.at_least(1))),
        )
        .await;
        if let Either::Left((r, _)) = started {
            panic!("the Wait call was answered before its gate opened: {r:?}");
        }
        // The call's future is dropped here, before its answer.
    }
    probes.gate.open(1);
    within(
        &rt,
        "the Wait responder to finish",
        probes.passed.at_least(1),
    )
    .await;
    // The late answer was queued before these answers: it has arrived and
    // been dropped by the time they are read.
    for i in 0..2 {
        sums(&rt, "Sum", &client, i, 2).await;
    }
    assert!(!client.is_closed());
    assert!(!server.is_closed());
}

/// Calls dropped while they wait for their answer give their share of the
/// in-flight budget back: a caller that gave up on a full budget's worth of
/// calls to a stuck responder can still call.
pub async fn dropped_calls_give_back_their_share_of_the_in_flight_budget<R: Runtime>(rt: R) {
    const CALLS: usize = 100;
    // Each round leaves at least a request or two stuck on the other side;
    // a budget that kept their share would be used up within 14 rounds.
    const ROUNDS: usize = 40;
    let probes = Probes::default();
    let (server, client) = rt.pair_with(
        math(&probes),
        Options::default(),
        Responders::new(),
        Options::default().max_outbound_bytes(1024),
    );
    for round in 0..ROUNDS {
        let before = probes.entered.get();
        let mut calls: futures_util::stream::FuturesUnordered<_> =
            (0..CALLS).map(|_| client.call::<Wait>(&Empty {})).collect();
        // Polls every call: those that fit the budget are sent, the rest
        // wait for room.
        let next = futures_util::StreamExt::next(&mut calls);
        let arrived = within(
            &rt,
            &format!("round {round}: a Wait call to reach the other side"),
            select(next, Box::pin(probes.entered.at_least(before + 1))),
        )
        .await;
        if let Either::Left((r, _)) = arrived {
            panic!("a Wait call was answered before its gate opened: {r:?}");
        }
        // Let every request that was sent arrive.
        rt.sleep(Duration::from_millis(10)).await;
        let sent = probes.entered.get() - before;
        assert!(
            sent < CALLS,
            "{sent} of {CALLS} Wait calls sent at once with a 1 KiB budget"
        );
        // Every call is dropped here, none answered.
    }
    // The Wait responders are all still stuck; the budget is free again.
    sums(&rt, "a Sum after the dropped calls", &client, 4, 5).await;
    // Their late answers are dropped quietly.
    probes.gate.open(probes.entered.get());
    within(&rt, "the Wait responders to finish", async {
        while probes.passed.get() < probes.entered.get() {
            rt.sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    sums(&rt, "a Sum after the late answers", &client, 1, 2).await;
    assert!(!client.is_closed());
    assert!(!server.is_closed());
}

/// When the connection is lost, every pending call fails with the reason,
/// and so do later calls.
pub async fn connection_loss_fails_every_pending_call_with_the_reason<R: Runtime>(rt: R) {
    let probes = Probes::default();
    let (server, client) = rt.pair(math(&probes), Responders::new());
    let pending: Vec<_> = (0..20)
        .map(|_| {
            let c = client.clone();
            rt.spawn(async move { c.call::<Wait>(&Empty {}).await })
        })
        .collect();
    within(
        &rt,
        "20 Wait responders to start",
        probes.entered.at_least(20),
    )
    .await;
    server.close();
    drop(server);
    for p in pending {
        let r = within(&rt, "a pending call", p).await;
        assert!(
            matches!(r, Err(CallError::Connection(ConnectionError::PeerClosed))),
            "{r:?}"
        );
    }
    assert_eq!(
        within(&rt, "the client to close", client.closed()).await,
        ConnectionError::PeerClosed
    );
    let r = within(&rt, "a call after the loss", client.call::<Sum>(&sum(1, 1))).await;
    assert!(
        matches!(r, Err(CallError::Connection(ConnectionError::PeerClosed))),
        "{r:?}"
    );
    assert_eq!(probes.passed.get(), 0);
}

/// No more than `max_responders` responders run at once on a connection;
/// the peak measured is the bound.
pub async fn responders_in_flight_are_bounded<R: Runtime>(rt: R) {
    const BOUND: usize = 4;
    const CALLS: usize = 40;
    let running = Arc::new(Counter::default());
    let entered = Arc::new(Counter::default());
    let peak = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Gate::default());
    let responders = {
        let (running, entered, peak, gate) =
            (running.clone(), entered.clone(), peak.clone(), gate.clone());
        Responders::new().responder(Wait, move |_, _: Empty| {
            let (running, entered, peak, gate) =
                (running.clone(), entered.clone(), peak.clone(), gate.clone());
            async move {
                peak.fetch_max(running.up(), Ordering::SeqCst);
                entered.up();
                gate.pass().await;
                running.down();
                Ok::<_, Infallible>(Empty {})
            }
        })
    };
    let (_server, client) = rt.pair_with(
        responders,
        Options::default().max_responders(BOUND),
        Responders::new(),
        Options::default(),
    );
    // Polled together, so every request is queued before anything else.
    let mut calls = pin!(join_all((0..CALLS).map(|_| client.call::<Wait>(&Empty {}))));
    let started = within(
        &rt,
        "the first responders to start",
        select(calls.as_mut(), Box::pin(entered.at_least(BOUND))),
    )
    .await;
    assert!(
        matches!(started, Either::Right(_)),
        "calls were answered with the gate shut"
    );
    // Give more responders every chance to start: none may.
    let settle = select(calls.as_mut(), rt.sleep(Duration::from_millis(200))).await;
    assert!(
        matches!(settle, Either::Right(_)),
        "calls were answered with the gate shut"
    );
    assert_eq!(
        running.get(),
        BOUND,
        "responders running with the gate shut"
    );
    assert_eq!(
        entered.get(),
        BOUND,
        "responders started with the gate shut"
    );
    gate.open(CALLS);
    for r in within(&rt, "every call", calls).await {
        assert!(matches!(r, Ok(Empty {})), "{r:?}");
    }
    assert_eq!(entered.get(), CALLS);
    assert_eq!(peak.load(Ordering::SeqCst), BOUND);
}

/// A peer that does not read: the stream's buffer fills, then the outbound
/// buffer, then callers wait; once the peer reads, they go on.
pub async fn callers_wait_when_the_outbound_buffer_is_full<R: Runtime>(rt: R) {
    const LIMIT: usize = 200;
    let (ours, unread) = rt.stream_pair(1024);
    let client = rt.peer_on(
        ours,
        Responders::new(),
        Options::default().max_outbound_bytes(16 * 1024),
    );
    let text = "x".repeat(8 * 1024);
    let mut queued = 0;
    // Until a caller is left waiting for space:
    let waiting = loop {
        // Polled here, not spawned: queueing needs no other task to run, so
        // only a full buffer keeps a call waiting.
        let send = Box::pin(client.notify::<Notify>(&Text { text: text.clone() }));
        match select(send, rt.sleep(Duration::from_millis(200))).await {
            Either::Left((r, _)) => {
                assert!(matches!(r, Ok(())), "{r:?}");
                queued += 1;
                assert!(
                    queued < LIMIT,
                    "{LIMIT} calls of 8 KiB queued: the outbound buffer is not bounded"
                );
            }
            Either::Right((_, send)) => break send,
        }
    };
    assert!(queued >= 2, "only {queued} calls queued");
    assert!(!client.is_closed());
    // The other end starts reading: the waiting caller goes through, and
    // every call arrives.
    let probes = Probes::default();
    let _server = rt.peer_on(unread, math(&probes), Options::default());
    let r = within(&rt, "the waiting caller", waiting).await;
    assert!(matches!(r, Ok(())), "{r:?}");
    within(
        &rt,
        "every Notify to arrive",
        probes.notified.at_least(queued + 1),
    )
    .await;
    assert!(!client.is_closed());
}

/// `close()` fails pending calls with `Closed`, and `closed()` says so.
pub async fn closed_reports_why_and_close_fails_pending_calls<R: Runtime>(rt: R) {
    let probes = Probes::default();
    let (server, client) = rt.pair(math(&probes), Responders::new());
    let pending = started_wait(&rt, &client, &probes).await;
    client.close();
    assert!(client.is_closed());
    assert_eq!(
        within(&rt, "closed()", client.closed()).await,
        ConnectionError::Closed
    );
    let r = within(&rt, "the pending call", pending).await;
    assert!(
        matches!(r, Err(CallError::Connection(ConnectionError::Closed))),
        "{r:?}"
    );
    assert_eq!(
        within(&rt, "the other side to close", server.closed()).await,
        ConnectionError::PeerClosed
    );
}

/// A responder that panics is an undeclared failure: `UNKNOWN`, then the
/// connection closes.
pub async fn a_responder_that_panics_is_an_undeclared_error<R: Runtime>(rt: R) {
    let responders = Responders::new().responder(Boom, |_, _: Empty| async move {
        if true {
            panic!("responder bug (this panic is expected)");
        }
        Ok::<_, Infallible>(Empty {})
    });
    let (server, client) = rt.pair(responders, Responders::new());
    boom_is_unknown_and_closes_both_ends(&rt, &server, &client).await;
}

/// Calls `Boom` (whose responder fails without a declared error): the
/// caller gets `UNKNOWN` with Twisted's description, the server closes with
/// that fatal error, the client sees the peer close.
async fn boom_is_unknown_and_closes_both_ends<R: Runtime>(rt: &R, server: &Peer, client: &Peer) {
    let e = within(rt, "Boom", client.call::<Boom>(&Empty {}))
        .await
        .unwrap_err();
    assert!(
        matches!(e, CallError::Remote(ref r) if r.code == "UNKNOWN" && r.description == "Unknown Error"),
        "{e:?}"
    );
    assert!(matches!(
        within(rt, "the server to close", server.closed()).await,
        ConnectionError::FatalError { ref code, .. } if code == "UNKNOWN"
    ));
    assert_eq!(
        within(rt, "the client to close", client.closed()).await,
        ConnectionError::PeerClosed
    );
}

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

/// Calls `Wait` on `peer` in the background and waits until the responder
/// has started (the first `Wait` counted by `probes`): the call is then in
/// flight, held at the gate.
async fn started_wait<R: Runtime>(
    rt: &R,
    peer: &Peer,
    probes: &Probes,
) -> Task<Result<Empty, CallError<Infallible>>> {
    let call = rt.spawn({
        let peer = peer.clone();
        async move { peer.call::<Wait>(&Empty {}).await }
    });
    within(
        rt,
        "the Wait responder to start",
        probes.entered.at_least(1),
    )
    .await;
    call
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
        let r = within(&rt, "Sum", peer.call::<Sum>(&args)).await;
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
    let r = within(&rt, "a call after the shutdown", one.call::<Sum>(&args)).await;
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
        let r = within(&rt, "Sum", peer.call::<Sum>(&sum(1, 2))).await;
        assert_eq!(r.unwrap().total, 3);
    }
    // Twice: one more connection is made (the listener's backlog takes it)
    // but not served while two are open, and served once one of them ends.
    let mut kept = Vec::new();
    for (ending, n) in [(one, 2), (two, 3)] {
        let next = connect().await.unwrap();
        let waiting = rt.spawn({
            let next = next.clone();
            async move { next.call::<Sum>(&sum(n, 1)).await }
        });
        rt.sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished(), "served beyond the limit");
        ending.close();
        let r = within(&rt, "the waiting connection's call", waiting).await;
        assert_eq!(r.unwrap().total, i128::from(n + 1));
        kept.push(next);
    }
    served.stop.shutdown(WAIT).await;
    within(&rt, "the server's run", served.running)
        .await
        .unwrap();
}

/// With an unfinished-box timeout, a peer that sends part of a box and
/// stops loses its connection once a whole timeout passes with no box
/// completed, with a reason that says so; a slow peer whose boxes keep
/// completing, each in less than the timeout, keeps it.
pub async fn a_box_left_unfinished_past_the_timeout_ends_the_connection<R: Runtime>(rt: R) {
    use std::io::{Read, Write};
    const LIMIT: Duration = Duration::from_millis(300);
    // The server side's peers, kept by the responder, to see why each
    // connection ended.
    type Slot = Arc<std::sync::OnceLock<Peer>>;
    let peers = Arc::new(std::sync::Mutex::new(Vec::<Slot>::new()));
    let factory: Factory = Arc::new({
        let peers = peers.clone();
        move |_| {
            let slot = Slot::default();
            peers.lock().unwrap().push(slot.clone());
            Responders::new().raw_responder("Hello", move |ctx, args| {
                let _ = slot.set(ctx.peer);
                async move { Ok::<_, amp_core::ResponderError>(args) }
            })
        }
    });
    let served = within(
        &rt,
        "the server to bind",
        rt.serve(factory, Options::default().unfinished_box_timeout(LIMIT)),
    )
    .await
    .unwrap();
    let addr = served.addr;
    let hello = |tag: String| {
        let mut b = AmpBox::from_pairs([("_command", "Hello"), ("x", "y")]);
        b.insert("_ask", tag);
        b.to_bytes().unwrap()
    };
    let answer_len = AmpBox::from_pairs([("_answer", "1"), ("x", "y")])
        .to_bytes()
        .unwrap()
        .len();

    // Slow but never late: every box arrives in two halves 200 ms apart,
    // the next box begun with the end of the last, for about 1.6 s.
    let slow = blocking({
        let boxes: Vec<_> = (1..=8).map(|i| hello(i.to_string())).collect();
        move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_nodelay(true).unwrap();
            let half = boxes[0].len() / 2;
            s.write_all(&boxes[0][..half]).unwrap();
            for i in 0..boxes.len() {
                std::thread::sleep(Duration::from_millis(200));
                let mut next = boxes[i][half..].to_vec();
                if let Some(b) = boxes.get(i + 1) {
                    next.extend_from_slice(&b[..half]);
                }
                s.write_all(&next).unwrap();
            }
            s.set_read_timeout(Some(WAIT)).unwrap();
            let mut answers = vec![0u8; answer_len * boxes.len()];
            s.read_exact(&mut answers).map_err(|e| e.to_string())
        }
    });
    let r = within(&rt, "the slow peer's answers", slow).await;
    assert!(r.is_ok(), "the slow peer lost its connection: {r:?}");

    // Half a box after a whole one, then nothing: the connection ends.
    let stalled = blocking({
        let first = hello("1".into());
        let second = hello("2".into());
        move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(&first).unwrap();
            s.write_all(&second[..5]).unwrap();
            let started = Instant::now();
            s.set_read_timeout(Some(WAIT)).unwrap();
            let mut received = Vec::new();
            let end = s.read_to_end(&mut received).map(|_| ());
            (
                received.len(),
                end.map_err(|e| e.to_string()),
                started.elapsed(),
            )
        }
    });
    let (received, end, after) = within(&rt, "the stalled peer's connection to end", stalled).await;
    assert_eq!(received, answer_len, "the whole box was answered");
    assert!(
        end.is_ok() || after < WAIT,
        "the connection did not end: {end:?}"
    );
    assert!(after >= LIMIT, "closed after {after:?}, before the timeout");
    let (slow_peer, stalled_peer) = {
        let peers = peers.lock().unwrap();
        assert_eq!(peers.len(), 2, "one set of responders per connection");
        (peers[0].get().cloned(), peers[1].get().cloned())
    };
    assert_eq!(
        within(&rt, "the server side's end", stalled_peer.unwrap().closed()).await,
        ConnectionError::BoxTimeout {
            timeout: LIMIT,
            buffered: 5
        }
    );
    // The slow peer's connection ended only when its client closed.
    assert_eq!(
        within(&rt, "the slow peer's end", slow_peer.unwrap().closed()).await,
        ConnectionError::PeerClosed
    );
    served.stop.shutdown(WAIT).await;
    within(&rt, "the server's run", served.running)
        .await
        .unwrap();
}

/// The unfinished-box clock runs only while the server reads: a peer whose
/// half box waits behind requests the server cannot take yet (every
/// responder slot busy) is not late, however long that lasts; once the
/// server reads again, the timeout applies.
pub async fn the_unfinished_box_clock_stops_while_the_server_cannot_read<R: Runtime>(rt: R) {
    use std::io::{Read, Write};
    const LIMIT: Duration = Duration::from_millis(300);
    let probes = Probes::default();
    let served = within(
        &rt,
        "the server to bind",
        rt.serve(
            Arc::new({
                let probes = probes.clone();
                move |_| math(&probes)
            }),
            Options::default()
                .max_responders(1)
                .unfinished_box_timeout(LIMIT),
        ),
    )
    .await
    .unwrap();
    let wait = |tag: &str| {
        let mut b = AmpBox::from_pairs([("_command", "Wait")]);
        b.insert("_ask", tag.to_owned());
        b.to_bytes().unwrap()
    };
    // One Wait runs, the second waits for the only slot (so the server
    // stops reading), then half a box.
    let mut bytes = wait("1").to_vec();
    bytes.extend_from_slice(&wait("2"));
    bytes.extend_from_slice(&wait("3")[..6]);
    let addr = served.addr;
    let (opened_tx, opened_rx) = std::sync::mpsc::channel::<Instant>();
    let peer = blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(&bytes).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut received = Vec::new();
        let end = s.read_to_end(&mut received).map_err(|e| e.to_string());
        let opened = opened_rx.recv().unwrap();
        (received, end, opened.elapsed())
    });
    within(&rt, "the first Wait to start", probes.entered.at_least(1)).await;
    // Three timeouts with the half box waiting behind a full slot.
    rt.sleep(LIMIT * 3).await;
    opened_tx.send(Instant::now()).unwrap();
    probes.gate.open(2);
    let (received, end, since_open) = within(&rt, "the connection to end", peer).await;
    // Both Waits answered (`_answer` 1 and 2, nothing else), then the end.
    let answers =
        amp_core::codec::decode_all(bytes::Bytes::from(received), &amp_core::Limits::default())
            .unwrap();
    let tags: Vec<_> = answers.iter().map(|b| b.get_str("_answer")).collect();
    assert_eq!(tags, [Some("1"), Some("2")]);
    assert!(end.is_ok(), "{end:?}");
    assert!(
        since_open >= LIMIT,
        "ended {since_open:?} after the server could read again, before the timeout"
    );
    served.stop.shutdown(WAIT).await;
    within(&rt, "the server's run", served.running)
        .await
        .unwrap();
}

/// With an idle timeout, a connection with nothing received or sent and
/// nothing under way for a whole timeout ends with a reason that says so. A
/// responder running, a call waiting for its answer, or calls coming more
/// often than the timeout keep it open, on either side.
pub async fn an_idle_connection_ends_after_the_idle_timeout_and_a_busy_one_does_not<R: Runtime>(
    rt: R,
) {
    const LIMIT: Duration = Duration::from_millis(300);
    let idle = || Options::default().idle_timeout(LIMIT);
    for timed_side in ["server", "client"] {
        let probes = Probes::default();
        let (server_options, client_options) = if timed_side == "server" {
            (idle(), Options::default())
        } else {
            (Options::default(), idle())
        };
        let (server, client) = rt.pair_with(
            math(&probes),
            server_options,
            Responders::new(),
            client_options,
        );
        // A responder running (the server's side) and a call waiting for
        // its answer (the client's) for three timeouts: not idle.
        let waiting = started_wait(&rt, &client, &probes).await;
        rt.sleep(LIMIT * 3).await;
        assert!(
            !server.is_closed() && !client.is_closed(),
            "{timed_side}: closed while a call was under way"
        );
        probes.gate.open(1);
        let r = within(&rt, "the Wait call", waiting).await;
        assert!(matches!(r, Ok(Empty {})), "{timed_side}: {r:?}");
        // Calls every 100 ms for a second: not idle.
        let mut last_traffic = Instant::now();
        for i in 0..10 {
            // Both sides' last traffic (the request, the answer) comes after
            // this instant.
            last_traffic = Instant::now();
            sums(&rt, "Sum", &client, i, 1).await;
            rt.sleep(Duration::from_millis(100)).await;
        }
        assert!(
            !server.is_closed() && !client.is_closed(),
            "{timed_side}: closed while calls kept coming"
        );
        // Then nothing: the timed side ends the connection, a whole timeout
        // after its last traffic at the earliest. (Not measured from here:
        // the connection has been idle since the last answer, 100 ms ago,
        // and the rule may rightly fire less than a timeout from now.)
        let started = last_traffic;
        let (timed, other) = if timed_side == "server" {
            (&server, &client)
        } else {
            (&client, &server)
        };
        assert_eq!(
            within(&rt, "the idle timeout", timed.closed()).await,
            ConnectionError::IdleTimeout { timeout: LIMIT },
            "{timed_side}"
        );
        assert!(
            started.elapsed() >= LIMIT,
            "{timed_side}: closed before the timeout"
        );
        assert_eq!(
            within(&rt, "the other side's end", other.closed()).await,
            ConnectionError::PeerClosed,
            "{timed_side}"
        );
    }
}

/// A request without `_ask` whose responder fails, in any way (unknown
/// command, declared error, undeclared failure), closes the connection
/// without a word, as Twisted does; one that succeeds leaves it open.
pub async fn a_request_without_ask_that_fails_closes_the_connection_silently<R: Runtime>(rt: R) {
    let cases = [
        (
            "NoSuch",
            AmpBox::new(),
            "UNHANDLED",
            Some("Unhandled Command: b'NoSuch'"),
        ),
        (
            "Divide",
            AmpBox::from_pairs([("numerator", "1"), ("denominator", "0")]),
            "ZERO_DIVISION",
            Some("division by zero"),
        ),
        ("Boom", AmpBox::new(), "UNKNOWN", None),
    ];
    for (command, arguments, code, description) in cases {
        let (server, client) = rt.pair(math(&Probes::default()), Responders::new());
        within(&rt, command, client.notify_remote(command, arguments))
            .await
            .unwrap();
        match within(&rt, "the server to close", server.closed()).await {
            ConnectionError::FatalError {
                code: c,
                description: d,
            } => {
                assert_eq!(c, code, "{command}");
                if let Some(description) = description {
                    assert_eq!(d, description, "{command}");
                }
            }
            other => panic!("{command}: the server closed with {other:?}"),
        }
        // Had anything been sent, the client would have closed on a box
        // answering no call of its own.
        assert_eq!(
            within(&rt, "the client to close", client.closed()).await,
            ConnectionError::PeerClosed,
            "{command}"
        );
    }

    // One that succeeds leaves the connection open.
    let probes = Probes::default();
    let (server, client) = rt.pair(math(&probes), Responders::new());
    within(
        &rt,
        "Notify",
        client.notify_remote("Notify", AmpBox::from_pairs([("text", "hi")])),
    )
    .await
    .unwrap();
    within(&rt, "the Notify responder", probes.notified.at_least(1)).await;
    sums(&rt, "Sum", &client, 1, 1).await;
    assert!(!server.is_closed());

    // On the wire, over TCP: nothing comes back, then the end of the stream.
    let served = within(
        &rt,
        "the server to bind",
        rt.serve(Arc::new(|_| math(&Probes::default())), Options::default()),
    )
    .await
    .unwrap();
    let addr = served.addr;
    let request = AmpBox::from_pairs([("_command", "NoSuch")])
        .to_bytes()
        .unwrap();
    let ex = within(
        &rt,
        "the exchange",
        blocking(move || vectors::exchange_until_closed(addr, &request, vectors::QUIET)),
    )
    .await;
    assert!(ex.read.is_empty(), "the server wrote {:?}", ex.read);
    assert!(ex.closed, "the server did not close: {ex:?}");
    within(&rt, "the shutdown", served.stop.shutdown(WAIT)).await;
    within(&rt, "the server's run", served.running)
        .await
        .unwrap();
}

/// Dropping the last handle to a connection closes it; the other side sees
/// the peer close. Other handles keep it open.
pub async fn dropping_the_last_handle_closes_the_connection<R: Runtime>(rt: R) {
    let (server, client) = rt.pair(sum_responders(), Responders::new());
    let second = server.clone();
    drop(server);
    sums(&rt, "Sum", &client, 2, 3).await;
    assert!(!second.is_closed());
    let server_closed = second.closed();
    drop(second);
    assert_eq!(
        within(&rt, "the client to close", client.closed()).await,
        ConnectionError::PeerClosed
    );
    assert_eq!(
        within(&rt, "the dropped side to close", server_closed).await,
        ConnectionError::Closed
    );
    let r = within(
        &rt,
        "a call after the close",
        client.call::<Sum>(&sum(1, 1)),
    )
    .await;
    assert!(
        matches!(r, Err(CallError::Connection(ConnectionError::PeerClosed))),
        "{r:?}"
    );
}

/// The binding's `shutdown(&peer, grace)`: the running responder finishes
/// and its answer is written, then the connection closes; past the grace
/// period it closes anyway.
pub async fn graceful_shutdown_of_one_peer<R: Runtime>(rt: R) {
    let probes = Probes::default();
    let (server, client) = rt.pair(math(&probes), Responders::new());
    let in_flight = started_wait(&rt, &client, &probes).await;
    let mut stopping = rt.shutdown(&server, WAIT);
    // Its first step starts the shutdown; it cannot finish before the gate
    // opens.
    assert!((&mut stopping).now_or_never().is_none());
    let stopping = rt.spawn(stopping);
    assert!(!in_flight.is_finished());
    probes.gate.open(1);
    let r = within(&rt, "the call in flight", in_flight).await;
    assert!(matches!(r, Ok(Empty {})), "{r:?}");
    assert_eq!(
        within(&rt, "the shutdown", stopping).await,
        ConnectionError::Closed
    );
    assert_eq!(
        within(&rt, "the client to close", client.closed()).await,
        ConnectionError::PeerClosed
    );

    // A responder that outlives the grace period: closed anyway.
    let probes = Probes::default();
    let (server, client) = rt.pair(math(&probes), Responders::new());
    let in_flight = started_wait(&rt, &client, &probes).await;
    assert_eq!(
        within(
            &rt,
            "the shutdown",
            rt.shutdown(&server, Duration::from_millis(100))
        )
        .await,
        ConnectionError::Closed
    );
    let r = within(&rt, "the call in flight", in_flight).await;
    assert!(
        matches!(r, Err(CallError::Connection(ConnectionError::PeerClosed))),
        "{r:?}"
    );
    assert_eq!(probes.passed.get(), 0);
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

// Answers keep flowing when no responder may start: the read loop of
// `amp_engine` goes on reading (and settling this side's calls) while
// the connection is at its responder bound, its outbound bound, or draining;
// requests read meanwhile wait, within `Options::max_waiting_bytes`. Each
// scenario below hung before it did.

/// A responder that calls back its caller gets the answer even when the
/// connection is at its responder bound (here one responder: the one
/// calling back).
pub async fn a_responder_calling_back_at_the_responder_bound_gets_its_answer<R: Runtime>(rt: R) {
    let (_server, client) = rt.pair_with(
        math(&Probes::default()),
        Options::default().max_responders(1),
        sum_responders(),
        Options::default(),
    );
    let r = within(&rt, "Fan", client.call::<Fan>(&FanArgs { n: 1 })).await;
    assert_eq!(r.unwrap().total, 1);
}

/// A caller with more requests than its outbound bound, to a peer whose
/// answers are as large, through a small stream: every call is answered
/// (the connections must not wait on each other's reading forever).
pub async fn large_answers_through_small_buffers_do_not_deadlock<R: Runtime>(rt: R) {
    let options = Options::default().max_outbound_bytes(16 * 1024);
    let (ours, theirs) = rt.stream_pair(1024);
    let client = rt.peer_on(ours, Responders::new(), options.clone());
    let _server = rt.peer_on(theirs, echo_responders(), options);
    let text = "x".repeat(8 * 1024);
    let calls = join_all((0..1000).map(|_| client.call::<Echo>(&Text { text: text.clone() })));
    for r in within(&rt, "1000 echoes of 8 KiB", calls).await {
        assert_eq!(r.unwrap().text.len(), text.len());
    }
}

/// A responder that calls back its caller while a graceful shutdown waits
/// for it gets its answer, finishes, and its own answer is written.
pub async fn a_responder_calling_back_during_a_graceful_shutdown_gets_its_answer<R: Runtime>(
    rt: R,
) {
    let probes = Probes::default();
    let server_responders = Responders::new().responder(Fan, {
        let probes = probes.clone();
        move |ctx: amp_engine::Context, a: FanArgs| {
            let probes = probes.clone();
            async move {
                probes.entered.up();
                probes.gate.pass().await;
                let answer = ctx
                    .peer
                    .call::<Sum>(&sum(a.n, 1))
                    .await
                    .map_err(Failure::undeclared)?;
                let total = answer.total;
                Ok::<_, Failure<Infallible>>(Total { total })
            }
        }
    });
    let (server, client) = rt.pair(server_responders, sum_responders());
    let in_flight = rt.spawn({
        let c = client.clone();
        async move { c.call::<Fan>(&FanArgs { n: 1 }).await }
    });
    within(
        &rt,
        "the Fan responder to start",
        probes.entered.at_least(1),
    )
    .await;
    let mut stopping = rt.shutdown(&server, WAIT);
    assert!((&mut stopping).now_or_never().is_none());
    let stopping = rt.spawn(stopping);
    probes.gate.open(1);
    let r = within(&rt, "the call in flight", in_flight).await;
    assert_eq!(r.unwrap().total, 2);
    assert_eq!(
        within(&rt, "the shutdown", stopping).await,
        ConnectionError::Closed
    );
}
