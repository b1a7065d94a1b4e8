//! The `mux` target: a live connection (amp-engine, run to its end on one
//! thread) whose responders are an `amp_mux::Mux`'s, fed by a peer that
//! opens streams on its factories (`keep`: held without being read;
//! `drop`: dropped at once; `refuse`; unknown names), transmits on them
//! (by the identifiers the answers gave, or made up, with and without
//! `_ask`), disconnects them, sends raw bytes, answers the side under
//! test's own `Connect`s (so bytes may come for a stream before its
//! answer); while the side under test opens streams, reads some of what
//! its kept streams received, or drops them.
//!
//! The side under test's transport writes at once too (a few bytes at a
//! time, some writes refused), as a TCP stream's does.
//!
//! Checks: the connection ends once the input does (nothing waits for
//! ever); no panic; every byte written is whole boxes, each a request of
//! the streams' commands, an answer, or an error answer with one of the
//! codes the commands declare (or Twisted's
//! `UNKNOWN`, `UNHANDLED`); the peer opens no more streams than the cap
//! allows;
//! what a kept stream reads is bytes transmitted on it, in order (unless raw bytes were sent, which may shift the framing of the
//! boxes after them).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use amp_core::codec::decode_one;
use amp_core::{AmpBox, Limits};
use amp_engine::{DirectWrite, Options, ReadHalf, Responders, WriteHalf};
use amp_mux::{ConnectError, Mux, MuxStream};
use bytes::{Bytes, BytesMut};
use futures_util::io::AsyncReadExt;
use futures_util::{FutureExt, StreamExt};

use crate::input::Input;

/// The factory names a `Connect` picks from.
const FACTORIES: [&[u8]; 4] = [b"keep", b"drop", b"refuse", b"nope"];
/// Most actions read from one input.
const MAX_ACTIONS: usize = 64;
/// Most streams open at once.
const MAX_STREAMS: usize = 4;

/// One thing the peer (or the side under test) does.
enum Action {
    Connect(usize),
    /// A stream by the index of its identifier among those answered (or a
    /// made-up one past them), bytes, whether `_ask` is sent.
    Transmit(usize, Vec<u8>, bool),
    Disconnect(usize),
    Raw(Vec<u8>),
    /// The side under test reads up to this many bytes of a kept stream.
    Read(usize, usize),
    /// The side under test drops a kept stream.
    DropKept(usize),
    /// The side under test opens a stream on the peer.
    Open,
    /// The peer answers the side under test's oldest unanswered `Connect`:
    /// with a made-up identifier (the one `Transmit` makes of this index),
    /// or `NO_SUCH_FACTORY`.
    Answer(usize, bool),
}

fn actions(data: &[u8]) -> VecDeque<Action> {
    let mut input = Input::new(data);
    let mut out = VecDeque::new();
    while !input.is_empty() && out.len() < MAX_ACTIONS {
        out.push_back(match input.below(8) {
            0 => Action::Connect(input.below(FACTORIES.len())),
            1 => {
                let stream = input.below(16);
                let ask = input.u8() != 1;
                Action::Transmit(stream, input.bytes().to_vec(), ask)
            }
            2 => Action::Disconnect(input.below(8)),
            3 => Action::Raw(input.bytes().to_vec()),
            4 => Action::Read(input.below(8), usize::from(input.u16())),
            5 => Action::DropKept(input.below(8)),
            6 => Action::Open,
            _ => Action::Answer(input.below(16), input.u8() == 1),
        });
    }
    out
}

/// Everything written, shared with the checks.
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
    /// Writes at once too (as a TCP stream's half does), a few bytes at a
    /// time and refusing every third: the bytes written at once and by
    /// the writer must still be whole boxes, in order.
    fn direct(&self) -> Option<Arc<dyn DirectWrite>> {
        Some(Arc::new(Choppy {
            written: self.clone(),
            turn: AtomicUsize::new(0),
        }))
    }
}

/// [`Written`]'s writes at once: at most 5 bytes each, every third
/// refused with `WouldBlock`.
struct Choppy {
    written: Written,
    turn: AtomicUsize,
}

impl DirectWrite for Choppy {
    fn try_write(&self, bytes: &[u8]) -> io::Result<usize> {
        if self.turn.fetch_add(1, Ordering::Relaxed) % 3 == 2 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = bytes.len().min(5);
        self.written
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(&bytes[..n]);
        Ok(n)
    }
}

/// Returns `Pending` once (waking at once), so that the connection's
/// writer and responders run before the next action.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// What the side under test did with its streams, for the checks.
#[derive(Default)]
struct Kept {
    streams: Vec<MuxStream>,
    /// Bytes read from each kept stream, by its identifier.
    read: HashMap<Bytes, Vec<u8>>,
}

