//! Upgrading a live connection's transport in place (StartTLS's
//! mechanics), with a toy upgrade that changes every byte on the wire
//! (XOR with a key): a byte written or read on the wrong side of the
//! switch would not decode. Calls in flight across the upgrade are
//! answered, calls queued after the upgrade call go out on the new
//! transport, in order, and a refused or failed upgrade does what it says.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amp_core::{AmpBox, CallError, ConnectionError, Decoder, ResponderError};
use amp_engine::{
    Options, Peer, ReadHalf, Responders, Runtime, Task, Upgrade, UpgradeError, Upgraded, Upgrader,
    WriteHalf,
};
use bytes::{Bytes, BytesMut};
use futures_channel::mpsc;
use futures_util::StreamExt;

#[derive(Clone)]
struct Threads;
impl Runtime for Threads {
    fn spawn(&self, task: Task) {
        std::thread::spawn(move || futures_executor::block_on(task));
    }
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + 'static {
        let (tx, rx) = futures_channel::oneshot::channel::<()>();
        std::thread::spawn(move || {
            std::thread::sleep(duration);
            let _ = tx.send(());
        });
        async move {
            let _ = rx.await;
        }
    }
}

/// Everything one direction carried, as written (after the key).
type Tap = Arc<Mutex<Vec<u8>>>;

/// One direction's receiving end: takes every chunk that has arrived in
/// one read (so an answer and what follows it arrive together), undoing
/// the key.
struct Rx {
    rx: mpsc::UnboundedReceiver<Vec<u8>>,
    key: u8,
    /// Bytes read past the switch, already undone, to give first.
    first: Vec<u8>,
}

impl ReadHalf for Rx {
    async fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        if !self.first.is_empty() {
            let n = self.first.len();
            buf.extend_from_slice(&std::mem::take(&mut self.first));
            return Ok(n);
        }
        let Some(mut bytes) = self.rx.next().await else {
            return Ok(0);
        };
        while let Ok(more) = self.rx.try_recv() {
            bytes.extend_from_slice(&more);
        }
        bytes.iter_mut().for_each(|b| *b ^= self.key);
        buf.extend_from_slice(&bytes);
        Ok(bytes.len())
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send + 'static {
        Threads.sleep(duration)
    }
}

struct Tx {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    key: u8,
    tap: Tap,
}

impl WriteHalf for Tx {
    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        let out: Vec<u8> = bytes.iter().map(|b| b ^ self.key).collect();
        self.tap.lock().unwrap().extend_from_slice(&out);
        self.tx
            .unbounded_send(out)
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }
    async fn close(&mut self) -> io::Result<()> {
        self.tx.close_channel();
        Ok(())
    }
}

const KEY: u8 = 0x5a;

/// Upgrades to the key, and tells the peer's "certificate".
struct Keyed {
    commands: Vec<Bytes>,
    fail: bool,
    /// The handshake never finishes.
    stall: bool,
}

impl Upgrader<Rx, Tx> for Keyed {
    fn commands(&self) -> Vec<Bytes> {
        self.commands.clone()
    }

    async fn upgrade(
        &mut self,
        mut reader: Rx,
        mut writer: Tx,
        leftover: BytesMut,
        how: Upgrade,
    ) -> Result<Option<Upgraded<Rx, Tx>>, String> {
        if self.fail {
            return Err("handshake refused".into());
        }
        if self.stall {
            std::future::pending::<()>().await;
        }
        let who = match how {
            Upgrade::Answered { command } => {
                assert_eq!(&command[..], b"StartTLS");
                "client"
            }
            Upgrade::Called(how) => *how.downcast::<&str>().expect("what the caller gave"),
            Upgrade::Start(_) => "start",
        };
        // The bytes read past the switch were read without the key.
        reader.first = leftover.iter().map(|b| b ^ KEY).collect();
        reader.key = KEY;
        writer.key = KEY;
        Ok(Some(Upgraded {
            reader,
            writer,
            peer_certificates: Some(vec![Bytes::from(who.as_bytes().to_vec())]),
        }))
    }
}

struct Pair {
    client: Peer,
    server: Peer,
    /// What the server wrote, and what the client wrote.
    to_client: Tap,
    to_server: Tap,
}

