//! Hostile peers and faults against a server on loopback TCP.
//!
//! Each test attacks a server with a raw `TcpStream` (bytes no AMP peer
//! would send, or a peer that misbehaves in time: trickling, never reading,
//! flooding) while a second, well-behaved client keeps calling `Sum` on the
//! same server. Each checks that the offending connection ends with the
//! typed error expected (seen from the server's side) and is closed (the
//! raw socket reads end-of-stream or a reset), that the other client's calls
//! keep answering, quickly, and that the process's memory (VmRSS) stays
//! bounded. The last tests are faults and load: connections reset or closed
//! with calls in flight in both directions (every pending call must fail
//! promptly), two peers flooding each other with large calls (every call
//! must be answered: no deadlock), a graceful shutdown of a server with
//! calls in flight (every one answered, later ones refused with a precise
//! error), and many connections reset, closed, or ended by their own
//! responder, after which the runtime's live tasks
//! (`Handle::metrics().num_alive_tasks()`) must be back where they were, no
//! responder left running (drop guards count them) and nothing panicked (a
//! panic hook counts).
//!
//! The server side is the shipped `amp_tokio::Server`: its
//! `on_connection` hook hands the test each server-side `Peer`, so the test
//! can await `closed()` and learn why the server ended each connection.
//!
//! Every test prints one line, `ROW | case | expected | observed | memory`,
//! from which `docs/reliability.md` takes its table:
//!
//! ```text
//! cargo test -p amp-tokio --test hostile -- --nocapture --test-threads=1
//! ```
//!
//! Full-size runs (see `docs/reliability.md`): `AMP_HOSTILE_CONNECTIONS`
//! (default 500; 10000 for the full run, with `ulimit -n` raised) and
//! `AMP_HOSTILE_SLOW_SECONDS` (default 4: how long the trickling peer sends
//! one byte per second).
//!
//! The tests run one at a time (a lock), as they measure the process's
//! memory; timeouts are generous, for a loaded two-core machine.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amp_conformance::commands::{Sum, SumArgs, Total};
use amp_core::values::{DateTime, Decimal};
use amp_core::{
    AmpBox, CallError, CodecError, Command, ConnectionError, Decoder, Limits, ProtocolError,
};
use amp_engine::SHUTTING_DOWN_ERROR_CODE;
use amp_tokio::{Options, Peer, Responders};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::{sleep, timeout};

/// Longest any single wait in these tests may take before it is a failure.
const WAIT: Duration = Duration::from_secs(30);
/// Most the process's memory may grow during one case.
const MAX_GROWTH_KIB: u64 = 64 * 1024;
/// Slowest answer the well-behaved client may see while a hostile peer is at
/// work (it is usually a few milliseconds).
const MAX_LATENCY: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------
// Commands

/// Unicode echo.
#[derive(Serialize, Deserialize, Debug)]
struct Text {
    text: String,
}
struct Echo;
impl Command for Echo {
    const NAME: &'static str = "Echo";
    type Arguments = Text;
    type Response = Text;
    type Error = Infallible;
}

/// Answers after `ms` milliseconds.
#[derive(Serialize, Deserialize, Debug)]
struct SlowArgs {
    ms: u64,
}
#[derive(Serialize, Deserialize, Debug)]
struct Empty {}
struct Slow;
impl Command for Slow {
    const NAME: &'static str = "Slow";
    type Arguments = SlowArgs;
    type Response = Empty;
    type Error = Infallible;
}

/// One optional argument of each type the argument-error cases break.
#[derive(Serialize, Deserialize, Debug)]
struct CheckArgs {
    flag: Option<bool>,
    when: Option<DateTime>,
    amount: Option<Decimal>,
    counts: Option<Vec<i64>>,
}
struct Check;
impl Command for Check {
    const NAME: &'static str = "Check";
    type Arguments = CheckArgs;
    type Response = Empty;
    type Error = Infallible;
}

/// Closes its own connection (after `ms` milliseconds), then returns its
/// result, which has nowhere to go.
struct Quit;
impl Command for Quit {
    const NAME: &'static str = "Quit";
    type Arguments = SlowArgs;
    type Response = Empty;
    type Error = Infallible;
}

/// Never answers.
struct Hang;
impl Command for Hang {
    const NAME: &'static str = "Hang";
    type Arguments = Empty;
    type Response = Empty;
    type Error = Infallible;
}

/// What the server's responders saw.
#[derive(Default)]
struct Stats {
    slow_running: AtomicUsize,
    slow_max_running: AtomicUsize,
    slow_done: AtomicUsize,
    /// `Quit` responders that returned their result (after closing).
    quit_returned: AtomicUsize,
}

fn responders(stats: Arc<Stats>) -> Responders {
    let quit_stats = Arc::clone(&stats);
    Responders::new()
        .responder(Sum, |_, a: SumArgs| async move {
            Ok::<_, Infallible>(Total {
                total: a.a.wrapping_add(a.b),
            })
        })
        .responder(Echo, |_, t: Text| async move { Ok::<_, Infallible>(t) })
        .responder(Slow, move |_, s: SlowArgs| {
            let stats = Arc::clone(&stats);
            async move {
                let now = stats.slow_running.fetch_add(1, Ordering::SeqCst) + 1;
                stats.slow_max_running.fetch_max(now, Ordering::SeqCst);
                // Counted down even if the responder is dropped mid-sleep.
                struct Done(Arc<Stats>);
                impl Drop for Done {
                    fn drop(&mut self) {
                        self.0.slow_running.fetch_sub(1, Ordering::SeqCst);
                    }
                }
                let done = Done(Arc::clone(&stats));
                sleep(Duration::from_millis(s.ms)).await;
                stats.slow_done.fetch_add(1, Ordering::SeqCst);
                drop(done);
                Ok::<_, Infallible>(Empty {})
            }
        })
        .responder(Check, |_, _: CheckArgs| async move {
            Ok::<_, Infallible>(Empty {})
        })
        .responder(Quit, move |ctx, q: SlowArgs| {
            let stats = Arc::clone(&quit_stats);
            async move {
                if q.ms > 0 {
                    sleep(Duration::from_millis(q.ms)).await;
                }
                ctx.peer.close();
                stats.quit_returned.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Infallible>(Empty {})
            }
        })
}

// ---------------------------------------------------------------------------
// The server under attack

/// A server on loopback that records, for each connection, why it ended,
/// and lends out the server side's `Peer` while it is open.
struct Harness {
    addr: SocketAddr,
    ended: Arc<Mutex<HashMap<SocketAddr, ConnectionError>>>,
    open: Arc<Mutex<HashMap<SocketAddr, Peer>>>,
    ended_changed: Arc<Notify>,
    stats: Arc<Stats>,
}

impl Harness {
    async fn start(options: Options) -> Harness {
        let ended = Arc::new(Mutex::new(HashMap::new()));
        let ended_changed = Arc::new(Notify::new());
        let open = Arc::new(Mutex::new(HashMap::new()));
        let stats = Arc::new(Stats::default());
        let (e, o, n, s) = (
            Arc::clone(&ended),
            Arc::clone(&open),
            Arc::clone(&ended_changed),
            Arc::clone(&stats),
        );
        // The shipped server, with a hook that keeps each server-side peer
        // and records why it ended.
        let server = amp_tokio::bind("127.0.0.1:0", move |_| responders(Arc::clone(&s)))
            .await
            .unwrap()
            .options(options)
            .on_connection(move |peer| {
                let peer_addr = peer.peer_addr().expect("a TCP peer has an address");
                o.lock().unwrap().insert(peer_addr, peer.clone());
                let (e, o, n, peer) =
                    (Arc::clone(&e), Arc::clone(&o), Arc::clone(&n), peer.clone());
                tokio::spawn(async move {
                    let reason = peer.closed().await;
                    drop(peer);
                    o.lock().unwrap().remove(&peer_addr);
                    e.lock().unwrap().insert(peer_addr, reason);
                    n.notify_waiters();
                });
            });
        let addr = server.local_addr().unwrap();
        tokio::spawn(server.run());
        Harness {
            addr,
            ended,
            open,
            ended_changed,
            stats,
        }
    }

