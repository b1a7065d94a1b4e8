//! The well-behaved client: it calls `Sum` on the server under attack every
//! 10 ms throughout a case, and fails the case if any call fails or is
//! slow.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::MAX_LATENCY;
use super::report::ms;
use crate::commands::{Sum, SumArgs};
use crate::{Options, Responders, Runtime, Task, WAIT, timeout};

/// Calls `Sum` over and over on its own connection, recording latencies.
pub struct Bystander<R: Runtime> {
    rt: R,
    calls: Arc<AtomicU64>,
    errors: Arc<Mutex<Vec<String>>>,
    max_micros: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: Task<()>,
    /// Calls counted at the start of the current case.
    mark: u64,
}

impl<R: Runtime> Bystander<R> {
    /// Connects to `addr` and starts calling; returns once three calls are
    /// answered.
    pub async fn start(rt: &R, addr: SocketAddr) -> Bystander<R> {
        let peer = rt
            .connect(addr, Responders::new(), Options::default())
            .await
            .unwrap();
        let calls = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let max_micros = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, e, m, s, r) = (
            Arc::clone(&calls),
            Arc::clone(&errors),
            Arc::clone(&max_micros),
            Arc::clone(&stop),
            rt.clone(),
        );
        let task = rt.spawn(async move {
            let mut i: i128 = 0;
            while !s.load(Ordering::SeqCst) {
                i += 1;
                let started = Instant::now();
                match timeout(&r, WAIT, peer.call_as::<Sum>(&SumArgs { a: i, b: 1 })).await {
                    Some(Ok(t)) if t.total == i + 1 => {
                        let us = started.elapsed().as_micros() as u64;
                        m.fetch_max(us, Ordering::SeqCst);
                        c.fetch_add(1, Ordering::SeqCst);
                    }
                    other => e
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(format!("{other:?}")),
                }
                r.sleep(Duration::from_millis(10)).await;
            }
        });
        let mut b = Bystander {
            rt: rt.clone(),
            calls,
            errors,
            max_micros,
            stop,
            task,
            mark: 0,
        };
        b.checkpoint().await;
        b
    }

    /// Starts a case: counts calls and the slowest answer from now on.
    pub fn begin(&mut self) {
        self.mark = self.calls.load(Ordering::SeqCst);
        self.max_micros.store(0, Ordering::SeqCst);
    }

    fn errors(&self) -> Vec<String> {
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits for three more answered calls, then sums up the case so far:
    /// fails if any call failed or was slow.
    pub async fn checkpoint(&mut self) -> String {
        let target = self.calls.load(Ordering::SeqCst) + 3;
        timeout(&self.rt, WAIT, async {
            while self.calls.load(Ordering::SeqCst) < target {
                if !self.errors().is_empty() {
                    break;
                }
                self.rt.sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the well-behaved client got no answer");
        let errors = self.errors();
        assert!(
            errors.is_empty(),
            "the well-behaved client failed: {errors:?}"
        );
        let max = Duration::from_micros(self.max_micros.load(Ordering::SeqCst));
        assert!(
            max < MAX_LATENCY,
            "the well-behaved client waited {max:?} for an answer"
        );
        let calls = self.calls.load(Ordering::SeqCst) - self.mark;
        format!("other client: {calls} calls ok, slowest {}", ms(max))
    }

    /// Stops calling and closes its connection.
    pub async fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = timeout(&self.rt, WAIT, self.task).await;
    }
}
