//! The conversations recorded between a real Twisted client and a real
//! Twisted server (`interop/vectors/twisted-amp.json`, written by
//! `interop/record_vectors.py`; the format is in `interop/vectors/README.md`),
//! the commands they use, and a plain blocking socket to replay them against
//! a server.
//!
//! The file is found at `$AMP_VECTORS` if set, else in the tree at
//! `<workspace>/interop/vectors/twisted-amp.json`. A missing file fails the
//! scenario: the vectors are what proves the bindings behave as Twisted.

use std::convert::Infallible;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use amp_engine::Responders;

// The conversations' commands.
use crate::commands::{
    Boom, Divide, DivideArgs, DivideError, Empty, Fatal, FatalError, Notify, Quotient, Sum,
    SumArgs, Text, Total,
};
use amp_core::{AmpBox, Decoder, Failure, Limits, codec};
use serde::Deserialize;

/// The part of the vectors file the suite reads.
#[derive(Debug, Deserialize)]
pub struct Vectors {
    /// Which Twisted wrote them.
    pub generator: String,
    /// The recorded conversations.
    pub conversations: Vec<Conversation>,
    /// Conversations over epsilon.amprouter routes.
    pub routed_conversations: Vec<RoutedConversation>,
}

/// One recorded conversation.
#[derive(Debug, Deserialize)]
pub struct Conversation {
    /// What it shows.
    pub note: String,
    /// What Twisted's client wrote.
    pub client_to_server_hex: String,
    /// What Twisted's server wrote back.
    pub server_to_client_hex: String,
    /// Whether Twisted's server closed the connection after writing.
    pub server_closed_connection: bool,
}

/// A conversation between a Twisted client and a Twisted server that each
/// have an `epsilon.amprouter` `Router`: the guide's `NewRoute` on the
/// default route, then calls on the routes it set up.
#[derive(Debug, Deserialize)]
pub struct RoutedConversation {
    /// What it shows.
    pub note: String,
    /// What Twisted's client wrote.
    pub client_to_server_hex: String,
    /// What Twisted's server wrote back.
    pub server_to_client_hex: String,
    /// The names of the client's routes that were set up, in order.
    pub client_routes: Vec<String>,
    /// Every call of the client, in the order they were made, with what it
    /// produced.
    pub client_results: Vec<RoutedResult>,
}

/// One call of a routed conversation's client.
#[derive(Debug, Deserialize)]
pub struct RoutedResult {
    /// The client's route it was made on (its name on the client's side);
    /// `None` for the default route.
    pub route: Option<String>,
    /// The command called.
    pub command: String,
    /// `["ok", {key: value}]`, the answer's values as text.
    pub result: serde_json::Value,
}

/// Where the vectors are read from.
pub fn path() -> PathBuf {
    match std::env::var_os("AMP_VECTORS") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../interop/vectors/twisted-amp.json"
        )),
    }
}

/// Reads the vectors; panics if they are missing or do not parse.
pub fn load() -> Vectors {
    let path = path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the Twisted wire vectors at {}: {e} (set AMP_VECTORS to their path)",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("twisted-amp.json does not parse")
}

/// Hex to bytes; panics on bad hex.
pub fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("bad hex in vectors: {e}"))
}

/// Every box in `wire`; panics if it is not a whole number of boxes.
pub fn boxes(wire: &[u8]) -> Vec<AmpBox> {
    codec::decode_all(bytes::Bytes::copy_from_slice(wire), &Limits::default())
        .unwrap_or_else(|e| panic!("bytes written do not decode as boxes: {e}"))
}

/// The server of the recorded conversations, as the Twisted one behaved.
pub fn server_responders() -> Responders {
    Responders::new()
        .responder(Sum, |_, a: SumArgs| async move {
            Ok::<_, Infallible>(Total { total: a.a + a.b })
        })
        .responder(Divide, |_, a: DivideArgs| async move {
            if a.denominator == 0 {
                return Err(DivideError::ZeroDivision("division by zero".into()));
            }
            Ok(Quotient {
                result: a.numerator as f64 / a.denominator as f64,
            })
        })
        .responder(Fatal, |_, _: Empty| async move {
            // Python's str(KeyError('x')).
            Err::<Empty, _>(FatalError::Key("'x'".into()))
        })
        .responder(Boom, |_, _: Empty| async move {
            Err::<Empty, _>(Failure::<Infallible>::undeclared("RuntimeError: boom"))
        })
        .responder(
            Notify,
            |_, _: Text| async move { Ok::<_, Infallible>(Empty {}) },
        )
}

