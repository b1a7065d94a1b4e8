//! How calls and connections end: a dropped call, a lost connection,
//! `shutdown(Duration::ZERO)`, the last handle dropped, and the graceful
//! shutdown of one peer.

use std::pin::pin;
use std::time::Duration;

use amp_core::{CallError, ConnectionError};
use futures_util::FutureExt;
use futures_util::future::{Either, select};

use crate::commands::{Empty, Probes, Sum, Wait, math, sum_responders};
use crate::{Responders, Runtime, WAIT, within};

use super::{started_wait, sum, sums};

/// Dropping a call's future cancels it; its answer, when it comes, is
/// dropped quietly and the connection stays healthy.
pub async fn dropping_a_call_cancels_it_and_its_late_answer_is_ignored<R: Runtime>(rt: R) {
    let probes = Probes::default();
    let (server, client) = rt.pair(math(&probes), Responders::new());
    {
        let mut call = pin!(client.call_as::<Wait>(&Empty {}));
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

/// When the connection is lost, every pending call fails with the reason,
/// and so do later calls.
pub async fn connection_loss_fails_every_pending_call_with_the_reason<R: Runtime>(rt: R) {
    let probes = Probes::default();
    let (server, client) = rt.pair(math(&probes), Responders::new());
    let pending: Vec<_> = (0..20)
        .map(|_| {
            let c = client.clone();
            rt.spawn(async move { c.call_as::<Wait>(&Empty {}).await })
        })
        .collect();
    within(
        &rt,
        "20 Wait responders to start",
        probes.entered.at_least(20),
    )
    .await;
    server.shutdown(std::time::Duration::ZERO);
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
    let r = within(
        &rt,
        "a call after the loss",
        client.call_as::<Sum>(&sum(1, 1)),
    )
    .await;
    assert!(
        matches!(r, Err(CallError::Connection(ConnectionError::PeerClosed))),
        "{r:?}"
    );
    assert_eq!(probes.passed.get(), 0);
}

/// `close()` fails pending calls with `Closed`, and `closed()` says so.
pub async fn closed_reports_why_and_close_fails_pending_calls<R: Runtime>(rt: R) {
    let probes = Probes::default();
    let (server, client) = rt.pair(math(&probes), Responders::new());
    let pending = started_wait(&rt, &client, &probes).await;
    client.shutdown(std::time::Duration::ZERO);
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
        client.call_as::<Sum>(&sum(1, 1)),
    )
    .await;
    assert!(
        matches!(r, Err(CallError::Connection(ConnectionError::PeerClosed))),
        "{r:?}"
    );
}

/// `peer.shutdown(grace)`: the running responder finishes
/// and its answer is written, then the connection closes; past the grace
/// period it closes anyway.
pub async fn graceful_shutdown_of_one_peer<R: Runtime>(rt: R) {
    let probes = Probes::default();
    let (server, client) = rt.pair(math(&probes), Responders::new());
    let in_flight = started_wait(&rt, &client, &probes).await;
    let mut stopping = server.shutdown(WAIT);
    // The shutdown has started; it cannot finish before the gate opens.
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
            server.shutdown(Duration::from_millis(100))
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

/// The stop starts when `shutdown` is called, not when its future is
/// polled: dropping the future does not cancel it. A second `shutdown` with
/// a shorter grace brings the end closer.
pub async fn a_stop_starts_when_asked_and_a_shorter_grace_wins<R: Runtime>(rt: R) {
    let probes = Probes::default();
    let (server, client) = rt.pair(math(&probes), Responders::new());
    let in_flight = started_wait(&rt, &client, &probes).await;
    drop(server.shutdown(WAIT));
    // A request arriving now is refused, not run.
    let refused = within(
        &rt,
        "a call during the shutdown",
        client.call_as::<Sum>(&sum(1, 2)),
    )
    .await;
    assert!(
        matches!(&refused, Err(CallError::Remote(e)) if e.code == amp_engine::SHUTTING_DOWN_ERROR_CODE),
        "{refused:?}"
    );
    assert!(!server.is_closed(), "a responder still runs");
    probes.gate.open(1);
    let r = within(&rt, "the call in flight", in_flight).await;
    assert!(matches!(r, Ok(Empty {})), "{r:?}");
    assert_eq!(
        within(&rt, "the server to close", server.closed()).await,
        ConnectionError::Closed
    );

    let probes = Probes::default();
    let (server, client) = rt.pair(math(&probes), Responders::new());
    let in_flight = started_wait(&rt, &client, &probes).await;
    drop(server.shutdown(Duration::MAX));
    assert_eq!(
        within(
            &rt,
            "the shorter shutdown",
            server.shutdown(Duration::from_millis(50))
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