fn pair(server_responders: Responders, fail: bool) -> Pair {
    let (a_tx, a_rx) = mpsc::unbounded();
    let (b_tx, b_rx) = mpsc::unbounded();
    let (to_client, to_server) = (Tap::default(), Tap::default());
    let server = amp_engine::spawn_upgradable(
        &Threads,
        Rx {
            rx: a_rx,
            key: 0,
            first: Vec::new(),
        },
        Tx {
            tx: b_tx,
            key: 0,
            tap: Arc::clone(&to_client),
        },
        None,
        server_responders,
        Options::default(),
        Keyed {
            commands: vec![Bytes::from_static(b"StartTLS")],
            fail,
            stall: false,
        },
        None,
    );
    let client = amp_engine::spawn_upgradable(
        &Threads,
        Rx {
            rx: b_rx,
            key: 0,
            first: Vec::new(),
        },
        Tx {
            tx: a_tx,
            key: 0,
            tap: Arc::clone(&to_server),
        },
        None,
        Responders::new(),
        Options::default(),
        Keyed {
            commands: Vec::new(),
            fail,
            stall: false,
        },
        None,
    );
    Pair {
        client,
        server,
        to_client,
        to_server,
    }
}

/// A server that sums, holding each Sum until `gate` lets it go, and says
/// yes to StartTLS.
fn summing(gate: Arc<Mutex<Option<futures_channel::oneshot::Receiver<()>>>>) -> Responders {
    Responders::new()
        .raw_responder("Sum", move |_, args: AmpBox| {
            let gate = gate.lock().unwrap().take();
            async move {
                if let Some(gate) = gate {
                    let _ = gate.await;
                }
                let a: i64 = args.get_str("a").unwrap().parse().unwrap();
                let b: i64 = args.get_str("b").unwrap().parse().unwrap();
                Ok(AmpBox::from_pairs([("total", (a + b).to_string())]))
            }
        })
        .raw_responder("StartTLS", |_, _| async { Ok(AmpBox::new()) })
        .raw_responder("WhoAmI", |ctx, _| {
            let seen = ctx.peer_certificate();
            async move {
                let who = seen.map(|c| String::from_utf8_lossy(&c).into_owned());
                Ok(AmpBox::from_pairs([("who", who.unwrap_or_default())]))
            }
        })
}

fn sum(peer: &Peer, a: i64, b: i64) -> impl Future<Output = Result<AmpBox, CallError>> + use<> {
    let peer = peer.clone();
    async move {
        peer.call_remote(
            "Sum",
            AmpBox::from_pairs([("a", a.to_string()), ("b", b.to_string())]),
        )
        .await
    }
}

/// Splits what one direction carried at the end of the box for which
/// `last` holds: the boxes before it (plain), and the rest undone with the
/// key, decoded.
fn split_wire(wire: &[u8], last: impl Fn(&AmpBox) -> bool) -> (Vec<AmpBox>, Vec<AmpBox>) {
    let mut plain = Decoder::default();
    plain.feed(wire).unwrap();
    let mut before = Vec::new();
    loop {
        let b = plain
            .decode()
            .unwrap()
            .expect("the switching box is on the wire, plain");
        let done = last(&b);
        before.push(b);
        if done {
            break;
        }
    }
    let rest: Vec<u8> = plain.take_remaining().iter().map(|b| b ^ KEY).collect();
    let mut keyed = Decoder::default();
    keyed.feed(&rest).unwrap();
    let after = std::iter::from_fn(|| keyed.decode().unwrap()).collect();
    (before, after)
}

