//! What ended connections leave behind: every task and responder of a
//! connection goes when it ends, nothing panics, and a responder's result
//! with nowhere to go is dropped.
//!
//! The runtime's live tasks are compared before and after where the
//! runtime counts them ([`Runtime::live_tasks`]: tokio's
//! `num_alive_tasks`); elsewhere the cases check everything else and say
//! the tasks were not counted.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use amp_core::CallError;

use super::bystander::Bystander;
use super::faults::start_proxy;
use super::harness::{Harness, until};
use super::report::{Tally, memory, ms, row, rss_kib};
use crate::commands::{Empty, Hang, Quit, Slow, SlowArgs, Sum, SumArgs};
use crate::sync::Gate;
use crate::{Options, Peer, Responders, Runtime, Task, WAIT, timeout};

/// Connections each leak case runs through.
pub const LEAK_CONNECTIONS: usize = 200;
/// How many of them are open at once.
pub const LEAK_BATCH: usize = 20;

/// Waits until no more tasks are alive than `baseline` (where the runtime
/// counts them); how long it took.
async fn tasks_back_to<R: Runtime>(rt: &R, baseline: Option<usize>, what: &str) -> Duration {
    let started = Instant::now();
    let Some(baseline) = baseline else {
        return Duration::ZERO;
    };
    let alive = || {
        rt.live_tasks()
            .expect("the runtime counted its tasks before")
    };
    timeout(rt, WAIT, async {
        while alive() > baseline {
            rt.sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|| panic!("{what}: {} tasks still alive, {baseline} before", alive()));
    started.elapsed()
}

/// Panics so far, anywhere in the process: a runtime catches a spawned
/// task's panic, so a hook counts them.
fn panics() -> usize {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            COUNT.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
    COUNT.load(Ordering::SeqCst)
}

/// Counts down a counter when dropped.
struct Counted(Arc<AtomicUsize>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A client's responders: `Hang`, counted in `live` while it runs.
fn hanging(live: &Arc<AtomicUsize>) -> Responders {
    let live = Arc::clone(live);
    Responders::new().responder(Hang, move |_, _: Empty| {
        let live = Arc::clone(&live);
        async move {
            live.fetch_add(1, Ordering::SeqCst);
            let _running = Counted(live);
            std::future::pending::<()>().await;
            Ok::<_, Infallible>(Empty {})
        }
    })
}

/// What the connections of a leak case saw.
#[derive(Default)]
struct Seen {
    /// Calls that failed with a connection error, by side and reason.
    client_calls: Tally,
    server_calls: Tally,
    /// How the server's connections ended.
    server: Tally,
    /// Slowest call failure after its connection was cut.
    slowest: Duration,
    /// Most tasks alive at once (where counted).
    peak_tasks: usize,
}

impl Seen {
    fn count_tasks<R: Runtime>(&mut self, rt: &R) {
        if let Some(n) = rt.live_tasks() {
            self.peak_tasks = self.peak_tasks.max(n);
        }
    }
}

type Calls = Vec<(&'static str, Task<Result<(), CallError<Infallible>>>)>;

/// `n` connections at once, each with 3 `Slow` calls of the client's and 2
/// `Hang` calls of the server's in flight, then all reset (through a proxy,
/// RST both ways) or closed by the client (FIN). Every call must fail with
/// a connection error.
async fn in_flight_batch<R: Runtime>(
    rt: &R,
    h: &Harness<R>,
    hung: &Arc<AtomicUsize>,
    n: usize,
    reset: bool,
    seen: &mut Seen,
) {
    until(rt, "responders of an earlier batch still running", || {
        h.stats.slow_running.load(Ordering::SeqCst) == 0 && hung.load(Ordering::SeqCst) == 0
    })
    .await;
    let mut conns: Vec<(Option<Arc<Gate>>, Peer, SocketAddr, Calls)> = Vec::new();
    for _ in 0..n {
        let (kill, client, server_addr) = if reset {
            let (proxy_addr, kill, server_side) = start_proxy(rt, h.addr).await;
            let client = rt
                .connect(proxy_addr, hanging(hung), Options::default())
                .await
                .unwrap();
            (Some(kill), client, server_side.await.unwrap())
        } else {
            let (client, me) = rt.connect_tcp(h.addr, hanging(hung)).await.unwrap();
            (None, client, me)
        };
        let server = h.accepted(server_addr).await;
        let mut calls: Calls = Vec::new();
        for _ in 0..3 {
            let c = client.clone();
            calls.push((
                "client",
                rt.spawn(async move {
                    c.call_as::<Slow>(&SlowArgs { ms: 600_000 })
                        .await
                        .map(|_| ())
                }),
            ));
        }
        for _ in 0..2 {
            let s = server.clone();
            calls.push((
                "server",
                rt.spawn(async move { s.call_as::<Hang>(&Empty {}).await.map(|_| ()) }),
            ));
        }
        drop(server);
        conns.push((kill, client, server_addr, calls));
    }
    until(rt, "the calls never all started", || {
        h.stats.slow_running.load(Ordering::SeqCst) == 3 * n && hung.load(Ordering::SeqCst) == 2 * n
    })
    .await;
    seen.count_tasks(rt);
    let cut = Instant::now();
    for (kill, client, ..) in &conns {
        match kill {
            Some(kill) => kill.open(1),
            None => {
                client.shutdown(std::time::Duration::ZERO);
            }
        }
    }
    for (_, client, server_addr, calls) in conns {
        for (side, call) in calls {
            let outcome = timeout(rt, WAIT, call)
                .await
                .unwrap_or_else(|| panic!("a {side} call did not fail"));
            match outcome {
                Err(CallError::Connection(e)) if side == "client" => seen.client_calls.add(&e),
                Err(CallError::Connection(e)) => seen.server_calls.add(&e),
                other => panic!("a {side} call ended with {other:?}"),
            }
        }
        seen.slowest = seen.slowest.max(cut.elapsed());
        seen.server.add(&h.reason(server_addr).await);
        drop(client);
    }
}

/// The live-task part of a leak case's observed column.
fn tasks_text<R: Runtime>(rt: &R, baseline: Option<usize>, peak: usize, settled: &str) -> String {
    match (baseline, rt.live_tasks()) {
        (Some(baseline), Some(now)) => {
            format!("live tasks {baseline} before, {peak} at the peak, {now} after ({settled})")
        }
        _ => "live tasks not counted (the runtime has no count)".to_owned(),
    }
}

/// The end of a leak case's name: whether its tasks are counted.
fn tasks_counted<R: Runtime>(rt: &R) -> &'static str {
    match rt.live_tasks() {
        Some(_) => ": tasks counted",
        None => "",
    }
}

/// The expected column's words on live tasks.
fn tasks_expected<R: Runtime>(rt: &R, what: &str) -> String {
    match rt.live_tasks() {
        Some(_) => format!("the runtime's live tasks back to the baseline{what}"),
        None => "(live tasks not counted on this runtime)".to_owned(),
    }
}

/// The ROW's observed column for a leak case.
fn leak_summary<R: Runtime>(
    rt: &R,
    seen: &Seen,
    baseline: Option<usize>,
    settled: &str,
    summary: &str,
) -> String {
    format!(
        "client calls: {}; server calls: {}; server connections: {}; slowest failure {}; \
         {}; 0 responders left running; no panic; {summary}",
        seen.client_calls.text(),
        seen.server_calls.text(),
        seen.server.text(),
        ms(seen.slowest),
        tasks_text(rt, baseline, seen.peak_tasks, settled),
    )
}

/// Connections reset with calls in flight both ways, many times over: the
/// runtime's live tasks come back to what they were, no responder is left
/// running on either side, nothing panics.
pub async fn h27_no_task_left_after_resets<R: Runtime>(rt: R) {
    let h = Harness::start(&rt, Options::default()).await;
    let mut other = Bystander::start(&rt, h.addr).await;
    let before = rss_kib();
    other.begin();
    let panicked = panics();
    rt.sleep(Duration::from_millis(50)).await;
    let baseline = rt.live_tasks();
    let hung = Arc::new(AtomicUsize::new(0));
    let mut seen = Seen::default();
    for _ in 0..LEAK_CONNECTIONS / LEAK_BATCH {
        in_flight_batch(&rt, &h, &hung, LEAK_BATCH, true, &mut seen).await;
    }
    let settled = tasks_back_to(&rt, baseline, "after the resets").await;
    until(&rt, "responders still running after the resets", || {
        h.stats.slow_running.load(Ordering::SeqCst) == 0 && hung.load(Ordering::SeqCst) == 0
    })
    .await;
    assert_eq!(panics(), panicked, "something panicked");
    let summary = other.checkpoint().await;
    row(
        &format!(
            "{LEAK_CONNECTIONS} connections reset (RST both ways), {LEAK_BATCH} at a time, \
             each with 3 + 2 calls in flight both ways{}",
            tasks_counted(&rt)
        ),
        &format!(
            "every pending call fails with a connection error; {}; no responder left running; \
             no panic",
            tasks_expected(&rt, "")
        ),
        &leak_summary(
            &rt,
            &seen,
            baseline,
            &format!("{} to settle", ms(settled)),
            &summary,
        ),
        &memory(before),
    );
    other.stop().await;
}

/// Connections closed by the client with calls in flight both ways, and
/// connections closed normally (their calls answered, the last handle
/// dropped), many times over: the live tasks come back to what they were.
pub async fn h28_no_task_left_after_closes<R: Runtime>(rt: R) {
    let h = Harness::start(&rt, Options::default()).await;
    let mut other = Bystander::start(&rt, h.addr).await;
    let before = rss_kib();
    other.begin();
    let panicked = panics();
    rt.sleep(Duration::from_millis(50)).await;
    let baseline = rt.live_tasks();
    let hung = Arc::new(AtomicUsize::new(0));
    let mut seen = Seen::default();
    for _ in 0..LEAK_CONNECTIONS / LEAK_BATCH {
        in_flight_batch(&rt, &h, &hung, LEAK_BATCH, false, &mut seen).await;
    }
    let settled_mid_call = tasks_back_to(&rt, baseline, "after the closes mid-call").await;

    // Normal closes: three calls answered, then the last handle dropped.
    let mut answered = 0usize;
    for _ in 0..LEAK_CONNECTIONS / LEAK_BATCH {
        let mut batch = Vec::new();
        for _ in 0..LEAK_BATCH {
            let (client, me) = rt.connect_tcp(h.addr, Responders::new()).await.unwrap();
            batch.push((
                me,
                rt.spawn(async move {
                    for i in 0..3 {
                        let t = client.call_as::<Sum>(&SumArgs { a: i, b: 1 }).await;
                        assert_eq!(t.unwrap().total, i + 1);
                    }
                    // `client`, the last handle, is dropped here.
                }),
            ));
        }
        seen.count_tasks(&rt);
        for (me, task) in batch {
            timeout(&rt, WAIT, task).await.expect("a client hung");
            answered += 3;
            seen.server.add(&h.reason(me).await);
        }
    }
    let settled = tasks_back_to(&rt, baseline, "after the normal closes").await;
    until(&rt, "responders still running after the closes", || {
        h.stats.slow_running.load(Ordering::SeqCst) == 0 && hung.load(Ordering::SeqCst) == 0
    })
    .await;
    assert_eq!(panics(), panicked, "something panicked");
    let summary = other.checkpoint().await;
    row(
        &format!(
            "{LEAK_CONNECTIONS} connections closed by the client (FIN) with 3 + 2 calls in \
             flight both ways, then {LEAK_CONNECTIONS} closed normally after 3 answered calls \
             (last handle dropped), {LEAK_BATCH} at a time{}",
            tasks_counted(&rt)
        ),
        &format!(
            "every pending call fails with a connection error, every other call answered; {}; \
             no responder left running; no panic",
            tasks_expected(&rt, " after each")
        ),
        &format!(
            "{answered} calls answered; {}",
            leak_summary(
                &rt,
                &seen,
                baseline,
                &format!(
                    "{} to settle after the closes mid-call, {} after the normal closes",
                    ms(settled_mid_call),
                    ms(settled)
                ),
                &summary
            ),
        ),
        &memory(before),
    );
    other.stop().await;
}

/// How many "responder result dropped" events the engine has logged so
/// far, seen by a minimal subscriber of the suite's own (installed as the
/// global default on first use). Only where the engine logs
/// ([`Runtime::engine_logs`]).
fn dropped_results_logged() -> usize {
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    static COUNT: AtomicUsize = AtomicUsize::new(0);
    static INSTALL: std::sync::Once = std::sync::Once::new();

    struct Counter;
    struct Message(bool);
    impl Visit for Message {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" && format!("{value:?}") == "responder result dropped" {
                self.0 = true;
            }
        }
    }
    impl Subscriber for Counter {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut m = Message(false);
            event.record(&mut m);
            if m.0 {
                COUNT.fetch_add(1, Ordering::SeqCst);
            }
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
    INSTALL.call_once(|| {
        tracing::subscriber::set_global_default(Counter)
            .expect("a global subscriber is set already")
    });
    COUNT.load(Ordering::SeqCst)
}

/// A responder's result that has nowhere to go: the responder closes its
/// own connection, then returns. The result is dropped (with the engine's
/// `tracing` feature, logged), nothing panics, the caller's call fails with
/// the connection's end, and no task is left behind. Half the responders
/// return at their first poll, half after a 20 ms sleep (the two ways a
/// result reaches the engine).
pub async fn h29_result_dropped_when_its_connection_ended<R: Runtime>(rt: R) {
    let h = Harness::start(&rt, Options::default()).await;
    let mut other = Bystander::start(&rt, h.addr).await;
    let before = rss_kib();
    other.begin();
    let panicked = panics();
    let logged_before = rt.engine_logs().then(dropped_results_logged);
    rt.sleep(Duration::from_millis(50)).await;
    let baseline = rt.live_tasks();
    let mut seen = Seen::default();
    for b in 0..LEAK_CONNECTIONS / LEAK_BATCH {
        let mut batch = Vec::new();
        for i in 0..LEAK_BATCH {
            let (client, me) = rt.connect_tcp(h.addr, Responders::new()).await.unwrap();
            let ms = if (b * LEAK_BATCH + i).is_multiple_of(2) {
                0
            } else {
                20
            };
            batch.push((
                me,
                rt.spawn(async move { client.call_as::<Quit>(&SlowArgs { ms }).await.map(|_| ()) }),
            ));
        }
        seen.count_tasks(&rt);
        for (me, task) in batch {
            match timeout(&rt, WAIT, task).await.expect("a Quit call hung") {
                Err(CallError::Connection(e)) => seen.client_calls.add(&e),
                other => panic!("a Quit call ended with {other:?}"),
            }
            seen.server.add(&h.reason(me).await);
        }
    }
    // A responder closes its connection before it counts itself, so the
    // caller can see the end while the responder's thread has yet to
    // count: the count is read once every task has settled (where the
    // runtime counts them) and after waiting for it (where it does not).
    // A responder dropped before returning never counts.
    let settled = tasks_back_to(&rt, baseline, "after the dropped results").await;
    until(
        &rt,
        "fewer Quit responders returned a result than were called",
        || h.stats.quit_returned.load(Ordering::SeqCst) >= LEAK_CONNECTIONS,
    )
    .await;
    let returned = h.stats.quit_returned.load(Ordering::SeqCst);
    assert_eq!(
        returned, LEAK_CONNECTIONS,
        "Quit responders that returned a result"
    );
    assert_eq!(panics(), panicked, "something panicked");
    let logged = match logged_before {
        Some(logged_before) => {
            // Logged just after the responder returns, on its thread.
            until(
                &rt,
                "fewer \"responder result dropped\" events than results",
                || dropped_results_logged() - logged_before >= LEAK_CONNECTIONS,
            )
            .await;
            let n = dropped_results_logged() - logged_before;
            assert_eq!(n, LEAK_CONNECTIONS, "\"responder result dropped\" events");
            format!("{n} logged (\"responder result dropped\")")
        }
        None => "not logged (no `tracing` feature)".to_owned(),
    };
    let summary = other.checkpoint().await;
    let tasks = tasks_text(
        &rt,
        baseline,
        seen.peak_tasks,
        &format!("{} to settle", ms(settled)),
    );
    row(
        &format!(
            "{LEAK_CONNECTIONS} responders closing their own connection, then returning a \
             result (half at once, half after 20 ms), {LEAK_BATCH} at a time"
        ),
        &format!(
            "each result dropped (logged under `tracing`), no panic; the caller's call fails \
             with a connection error; {}",
            tasks_expected(&rt, "")
        ),
        &format!(
            "{returned} results returned and dropped, {logged}, none answered; caller calls: {}; \
             server connections: {}; {tasks}; no panic; {summary}",
            seen.client_calls.text(),
            seen.server.text(),
        ),
        &memory(before),
    );
    other.stop().await;
}
