//! The unfinished-box and idle timeouts of a `Connection`, driven with
//! bytes and instants only: exactly when each rule fires, and not a
//! nanosecond earlier.

use std::time::{Duration, Instant};

use amp_core::{AmpBox, CallId, Config, Connection, ConnectionError, Event, Timeouts};
use proptest::prelude::*;

const NS: Duration = Duration::from_nanos(1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn with(timeouts: Timeouts) -> Connection {
    let mut config = Config::default();
    if let Some(t) = timeouts.unfinished_box {
        config = config.unfinished_box_timeout(t);
    }
    if let Some(t) = timeouts.idle {
        config = config.idle_timeout(t);
    }
    Connection::new(&config)
}

fn box_timeout(t: Duration) -> Connection {
    with(Timeouts {
        unfinished_box: Some(t),
        idle: None,
    })
}

fn idle_timeout(t: Duration) -> Connection {
    with(Timeouts {
        unfinished_box: None,
        idle: Some(t),
    })
}

/// A request's wire form: tagged (an answer is owed for it) or not.
fn request(tag: Option<&str>, filler: usize) -> Vec<u8> {
    let mut b = AmpBox::from_pairs([("_command", "Ping")]);
    if let Some(tag) = tag {
        b.insert("_ask", tag.to_owned());
    }
    b.insert("x", "y".repeat(filler));
    b.to_bytes().unwrap().to_vec()
}

/// Polls every event; the requests among them.
fn drain(c: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// Polls every event and says whether any was a request.
fn requests(c: &mut Connection) -> usize {
    drain(c)
        .iter()
        .filter(|e| matches!(e, Event::Request(_)))
        .count()
}

#[track_caller]
fn open(c: &Connection) {
    assert_eq!(c.close_reason(), None, "closed");
}

#[test]
fn with_no_timeout_set_there_is_no_deadline_and_nothing_fires() {
    let mut c = Connection::default();
    let t0 = Instant::now();
    assert_eq!(c.poll_timeout(t0), None);
    c.handle_input(&request(None, 3)[..5]);
    assert_eq!(requests(&mut c), 0);
    assert_eq!(c.poll_timeout(t0), None);
    c.handle_timeout(t0 + Duration::from_secs(86_400));
    open(&c);
    assert_eq!(c.poll_timeout(t0 + Duration::from_secs(86_400)), None);
}

#[test]
fn timeouts_shorter_than_a_millisecond_count_as_one() {
    let config = Config::default()
        .unfinished_box_timeout(Duration::ZERO)
        .idle_timeout(Duration::from_nanos(999_999));
    assert_eq!(
        config.timeouts(),
        Timeouts {
            unfinished_box: Some(ms(1)),
            idle: Some(ms(1)),
        }
    );
    assert_eq!(Config::default().timeouts(), Timeouts::default());
    let mut c = Connection::new(&config);
    let t0 = Instant::now();
    assert_eq!(c.poll_timeout(t0), Some(t0 + ms(1)));
}

#[test]
fn a_box_trickled_byte_by_byte_is_late_one_timeout_after_its_first_byte() {
    let limit = ms(100);
    let mut c = box_timeout(limit);
    let wire = request(Some("1"), 20);
    assert!(wire.len() < 90);
    let t0 = Instant::now();
    c.handle_input(&wire[..1]);
    assert_eq!(requests(&mut c), 0);
    assert_eq!(c.poll_timeout(t0), Some(t0 + limit));
    // Every byte but the last, one a millisecond: the clock does not move.
    for (i, byte) in wire.iter().enumerate().take(wire.len() - 1).skip(1) {
        let now = t0 + ms(i as u64);
        c.handle_input(&[*byte]);
        assert_eq!(requests(&mut c), 0);
        assert_eq!(c.poll_timeout(now), Some(t0 + limit), "byte {i}");
        c.handle_timeout(now);
        open(&c);
    }
    c.handle_timeout(t0 + limit - NS);
    open(&c);
    assert_eq!(c.poll_timeout(t0 + limit - NS), Some(t0 + limit));
    c.handle_timeout(t0 + limit);
    let reason = ConnectionError::BoxTimeout {
        timeout: limit,
        buffered: wire.len() - 1,
    };
    assert_eq!(c.close_reason(), Some(&reason));
    assert_eq!(drain(&mut c), [Event::Closed(reason)]);
    assert_eq!(c.poll_timeout(t0 + limit), None);
}

#[test]
fn a_whole_box_decoded_restarts_the_clock() {
    let limit = ms(100);
    let mut c = box_timeout(limit);
    let (a, b) = (request(None, 10), request(None, 30));
    let t0 = Instant::now();
    c.handle_input(&a[..7]);
    assert_eq!(requests(&mut c), 0);
    assert_eq!(c.poll_timeout(t0), Some(t0 + limit));
    // The rest of the first box and half of the next, just in time.
    let t1 = t0 + limit - NS;
    c.handle_input(&a[7..]);
    c.handle_input(&b[..9]);
    assert_eq!(requests(&mut c), 1);
    assert_eq!(c.poll_timeout(t1), Some(t1 + limit));
    c.handle_timeout(t0 + limit);
    open(&c);
    c.handle_timeout(t1 + limit - NS);
    open(&c);
    // The second box finished: nothing is unfinished, no clock runs.
    c.handle_input(&b[9..]);
    assert_eq!(requests(&mut c), 1);
    assert_eq!(c.poll_timeout(t1 + limit - NS), None);
    c.handle_timeout(t1 + limit * 5);
    open(&c);
    // A new half box starts a new clock.
    let t2 = t1 + limit * 6;
    c.handle_input(&a[..3]);
    assert_eq!(requests(&mut c), 0);
    assert_eq!(c.poll_timeout(t2), Some(t2 + limit));
    c.handle_timeout(t2 + limit);
    assert_eq!(
        c.close_reason(),
        Some(&ConnectionError::BoxTimeout {
            timeout: limit,
            buffered: 3
        })
    );
}

#[test]
fn whole_boxes_not_decoded_yet_are_not_late() {
    let limit = ms(100);
    let mut c = box_timeout(limit);
    let (a, b) = (request(None, 10), request(None, 30));
    let t0 = Instant::now();
    c.handle_input(&a[..7]);
    assert_eq!(requests(&mut c), 0);
    assert_eq!(c.poll_timeout(t0), Some(t0 + limit));
    // The box is finished (and another begun), but the driver has not
    // polled for it yet: not late, however long that lasts.
    c.handle_input(&a[7..]);
    c.handle_input(&b[..9]);
    assert_eq!(c.poll_timeout(t0 + limit), None);
    c.handle_timeout(t0 + limit);
    c.handle_timeout(t0 + limit * 10);
    open(&c);
    // Decoded: the clock starts again for the half box left.
    assert_eq!(requests(&mut c), 1);
    let t1 = t0 + limit * 10;
    assert_eq!(c.poll_timeout(t1), Some(t1 + limit));
    c.handle_timeout(t1 + limit - NS);
    open(&c);
    c.handle_timeout(t1 + limit);
    assert_eq!(
        c.close_reason(),
        Some(&ConnectionError::BoxTimeout {
            timeout: limit,
            buffered: 9
        })
    );
}

#[test]
fn bytes_not_polled_that_finish_no_box_do_not_restart_the_clock() {
    let limit = ms(100);
    let mut c = box_timeout(limit);
    let a = request(None, 10);
    let t0 = Instant::now();
    c.handle_input(&a[..7]);
    assert_eq!(requests(&mut c), 0);
    assert_eq!(c.poll_timeout(t0), Some(t0 + limit));
    // More of the same box, not polled yet: whether it finished a box is
    // not known, so nothing fires...
    c.handle_input(&a[7..9]);
    c.handle_timeout(t0 + limit * 2);
    open(&c);
    // ...and once polled, the same box is still unfinished: late since
    // the first byte.
    assert_eq!(requests(&mut c), 0);
    assert_eq!(c.poll_timeout(t0 + limit * 2), Some(t0 + limit));
    c.handle_timeout(t0 + limit * 2);
    assert_eq!(
        c.close_reason(),
        Some(&ConnectionError::BoxTimeout {
            timeout: limit,
            buffered: 9
        })
    );
}

#[test]
fn paused_reading_stops_the_clock_and_resuming_restarts_it() {
    let limit = ms(100);
    let mut c = box_timeout(limit);
    let a = request(None, 10);
    let t0 = Instant::now();
    c.handle_input(&a[..5]);
    assert_eq!(requests(&mut c), 0);
    assert_eq!(c.poll_timeout(t0), Some(t0 + limit));
    c.pause_reading(true);
    assert_eq!(c.poll_timeout(t0 + ms(50)), None);
    c.handle_timeout(t0 + limit);
    c.handle_timeout(t0 + limit * 10);
    open(&c);
    // Reading again: a whole timeout from the first poll after.
    c.pause_reading(false);
    let t1 = t0 + limit * 10 + ms(1);
    assert_eq!(c.poll_timeout(t1), Some(t1 + limit));
    c.handle_timeout(t1 + limit - NS);
    open(&c);
    // Pausing and resuming between two polls starts it from zero too.
    c.pause_reading(true);
    c.pause_reading(false);
    let t2 = t1 + limit - NS;
    assert_eq!(c.poll_timeout(t2), Some(t2 + limit));
    c.handle_timeout(t2 + limit);
    assert_eq!(
        c.close_reason(),
        Some(&ConnectionError::BoxTimeout {
            timeout: limit,
            buffered: 5
        })
    );
}

#[test]
fn a_connection_with_nothing_going_on_is_idle_one_timeout_after_the_first_poll() {
    let limit = Duration::from_secs(1);
    let mut c = idle_timeout(limit);
    let t0 = Instant::now();
    assert_eq!(c.poll_timeout(t0), Some(t0 + limit));
    assert_eq!(c.poll_timeout(t0 + ms(500)), Some(t0 + limit));
    c.handle_timeout(t0 + limit - NS);
    open(&c);
    c.handle_timeout(t0 + limit);
    let reason = ConnectionError::IdleTimeout { timeout: limit };
    assert_eq!(drain(&mut c), [Event::Closed(reason)]);
    assert_eq!(c.poll_timeout(t0 + limit), None);
}

#[test]
fn handle_timeout_before_any_poll_starts_the_clock_instead_of_firing() {
    let limit = ms(10);
    let mut c = idle_timeout(limit);
    let t0 = Instant::now();
    c.handle_timeout(t0);
    open(&c);
    c.handle_timeout(t0 + limit);
    assert_eq!(
        c.close_reason(),
        Some(&ConnectionError::IdleTimeout { timeout: limit })
    );
}

#[test]
fn bytes_received_and_bytes_taken_move_the_idle_deadline() {
    let limit = ms(100);
    let mut c = idle_timeout(limit);
    let t0 = Instant::now();
    assert_eq!(c.poll_timeout(t0), Some(t0 + limit));
    // A request that wants no answer: traffic, then nothing under way.
    let t1 = t0 + ms(60);
    c.handle_input(&request(None, 0));
    assert_eq!(requests(&mut c), 1);
    assert_eq!(c.poll_timeout(t1), Some(t1 + limit));
    c.handle_timeout(t0 + limit);
    open(&c);
    // A box queued and taken between two polls.
    let t2 = t1 + ms(60);
    c.send_box(&AmpBox::from_pairs([("k", "v")])).unwrap();
    assert!(!c.take_transmit().is_empty());
    assert_eq!(c.poll_timeout(t2), Some(t2 + limit));
    c.handle_timeout(t1 + limit);
    c.handle_timeout(t2 + limit - NS);
    open(&c);
    c.handle_timeout(t2 + limit);
    assert_eq!(
        c.close_reason(),
        Some(&ConnectionError::IdleTimeout { timeout: limit })
    );
}

#[test]
fn a_call_waiting_for_its_answer_keeps_it_open() {
    let limit = ms(100);
    let mut c = idle_timeout(limit);
    let call = c
        .call_remote("Slow", &AmpBox::new(), true)
        .unwrap()
        .unwrap();
    c.take_transmit();
    let t0 = Instant::now();
    let mut now = t0;
    for _ in 0..10 {
        assert_eq!(c.poll_timeout(now), Some(now + limit));
        now += limit;
        c.handle_timeout(now);
        open(&c);
    }
    // The answer comes: idle a whole timeout after.
    now += ms(1);
    c.handle_input(
        &AmpBox::from_pairs([("_answer", call.tag())])
            .to_bytes()
            .unwrap(),
    );
    assert!(matches!(drain(&mut c)[..], [Event::Answer { .. }]));
    assert_eq!(c.poll_timeout(now), Some(now + limit));
    c.handle_timeout(now + limit - NS);
    open(&c);
    c.handle_timeout(now + limit);
    assert_eq!(
        c.close_reason(),
        Some(&ConnectionError::IdleTimeout { timeout: limit })
    );
}

#[test]
fn a_forgotten_call_keeps_it_open_no_longer() {
    let limit = ms(100);
    let mut c = idle_timeout(limit);
    let call = c
        .call_remote("Slow", &AmpBox::new(), true)
        .unwrap()
        .unwrap();
    c.take_transmit();
    let t0 = Instant::now();
    assert_eq!(c.poll_timeout(t0), Some(t0 + limit));
    c.handle_timeout(t0 + limit * 5);
    open(&c);
    assert!(c.forget(call));
    let t1 = t0 + limit * 5 + ms(1);
    assert_eq!(c.poll_timeout(t1), Some(t0 + limit * 6));
    c.handle_timeout(t0 + limit * 6);
    assert_eq!(
        c.close_reason(),
        Some(&ConnectionError::IdleTimeout { timeout: limit })
    );
}

#[test]
fn an_answer_owed_to_the_peer_keeps_it_open() {
    let limit = ms(100);
    let mut c = idle_timeout(limit);
    c.handle_input(&request(Some("a1"), 0));
    let Some(Event::Request(req)) = c.poll_event() else {
        panic!("no request")
    };
    let t0 = Instant::now();
    assert_eq!(c.poll_timeout(t0), Some(t0 + limit));
    c.handle_timeout(t0 + limit);
    c.handle_timeout(t0 + limit * 20);
    open(&c);
    // Answered and taken: idle from then on.
    let t1 = t0 + limit * 21;
    c.respond(req.tag.as_deref(), Ok(AmpBox::new())).unwrap();
    assert!(!c.take_transmit().is_empty());
    assert_eq!(c.poll_timeout(t1), Some(t1 + limit));
    c.handle_timeout(t1 + limit - NS);
    open(&c);
    c.handle_timeout(t1 + limit);
    assert_eq!(
        c.close_reason(),
        Some(&ConnectionError::IdleTimeout { timeout: limit })
    );
}

#[test]
fn bytes_not_taken_for_sending_keep_it_open() {
    let limit = ms(100);
    let mut c = idle_timeout(limit);
    c.send_box(&AmpBox::from_pairs([("k", "v")])).unwrap();
    let t0 = Instant::now();
    assert_eq!(c.poll_timeout(t0), Some(t0 + limit));
    c.handle_timeout(t0 + limit);
    c.handle_timeout(t0 + limit * 20);
    open(&c);
    let t1 = t0 + limit * 20 + NS;
    c.take_transmit();
    assert_eq!(c.poll_timeout(t1), Some(t1 + limit));
    c.handle_timeout(t1 + limit);
    assert_eq!(
        c.close_reason(),
        Some(&ConnectionError::IdleTimeout { timeout: limit })
    );
}

#[test]
fn part_of_a_box_keeps_it_from_being_idle() {
    let limit = ms(100);
    let mut c = idle_timeout(limit);
    c.handle_input(&request(None, 4)[..6]);
    assert_eq!(requests(&mut c), 0);
    let t0 = Instant::now();
    assert_eq!(c.poll_timeout(t0), Some(t0 + limit));
    c.handle_timeout(t0 + limit);
    c.handle_timeout(t0 + limit * 50);
    open(&c);
}

#[test]
fn a_timeout_fails_the_calls_outstanding_then_closes() {
    let limit = ms(10);
    let mut c = with(Timeouts {
        unfinished_box: Some(limit),
        idle: Some(ms(1000)),
    });
    let first = c.call_remote("A", &AmpBox::new(), true).unwrap().unwrap();
    let second = c.call_remote("B", &AmpBox::new(), true).unwrap().unwrap();
    let queued = c.pending_transmit();
    c.handle_input(b"\x00\x07_an");
    assert_eq!(requests(&mut c), 0);
    let t0 = Instant::now();
    assert_eq!(c.poll_timeout(t0), Some(t0 + limit));
    c.handle_timeout(t0 + limit);
    let reason = ConnectionError::BoxTimeout {
        timeout: limit,
        buffered: 5,
    };
    assert_eq!(
        drain(&mut c),
        [
            Event::CallFailed {
                call: first,
                reason: reason.clone()
            },
            Event::CallFailed {
                call: second,
                reason: reason.clone()
            },
            Event::Closed(reason.clone()),
        ]
    );
    // What was queued before the end still goes out; nothing more fires.
    assert_eq!(c.take_transmit().len(), queued);
    c.handle_timeout(t0 + Duration::from_secs(10));
    assert_eq!(c.close_reason(), Some(&reason));
    assert_eq!(c.poll_timeout(t0 + Duration::from_secs(10)), None);
}

#[test]
fn a_connection_that_has_ended_has_no_deadline() {
    let limit = ms(10);
    let mut c = with(Timeouts {
        unfinished_box: Some(limit),
        idle: Some(limit),
    });
    c.handle_input(&request(None, 2)[..4]);
    assert_eq!(requests(&mut c), 0);
    let t0 = Instant::now();
    assert!(c.poll_timeout(t0).is_some());
    c.close();
    assert_eq!(c.poll_timeout(t0), None);
    c.handle_timeout(t0 + limit * 100);
    assert_eq!(c.close_reason(), Some(&ConnectionError::Closed));
    assert_eq!(drain(&mut c), [Event::Closed(ConnectionError::Closed)]);
    assert_eq!(c.poll_timeout(t0 + limit * 100), None);
}

#[test]
fn with_both_set_the_earlier_deadline_comes_first_and_a_busy_connection_is_never_idle() {
    // A half box keeps the connection busy: the idle deadline comes every
    // 30 ms and never fires; the box's, at 100 ms, does.
    let (box_limit, idle_limit) = (ms(100), ms(30));
    let mut c = with(Timeouts {
        unfinished_box: Some(box_limit),
        idle: Some(idle_limit),
    });
    c.handle_input(&request(None, 1)[..3]);
    assert_eq!(requests(&mut c), 0);
    let t0 = Instant::now();
    let mut now = t0;
    let mut deadlines = Vec::new();
    while let Some(deadline) = c.poll_timeout(now) {
        deadlines.push(deadline - t0);
        now = deadline;
        c.handle_timeout(now);
    }
    assert_eq!(deadlines, [ms(30), ms(60), ms(90), ms(100)]);
    assert_eq!(
        c.close_reason(),
        Some(&ConnectionError::BoxTimeout {
            timeout: box_limit,
            buffered: 3
        })
    );
}

#[test]
fn a_deadline_past_the_end_of_time_never_comes() {
    let mut c = with(Timeouts {
        unfinished_box: Some(Duration::MAX),
        idle: Some(Duration::MAX),
    });
    c.handle_input(b"\x00");
    assert_eq!(requests(&mut c), 0);
    let t0 = Instant::now();
    assert_eq!(c.poll_timeout(t0), None);
    c.handle_timeout(t0 + Duration::from_secs(1 << 40));
    open(&c);
}

// ---------------------------------------------------------------------------
// Random schedules against a model of the rules.

/// One step of a schedule.
#[derive(Clone, Debug)]
enum Step {
    /// Feed the next `n` bytes of the stream.
    Feed(usize),
    /// Poll every event.
    PollAll,
    /// Poll one event.
    PollOne,
    /// Let time pass (microseconds).
    Wait(u64),
    /// Go to the last deadline `poll_timeout` returned, plus or minus a
    /// nanosecond.
    ToDeadline(i8),
    /// `poll_timeout` at the current time.
    PollTimeout,
    /// `handle_timeout` at the current time.
    HandleTimeout,
    /// Stop or start reading.
    Pause(bool),
    /// Call the peer (a call waiting for its answer).
    Call,
    /// Forget the oldest call waiting.
    Forget,
    /// Answer the oldest request owed an answer.
    Answer,
    /// Take the bytes to send.
    Take,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1usize..40).prop_map(Step::Feed),
        3 => Just(Step::PollAll),
        1 => Just(Step::PollOne),
        4 => (0u64..30_000).prop_map(Step::Wait),
        2 => (-1i8..=1).prop_map(Step::ToDeadline),
        4 => Just(Step::PollTimeout),
        4 => Just(Step::HandleTimeout),
        1 => any::<bool>().prop_map(Step::Pause),
        1 => Just(Step::Call),
        1 => Just(Step::Forget),
        1 => Just(Step::Answer),
        2 => Just(Step::Take),
    ]
}

