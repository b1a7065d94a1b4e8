//! The `switch` target: a live connection (amp-engine, run to its end on
//! one thread) that hands its transport over by Twisted's
//! `ProtocolSwitchCommand`, on either side. The peer sends boxes (requests
//! answered at once, unknown commands, notifications, and, unless the
//! input says the prefix is clean, boxes made of the input's bytes), then
//! the switch (a `SwitchToEcho` request this side answers, or the answer
//! to this side's own `SwitchToEcho` call), then the next protocol's
//! bytes: anything, well-formed boxes included. The whole stream arrives
//! in reads whose sizes the input picks, so the switch and the bytes after
//! it may come in one read, or a box may be split anywhere.
//!
//! The switch is handed over by the engine's own upgrader
//! (`amp_engine::upgradable`).
//!
//! Checks: no panic; the connection ends once the input does; with a clean
//! prefix and a switch that is accepted, the connection ends with
//! `ProtocolSwitched` and the bytes handed over (those read past the
//! switch, then those not read yet) are exactly the bytes after it, none
//! lost, none repeated, none decoded; a refused switch (an error answer)
//! hands nothing over; everything written is whole boxes.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};

use amp_core::{AmpBox, ConnectionError, Decoder, ResponderError};
use amp_engine::upgradable::{Switched, UpgradableStream, Upgrades, switch_protocol};
use amp_engine::{Options, ReadHalf, Responders, WriteHalf};
use bytes::BytesMut;

use crate::input::Input;

/// Most boxes the peer sends before the switch.
const MAX_PREFIX: usize = 16;

/// The peer's bytes, handed out in the reads the input chose; the end of
/// them is the end of the stream. Shared, so that what was not read yet
/// can be counted after the hand-over.
#[derive(Clone, Default)]
struct Reads(Arc<Mutex<VecDeque<Vec<u8>>>>);

impl Reads {
    fn rest(&self) -> Vec<u8> {
        let reads = self.0.lock().unwrap_or_else(|e| e.into_inner());
        reads.iter().flatten().copied().collect()
    }
}

impl ReadHalf for Reads {
    async fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        let next = self.0.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
        match next {
            Some(bytes) => {
                buf.extend_from_slice(&bytes);
                Ok(bytes.len())
            }
            None => Ok(0),
        }
    }
}

/// Keeps what the side under test writes.
#[derive(Clone, Default)]
struct Written(Arc<Mutex<Vec<u8>>>);

impl WriteHalf for Written {
    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
        Ok(())
    }
    async fn close(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What the transport's new owner got: the bytes read past the switch.
type HandedOver = Arc<Mutex<Option<BytesMut>>>;

/// The transport as one stream, for the engine's own upgrader
/// (`amp_engine::upgradable`) to hand over.
struct Pair(Reads, Written);

impl UpgradableStream for Pair {
    type Reader = Reads;
    type Writer = Written;
    type Rewound = BytesMut;

    fn split(self) -> (Reads, Written) {
        (self.0, self.1)
    }

    fn reunite(reader: Reads, writer: Written) -> Result<Self, String> {
        Ok(Pair(reader, writer))
    }

    fn rewind(self, first: BytesMut) -> BytesMut {
        first
    }
}

fn wire(b: &AmpBox) -> Vec<u8> {
    b.to_bytes().map(|b| b.to_vec()).unwrap_or_default()
}

/// The peer's boxes before the switch; whether they are all well-formed
/// boxes the connection survives.
fn prefix(input: &mut Input, fresh: &mut u32) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut clean = true;
    for _ in 0..input.below(MAX_PREFIX) {
        let mut b = AmpBox::new();
        match input.below(8) {
            // A request answered at once (its tag is the peer's own).
            0..=2 => {
                *fresh += 1;
                b.insert("_ask", format!("p{fresh}"));
                b.insert("_command", "Sum");
            }
            // An unknown command: UNHANDLED, and the connection goes on.
            3 => {
                *fresh += 1;
                b.insert("_ask", format!("p{fresh}"));
                b.insert("_command", "Nope");
            }
            // A notification.
            4 => {
                b.insert("_command", "Sum");
            }
            // Anything: the connection may end here.
            _ => {
                clean = false;
                for _ in 0..input.below(3) {
                    let key = input.bytes().to_vec();
                    let value = input.bytes().to_vec();
                    b.insert(key, value);
                }
            }
        }
        out.extend(wire(&b));
    }
    (out, clean)
}

