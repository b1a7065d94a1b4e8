//! A graceful shutdown of a server under load.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use amp_core::{CallError, ConnectionError};
use amp_engine::SHUTTING_DOWN_ERROR_CODE;
use async_net::TcpStream;

use super::harness::{Stats, responders, until};
use super::report::{memory, ms, row, rss_kib};
use crate::commands::{Slow, SlowArgs, Sum, SumArgs};
use crate::{Options, Responders, Runtime, WAIT, timeout};

/// The binding's `Server` with calls in flight on several connections is
/// shut down (`ShutdownHandle::shutdown`): the calls in flight complete
/// with their answers; while they run, calls on the same connections are
/// refused with a `SHUTTING_DOWN` error answer (the connection stays open)
/// and new connections are refused; then every connection closes (the
/// clients see `PeerClosed`, and calls fail with it), and `run` returns.
pub async fn h26_graceful_shutdown_under_load<R: Runtime>(rt: R) {
    let stats = Arc::new(Stats::default());
    let (factory_rt, s) = (rt.clone(), Arc::clone(&stats));
    let served = rt
        .serve(
            Arc::new(move |_| responders(&factory_rt, Arc::clone(&s))),
            Options::default(),
        )
        .await
        .unwrap();
    let (addr, stop, running) = (served.addr, served.stop, served.running);
    let before = rss_kib();

    let (n_clients, per_client, slow_ms) = (8usize, 4usize, 3000u64);
    let grace = Duration::from_secs(20);
    let mut clients = Vec::new();
    for _ in 0..n_clients {
        let c = rt
            .connect(addr, Responders::new(), Options::default())
            .await
            .unwrap();
        let t = c.call_as::<Sum>(&SumArgs { a: 1, b: 2 }).await.unwrap();
        assert_eq!(t.total, 3, "served before the shutdown");
        clients.push(c);
    }
    let mut in_flight = Vec::new();
    for c in &clients {
        for _ in 0..per_client {
            let c = c.clone();
            in_flight.push(rt.spawn(async move {
                let started = Instant::now();
                let outcome = c.call_as::<Slow>(&SlowArgs { ms: slow_ms }).await;
                (outcome.map(|_| true), started.elapsed())
            }));
        }
    }
    let total = n_clients * per_client;
    until(&rt, "the Slow calls never all started", || {
        stats.slow_running.load(Ordering::SeqCst) >= total
    })
    .await;

    let asked = Instant::now();
    let stopping = {
        let stop = stop.clone();
        rt.spawn(async move {
            stop.shutdown(grace).await;
            asked.elapsed()
        })
    };

    // New connections: refused once the listener is gone. One that got in
    // before is dropped; one caught in the closing listener's queue is
    // reset: try again.
    let refused = timeout(&rt, WAIT, async {
        loop {
            match TcpStream::connect(addr).await {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
                Err(e) => return e,
                Ok(early) => drop(early),
            }
            rt.sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the server kept accepting connections");
    assert_eq!(
        refused.kind(),
        std::io::ErrorKind::ConnectionRefused,
        "connecting during the shutdown: {refused}"
    );
    let refused_at = asked.elapsed();

    // Calls on the connections still open (their Slow calls running):
    // answered at once with SHUTTING_DOWN, and the connection stays.
    let mut refusals = Vec::new();
    for c in &clients {
        let sent = Instant::now();
        let outcome = timeout(&rt, WAIT, c.call_as::<Sum>(&SumArgs { a: 1, b: 2 }))
            .await
            .expect("a call during the shutdown hung");
        match outcome {
            Err(CallError::Remote(e)) if e.code == SHUTTING_DOWN_ERROR_CODE => {
                refusals.push((e, sent.elapsed()))
            }
            other => panic!("a call during the shutdown ended with {other:?}"),
        }
        assert!(
            !c.is_closed(),
            "the SHUTTING_DOWN answer closed the connection"
        );
    }
    assert_eq!(
        stats.slow_done.load(Ordering::SeqCst),
        0,
        "a Slow call finished before the calls made during the shutdown were answered: \
         they did not meet an open, draining connection"
    );
    let refused_calls_at = asked.elapsed();

    // Every call in flight completes with its answer.
    let mut took = Vec::new();
    for t in in_flight {
        let (outcome, elapsed) = timeout(&rt, WAIT, t).await.expect("a call in flight hung");
        match outcome {
            Ok(true) => took.push(elapsed),
            other => panic!("a Slow call in flight ended with {other:?}"),
        }
    }
    let stop_took = timeout(&rt, WAIT, stopping)
        .await
        .expect("the shutdown did not finish");
    timeout(&rt, WAIT, running)
        .await
        .expect("run did not return")
        .expect("run failed");
    assert!(
        stop_took < grace,
        "the shutdown took the whole grace period"
    );

    // Then every connection is closed: calls fail with its reason.
    let mut after = Vec::new();
    for c in &clients {
        let reason = timeout(&rt, WAIT, c.closed())
            .await
            .expect("the server did not close a connection");
        assert_eq!(
            reason,
            ConnectionError::PeerClosed,
            "how a connection ended"
        );
        match c.call_as::<Sum>(&SumArgs { a: 1, b: 2 }).await {
            Err(CallError::Connection(e)) => after.push(e),
            other => panic!("a call after the close ended with {other:?}"),
        }
    }
    assert!(
        after.iter().all(|e| *e == ConnectionError::PeerClosed),
        "calls after the close: {after:?}"
    );
    let shortest = took.iter().min().copied().unwrap_or_default();
    let longest = took.iter().max().copied().unwrap_or_default();
    let slowest_refusal = refusals.iter().map(|r| r.1).max().unwrap_or_default();
    row(
        &format!(
            "graceful shutdown (grace {} s) of `Server` with {n_clients} clients × {per_client} \
             Slow ({} s) calls in flight",
            grace.as_secs(),
            slow_ms / 1000
        ),
        "every call in flight answered; meanwhile calls on the open connections get a \
         SHUTTING_DOWN error answer (connection kept) and connecting is refused; then every \
         connection closes (calls fail with PeerClosed) and `run` returns",
        &format!(
            "{} of {total} answered ({:.2}–{:.2} s); connect refused ({:?}) {} after the \
             stop; {} calls during it: {} \"{}\" within {} each, connection kept, by {} \
             after the stop; `run` returned Ok {:.2} s after the stop; then {} clients \
             closed with PeerClosed, calls: Connection(PeerClosed)",
            took.len(),
            shortest.as_secs_f64(),
            longest.as_secs_f64(),
            refused.kind(),
            ms(refused_at),
            refusals.len(),
            SHUTTING_DOWN_ERROR_CODE,
            refusals[0].0.description,
            ms(slowest_refusal),
            ms(refused_calls_at),
            stop_took.as_secs_f64(),
            after.len(),
        ),
        &memory(before),
    );
}
