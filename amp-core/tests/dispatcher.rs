//! Behaviour of the sans-IO dispatcher and connection, driven with byte
//! slices and boxes only.

use amp_core::{
    AmpBox, CallId, CodecError, Config, Connection, ConnectionError, Dispatcher, Event,
    ProtocolError, ResponderError, SendError, codec,
};
use bytes::Bytes;

fn wire(b: &AmpBox) -> Vec<u8> {
    b.to_bytes().unwrap().to_vec()
}

fn sent_boxes(c: &mut Connection) -> Vec<AmpBox> {
    codec::decode_all(c.take_transmit(), &Default::default()).unwrap()
}

fn request(tag: Option<&'static str>, command: &'static str) -> AmpBox {
    let mut b = AmpBox::from_pairs([("_command", command)]);
    if let Some(t) = tag {
        b.insert("_ask", t);
    }
    b
}

fn closed_with(c: &mut Connection) -> ConnectionError {
    let mut last = None;
    while let Some(e) = c.poll_event() {
        last = Some(e);
    }
    match last {
        Some(Event::Closed(reason)) => reason,
        other => panic!("connection did not close: last event {other:?}"),
    }
}

#[test]
fn ask_tags_are_lower_case_hex_counting_from_one_and_never_reused() {
    let mut c = Connection::default();
    let mut seen = std::collections::HashSet::new();
    for n in 1..=300u64 {
        let id = c.call_remote("X", &AmpBox::new(), true).unwrap().unwrap();
        assert_eq!(id, CallId::new(n));
        assert!(seen.insert(id.tag()));
    }
    let sent = sent_boxes(&mut c);
    assert_eq!(sent[0].get_str("_ask"), Some("1"));
    assert_eq!(sent[9].get_str("_ask"), Some("a"));
    assert_eq!(sent[15].get_str("_ask"), Some("10"));
    assert_eq!(sent[254].get_str("_ask"), Some("ff"));
    // Answered calls do not free their tags for reuse.
    c.handle_input(&wire(&AmpBox::from_pairs([("_answer", "1")])));
    assert!(matches!(c.poll_event(), Some(Event::Answer { .. })));
    let next = c.call_remote("X", &AmpBox::new(), true).unwrap().unwrap();
    assert_eq!(next.tag(), format!("{:x}", 301));
}

#[test]
fn a_call_without_answer_has_no_ask_tag() {
    let mut c = Connection::default();
    let id = c
        .call_remote("Notify", &AmpBox::from_pairs([("text", "hi")]), false)
        .unwrap();
    assert_eq!(id, None);
    let sent = sent_boxes(&mut c);
    assert_eq!(sent.len(), 1);
    assert!(!sent[0].contains_key("_ask"));
    assert_eq!(sent[0].get_str("_command"), Some("Notify"));
    assert_eq!(c.dispatcher().outstanding_calls(), 0);
}

#[test]
fn answers_and_errors_settle_their_calls_in_any_order() {
    let mut c = Connection::default();
    let ids: Vec<CallId> = (0..3)
        .map(|_| c.call_remote("X", &AmpBox::new(), true).unwrap().unwrap())
        .collect();
    let mut input = wire(&AmpBox::from_pairs([("_answer", "3"), ("v", "c")]));
    input.extend(wire(&AmpBox::from_pairs([
        ("_error", "1"),
        ("_error_code", "E"),
        ("_error_description", "bad"),
    ])));
    input.extend(wire(&AmpBox::from_pairs([("_answer", "2"), ("v", "b")])));
    c.handle_input(&input);
    assert_eq!(
        c.poll_event(),
        Some(Event::Answer {
            call: ids[2],
            response: AmpBox::from_pairs([("v", "c")])
        })
    );
    assert_eq!(
        c.poll_event(),
        Some(Event::ErrorAnswer {
            call: ids[0],
            error: amp_core::RemoteError::new("E", "bad")
        })
    );
    assert!(matches!(c.poll_event(), Some(Event::Answer { call, .. }) if call == ids[1]));
    assert_eq!(c.poll_event(), None);
    assert_eq!(c.dispatcher().outstanding_calls(), 0);
}