#[test]
fn calls_in_flight_and_calls_after_the_switch_are_answered_in_order_over_the_new_transport() {
    let (open, gate) = futures_channel::oneshot::channel();
    let Pair {
        client,
        server,
        to_client,
        to_server,
    } = pair(summing(Arc::new(Mutex::new(Some(gate)))), false);
    futures_executor::block_on(async {
        // In flight before the upgrade: the first waits on the gate.
        let early = sum(&client, 1, 2);
        let early2 = sum(&client, 3, 4);
        let upgrading = {
            let client = client.clone();
            async move {
                client
                    .call_upgrading("StartTLS", AmpBox::new(), Box::new("server"))
                    .await
            }
        };
        // Queued after the upgrade call: held until the new transport.
        let late = sum(&client, 10, 20);
        let who = client.call_remote("WhoAmI", AmpBox::new());
        let release = async {
            // Answered after the switch, on the new transport.
            std::thread::sleep(Duration::from_millis(50));
            open.send(()).unwrap();
        };
        use futures_util::future::join3;
        let ((early, early2, upgraded), (late, who, ()), ()) = join3(
            join3(early, early2, upgrading),
            join3(late, who, release),
            async {},
        )
        .await;
        assert_eq!(early.unwrap().get_str("total"), Some("3"));
        assert_eq!(early2.unwrap().get_str("total"), Some("7"));
        upgraded.expect("upgraded");
        assert_eq!(late.unwrap().get_str("total"), Some("30"));
        assert_eq!(who.unwrap().get_str("who"), Some("client"));
        assert!(client.is_upgraded() && server.is_upgraded());
        assert_eq!(
            client.peer_certificates(),
            Some(vec![Bytes::from_static(b"server")])
        );
        // Still one conversation, after: a call each way.
        assert_eq!(
            sum(&client, 5, 6).await.unwrap().get_str("total"),
            Some("11")
        );
        let back = server.call_remote("Nope", AmpBox::new()).await;
        assert!(matches!(back, Err(CallError::Remote(e)) if e.code == "UNHANDLED"));
    });
    // The client's StartTLS was its last plain box; the server's answer
    // to it was its.
    let sent = to_server.lock().unwrap().clone();
    let (before, after) = split_wire(&sent, |b| b.get_str("_command") == Some("StartTLS"));
    let commands = |boxes: &[AmpBox]| -> Vec<String> {
        boxes
            .iter()
            .map(|b| b.get_str("_command").unwrap_or("-").to_owned())
            .collect()
    };
    assert_eq!(commands(&before), ["Sum", "Sum", "StartTLS"]);
    assert_eq!(commands(&after), ["Sum", "WhoAmI", "Sum", "-"]);
    let received = to_client.lock().unwrap().clone();
    let tag = before[2].get_str("_ask").unwrap().to_owned();
    let (before, after) = split_wire(&received, |b| b.get_str("_answer") == Some(&tag));
    // The gated Sum answered after the switch, the other before it.
    assert!(
        before.iter().any(|b| b.get_str("total") == Some("7")),
        "{before:?}"
    );
    assert!(
        after.iter().any(|b| b.get_str("total") == Some("3")),
        "{after:?}"
    );
}

#[test]
fn an_upgrade_refused_by_an_error_answer_leaves_the_connection_plain_and_working() {
    let responders = Responders::new()
        .raw_responder("StartTLS", |_, _| async {
            Err::<AmpBox, _>(ResponderError::Declared {
                code: "TLS_ERROR".into(),
                description: "no certificate here".into(),
                fatal: false,
            })
        })
        .raw_responder("Echo", |_, args| async move { Ok(args) });
    let Pair {
        client,
        server: _server,
        to_server,
        ..
    } = pair(responders, false);
    futures_executor::block_on(async {
        let upgrading = client.call_upgrading("StartTLS", AmpBox::new(), Box::new("server"));
        let after = client.call_remote("Echo", AmpBox::from_pairs([("x", "1")]));
        let (upgraded, after) = futures_util::future::join(upgrading, after).await;
        assert!(
            matches!(&upgraded, Err(UpgradeError::Call(CallError::Remote(e))) if e.code == "TLS_ERROR"),
            "{upgraded:?}"
        );
        assert_eq!(after.unwrap().get_str("x"), Some("1"));
        assert!(!client.is_upgraded());
        assert!(client.peer_certificates().is_none());
    });
    // Everything stayed plain.
    let mut d = Decoder::default();
    d.feed(&to_server.lock().unwrap()).unwrap();
    let boxes: Vec<AmpBox> = std::iter::from_fn(|| d.decode().unwrap()).collect();
    assert_eq!(boxes.len(), 2);
}