    /// Why the server's connection from `client` ended (waits for it).
    async fn reason(&self, client: SocketAddr) -> ConnectionError {
        timeout(WAIT, async {
            loop {
                let changed = self.ended_changed.notified();
                if let Some(r) = self.ended.lock().unwrap().get(&client) {
                    return r.clone();
                }
                changed.await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the server did not close the connection from {client}"))
    }

    /// The server side of the connection from `client`, while it is open.
    fn server_peer(&self, client: SocketAddr) -> Option<Peer> {
        self.open.lock().unwrap().get(&client).cloned()
    }

    /// Whether the server's connection from `client` has ended.
    fn has_ended(&self, client: SocketAddr) -> bool {
        self.ended.lock().unwrap().contains_key(&client)
    }
}

// ---------------------------------------------------------------------------
// The well-behaved client

/// Calls `Sum` over and over on its own connection, recording latencies.
struct Bystander {
    calls: Arc<AtomicU64>,
    errors: Arc<Mutex<Vec<String>>>,
    max_micros: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
    /// Calls counted at the start of the current case.
    mark: u64,
}

impl Bystander {
    async fn start(addr: SocketAddr) -> Bystander {
        let peer = amp_tokio::connect(addr, Responders::new()).await.unwrap();
        let calls = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let max_micros = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, e, m, s) = (
            Arc::clone(&calls),
            Arc::clone(&errors),
            Arc::clone(&max_micros),
            Arc::clone(&stop),
        );
        let task = tokio::spawn(async move {
            let mut i: i64 = 0;
            while !s.load(Ordering::SeqCst) {
                i += 1;
                let started = Instant::now();
                match timeout(WAIT, peer.call::<Sum>(&SumArgs { a: i, b: 1 })).await {
                    Ok(Ok(Some(t))) if t.total == i + 1 => {
                        let us = started.elapsed().as_micros() as u64;
                        m.fetch_max(us, Ordering::SeqCst);
                        c.fetch_add(1, Ordering::SeqCst);
                    }
                    other => e.lock().unwrap().push(format!("{other:?}")),
                }
                sleep(Duration::from_millis(10)).await;
            }
        });
        let mut b = Bystander {
            calls,
            errors,
            max_micros,
            stop,
            task,
            mark: 0,
        };
        b.checkpoint().await;
        b
    }

    /// Starts a case: counts calls and the slowest answer from now on.
    fn begin(&mut self) {
        self.mark = self.calls.load(Ordering::SeqCst);
        self.max_micros.store(0, Ordering::SeqCst);
    }

    /// Waits for three more answered calls, then sums up the case so far:
    /// fails if any call failed or was slow.
    async fn checkpoint(&mut self) -> String {
        let target = self.calls.load(Ordering::SeqCst) + 3;
        timeout(WAIT, async {
            while self.calls.load(Ordering::SeqCst) < target {
                if !self.errors.lock().unwrap().is_empty() {
                    break;
                }
                sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the well-behaved client got no answer");
        let errors = self.errors.lock().unwrap().clone();
        assert!(
            errors.is_empty(),
            "the well-behaved client failed: {errors:?}"
        );
        let max = Duration::from_micros(self.max_micros.load(Ordering::SeqCst));
        assert!(
            max < MAX_LATENCY,
            "the well-behaved client waited {max:?} for an answer"
        );
        let calls = self.calls.load(Ordering::SeqCst) - self.mark;
        format!("other client: {calls} calls ok, slowest {}", ms(max))
    }

    async fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = timeout(WAIT, self.task).await;
    }
}

// ---------------------------------------------------------------------------
// Helpers

/// The process's resident memory, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn ms(d: Duration) -> String {
    if d < Duration::from_millis(10) {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{} ms", d.as_millis())
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Memory growth since `before`, checked against the bound, as the ROW's
/// last column.
fn memory(before: u64) -> String {
    let now = rss_kib();
    let growth = now.saturating_sub(before);
    assert!(
        growth < MAX_GROWTH_KIB,
        "memory grew by {} during the case",
        mib(growth)
    );
    format!("RSS +{} (now {})", mib(growth), mib(now))
}

/// Memory growth since `before`, reported but not bounded (for a case whose
/// own data is large).
fn memory_unchecked(before: u64) -> String {
    let now = rss_kib();
    format!(
        "RSS +{} (now {})",
        mib(now.saturating_sub(before)),
        mib(now)
    )
}

fn row(case: &str, expected: &str, observed: &str, memory: &str) {
    let cell = |s: &str| s.replace('|', "\\|");
    println!(
        "ROW | {} | {} | {} | {} |",
        cell(case),
        cell(expected),
        cell(observed),
        cell(memory)
    );
}

/// A short form of a value's `Debug`, for the table.
fn short(v: &impl std::fmt::Debug) -> String {
    let s = format!("{v:?}");
    if s.chars().count() > 140 {
        format!("{}…", s.chars().take(140).collect::<String>())
    } else {
        s
    }
}

/// One box on the wire.
fn wire(pairs: &[(&str, &[u8])]) -> Vec<u8> {
    let b: AmpBox = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), bytes::Bytes::copy_from_slice(v)))
        .collect();
    b.to_bytes().unwrap().to_vec()
}

/// Reads until the server closes: the bytes it sent, and how it closed.
async fn read_to_close(stream: &mut TcpStream) -> (Vec<u8>, &'static str) {
    let mut got = Vec::new();
    let how = timeout(WAIT, async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => return "EOF",
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return "reset",
                Err(e) => panic!("reading the hostile socket: {e}"),
            }
        }
    })
    .await
    .expect("the server did not close the hostile connection");
    (got, how)
}

fn decode_boxes(bytes: &[u8]) -> Vec<AmpBox> {
    let mut d = Decoder::new(Limits::default());
    d.feed(bytes).unwrap();
    let mut out = Vec::new();
    while let Some(b) = d.decode().expect("the server sent a malformed box") {
        out.push(b);
    }
    d.finish().expect("the server's output ends inside a box");
    out
}

/// Writes what it can of `data`: the server may close while it is written.
async fn write_tolerant(stream: &mut TcpStream, data: &[u8]) -> bool {
    stream.write_all(data).await.is_ok()
}

