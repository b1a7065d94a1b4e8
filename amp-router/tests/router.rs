//! Behaviour of the sans-IO router, with bytes and boxes only.

use amp_core::{AmpBox, CallId, ConnectionError, Event, ProtocolError, ResponderError, codec};
use amp_router::{Route, RouteError, RoutedEvent, Router};
use bytes::Bytes;

fn wire(b: &AmpBox) -> Vec<u8> {
    b.to_bytes().unwrap().to_vec()
}

fn sent(r: &mut Router) -> Vec<AmpBox> {
    codec::decode_all(r.take_transmit(), &Default::default()).unwrap()
}

fn events(r: &mut Router) -> Vec<RoutedEvent> {
    std::iter::from_fn(|| r.poll_event()).collect()
}

/// Two routers whose routes `pairs` are connected to each other by name.
fn connected(n: usize) -> (Router, Router, Vec<Route>, Vec<Route>) {
    let (mut a, mut b) = (Router::default(), Router::default());
    let ra: Vec<Route> = (0..n).map(|_| a.bind_route()).collect();
    let rb: Vec<Route> = (0..n).map(|_| b.bind_route()).collect();
    for (x, y) in ra.iter().zip(&rb) {
        a.connect_to(x, y.name().cloned()).unwrap();
        b.connect_to(y, x.name().cloned()).unwrap();
    }
    (a, b, ra, rb)
}

#[test]
fn the_epsilon_routed_request_vector_reaches_its_route_without_the_route_key() {
    // The `routed request` box of interop/vectors/twisted-amp.json (written
    // by epsilon.amprouter on Twisted).
    let wire = hex::decode(
        "00045f61736b00013100085f636f6d6d616e640005436f756e7400065f726f7574650001300000",
    )
    .unwrap();
    let mut r = Router::default();
    let route = r.bind_route();
    assert_eq!(route, Route::named("0"));
    r.handle_input(&wire);
    let ev = r.poll_event().unwrap();
    assert_eq!(ev.route, route);
    match ev.event {
        Event::Request(req) => {
            assert_eq!(req.command_str(), Some("Count"));
            assert_eq!(req.tag.as_deref(), Some(&b"1"[..]));
            assert!(
                req.arguments.is_empty(),
                "_route is removed: {:?}",
                req.arguments
            );
        }
        other => panic!("{other:?}"),
    }
    // And a call on a route connected to "0" writes the same box.
    let mut client = Router::default();
    let c = client.bind_route();
    client.connect_to(&c, Some("0".into())).unwrap();
    client
        .call_remote(&c, "Count", &AmpBox::new(), true)
        .unwrap();
    assert_eq!(
        sent(&mut client),
        codec::decode_all(Bytes::from(wire), &Default::default()).unwrap()
    );
}

#[test]
fn route_names_count_from_zero_and_skip_names_bound_by_hand() {
    let mut r = Router::default();
    r.bind(Route::named("1")).unwrap();
    assert_eq!(r.bind_route(), Route::named("0"));
    assert_eq!(r.bind_route(), Route::named("2"));
    assert_eq!(
        r.bind(Route::named("2")),
        Err(RouteError::AlreadyBound(Route::named("2")))
    );
    r.bind(Route::Default).unwrap();
    assert_eq!(r.routes().count(), 4);
}

#[test]
fn boxes_without_route_go_to_the_default_route() {
    let mut r = Router::default();
    r.bind(Route::Default).unwrap();
    r.handle_input(&wire(&AmpBox::from_pairs([("_command", "Hello")])));
    let ev = r.poll_event().unwrap();
    assert_eq!(ev.route, Route::Default);
    assert!(matches!(ev.event, Event::Request(_)));
    // Connected to the peer's default route: no `_route` key is written.
    r.connect_to(&Route::Default, None).unwrap();
    r.send_box(&Route::Default, &AmpBox::from_pairs([("k", "v")]))
        .unwrap();
    assert_eq!(sent(&mut r), [AmpBox::from_pairs([("k", "v")])]);
}

