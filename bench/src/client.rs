//! The client side, apart from the runtime: connecting N connections, the
//! warm-up and the measured window, the counters, the CPU readings, the
//! latencies (see `latency`) and the `RESULT` line, and the AMP call loop
//! (the peer type is the same whichever runtime drives its connection). A
//! runtime only supplies [`Runtime`]: how to spawn a task.
//!
//! The client's clock (warm-up, measured window, the wait for the last
//! calls) is a thread of its own, not a runtime timer: every runtime is
//! timed by the same clock, and none has a timer of the benchmark's to run.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use amp_engine::Peer;
use futures::FutureExt;
use futures::channel::oneshot;
use futures::future::{self, Either};
use futures::stream::{FuturesUnordered, StreamExt, TryStreamExt};

use crate::latency;
use crate::{A, B, Impl, Sum, SumArgs, TOTAL, Total};

/// What a client measures.
pub struct ClientSpec {
    pub imp: Impl,
    pub addr: String,
    pub conns: usize,
    pub inflight: usize,
    pub seconds: f64,
    pub warmup: f64,
    pub server_pid: Option<String>,
    pub label: String,
    /// The TLS server's certificate (PEM), for the TLS impls.
    pub cert: Option<String>,
}

/// What a client needs of an async runtime.
pub trait Runtime {
    /// Runs `task` in the background; the future returned completes when
    /// the task has.
    fn spawn<F>(&self, task: F) -> impl Future<Output = ()> + Send + 'static
    where
        F: Future<Output = ()> + Send + 'static;
}

/// Completes after `d`, timed by a thread of its own rather than by the
/// runtime (see the module's documentation).
pub fn sleep(d: Duration) -> impl Future<Output = ()> + Send + 'static {
    let (done, wait) = oneshot::channel::<()>();
    std::thread::spawn(move || {
        std::thread::sleep(d);
        let _ = done.send(());
    });
    wait.map(drop)
}

/// One connection's counts; one per connection, so that the workers never
/// share a cache line they write.
#[derive(Default)]
pub struct Counters {
    pub done: AtomicU64,
    pub errors: AtomicU64,
}

/// Opens `n` connections with `connect`, at most 64 handshakes at a time, so
/// that the listener's backlog is never overrun.
pub async fn connect_all<C, F, Fut>(n: usize, connect: F) -> io::Result<Vec<C>>
where
    F: Fn() -> Fut,
    Fut: Future<Output = io::Result<C>>,
{
    futures::stream::iter(0..n)
        .map(|_| connect())
        .buffer_unordered(64)
        .try_collect()
        .await
}