/// Runs the check on one input.
pub fn switch(data: &[u8]) {
    let mut input = Input::new(data);
    let settings = input.u8();
    let answering = settings & 1 == 0;
    let refuse = settings & 2 != 0 && answering;
    let mut fresh = 0;
    let (mut stream, clean) = prefix(&mut input, &mut fresh);
    let switch = if answering {
        AmpBox::from_pairs([("_ask", "s"), ("_command", "SwitchToEcho")])
    } else {
        // This side's switch is its first call: tag 1.
        AmpBox::from_pairs([("_answer", "1")])
    };
    stream.extend(wire(&switch));
    let switch_end = stream.len();
    // The next protocol's bytes: some raw, some looking like boxes.
    for _ in 0..input.below(4) {
        if input.bool() {
            stream.extend(wire(&AmpBox::from_pairs([
                ("_ask", "x"),
                ("_command", "Sum"),
            ])));
        } else {
            stream.extend_from_slice(input.bytes());
        }
    }
    let after = stream[switch_end..].to_vec();
    let mut reads = VecDeque::new();
    let mut at = 0;
    while at < stream.len() {
        let size = (usize::from(input.u8()) + 1).min(stream.len() - at);
        let size = if input.is_empty() {
            stream.len() - at
        } else {
            size
        };
        reads.push_back(stream[at..at + size].to_vec());
        at += size;
    }

    let responders = Responders::new()
        .raw_responder("Sum", |_, _| async {
            Ok(AmpBox::from_pairs([("total", "0")]))
        })
        .raw_responder("SwitchToEcho", move |_, _| async move {
            if refuse {
                Err(ResponderError::Declared {
                    code: "NO".into(),
                    description: "not now".into(),
                    fatal: false,
                })
            } else {
                Ok(AmpBox::new())
            }
        });
    let source = Reads(Arc::new(Mutex::new(reads)));
    let written = Written::default();
    let handed: HandedOver = Arc::default();
    let taken = Arc::clone(&handed);
    let upgrades = Upgrades::new().switch("SwitchToEcho", move |switched: Switched<Pair>| {
        *taken.lock().unwrap_or_else(|e| e.into_inner()) = Some(switched.into_stream());
    });
    let (peer, reading, writing) = amp_engine::start_upgradable(
        source.clone(),
        written.clone(),
        None,
        responders,
        Options::default(),
        upgrades,
        None,
    );
    let calling = {
        let peer = peer.clone();
        let handed = Arc::clone(&handed);
        async move {
            if !answering
                && let Ok((_, switched)) =
                    switch_protocol::<Pair>(&peer, "SwitchToEcho", AmpBox::new()).await
            {
                *handed.lock().unwrap_or_else(|e| e.into_inner()) = Some(switched.into_stream());
            }
        }
    };
    // The call goes first, so that it is queued before the peer's answer
    // is read.
    futures_executor::block_on(futures_util::future::join3(calling, reading, writing));
    let reason = futures_executor::block_on(peer.closed());
    let handed = handed.lock().unwrap_or_else(|e| e.into_inner()).take();

    if clean && !refuse {
        assert_eq!(reason, ConnectionError::ProtocolSwitched, "{reason:?}");
    }
    if refuse {
        assert!(
            handed.is_none(),
            "a refused switch handed the transport over"
        );
    }
    if let Some(leftover) = handed {
        assert_eq!(reason, ConnectionError::ProtocolSwitched);
        let mut got = leftover.to_vec();
        got.extend(source.rest());
        if clean {
            assert_eq!(got, after, "the bytes after the switch, handed over");
        } else {
            // A box of the prefix may have been taken for the switch (or
            // its answer), but what is handed over is still exactly what
            // followed that box in the stream.
            assert!(
                stream.ends_with(&got),
                "handed over bytes not the stream's tail"
            );
        }
    }

    // Whole boxes only.
    let written = written.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut decoder = Decoder::default();
    decoder
        .feed(&written)
        .expect("the side under test wrote a bad box");
    while let Some(_b) = decoder
        .decode()
        .expect("the side under test wrote a bad box")
    {}
    assert_eq!(decoder.buffered(), 0, "a box cut short was written");
}