#[test]
fn each_route_has_its_own_ask_counter_and_outstanding_calls() {
    let (mut a, mut b, ra, _rb) = connected(2);
    let x = a
        .call_remote(&ra[0], "C", &AmpBox::new(), true)
        .unwrap()
        .unwrap();
    let y = a
        .call_remote(&ra[1], "C", &AmpBox::new(), true)
        .unwrap()
        .unwrap();
    assert_eq!((x, y), (CallId::new(1), CallId::new(1)));
    let boxes = sent(&mut a);
    assert_eq!(boxes[0].get_str("_route"), Some("0"));
    assert_eq!(boxes[1].get_str("_route"), Some("1"));
    b.handle_input(&boxes.iter().flat_map(wire).collect::<Vec<_>>());
    // Answer the second route first, with a different value on each.
    let reqs = events(&mut b);
    assert_eq!(reqs.len(), 2);
    for (ev, value) in reqs.iter().rev().zip(["second", "first"]) {
        let Event::Request(req) = &ev.event else {
            panic!()
        };
        b.answer(
            &ev.route,
            req.tag.as_ref().unwrap(),
            &AmpBox::from_pairs([("v", value)]),
        )
        .unwrap();
    }
    a.handle_input(&b.take_transmit());
    let answers = events(&mut a);
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[0].route, ra[1]);
    assert_eq!(answers[1].route, ra[0]);
    for ev in answers {
        let Event::Answer { call, response } = ev.event else {
            panic!()
        };
        assert_eq!(call, CallId::new(1));
        let want = if ev.route == ra[0] { "first" } else { "second" };
        assert_eq!(response.get_str("v"), Some(want));
    }
}

#[test]
fn an_answer_on_the_wrong_route_is_a_protocol_error() {
    let (mut a, _b, ra, _rb) = connected(2);
    a.call_remote(&ra[0], "C", &AmpBox::new(), true).unwrap();
    // Tag 1 is outstanding on route "0", not on route "1".
    a.handle_input(&wire(&AmpBox::from_pairs([
        ("_answer", "1"),
        ("_route", "1"),
    ])));
    let evs = events(&mut a);
    let last = evs.last().unwrap();
    assert!(matches!(
        &last.event,
        Event::Closed(ConnectionError::Protocol(ProtocolError::UnknownTag { .. }))
    ));
    // The call on route "0" failed with the same reason, tagged with its route.
    assert!(
        evs.iter()
            .any(|e| e.route == ra[0] && matches!(e.event, Event::CallFailed { .. }))
    );
}

#[test]
fn a_box_for_an_unbound_route_closes_the_connection_and_fails_every_route() {
    let (mut a, _b, ra, _rb) = connected(3);
    for r in &ra {
        a.call_remote(r, "C", &AmpBox::new(), true).unwrap();
    }
    a.handle_input(&wire(&AmpBox::from_pairs([
        ("_command", "X"),
        ("_route", "77"),
    ])));
    let evs = events(&mut a);
    let reason = ConnectionError::Protocol(ProtocolError::UnknownRoute {
        name: Bytes::from_static(b"77"),
    });
    assert_eq!(evs.len(), 4, "{evs:?}");
    for (ev, route) in evs.iter().zip(&ra) {
        assert_eq!(&ev.route, route);
        assert_eq!(
            ev.event,
            Event::CallFailed {
                call: CallId::new(1),
                reason: reason.clone()
            }
        );
    }
    assert_eq!(evs[3].event, Event::Closed(reason.clone()));
    assert!(a.is_closed());
    assert!(matches!(
        a.call_remote(&ra[0], "C", &AmpBox::new(), true),
        Err(RouteError::Send(amp_core::SendError::Closed(r))) if r == reason
    ));
    // No default route bound: a box without `_route` is refused the same way.
    let mut r = Router::default();
    r.handle_input(&wire(&AmpBox::from_pairs([("_command", "X")])));
    assert!(matches!(
        events(&mut r).last().unwrap().event,
        Event::Closed(ConnectionError::Protocol(
            ProtocolError::UnknownRoute { .. }
        ))
    ));
}

#[test]
fn sending_on_a_route_not_connected_is_refused() {
    let mut r = Router::default();
    let route = r.bind_route();
    assert_eq!(
        r.call_remote(&route, "C", &AmpBox::new(), true),
        Err(RouteError::RouteNotConnected(route.clone()))
    );
    assert_eq!(
        r.send_box(&route, &AmpBox::new()),
        Err(RouteError::RouteNotConnected(route.clone()))
    );
    assert_eq!(
        r.call_remote(&Route::named("9"), "C", &AmpBox::new(), true),
        Err(RouteError::NotBound(Route::named("9")))
    );
    assert_eq!(r.pending_transmit(), 0);
}