/// Runs `work(connection, inflight, counters, stop)` on every connection as a
/// task of its own, lets the warm-up pass, counts the calls completed in the
/// measured window and records their latencies (the workers call
/// `latency::record`, or use `latency::Sent`), stops the workers and returns
/// the `RESULT` line.
pub async fn measure<R, C, W, Fut>(rt: &R, spec: &ClientSpec, conns: Vec<C>, work: W) -> String
where
    R: Runtime,
    W: Fn(C, usize, Arc<Counters>, Arc<AtomicBool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let counters: Vec<Arc<Counters>> = (0..conns.len()).map(|_| Arc::default()).collect();
    let workers: Vec<_> = conns
        .into_iter()
        .zip(&counters)
        .map(|(conn, counter)| {
            rt.spawn(work(
                conn,
                spec.inflight,
                Arc::clone(counter),
                Arc::clone(&stop),
            ))
        })
        .collect();
    let total = |counters: &[Arc<Counters>]| -> (u64, u64) {
        counters.iter().fold((0, 0), |(d, e), c| {
            (d + c.done.load(Relaxed), e + c.errors.load(Relaxed))
        })
    };

    sleep(Duration::from_secs_f64(spec.warmup)).await;
    let (c0, e0) = total(&counters);
    let cpu0 = cpu_seconds("self");
    let scpu0 = spec.server_pid.as_deref().and_then(cpu_seconds);
    let busy0 = machine_busy_seconds();
    let t0 = Instant::now();
    latency::start();
    sleep(Duration::from_secs_f64(spec.seconds)).await;
    latency::stop();
    let (c1, e1) = total(&counters);
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu1 = cpu_seconds("self");
    let scpu1 = spec.server_pid.as_deref().and_then(cpu_seconds);
    let busy1 = machine_busy_seconds();
    stop.store(true, Relaxed);
    // Let the calls in flight finish (bounded), so the server sees clean
    // closes rather than resets.
    let all = future::join_all(workers);
    let limit = sleep(Duration::from_secs(3));
    futures::pin_mut!(all, limit);
    if let Either::Right(_) = future::select(all, limit).await {
        // Some connection did not finish in time: the measurement is done
        // anyway.
    }
    let latencies = latency::fields(&latency::total());

    let calls = c1 - c0;
    let fmt_cpu = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.2}", (b - a) / elapsed),
        _ => "na".to_owned(),
    };
    // What everything else on the machine used meanwhile, in cores: a
    // measurement with this well above zero shared the CPUs.
    let others = match (busy0, busy1, cpu0, cpu1, scpu0, scpu1) {
        (Some((b0, _)), Some((b1, _)), Some(c0), Some(c1), Some(s0), Some(s1)) => {
            format!(
                "{:.2}",
                ((b1 - b0) - (c1 - c0) - (s1 - s0)).max(0.0) / elapsed
            )
        }
        _ => "na".to_owned(),
    };
    let steal = match (busy0, busy1) {
        (Some((_, a)), Some((_, b))) => format!("{:.2}", (b - a) / elapsed),
        _ => "na".to_owned(),
    };
    format!(
        "RESULT impl={} label={} conns={} inflight={} calls={} seconds={:.3} rate={:.0} errors={} client_cpu={} server_cpu={} others_cpu={} steal_cpu={} {}",
        spec.imp.name(),
        if spec.label.is_empty() {
            "-"
        } else {
            &spec.label
        },
        spec.conns,
        spec.inflight,
        calls,
        elapsed,
        calls as f64 / elapsed,
        e1 - e0,
        fmt_cpu(cpu0, cpu1),
        fmt_cpu(scpu0, scpu1),
        others,
        steal,
        latencies,
    )
}

/// Keeps `inflight` calls going on one AMP connection until told to stop:
/// `inflight` loops, each making one call after another (as the Twisted
/// client's callbacks do), polled together in one task. The harness costs
/// one wake-up per call and no allocation (a `FuturesUnordered` refilled
/// with a new call as each completes allocated and freed a task per call),
/// and one clock reading per call: the instant a call is answered is the
/// instant the loop issues its next one.
pub async fn amp_worker(peer: Peer, inflight: usize, counter: &Counters, stop: &AtomicBool) {
    let _flush = latency::prepare();
    let args = SumArgs { a: A, b: B };
    let (peer, args) = (&peer, &args);
    let mut workers: FuturesUnordered<_> = (0..inflight)
        .map(|_| async move {
            let mut issued = Instant::now();
            while !stop.load(Relaxed) {
                let answer = peer.call_as::<Sum>(args).await;
                let answered = Instant::now();
                match answer {
                    Ok(Total { total: TOTAL }) => {
                        latency::record(issued, answered);
                        counter.done.fetch_add(1, Relaxed);
                    }
                    _ => {
                        counter.errors.fetch_add(1, Relaxed);
                        if peer.is_closed() {
                            return;
                        }
                    }
                }
                issued = answered;
            }
        })
        .collect();
    while workers.next().await.is_some() {}
    peer.shutdown(std::time::Duration::ZERO);
}

/// CPU seconds (user + system) a process has used, from /proc.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux configuration in practice.
    Some((utime + stime) / 100.0)
}

/// CPU seconds the whole machine has been busy (all cores, steal excluded),
/// from /proc/stat.
fn machine_busy_seconds() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let busy = v.first()? + v.get(1)? + v.get(2)? + v.get(5)? + v.get(6)?;
    // Time the hypervisor gave this machine's CPUs to someone else.
    let steal = v.get(7).copied().unwrap_or(0.0);
    Some((busy / 100.0, steal / 100.0))
}