/// Runs one test: one at a time (they measure the process's memory), on a
/// two-thread runtime.
fn run<F: Future<Output = ()>>(test: impl FnOnce() -> F) {
    static SERIAL: Mutex<()> = Mutex::new(());
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(test());
    rt.shutdown_timeout(Duration::from_secs(5));
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------
// Malformed input: one raw connection sends bytes and, maybe, ends its side

/// What the server should answer before it closes.
enum Reply {
    /// Nothing at all.
    Nothing,
    /// `UNKNOWN` / `Unknown Error` for the request tagged `1`.
    Unknown,
}

/// Sends `bytes` (and ends the stream if `eof`), then checks that the server
/// replies as `reply` says, closes, and ends the connection with a reason
/// `expected` accepts; all while the well-behaved client keeps calling.
async fn malformed(
    case: &str,
    expected: &str,
    bytes: impl IntoIterator<Item = Vec<u8>>,
    eof: bool,
    reply: Reply,
    check: impl Fn(&ConnectionError) -> bool,
) {
    let h = Harness::start(Options::default()).await;
    let mut other = Bystander::start(h.addr).await;
    let before = rss_kib();
    other.begin();

    let mut raw = TcpStream::connect(h.addr).await.unwrap();
    let me = raw.local_addr().unwrap();
    let mut sent = 0usize;
    for chunk in bytes {
        if !write_tolerant(&mut raw, &chunk).await {
            break;
        }
        sent += chunk.len();
    }
    if eof {
        let _ = raw.shutdown().await;
    }
    let (got, how) = read_to_close(&mut raw).await;
    let reason = h.reason(me).await;
    assert!(check(&reason), "{case}: unexpected reason {reason:?}");
    let boxes = decode_boxes(&got);
    let replied = match reply {
        Reply::Nothing => {
            assert!(boxes.is_empty(), "{case}: the server answered {boxes:?}");
            String::new()
        }
        Reply::Unknown => {
            assert_eq!(
                boxes.len(),
                1,
                "{case}: expected one error box, got {boxes:?}"
            );
            let b = &boxes[0];
            assert_eq!(b.get_str("_error"), Some("1"), "{case}: {b:?}");
            assert_eq!(b.get_str("_error_code"), Some("UNKNOWN"), "{case}: {b:?}");
            assert_eq!(
                b.get_str("_error_description"),
                Some("Unknown Error"),
                "{case}: {b:?}"
            );
            "UNKNOWN error box received, then ".to_string()
        }
    };
    let summary = other.checkpoint().await;
    let observed = format!(
        "{}{} after {sent} bytes sent; server: {}; {summary}",
        replied,
        how,
        short(&reason)
    );
    row(case, expected, &observed, &memory(before));
    other.stop().await;
}

fn codec(reason: &ConnectionError) -> Option<&CodecError> {
    match reason {
        ConnectionError::Protocol(ProtocolError::Codec(e)) => Some(e),
        _ => None,
    }
}

fn protocol(reason: &ConnectionError) -> Option<&ProtocolError> {
    match reason {
        ConnectionError::Protocol(e) => Some(e),
        _ => None,
    }
}

fn unknown_error(reason: &ConnectionError) -> bool {
    matches!(reason, ConnectionError::FatalError { code, .. } if code == "UNKNOWN")
}

/// A request tagged `1` with these arguments.
fn request(command: &str, args: &[(&str, &[u8])]) -> Vec<u8> {
    let mut pairs: Vec<(&str, &[u8])> = vec![("_ask", b"1"), ("_command", command.as_bytes())];
    pairs.extend_from_slice(args);
    wire(&pairs)
}

#[test]
fn h01_key_length_prefix_over_255() {
    run(|| {
        malformed(
            "key-length prefix over 255 (`01 00`)",
            "codec error KeyLengthPrefix, closed, nothing sent back",
            [b"\x01\x00keykeykey".to_vec()],
            false,
            Reply::Nothing,
            |r| matches!(codec(r), Some(CodecError::KeyLengthPrefix { high: 1, .. })),
        )
    });
}

#[test]
fn h02_value_length_past_the_end_then_eof() {
    run(|| {
        malformed(
            "value length 65535 with 5 bytes after it, then EOF",
            "codec error Truncated, closed",
            [b"\x00\x01k\xff\xffshort".to_vec()],
            true,
            Reply::Nothing,
            |r| matches!(codec(r), Some(CodecError::Truncated { buffered: 10 })),
        )
    });
}

#[test]
fn h03_stream_ends_mid_box() {
    let mut bytes = request("Sum", &[("a", b"1"), ("b", b"2")]);
    bytes.truncate(bytes.len() - 2); // no terminator
    run(|| {
        malformed(
            "stream ends mid-box (a Sum request without its terminator)",
            "codec error Truncated, closed, the request not run",
            [bytes],
            true,
            Reply::Nothing,
            |r| matches!(codec(r), Some(CodecError::Truncated { .. })),
        )
    });
}

#[test]
fn h04_a_million_tiny_keys() {
    // 1,000,000 distinct 3-byte keys with empty values, 7 bytes each, made
    // as they are sent.
    let chunks = (0..1_000_000u32).collect::<Vec<_>>();
    let chunks: Vec<Vec<u8>> = chunks
        .chunks(8192)
        .map(|keys| {
            let mut out = Vec::with_capacity(keys.len() * 7);
            for k in keys {
                let [_, a, b, c] = k.to_be_bytes();
                out.extend_from_slice(&[0, 3, a, b, c, 0, 0]);
            }
            out
        })
        .collect();
    run(|| {
        malformed(
            "a box of 1,000,000 tiny keys (7 MB)",
            "codec error TooManyKeys at the 1,025th key, closed",
            chunks,
            false,
            Reply::Nothing,
            |r| matches!(codec(r), Some(CodecError::TooManyKeys { limit: 1024 })),
        )
    });
}

#[test]
fn h05_box_over_the_size_limit() {
    // Pairs of 65535-byte values: the 17th one's length prefix takes the
    // box past the 1 MiB limit, before its bytes arrive.
    let value = vec![b'v'; 65535];
    let chunks: Vec<Vec<u8>> = (0..64u8)
        .map(|i| {
            let mut out = vec![0, 2, b'k', b'a' + i % 26, 0xff, 0xff];
            if i >= 26 {
                out[3] = b'A' + (i - 26) % 26;
            }
            if i >= 52 {
                out[2] = b'x';
            }
            out.extend_from_slice(&value);
            out
        })
        .collect();
    run(|| {
        malformed(
            "a box declaring more than 1 MiB (65535-byte values, no terminator)",
            "codec error BoxTooLarge at the length prefix that passes 1 MiB, closed",
            chunks,
            false,
            Reply::Nothing,
            |r| {
                matches!(
                    codec(r),
                    Some(CodecError::BoxTooLarge { limit }) if *limit == Limits::DEFAULT_MAX_BOX_BYTES
                )
            },
        )
    });
}

#[test]
fn h06_duplicate_keys() {
    run(|| {
        malformed(
            "duplicate keys (a Sum request with `a` twice)",
            "codec error DuplicateKey, closed, the request not run",
            [b"\x00\x04_ask\x00\x011\x00\x08_command\x00\x03Sum\x00\x01a\x00\x011\x00\x01a\x00\x012\x00\x00".to_vec()],
            false,
            Reply::Nothing,
            |r| matches!(codec(r), Some(CodecError::DuplicateKey { key }) if key == "a"),
        )
    });
}

#[test]
fn h07_empty_box() {
    run(|| {
        malformed(
            "empty box (`00 00`)",
            "protocol error NotAmp, closed",
            [b"\x00\x00".to_vec()],
            false,
            Reply::Nothing,
            |r| matches!(protocol(r), Some(ProtocolError::NotAmp { keys }) if keys.is_empty()),
        )
    });
}

#[test]
fn h08_neither_request_nor_answer() {
    run(|| {
        malformed(
            "a box that is neither request nor answer (`hello: world`)",
            "protocol error NotAmp, closed",
            [wire(&[("hello", b"world")])],
            false,
            Reply::Nothing,
            |r| matches!(protocol(r), Some(ProtocolError::NotAmp { keys }) if keys.len() == 1),
        )
    });
}

#[test]
fn h09_answer_and_error() {
    run(|| {
        malformed(
            "both `_answer` and `_error`",
            "protocol error Ambiguous, closed",
            [wire(&[
                ("_answer", b"1"),
                ("_error", b"1"),
                ("_error_code", b"X"),
                ("_error_description", b"y"),
            ])],
            false,
            Reply::Nothing,
            |r| matches!(protocol(r), Some(ProtocolError::Ambiguous { .. })),
        )
    });
}

#[test]
fn h10_answer_for_a_tag_never_asked() {
    run(|| {
        malformed(
            "an answer for a tag never asked (`_answer: 7`)",
            "protocol error UnknownTag, closed",
            [wire(&[("_answer", b"7"), ("total", b"3")])],
            false,
            Reply::Nothing,
            |r| {
                matches!(
                    protocol(r),
                    Some(ProtocolError::UnknownTag { key: "_answer", .. })
                )
            },
        )
    });
}

#[test]
fn h11_request_reusing_an_outstanding_tag() {
    let mut bytes = request("Slow", &[("ms", b"10000")]);
    bytes.extend(request("Sum", &[("a", b"1"), ("b", b"2")]));
    run(|| {
        malformed(
            "a second request reusing the outstanding `_ask` tag of a running one",
            "protocol error DuplicateAsk, closed (running responder dropped, no answer)",
            [bytes],
            false,
            Reply::Nothing,
            |r| matches!(protocol(r), Some(ProtocolError::DuplicateAsk { tag }) if tag == "1"),
        )
    });
}

/// An argument that does not decode: Twisted answers `UNKNOWN` and closes.
fn argument_error(case: &str, command: &str, args: &[(&str, &[u8])]) {
    let bytes = request(command, args);
    run(|| {
        malformed(
            case,
            "UNKNOWN error box, then closed (FatalError UNKNOWN)",
            [bytes],
            false,
            Reply::Unknown,
            unknown_error,
        )
    });
}

#[test]
fn h12_invalid_utf8_for_unicode() {
    argument_error(
        "invalid UTF-8 for a Unicode argument (Echo `text: ff fe`)",
        "Echo",
        &[("text", b"\xff\xfe")],
    );
}

#[test]
fn h13_non_numeric_integer() {
    argument_error(
        "non-numeric Integer (Sum `a: abc`)",
        "Sum",
        &[("a", b"abc"), ("b", b"1")],
    );
}

#[test]
fn h14_overflowing_integer() {
    argument_error(
        "Integer overflowing i64 (Sum `a: 99999999999999999999`)",
        "Sum",
        &[("a", b"99999999999999999999"), ("b", b"1")],
    );
}

#[test]
fn h15_true_for_boolean() {
    argument_error(
        "`true` for a Boolean (Check `flag: true`)",
        "Check",
        &[("flag", b"true")],
    );
}

#[test]
fn h16_datetime_of_31_characters() {
    argument_error(
        "a 31-character DateTime (Check `when: 2012-01-23T12:34:56.054321-00:0`)",
        "Check",
        &[("when", b"2012-01-23T12:34:56.054321-00:0")],
    );
}

#[test]
fn h17_malformed_decimal() {
    argument_error(
        "a malformed Decimal (Check `amount: 1.2.3`)",
        "Check",
        &[("amount", b"1.2.3")],
    );
}

#[test]
fn h18_list_of_lying_lengths() {
    argument_error(
        "a ListOf(Integer) whose inner length lies (Check `counts: 00 01 31 00 05 32`)",
        "Check",
        &[("counts", b"\x00\x011\x00\x052")],
    );
}

// ---------------------------------------------------------------------------
// Misbehaving in time

#[test]
fn h19_one_byte_per_second() {
    let seconds = env_number("AMP_HOSTILE_SLOW_SECONDS", 4);
    run(|| async move {
        // amp_tokio::Server itself.
        let server = amp_tokio::bind("127.0.0.1:0", |_| responders(Arc::new(Stats::default())))
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        tokio::spawn(server.run());
        let mut other = Bystander::start(addr).await;
        let before = rss_kib();
        other.begin();

        let bytes = request("Sum", &[("a", b"1"), ("b", b"2")]);
        let mut raw = TcpStream::connect(addr).await.unwrap();
        let started = Instant::now();
        let trickled = (seconds as usize).min(bytes.len() - 1);
        for byte in &bytes[..trickled] {
            raw.write_all(std::slice::from_ref(byte)).await.unwrap();
            sleep(Duration::from_secs(1)).await;
        }
        raw.write_all(&bytes[trickled..]).await.unwrap();
        let mut d = Decoder::default();
        let mut buf = [0u8; 1024];
        let answer = timeout(WAIT, async {
            loop {
                let n = raw.read(&mut buf).await.unwrap();
                assert!(n > 0, "the server closed the trickling connection");
                d.feed(&buf[..n]).unwrap();
                if let Some(b) = d.decode().unwrap() {
                    return b;
                }
            }
        })
        .await
        .expect("the trickling peer got no answer");
        assert_eq!(answer.get_str("total"), Some("3"));
        let took = started.elapsed();
        let summary = other.checkpoint().await;
        row(
            &format!("a peer sending one byte per second ({trickled} s, then the rest)"),
            "no effect on the other connection; the slow request answered once complete",
            &format!(
                "answered `total: 3` {:.1} s after its first byte; {summary}",
                took.as_secs_f64()
            ),
            &memory(before),
        );
        other.stop().await;
    });
}

#[test]
fn h19b_one_byte_every_300_ms_against_an_unfinished_box_timeout() {
    run(|| async move {
        let limit = Duration::from_secs(1);
        let h = Harness::start(Options::default().unfinished_box_timeout(limit)).await;
        let mut other = Bystander::start(h.addr).await;
        let before = rss_kib();
        other.begin();

        let bytes = request("Sum", &[("a", b"1"), ("b", b"2")]);
        let mut raw = TcpStream::connect(h.addr).await.unwrap();
        let me = raw.local_addr().unwrap();
        let started = Instant::now();
        let mut sent = 0;
        let mut closed = None;
        let mut buf = [0u8; 64];
        // Never the last byte: the box stays unfinished.
        for byte in &bytes[..bytes.len() - 1] {
            if raw.write_all(std::slice::from_ref(byte)).await.is_err() {
                break;
            }
            sent += 1;
            // The server's end shows as the end of the stream (or a reset).
            if let Ok(r) = timeout(Duration::from_millis(300), raw.read(&mut buf)).await {
                assert!(!matches!(r, Ok(n) if n > 0), "an answer to half a box");
                closed = Some(started.elapsed());
                break;
            }
        }
        let closed = closed.expect("the trickling peer was never cut off");
        assert!(
            closed >= limit,
            "cut off after {closed:?}, before the timeout"
        );
        assert!(closed < limit * 3, "cut off only after {closed:?}");
        let reason = h.reason(me).await;
        // The bytes the server had when it gave up: what was sent, less any
        // byte still on its way then.
        assert!(
            matches!(reason, ConnectionError::BoxTimeout { timeout, buffered }
                if timeout == limit && (1..=sent).contains(&buffered)),
            "server: {reason:?}"
        );
        let summary = other.checkpoint().await;
        row(
            &format!(
                "a peer sending one byte every 300 ms, never the last, to a server with \
                 `unfinished_box_timeout({} s)`",
                limit.as_secs()
            ),
            "BoxTimeout, cut off between 1 and 2 timeouts after its first byte; no effect on the other connection",
            &format!(
                "cut off {:.1} s after its first byte ({sent} of {} bytes sent); server: {}; {summary}",
                closed.as_secs_f64(),
                bytes.len(),
                short(&reason)
            ),
            &memory(before),
        );
        other.stop().await;
    });
}

#[test]
fn h19c_a_peer_that_connects_and_says_nothing_against_an_idle_timeout() {
    run(|| async move {
        let limit = Duration::from_secs(1);
        let h = Harness::start(Options::default().idle_timeout(limit)).await;
        let mut other = Bystander::start(h.addr).await;
        let before = rss_kib();
        other.begin();

        let mut raw = TcpStream::connect(h.addr).await.unwrap();
        let me = raw.local_addr().unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 64];
        let end = timeout(WAIT, raw.read(&mut buf))
            .await
            .expect("the silent peer was never let go");
        assert!(
            !matches!(end, Ok(n) if n > 0),
            "bytes sent to a silent peer"
        );
        let closed = started.elapsed();
        assert!(
            closed >= limit,
            "let go after {closed:?}, before the timeout"
        );
        assert!(closed < limit * 3, "let go only after {closed:?}");
        let reason = h.reason(me).await;
        assert_eq!(reason, ConnectionError::IdleTimeout { timeout: limit });
        let summary = other.checkpoint().await;
        row(
            &format!(
                "a peer that connects and sends nothing, to a server with `idle_timeout({} s)`",
                limit.as_secs()
            ),
            "IdleTimeout, let go between 1 and 2 timeouts after connecting; no effect on the other connection (busy all along)",
            &format!(
                "let go {:.1} s after connecting; server: {}; {summary}",
                closed.as_secs_f64(),
                short(&reason)
            ),
            &memory(before),
        );
        other.stop().await;
    });
}