#[test]
fn unbinding_fails_the_routes_calls_and_later_boxes_for_it_are_errors() {
    let (mut a, _b, ra, _rb) = connected(2);
    let call = a
        .call_remote(&ra[0], "C", &AmpBox::new(), true)
        .unwrap()
        .unwrap();
    a.call_remote(&ra[1], "C", &AmpBox::new(), true).unwrap();
    a.unbind(&ra[0]).unwrap();
    assert_eq!(
        events(&mut a),
        [RoutedEvent {
            route: ra[0].clone(),
            event: Event::CallFailed {
                call,
                reason: ConnectionError::RouteUnbound
            }
        }]
    );
    assert!(!a.is_closed(), "the other route goes on");
    a.handle_input(&wire(&AmpBox::from_pairs([
        ("_answer", "1"),
        ("_route", "0"),
    ])));
    assert!(matches!(
        events(&mut a).last().unwrap().event,
        Event::Closed(ConnectionError::Protocol(
            ProtocolError::UnknownRoute { .. }
        ))
    ));
}

#[test]
fn boxes_leave_in_the_order_they_were_queued_across_routes() {
    let (mut a, _b, ra, _rb) = connected(2);
    for i in 0..6 {
        let route = &ra[i % 2];
        a.send_box(route, &AmpBox::from_pairs([("i", i.to_string())]))
            .unwrap();
    }
    let order: Vec<String> = sent(&mut a)
        .iter()
        .map(|b| b.get_str("i").unwrap().to_owned())
        .collect();
    assert_eq!(order, ["0", "1", "2", "3", "4", "5"]);
}

#[test]
fn a_fatal_error_on_one_route_closes_the_whole_connection() {
    let (mut a, mut b, ra, rb) = connected(2);
    let other = a
        .call_remote(&ra[1], "Wait", &AmpBox::new(), true)
        .unwrap()
        .unwrap();
    a.call_remote(&ra[0], "Fatal", &AmpBox::new(), true)
        .unwrap();
    b.handle_input(&a.take_transmit());
    let evs = events(&mut b);
    let fatal = evs
        .iter()
        .find(|e| matches!(&e.event, Event::Request(r) if r.command_str() == Some("Fatal")))
        .unwrap();
    let Event::Request(req) = &fatal.event else {
        unreachable!()
    };
    b.respond(
        &rb[0],
        req.tag.as_deref(),
        Err(ResponderError::Declared {
            code: "FATAL".into(),
            description: "bad".into(),
            fatal: true,
        }),
    )
    .unwrap();
    assert!(b.is_closed());
    let evs = events(&mut b);
    assert!(matches!(
        evs.last().unwrap().event,
        Event::Closed(ConnectionError::FatalError { .. })
    ));
    // The error box still goes out, then the peer sees the end.
    a.handle_input(&b.take_transmit());
    a.handle_eof();
    let evs = events(&mut a);
    assert!(evs.iter().any(|e| e.route == ra[0]
        && matches!(&e.event, Event::ErrorAnswer { error, .. } if error.code == "FATAL")));
    assert!(evs.iter().any(|e| e.route == ra[1]
        && e.event
            == Event::CallFailed {
                call: other,
                reason: ConnectionError::PeerClosed
            }));
}

