//! The `dispatcher` target: a [`Connection`] driven by an arbitrary sequence
//! of peer boxes, calls, answers, closes and time, checked against a model
//! of what it must be doing (`model.rs`), with the inputs made by `peer.rs`.

mod model;
mod peer;

use std::time::Duration;

use amp_core::{CallId, Config, Connection, ConnectionError, Limits, SendError};
use bytes::Bytes;

use crate::generate::{responder_error, timeout};
use crate::input::Input;
use model::Model;
use peer::{arguments, command_name, peer_box};

/// Checks a refused local action: refused because the connection ended iff
/// it has; nothing queued either way.
fn refused(conn: &Connection, e: &SendError, before: usize) {
    assert_eq!(
        conn.pending_transmit(),
        before,
        "a refused action queued bytes"
    );
    if conn.is_closed() {
        assert!(
            matches!(e, SendError::Closed(_)),
            "closed, refused with {e:?}"
        );
    } else {
        assert!(
            !matches!(e, SendError::Closed(_)),
            "open, refused as closed"
        );
    }
}

/// The configuration holds the timeouts asked for, none under 1 ms.
fn check_timeouts(config: &Config, unfinished_box: bool, idle: bool) {
    let t = config.timeouts();
    assert_eq!(t.unfinished_box.is_some(), unfinished_box, "{t:?}");
    assert_eq!(t.idle.is_some(), idle, "{t:?}");
    for d in [t.unfinished_box, t.idle].into_iter().flatten() {
        assert!(d >= Duration::from_millis(1), "a timeout under 1 ms: {d:?}");
    }
}

