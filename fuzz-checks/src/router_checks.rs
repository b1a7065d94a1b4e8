//! The checks behind the `router` fuzz target: an `amp_router::Router`
//! driven by arbitrary bytes and local actions.
//!
//! It reads its input with the byte reader of `input.rs` and holds the
//! router to the timeouts' model of `timeout_model.rs`, both shared with
//! `checks.rs`.
//!
//! A check that finds a bug panics with a message saying which invariant
//! broke.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use amp_core::codec::decode_all;
use amp_core::{
    AmpBox, CallId, Config, ConnectionError, Event, Limits, ResponderError, SendError, Timeouts,
};
use amp_router::{ROUTE, Route, RouteError, RoutedEvent, Router};
use bytes::Bytes;

use crate::input::Input;
use crate::timeout_model::{Clock, Timed};

/// A route as an ordered key: its name, `None` for the default route.
type Key = Option<Bytes>;

fn key(route: &Route) -> Key {
    route.name().cloned()
}

fn route_of(key: &Key) -> Route {
    match key {
        None => Route::Default,
        Some(name) => Route::Named(name.clone()),
    }
}

/// What one bound route must be doing.
struct RouteModel {
    /// `None`: not connected; `Some(None)`: connected to the peer's default
    /// route; `Some(Some(name))`: connected to the peer's route `name`.
    remote: Option<Option<Bytes>>,
    /// Calls made on it, not yet answered, failed or forgotten.
    outstanding: BTreeSet<u64>,
    /// Calls forgotten (for generating late answers).
    forgotten: BTreeSet<u64>,
    /// Tags of requests received on it and not answered yet.
    owed: Vec<Bytes>,
    /// The next call's id (each route counts its own).
    next_call: u64,
}

impl RouteModel {
    fn new() -> Self {
        RouteModel {
            remote: None,
            outstanding: BTreeSet::new(),
            forgotten: BTreeSet::new(),
            owed: Vec::new(),
            next_call: 1,
        }
    }
}

/// The bytes one local action on a route queued, and what their `_route`
/// must be.
struct Segment {
    /// The action, for messages.
    what: &'static str,
    route: Route,
    len: usize,
    /// The remote route the route was connected to when it sent them.
    remote: Option<Bytes>,
}

/// Tracks what the router must be doing, from the actions taken on it and
/// the events it gave out.
struct Model {
    raw_boxes: bool,
    routes: BTreeMap<Key, RouteModel>,
    /// Calls of unbound routes whose `CallFailed` is still to come, with the
    /// reason it must carry.
    unbound: Vec<(Key, u64, ConnectionError)>,
    /// Event::Closed has been handed out.
    closed_seen: bool,
    /// Bytes queued when the router was last seen closed.
    closed_transmit: Option<usize>,
    /// The bytes queued since the last `take_transmit`, action by action.
    segments: Vec<Segment>,
    /// Counter for fresh tags in received requests.
    fresh: u64,
    /// The timeouts: time, and what the router looked like at each
    /// `poll_timeout`/`handle_timeout`.
    clock: Clock,
}

impl Model {
    fn new(raw_boxes: bool, timeouts: Timeouts) -> Self {
        Model {
            raw_boxes,
            routes: BTreeMap::new(),
            unbound: Vec::new(),
            closed_seen: false,
            closed_transmit: None,
            segments: Vec::new(),
            fresh: 0,
            clock: Clock::new(timeouts),
        }
    }

    fn nth_route(&self, i: usize) -> Option<Route> {
        self.routes
            .keys()
            .nth(i % self.routes.len().max(1))
            .map(route_of)
    }

    fn pick_owed(&self, route: &Route, input: &mut Input) -> Option<Bytes> {
        let i = input.u8() as usize;
        let r = self.routes.get(&key(route))?;
        r.owed.get(i % r.owed.len().max(1)).cloned()
    }

    fn pick_outstanding(&self, route: &Route, input: &mut Input) -> Option<u64> {
        let i = input.u8() as usize;
        let r = self.routes.get(&key(route))?;
        r.outstanding
            .iter()
            .nth(i % r.outstanding.len().max(1))
            .copied()
    }

    /// The refusal any local action sending on `route` must get from the
    /// route's state alone: not bound, not connected, or the connection
    /// ended (in that order, as the router checks them).
    fn gate(&self, router: &Router, route: &Route) -> Option<RouteError> {
        match self.routes.get(&key(route)) {
            None => Some(RouteError::NotBound(route.clone())),
            Some(r) if r.remote.is_none() => Some(RouteError::RouteNotConnected(route.clone())),
            Some(_) => router
                .close_reason()
                .map(|reason| RouteError::Send(SendError::Closed(reason.clone()))),
        }
    }