#[test]
fn a_forgotten_call_drops_its_late_answer_or_error_quietly() {
    let mut c = Connection::default();
    let a = c.call_remote("X", &AmpBox::new(), true).unwrap().unwrap();
    let b = c.call_remote("X", &AmpBox::new(), true).unwrap().unwrap();
    assert!(c.forget(a));
    assert!(c.forget(b));
    assert!(
        !c.forget(a),
        "forgetting twice reports it was not outstanding"
    );
    c.handle_input(&wire(&AmpBox::from_pairs([("_answer", "1")])));
    c.handle_input(&wire(&AmpBox::from_pairs([
        ("_error", "2"),
        ("_error_code", "E"),
        ("_error_description", ""),
    ])));
    assert_eq!(c.poll_event(), None);
    assert!(!c.is_closed());
    // A second answer for the same tag is not quiet: it was never asked again.
    c.handle_input(&wire(&AmpBox::from_pairs([("_answer", "1")])));
    assert!(matches!(
        closed_with(&mut c),
        ConnectionError::Protocol(ProtocolError::UnknownTag { key: "_answer", .. })
    ));
}

#[test]
fn an_answer_for_a_tag_never_asked_closes_the_connection_and_fails_pending_calls() {
    let mut c = Connection::default();
    let pending = c.call_remote("X", &AmpBox::new(), true).unwrap().unwrap();
    c.handle_input(&wire(&AmpBox::from_pairs([("_answer", "99")])));
    let reason = ConnectionError::Protocol(ProtocolError::UnknownTag {
        key: "_answer",
        tag: Bytes::from_static(b"99"),
    });
    assert_eq!(
        c.poll_event(),
        Some(Event::CallFailed {
            call: pending,
            reason: reason.clone()
        })
    );
    assert_eq!(c.poll_event(), Some(Event::Closed(reason.clone())));
    assert_eq!(c.poll_event(), None);
    assert_eq!(
        c.call_remote("X", &AmpBox::new(), true),
        Err(SendError::Closed(reason))
    );
    // Tags that merely look like ours (leading zero, upper case) are unknown.
    for tag in ["01", "A", "", "zz"] {
        let mut c = Connection::default();
        c.call_remote("X", &AmpBox::new(), true).unwrap();
        c.call_remote("X", &AmpBox::new(), true).unwrap();
        c.handle_input(&wire(&AmpBox::from_pairs([("_answer", tag)])));
        assert!(
            matches!(
                closed_with(&mut c),
                ConnectionError::Protocol(ProtocolError::UnknownTag { .. })
            ),
            "{tag:?}"
        );
    }
}

#[test]
fn boxes_that_are_not_amp_are_protocol_errors_unless_raw_boxes_are_on() {
    let mut c = Connection::default();
    c.handle_input(&wire(&AmpBox::from_pairs([("hello", "world")])));
    assert!(matches!(
        closed_with(&mut c),
        ConnectionError::Protocol(ProtocolError::NotAmp { keys }) if keys == [Bytes::from_static(b"hello")]
    ));

    let mut c = Connection::default();
    c.handle_input(&wire(&AmpBox::new()));
    assert!(matches!(
        closed_with(&mut c),
        ConnectionError::Protocol(ProtocolError::NotAmp { .. })
    ));

    let mut c = Connection::new(&Config::default().raw_boxes(true));
    c.handle_input(&wire(&AmpBox::from_pairs([("hello", "world")])));
    assert_eq!(
        c.poll_event(),
        Some(Event::Box(AmpBox::from_pairs([("hello", "world")])))
    );
    assert!(!c.is_closed());
}

#[test]
fn a_box_with_more_than_one_of_answer_error_command_is_refused() {
    for pairs in [
        vec![("_answer", "1"), ("_error", "1")],
        vec![("_answer", "1"), ("_command", "X")],
        vec![("_error", "1"), ("_command", "X"), ("_answer", "1")],
    ] {
        let mut c = Connection::default();
        c.call_remote("X", &AmpBox::new(), true).unwrap();
        c.handle_input(&wire(&AmpBox::from_pairs(pairs.clone())));
        let reason = closed_with(&mut c);
        assert!(
            matches!(&reason, ConnectionError::Protocol(ProtocolError::Ambiguous { keys }) if keys.len() == pairs.len()),
            "{reason:?}"
        );
    }
}

#[test]
fn an_error_box_needs_code_and_description() {
    let mut c = Connection::default();
    c.call_remote("X", &AmpBox::new(), true).unwrap();
    c.handle_input(&wire(&AmpBox::from_pairs([
        ("_error", "1"),
        ("_error_code", "E"),
    ])));
    assert_eq!(
        closed_with(&mut c),
        ConnectionError::Protocol(ProtocolError::MalformedError {
            missing: "_error_description"
        })
    );
}