#[test]
fn h20_peer_that_never_reads() {
    run(|| async {
        let (limit, waiting) = (64 * 1024, 256 * 1024);
        let h = Harness::start(
            Options::default()
                .max_outbound_bytes(limit)
                .max_waiting_bytes(waiting),
        )
        .await;
        let mut other = Bystander::start(h.addr).await;
        let before = rss_kib();
        other.begin();

        // 16 KiB Echo requests, never reading the answers, until a write
        // stalls for 3 s (the server stopped reading) or 256 MiB went out.
        let text = "x".repeat(16 * 1024);
        let mut raw = TcpStream::connect(h.addr).await.unwrap();
        let me = raw.local_addr().unwrap();
        let mut sent = 0usize;
        let mut n = 0u64;
        let stalled = loop {
            n += 1;
            let tag = format!("{n:x}");
            let req = wire(&[
                ("_ask", tag.as_bytes()),
                ("_command", b"Echo"),
                ("text", text.as_bytes()),
            ]);
            match timeout(Duration::from_secs(3), raw.write_all(&req)).await {
                Ok(Ok(())) => sent += req.len(),
                Ok(Err(e)) => panic!("writing to the server: {e}"),
                Err(_) => break true,
            }
            if sent > 256 << 20 {
                break false;
            }
        };
        assert!(
            stalled,
            "the server kept reading: {sent} bytes of requests taken"
        );
        let peak = rss_kib();
        assert!(!h.has_ended(me), "the server closed a slow reader");
        let summary = other.checkpoint().await;
        drop(raw);
        let reason = h.reason(me).await;
        row(
            &format!(
                "a peer that never reads its answers (16 KiB Echo requests; outbound limit {} KiB, waiting limit {} KiB)",
                limit / 1024,
                waiting / 1024
            ),
            "outbound and waiting requests bounded, then reading paused; connection kept; memory flat",
            &format!(
                "writes stalled after {:.1} MiB of requests (kernel buffers); server stayed up until the peer left, then {}; {summary}",
                sent as f64 / (1 << 20) as f64,
                short(&reason)
            ),
            &format!(
                "{}; peak RSS +{}",
                memory(before),
                mib(peak.saturating_sub(before))
            ),
        );
        other.stop().await;
    });
}