#[test]
fn two_unrelated_protocols_share_one_connection() {
    // Route 0 speaks a calculator, route 1 a key/value store; both have calls
    // in flight at once, in both directions.
    let (mut a, mut b, ra, rb) = connected(2);
    let sum = a
        .call_remote(
            &ra[0],
            "Sum",
            &AmpBox::from_pairs([("a", "2"), ("b", "3")]),
            true,
        )
        .unwrap()
        .unwrap();
    let put = a
        .call_remote(
            &ra[1],
            "Put",
            &AmpBox::from_pairs([("key", "k"), ("value", "v")]),
            true,
        )
        .unwrap()
        .unwrap();
    let back = b
        .call_remote(&rb[1], "Get", &AmpBox::from_pairs([("key", "k")]), true)
        .unwrap()
        .unwrap();
    let (to_b, to_a) = (a.take_transmit(), b.take_transmit());
    b.handle_input(&to_b);
    a.handle_input(&to_a);
    let mut store = std::collections::HashMap::new();
    for ev in events(&mut b) {
        let Event::Request(req) = ev.event else {
            panic!("{ev:?}")
        };
        let answer = match (ev.route == rb[0], req.command_str().unwrap()) {
            (true, "Sum") => {
                let n = |k| req.arguments.get_str(k).unwrap().parse::<i64>().unwrap();
                AmpBox::from_pairs([("total", (n("a") + n("b")).to_string())])
            }
            (false, "Put") => {
                store.insert(
                    req.arguments.get_bytes("key").unwrap(),
                    req.arguments.get_bytes("value").unwrap(),
                );
                AmpBox::new()
            }
            other => panic!("{other:?} on {}", ev.route),
        };
        b.answer(&ev.route, req.tag.as_ref().unwrap(), &answer)
            .unwrap();
    }
    for ev in events(&mut a) {
        let Event::Request(req) = ev.event else {
            panic!("{ev:?}")
        };
        assert_eq!(
            (ev.route.clone(), req.command_str()),
            (ra[1].clone(), Some("Get"))
        );
        a.answer(
            &ev.route,
            req.tag.as_ref().unwrap(),
            &AmpBox::from_pairs([("value", "from a")]),
        )
        .unwrap();
    }
    a.handle_input(&b.take_transmit());
    b.handle_input(&a.take_transmit());
    let got_a = events(&mut a);
    assert_eq!(got_a.len(), 2);
    assert!(got_a.iter().any(|e| e.route == ra[0] && matches!(&e.event, Event::Answer { call, response } if *call == sum && response.get_str("total") == Some("5"))));
    assert!(got_a.iter().any(
        |e| e.route == ra[1] && matches!(&e.event, Event::Answer { call, .. } if *call == put)
    ));
    let got_b = events(&mut b);
    assert!(
        matches!(&got_b[..], [e] if e.route == rb[1] && matches!(&e.event, Event::Answer { call, response } if *call == back && response.get_str("value") == Some("from a")))
    );
    assert_eq!(store.len(), 1);
}

// -- Routed conversations recorded from epsilon.amprouter on Twisted ----------------

/// Every box in `wire`, each written with its keys sorted as Twisted writes
/// them: bytes comparable byte for byte with what Twisted wrote.
fn twisted_order(wire: &[u8]) -> Vec<u8> {
    codec::decode_all(Bytes::copy_from_slice(wire), &Default::default())
        .unwrap()
        .iter()
        .flat_map(|b| b.sorted().to_bytes().unwrap().to_vec())
        .collect()
}

fn route_name(r: &Route) -> Option<String> {
    r.name().map(|n| String::from_utf8(n.to_vec()).unwrap())
}