    /// Accounts for the bytes a local action queued: none unless it sent on
    /// a route that could send (`gate` was `None`), and then whole boxes
    /// carrying that route's `_route`, checked when taken.
    fn queued(
        &mut self,
        router: &Router,
        before: usize,
        what: &'static str,
        sent_on: Option<&Route>,
    ) {
        let now = router.pending_transmit();
        assert!(now >= before, "{what}: queued bytes vanished");
        if now == before {
            return;
        }
        let Some(route) = sent_on else {
            panic!("{what} queued {} bytes", now - before);
        };
        let remote = self
            .routes
            .get(&key(route))
            .and_then(|r| r.remote.clone())
            .unwrap_or_else(|| panic!("{what} on {route} queued bytes, not being connected"));
        self.segments.push(Segment {
            what,
            route: route.clone(),
            len: now - before,
            remote,
        });
    }

    fn event(&mut self, router: &Router, ev: RoutedEvent) {
        assert!(!self.closed_seen, "event after Closed: {ev:?}");
        let k = key(&ev.route);
        let route = ev.route;
        match ev.event {
            Event::Request(req) => {
                assert!(!router.is_closed(), "a request after the connection ended");
                assert!(
                    !req.arguments.contains_key(ROUTE),
                    "a request on {route} still holds _route"
                );
                let r = self
                    .routes
                    .get_mut(&k)
                    .unwrap_or_else(|| panic!("a request on {route}, which is not bound"));
                if let Some(tag) = req.tag {
                    assert!(
                        !r.owed.contains(&tag),
                        "a request on {route} reuses owed tag {tag:?}"
                    );
                    r.owed.push(tag);
                }
            }
            Event::Answer { call, response } => {
                assert!(
                    !response.contains_key(ROUTE),
                    "an answer on {route} still holds _route"
                );
                let r = self
                    .routes
                    .get_mut(&k)
                    .unwrap_or_else(|| panic!("an answer on {route}, which is not bound"));
                assert!(
                    r.outstanding.remove(&call.get()),
                    "answer for call {call} of {route}, which is not outstanding"
                );
            }
            Event::ErrorAnswer { call, .. } => {
                let r = self
                    .routes
                    .get_mut(&k)
                    .unwrap_or_else(|| panic!("an error answer on {route}, which is not bound"));
                assert!(
                    r.outstanding.remove(&call.get()),
                    "error answer for call {call} of {route}, which is not outstanding"
                );
            }
            Event::Box(b) => {
                assert!(self.raw_boxes, "a raw box without raw boxes on");
                assert!(self.routes.contains_key(&k), "a box on {route}, not bound");
                for key in ["_answer", "_error", "_command", ROUTE] {
                    assert!(!b.contains_key(key), "a raw box holding {key}");
                }
            }
            Event::CallFailed { call, reason } => {
                let id = call.get();
                let found = if reason == ConnectionError::RouteUnbound {
                    false
                } else {
                    assert!(
                        router.is_closed(),
                        "CallFailed {reason:?} on an open router"
                    );
                    assert_eq!(router.close_reason(), Some(&reason), "CallFailed reason");
                    self.routes
                        .get_mut(&k)
                        .is_some_and(|r| r.outstanding.remove(&id))
                };
                if !found {
                    let i = self
                        .unbound
                        .iter()
                        .position(|(uk, uid, ur)| *uk == k && *uid == id && *ur == reason)
                        .unwrap_or_else(|| {
                            panic!(
                                "CallFailed ({reason:?}) for call {id} of {route}, not outstanding"
                            )
                        });
                    self.unbound.remove(i);
                }
            }
            Event::Closed(reason) => {
                assert_eq!(route, Route::Default, "Closed tagged with {route}");
                assert_eq!(router.close_reason(), Some(&reason), "close reason");
                for (k, r) in &self.routes {
                    assert!(
                        r.outstanding.is_empty(),
                        "Closed before CallFailed for {:?} of {}",
                        r.outstanding,
                        route_of(k)
                    );
                }
                assert!(
                    self.unbound.is_empty(),
                    "Closed before CallFailed for the unbound routes' calls {:?}",
                    self.unbound
                );
                self.closed_seen = true;
                for r in self.routes.values_mut() {
                    r.owed.clear();
                    r.forgotten.clear();
                }
            }
            other => panic!("unexpected event {other:?}"),
        }
    }

