//! Bounds and backpressure: the in-flight budget, the responder bound, a
//! full outbound buffer, and answers that keep flowing at every bound.

use std::convert::Infallible;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use amp_core::{ConnectionError, Failure};
use futures_util::FutureExt;
use futures_util::future::{Either, join_all, select};

use crate::commands::{
    Echo, Empty, Fan, FanArgs, Notify, Probes, Sum, Text, Total, Wait, echo_responders, math,
    sum_responders,
};
use crate::sync::{Counter, Gate};
use crate::{Options, Responders, Runtime, WAIT, within};

use super::{sum, sums};

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
        let mut calls: futures_util::stream::FuturesUnordered<_> = (0..CALLS)
            .map(|_| client.call_as::<Wait>(&Empty {}))
            .collect();
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
    let mut calls = pin!(join_all(
        (0..CALLS).map(|_| client.call_as::<Wait>(&Empty {}))
    ));
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
        let send = Box::pin(client.notify_as::<Notify>(&Text { text: text.clone() }));
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
    let r = within(&rt, "Fan", client.call_as::<Fan>(&FanArgs { n: 1 })).await;
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
    let calls = join_all((0..1000).map(|_| client.call_as::<Echo>(&Text { text: text.clone() })));
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
                    .call_as::<Sum>(&sum(a.n, 1))
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
        async move { c.call_as::<Fan>(&FanArgs { n: 1 }).await }
    });
    within(
        &rt,
        "the Fan responder to start",
        probes.entered.at_least(1),
    )
    .await;
    let mut stopping = server.shutdown(WAIT);
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