/// `["ok", {key: value}]` for an answer, as the vectors write results.
fn ok(response: &AmpBox) -> serde_json::Value {
    let map: serde_json::Map<String, serde_json::Value> = response
        .iter()
        .map(|(k, v)| {
            (
                String::from_utf8(k.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap().into(),
            )
        })
        .collect();
    serde_json::json!(["ok", map])
}

/// The server of epsilon's guide, over our router: `NewRoute(name)` on the
/// default route binds a route connected to the caller's route `name` and
/// answers its name; `Count` counts per route from 1. Feeds `input` in
/// chunks of `split`; returns what it wrote.
fn guide_server(input: &[u8], split: usize) -> Vec<u8> {
    let mut server = Router::default();
    server.bind(Route::Default).unwrap();
    server.connect_to(&Route::Default, None).unwrap();
    let mut counts = std::collections::HashMap::new();
    let mut written = Vec::new();
    for chunk in input.chunks(split.max(1)) {
        server.handle_input(chunk);
        while let Some(RoutedEvent { route, event }) = server.poll_event() {
            let Event::Request(req) = event else {
                panic!("unexpected {event:?} on {route}")
            };
            let tag = req.tag.as_ref().expect("every call wants an answer");
            match (req.command_str(), &route) {
                (Some("NewRoute"), Route::Default) => {
                    let caller = Bytes::copy_from_slice(req.arguments.get("name").expect("name"));
                    let new = server.bind_route();
                    server.connect_to(&new, Some(caller)).unwrap();
                    let name = new.name().unwrap().clone();
                    server
                        .answer(&route, tag, &AmpBox::from_pairs([("name", name)]))
                        .unwrap();
                }
                (Some("Count"), Route::Named(_)) => {
                    let n = counts.entry(route.clone()).or_insert(0);
                    *n += 1;
                    server
                        .answer(&route, tag, &AmpBox::from_pairs([("value", n.to_string())]))
                        .unwrap();
                }
                other => panic!("unexpected request {other:?}"),
            }
        }
        written.extend_from_slice(&server.take_transmit());
    }
    assert!(!server.is_closed(), "{:?}", server.close_reason());
    written
}

#[test]
fn the_routed_conversations_server_side_writes_what_epsilons_server_wrote() {
    let v = amp_conformance::vectors::load();
    assert!(!v.routed_conversations.is_empty());
    for conv in &v.routed_conversations {
        let c2s = hex::decode(&conv.client_to_server_hex).unwrap();
        let s2c = hex::decode(&conv.server_to_client_hex).unwrap();
        for split in [c2s.len(), 1, 7, 40] {
            let written = guide_server(&c2s, split);
            assert_eq!(
                twisted_order(&written),
                s2c,
                "{} (split {split})",
                conv.note
            );
        }
    }
}

#[test]
fn the_routed_conversations_client_side_writes_what_epsilons_client_wrote() {
    let v = amp_conformance::vectors::load();
    for conv in &v.routed_conversations {
        let c2s = hex::decode(&conv.client_to_server_hex).unwrap();
        let s2c = hex::decode(&conv.server_to_client_hex).unwrap();
        for split in [s2c.len(), 1, 5, 33] {
            let mut client = Router::default();
            client.bind(Route::Default).unwrap();
            client.connect_to(&Route::Default, None).unwrap();
            // Bound but never connected, as in the recording: the client's
            // route names then differ from the server's.
            let unused = client.bind_route();
            let routes: Vec<Route> = conv
                .client_routes
                .iter()
                .map(|_| client.bind_route())
                .collect();
            assert!(!client.is_connected(&unused));
            assert_eq!(
                routes.iter().map(route_name).collect::<Vec<_>>(),
                conv.client_routes
                    .iter()
                    .cloned()
                    .map(Some)
                    .collect::<Vec<_>>(),
                "{}",
                conv.note
            );
            // The guide's connect(): NewRoute(name) on the default route for
            // each route, all at once.
            let mut calls: Vec<(Route, CallId, &str)> = Vec::new();
            for r in &routes {
                let id = client
                    .call_remote(
                        &Route::Default,
                        "NewRoute",
                        &AmpBox::from_pairs([("name", r.name().unwrap().clone())]),
                        true,
                    )
                    .unwrap()
                    .unwrap();
                calls.push((Route::Default, id, "NewRoute"));
            }
            let mut written = client.take_transmit().to_vec();
            let mut new_routes = routes.iter();
            let mut results = Vec::new();
            for chunk in s2c.chunks(split) {
                client.handle_input(chunk);
                while let Some(RoutedEvent { route, event }) = client.poll_event() {
                    let Event::Answer { call, response } = event else {
                        panic!("unexpected {event:?} on {route}")
                    };
                    let at = calls
                        .iter()
                        .position(|(r, id, _)| *r == route && *id == call)
                        .unwrap_or_else(|| panic!("no call {call:?} on {route}"));
                    let (_, _, command) = calls.remove(at);
                    results.push((route.clone(), command, ok(&response)));
                    if command == "NewRoute" {
                        // Connect the route to the name answered; then, as
                        // the guide's receiver does, call Count twice on it.
                        let r = new_routes.next().unwrap().clone();
                        let remote = Bytes::copy_from_slice(response.get("name").unwrap());
                        client.connect_to(&r, Some(remote)).unwrap();
                        for _ in 0..2 {
                            let id = client.call_remote(&r, "Count", &AmpBox::new(), true);
                            calls.push((r.clone(), id.unwrap().unwrap(), "Count"));
                        }
                        written.extend_from_slice(&client.take_transmit());
                    }
                }
            }
            assert!(calls.is_empty(), "unanswered: {calls:?}");
            assert_eq!(
                twisted_order(&written),
                c2s,
                "{} (split {split})",
                conv.note
            );
            assert_eq!(results.len(), conv.client_results.len());
            for ((route, command, result), want) in results.iter().zip(&conv.client_results) {
                assert_eq!(route_name(route), want.route, "{}", conv.note);
                assert_eq!(*command, want.command, "{}", conv.note);
                assert_eq!(*result, want.result, "{}", conv.note);
            }
        }
    }
}