    fn poll(&mut self, router: &mut Router, n: usize) {
        for _ in 0..n {
            let Some(ev) = router.poll_event() else {
                if !router.is_closed() {
                    // No whole box left: what is buffered is part of one.
                    self.clock.drained_at = self.clock.fed;
                }
                return;
            };
            self.event(router, ev);
        }
    }

    /// Hands received bytes to the router (counted while it is open: later
    /// ones are ignored).
    fn feed(&mut self, router: &mut Router, data: &[u8]) {
        if !router.is_closed() {
            self.clock.fed += data.len() as u64;
        }
        router.handle_input(data);
    }

    /// One time action (see [`router`]), by the model's rules (see
    /// [`Clock::time`]).
    fn time(&mut self, router: &mut Router, input: &mut Input) {
        let calls = self
            .routes
            .values()
            .any(|r| !r.outstanding.is_empty() || !r.owed.is_empty());
        self.clock.time(router, input, calls);
    }

    /// Takes everything queued and checks it action by action: each
    /// action's bytes are whole boxes, every one with the `_route` of the
    /// route that sent it.
    fn take_transmit(&mut self, router: &mut Router) {
        let out = router.take_transmit();
        self.clock.transmitted += out.len() as u64;
        let total: usize = self.segments.iter().map(|s| s.len).sum();
        assert_eq!(out.len(), total, "bytes queued by no action on a route");
        let unlimited = Limits::default()
            .max_keys(usize::MAX)
            .max_box_bytes(usize::MAX)
            .max_buffered_bytes(usize::MAX);
        let mut at = 0;
        for seg in self.segments.drain(..) {
            let wire = out.slice(at..at + seg.len);
            at += seg.len;
            let boxes = decode_all(wire, &unlimited).unwrap_or_else(|e| {
                panic!(
                    "{} on {} queued bytes that do not decode: {e}",
                    seg.what, seg.route
                )
            });
            for b in boxes {
                check_sent_route(&seg, b.get(ROUTE));
            }
        }
    }

    /// That `route` is bound and connected as the model says.
    fn check_route(&self, router: &Router, route: &Route) {
        let r = self.routes.get(&key(route));
        assert_eq!(
            router.routes().any(|b| b == route),
            r.is_some(),
            "{route} bound"
        );
        assert_eq!(
            router.is_connected(route),
            r.is_some_and(|r| r.remote.is_some()),
            "{route} connected"
        );
    }

    /// That the bound routes are the model's, each connected as it says (a
    /// walk over them all, so only at the end: a long input may bind
    /// hundreds).
    fn check_routes(&self, router: &Router) {
        let bound: BTreeSet<Key> = router.routes().map(key).collect();
        let modelled: BTreeSet<Key> = self.routes.keys().cloned().collect();
        assert_eq!(bound, modelled, "bound routes");
        for (k, r) in &self.routes {
            assert_eq!(
                router.is_connected(&route_of(k)),
                r.remote.is_some(),
                "{} connected",
                route_of(k)
            );
        }
    }

    /// Invariants that hold between any two actions.
    fn check(&mut self, router: &Router) {
        assert_eq!(router.routes().count(), self.routes.len(), "bound routes");
        if router.is_closed() {
            let now = router.pending_transmit();
            if let Some(before) = self.closed_transmit {
                assert!(now <= before, "bytes queued after the connection ended");
            }
            self.closed_transmit = Some(now);
        } else {
            assert!(!self.closed_seen, "open after Closed");
        }
    }
}

/// A sent box's `_route` must be the name its route is connected to, or
/// absent when it is connected to the peer's default route (even when the
/// application put a `_route` in the arguments, response or box: the router
/// owns that key, so such an action is refused as `ReservedKey`).
fn check_sent_route(seg: &Segment, sent: Option<&[u8]>) {
    match &seg.remote {
        Some(name) => assert_eq!(
            sent,
            Some(&name[..]),
            "{} on {} (connected to {name:?}) sent _route {sent:?}",
            seg.what,
            seg.route
        ),
        None => assert!(
            sent.is_none(),
            "{} on {} (connected to the default route) sent _route {sent:?}",
            seg.what,
            seg.route
        ),
    }
}

/// A route to act on: the default one, "0" to "3", a bound one, any name.
fn pick_route(input: &mut Input, model: &Model) -> Route {
    match input.below(8) {
        0 => Route::Default,
        n @ 1..=4 => Route::named((n - 1).to_string()),
        5 => {
            let i = input.u8() as usize;
            model.nth_route(i).unwrap_or(Route::Default)
        }
        6 => Route::Named(Bytes::copy_from_slice(input.bytes())),
        _ => Route::named("7"),
    }
}