/// What the connection looked like at one `poll_timeout`/`handle_timeout`,
/// as the model counts it (from what it fed, polled and took, not from the
/// connection's internals).
#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Instant,
    decoded: u64,
    buffered: u64,
    /// Everything whole was decoded: the last poll found no box and no
    /// byte came since.
    drained: bool,
    received: u64,
    transmitted: u64,
    busy: bool,
    paused: bool,
    /// Pauses so far (a pause stops the clock, even one ended before the
    /// next sample).
    pauses: usize,
}

/// The rules, stated over the whole history of samples rather than as
/// state kept between calls.
struct Model {
    timeouts: Timeouts,
    samples: Vec<Sample>,
}

impl Model {
    /// When the unfinished box that the last sample shows is late, if one
    /// is (and is known to be).
    fn box_deadline(&self) -> Option<Instant> {
        let limit = self.timeouts.unfinished_box?;
        let last = *self.samples.last()?;
        if last.buffered == 0 || last.paused || !last.drained {
            return None;
        }
        // The clock started at the earliest sample of the same box: a run
        // of samples reading, with part of a box held, the same pause
        // count, and every drained one showing the same bytes decoded.
        let mut start = last.at;
        for s in self.samples.iter().rev().skip(1) {
            if s.buffered == 0 || s.paused || s.pauses != last.pauses {
                break;
            }
            if s.drained {
                if s.decoded != last.decoded {
                    break;
                }
                start = s.at;
            }
        }
        start.checked_add(limit)
    }