#[test]
fn a_failed_upgrade_ends_the_connection_with_a_typed_reason() {
    let Pair { client, server, .. } = pair(summing(Arc::default()), true);
    futures_executor::block_on(async {
        let upgraded = client
            .call_upgrading("StartTLS", AmpBox::new(), Box::new("server"))
            .await;
        let refused = ConnectionError::UpgradeFailed("handshake refused".into());
        assert!(
            matches!(&upgraded, Err(UpgradeError::Failed(e)) if *e == refused),
            "{upgraded:?}"
        );
        assert_eq!(client.closed().await, refused);
        assert_eq!(server.closed().await, refused);
    });
}

#[test]
fn a_second_upgrade_while_one_is_under_way_is_refused() {
    let (_open, gate) = futures_channel::oneshot::channel::<()>();
    let gate = Arc::new(Mutex::new(Some(gate)));
    let responders = Responders::new().raw_responder("StartTLS", move |_, _| {
        let gate = gate.lock().unwrap().take();
        async move {
            if let Some(gate) = gate {
                let _ = gate.await;
            }
            Ok(AmpBox::new())
        }
    });
    let Pair {
        client,
        server: _server,
        ..
    } = pair(responders, false);
    futures_executor::block_on(async {
        let first = client.call_upgrading("StartTLS", AmpBox::new(), Box::new("server"));
        let second = async {
            std::thread::sleep(Duration::from_millis(20));
            client
                .call_upgrading("StartTLS", AmpBox::new(), Box::new("server"))
                .await
        };
        let mut first = std::pin::pin!(first);
        let second = std::pin::pin!(second);
        let second = futures_util::future::select(first.as_mut(), second).await;
        match second {
            futures_util::future::Either::Right((second, _)) => {
                assert!(
                    matches!(second, Err(UpgradeError::InProgress)),
                    "{second:?}"
                )
            }
            futures_util::future::Either::Left((first, _)) => {
                panic!("the gated upgrade finished first: {first:?}")
            }
        }
    });
}

#[test]
fn a_connection_can_start_upgraded() {
    let (a_tx, a_rx) = mpsc::unbounded();
    let (b_tx, b_rx) = mpsc::unbounded();
    let to_client = Tap::default();
    let start = |rx, tx, tap: &Tap, responders| {
        amp_engine::spawn_upgradable(
            &Threads,
            Rx {
                rx,
                key: 0,
                first: Vec::new(),
            },
            Tx {
                tx,
                key: 0,
                tap: Arc::clone(tap),
            },
            None,
            responders,
            Options::default(),
            Keyed {
                commands: Vec::new(),
                fail: false,
                stall: false,
            },
            Some(Upgrade::Start(Box::new(()))),
        )
    };
    let server = start(a_rx, b_tx, &to_client, summing(Arc::default()));
    let client = start(b_rx, a_tx, &Tap::default(), Responders::new());
    futures_executor::block_on(async {
        assert_eq!(
            sum(&client, 2, 2).await.unwrap().get_str("total"),
            Some("4")
        );
    });
    assert!(server.is_upgraded());
    assert_eq!(
        client.peer_certificates(),
        Some(vec![Bytes::from_static(b"start")])
    );
    // Not one byte went out plain.
    let wire: Vec<u8> = to_client.lock().unwrap().iter().map(|b| b ^ KEY).collect();
    let mut d = Decoder::default();
    d.feed(&wire).unwrap();
    assert_eq!(d.decode().unwrap().unwrap().get_str("total"), Some("4"));
}

#[test]
fn a_handshake_that_never_finishes_is_bounded_by_the_timeouts() {
    let (_a_tx, a_rx) = mpsc::unbounded::<Vec<u8>>();
    let (b_tx, _b_rx) = mpsc::unbounded();
    let peer = amp_engine::spawn_upgradable(
        &Threads,
        Rx {
            rx: a_rx,
            key: 0,
            first: Vec::new(),
        },
        Tx {
            tx: b_tx,
            key: 0,
            tap: Tap::default(),
        },
        None,
        Responders::new(),
        Options::default().idle_timeout(Duration::from_millis(100)),
        Keyed {
            commands: Vec::new(),
            fail: false,
            stall: true,
        },
        Some(Upgrade::Start(Box::new(()))),
    );
    let reason = futures_executor::block_on(peer.closed());
    assert_eq!(
        reason,
        ConnectionError::UpgradeFailed("the upgrade did not finish within 100ms".into())
    );
}