/// A remote route name to connect to: the peer's default route, a short
/// name, any name, or one too long to write.
fn pick_remote(input: &mut Input) -> Option<Bytes> {
    match input.below(8) {
        0 | 1 => None,
        2 | 3 => Some(Bytes::from_static(b"0")),
        4 => Some(Bytes::from_static(b"1")),
        5 => Some(Bytes::from_static(b"7")),
        6 => Some(Bytes::copy_from_slice(input.bytes())),
        _ => Some(Bytes::from(vec![b'r'; 65536])),
    }
}

/// A small box of 0 to 3 pairs, sometimes holding `_route`, another
/// reserved key or an over-long one.
fn arguments(input: &mut Input) -> AmpBox {
    let mut b = AmpBox::new();
    for _ in 0..input.below(4) {
        let key: Bytes = match input.below(10) {
            0 => Bytes::from_static(b"_route"),
            1 => Bytes::from_static(b"_ask"),
            2 => Bytes::from_static(b"_answer"),
            3 => Bytes::from(vec![b'k'; 256]),
            4 => Bytes::new(),
            5 => Bytes::from_static(b"a"),
            6 => Bytes::from_static(b"b"),
            _ => Bytes::copy_from_slice(input.bytes()),
        };
        let value: Bytes = match input.below(16) {
            0 => Bytes::from(vec![b'v'; 65536]),
            _ => Bytes::copy_from_slice(input.bytes()),
        };
        b.insert(key, value);
    }
    b
}

fn command_name(input: &mut Input) -> String {
    match input.below(5) {
        0 => "Sum".into(),
        1 => "Count".into(),
        2 => "NewRoute".into(),
        3 => String::new(),
        _ => String::from_utf8_lossy(input.bytes()).into_owned(),
    }
}

fn responder_error(input: &mut Input) -> ResponderError {
    match input.below(4) {
        0 => ResponderError::Declared {
            code: "ZERO_DIVISION".into(),
            description: String::from_utf8_lossy(input.bytes()).into_owned(),
            fatal: false,
        },
        1 => ResponderError::Declared {
            code: "BROKEN".into(),
            description: "fatal".into(),
            fatal: true,
        },
        2 => ResponderError::unhandled(input.bytes()),
        _ => ResponderError::undeclared("boom"),
    }
}

/// A well-formed box a peer could send, addressed (`_route`) to one of our
/// routes, the default route, or a name nobody bound.
fn peer_box(input: &mut Input, model: &mut Model) -> AmpBox {
    let to: Option<Bytes> = match input.below(8) {
        0 | 1 => None,
        2 | 3 => Some(Bytes::from_static(b"0")),
        4 => Some(Bytes::from_static(b"1")),
        5 => Some(Bytes::from_static(b"2")),
        6 => {
            let i = input.u8() as usize;
            model.nth_route(i).and_then(|r| r.name().cloned())
        }
        _ => Some(Bytes::copy_from_slice(input.bytes())),
    };
    let target = route_of(&to);
    let random_tag = |input: &mut Input| Bytes::copy_from_slice(input.bytes());
    let mut b = AmpBox::new();
    let route_first = input.bool();
    if let (true, Some(name)) = (route_first, &to) {
        b.insert(ROUTE, name.clone());
    }
    match input.below(12) {
        // A request with a fresh tag.
        0 | 1 => {
            model.fresh += 1;
            b.insert("_ask", format!("p{}", model.fresh));
            b.insert("_command", command_name(input));
        }
        // A request reusing a tag the route owes an answer for.
        2 => {
            let tag = model
                .pick_owed(&target, input)
                .unwrap_or_else(|| random_tag(input));
            b.insert("_ask", tag);
            b.insert("_command", command_name(input));
        }
        // A request without a tag.
        3 => {
            b.insert("_command", command_name(input));
        }
        // An answer to a call of the route's.
        4 | 5 => {
            let tag = match model.pick_outstanding(&target, input) {
                Some(id) => Bytes::from(CallId::new(id).tag()),
                None => random_tag(input),
            };
            b.insert("_answer", tag);
        }
        // An error answer, sometimes missing its code or description.
        6 => {
            let tag = match model.pick_outstanding(&target, input) {
                Some(id) => Bytes::from(CallId::new(id).tag()),
                None => random_tag(input),
            };
            b.insert("_error", tag);
            let shape = input.below(4);
            if shape != 1 {
                b.insert("_error_code", "ZERO_DIVISION");
            }
            if shape != 2 {
                b.insert("_error_description", Bytes::copy_from_slice(input.bytes()));
            }
        }
        // A late answer to a call the route forgot.
        7 => {
            let i = input.u8() as usize;
            let forgotten = model.routes.get(&to).map(|r| &r.forgotten);
            let tag = match forgotten.and_then(|f| f.iter().nth(i % f.len().max(1))) {
                Some(id) => Bytes::from(CallId::new(*id).tag()),
                None => random_tag(input),
            };
            b.insert(if input.bool() { "_answer" } else { "_error" }, tag);
            b.insert("_error_code", "X");
            b.insert("_error_description", "y");
        }
        // An answer to a call of another route (on this one).
        8 => {
            let other = model.nth_route(input.u8() as usize);
            let tag = match other.and_then(|r| model.pick_outstanding(&r, input)) {
                Some(id) => Bytes::from(CallId::new(id).tag()),
                None => random_tag(input),
            };
            b.insert("_answer", tag);
        }
        // A box that is neither request nor answer.
        9 => {}
        // More than one of _answer, _error, _command.
        10 => {
            let all = ["_answer", "_error", "_command"];
            let skip = input.below(4);
            for (i, key) in all.iter().enumerate() {
                if i != skip {
                    b.insert(*key, "1");
                }
            }
        }
        // An answer or error for any tag.
        _ => {
            b.insert(
                if input.bool() { "_answer" } else { "_error" },
                random_tag(input),
            );
        }
    }
    for _ in 0..input.below(3) {
        let key = input.bytes();
        if !key.is_empty() && !b.contains_key(key) && !key.starts_with(b"_") {
            b.insert(
                Bytes::copy_from_slice(key),
                Bytes::copy_from_slice(input.bytes()),
            );
        }
    }
    if let (false, Some(name)) = (route_first, &to) {
        b.insert(ROUTE, name.clone());
    }
    b
}