/// What a server wrote back to a plain socket.
#[derive(Debug)]
pub struct Exchange {
    /// Every byte read.
    pub read: Vec<u8>,
    /// Whether the server closed the connection (end of stream, or reset).
    pub closed: bool,
    /// The error that ended reading, if any (a reset, a timeout).
    pub error: Option<io::ErrorKind>,
}

/// How long a replay waits with nothing to read before it decides the
/// server has gone quiet (shorter than [`crate::WAIT`], so that a server that
/// fails to close is reported as such).
pub const QUIET: Duration = Duration::from_secs(10);

/// The tag of the probe [`exchange_then_probe`] sends.
pub const PROBE_TAG: &str = "conformance-probe";

/// Connects to `addr` with a plain blocking socket, writes `input`, and
/// reads until the server closes the connection or `patience` passes with
/// nothing read (see [`QUIET`]). Blocking: run it on a thread of its own.
pub fn exchange_until_closed(addr: SocketAddr, input: &[u8], patience: Duration) -> Exchange {
    let mut stream = TcpStream::connect(addr).expect("connect to the server");
    stream.set_nodelay(true).ok();
    stream.write_all(input).expect("write the client's bytes");
    read_until(&mut stream, patience, |_| false)
}

/// Connects to `addr` with a plain blocking socket, writes `input` then a
/// `Sum` request tagged [`PROBE_TAG`], and reads until the answer to the
/// probe arrives (proof that the connection is still open and everything
/// before it has been written), the server closes, or `patience` passes
/// with nothing read.
/// Blocking: run it on a thread of its own.
pub fn exchange_then_probe(addr: SocketAddr, input: &[u8], patience: Duration) -> Exchange {
    let mut stream = TcpStream::connect(addr).expect("connect to the server");
    stream.set_nodelay(true).ok();
    let probe = AmpBox::from_pairs([
        ("_ask", PROBE_TAG),
        ("_command", "Sum"),
        ("a", "1"),
        ("b", "1"),
    ]);
    let mut bytes = input.to_vec();
    bytes.extend_from_slice(&probe.to_bytes().expect("the probe encodes"));
    stream.write_all(&bytes).expect("write the client's bytes");
    let mut decoder = Decoder::new(Limits::default());
    read_until(&mut stream, patience, |chunk| {
        decoder.feed(chunk).expect("the server's bytes decode");
        let mut answered = false;
        while let Some(b) = decoder.decode().expect("the server's bytes decode") {
            answered |= b.get_str("_answer") == Some(PROBE_TAG);
        }
        answered
    })
}

/// Reads from `stream` until `done` says so after a chunk, the stream ends,
/// or nothing arrives for `patience` (the quiet timeout).
fn read_until(
    stream: &mut TcpStream,
    patience: Duration,
    mut done: impl FnMut(&[u8]) -> bool,
) -> Exchange {
    let mut read = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut last = Instant::now();
    loop {
        let left = patience.saturating_sub(last.elapsed());
        if left.is_zero() {
            return Exchange {
                read,
                closed: false,
                error: Some(io::ErrorKind::TimedOut),
            };
        }
        stream
            .set_read_timeout(Some(left))
            .expect("set a read timeout");
        match stream.read(&mut chunk) {
            Ok(0) => {
                return Exchange {
                    read,
                    closed: true,
                    error: None,
                };
            }
            Ok(n) => {
                last = Instant::now();
                read.extend_from_slice(&chunk[..n]);
                if done(&chunk[..n]) {
                    return Exchange {
                        read,
                        closed: false,
                        error: None,
                    };
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                let kind = e.kind();
                let closed = matches!(
                    kind,
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                );
                return Exchange {
                    read,
                    closed,
                    error: Some(kind),
                };
            }
        }
    }
}
