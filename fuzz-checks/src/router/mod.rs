//! The `router` target: an [`amp_router::Router`] (routes keyed by
//! `_route`) driven by arbitrary bytes and local actions, checked against a
//! model of what it must be doing, route by route (`model.rs`), with the
//! inputs made by `peer.rs`.

mod model;
mod peer;

use std::time::Duration;

use amp_core::{CallId, Config, ConnectionError, Limits, SendError};
use amp_router::{ROUTE, Route, RouteError, Router};
use bytes::Bytes;

use crate::generate::{responder_error, timeout};
use crate::input::Input;
use model::{Model, RouteModel, key};
use peer::{arguments, command_name, peer_box, pick_remote, pick_route};

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
/// Input: a settings byte and the starting routes (see `setup`), then
/// actions until the input ends, each an opcode byte (mod 17) and its
/// operands:
///
/// | opcode | action |
/// |---|---|
/// | 0 | receive bytes (a length byte and the bytes) |
/// | 1 | receive a well-formed box for a route (one of ours, the default, an unbound name), of a kind the input picks, in two writes |
/// | 2 | bind a fresh route (`bind_route`) or one by name; then, one time in four, turn raw boxes on or off for a route, bound or not |
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
                if input.below(4) == 0 {
                    // Raw boxes on or off for a route, bound or not.
                    let route = pick_route(&mut input, &model);
                    let on = input.below(2) == 0;
                    let result = router.deliver_raw_boxes(&route, on);
                    match (result, model.routes.get_mut(&key(&route))) {
                        (Ok(()), Some(r)) => r.raw_boxes = Some(on),
                        (Err(e), None) => assert_eq!(e, RouteError::NotBound(route.clone())),
                        (result, r) => panic!(
                            "deliver_raw_boxes({route}) gave {result:?}, bound: {}",
                            r.is_some()
                        ),
                    }
                }
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