/// Checks the outcome of a local action sending on `route`: refused exactly
/// as [`Model::gate`] says, else accepted or refused for the box itself
/// (encoding, a reserved key) or, with `not_owed`, as not asked.
fn sent<T: std::fmt::Debug>(
    what: &str,
    gate: &Option<RouteError>,
    result: &Result<T, RouteError>,
    not_owed: bool,
) {
    match (gate, result) {
        (Some(g), Err(e)) => assert_eq!(e, g, "{what} refused"),
        (Some(g), Ok(v)) => panic!("{what} accepted ({v:?}), expected {g:?}"),
        (None, Err(RouteError::Send(SendError::NotAsked(_)))) if not_owed => {}
        (None, Ok(_)) if not_owed => panic!("{what} accepted for a tag not owed"),
        (None, Ok(_)) => {}
        (None, Err(RouteError::Send(SendError::Codec(_) | SendError::ReservedKey(_))))
            if !not_owed => {}
        (None, Err(e)) => panic!("{what} refused with {e:?}"),
    }
}

/// A timeout from one byte of input: 0 to 12.75 ms, in steps of 50 µs.
fn timeout(b: u8) -> Duration {
    Duration::from_micros(u64::from(b) * 50)
}

/// The settings byte's bits, then the routes the router starts with.
///
/// Settings: bit 0: raw boxes; bit 1: small limits from the next three
/// bytes (as the `decoder` target reads them); bit 2: no default route;
/// bit 3: an unfinished-box timeout, bit 4: an idle timeout, each from the
/// next byte, in steps of 50 µs (under 1 ms counts as 1 ms).
/// Routes: the default route connected to the peer's default route; "0"
/// connected to "0"; "1" connected to "7"; "2" not connected.
fn setup(input: &mut Input) -> (Router, Model) {
    let settings = input.u8();
    let raw_boxes = settings & 1 == 1;
    let mut limits = Limits::default();
    if settings & 2 == 2 {
        limits = limits
            .max_keys(input.u8() as usize % 20)
            .max_box_bytes(4 * input.u8() as usize)
            .max_buffered_bytes(4 * input.u8() as usize);
    }
    let mut config = Config::default().limits(limits).raw_boxes(raw_boxes);
    if settings & 8 == 8 {
        config = config.unfinished_box_timeout(timeout(input.u8()));
    }
    if settings & 16 == 16 {
        config = config.idle_timeout(timeout(input.u8()));
    }
    let t = config.timeouts();
    assert_eq!(t.unfinished_box.is_some(), settings & 8 == 8, "{t:?}");
    assert_eq!(t.idle.is_some(), settings & 16 == 16, "{t:?}");
    for d in [t.unfinished_box, t.idle].into_iter().flatten() {
        assert!(d >= Duration::from_millis(1), "a timeout under 1 ms: {d:?}");
    }
    let mut router = Router::new(&config);
    let mut model = Model::new(raw_boxes, t);
    let mut add = |router: &mut Router, route: Route, remote: Option<Option<&'static [u8]>>| {
        if let Some(remote) = remote {
            router
                .connect_to(&route, remote.map(Bytes::from_static))
                .expect("connecting a bound route");
        }
        let mut r = RouteModel::new();
        r.remote = remote.map(|n| n.map(Bytes::from_static));
        model.routes.insert(key(&route), r);
    };
    if settings & 4 == 0 {
        router
            .bind(Route::Default)
            .expect("binding the default route");
        add(&mut router, Route::Default, Some(None));
    }
    let r0 = router.bind_route();
    add(&mut router, r0, Some(Some(b"0")));
    let r1 = router.bind_route();
    add(&mut router, r1, Some(Some(b"7")));
    let r2 = router.bind_route();
    add(&mut router, r2, None);
    (router, model)
}