/// The peer: each read performs the next actions, until one sends bytes.
struct Peer {
    actions: VecDeque<Action>,
    written: Written,
    kept: Arc<Mutex<Kept>>,
    /// Bytes transmitted on each identifier, in order.
    sent: Arc<Mutex<HashMap<Bytes, Vec<u8>>>>,
    /// Raw bytes were sent: they may shift the framing of the boxes after
    /// them (a box they start takes the next one's bytes), so what was
    /// transmitted is no longer known.
    raw: Arc<AtomicBool>,
    tag: u64,
    /// Asks the side under test to open a stream.
    open: futures_channel::mpsc::UnboundedSender<()>,
    /// The side under test's `Connect` tags answered so far.
    answered: Vec<Bytes>,
    /// The indices of the identifiers given in those answers.
    given: Vec<usize>,
}

impl Peer {
    /// The identifiers the side under test answered `Connect` with.
    fn identifiers(&self) -> Vec<Bytes> {
        let written = self.written.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut at = &written[..];
        let mut ids = Vec::new();
        while let Ok(Some((b, used))) = decode_one(at, &Limits::default()) {
            at = &at[used..];
            if b.get(b"_answer").is_some()
                && let Some(id) = b.get(b"connection")
            {
                ids.push(Bytes::copy_from_slice(id));
            }
        }
        ids
    }

    fn request(&mut self, command: &str, pairs: &[(&str, Bytes)], ask: bool) -> Vec<u8> {
        let mut b = AmpBox::new();
        b.insert("_command", command.to_owned());
        if ask {
            self.tag += 1;
            b.insert("_ask", self.tag.to_string());
        }
        for (k, v) in pairs {
            b.insert(k.to_string(), v.clone());
        }
        b.to_bytes().map(|w| w.to_vec()).unwrap_or_default()
    }

    /// The tag of the side under test's oldest `Connect` not answered yet.
    fn unanswered_connect(&self) -> Option<Bytes> {
        let written = self.written.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut at = &written[..];
        while let Ok(Some((b, used))) = decode_one(at, &Limits::default()) {
            at = &at[used..];
            if b.get_str("_command") == Some("Connect")
                && let Some(tag) = b.get(b"_ask")
                && !self.answered.iter().any(|t| &t[..] == tag)
            {
                return Some(Bytes::copy_from_slice(tag));
            }
        }
        None
    }