#[test]
fn h21_flood_faster_than_responders() {
    run(|| async {
        let max_responders = 8;
        let h = Harness::start(Options::default().max_responders(max_responders)).await;
        let mut other = Bystander::start(h.addr).await;
        let before = rss_kib();
        other.begin();

        // 2000 requests of 10 ms each, written at once; 8 may run at a time.
        let requests = 2000u32;
        let mut flood = Vec::new();
        for n in 1..=requests {
            flood.extend(wire(&[
                ("_ask", format!("{n:x}").as_bytes()),
                ("_command", b"Slow"),
                ("ms", b"10"),
            ]));
        }
        let raw = TcpStream::connect(h.addr).await.unwrap();
        let (mut rd, mut wr) = raw.into_split();
        let started = Instant::now();
        let writer = tokio::spawn(async move {
            wr.write_all(&flood).await.unwrap();
            wr
        });
        let mut answered = HashSet::new();
        let mut d = Decoder::default();
        let mut buf = vec![0u8; 64 * 1024];
        timeout(WAIT * 2, async {
            while answered.len() < requests as usize {
                let n = rd.read(&mut buf).await.unwrap();
                assert!(n > 0, "the server closed the flooding connection");
                d.feed(&buf[..n]).unwrap();
                while let Some(b) = d.decode().unwrap() {
                    let tag = b.get_str("_answer").expect("an answer").to_owned();
                    assert!(answered.insert(tag), "answered twice");
                }
            }
        })
        .await
        .expect("not every flooded request was answered");
        let took = started.elapsed();
        let _wr = writer.await.unwrap();
        let max_running = h.stats.slow_max_running.load(Ordering::SeqCst);
        assert!(
            max_running <= max_responders,
            "{max_running} responders at once"
        );
        let summary = other.checkpoint().await;
        row(
            &format!(
                "a flood of {requests} Slow (10 ms) requests in one write, max_responders {max_responders}"
            ),
            "at most 8 responders at once, the rest waiting (bounded); all answered; memory flat",
            &format!(
                "all {} answered in {:.1} s, at most {max_running} running at once; {summary}",
                answered.len(),
                took.as_secs_f64()
            ),
            &memory(before),
        );
        other.stop().await;
    });
}

/// The soft limit on open files.
fn open_files_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX)
}

#[test]
fn h22_many_concurrent_connections() {
    let connections = env_number("AMP_HOSTILE_CONNECTIONS", 500) as usize;
    let fds = open_files_limit();
    assert!(
        fds >= 2 * connections as u64 + 256,
        "{connections} connections need {} descriptors (both ends are in this process); \
         the limit is {fds}: raise it with `ulimit -n`",
        2 * connections + 256
    );
    run(|| async move {
        let server = amp_tokio::bind("127.0.0.1:0", |_| responders(Arc::new(Stats::default())))
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        let stop = server.shutdown_handle();
        let running = tokio::spawn(server.run());
        let mut other = Bystander::start(addr).await;
        let before = rss_kib();
        other.begin();

        // Raw clients (a socket and a few bytes each, so the memory measured
        // is the server's): each connects, makes 3 Sum calls, stays open.
        let started = Instant::now();
        let gate = Arc::new(tokio::sync::Semaphore::new(256));
        let mut tasks = Vec::with_capacity(connections);
        for c in 0..connections {
            let gate = Arc::clone(&gate);
            tasks.push(tokio::spawn(async move {
                let permit = gate.acquire_owned().await.unwrap();
                let mut s = TcpStream::connect(addr).await.unwrap();
                let mut d = Decoder::default();
                let mut buf = [0u8; 256];
                for call in 1..=3u32 {
                    let tag = call.to_string();
                    let a = (c as i64).to_string();
                    s.write_all(&wire(&[
                        ("_ask", tag.as_bytes()),
                        ("_command", b"Sum"),
                        ("a", a.as_bytes()),
                        ("b", tag.as_bytes()),
                    ]))
                    .await
                    .unwrap();
                    let answer = loop {
                        if let Some(b) = d.decode().unwrap() {
                            break b;
                        }
                        let n = s.read(&mut buf).await.unwrap();
                        assert!(n > 0, "connection {c} closed by the server");
                        d.feed(&buf[..n]).unwrap();
                    };
                    let want = (c as i64 + i64::from(call)).to_string();
                    assert_eq!(answer.get_str("_answer"), Some(tag.as_str()));
                    assert_eq!(answer.get_str("total"), Some(want.as_str()));
                }
                drop(permit);
                s
            }));
        }
        let mut open = Vec::with_capacity(connections);
        for t in tasks {
            open.push(timeout(WAIT * 4, t).await.expect("a client hung").unwrap());
        }
        let took = started.elapsed();
        sleep(Duration::from_millis(200)).await;
        let idle = rss_kib();
        let per = idle.saturating_sub(before) as f64 * 1024.0 / connections as f64;
        // Memory grows with the number of connections: bounded per
        // connection instead.
        assert!(
            per < 64.0 * 1024.0,
            "{:.1} KiB per idle connection",
            per / 1024.0
        );
        let summary = other.checkpoint().await;
        let mem = memory_unchecked(before);
        drop(open);
        stop.shutdown(Duration::from_secs(5)).await;
        running.await.unwrap().unwrap();
        row(
            &format!("{connections} concurrent connections, 3 Sum calls each, then idle"),
            "every call answered, no errors; under 64 KiB per idle connection",
            &format!(
                "{} calls answered in {:.1} s; {summary}",
                3 * connections,
                took.as_secs_f64()
            ),
            &format!("{mem}; {:.1} KiB per idle connection", per / 1024.0),
        );
        other.stop().await;
    });
}

// ---------------------------------------------------------------------------
// Faults: the connection dies with calls in flight both ways

/// Forwards one connection to `target` (ends of stream included) until
/// `kill`, then drops both sockets with `SO_LINGER` 0: both ends get a
/// reset, no end-of-stream. Sends the address the server sees.
async fn proxy(
    listener: TcpListener,
    target: SocketAddr,
    kill: Arc<Notify>,
    server_side: tokio::sync::oneshot::Sender<SocketAddr>,
) {
    let (mut client, _) = listener.accept().await.unwrap();
    let mut server = TcpStream::connect(target).await.unwrap();
    let _ = server_side.send(server.local_addr().unwrap());
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = kill.notified() => {
            client.set_zero_linger().unwrap();
            server.set_zero_linger().unwrap();
        }
    }
    drop(client);
    drop(server);
}