#[test]
fn a_request_reusing_an_outstanding_ask_tag_is_refused_but_reuse_after_answer_is_fine() {
    let mut c = Connection::default();
    c.handle_input(&wire(&request(Some("7"), "X")));
    let Some(Event::Request(req)) = c.poll_event() else {
        panic!()
    };
    assert_eq!(req.tag.as_deref(), Some(&b"7"[..]));
    c.answer(b"7", &AmpBox::new()).unwrap();
    c.handle_input(&wire(&request(Some("7"), "X")));
    assert!(matches!(c.poll_event(), Some(Event::Request(_))));
    c.handle_input(&wire(&request(Some("7"), "X")));
    assert_eq!(
        closed_with(&mut c),
        ConnectionError::Protocol(ProtocolError::DuplicateAsk {
            tag: Bytes::from_static(b"7")
        })
    );
}

/// Tags in Twisted's own form (lower-case hex) and in any other form are
/// owed apart: "a" and "0a" are two requests, each answered once, and a
/// tag is a duplicate only of itself.
#[test]
fn tags_of_every_form_are_owed_answered_and_refused_as_duplicates_alike() {
    let tags: [&'static [u8]; 10] = [
        b"a",
        b"0a",
        b"A",
        b"0",
        b"1",
        b"01",
        b"ffffffffffffffff",
        b"10000000000000000",
        b"x y",
        b"\xff\x00",
    ];
    let ask = |c: &mut Connection, tag: &'static [u8]| {
        let b = AmpBox::from_pairs([("_command", &b"X"[..]), ("_ask", tag)]);
        c.handle_input(&wire(&b));
    };
    let mut c = Connection::default();
    for tag in tags {
        ask(&mut c, tag);
        let Some(Event::Request(req)) = c.poll_event() else {
            panic!("no request for tag {tag:?}")
        };
        assert_eq!(req.tag.as_deref(), Some(tag));
    }
    assert_eq!(c.dispatcher().owed_answers(), tags.len());
    // Answered in another order than asked; each exactly once.
    for tag in tags.iter().rev() {
        c.answer(tag, &AmpBox::from_pairs([(&b"for"[..], *tag)]))
            .unwrap();
        assert_eq!(
            c.answer(tag, &AmpBox::new()),
            Err(SendError::NotAsked(Bytes::copy_from_slice(tag)))
        );
    }
    assert_eq!(c.dispatcher().owed_answers(), 0);
    let sent = sent_boxes(&mut c);
    let answered: Vec<&[u8]> = sent.iter().map(|b| b.get("_answer").unwrap()).collect();
    let expected: Vec<&[u8]> = tags.iter().rev().copied().collect();
    assert_eq!(answered, expected);
    assert!(sent.iter().all(|b| b.get("for") == b.get("_answer")));

    // Each form is refused when reused while owed.
    for tag in tags {
        let mut c = Connection::default();
        ask(&mut c, tag);
        assert!(matches!(c.poll_event(), Some(Event::Request(_))));
        ask(&mut c, tag);
        assert_eq!(
            closed_with(&mut c),
            ConnectionError::Protocol(ProtocolError::DuplicateAsk {
                tag: Bytes::copy_from_slice(tag)
            })
        );
    }
}

#[test]
fn requests_arrive_without_the_protocol_keys() {
    let mut c = Connection::default();
    let mut b = request(Some("1"), "Sum");
    b.insert("a", "1");
    c.handle_input(&wire(&b));
    let Some(Event::Request(req)) = c.poll_event() else {
        panic!()
    };
    assert_eq!(req.command_str(), Some("Sum"));
    assert_eq!(req.arguments, AmpBox::from_pairs([("a", "1")]));
}

#[test]
fn unknown_commands_get_unhandled_and_the_connection_stays_open() {
    let mut c = Connection::default();
    c.handle_input(&wire(&request(Some("1"), "NoSuch")));
    let Some(Event::Request(req)) = c.poll_event() else {
        panic!()
    };
    c.respond(
        req.tag.as_deref(),
        Err(ResponderError::unhandled(&req.command)),
    )
    .unwrap();
    let sent = sent_boxes(&mut c);
    assert_eq!(
        sent,
        [AmpBox::from_pairs([
            ("_error", "1"),
            ("_error_code", "UNHANDLED"),
            ("_error_description", "Unhandled Command: b'NoSuch'"),
        ])]
    );
    assert!(!c.is_closed());
}

