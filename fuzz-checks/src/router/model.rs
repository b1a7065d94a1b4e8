//! The `router` check's model: what the router must be doing, route by
//! route, from the actions taken on it and the events it gave out.

use std::collections::{BTreeMap, BTreeSet};

use amp_core::codec::decode_all;
use amp_core::{ConnectionError, Event, Limits, SendError, Timeouts};
use amp_router::{ROUTE, Route, RouteError, RoutedEvent, Router};
use bytes::Bytes;

use crate::input::Input;
use crate::timeout_model::Clock;

/// A route as an ordered key: its name, `None` for the default route.
pub(super) type Key = Option<Bytes>;

pub(super) fn key(route: &Route) -> Key {
    route.name().cloned()
}

pub(super) fn route_of(key: &Key) -> Route {
    match key {
        None => Route::Default,
        Some(name) => Route::Named(name.clone()),
    }
}

/// What one bound route must be doing.
pub(super) struct RouteModel {
    /// `None`: not connected; `Some(None)`: connected to the peer's default
    /// route; `Some(Some(name))`: connected to the peer's route `name`.
    pub(super) remote: Option<Option<Bytes>>,
    /// Calls made on it, not yet answered, failed or forgotten.
    pub(super) outstanding: BTreeSet<u64>,
    /// Calls forgotten (for generating late answers).
    pub(super) forgotten: BTreeSet<u64>,
    /// Tags of requests received on it and not answered yet.
    pub(super) owed: Vec<Bytes>,
    /// The next call's id (each route counts its own).
    pub(super) next_call: u64,
    /// Raw boxes turned on or off for this route (`None`: as the
    /// router's settings say).
    pub(super) raw_boxes: Option<bool>,
}

impl RouteModel {
    pub(super) fn new() -> Self {
        RouteModel {
            remote: None,
            outstanding: BTreeSet::new(),
            forgotten: BTreeSet::new(),
            owed: Vec::new(),
            next_call: 1,
            raw_boxes: None,
        }
    }
}

/// The bytes one local action on a route queued, and what their `_route`
/// must be.
pub(super) struct Segment {
    /// The action, for messages.
    pub(super) what: &'static str,
    pub(super) route: Route,
    pub(super) len: usize,
    /// The remote route the route was connected to when it sent them.
    pub(super) remote: Option<Bytes>,
}

/// Tracks what the router must be doing, from the actions taken on it and
/// the events it gave out.
pub(super) struct Model {
    pub(super) raw_boxes: bool,
    pub(super) routes: BTreeMap<Key, RouteModel>,
    /// Calls of unbound routes whose `CallFailed` is still to come, with the
    /// reason it must carry.
    pub(super) unbound: Vec<(Key, u64, ConnectionError)>,
    /// Event::Closed has been handed out.
    pub(super) closed_seen: bool,
    /// Bytes queued when the router was last seen closed.
    pub(super) closed_transmit: Option<usize>,
    /// The bytes queued since the last `take_transmit`, action by action.
    pub(super) segments: Vec<Segment>,
    /// Counter for fresh tags in received requests.
    pub(super) fresh: u64,
    /// The timeouts: time, and what the router looked like at each
    /// `poll_timeout`/`handle_timeout`.
    pub(super) clock: Clock,
}

impl Model {
    pub(super) fn new(raw_boxes: bool, timeouts: Timeouts) -> Self {
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

    pub(super) fn nth_route(&self, i: usize) -> Option<Route> {
        self.routes
            .keys()
            .nth(i % self.routes.len().max(1))
            .map(route_of)
    }

    pub(super) fn pick_owed(&self, route: &Route, input: &mut Input) -> Option<Bytes> {
        let i = input.u8() as usize;
        let r = self.routes.get(&key(route))?;
        r.owed.get(i % r.owed.len().max(1)).cloned()
    }

    pub(super) fn pick_outstanding(&self, route: &Route, input: &mut Input) -> Option<u64> {
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
    pub(super) fn gate(&self, router: &Router, route: &Route) -> Option<RouteError> {
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
    pub(super) fn queued(
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

    pub(super) fn event(&mut self, router: &Router, ev: RoutedEvent) {
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
                let r = self
                    .routes
                    .get(&k)
                    .unwrap_or_else(|| panic!("a box on {route}, not bound"));
                assert!(
                    r.raw_boxes.unwrap_or(self.raw_boxes),
                    "a raw box on {route} without raw boxes on"
                );
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

    pub(super) fn poll(&mut self, router: &mut Router, n: usize) {
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
    pub(super) fn feed(&mut self, router: &mut Router, data: &[u8]) {
        if !router.is_closed() {
            self.clock.fed += data.len() as u64;
        }
        router.handle_input(data);
    }

    /// One time action (see [`router`]), by the model's rules (see
    /// [`Clock::time`]).
    pub(super) fn time(&mut self, router: &mut Router, input: &mut Input) {
        let calls = self
            .routes
            .values()
            .any(|r| !r.outstanding.is_empty() || !r.owed.is_empty());
        self.clock.time(router, input, calls);
    }

    /// Takes everything queued and checks it action by action: each
    /// action's bytes are whole boxes, every one with the `_route` of the
    /// route that sent it.
    pub(super) fn take_transmit(&mut self, router: &mut Router) {
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
    pub(super) fn check_route(&self, router: &Router, route: &Route) {
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
    pub(super) fn check_routes(&self, router: &Router) {
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
    pub(super) fn check(&mut self, router: &Router) {
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
pub(super) fn check_sent_route(seg: &Segment, sent: Option<&[u8]>) {
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