    /// When the connection is idle for a whole timeout, from its last
    /// activity.
    fn idle_deadline(&self) -> Option<Instant> {
        let limit = self.timeouts.idle?;
        let active = self.samples.iter().enumerate().rev().find(|(i, s)| {
            s.busy
                || *i == 0
                || (s.received, s.transmitted)
                    != (
                        self.samples[i - 1].received,
                        self.samples[i - 1].transmitted,
                    )
        })?;
        active.1.at.checked_add(limit)
    }

    fn deadline(&self) -> Option<Instant> {
        match (self.box_deadline(), self.idle_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// What ends the connection at the last sample, if anything.
    fn fired(&self) -> Option<ConnectionError> {
        let last = self.samples.last()?;
        if let Some(deadline) = self.box_deadline()
            && deadline <= last.at
        {
            return Some(ConnectionError::BoxTimeout {
                timeout: self.timeouts.unfinished_box.unwrap(),
                buffered: last.buffered as usize,
            });
        }
        match self.idle_deadline() {
            Some(deadline) if !last.busy && deadline <= last.at => {
                Some(ConnectionError::IdleTimeout {
                    timeout: self.timeouts.idle.unwrap(),
                })
            }
            _ => None,
        }
    }
}

fn timeout() -> impl Strategy<Value = Option<Duration>> {
    proptest::option::of((1u64..=20).prop_map(ms))
}

/// The peer's boxes: requests, tagged (owed an answer) or not, of a few
/// sizes.
fn peer_stream() -> impl Strategy<Value = Vec<(bool, usize)>> {
    proptest::collection::vec((any::<bool>(), 0usize..30), 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any schedule of bytes, polls, pauses, calls, answers and instants:
    /// every deadline is the model's, and the connection ends exactly when
    /// (and as) the model says, never while it is busy for the idle rule.
    #[test]
    fn the_connection_follows_the_rules_on_any_schedule(
        unfinished_box in timeout(),
        idle in timeout(),
        boxes in peer_stream(),
        steps in proptest::collection::vec(step(), 1..80),
    ) {
        let timeouts = Timeouts { unfinished_box, idle };
        let mut c = with(timeouts);
        let mut stream = Vec::new();
        let mut ends = Vec::new();
        for (i, (tagged, filler)) in boxes.iter().enumerate() {
            let tag = format!("t{i}");
            stream.extend(request(tagged.then_some(&tag[..]), *filler));
            ends.push(stream.len() as u64);
        }
        let mut model = Model { timeouts, samples: Vec::new() };
        let t0 = Instant::now();
        let mut now = t0;
        let mut last_deadline = None;
        let (mut fed, mut decoded, mut drained_at) = (0u64, 0u64, 0u64);
        let mut transmitted = 0u64;
        let (mut paused, mut pauses) = (false, 0usize);
        let mut calls: Vec<CallId> = Vec::new();
        let mut owed: Vec<bytes::Bytes> = Vec::new();

        for step in steps {
            if c.is_closed() {
                break;
            }
            let sample = |at: Instant, c: &Connection| Sample {
                at,
                decoded,
                buffered: fed - decoded,
                drained: fed == drained_at,
                received: fed,
                transmitted,
                busy: fed > decoded
                    || c.pending_transmit() > 0
                    || !calls.is_empty()
                    || !owed.is_empty(),
                paused,
                pauses,
            };
            match step {
                Step::Feed(n) => {
                    let from = fed as usize;
                    let to = (from + n).min(stream.len());
                    c.handle_input(&stream[from..to]);
                    fed = to as u64;
                }
                Step::PollAll | Step::PollOne => {
                    let one = matches!(step, Step::PollOne);
                    loop {
                        match c.poll_event() {
                            Some(Event::Request(req)) => {
                                decoded = *ends.iter().find(|&&e| e > decoded).unwrap();
                                if let Some(tag) = req.tag {
                                    owed.push(tag);
                                }
                                if one {
                                    break;
                                }
                            }
                            Some(other) => panic!("unexpected {other:?}"),
                            None => {
                                drained_at = fed;
                                break;
                            }
                        }
                    }
                }
                Step::Wait(us) => now += Duration::from_micros(us),
                Step::ToDeadline(off) => {
                    if let Some(d) = last_deadline {
                        let d = match off {
                            -1 => d - NS,
                            0 => d,
                            _ => d + NS,
                        };
                        now = now.max(d);
                    }
                }
                Step::PollTimeout => {
                    model.samples.push(sample(now, &c));
                    let deadline = c.poll_timeout(now);
                    prop_assert_eq!(deadline, model.deadline(), "deadline at {:?}", now - t0);
                    last_deadline = deadline;
                }
                Step::HandleTimeout => {
                    model.samples.push(sample(now, &c));
                    let busy = model.samples.last().unwrap().busy;
                    let expected = model.fired();
                    c.handle_timeout(now);
                    prop_assert_eq!(c.close_reason(), expected.as_ref(), "at {:?}", now - t0);
                    if busy {
                        prop_assert!(
                            !matches!(c.close_reason(), Some(ConnectionError::IdleTimeout { .. })),
                            "idle while busy"
                        );
                    }
                    if let Some(reason) = expected {
                        let events = std::iter::from_fn(|| c.poll_event()).collect::<Vec<_>>();
                        prop_assert_eq!(events.len(), calls.len() + 1);
                        prop_assert_eq!(events.last(), Some(&Event::Closed(reason)));
                        prop_assert_eq!(c.poll_timeout(now), None);
                    }
                }
                Step::Pause(p) => {
                    if p {
                        pauses += 1;
                    }
                    paused = p;
                    c.pause_reading(p);
                }
                Step::Call => {
                    calls.push(c.call_remote("Hi", &AmpBox::new(), true).unwrap().unwrap());
                }
                Step::Forget => {
                    if !calls.is_empty() {
                        prop_assert!(c.forget(calls.remove(0)));
                    }
                }
                Step::Answer => {
                    if !owed.is_empty() {
                        let tag = owed.remove(0);
                        c.answer(&tag, &AmpBox::new()).unwrap();
                    }
                }
                Step::Take => transmitted += c.take_transmit().len() as u64,
            }
        }
    }
}