#[test]
fn a_fatal_error_is_sent_then_the_connection_closes_and_ignores_later_input() {
    let mut c = Connection::default();
    let pending = c
        .call_remote("Mine", &AmpBox::new(), true)
        .unwrap()
        .unwrap();
    let mut input = wire(&request(Some("1"), "Fatal"));
    input.extend(wire(&request(Some("2"), "After")));
    c.handle_input(&input);
    let Some(Event::Request(req)) = c.poll_event() else {
        panic!()
    };
    c.fail(
        req.tag.as_deref().unwrap(),
        &ResponderError::Declared {
            code: "FATAL_KEY".into(),
            description: "'x'".into(),
            fatal: true,
        },
    )
    .unwrap();
    let reason = ConnectionError::FatalError {
        code: "FATAL_KEY".into(),
        description: "'x'".into(),
    };
    assert_eq!(
        c.poll_event(),
        Some(Event::CallFailed {
            call: pending,
            reason: reason.clone()
        })
    );
    assert_eq!(c.poll_event(), Some(Event::Closed(reason)));
    assert_eq!(
        c.poll_event(),
        None,
        "the box after the fatal one is not read"
    );
    let sent = sent_boxes(&mut c);
    assert_eq!(sent.len(), 2, "the call, then the error box");
    assert_eq!(sent[1].get_str("_error_code"), Some("FATAL_KEY"));
}

#[test]
fn an_answer_that_cannot_be_encoded_becomes_unknown_and_closes() {
    let mut c = Connection::default();
    c.handle_input(&wire(&request(Some("1"), "Big")));
    let Some(Event::Request(req)) = c.poll_event() else {
        panic!()
    };
    let too_big = AmpBox::from_pairs([("v", vec![0u8; 70_000])]);
    c.respond(req.tag.as_deref(), Ok(too_big)).unwrap();
    let sent = sent_boxes(&mut c);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].get_str("_error_code"), Some("UNKNOWN"));
    assert_eq!(sent[0].get_str("_error_description"), Some("Unknown Error"));
    assert!(c.is_closed());
}

#[test]
fn answering_what_was_not_asked_is_refused() {
    let mut c = Connection::default();
    assert_eq!(
        c.answer(b"1", &AmpBox::new()),
        Err(SendError::NotAsked(Bytes::from_static(b"1")))
    );
    // A request without a tag is not waiting for an answer either.
    c.handle_input(&wire(&request(None, "Notify")));
    assert!(matches!(c.poll_event(), Some(Event::Request(r)) if r.tag.is_none()));
    assert_eq!(c.dispatcher().owed_answers(), 0);
}

#[test]
fn protocol_keys_in_arguments_are_refused_and_nothing_is_written() {
    let mut c = Connection::default();
    for key in ["_ask", "_command", "_answer", "_error"] {
        assert_eq!(
            c.call_remote("X", &AmpBox::from_pairs([(key, "1")]), true),
            Err(SendError::ReservedKey(Bytes::from_static(key.as_bytes())))
        );
    }
    assert_eq!(
        c.call_remote("X", &AmpBox::from_pairs([("v", vec![0u8; 65_536])]), true),
        Err(SendError::Codec(CodecError::ValueTooLong {
            key: Bytes::from_static(b"v"),
            len: 65_536
        }))
    );
    assert_eq!(c.pending_transmit(), 0);
    assert_eq!(c.dispatcher().outstanding_calls(), 0);
    // The failed attempts did not use up tags.
    assert_eq!(
        c.call_remote("X", &AmpBox::new(), true).unwrap(),
        Some(CallId::new(1))
    );
}

