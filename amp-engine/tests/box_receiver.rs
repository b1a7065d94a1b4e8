//! Boxes that are neither requests nor answers, on a live connection: with a
//! box receiver in the responders they reach it (Twisted's `IBoxReceiver`)
//! while calls keep working; without one they end the connection as Twisted
//! ends it; a receiver that panics ends only its own connection.

mod common;

use std::sync::{Arc, Mutex};

use amp_core::{AmpBox, ConnectionError, ProtocolError};
use amp_engine::{Options, Responders, start};
use common::{Recorder, Script};
use futures_channel::mpsc;

fn wire(b: &AmpBox) -> Vec<u8> {
    b.to_bytes().unwrap().to_vec()
}

/// Runs a connection with `responders` over the boxes in `input` (then the
/// end of the stream); returns why it ended and what it wrote.
fn run(responders: Responders, input: Vec<AmpBox>) -> (ConnectionError, Vec<u8>) {
    let (tx, rx) = mpsc::unbounded();
    for b in &input {
        tx.unbounded_send(wire(b)).unwrap();
    }
    drop(tx);
    let written = Recorder::default();
    let (peer, reading, writing) = start(
        Script(rx),
        written.clone(),
        None,
        responders,
        Options::default(),
    );
    futures_executor::block_on(futures_util::future::join(reading, writing));
    let reason = futures_executor::block_on(peer.closed());
    let out = written.bytes();
    (reason, out)
}

fn hello() -> AmpBox {
    AmpBox::from_pairs([("hello", "world")])
}

fn unknown_request() -> AmpBox {
    AmpBox::from_pairs([("_ask", "1"), ("_command", "Nope")])
}

#[test]
fn boxes_reach_the_box_receiver_and_requests_are_still_answered() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&seen);
    let responders = Responders::new().box_receiver(move |ctx, b| {
        assert!(!ctx.peer.is_closed());
        keep.lock().unwrap().push(b);
    });
    let (reason, out) = run(responders, vec![hello(), unknown_request(), hello()]);
    assert_eq!(reason, ConnectionError::PeerClosed);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|b| b.get_str("hello") == Some("world")));
    // The request between them was answered (UNHANDLED), not swallowed.
    let mut decoder = amp_core::Decoder::default();
    decoder.feed(&out).unwrap();
    let answer = decoder.decode().unwrap().expect("one answer written");
    assert_eq!(answer.get_str("_error"), Some("1"));
    assert_eq!(answer.get_str("_error_code"), Some("UNHANDLED"));
}

#[test]
fn without_a_box_receiver_such_a_box_ends_the_connection() {
    let (reason, _) = run(Responders::new(), vec![hello()]);
    assert!(
        matches!(
            reason,
            ConnectionError::Protocol(ProtocolError::NotAmp { .. })
        ),
        "{reason:?}"
    );
}

#[test]
fn a_box_receiver_that_panics_ends_its_connection_with_unknown() {
    let responders = Responders::new().box_receiver(|_, _| panic!("receiver bug"));
    let (reason, _) = run(responders, vec![hello()]);
    assert!(
        matches!(&reason, ConnectionError::FatalError { code, .. } if code == "UNKNOWN"),
        "{reason:?}"
    );
}
