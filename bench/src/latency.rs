//! Per-call latency, recorded during the measured window only.
//!
//! A call's latency runs from the moment the caller issues it to the moment
//! the caller has its whole answer:
//!
//! - AMP and tarpc: each of a connection's call loops reads the clock when
//!   a call returns its answer; that instant is also when the loop issues
//!   its next call (nothing is awaited in between), so one clock reading a
//!   call serves as the end of one and the start of the next.
//! - The raw ping-pong has no calls, only whole answers counted as bytes
//!   arrive: the clock is read before each write of requests and after each
//!   read, and since the server answers in order, every whole answer that a
//!   read completes is matched with the oldest request not yet answered
//!   ([`Sent`]).
//!
//! These are closed-loop latencies: a new call is issued only when one
//! completes, so with `I` calls in flight on a connection the mean is about
//! `I` ÷ the connection's rate, and a stall delays the calls behind it rather
//! than adding calls that would have waited (no correction for coordinated
//! omission).
//!
//! Each thread that runs calls records into a histogram of its own
//! (`hdrhistogram`, nanoseconds, three significant digits, up to 60 s), in
//! a thread-local with no lock: a record costs a few nanoseconds beside the
//! clock reading (about 20 ns on the benchmark's machine). A worker adds its thread's histogram
//! to the process's total as it ends (the window closed first), and the
//! client adds its own thread's once the window has closed. One histogram
//! per thread rather than per connection spares 1,000 connections 1,000
//! histograms of about 220 KiB each.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Instant;

use hdrhistogram::Histogram;

/// The longest latency the histograms hold (longer ones count as this).
const HIGHEST_NS: u64 = 60_000_000_000;

/// Whether the measured window is open.
static RECORDING: AtomicBool = AtomicBool::new(false);

/// What the threads have added so far.
static FLUSHED: Mutex<Option<Histogram<u64>>> = Mutex::new(None);

thread_local! {
    static MINE: RefCell<Option<Histogram<u64>>> = const { RefCell::new(None) };
}

fn empty() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, HIGHEST_NS, 3).expect("valid histogram bounds");
    // Writes every count once, so that the first records of the window do
    // not fault in fresh pages.
    h.reset();
    h
}

/// Runs `f` on this thread's histogram.
fn with_mine(f: impl FnOnce(&mut Histogram<u64>)) {
    // `try_with`: a thread being torn down has nothing more to record.
    let _ = MINE.try_with(|h| f(h.borrow_mut().get_or_insert_with(empty)));
}

/// Makes this thread's histogram now rather than at its first record: a
/// worker calls it as it starts (during the warm-up) and holds what it
/// returns until it ends.
#[must_use = "the guard flushes the worker's records as it ends"]
pub fn prepare() -> FlushOnDrop {
    with_mine(|_| ());
    FlushOnDrop
}

/// Opens the measured window: calls completed from now on are recorded.
pub fn start() {
    RECORDING.store(true, Relaxed);
}

/// Closes the measured window.
pub fn stop() {
    RECORDING.store(false, Relaxed);
}

/// Adds this thread's records to the total and empties its histogram.
pub fn flush() {
    with_mine(|h| {
        if !h.is_empty() {
            FLUSHED
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .get_or_insert_with(empty)
                .add(&*h)
                .expect("histograms of the same bounds add");
            h.reset();
        }
    });
}

/// Flushes the current thread's records when dropped: a worker holds one
/// (from [`prepare`]), so that it flushes however it ends.
pub struct FlushOnDrop;

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        flush();
    }
}

fn nanos(from: Instant, to: Instant) -> u64 {
    u64::try_from(to.saturating_duration_since(from).as_nanos()).unwrap_or(u64::MAX)
}

/// One call, issued at `issued` and answered at `answered`: recorded if the
/// window is open.
pub fn record(issued: Instant, answered: Instant) {
    if RECORDING.load(Relaxed) {
        with_mine(|h| h.saturating_record(nanos(issued, answered)));
    }
}

/// The raw ping-pong's requests not yet answered, oldest first, as runs of
/// requests written at the same instant (one write of `k` requests is one
/// run): matching `k` answers costs a step per run, not per answer.
#[derive(Default)]
pub struct Sent {
    runs: VecDeque<(Instant, u64)>,
}

impl Sent {
    /// `k` requests were written at `at`.
    pub fn sent(&mut self, k: usize, at: Instant) {
        if k > 0 {
            self.runs.push_back((at, k as u64));
        }
    }

    /// `k` whole answers arrived at `at`: they answer the `k` oldest
    /// requests, whose latencies are recorded if the window is open.
    pub fn answered(&mut self, k: usize, at: Instant) {
        if k == 0 {
            return;
        }
        if RECORDING.load(Relaxed) {
            with_mine(|h| self.pop(k as u64, at, Some(h)));
        } else {
            self.pop(k as u64, at, None);
        }
    }

    fn pop(&mut self, mut k: u64, at: Instant, mut hist: Option<&mut Histogram<u64>>) {
        while k > 0 {
            let Some((sent, n)) = self.runs.front_mut() else {
                return;
            };
            let take = k.min(*n);
            if let Some(h) = hist.as_deref_mut() {
                h.saturating_record_n(nanos(*sent, at), take);
            }
            *n -= take;
            k -= take;
            if *n == 0 {
                self.runs.pop_front();
            }
        }
    }
}

/// Everything recorded, once the window has closed and the workers have
/// ended (or been given up on): what the workers flushed, and this
/// thread's own records.
pub fn total() -> Histogram<u64> {
    flush();
    FLUSHED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .take()
        .unwrap_or_else(empty)
}

/// The `RESULT` line's latency fields: the calls recorded, p50, p99, p99.9
/// and the maximum, in microseconds (`na` when nothing was recorded).
pub fn fields(h: &Histogram<u64>) -> String {
    let us = |ns: u64| format!("{:.1}", ns as f64 / 1000.0);
    if h.is_empty() {
        return "lat_calls=0 p50_us=na p99_us=na p999_us=na max_us=na".to_owned();
    }
    format!(
        "lat_calls={} p50_us={} p99_us={} p999_us={} max_us={}",
        h.len(),
        us(h.value_at_quantile(0.5)),
        us(h.value_at_quantile(0.99)),
        us(h.value_at_quantile(0.999)),
        us(h.max()),
    )
}