#[test]
fn when_the_connection_ends_every_outstanding_call_fails_and_nothing_more_is_queued() {
    let mut c = Connection::default();
    let ids: Vec<_> = (0..5)
        .map(|_| c.call_remote("X", &AmpBox::new(), true).unwrap().unwrap())
        .collect();
    c.handle_input(&wire(&request(Some("1"), "Y")));
    assert!(matches!(c.poll_event(), Some(Event::Request(_))));
    c.handle_eof();
    let mut failed = Vec::new();
    loop {
        match c.poll_event() {
            Some(Event::CallFailed { call, reason }) => {
                assert_eq!(reason, ConnectionError::PeerClosed);
                failed.push(call);
            }
            Some(Event::Closed(reason)) => {
                assert_eq!(reason, ConnectionError::PeerClosed);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(failed, ids);
    let closed = SendError::Closed(ConnectionError::PeerClosed);
    assert_eq!(
        c.call_remote("X", &AmpBox::new(), true),
        Err(closed.clone())
    );
    assert_eq!(c.answer(b"1", &AmpBox::new()), Err(closed.clone()));
    assert_eq!(c.send_box(&AmpBox::new()), Err(closed.clone()));
    assert_eq!(
        c.fail(b"1", &ResponderError::undeclared("late")),
        Err(closed),
        "a responder finishing after the end is told so"
    );
}

#[test]
fn a_stream_ending_inside_a_box_is_a_truncation_error() {
    let mut c = Connection::default();
    let w = wire(&request(Some("1"), "X"));
    c.handle_input(&w[..w.len() - 1]);
    assert_eq!(c.poll_event(), None);
    c.handle_eof();
    assert_eq!(
        closed_with(&mut c),
        ConnectionError::Protocol(ProtocolError::Codec(CodecError::Truncated {
            buffered: w.len() - 1
        }))
    );
}

#[test]
fn a_transport_failure_fails_pending_calls_with_its_reason() {
    let mut c = Connection::default();
    let id = c.call_remote("X", &AmpBox::new(), true).unwrap().unwrap();
    let reason = ConnectionError::Transport("connection reset by peer".into());
    c.connection_lost(reason.clone());
    assert_eq!(
        c.poll_event(),
        Some(Event::CallFailed {
            call: id,
            reason: reason.clone()
        })
    );
    assert_eq!(c.poll_event(), Some(Event::Closed(reason)));
}

#[test]
fn the_protocol_switch_hands_back_every_byte_after_the_last_box() {
    let mut c = Connection::default();
    let mut input = wire(&request(Some("1"), "StartTLS"));
    let tail: &[u8] = b"\x16\x03\x01\x00\x00after-the-switch\x00\x00\x00";
    input.extend_from_slice(tail);
    // Whatever the split, the first event is the request and the rest is
    // left untouched.
    for split in 1..input.len() {
        let mut c2 = Connection::default();
        c2.handle_input(&input[..split]);
        let got = c2.poll_event();
        if got.is_none() {
            c2.handle_input(&input[split..]);
            assert!(
                matches!(c2.poll_event(), Some(Event::Request(_))),
                "split {split}"
            );
            assert_eq!(&c2.switch_protocol()[..], tail, "split {split}");
        } else {
            let mut rest = c2.switch_protocol().to_vec();
            rest.extend_from_slice(&input[split..]);
            assert_eq!(&rest[..], tail, "split {split}");
        }
    }
    c.handle_input(&input);
    let pending = c.call_remote("X", &AmpBox::new(), true).unwrap().unwrap();
    assert!(matches!(c.poll_event(), Some(Event::Request(_))));
    assert_eq!(&c.switch_protocol()[..], tail);
    assert_eq!(
        c.poll_event(),
        Some(Event::CallFailed {
            call: pending,
            reason: ConnectionError::ProtocolSwitched
        })
    );
}

#[test]
fn routed_dispatchers_write_route_on_every_box() {
    let mut d = Dispatcher::default();
    d.set_route(Some(Bytes::from_static(b"3")));
    d.call_remote("Count", &AmpBox::new(), true).unwrap();
    d.send_box(&AmpBox::from_pairs([("k", "v")])).unwrap();
    let sent = codec::decode_all(d.take_transmit(), &Default::default()).unwrap();
    assert!(sent.iter().all(|b| b.get_str("_route") == Some("3")));
    assert_eq!(
        d.send_box(&AmpBox::from_pairs([("_route", "x")])),
        Err(SendError::ReservedKey(Bytes::from_static(b"_route")))
    );
    assert_eq!(d.pending_transmit(), 0);
    // Unrouted, `_route` is an ordinary key of a raw box.
    let mut plain = Dispatcher::default();
    plain
        .send_box(&AmpBox::from_pairs([("_route", "x")]))
        .unwrap();
}

#[test]
fn a_request_without_ask_that_fails_in_any_way_closes_silently() {
    let failures = [
        ResponderError::unhandled(b"NoSuch"),
        ResponderError::Declared {
            code: "E".into(),
            description: "d".into(),
            fatal: false,
        },
        ResponderError::undeclared("boom"),
    ];
    for failure in failures {
        let mut c = Connection::default();
        c.handle_input(&wire(&request(None, "NotifyFail")));
        let Some(Event::Request(req)) = c.poll_event() else {
            panic!()
        };
        assert!(req.tag.is_none());
        c.respond(None, Err(failure.clone())).unwrap();
        assert_eq!(c.take_transmit().len(), 0, "nothing is sent");
        assert_eq!(
            closed_with(&mut c),
            ConnectionError::FatalError {
                code: failure.code().to_owned(),
                description: failure.description().into_owned()
            }
        );
    }
    // A request without `_ask` that succeeds leaves the connection open.
    let mut c = Connection::default();
    c.handle_input(&wire(&request(None, "Notify")));
    assert!(c.poll_event().is_some());
    c.respond(None, Ok(AmpBox::new())).unwrap();
    assert!(!c.is_closed());
}
