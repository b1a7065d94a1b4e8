//! The model of the timeouts' rules (the unfinished-box timeout and the
//! idle timeout) that the `dispatcher` check and the `router` check hold a
//! connection, or a router, to.
//!
//! A check keeps a [`Clock`]: it moves `now`, counts the bytes it hands over
//! (`fed`), takes for sending (`transmitted`) and sees fully decoded
//! (`drained_at`), records a sample at every `poll_timeout`/`handle_timeout`
//! ([`Clock::sample`]), then compares what the connection does with
//! [`Clock::deadline`] and [`Clock::fired`].
//!
//! Like `input.rs`, it is run by the stable tests replaying those checks as
//! much as by the fuzzers; so no fuzzing crate here.

use std::time::{Duration, Instant};

use amp_core::{ConnectionError, Timeouts};
use amp_router::Router;

use crate::input::Input;

/// What a time action drives: a connection, or a router. Each method is the
/// machine's own of that name.
pub trait Timed {
    /// Whether the connection has ended.
    fn is_closed(&self) -> bool;
    /// Why it ended, once it has.
    fn close_reason(&self) -> Option<&ConnectionError>;
    /// The received bytes not decoded yet.
    fn buffered(&self) -> usize;
    /// The bytes queued for sending, not taken yet.
    fn pending_transmit(&self) -> usize;
    /// The next deadline, as of `now`.
    fn poll_timeout(&mut self, now: Instant) -> Option<Instant>;
    /// Fires what timeout is due at `now`.
    fn handle_timeout(&mut self, now: Instant);
    /// Stops (`true`) or resumes reading.
    fn pause_reading(&mut self, paused: bool);
}

impl Timed for amp_core::Connection {
    fn is_closed(&self) -> bool {
        amp_core::Connection::is_closed(self)
    }
    fn close_reason(&self) -> Option<&ConnectionError> {
        amp_core::Connection::close_reason(self)
    }
    fn buffered(&self) -> usize {
        amp_core::Connection::buffered(self)
    }
    fn pending_transmit(&self) -> usize {
        amp_core::Connection::pending_transmit(self)
    }
    fn poll_timeout(&mut self, now: Instant) -> Option<Instant> {
        amp_core::Connection::poll_timeout(self, now)
    }
    fn handle_timeout(&mut self, now: Instant) {
        amp_core::Connection::handle_timeout(self, now)
    }
    fn pause_reading(&mut self, paused: bool) {
        amp_core::Connection::pause_reading(self, paused)
    }
}

impl Timed for Router {
    fn is_closed(&self) -> bool {
        Router::is_closed(self)
    }
    fn close_reason(&self) -> Option<&ConnectionError> {
        Router::close_reason(self)
    }
    fn buffered(&self) -> usize {
        Router::buffered(self)
    }
    fn pending_transmit(&self) -> usize {
        Router::pending_transmit(self)
    }
    fn poll_timeout(&mut self, now: Instant) -> Option<Instant> {
        Router::poll_timeout(self, now)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Router::handle_timeout(self, now)
    }
    fn pause_reading(&mut self, paused: bool) {
        Router::pause_reading(self, paused)
    }
}

/// What a connection (or a router) looked like at one
/// `poll_timeout`/`handle_timeout`, as a model counts it.
#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Instant,
    /// Bytes decoded into whole boxes.
    decoded: u64,
    /// Bytes received and not decoded.
    buffered: u64,
    /// Nothing whole is left to decode: the last poll found no box, and no
    /// byte came since.
    drained: bool,
    /// Work under way (calls waiting, answers owed, bytes to decode or to
    /// send).
    busy: bool,
    /// Activity: busy, the first sample, or bytes received or taken for
    /// sending since the sample before.
    active: bool,
    paused: bool,
    /// Pauses so far (a pause stops the unfinished-box clock, even one that
    /// ended before the next sample).
    pauses: usize,
}

/// The timeouts' rules, stated over the history of samples rather than as
/// state kept between calls, with the time and counts the model keeps.
pub struct Clock {
    timeouts: Timeouts,
    /// When the model started.
    pub t0: Instant,
    /// The time the check has reached: what it hands the connection as now.
    pub now: Instant,
    /// Bytes handed to the connection while it was open.
    pub fed: u64,
    /// `fed` when a poll last found nothing with the connection open.
    pub drained_at: u64,
    /// Bytes taken for sending.
    pub transmitted: u64,
    paused: bool,
    pauses: usize,
    /// The samples that still matter (older ones are dropped, see
    /// [`Clock::sample`]), with the counters of the last one.
    samples: Vec<Sample>,
    last_counts: Option<(u64, u64)>,
    /// The deadline `poll_timeout` last returned.
    pub last_deadline: Option<Instant>,
}