    fn stream_id(&self, index: usize) -> Bytes {
        let ids = self.identifiers();
        ids.get(index)
            .cloned()
            .unwrap_or_else(|| Bytes::from(format!("{index:032x}")))
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ReadHalf for Peer {
    async fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        while let Some(action) = self.actions.pop_front() {
            // Before each action: what the last one set going runs.
            YieldOnce(false).await;
            let bytes = match action {
                Action::Connect(f) => self.request(
                    "Connect",
                    &[("factory", Bytes::from_static(FACTORIES[f]))],
                    true,
                ),
                Action::Transmit(stream, data, ask) => {
                    let id = self.stream_id(stream);
                    self.sent
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(id.clone())
                        .or_default()
                        .extend_from_slice(&data);
                    self.request(
                        "Transmit",
                        &[("connection", id), ("data", Bytes::from(data))],
                        ask,
                    )
                }
                Action::Disconnect(stream) => {
                    let id = self.stream_id(stream);
                    self.request("Disconnect", &[("connection", id)], true)
                }
                Action::Raw(bytes) => {
                    self.raw.store(true, Ordering::Relaxed);
                    bytes
                }
                Action::Read(stream, n) => {
                    let mut kept = self.kept();
                    let len = kept.streams.len();
                    if len > 0 {
                        let s = &mut kept.streams[stream % len];
                        let id = Bytes::copy_from_slice(s.connection());
                        let mut got = vec![0u8; n.max(1)];
                        if let Some(Ok(got_n)) = s.read(&mut got).now_or_never() {
                            kept.read
                                .entry(id)
                                .or_default()
                                .extend_from_slice(&got[..got_n]);
                        }
                    }
                    continue;
                }
                Action::Open => {
                    let _ = self.open.unbounded_send(());
                    continue;
                }
                Action::Answer(index, fail) => {
                    let Some(tag) = self.unanswered_connect() else {
                        continue;
                    };
                    self.answered.push(tag.clone());
                    // Each answer its own identifier: two streams under one
                    // would share what was sent.
                    let index = (index..).find(|i| !self.given.contains(i)).unwrap_or(index);
                    if !fail {
                        self.given.push(index);
                    }
                    let mut b = AmpBox::new();
                    if fail {
                        b.insert("_error", tag);
                        b.insert("_error_code", "NO_SUCH_FACTORY");
                        b.insert("_error_description", "none");
                    } else {
                        b.insert("_answer", tag);
                        b.insert("connection", format!("{index:032x}"));
                    }
                    b.to_bytes().map(|w| w.to_vec()).unwrap_or_default()
                }
                Action::DropKept(stream) => {
                    let mut kept = self.kept();
                    let len = kept.streams.len();
                    if len > 0 {
                        let s = kept.streams.remove(stream % len);
                        kept.read.remove(s.connection());
                    }
                    continue;
                }
            };
            if bytes.is_empty() {
                continue;
            }
            buf.extend_from_slice(&bytes);
            return Ok(bytes.len());
        }
        Ok(0)
    }
}

/// Runs the connection over the actions the input describes, then checks
/// what it wrote and what its streams got.
pub fn mux(data: &[u8]) {
    let window = 1 + usize::from(data.first().copied().unwrap_or(0)) * 16;
    let mux = Mux::with_window(window);
    mux.set_max_streams(MAX_STREAMS);
    let kept = Arc::new(Mutex::new(Kept::default()));
    let keep = Arc::clone(&kept);
    mux.listen("keep", move |stream| {
        keep.lock()
            .unwrap_or_else(|e| e.into_inner())
            .streams
            .push(stream);
        Ok(())
    });
    mux.listen("drop", |stream| {
        drop(stream);
        Ok(())
    });
    mux.listen("refuse", |_| Err(amp_mux::Refused("no".into())));
    mux.listen_any(|name, _| {
        Err(ConnectError::NoSuchFactory(format!(
            "no factory {}",
            name.escape_ascii()
        )))
    });
    let written = Written::default();
    let sent = Arc::new(Mutex::new(HashMap::new()));
    let raw = Arc::new(AtomicBool::new(false));
    let (open, opens) = futures_channel::mpsc::unbounded();
    let peer = Peer {
        actions: actions(data.get(1..).unwrap_or_default()),
        written: written.clone(),
        kept: Arc::clone(&kept),
        sent: Arc::clone(&sent),
        raw: Arc::clone(&raw),
        tag: 0,
        open,
        answered: Vec::new(),
        given: Vec::new(),
    };
    let responders = Responders::new()
        .include(mux.responders())
        .unwrap_or_default();
    let (handle, reading, writing) =
        amp_engine::start(peer, written.clone(), None, responders, Options::default());
    // The streams the side under test opens join the kept ones.
    let opened = Arc::new(AtomicUsize::new(0));
    let opener = {
        let (mux, handle, kept) = (mux.clone(), handle.clone(), Arc::clone(&kept));
        let opened = Arc::clone(&opened);
        opens.for_each_concurrent(None, move |()| {
            let (mux, handle, kept) = (mux.clone(), handle.clone(), Arc::clone(&kept));
            let opened = Arc::clone(&opened);
            async move {
                if let Ok(stream) = mux.open(&handle, "far").await {
                    opened.fetch_add(1, Ordering::Relaxed);
                    kept.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .streams
                        .push(stream);
                }
            }
        })
    };
    // The peer's yield before each action lets the others run first: they
    // are polled before it.
    futures_executor::block_on(futures_util::future::join3(opener, writing, reading));
    assert!(handle.is_closed(), "the connection outlived its input");

    // The cap limits the peer's opens; this side's own are its own to
    // make.
    let own = opened.load(Ordering::Relaxed);
    assert!(
        mux.streams() <= MAX_STREAMS + own,
        "{} streams open, the cap is {MAX_STREAMS} and this side opened {own}",
        mux.streams()
    );

    let written = written.0.lock().unwrap_or_else(|e| e.into_inner());
    let mut at = &written[..];
    while !at.is_empty() {
        let (b, used) = match decode_one(at, &Limits::default()) {
            Ok(Some(found)) => found,
            other => panic!("written bytes are not whole boxes: {other:?}"),
        };
        at = &at[used..];
        if let Some(code) = b.get_str("_error_code") {
            assert!(
                [
                    "NO_SUCH_FACTORY",
                    "CONNECTION_REFUSED",
                    "NO_SUCH_CONNECTION",
                    "UNKNOWN",
                    "UNHANDLED"
                ]
                .contains(&code),
                "unexpected error code {code}"
            );
        } else {
            // An answer, or a request of the side under test's own.
            assert!(
                b.get(b"_answer").is_some()
                    || ["Connect", "Transmit", "Disconnect"]
                        .iter()
                        .any(|c| b.get_str("_command") == Some(c)),
                "neither answer, nor error, nor a stream's request: {b:?}"
            );
        }
    }

    // What a kept stream read is, in order, bytes transmitted on its
    // identifier: a subsequence of them (a Transmit refused before the
    // stream was known, or after it was dropped, leaves its bytes out), when
    // the boxes sent are the ones the actions made.
    if raw.load(Ordering::Relaxed) {
        return;
    }
    let kept = kept.lock().unwrap_or_else(|e| e.into_inner());
    let sent = sent.lock().unwrap_or_else(|e| e.into_inner());
    for (id, read) in &kept.read {
        let sent = sent.get(id).map_or(&[][..], Vec::as_slice);
        let mut rest = sent.iter();
        assert!(
            read.iter().all(|b| rest.any(|s| s == b)),
            "stream {id:?} read {read:?}, not in the order it was sent ({sent:?})"
        );
    }
}
