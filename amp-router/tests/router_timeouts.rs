//! The unfinished-box and idle timeouts of the sans-IO `Router`, driven with
//! bytes and instants only: the connection's rules (amp-core's), with the
//! connection busy while any route is.

use std::time::{Duration, Instant};

use amp_core::{AmpBox, CallId, Config, ConnectionError, Event, Timeouts};
use amp_router::{Route, RoutedEvent, Router};

const NS: Duration = Duration::from_nanos(1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A router with the default route (connected to the peer's default) and
/// route "0" (connected to the peer's "0").
fn router(timeouts: Timeouts) -> (Router, Route) {
    let mut config = Config::default();
    if let Some(t) = timeouts.unfinished_box {
        config = config.unfinished_box_timeout(t);
    }
    if let Some(t) = timeouts.idle {
        config = config.idle_timeout(t);
    }
    let mut r = Router::new(&config);
    r.bind(Route::Default).unwrap();
    r.connect_to(&Route::Default, None).unwrap();
    let named = r.bind_route();
    r.connect_to(&named, Some("0".into())).unwrap();
    (r, named)
}

fn box_timeout(t: Duration) -> (Router, Route) {
    router(Timeouts {
        unfinished_box: Some(t),
        idle: None,
    })
}

fn idle_timeout(t: Duration) -> (Router, Route) {
    router(Timeouts {
        unfinished_box: None,
        idle: Some(t),
    })
}

/// A request for `route` (`None`: the default route), tagged or not.
fn request(route: Option<&str>, tag: Option<&str>, filler: usize) -> Vec<u8> {
    let mut b = AmpBox::from_pairs([("_command", "Ping")]);
    if let Some(tag) = tag {
        b.insert("_ask", tag.to_owned());
    }
    b.insert("x", "y".repeat(filler));
    if let Some(route) = route {
        b.insert("_route", route.to_owned());
    }
    b.to_bytes().unwrap().to_vec()
}

fn drain(r: &mut Router) -> Vec<RoutedEvent> {
    std::iter::from_fn(|| r.poll_event()).collect()
}

fn requests(r: &mut Router) -> usize {
    drain(r)
        .iter()
        .filter(|e| matches!(e.event, Event::Request(_)))
        .count()
}

#[track_caller]
fn open(r: &Router) {
    assert_eq!(r.close_reason(), None, "closed");
}

#[test]
fn with_no_timeout_set_there_is_no_deadline_and_nothing_fires() {
    let (mut r, _) = router(Timeouts::default());
    let t0 = Instant::now();
    r.handle_input(&request(Some("0"), None, 1)[..5]);
    assert_eq!(requests(&mut r), 0);
    assert_eq!(r.poll_timeout(t0), None);
    r.handle_timeout(t0 + Duration::from_secs(86_400));
    open(&r);
}

#[test]
fn a_box_trickled_byte_by_byte_is_late_one_timeout_after_its_first_byte() {
    let limit = ms(100);
    let (mut r, _) = box_timeout(limit);
    let wire = request(Some("0"), Some("1"), 10);
    let t0 = Instant::now();
    for (i, byte) in wire.iter().enumerate().take(wire.len() - 1) {
        let now = t0 + ms(i as u64);
        r.handle_input(&[*byte]);
        assert_eq!(requests(&mut r), 0);
        assert_eq!(r.poll_timeout(now), Some(t0 + limit), "byte {i}");
        r.handle_timeout(now);
        open(&r);
    }
    r.handle_timeout(t0 + limit - NS);
    open(&r);
    r.handle_timeout(t0 + limit);
    let reason = ConnectionError::BoxTimeout {
        timeout: limit,
        buffered: wire.len() - 1,
    };
    assert_eq!(
        drain(&mut r),
        [RoutedEvent {
            route: Route::Default,
            event: Event::Closed(reason)
        }]
    );
    assert_eq!(r.poll_timeout(t0 + limit), None);
}

#[test]
fn a_whole_box_decoded_on_any_route_restarts_the_clock() {
    let limit = ms(100);
    let (mut r, _) = box_timeout(limit);
    let (a, b) = (request(Some("0"), None, 5), request(None, None, 20));
    let t0 = Instant::now();
    r.handle_input(&a[..7]);
    assert_eq!(requests(&mut r), 0);
    assert_eq!(r.poll_timeout(t0), Some(t0 + limit));
    let t1 = t0 + limit - NS;
    r.handle_input(&a[7..]);
    r.handle_input(&b[..4]);
    assert_eq!(requests(&mut r), 1);
    assert_eq!(r.poll_timeout(t1), Some(t1 + limit));
    r.handle_timeout(t0 + limit);
    r.handle_timeout(t1 + limit - NS);
    open(&r);
    r.handle_timeout(t1 + limit);
    assert_eq!(
        r.close_reason(),
        Some(&ConnectionError::BoxTimeout {
            timeout: limit,
            buffered: 4
        })
    );
}

#[test]
fn whole_boxes_not_decoded_yet_are_not_late() {
    let limit = ms(100);
    let (mut r, _) = box_timeout(limit);
    let (a, b) = (request(Some("0"), None, 5), request(Some("0"), None, 20));
    let t0 = Instant::now();
    r.handle_input(&a[..7]);
    assert_eq!(requests(&mut r), 0);
    assert_eq!(r.poll_timeout(t0), Some(t0 + limit));
    r.handle_input(&a[7..]);
    r.handle_input(&b[..9]);
    assert_eq!(r.poll_timeout(t0 + limit), None);
    r.handle_timeout(t0 + limit * 10);
    open(&r);
    assert_eq!(requests(&mut r), 1);
    let t1 = t0 + limit * 10;
    assert_eq!(r.poll_timeout(t1), Some(t1 + limit));
    r.handle_timeout(t1 + limit - NS);
    open(&r);
    r.handle_timeout(t1 + limit);
    assert_eq!(
        r.close_reason(),
        Some(&ConnectionError::BoxTimeout {
            timeout: limit,
            buffered: 9
        })
    );
}

#[test]
fn paused_reading_stops_the_clock_and_resuming_restarts_it() {
    let limit = ms(100);
    let (mut r, _) = box_timeout(limit);
    r.handle_input(&request(Some("0"), None, 5)[..6]);
    assert_eq!(requests(&mut r), 0);
    let t0 = Instant::now();
    assert_eq!(r.poll_timeout(t0), Some(t0 + limit));
    r.pause_reading(true);
    assert_eq!(r.poll_timeout(t0 + ms(10)), None);
    r.handle_timeout(t0 + limit * 10);
    open(&r);
    r.pause_reading(false);
    let t1 = t0 + limit * 10;
    assert_eq!(r.poll_timeout(t1), Some(t1 + limit));
    r.handle_timeout(t1 + limit - NS);
    open(&r);
    r.handle_timeout(t1 + limit);
    assert_eq!(
        r.close_reason(),
        Some(&ConnectionError::BoxTimeout {
            timeout: limit,
            buffered: 6
        })
    );
}

#[test]
fn a_router_with_nothing_going_on_is_idle_one_timeout_after_the_first_poll() {
    let limit = ms(500);
    let (mut r, _) = idle_timeout(limit);
    let t0 = Instant::now();
    assert_eq!(r.poll_timeout(t0), Some(t0 + limit));
    r.handle_timeout(t0 + limit - NS);
    open(&r);
    r.handle_timeout(t0 + limit);
    let reason = ConnectionError::IdleTimeout { timeout: limit };
    assert_eq!(
        drain(&mut r),
        [RoutedEvent {
            route: Route::Default,
            event: Event::Closed(reason)
        }]
    );
    assert_eq!(r.poll_timeout(t0 + limit), None);
}

#[test]
fn traffic_on_any_route_moves_the_idle_deadline() {
    let limit = ms(100);
    let (mut r, named) = idle_timeout(limit);
    let t0 = Instant::now();
    assert_eq!(r.poll_timeout(t0), Some(t0 + limit));
    // A request wanting no answer, on the named route.
    let t1 = t0 + ms(70);
    r.handle_input(&request(Some("0"), None, 0));
    assert_eq!(requests(&mut r), 1);
    assert_eq!(r.poll_timeout(t1), Some(t1 + limit));
    // A box sent on it and taken between two polls.
    let t2 = t1 + ms(70);
    r.send_box(&named, &AmpBox::from_pairs([("k", "v")]))
        .unwrap();
    assert!(!r.take_transmit().is_empty());
    assert_eq!(r.poll_timeout(t2), Some(t2 + limit));
    r.handle_timeout(t1 + limit);
    r.handle_timeout(t2 + limit - NS);
    open(&r);
    r.handle_timeout(t2 + limit);
    assert_eq!(
        r.close_reason(),
        Some(&ConnectionError::IdleTimeout { timeout: limit })
    );
}

#[test]
fn a_call_waiting_on_one_route_keeps_the_connection_open() {
    let limit = ms(100);
    let (mut r, named) = idle_timeout(limit);
    let call = r
        .call_remote(&named, "Slow", &AmpBox::new(), true)
        .unwrap()
        .unwrap();
    r.take_transmit();
    let t0 = Instant::now();
    let mut now = t0;
    for _ in 0..10 {
        assert_eq!(r.poll_timeout(now), Some(now + limit));
        now += limit;
        r.handle_timeout(now);
        open(&r);
    }
    now += ms(1);
    let mut answer = AmpBox::from_pairs([("_answer", call.tag())]);
    answer.insert("_route", "0");
    r.handle_input(&answer.to_bytes().unwrap());
    let events = drain(&mut r);
    assert!(
        matches!(&events[..], [RoutedEvent { route, event: Event::Answer { .. } }] if *route == named),
        "{events:?}"
    );
    assert_eq!(r.poll_timeout(now), Some(now + limit));
    r.handle_timeout(now + limit - NS);
    open(&r);
    r.handle_timeout(now + limit);
    assert_eq!(
        r.close_reason(),
        Some(&ConnectionError::IdleTimeout { timeout: limit })
    );
}

#[test]
fn an_answer_owed_on_one_route_keeps_the_connection_open() {
    let limit = ms(100);
    let (mut r, named) = idle_timeout(limit);
    r.handle_input(&request(Some("0"), Some("a"), 0));
    let Some(RoutedEvent {
        event: Event::Request(req),
        ..
    }) = r.poll_event()
    else {
        panic!("no request")
    };
    let t0 = Instant::now();
    assert_eq!(r.poll_timeout(t0), Some(t0 + limit));
    r.handle_timeout(t0 + limit * 20);
    open(&r);
    let t1 = t0 + limit * 21;
    r.respond(&named, req.tag.as_deref(), Ok(AmpBox::new()))
        .unwrap();
    assert!(!r.take_transmit().is_empty());
    assert_eq!(r.poll_timeout(t1), Some(t1 + limit));
    r.handle_timeout(t1 + limit);
    assert_eq!(
        r.close_reason(),
        Some(&ConnectionError::IdleTimeout { timeout: limit })
    );
}

#[test]
fn bytes_not_taken_for_sending_keep_the_connection_open() {
    let limit = ms(100);
    let (mut r, named) = idle_timeout(limit);
    r.send_box(&named, &AmpBox::from_pairs([("k", "v")]))
        .unwrap();
    let t0 = Instant::now();
    assert_eq!(r.poll_timeout(t0), Some(t0 + limit));
    r.handle_timeout(t0 + limit * 20);
    open(&r);
    let t1 = t0 + limit * 20 + NS;
    r.take_transmit();
    assert_eq!(r.poll_timeout(t1), Some(t1 + limit));
    r.handle_timeout(t1 + limit);
    assert_eq!(
        r.close_reason(),
        Some(&ConnectionError::IdleTimeout { timeout: limit })
    );
}

#[test]
fn the_calls_of_an_unbound_route_keep_nothing_open() {
    let limit = ms(100);
    let (mut r, named) = idle_timeout(limit);
    r.call_remote(&named, "Slow", &AmpBox::new(), true).unwrap();
    r.take_transmit();
    let t0 = Instant::now();
    assert_eq!(r.poll_timeout(t0), Some(t0 + limit));
    r.handle_timeout(t0 + limit * 3);
    open(&r);
    r.unbind(&named).unwrap();
    let failed = drain(&mut r);
    assert!(matches!(
        &failed[..],
        [RoutedEvent {
            event: Event::CallFailed {
                reason: ConnectionError::RouteUnbound,
                ..
            },
            ..
        }]
    ));
    let t1 = t0 + limit * 3 + ms(1);
    assert_eq!(r.poll_timeout(t1), Some(t0 + limit * 4));
    r.handle_timeout(t0 + limit * 4);
    assert_eq!(
        r.close_reason(),
        Some(&ConnectionError::IdleTimeout { timeout: limit })
    );
}

#[test]
fn a_timeout_fails_every_routes_calls_then_closes() {
    let limit = ms(10);
    let (mut r, named) = router(Timeouts {
        unfinished_box: Some(limit),
        idle: Some(ms(1000)),
    });
    let on_default = r
        .call_remote(&Route::Default, "A", &AmpBox::new(), true)
        .unwrap()
        .unwrap();
    let on_named = r
        .call_remote(&named, "B", &AmpBox::new(), true)
        .unwrap()
        .unwrap();
    let queued = r.pending_transmit();
    r.handle_input(b"\x00\x06_rou");
    assert_eq!(requests(&mut r), 0);
    let t0 = Instant::now();
    assert_eq!(r.poll_timeout(t0), Some(t0 + limit));
    r.handle_timeout(t0 + limit);
    let reason = ConnectionError::BoxTimeout {
        timeout: limit,
        buffered: 6,
    };
    let failed = |route: &Route, call: CallId| RoutedEvent {
        route: route.clone(),
        event: Event::CallFailed {
            call,
            reason: reason.clone(),
        },
    };
    assert_eq!(
        drain(&mut r),
        [
            failed(&Route::Default, on_default),
            failed(&named, on_named),
            RoutedEvent {
                route: Route::Default,
                event: Event::Closed(reason.clone())
            },
        ]
    );
    assert_eq!(r.take_transmit().len(), queued);
    r.handle_timeout(t0 + Duration::from_secs(10));
    assert_eq!(r.close_reason(), Some(&reason));
}

#[test]
fn a_router_that_has_ended_has_no_deadline() {
    let limit = ms(10);
    let (mut r, _) = router(Timeouts {
        unfinished_box: Some(limit),
        idle: Some(limit),
    });
    let t0 = Instant::now();
    assert!(r.poll_timeout(t0).is_some());
    r.close();
    assert_eq!(r.poll_timeout(t0), None);
    r.handle_timeout(t0 + limit * 100);
    assert_eq!(r.close_reason(), Some(&ConnectionError::Closed));
}

// ---------------------------------------------------------------------------
// Random schedules against a model of the rules (a small generator of its
// own: the crate's tests do without proptest).

/// xorshift64*: enough to vary schedules, the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What the router looked like at one `poll_timeout`/`handle_timeout`, as
/// the schedule counts it.
#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Instant,
    decoded: u64,
    buffered: u64,
    drained: bool,
    received: u64,
    transmitted: u64,
    busy: bool,
    paused: bool,
    pauses: usize,
}

/// The rules over the whole history of samples.
fn box_deadline(timeouts: Timeouts, samples: &[Sample]) -> Option<Instant> {
    let limit = timeouts.unfinished_box?;
    let last = *samples.last()?;
    if last.buffered == 0 || last.paused || !last.drained {
        return None;
    }
    let mut start = last.at;
    for s in samples.iter().rev().skip(1) {
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

fn idle_deadline(timeouts: Timeouts, samples: &[Sample]) -> Option<Instant> {
    let limit = timeouts.idle?;
    let (_, active) = samples.iter().enumerate().rev().find(|(i, s)| {
        s.busy
            || *i == 0
            || (s.received, s.transmitted) != (samples[i - 1].received, samples[i - 1].transmitted)
    })?;
    active.at.checked_add(limit)
}

#[test]
fn the_router_follows_the_rules_on_many_schedules() {
    let mut fired = [0usize; 3];
    for seed in 1..=400u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let pick = |rng: &mut Rng| match rng.below(3) {
            0 => None,
            _ => Some(ms(1 + rng.below(20))),
        };
        let timeouts = Timeouts {
            unfinished_box: pick(&mut rng),
            idle: pick(&mut rng),
        };
        let (mut r, named) = router(timeouts);
        // The peer's boxes, for either route, tagged or not.
        let mut stream = Vec::new();
        let mut ends = Vec::new();
        for i in 0..1 + rng.below(8) {
            let route = (rng.below(2) == 0).then_some("0");
            let tag = (rng.below(2) == 0).then(|| format!("t{i}"));
            stream.extend(request(route, tag.as_deref(), rng.below(30) as usize));
            ends.push(stream.len() as u64);
        }
        let t0 = Instant::now();
        let mut now = t0;
        let mut samples: Vec<Sample> = Vec::new();
        let mut last_deadline = None;
        let (mut fed, mut decoded, mut drained_at, mut transmitted) = (0u64, 0u64, 0u64, 0u64);
        let (mut paused, mut pauses) = (false, 0usize);
        let mut calls: Vec<(Route, CallId)> = Vec::new();
        let mut owed: Vec<(Route, bytes::Bytes)> = Vec::new();
        for _ in 0..1 + rng.below(80) {
            if r.is_closed() {
                break;
            }
            let sample = Sample {
                at: now,
                decoded,
                buffered: fed - decoded,
                drained: fed == drained_at,
                received: fed,
                transmitted,
                busy: fed > decoded
                    || r.pending_transmit() > 0
                    || !calls.is_empty()
                    || !owed.is_empty(),
                paused,
                pauses,
            };
            match rng.below(14) {
                0 | 1 => {
                    let to = (fed + 1 + rng.below(40)).min(stream.len() as u64);
                    r.handle_input(&stream[fed as usize..to as usize]);
                    fed = to;
                }
                2 | 3 => {
                    let one = rng.below(3) == 0;
                    loop {
                        match r.poll_event() {
                            Some(RoutedEvent {
                                route,
                                event: Event::Request(req),
                            }) => {
                                decoded = *ends.iter().find(|&&e| e > decoded).unwrap();
                                if let Some(tag) = req.tag {
                                    owed.push((route, tag));
                                }
                                if one {
                                    break;
                                }
                            }
                            Some(other) => panic!("seed {seed}: unexpected {other:?}"),
                            None => {
                                drained_at = fed;
                                break;
                            }
                        }
                    }
                }
                4 | 5 => now += Duration::from_micros(rng.below(30_000)),
                6 => {
                    if let Some(d) = last_deadline {
                        let d = match rng.below(3) {
                            0 => d - NS,
                            1 => d,
                            _ => d + NS,
                        };
                        now = now.max(d);
                    }
                }
                7 | 8 => {
                    samples.push(sample);
                    let expected = match (
                        box_deadline(timeouts, &samples),
                        idle_deadline(timeouts, &samples),
                    ) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    let deadline = r.poll_timeout(now);
                    assert_eq!(deadline, expected, "seed {seed}: deadline");
                    last_deadline = deadline;
                }
                9 | 10 => {
                    samples.push(sample);
                    let expected = match box_deadline(timeouts, &samples) {
                        Some(d) if d <= now => Some(ConnectionError::BoxTimeout {
                            timeout: timeouts.unfinished_box.unwrap(),
                            buffered: sample.buffered as usize,
                        }),
                        _ => match idle_deadline(timeouts, &samples) {
                            Some(d) if d <= now && !sample.busy => {
                                Some(ConnectionError::IdleTimeout {
                                    timeout: timeouts.idle.unwrap(),
                                })
                            }
                            _ => None,
                        },
                    };
                    r.handle_timeout(now);
                    assert_eq!(r.close_reason(), expected.as_ref(), "seed {seed}: fired");
                    if let Some(reason) = &expected {
                        fired[match reason {
                            ConnectionError::BoxTimeout { .. } => 1,
                            _ => 2,
                        }] += 1;
                        let events = drain(&mut r);
                        assert_eq!(events.len(), calls.len() + 1, "seed {seed}: {events:?}");
                        assert_eq!(
                            events.last().map(|e| &e.event),
                            Some(&Event::Closed(reason.clone()))
                        );
                        assert_eq!(r.poll_timeout(now), None);
                    } else {
                        fired[0] += 1;
                    }
                }
                11 => {
                    let p = rng.below(2) == 0;
                    pauses += usize::from(p);
                    paused = p;
                    r.pause_reading(p);
                }
                12 => match rng.below(4) {
                    0 => {
                        let route = if rng.below(2) == 0 {
                            Route::Default
                        } else {
                            named.clone()
                        };
                        let id = r
                            .call_remote(&route, "Hi", &AmpBox::new(), true)
                            .unwrap()
                            .unwrap();
                        calls.push((route, id));
                    }
                    1 => {
                        if !calls.is_empty() {
                            let (route, id) = calls.remove(0);
                            assert!(r.forget(&route, id));
                        }
                    }
                    _ => {
                        if !owed.is_empty() {
                            let (route, tag) = owed.remove(0);
                            r.answer(&route, &tag, &AmpBox::new()).unwrap();
                        }
                    }
                },
                _ => transmitted += r.take_transmit().len() as u64,
            }
        }
    }
    // The schedules reach every outcome.
    assert!(fired.iter().all(|&n| n > 0), "outcomes: {fired:?}");
}
