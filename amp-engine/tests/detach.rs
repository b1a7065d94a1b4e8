//! Taking a live connection apart: once its traffic is drained, the
//! transport comes back with the bytes read past the last box, none lost,
//! none decoded; calls in flight are answered first, running responders
//! answer first, nothing new is queued.

mod common;

use std::sync::{Arc, Mutex};

use amp_core::{AmpBox, CallError, ConnectionError, Decoder, SendError};
use amp_engine::{Options, Parts, ReadHalf, Responders, start_detachable};
use bytes::BytesMut;
use common::{Recorder, Script};
use futures_channel::mpsc;

/// Lets the connection's loops run once.
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

fn boxes(bytes: &[u8]) -> Vec<AmpBox> {
    let mut d = Decoder::default();
    d.feed(bytes).unwrap();
    std::iter::from_fn(|| d.decode().unwrap()).collect()
}

fn wire(b: AmpBox) -> Vec<u8> {
    b.to_bytes().unwrap().to_vec()
}

#[test]
fn a_call_in_flight_is_answered_then_the_transport_and_the_bytes_after_the_answer_come_back() {
    let (tx, rx) = mpsc::unbounded();
    let written = Recorder::default();
    let (peer, reading, writing, parts) = start_detachable(
        Script(rx),
        written.clone(),
        None,
        Responders::new(),
        Options::default(),
    );
    let test = async {
        let call = peer.call_remote("Sum", AmpBox::from_pairs([("a", "1"), ("b", "2")]));
        let answer_and_more = async {
            peer.detach();
            // The answer and the next protocol's first bytes in one read.
            let mut bytes = wire(AmpBox::from_pairs([("_answer", "1"), ("total", "3")]));
            bytes.extend_from_slice(b"\x16\x03\x01 next protocol");
            tx.unbounded_send(bytes).unwrap();
        };
        let (answer, ()) = futures_util::future::join(call, answer_and_more).await;
        assert_eq!(answer.unwrap().get_str("total"), Some("3"));
        // Nothing new is queued once coming apart.
        let late = peer.call_remote("Sum", AmpBox::new()).await;
        assert!(
            matches!(
                late,
                Err(CallError::Connection(ConnectionError::ProtocolSwitched))
            ),
            "{late:?}"
        );
        parts.await
    };
    let ((), (), parts) =
        futures_executor::block_on(futures_util::future::join3(reading, writing, test));
    let Parts {
        reader,
        writer,
        leftover,
    } = parts.expect("taken apart");
    assert_eq!(&leftover[..], b"\x16\x03\x01 next protocol");
    let (out, closed) = (writer.bytes(), writer.closed());
    assert!(!closed, "the writing half comes back open");
    let sent = boxes(&out);
    assert_eq!(sent.len(), 1, "only the call went out: {sent:?}");
    assert_eq!(sent[0].get_str("_command"), Some("Sum"));
    // The reading half still reads what follows.
    drop(tx);
    let mut reader = reader;
    let mut rest = BytesMut::new();
    assert_eq!(
        futures_executor::block_on(reader.read(&mut rest)).unwrap(),
        0
    );
    assert_eq!(
        futures_executor::block_on(peer.closed()),
        ConnectionError::ProtocolSwitched
    );
}

#[test]
fn a_running_responder_answers_before_the_halves_come_back_and_nothing_new_is_queued() {
    let (tx, rx) = mpsc::unbounded();
    let written = Recorder::default();
    let (gate_tx, gate_rx) = futures_channel::oneshot::channel::<()>();
    let gate = Arc::new(Mutex::new(Some(gate_rx)));
    let responders = Responders::new().raw_responder("Wait", move |_, _| {
        let gate = gate.lock().unwrap().take();
        async move {
            if let Some(gate) = gate {
                let _ = gate.await;
            }
            Ok(AmpBox::from_pairs([("done", "yes")]))
        }
    });
    let (peer, reading, writing, parts) = start_detachable(
        Script(rx),
        written.clone(),
        None,
        responders,
        Options::default(),
    );
    let test = async {
        tx.unbounded_send(wire(AmpBox::from_pairs([
            ("_ask", "1"),
            ("_command", "Wait"),
        ])))
        .unwrap();
        // Let the responder start, then come apart while it runs.
        while !peer.is_busy() {
            yield_once().await;
        }
        peer.detach();
        let refused = peer.send_box(AmpBox::from_pairs([("x", "y")])).await;
        assert!(matches!(
            refused,
            Err(SendError::Closed(ConnectionError::ProtocolSwitched))
        ));
        gate_tx.send(()).unwrap();
        parts.await
    };
    let ((), (), parts) =
        futures_executor::block_on(futures_util::future::join3(reading, writing, test));
    let parts = parts.expect("taken apart");
    assert!(parts.leftover.is_empty());
    let sent = boxes(&parts.writer.bytes());
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].get_str("_answer"), Some("1"));
    assert_eq!(sent[0].get_str("done"), Some("yes"));
}

#[test]
fn a_connection_that_ends_another_way_gives_its_reason_instead() {
    let (tx, rx) = mpsc::unbounded::<Vec<u8>>();
    drop(tx);
    let (_peer, reading, writing, parts) = start_detachable(
        Script(rx),
        Recorder::default(),
        None,
        Responders::new(),
        Options::default(),
    );
    let ((), (), parts) =
        futures_executor::block_on(futures_util::future::join3(reading, writing, parts));
    assert_eq!(parts.unwrap_err(), ConnectionError::PeerClosed);
}
