//! The two optional timeouts of a connection, as rules over bytes and
//! instants: [`Timeouts`] (what is configured) and [`Timers`] (the state
//! the rules keep), shared by [`Connection`](crate::Connection) and any
//! other state machine over one byte stream (amp-router's `Router`).
//!
//! The state machine reads no clock: the driver passes the time in. Before
//! it waits it calls `poll_timeout(now)`, which looks at the connection as
//! it is at `now` and returns the next deadline; when a deadline has
//! passed it calls `handle_timeout(now)`, which looks again and closes the
//! connection if a rule says so. Both rules decide only from what the
//! connection looked like at those calls (a [`Snapshot`] each time), so
//! calling either early, late or more often is harmless.
//!
//! # The rules
//!
//! **Unfinished box** ([`Timeouts::unfinished_box`]). While the decoder
//! holds part of a box and nothing else (every whole box received has been
//! decoded: the last poll for events found none, and no byte came since)
//! and reading is not paused, a clock runs. It starts at the first call
//! that sees that state, and starts again whenever a whole box has been
//! decoded since it started (the bytes decoded into whole boxes moved).
//! Once a whole timeout has passed on it, the connection ends with
//! [`ConnectionError::BoxTimeout`] (`buffered`: the bytes of the box held).
//! The clock stops (and later starts from zero) when nothing is buffered
//! or while reading is paused ([`Timers::pause_reading`]: this side has
//! stopped reading, so a peer's half box waiting behind it is not late). A
//! connection whose buffer may hold whole boxes not decoded yet (bytes came
//! after the last poll for events) is never late: the clock keeps its
//! start, but cannot go off until they are decoded.
//!
//! **Idle** ([`Timeouts::idle`]). A connection is busy while this side
//! waits for an answer, owes the peer one, holds received bytes not decoded
//! or has bytes to send. There was activity at a call when it is busy, or
//! when the bytes received or taken for sending moved since the call
//! before; the first call counts as activity too. Once a whole timeout has
//! passed since the last call that saw activity, with no activity since,
//! the connection ends with [`ConnectionError::IdleTimeout`]. So an idle
//! connection ends one whole timeout after the last call that saw its
//! traffic (a driver calls `poll_timeout` after each round of traffic).
//!
//! With neither configured, nothing runs: `poll_timeout` returns `None`.

use std::time::{Duration, Instant};

use crate::error::ConnectionError;

/// The shortest timeout: shorter ones count as this (a timer that is always
/// due would keep a driver spinning).
pub const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// The timeouts of a connection, each off when `None` (the default, as in
/// Twisted). Set them with [`Config::unfinished_box_timeout`] and
/// [`Config::idle_timeout`](crate::Config::idle_timeout); read them with
/// [`Config::timeouts`](crate::Config::timeouts).
///
/// [`Config::unfinished_box_timeout`]: crate::Config::unfinished_box_timeout
///
/// ```
/// use std::time::Duration;
/// let t = amp_core::Config::default().idle_timeout(Duration::from_secs(60)).timeouts();
/// assert_eq!(t, amp_core::Timeouts { unfinished_box: None, idle: Some(Duration::from_secs(60)) });
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Timeouts {
    /// How long a box may stay unfinished (see the [module](self) for the
    /// rule).
    pub unfinished_box: Option<Duration>,
    /// How long a connection may stay idle (see the [module](self) for the
    /// rule).
    pub idle: Option<Duration>,
}

impl Timeouts {
    /// Whether neither timeout is set.
    ///
    /// ```
    /// assert!(amp_core::Timeouts::default().is_off());
    /// ```
    pub fn is_off(&self) -> bool {
        self.unfinished_box.is_none() && self.idle.is_none()
    }
}