/// A client with three `Slow` calls running on the server, and the server
/// with two calls running on the client (its `Hang`, which never answers),
/// loses its connection: reset both ways (`reset`), or closed by the
/// client. Every pending call on both sides must fail promptly with a
/// connection error, and the server's running responders must be dropped.
async fn in_flight(case: &str, reset: bool) {
    let h = Harness::start(Options::default()).await;
    let mut other = Bystander::start(h.addr).await;
    let before = rss_kib();
    other.begin();

    let hung = Arc::new(AtomicUsize::new(0));
    let client_responders = {
        let hung = Arc::clone(&hung);
        Responders::new().responder(Hang, move |_, _: Empty| {
            let hung = Arc::clone(&hung);
            async move {
                hung.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<()>().await;
                Ok::<_, Infallible>(Empty {})
            }
        })
    };
    // Through a proxy, which can reset both ends at once, and which tells
    // the address the server sees.
    let kill = Arc::new(Notify::new());
    let (server_side_tx, server_side) = tokio::sync::oneshot::channel();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_addr = listener.local_addr().unwrap();
    tokio::spawn(proxy(listener, h.addr, Arc::clone(&kill), server_side_tx));
    let client = amp_tokio::connect(proxy_addr, client_responders)
        .await
        .unwrap();
    let server_addr = server_side.await.unwrap();

    let mut client_calls = Vec::new();
    for _ in 0..3 {
        let c = client.clone();
        client_calls.push(tokio::spawn(async move {
            c.call::<Slow>(&SlowArgs { ms: 600_000 }).await.map(|_| ())
        }));
    }
    let server = timeout(WAIT, async {
        loop {
            if let Some(p) = h.server_peer(server_addr) {
                return p;
            }
            sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the server never accepted the connection");
    let mut server_calls = Vec::new();
    for _ in 0..2 {
        let s = server.clone();
        server_calls.push(tokio::spawn(async move {
            s.call::<Hang>(&Empty {}).await.map(|_| ())
        }));
    }
    drop(server);
    // Wait until all of it is in flight.
    timeout(WAIT, async {
        while h.stats.slow_running.load(Ordering::SeqCst) < 3 || hung.load(Ordering::SeqCst) < 2 {
            sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the calls never all started");

    let cut = Instant::now();
    if reset {
        kill.notify_one();
    } else {
        client.close();
    }
    let mut failures = Vec::new();
    for (side, calls) in [("client", client_calls), ("server", server_calls)] {
        for call in calls {
            let outcome = timeout(Duration::from_secs(10), call)
                .await
                .unwrap_or_else(|_| panic!("a {side} call did not fail promptly"))
                .unwrap();
            match outcome {
                Err(CallError::Connection(e)) => failures.push((side, cut.elapsed(), e)),
                other => panic!("a {side} call ended with {other:?}"),
            }
        }
    }
    let reason = h.reason(server_addr).await;
    timeout(WAIT, async {
        while h.stats.slow_running.load(Ordering::SeqCst) > 0 {
            sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the server's Slow responders kept running");
    let summary = other.checkpoint().await;
    let side = |name: &str| {
        let mine: Vec<_> = failures.iter().filter(|f| f.0 == name).collect();
        let slowest = mine.iter().map(|f| f.1).max().unwrap_or_default();
        format!(
            "{} {name} calls failed within {} ({})",
            mine.len(),
            ms(slowest),
            short(&mine[0].2)
        )
    };
    row(
        case,
        "every pending call on both sides fails promptly with a connection error",
        &format!(
            "{}; {}; server connection: {}; its 3 running responders dropped; {summary}",
            side("client"),
            side("server"),
            short(&reason),
        ),
        &memory(before),
    );
    other.stop().await;
}

#[test]
fn h23_reset_with_calls_in_flight() {
    run(|| {
        in_flight(
            "connection reset (RST both ways, SO_LINGER 0) with calls in flight in both directions",
            true,
        )
    });
}

#[test]
fn h24_client_drops_with_calls_in_flight() {
    run(|| {
        in_flight(
            "client closes (FIN) with calls in flight in both directions",
            false,
        )
    });
}

// ---------------------------------------------------------------------------
// Load both ways: two well-behaved peers flooding each other

#[test]
fn h25_large_calls_both_ways() {
    run(|| async {
        let h = Harness::start(Options::default()).await;
        let mut other = Bystander::start(h.addr).await;
        let before = rss_kib();
        other.begin();

        // The client serves Echo too; each side runs 1024 callers making 3
        // Echo calls of 60 KB each on the other, all at once.
        let echo_only = || {
            Responders::new().responder(Echo, |_, t: Text| async move { Ok::<_, Infallible>(t) })
        };
        let raw = TcpStream::connect(h.addr).await.unwrap();
        let me = raw.local_addr().unwrap();
        let client = amp_tokio::from_stream_with(raw, None, echo_only(), Options::default());
        let server = timeout(WAIT, async {
            loop {
                if let Some(p) = h.server_peer(me) {
                    return p;
                }
                sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the server never accepted the connection");
        let (callers, rounds, size) = (1024usize, 3usize, 60_000usize);
        let answered = Arc::new(AtomicUsize::new(0));
        let text: Arc<str> = "y".repeat(size).into();
        let mut tasks = Vec::new();
        for side in [client.clone(), server.clone()] {
            for _ in 0..callers {
                let (side, answered, text) =
                    (side.clone(), Arc::clone(&answered), Arc::clone(&text));
                tasks.push(tokio::spawn(async move {
                    for _ in 0..rounds {
                        // The arguments are encoded here and dropped: only
                        // the encoded box waits with the call.
                        let call = side.call::<Echo>(&Text {
                            text: text.to_string(),
                        });
                        let back = call.await.expect("an Echo call failed").unwrap();
                        assert_eq!(back.text.len(), text.len());
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                }));
            }
        }
        drop(server);
        let total = 2 * callers * rounds;
        let started = Instant::now();
        let mut last = (0, Instant::now());
        let mut peak = 0;
        while answered.load(Ordering::SeqCst) < total {
            sleep(Duration::from_millis(100)).await;
            peak = peak.max(rss_kib());
            let now = answered.load(Ordering::SeqCst);
            if now != last.0 {
                last = (now, Instant::now());
            }
            assert!(
                last.1.elapsed() < Duration::from_secs(15),
                "deadlocked: no call answered for 15 s, {now} of {total} answered"
            );
        }
        for t in tasks {
            t.await.unwrap();
        }
        let took = started.elapsed();
        let summary = other.checkpoint().await;
        client.close();
        let reason = h.reason(me).await;
        row(
            &format!(
                "two peers each making {callers} concurrent 60 KB Echo calls on the other ({rounds} rounds)"
            ),
            "every call answered (no deadlock with both outbound buffers full)",
            &format!(
                "all {total} answered in {:.1} s; then {}; {summary}",
                took.as_secs_f64(),
                short(&reason)
            ),
            &format!(
                "peak RSS +{} (the calls' own arguments: {} MiB); {}",
                mib(peak.saturating_sub(before)),
                (2 * callers * size) >> 20,
                memory_unchecked(before)
            ),
        );
        other.stop().await;
    });
}

// ---------------------------------------------------------------------------
// Graceful shutdown of a server under load

/// `amp_tokio::Server` with calls in flight on several connections is shut
/// down (`ShutdownHandle::shutdown`): the calls in flight complete with
/// their answers; while they run, calls on the same connections are refused
/// with a `SHUTTING_DOWN` error answer (the connection stays open) and new
/// connections are refused; then every connection closes (the clients see
/// `PeerClosed`, and calls fail with it), and `run` returns.
#[test]
fn h26_graceful_shutdown_under_load() {
    run(|| async {
        let stats = Arc::new(Stats::default());
        let s = Arc::clone(&stats);
        let server = amp_tokio::bind("127.0.0.1:0", move |_| responders(Arc::clone(&s)))
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        let stop = server.shutdown_handle();
        let running = tokio::spawn(server.run());
        let before = rss_kib();

        let (n_clients, per_client, slow_ms) = (8usize, 4usize, 3000u64);
        let grace = Duration::from_secs(20);
        let mut clients = Vec::new();
        for _ in 0..n_clients {
            let c = amp_tokio::connect(addr, Responders::new()).await.unwrap();
            let t = c
                .call::<Sum>(&SumArgs { a: 1, b: 2 })
                .await
                .unwrap()
                .unwrap();
            assert_eq!(t.total, 3, "served before the shutdown");
            clients.push(c);
        }
        let mut in_flight = Vec::new();
        for c in &clients {
            for _ in 0..per_client {
                let c = c.clone();
                in_flight.push(tokio::spawn(async move {
                    let started = Instant::now();
                    let outcome = c.call::<Slow>(&SlowArgs { ms: slow_ms }).await;
                    (outcome.map(|r| r.is_some()), started.elapsed())
                }));
            }
        }
        let total = n_clients * per_client;
        timeout(WAIT, async {
            while stats.slow_running.load(Ordering::SeqCst) < total {
                sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the Slow calls never all started");

        let asked = Instant::now();
        let stopping = {
            let stop = stop.clone();
            tokio::spawn(async move {
                stop.shutdown(grace).await;
                asked.elapsed()
            })
        };

        // New connections: refused once the listener is gone. One that got
        // in before is dropped; one caught in the closing listener's queue
        // is reset: try again.
        let refused = timeout(WAIT, async {
            loop {
                match TcpStream::connect(addr).await {
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
                    Err(e) => return e,
                    Ok(early) => drop(early),
                }
                sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .expect("the server kept accepting connections");
        assert_eq!(
            refused.kind(),
            std::io::ErrorKind::ConnectionRefused,
            "connecting during the shutdown: {refused}"
        );
        let refused_at = asked.elapsed();

        // Calls on the connections still open (their Slow calls running):
        // answered at once with SHUTTING_DOWN, and the connection stays.
        let mut refusals = Vec::new();
        for c in &clients {
            let sent = Instant::now();
            let outcome = timeout(WAIT, c.call::<Sum>(&SumArgs { a: 1, b: 2 }))
                .await
                .expect("a call during the shutdown hung");
            match outcome {
                Err(CallError::Remote(e)) if e.code == SHUTTING_DOWN_ERROR_CODE => {
                    refusals.push((e, sent.elapsed()))
                }
                other => panic!("a call during the shutdown ended with {other:?}"),
            }
            assert!(
                !c.is_closed(),
                "the SHUTTING_DOWN answer closed the connection"
            );
        }
        assert_eq!(
            stats.slow_done.load(Ordering::SeqCst),
            0,
            "a Slow call finished before the calls made during the shutdown were answered: \
             they did not meet an open, draining connection"
        );
        let refused_calls_at = asked.elapsed();

        // Every call in flight completes with its answer.
        let mut took = Vec::new();
        for t in in_flight {
            let (outcome, elapsed) = timeout(WAIT, t)
                .await
                .expect("a call in flight hung")
                .unwrap();
            match outcome {
                Ok(true) => took.push(elapsed),
                other => panic!("a Slow call in flight ended with {other:?}"),
            }
        }
        let stop_took = timeout(WAIT, stopping)
            .await
            .expect("the shutdown did not finish")
            .unwrap();
        timeout(WAIT, running)
            .await
            .expect("run did not return")
            .unwrap()
            .expect("run failed");
        assert!(
            stop_took < grace,
            "the shutdown took the whole grace period"
        );

        // Then every connection is closed: calls fail with its reason.
        let mut after = Vec::new();
        for c in &clients {
            let reason = timeout(WAIT, c.closed())
                .await
                .expect("the server did not close a connection");
            assert_eq!(
                reason,
                ConnectionError::PeerClosed,
                "how a connection ended"
            );
            match c.call::<Sum>(&SumArgs { a: 1, b: 2 }).await {
                Err(CallError::Connection(e)) => after.push(e),
                other => panic!("a call after the close ended with {other:?}"),
            }
        }
        assert!(
            after.iter().all(|e| *e == ConnectionError::PeerClosed),
            "calls after the close: {after:?}"
        );
        let shortest = took.iter().min().copied().unwrap_or_default();
        let longest = took.iter().max().copied().unwrap_or_default();
        let slowest_refusal = refusals.iter().map(|r| r.1).max().unwrap_or_default();
        row(
            &format!(
                "graceful shutdown (grace {} s) of `Server` with {n_clients} clients × {per_client} \
                 Slow ({} s) calls in flight",
                grace.as_secs(),
                slow_ms / 1000
            ),
            "every call in flight answered; meanwhile calls on the open connections get a \
             SHUTTING_DOWN error answer (connection kept) and connecting is refused; then every \
             connection closes (calls fail with PeerClosed) and `run` returns",
            &format!(
                "{} of {total} answered ({:.2}–{:.2} s); connect refused ({:?}) {} after the \
                 stop; {} calls during it: {} \"{}\" within {} each, connection kept, by {} \
                 after the stop; `run` returned Ok {:.2} s after the stop; then {} clients \
                 closed with PeerClosed, calls: Connection(PeerClosed)",
                took.len(),
                shortest.as_secs_f64(),
                longest.as_secs_f64(),
                refused.kind(),
                ms(refused_at),
                refusals.len(),
                SHUTTING_DOWN_ERROR_CODE,
                refusals[0].0.description,
                ms(slowest_refusal),
                ms(refused_calls_at),
                stop_took.as_secs_f64(),
                after.len(),
            ),
            &memory(before),
        );
    });
}

// ---------------------------------------------------------------------------
// Leaks: every task and responder of a connection goes when it ends

/// Connections each leak case runs through.
const LEAK_CONNECTIONS: usize = 200;
/// How many of them are open at once.
const LEAK_BATCH: usize = 20;

/// Tasks alive on the test's runtime (spawned and not finished).
fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Waits until no more tasks are alive than `baseline`; how long it took.
async fn tasks_back_to(baseline: usize, what: &str) -> Duration {
    let started = Instant::now();
    timeout(WAIT, async {
        while alive_tasks() > baseline {
            sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "{what}: {} tasks still alive, {baseline} before",
            alive_tasks()
        )
    });
    started.elapsed()
}

/// Panics so far, anywhere in the process: the runtime catches a spawned
/// task's panic, so a hook counts them.
fn panics() -> usize {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            COUNT.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
    COUNT.load(Ordering::SeqCst)
}

/// Counts down a counter when dropped.
struct Counted(Arc<AtomicUsize>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A client's responders: `Hang`, counted in `live` while it runs.
fn hanging(live: &Arc<AtomicUsize>) -> Responders {
    let live = Arc::clone(live);
    Responders::new().responder(Hang, move |_, _: Empty| {
        let live = Arc::clone(&live);
        async move {
            live.fetch_add(1, Ordering::SeqCst);
            let _running = Counted(live);
            std::future::pending::<()>().await;
            Ok::<_, Infallible>(Empty {})
        }
    })
}

/// Waits until `cond` holds.
async fn until(what: &str, cond: impl Fn() -> bool) {
    timeout(WAIT, async {
        while !cond() {
            sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}"));
}

/// Tallies reasons by their `Debug` form: "A ×3, B ×1".
#[derive(Default)]
struct Tally(std::collections::BTreeMap<String, usize>);
impl Tally {
    fn add(&mut self, v: &impl std::fmt::Debug) {
        *self.0.entry(short(v)).or_default() += 1;
    }
    fn text(&self) -> String {
        let parts: Vec<String> = self.0.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
        parts.join(", ")
    }
}

/// What the connections of a leak case saw.
#[derive(Default)]
struct Seen {
    /// Calls that failed with a connection error, by side and reason.
    client_calls: Tally,
    server_calls: Tally,
    /// How the server's connections ended.
    server: Tally,
    /// Slowest call failure after its connection was cut.
    slowest: Duration,
    /// Most tasks alive at once.
    peak_tasks: usize,
}

/// `n` connections at once, each with 3 `Slow` calls of the client's and 2
/// `Hang` calls of the server's in flight, then all reset (through a proxy,
/// RST both ways) or closed by the client (FIN). Every call must fail with
/// a connection error.
async fn in_flight_batch(
    h: &Harness,
    hung: &Arc<AtomicUsize>,
    n: usize,
    reset: bool,
    seen: &mut Seen,
) {
    until("responders of an earlier batch still running", || {
        h.stats.slow_running.load(Ordering::SeqCst) == 0 && hung.load(Ordering::SeqCst) == 0
    })
    .await;
    let mut conns = Vec::new();
    for _ in 0..n {
        let kill = Arc::new(Notify::new());
        let (client, server_addr) = if reset {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let proxy_addr = listener.local_addr().unwrap();
            tokio::spawn(proxy(listener, h.addr, Arc::clone(&kill), tx));
            let client = amp_tokio::connect(proxy_addr, hanging(hung)).await.unwrap();
            (client, rx.await.unwrap())
        } else {
            let raw = TcpStream::connect(h.addr).await.unwrap();
            let me = raw.local_addr().unwrap();
            let client = amp_tokio::from_stream_with(raw, None, hanging(hung), Options::default());
            (client, me)
        };
        let server = timeout(WAIT, async {
            loop {
                if let Some(p) = h.server_peer(server_addr) {
                    return p;
                }
                sleep(Duration::from_millis(2)).await;
            }
        })
        .await
        .expect("the server never accepted a connection");
        let mut calls = Vec::new();
        for _ in 0..3 {
            let c = client.clone();
            calls.push((
                "client",
                tokio::spawn(
                    async move { c.call::<Slow>(&SlowArgs { ms: 600_000 }).await.map(|_| ()) },
                ),
            ));
        }
        for _ in 0..2 {
            let s = server.clone();
            calls.push((
                "server",
                tokio::spawn(async move { s.call::<Hang>(&Empty {}).await.map(|_| ()) }),
            ));
        }
        drop(server);
        conns.push((kill, client, server_addr, calls));
    }
    until("the calls never all started", || {
        h.stats.slow_running.load(Ordering::SeqCst) == 3 * n && hung.load(Ordering::SeqCst) == 2 * n
    })
    .await;
    seen.peak_tasks = seen.peak_tasks.max(alive_tasks());
    let cut = Instant::now();
    for (kill, client, ..) in &conns {
        if reset {
            kill.notify_one();
        } else {
            client.close();
        }
    }
    for (_, client, server_addr, calls) in conns {
        for (side, call) in calls {
            let outcome = timeout(WAIT, call)
                .await
                .unwrap_or_else(|_| panic!("a {side} call did not fail"))
                .unwrap();
            match outcome {
                Err(CallError::Connection(e)) if side == "client" => seen.client_calls.add(&e),
                Err(CallError::Connection(e)) => seen.server_calls.add(&e),
                other => panic!("a {side} call ended with {other:?}"),
            }
        }
        seen.slowest = seen.slowest.max(cut.elapsed());
        seen.server.add(&h.reason(server_addr).await);
        drop(client);
    }
}

/// The ROW's observed column for a leak case.
fn leak_summary(seen: &Seen, baseline: usize, settled: &str, summary: &str) -> String {
    format!(
        "client calls: {}; server calls: {}; server connections: {}; slowest failure {}; \
         live tasks {baseline} before, {} at the peak, {} after ({settled}); \
         0 responders left running; no panic; {summary}",
        seen.client_calls.text(),
        seen.server_calls.text(),
        seen.server.text(),
        ms(seen.slowest),
        seen.peak_tasks,
        alive_tasks(),
    )
}

/// Connections reset with calls in flight both ways, many times over: the
/// runtime's live tasks come back to what they were, no responder is left
/// running on either side, nothing panics.
#[test]
fn h27_no_task_left_after_resets() {
    run(|| async {
        let h = Harness::start(Options::default()).await;
        let mut other = Bystander::start(h.addr).await;
        let before = rss_kib();
        other.begin();
        let panicked = panics();
        sleep(Duration::from_millis(50)).await;
        let baseline = alive_tasks();
        let hung = Arc::new(AtomicUsize::new(0));
        let mut seen = Seen::default();
        for _ in 0..LEAK_CONNECTIONS / LEAK_BATCH {
            in_flight_batch(&h, &hung, LEAK_BATCH, true, &mut seen).await;
        }
        let settled = tasks_back_to(baseline, "after the resets").await;
        until("responders still running after the resets", || {
            h.stats.slow_running.load(Ordering::SeqCst) == 0 && hung.load(Ordering::SeqCst) == 0
        })
        .await;
        assert_eq!(panics(), panicked, "something panicked");
        let summary = other.checkpoint().await;
        row(
            &format!(
                "{LEAK_CONNECTIONS} connections reset (RST both ways), {LEAK_BATCH} at a time, \
                 each with 3 + 2 calls in flight both ways: tasks counted"
            ),
            "every pending call fails with a connection error; the runtime's live tasks back \
             to the baseline; no responder left running; no panic",
            &leak_summary(
                &seen,
                baseline,
                &format!("{} to settle", ms(settled)),
                &summary,
            ),
            &memory(before),
        );
        other.stop().await;
    });
}

/// Connections closed by the client with calls in flight both ways, and
/// connections closed normally (their calls answered, the last handle
/// dropped), many times over: the live tasks come back to what they were.
#[test]
fn h28_no_task_left_after_closes() {
    run(|| async {
        let h = Harness::start(Options::default()).await;
        let mut other = Bystander::start(h.addr).await;
        let before = rss_kib();
        other.begin();
        let panicked = panics();
        sleep(Duration::from_millis(50)).await;
        let baseline = alive_tasks();
        let hung = Arc::new(AtomicUsize::new(0));
        let mut seen = Seen::default();
        for _ in 0..LEAK_CONNECTIONS / LEAK_BATCH {
            in_flight_batch(&h, &hung, LEAK_BATCH, false, &mut seen).await;
        }
        let settled_mid_call = tasks_back_to(baseline, "after the closes mid-call").await;

        // Normal closes: three calls answered, then the last handle dropped.
        let mut answered = 0usize;
        for _ in 0..LEAK_CONNECTIONS / LEAK_BATCH {
            let mut batch = Vec::new();
            for _ in 0..LEAK_BATCH {
                let raw = TcpStream::connect(h.addr).await.unwrap();
                let me = raw.local_addr().unwrap();
                let client =
                    amp_tokio::from_stream_with(raw, None, Responders::new(), Options::default());
                batch.push((
                    me,
                    tokio::spawn(async move {
                        for i in 0..3 {
                            let t = client.call::<Sum>(&SumArgs { a: i, b: 1 }).await;
                            assert_eq!(t.unwrap().unwrap().total, i + 1);
                        }
                        // `client`, the last handle, is dropped here.
                    }),
                ));
            }
            seen.peak_tasks = seen.peak_tasks.max(alive_tasks());
            for (me, task) in batch {
                timeout(WAIT, task).await.expect("a client hung").unwrap();
                answered += 3;
                seen.server.add(&h.reason(me).await);
            }
        }
        let settled = tasks_back_to(baseline, "after the normal closes").await;
        until("responders still running after the closes", || {
            h.stats.slow_running.load(Ordering::SeqCst) == 0 && hung.load(Ordering::SeqCst) == 0
        })
        .await;
        assert_eq!(panics(), panicked, "something panicked");
        let summary = other.checkpoint().await;
        row(
            &format!(
                "{LEAK_CONNECTIONS} connections closed by the client (FIN) with 3 + 2 calls in \
                 flight both ways, then {LEAK_CONNECTIONS} closed normally after 3 answered calls \
                 (last handle dropped), {LEAK_BATCH} at a time: tasks counted"
            ),
            "every pending call fails with a connection error, every other call answered; the \
             runtime's live tasks back to the baseline after each; no responder left running; \
             no panic",
            &format!(
                "{answered} calls answered; {}",
                leak_summary(
                    &seen,
                    baseline,
                    &format!(
                        "{} to settle after the closes mid-call, {} after the normal closes",
                        ms(settled_mid_call),
                        ms(settled)
                    ),
                    &summary
                ),
            ),
            &memory(before),
        );
        other.stop().await;
    });
}

/// With the `tracing` feature: how many "responder result dropped" events
/// the engine has logged so far, seen by a minimal subscriber of the
/// test's own (installed as the global default on first use).
#[cfg(feature = "tracing")]
fn dropped_results_logged() -> usize {
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    static COUNT: AtomicUsize = AtomicUsize::new(0);
    static INSTALL: std::sync::Once = std::sync::Once::new();

    struct Counter;
    struct Message(bool);
    impl Visit for Message {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" && format!("{value:?}") == "responder result dropped" {
                self.0 = true;
            }
        }
    }
    impl Subscriber for Counter {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut m = Message(false);
            event.record(&mut m);
            if m.0 {
                COUNT.fetch_add(1, Ordering::SeqCst);
            }
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
    INSTALL.call_once(|| {
        tracing::subscriber::set_global_default(Counter)
            .expect("a global subscriber is set already")
    });
    COUNT.load(Ordering::SeqCst)
}

/// A responder's result that has nowhere to go: the responder closes its
/// own connection, then returns. The result is dropped (with the `tracing`
/// feature, logged), nothing panics, the caller's call fails with the
/// connection's end, and no task is left behind. Half the responders return
/// at their first poll, half after a 20 ms sleep (the two ways a result
/// reaches the engine).
#[test]
fn h29_result_dropped_when_its_connection_ended() {
    run(|| async {
        let h = Harness::start(Options::default()).await;
        let mut other = Bystander::start(h.addr).await;
        let before = rss_kib();
        other.begin();
        let panicked = panics();
        #[cfg(feature = "tracing")]
        let logged_before = dropped_results_logged();
        sleep(Duration::from_millis(50)).await;
        let baseline = alive_tasks();
        let mut seen = Seen::default();
        for b in 0..LEAK_CONNECTIONS / LEAK_BATCH {
            let mut batch = Vec::new();
            for i in 0..LEAK_BATCH {
                let raw = TcpStream::connect(h.addr).await.unwrap();
                let me = raw.local_addr().unwrap();
                let client =
                    amp_tokio::from_stream_with(raw, None, Responders::new(), Options::default());
                let ms = if (b * LEAK_BATCH + i) % 2 == 0 { 0 } else { 20 };
                batch.push((
                    me,
                    tokio::spawn(
                        async move { client.call::<Quit>(&SlowArgs { ms }).await.map(|_| ()) },
                    ),
                ));
            }
            seen.peak_tasks = seen.peak_tasks.max(alive_tasks());
            for (me, task) in batch {
                match timeout(WAIT, task)
                    .await
                    .expect("a Quit call hung")
                    .unwrap()
                {
                    Err(CallError::Connection(e)) => seen.client_calls.add(&e),
                    other => panic!("a Quit call ended with {other:?}"),
                }
                seen.server.add(&h.reason(me).await);
            }
        }
        let returned = h.stats.quit_returned.load(Ordering::SeqCst);
        assert_eq!(
            returned, LEAK_CONNECTIONS,
            "Quit responders that returned a result"
        );
        let settled = tasks_back_to(baseline, "after the dropped results").await;
        assert_eq!(panics(), panicked, "something panicked");
        #[cfg(feature = "tracing")]
        let logged = {
            let n = dropped_results_logged() - logged_before;
            assert_eq!(n, LEAK_CONNECTIONS, "\"responder result dropped\" events");
            format!("{n} logged (\"responder result dropped\")")
        };
        #[cfg(not(feature = "tracing"))]
        let logged = "not logged (no `tracing` feature)".to_owned();
        let summary = other.checkpoint().await;
        row(
            &format!(
                "{LEAK_CONNECTIONS} responders closing their own connection, then returning a \
                 result (half at once, half after 20 ms), {LEAK_BATCH} at a time"
            ),
            "each result dropped (logged under `tracing`), no panic; the caller's call fails \
             with a connection error; the runtime's live tasks back to the baseline",
            &format!(
                "{returned} results returned and dropped, {logged}, none answered; caller calls: {}; \
                 server connections: {}; live tasks {baseline} before, {} at the peak, {} after \
                 ({} to settle); no panic; {summary}",
                seen.client_calls.text(),
                seen.server.text(),
                seen.peak_tasks,
                alive_tasks(),
                ms(settled)
            ),
            &memory(before),
        );
        other.stop().await;
    });
}
