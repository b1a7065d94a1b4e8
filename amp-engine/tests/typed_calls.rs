//! Typed calls through a session: the bytes they put on the wire, and the
//! arguments they refuse before anything is written.

mod common;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use amp_conformance::commands::{Sum, SumArgs, Total};
use amp_core::{AmpBox, CallError, Command, SendError};
use amp_engine::{Options, ReadHalf, Responders, start};
use bytes::BytesMut;
use common::Recorder;
use serde::{Deserialize, Serialize};

struct Silent;
impl ReadHalf for Silent {
    async fn read(&mut self, _: &mut BytesMut) -> io::Result<usize> {
        std::future::pending().await
    }
}

/// Arguments with a field named like a key the engine writes itself.
#[derive(Serialize, Deserialize)]
struct Smuggler {
    a: i64,
    #[serde(rename = "_command")]
    command: String,
}

struct Smuggle;
impl Command for Smuggle {
    const NAME: &'static str = "Sum";
    type Arguments = Smuggler;
    type Response = Total;
    type Error = std::convert::Infallible;
}

fn poll<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(Waker::noop()))
}

/// Runs the writer until it has nothing more to write now.
fn flush(writing: &mut Pin<Box<impl Future<Output = ()>>>) {
    for _ in 0..8 {
        let _ = writing
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()));
    }
}

/// A session that reads nothing and records what it writes; its writer,
/// to be polled by hand.
fn session() -> (
    amp_engine::Peer,
    Recorder,
    Pin<Box<impl Future<Output = ()>>>,
) {
    let written = Recorder::default();
    let (peer, _reading, writing) = start(
        Silent,
        written.clone(),
        None,
        Responders::new(),
        Options::default(),
    );
    (peer, written, Box::pin(writing))
}

#[test]
fn a_typed_call_writes_the_same_box_as_a_raw_call() {
    let (peer, written, mut writing) = session();
    let mut call = Box::pin(peer.call_as::<Sum>(&SumArgs { a: 13, b: -81 }));
    assert!(poll(&mut call).is_pending());
    flush(&mut writing);

    let mut expected = amp_core::Dispatcher::default();
    expected
        .call_remote(
            "Sum",
            &AmpBox::from_pairs([("a", "13"), ("b", "-81")]),
            true,
        )
        .unwrap();
    assert_eq!(written.bytes().as_slice(), &expected.take_transmit()[..]);
}

#[test]
fn a_typed_call_cannot_smuggle_a_reserved_key_and_writes_nothing() {
    let (peer, written, mut writing) = session();
    let mut call = Box::pin(peer.call_as::<Smuggle>(&Smuggler {
        a: 1,
        command: "Other".into(),
    }));
    match poll(&mut call) {
        Poll::Ready(Err(CallError::Send(SendError::ReservedKey(k)))) => {
            assert_eq!(&k[..], b"_command")
        }
        other => panic!("expected a refusal of the reserved key, got {other:?}"),
    }
    flush(&mut writing);
    assert!(written.bytes().is_empty());
    // The connection is still usable.
    let mut call = Box::pin(peer.call_as::<Sum>(&SumArgs { a: 1, b: 2 }));
    assert!(poll(&mut call).is_pending());
    flush(&mut writing);
    assert!(!written.bytes().is_empty());
}