/// A [`Connection`] driven by a sequence of actions read from the input.
///
/// Input: one byte of settings (bit 0: raw boxes; bit 1: small limits from
/// the next three bytes, as in [`decoder()`](crate::decoder()); bit 2: an unfinished-box
/// timeout, bit 3: an idle timeout, each from the next byte, in steps of
/// 50 µs), then actions until the input ends, each an opcode byte (mod 16)
/// and its operands:
///
/// | opcode | action |
/// |---|---|
/// | 0 | receive bytes (a length byte and the bytes) |
/// | 1 | receive a well-formed box of a kind the next byte picks, in two writes |
/// | 2 | call (name, arguments, whether it wants an answer) |
/// | 3 | answer a request we owe (or a tag nobody asked) |
/// | 4 | fail a request we owe (declared, fatal, unhandled, undeclared) |
/// | 5 | respond to a request, tagged or not, with a result or an error |
/// | 6 | forget a call |
/// | 7 | take up to 4 events |
/// | 8 | take the bytes to send |
/// | 9 | send a raw box |
/// | 10 | close |
/// | 11 | end of stream |
/// | 12 | transport lost |
/// | 13 | switch protocol |
/// | 14 | take every event |
/// | 15 | time: a byte (mod 8) picks what, then its operands (below) |
///
/// Time is one more action: the check keeps the time (it starts at the
/// instant the check starts) and hands it to the connection.
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
/// Checks: no panic; events concern only calls still outstanding; no event
/// after `Closed`, which comes after a `CallFailed` for every outstanding
/// call; no outstanding call or owed answer once closed; a local action is
/// refused as `Closed` exactly when the connection has ended, and a refused
/// action queues nothing; no byte is queued after the end; the dispatcher's
/// counts of calls and owed answers match the events; everything sent
/// decodes as whole boxes; the end of the stream always ends the connection.
/// And the timeouts: the configuration holds what was asked (at least
/// 1 ms); every deadline is the one a model of the rules gives (over what
/// the check fed, polled and took, and the instants it passed); a timeout
/// ends the connection exactly when, and with the reason, the model says,
/// never the idle one while the model says busy; after the end there is
/// no deadline and no timeout.
pub fn dispatcher(data: &[u8]) {
    let mut input = Input::new(data);
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
    if settings & 4 == 4 {
        config = config.unfinished_box_timeout(timeout(input.u8()));
    }
    if settings & 8 == 8 {
        config = config.idle_timeout(timeout(input.u8()));
    }
    check_timeouts(&config, settings & 4 == 4, settings & 8 == 8);
    let mut conn = Connection::new(&config);
    let mut model = Model::new(config.timeouts());

    while !input.is_empty() {
        let before = conn.pending_transmit();
        match input.u8() % 16 {
            0 => {
                let data = input.bytes();
                model.feed(&mut conn, data);
            }
            1 => {
                let b = peer_box(&mut input, &mut model);
                let wire = b.to_bytes().expect("a generated box does not encode");
                let cut = input.u16() as usize % (wire.len() + 1);
                model.feed(&mut conn, &wire[..cut]);
                model.feed(&mut conn, &wire[cut..]);
            }
            2 => {
                let name = command_name(&mut input);
                let name = String::from_utf8_lossy(&name).into_owned();
                let args = arguments(&mut input);
                let wants = input.u8() & 3 != 0;
                match conn.call_remote(&name, &args, wants) {
                    Ok(Some(id)) => {
                        assert!(wants, "a call wanting no answer got an id");
                        assert_eq!(id.get(), model.next_call, "call ids not in sequence");
                        model.next_call += 1;
                        model.outstanding.insert(id.get());
                    }
                    Ok(None) => assert!(!wants, "a call wanting an answer got no id"),
                    Err(e) => refused(&conn, &e, before),
                }
            }
            3 | 4 => {
                let tag = model
                    .pick_owed(&mut input)
                    .unwrap_or_else(|| Bytes::copy_from_slice(input.bytes()));
                let owed = !conn.is_closed() && model.owed.contains(&tag);
                let (result, fatal) = if input.u8() & 1 == 0 {
                    let response = arguments(&mut input);
                    (conn.answer(&tag, &response), false)
                } else {
                    let e = responder_error(&mut input);
                    (conn.fail(&tag, &e), e.is_fatal())
                };
                match result {
                    Ok(()) => {
                        assert!(owed, "answered tag {tag:?} that is not owed");
                        model.owed.retain(|t| *t != tag);
                        if fatal {
                            assert!(conn.is_closed(), "a fatal error left the connection open");
                        }
                    }
                    Err(e) => {
                        if owed {
                            assert!(
                                matches!(e, SendError::Codec(_) | SendError::ReservedKey(_)),
                                "owed tag refused with {e:?}"
                            );
                        } else {
                            assert!(
                                matches!(e, SendError::NotAsked(_) | SendError::Closed(_)),
                                "tag not owed refused with {e:?}"
                            );
                        }
                        refused(&conn, &e, before);
                    }
                }
            }
            5 => {
                let tag = if input.bool() {
                    model.pick_owed(&mut input)
                } else {
                    None
                };
                let result = if input.bool() {
                    Ok(arguments(&mut input))
                } else {
                    Err(responder_error(&mut input))
                };
                let was_open = !conn.is_closed();
                let owed = was_open && tag.as_ref().is_some_and(|t| model.owed.contains(t));
                let ok = result.is_ok();
                match conn.respond(tag.as_deref(), result) {
                    Ok(()) => {
                        assert!(was_open, "respond accepted after the end");
                        if let Some(tag) = &tag {
                            assert!(owed, "responded to tag {tag:?} that is not owed");
                            model.owed.retain(|t| t != tag);
                        } else if !ok {
                            assert!(conn.is_closed(), "a failed tagless request left it open");
                        }
                    }
                    Err(e) => refused(&conn, &e, before),
                }
            }
            6 => {
                let id = match model.pick_outstanding(&mut input) {
                    Some(id) if input.bool() => id,
                    _ => u64::from(input.u8()),
                };
                let expected = !conn.is_closed() && model.outstanding.contains(&id);
                assert_eq!(conn.forget(CallId::new(id)), expected, "forget({id})");
                if expected {
                    model.outstanding.remove(&id);
                    model.forgotten.insert(id);
                }
            }
            7 => {
                let n = 1 + input.below(4);
                model.poll(&mut conn, raw_boxes, n);
            }
            8 => model.take_transmit(&mut conn),
            9 => {
                let b = arguments(&mut input);
                if let Err(e) = conn.send_box(&b) {
                    refused(&conn, &e, before);
                }
            }
            10 => conn.close(),
            11 => conn.handle_eof(),
            12 => conn.connection_lost(ConnectionError::Transport("reset".into())),
            13 => {
                conn.switch_protocol();
                assert!(conn.is_closed(), "open after a protocol switch");
            }
            14 => model.poll(&mut conn, raw_boxes, usize::MAX),
            _ => model.time(&mut conn, &mut input),
        }
        model.check(&conn);
    }

    model.poll(&mut conn, raw_boxes, usize::MAX);
    model.check(&conn);
    conn.handle_eof();
    model.poll(&mut conn, raw_boxes, usize::MAX);
    model.check(&conn);
    assert!(
        model.closed_seen,
        "the end of the stream did not end the connection"
    );
    conn.handle_input(b"\x00\x08_command\x00\x03Sum\x00\x00");
    assert_eq!(conn.poll_event(), None, "an event after Closed");
    model.take_transmit(&mut conn);
    model.sent.finish().expect("our output ends inside a box");
}