/// What the rules look at, read off a connection at one call.
///
/// ```
/// let s = amp_core::timeout::Snapshot::default();
/// assert_eq!(s.received(), 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Bytes received and decoded into whole boxes so far
    /// ([`Decoder::consumed`](crate::Decoder::consumed)).
    pub decoded: u64,
    /// Bytes received and not decoded yet
    /// ([`Decoder::buffered`](crate::Decoder::buffered)).
    pub buffered: usize,
    /// Whether the buffered bytes are known to hold no whole box: the last
    /// poll for events found no box to decode, and no byte came since.
    pub drained: bool,
    /// Bytes taken for sending so far.
    pub transmitted: u64,
    /// Work under way: a call of this side waiting for its answer, an answer
    /// owed to the peer, received bytes not decoded, bytes not taken for
    /// sending.
    pub busy: bool,
}

impl Snapshot {
    /// Every byte received so far: decoded, and still buffered.
    ///
    /// ```
    /// let s = amp_core::timeout::Snapshot { decoded: 8, buffered: 3, ..Default::default() };
    /// assert_eq!(s.received(), 11);
    /// ```
    pub fn received(&self) -> u64 {
        self.decoded + self.buffered as u64
    }
}

/// The state of the two rules between calls: the unfinished-box clock, the
/// last activity, and whether reading is paused. A state machine over one
/// byte stream holds one, takes a [`Snapshot`] of itself at each
/// `poll_timeout`/`handle_timeout` and hands it over; see the
/// [module](self) for the rules.
///
/// ```
/// use std::time::{Duration, Instant};
/// use amp_core::timeout::{Snapshot, Timers};
/// use amp_core::{ConnectionError, Timeouts};
///
/// let idle = Duration::from_secs(5);
/// let mut timers = Timers::new(Timeouts { unfinished_box: None, idle: Some(idle) });
/// let quiet = Snapshot::default();
/// let t0 = Instant::now();
/// assert_eq!(timers.poll_timeout(t0, &quiet), Some(t0 + idle));
/// assert_eq!(timers.handle_timeout(t0 + idle / 2, &quiet), None);
/// assert_eq!(
///     timers.handle_timeout(t0 + idle, &quiet),
///     Some(ConnectionError::IdleTimeout { timeout: idle })
/// );
/// ```
#[derive(Clone, Debug, Default)]
pub struct Timers {
    timeouts: Timeouts,
    paused: bool,
    /// The unfinished-box clock: when it started, and the bytes decoded
    /// into whole boxes then.
    box_clock: Option<(Instant, u64)>,
    /// The last call that saw activity: when, and the bytes received and
    /// transmitted then.
    last_activity: Option<(Instant, u64, u64)>,
}

impl Timers {
    /// Timers for these timeouts, none running yet.
    ///
    /// ```
    /// let t = amp_core::timeout::Timers::new(amp_core::Timeouts::default());
    /// assert!(t.timeouts().is_off());
    /// ```
    pub fn new(timeouts: Timeouts) -> Self {
        Timers {
            timeouts,
            ..Timers::default()
        }
    }

    /// The timeouts these timers apply.
    ///
    /// ```
    /// let t = amp_core::timeout::Timers::default();
    /// assert_eq!(t.timeouts(), amp_core::Timeouts::default());
    /// ```
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// The driver has stopped reading (`true`: backpressure, say, every
    /// responder slot busy) or reads again (`false`). While paused the
    /// unfinished-box clock does not run; it starts from zero once reading
    /// resumes.
    ///
    /// ```
    /// let mut t = amp_core::timeout::Timers::default();
    /// t.pause_reading(true);
    /// assert!(t.is_reading_paused());
    /// ```
    pub fn pause_reading(&mut self, paused: bool) {
        self.paused = paused;
        if paused {
            self.box_clock = None;
        }
    }

    /// Whether the driver said it stopped reading.
    ///
    /// ```
    /// assert!(!amp_core::timeout::Timers::default().is_reading_paused());
    /// ```
    pub fn is_reading_paused(&self) -> bool {
        self.paused
    }

