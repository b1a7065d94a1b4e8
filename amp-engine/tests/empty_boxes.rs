//! Commands without arguments or without a response (`()`, a unit struct,
//! a tuple struct without fields) between two engine peers: the calls are
//! answered, and the boxes on the wire are Twisted's empty ones, only the
//! protocol's own keys.

mod common;

use std::convert::Infallible;
use std::io;
use std::pin::pin;

use amp_core::{AmpBox, Command};
use amp_engine::{Options, Responders, WriteHalf, start};
use common::{Recorder, Script};
use futures_channel::mpsc;
use futures_util::future::{self, Either};
use serde::{Deserialize, Serialize};

/// A command's nothing, as a unit struct.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Nothing;

/// A command's nothing, as a tuple struct without fields.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct NothingTuple();

/// No arguments; answers a unit struct.
struct Ping;
impl Command for Ping {
    const NAME: &'static str = "Ping";
    type Arguments = ();
    type Response = Nothing;
    type Error = Infallible;
}

/// A unit struct for arguments; answers `()`.
struct Reset;
impl Command for Reset {
    const NAME: &'static str = "Reset";
    type Arguments = Nothing;
    type Response = ();
    type Error = Infallible;
}

/// Tuple structs without fields both ways.
struct Tick;
impl Command for Tick {
    const NAME: &'static str = "Tick";
    type Arguments = NothingTuple;
    type Response = NothingTuple;
    type Error = Infallible;
}

/// One direction of the connection: what is written is recorded and
/// read by the other peer; closing it ends the other peer's stream.
struct Wire {
    to: mpsc::UnboundedSender<Vec<u8>>,
    seen: Recorder,
}

impl WriteHalf for Wire {
    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.seen.write_all(bytes).await?;
        // The other peer may be gone already; what it missed is recorded.
        let _ = self.to.unbounded_send(bytes.to_vec());
        Ok(())
    }
    async fn close(&mut self) -> io::Result<()> {
        self.to.close_channel();
        self.seen.close().await
    }
}

fn responders() -> Responders {
    Responders::new()
        .responder(Ping, |_, (): ()| async { Ok::<_, Infallible>(Nothing) })
        .responder(Reset, |_, Nothing| async { Ok::<_, Infallible>(()) })
        .responder(Tick, |_, NothingTuple()| async {
            Ok::<_, Infallible>(NothingTuple())
        })
}

/// Runs `calls` from a client against a server answering [`responders`];
/// returns what each side wrote.
fn between_two_peers<F, Fut>(calls: F) -> (Vec<u8>, Vec<u8>)
where
    F: FnOnce(amp_engine::Peer) -> Fut,
    Fut: Future<Output = ()>,
{
    let (to_server, server_reads) = mpsc::unbounded();
    let (to_client, client_reads) = mpsc::unbounded();
    let (client_wrote, server_wrote) = (Recorder::default(), Recorder::default());
    let (client, client_reading, client_writing) = start(
        Script(client_reads),
        Wire {
            to: to_server,
            seen: client_wrote.clone(),
        },
        None,
        Responders::new(),
        Options::default(),
    );
    let (_server, server_reading, server_writing) = start(
        Script(server_reads),
        Wire {
            to: to_client,
            seen: server_wrote.clone(),
        },
        None,
        responders(),
        Options::default(),
    );
    let loops = future::join4(
        client_reading,
        client_writing,
        server_reading,
        server_writing,
    );
    let test = calls(client);
    match futures_executor::block_on(future::select(pin!(test), pin!(loops))) {
        Either::Left(((), _)) => {}
        Either::Right(_) => panic!("the connection ended before the calls did"),
    }
    (client_wrote.bytes(), server_wrote.bytes())
}

/// An empty call as Twisted writes it: `_ask` and `_command`, sorted, and
/// the terminator.
fn empty_call(ask: &str, command: &str) -> Vec<u8> {
    let mut w = Vec::new();
    for (k, v) in [("_ask", ask), ("_command", command)] {
        w.extend_from_slice(&(k.len() as u16).to_be_bytes());
        w.extend_from_slice(k.as_bytes());
        w.extend_from_slice(&(v.len() as u16).to_be_bytes());
        w.extend_from_slice(v.as_bytes());
    }
    w.extend_from_slice(b"\x00\x00");
    w
}

/// An empty answer: `_answer` and the terminator.
fn empty_answer(ask: &str) -> Vec<u8> {
    let mut w = b"\x00\x07_answer".to_vec();
    w.extend_from_slice(&(ask.len() as u16).to_be_bytes());
    w.extend_from_slice(ask.as_bytes());
    w.extend_from_slice(b"\x00\x00");
    w
}

#[test]
fn unit_arguments_and_a_unit_struct_response_are_empty_boxes() {
    let (client, server) = between_two_peers(|peer| async move {
        assert_eq!(peer.call_as::<Ping>(&()).await.unwrap(), Nothing);
    });
    assert_eq!(client, empty_call("1", "Ping"));
    assert_eq!(server, empty_answer("1"));
    // Twisted's own empty box, as the raw path writes it.
    assert_eq!(
        AmpBox::from_pairs([("_answer", "1")]).to_bytes().unwrap(),
        server
    );
}

#[test]
fn unit_struct_arguments_and_a_unit_response_are_empty_boxes() {
    let (client, server) = between_two_peers(|peer| async move {
        peer.call_as::<Reset>(&Nothing).await.unwrap();
        peer.call_as::<Tick>(&NothingTuple()).await.unwrap();
        assert_eq!(
            peer.call_as::<Tick>(&NothingTuple()).await.unwrap(),
            NothingTuple()
        );
    });
    let mut calls = empty_call("1", "Reset");
    calls.extend(empty_call("2", "Tick"));
    calls.extend(empty_call("3", "Tick"));
    assert_eq!(client, calls);
    let mut answers = empty_answer("1");
    answers.extend(empty_answer("2"));
    answers.extend(empty_answer("3"));
    assert_eq!(server, answers);
}

/// A responder whose arguments are `()` takes a call that carries keys it
/// does not know, as a struct without fields would.
#[test]
fn unit_arguments_ignore_keys_they_do_not_name() {
    let (_, server) = between_two_peers(|peer| async move {
        let answer = peer
            .call_remote("Ping", AmpBox::from_pairs([("extra", "1"), ("more", "x")]))
            .await
            .unwrap();
        assert!(answer.is_empty(), "{answer:?}");
    });
    assert_eq!(server, empty_answer("1"));
}