impl Clock {
    /// One time action: ask for the deadline, let time pass, hand the
    /// machine an instant at or after the deadline (or just before it),
    /// stop or start reading. Checks every deadline against the model's,
    /// and that a timeout closes the machine exactly when, and as, the
    /// model says (never the idle one while it is busy). `calls_under_way`
    /// says whether the check's own books have calls waiting or answers
    /// owed (the rest of being busy the machine says itself).
    pub fn time<M: Timed>(&mut self, m: &mut M, input: &mut Input, calls_under_way: bool) {
        let handle = match input.u8() % 8 {
            0 => false,
            1 => {
                if let Some(d) = self.last_deadline {
                    self.now = self.now.max(d);
                }
                true
            }
            2 => {
                if let Some(d) = self.last_deadline {
                    self.now = self.now.max(d - Duration::from_nanos(1));
                }
                true
            }
            3 => {
                self.now += Duration::from_micros(u64::from(input.u16()));
                true
            }
            4 => {
                self.now += Duration::from_micros(u64::from(input.u16()));
                return;
            }
            5 => {
                let paused = input.bool();
                self.pause(paused);
                m.pause_reading(paused);
                return;
            }
            6 => {
                self.now += Duration::from_micros(u64::from(input.u16()));
                false
            }
            _ => true,
        };
        let now = self.now;
        if m.is_closed() {
            let reason = m.close_reason().cloned();
            assert_eq!(m.poll_timeout(now), None, "a deadline after the end");
            m.handle_timeout(now);
            assert_eq!(m.close_reason(), reason.as_ref(), "a timeout after the end");
            return;
        }
        let buffered = m.buffered();
        self.sample(
            buffered,
            calls_under_way || buffered > 0 || m.pending_transmit() > 0,
        );
        if handle {
            let expected = self.fired();
            m.handle_timeout(now);
            assert_eq!(
                m.close_reason(),
                expected.as_ref(),
                "handle_timeout at {:?}",
                now - self.t0
            );
            if matches!(expected, Some(ConnectionError::IdleTimeout { .. })) {
                assert!(!self.last_busy(), "idle while busy");
            }
        } else {
            let deadline = m.poll_timeout(now);
            assert_eq!(
                deadline,
                self.deadline(),
                "poll_timeout at {:?}",
                now - self.t0
            );
            self.last_deadline = deadline;
        }
    }

    /// A model of `timeouts`, at the start: nothing received, sent or
    /// sampled.
    pub fn new(timeouts: Timeouts) -> Self {
        let t0 = Instant::now();
        Clock {
            timeouts,
            t0,
            now: t0,
            fed: 0,
            drained_at: 0,
            transmitted: 0,
            paused: false,
            pauses: 0,
            samples: Vec::new(),
            last_counts: None,
            last_deadline: None,
        }
    }

    /// Reading stops (`true`) or starts again (`false`).
    pub fn pause(&mut self, paused: bool) {
        if paused {
            self.pauses += 1;
        }
        self.paused = paused;
    }

    /// Records a sample at the current time, then drops the samples no rule
    /// looks at any more.
    pub fn sample(&mut self, buffered: usize, busy: bool) {
        let buffered = buffered as u64;
        assert!(buffered <= self.fed, "more bytes buffered than received");
        let decoded = self.fed - buffered;
        if let Some(last) = self.samples.last() {
            assert!(decoded >= last.decoded, "decoded bytes went back");
        }
        let counts = (self.fed, self.transmitted);
        self.samples.push(Sample {
            at: self.now,
            decoded,
            buffered,
            drained: self.fed == self.drained_at,
            busy,
            active: busy || self.last_counts != Some(counts),
            paused: self.paused,
            pauses: self.pauses,
        });
        self.last_counts = Some(counts);
        let keep = self.box_run().1.min(self.last_active());
        self.samples.drain(..keep);
    }

    /// When the clock of the unfinished box the last sample shows started
    /// (if a box is unfinished, known to be, and reading is not paused),
    /// and the index of the earliest sample that decides it.
    fn box_run(&self) -> (Option<Instant>, usize) {
        let n = self.samples.len();
        let Some(last) = self.samples.last() else {
            return (None, 0);
        };
        if last.buffered == 0 || last.paused {
            return (None, n - 1);
        }
        // A run of samples with part of a box held, reading, the same
        // pause count, every drained one showing the same bytes decoded:
        // the clock started at the earliest drained one.
        let mut start = last.drained.then_some(last.at);
        let mut first = n - 1;
        for (i, s) in self.samples.iter().enumerate().rev().skip(1) {
            first = i;
            if s.buffered == 0 || s.paused || s.pauses != last.pauses {
                break;
            }
            if s.drained {
                if s.decoded != last.decoded {
                    break;
                }
                start = Some(s.at);
            }
        }
        // Whole boxes may wait undecoded: not late (yet).
        if !last.drained {
            start = None;
        }
        (start, first)
    }

    /// The index of the last sample with activity.
    fn last_active(&self) -> usize {
        self.samples.iter().rposition(|s| s.active).unwrap_or(0)
    }

    fn box_deadline(&self) -> Option<Instant> {
        let limit = self.timeouts.unfinished_box?;
        self.box_run().0?.checked_add(limit)
    }

    fn idle_deadline(&self) -> Option<Instant> {
        let limit = self.timeouts.idle?;
        self.samples.get(self.last_active())?.at.checked_add(limit)
    }

    /// The deadline `poll_timeout` must return at the last sample.
    pub fn deadline(&self) -> Option<Instant> {
        match (self.box_deadline(), self.idle_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether the last sample found work under way.
    pub fn last_busy(&self) -> bool {
        self.samples.last().is_some_and(|s| s.busy)
    }

    /// What ends the connection at the last sample, if anything.
    pub fn fired(&self) -> Option<ConnectionError> {
        let last = self.samples.last()?;
        if let (Some(timeout), Some(deadline)) = (self.timeouts.unfinished_box, self.box_deadline())
            && deadline <= last.at
        {
            return Some(ConnectionError::BoxTimeout {
                timeout,
                buffered: last.buffered as usize,
            });
        }
        match (self.timeouts.idle, self.idle_deadline()) {
            (Some(timeout), Some(deadline)) if !last.busy && deadline <= last.at => {
                Some(ConnectionError::IdleTimeout { timeout })
            }
            _ => None,
        }
    }
}