    /// Looks at the connection as it is at `now` (arming what needs arming)
    /// and returns the next deadline, or `None` when no timer runs.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use amp_core::timeout::{Snapshot, Timers};
    /// let limit = Duration::from_secs(1);
    /// let mut t = Timers::new(amp_core::Timeouts { unfinished_box: Some(limit), idle: None });
    /// let now = Instant::now();
    /// let half_box = Snapshot { buffered: 3, drained: true, busy: true, ..Default::default() };
    /// assert_eq!(t.poll_timeout(now, &Snapshot::default()), None);
    /// assert_eq!(t.poll_timeout(now, &half_box), Some(now + limit));
    /// ```
    pub fn poll_timeout(&mut self, now: Instant, snapshot: &Snapshot) -> Option<Instant> {
        if self.timeouts.is_off() {
            return None;
        }
        self.refresh(now, snapshot);
        match (self.box_deadline(snapshot), self.idle_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Looks at the connection as it is at `now` and says why it must end,
    /// if a rule says so: [`ConnectionError::BoxTimeout`] or
    /// [`ConnectionError::IdleTimeout`]. Called early, it finds nothing.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use amp_core::timeout::{Snapshot, Timers};
    /// let limit = Duration::from_secs(1);
    /// let mut t = Timers::new(amp_core::Timeouts { unfinished_box: Some(limit), idle: None });
    /// let now = Instant::now();
    /// let half_box = Snapshot { buffered: 3, drained: true, busy: true, ..Default::default() };
    /// t.poll_timeout(now, &half_box);
    /// assert_eq!(
    ///     t.handle_timeout(now + limit, &half_box),
    ///     Some(amp_core::ConnectionError::BoxTimeout { timeout: limit, buffered: 3 })
    /// );
    /// ```
    pub fn handle_timeout(&mut self, now: Instant, snapshot: &Snapshot) -> Option<ConnectionError> {
        if self.timeouts.is_off() {
            return None;
        }
        self.refresh(now, snapshot);
        if let (Some(timeout), Some(deadline)) =
            (self.timeouts.unfinished_box, self.box_deadline(snapshot))
            && deadline <= now
        {
            return Some(ConnectionError::BoxTimeout {
                timeout,
                buffered: snapshot.buffered,
            });
        }
        if let (Some(timeout), Some(deadline)) = (self.timeouts.idle, self.idle_deadline())
            && !snapshot.busy
            && deadline <= now
        {
            return Some(ConnectionError::IdleTimeout { timeout });
        }
        None
    }

    /// Brings the clocks up to date with what `snapshot` shows at `now`.
    fn refresh(&mut self, now: Instant, snapshot: &Snapshot) {
        if self.timeouts.unfinished_box.is_some() {
            if snapshot.buffered == 0 || self.paused {
                self.box_clock = None;
            } else if snapshot.drained {
                match self.box_clock {
                    Some((_, decoded)) if decoded == snapshot.decoded => {}
                    _ => self.box_clock = Some((now, snapshot.decoded)),
                }
            }
            // Otherwise whole boxes may wait to be decoded: the clock keeps
            // its start and cannot go off (see `box_deadline`).
        }
        if self.timeouts.idle.is_some() {
            let counters = (snapshot.received(), snapshot.transmitted);
            let active = snapshot.busy
                || self
                    .last_activity
                    .is_none_or(|(_, received, sent)| (received, sent) != counters);
            if active {
                self.last_activity = Some((now, counters.0, counters.1));
            }
        }
    }

    /// When the unfinished box is late, if a box is unfinished (and known
    /// to be) with the clock running.
    fn box_deadline(&self, snapshot: &Snapshot) -> Option<Instant> {
        let timeout = self.timeouts.unfinished_box?;
        let (start, _) = self.box_clock?;
        if !snapshot.drained {
            return None;
        }
        // Past the end of time: never.
        start.checked_add(timeout)
    }

    /// When the connection is idle for a whole timeout, if nothing happens
    /// before.
    fn idle_deadline(&self) -> Option<Instant> {
        let timeout = self.timeouts.idle?;
        let (last, _, _) = self.last_activity?;
        last.checked_add(timeout)
    }
}