/// An [`amp_router::Router`] driven by a sequence of actions read from the
/// input.
///
/// Input: a settings byte and the starting routes (see [`setup`]), then
/// actions until the input ends, each an opcode byte (mod 17) and its
/// operands:
///
/// | opcode | action |
/// |---|---|
/// | 0 | receive bytes (a length byte and the bytes) |
/// | 1 | receive a well-formed box for a route (one of ours, the default, an unbound name), of a kind the input picks, in two writes |
/// | 2 | bind a fresh route (`bind_route`) or one by name |
/// | 3 | connect a route to a remote name (the default, a short name, any, one too long to write) |
/// | 4 | unbind a route |
/// | 5 | call on a route (name, arguments, whether it wants an answer) |
/// | 6 | answer a request a route owes (or a tag nobody asked) |
/// | 7 | respond to a request, tagged or not, with a result or an error |
/// | 8 | send a raw box on a route |
/// | 9 | forget a call |
/// | 10 | take up to 4 events |
/// | 11 | take the bytes to send |
/// | 12 | close |
/// | 13 | end of stream |
/// | 14 | transport lost |
/// | 15 | take every event |
/// | 16 | time: a byte (mod 8) picks what, then its operands (below) |
///
/// Time is one more action: the check keeps the time (it starts at the
/// instant the check starts) and hands it to the router.
///
/// | time | action |
/// |---|---|
/// | 0 | ask for the deadline (`poll_timeout`) |
/// | 1 | go to the deadline last returned, then `handle_timeout` |
/// | 2 | go to a nanosecond before it, then `handle_timeout` |
/// | 3 | let a number of microseconds pass (two bytes), then `handle_timeout` |
/// | 4 | let a number of microseconds pass (two bytes) |
/// | 5 | stop reading, or read again (one bit) |
/// | 6 | let a number of microseconds pass (two bytes), then ask for the deadline |
/// | 7 | `handle_timeout` now |
///
/// Then it takes every event, ends the stream, and takes every event again.
///
/// Checks: no panic; every event is for a bound route (or the `CallFailed`
/// of a route unbound since), requests and answers without `_route`;
/// answers only for calls outstanding on that route; `Closed` once, on the
/// default route's tag, with the router's close reason, after a
/// `CallFailed` for every call outstanding on any route (and for every call
/// of a route unbound before it), and nothing after it; a local action is
/// refused as `NotBound`, `RouteNotConnected`, `Closed` exactly when the
/// route is not bound, not connected, or the connection has ended, and a
/// refused action queues nothing; call ids count from 1 on each route;
/// bound routes and their connections are as bound and connected; bytes
/// are queued only by an action sending on a connected route, never after
/// the end, and decode as whole boxes whose `_route` is the route's remote
/// name (absent for the peer's default route); the end of the stream always
/// ends the connection. And the timeouts: the configuration holds what was
/// asked (at least 1 ms); every deadline is the one a model of the rules
/// gives (over what the check fed, polled and took, the routes' calls and
/// owed answers, and the instants it passed); a timeout ends the router
/// exactly when, and with the reason, the model says, never the idle one
/// while the model says busy; after the end there is no deadline and no
/// timeout.
pub fn router(data: &[u8]) {
    let mut input = Input::new(data);
    let (mut router, mut model) = setup(&mut input);
    model.check(&router);
    model.check_routes(&router);

    while !input.is_empty() {
        let before = router.pending_transmit();
        let mut touched = None;
        match input.u8() % 17 {
            0 => {
                let data = input.bytes();
                model.feed(&mut router, data);
                model.queued(&router, before, "receiving bytes", None);
            }
            1 => {
                let b = peer_box(&mut input, &mut model);
                let wire = b.to_bytes().expect("a generated box does not encode");
                let cut = input.u16() as usize % (wire.len() + 1);
                model.feed(&mut router, &wire[..cut]);
                model.feed(&mut router, &wire[cut..]);
                model.queued(&router, before, "receiving a box", None);
            }
            2 => {
                if input.below(4) == 0 {
                    let route = pick_route(&mut input, &model);
                    let expected = !model.routes.contains_key(&key(&route));
                    match router.bind(route.clone()) {
                        Ok(()) => {
                            assert!(expected, "bound {route} twice");
                            model.routes.insert(key(&route), RouteModel::new());
                        }
                        Err(e) => {
                            assert!(!expected, "bind({route}) refused: {e:?}");
                            assert_eq!(e, RouteError::AlreadyBound(route.clone()));
                        }
                    }
                    touched = Some(route);
                } else {
                    let route = router.bind_route();
                    let name = route.name().expect("bind_route bound the default route");
                    assert!(
                        !name.is_empty() && name.iter().all(u8::is_ascii_digit),
                        "bind_route named a route {name:?}"
                    );
                    assert!(
                        model
                            .routes
                            .insert(key(&route), RouteModel::new())
                            .is_none(),
                        "bind_route bound {route}, bound already"
                    );
                    touched = Some(route);
                }
                model.queued(&router, before, "binding", None);
            }
            3 => {
                let route = pick_route(&mut input, &model);
                let remote = pick_remote(&mut input);
                match router.connect_to(&route, remote.clone()) {
                    Ok(()) => {
                        let r = model
                            .routes
                            .get_mut(&key(&route))
                            .unwrap_or_else(|| panic!("connected {route}, not bound"));
                        r.remote = Some(remote);
                    }
                    Err(e) => {
                        assert!(!model.routes.contains_key(&key(&route)), "{e:?}");
                        assert_eq!(e, RouteError::NotBound(route.clone()));
                    }
                }
                touched = Some(route);
                model.queued(&router, before, "connecting", None);
            }
            4 => {
                let route = pick_route(&mut input, &model);
                match router.unbind(&route) {
                    Ok(()) => {
                        let r = model
                            .routes
                            .remove(&key(&route))
                            .unwrap_or_else(|| panic!("unbound {route}, not bound"));
                        let reason = router
                            .close_reason()
                            .cloned()
                            .unwrap_or(ConnectionError::RouteUnbound);
                        for id in r.outstanding {
                            model.unbound.push((key(&route), id, reason.clone()));
                        }
                    }
                    Err(e) => {
                        assert!(!model.routes.contains_key(&key(&route)), "{e:?}");
                        assert_eq!(e, RouteError::NotBound(route.clone()));
                    }
                }
                touched = Some(route);
                model.queued(&router, before, "unbinding", None);
            }
            5 => {
                let route = pick_route(&mut input, &model);
                let name = command_name(&mut input);
                let args = arguments(&mut input);
                let wants = input.u8() & 3 != 0;
                let gate = model.gate(&router, &route);
                let result = router.call_remote(&route, &name, &args, wants);
                sent("call_remote", &gate, &result, false);
                match result {
                    Ok(Some(id)) => {
                        assert!(wants, "a call wanting no answer got an id");
                        let r = model.routes.get_mut(&key(&route)).expect("gated");
                        assert_eq!(id.get(), r.next_call, "call ids of {route} not in sequence");
                        r.next_call += 1;
                        r.outstanding.insert(id.get());
                    }
                    Ok(None) => assert!(!wants, "a call wanting an answer got no id"),
                    Err(_) => {}
                }
                model.queued(&router, before, "call_remote", Some(&route));
            }
            6 => {
                let route = pick_route(&mut input, &model);
                let tag = model
                    .pick_owed(&route, &mut input)
                    .unwrap_or_else(|| Bytes::copy_from_slice(input.bytes()));
                let response = arguments(&mut input);
                let gate = model.gate(&router, &route);
                let owed = model
                    .routes
                    .get(&key(&route))
                    .is_some_and(|r| r.owed.contains(&tag));
                let result = router.answer(&route, &tag, &response);
                sent("answer", &gate, &result, !owed);
                if result.is_ok() {
                    let r = model.routes.get_mut(&key(&route)).expect("gated");
                    r.owed.retain(|t| *t != tag);
                }
                assert!(!router.is_closed() || gate.is_some(), "an answer closed it");
                model.queued(&router, before, "answer", Some(&route));
            }
            7 => {
                let route = pick_route(&mut input, &model);
                let tag = if input.bool() {
                    model.pick_owed(&route, &mut input)
                } else {
                    None
                };
                let result = if input.bool() {
                    Ok(arguments(&mut input))
                } else {
                    Err(responder_error(&mut input))
                };
                let fatal = match (&tag, &result) {
                    (_, Err(e)) if e.is_fatal() => true,
                    (None, Err(_)) => true,
                    _ => false,
                };
                let gate = model.gate(&router, &route);
                let owed = tag.as_ref().is_none_or(|t| {
                    model
                        .routes
                        .get(&key(&route))
                        .is_some_and(|r| r.owed.contains(t))
                });
                let outcome = router.respond(&route, tag.as_deref(), result);
                sent("respond", &gate, &outcome, !owed);
                if outcome.is_ok() {
                    if let Some(tag) = &tag {
                        let r = model.routes.get_mut(&key(&route)).expect("gated");
                        r.owed.retain(|t| t != tag);
                    }
                    if fatal {
                        assert!(router.is_closed(), "a fatal error left the router open");
                    }
                }
                if gate.is_none() && router.is_closed() {
                    assert!(
                        matches!(
                            router.close_reason(),
                            Some(ConnectionError::FatalError { .. })
                        ),
                        "respond closed the router with {:?}",
                        router.close_reason()
                    );
                }
                model.queued(&router, before, "respond", Some(&route));
            }
            8 => {
                let route = pick_route(&mut input, &model);
                let b = arguments(&mut input);
                let gate = model.gate(&router, &route);
                let result = router.send_box(&route, &b);
                sent("send_box", &gate, &result, false);
                if gate.is_none() && b.contains_key(ROUTE) {
                    assert_eq!(
                        result,
                        Err(RouteError::Send(SendError::ReservedKey(
                            Bytes::from_static(b"_route")
                        ))),
                        "a box holding _route sent on {route}"
                    );
                }
                model.queued(&router, before, "send_box", Some(&route));
            }
            9 => {
                let route = pick_route(&mut input, &model);
                let id = match model.pick_outstanding(&route, &mut input) {
                    Some(id) if input.bool() => id,
                    _ => u64::from(input.u8()),
                };
                let expected = !router.is_closed()
                    && model
                        .routes
                        .get(&key(&route))
                        .is_some_and(|r| r.outstanding.contains(&id));
                assert_eq!(
                    router.forget(&route, CallId::new(id)),
                    expected,
                    "forget({route}, {id})"
                );
                if expected {
                    let r = model.routes.get_mut(&key(&route)).expect("checked");
                    r.outstanding.remove(&id);
                    r.forgotten.insert(id);
                }
                model.queued(&router, before, "forget", None);
            }
            10 => {
                let n = 1 + input.below(4);
                model.poll(&mut router, n);
                model.queued(&router, before, "taking events", None);
            }
            11 => model.take_transmit(&mut router),
            12 => {
                router.close();
                assert!(router.is_closed(), "open after close");
                model.queued(&router, before, "close", None);
            }
            13 => {
                router.handle_eof();
                model.queued(&router, before, "end of stream", None);
            }
            14 => {
                router.connection_lost(ConnectionError::Transport("reset".into()));
                assert!(router.is_closed(), "open after the transport was lost");
                model.queued(&router, before, "transport lost", None);
            }
            15 => {
                model.poll(&mut router, usize::MAX);
                model.queued(&router, before, "taking events", None);
            }
            _ => {
                model.time(&mut router, &mut input);
                model.queued(&router, before, "time", None);
            }
        }
        if let Some(route) = &touched {
            model.check_route(&router, route);
        }
        model.check(&router);
    }

    model.poll(&mut router, usize::MAX);
    model.check(&router);
    model.check_routes(&router);
    router.handle_eof();
    model.poll(&mut router, usize::MAX);
    model.check(&router);
    model.check_routes(&router);
    assert!(
        model.closed_seen,
        "the end of the stream did not end the connection"
    );
    router.handle_input(b"\x00\x08_command\x00\x03Sum\x00\x00");
    assert_eq!(router.poll_event(), None, "an event after Closed");
    model.take_transmit(&mut router);
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
    fn poll_timeout(&mut self, now: std::time::Instant) -> Option<std::time::Instant> {
        Router::poll_timeout(self, now)
    }
    fn handle_timeout(&mut self, now: std::time::Instant) {
        Router::handle_timeout(self, now)
    }
    fn pause_reading(&mut self, paused: bool) {
        Router::pause_reading(self, paused)
    }
}
