//! The server under attack, its responders, and what a raw hostile socket
//! needs.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use amp_core::{AmpBox, ConnectionError, Decoder, Limits};
use amp_engine::ShutdownHandle;
use async_net::TcpStream;
use event_listener::Event;
use futures_util::io::{AsyncReadExt, AsyncWriteExt};

use crate::commands::{
    Check, CheckArgs, Echo, Empty, Quit, Slow, SlowArgs, Sum, SumArgs, Text, add,
};
use crate::{Options, Peer, Responders, Runtime, ServerSetup, WAIT, timeout};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the server's responders saw.
#[derive(Default)]
pub struct Stats {
    /// `Slow` responders running now (counted down even when dropped).
    pub slow_running: AtomicUsize,
    /// Most `Slow` responders running at once.
    pub slow_max_running: AtomicUsize,
    /// `Slow` responders that finished.
    pub slow_done: AtomicUsize,
    /// `Quit` responders that returned their result (after closing).
    pub quit_returned: AtomicUsize,
}

/// The server's responders: `Sum`, a Unicode `Echo`, `Slow` (answers after
/// n ms, counting how many run at once), `Check` (optional Boolean,
/// DateTime, Decimal and ListOf(Integer) arguments) and `Quit` (closes its
/// own connection, then returns).
pub fn responders<R: Runtime>(rt: &R, stats: Arc<Stats>) -> Responders {
    let quit_stats = Arc::clone(&stats);
    let (slow_rt, quit_rt) = (rt.clone(), rt.clone());
    Responders::new()
        .responder(Sum, |_, a: SumArgs| async move { add(&a) })
        .responder(Echo, |_, t: Text| async move { Ok::<_, Infallible>(t) })
        .responder(Slow, move |_, s: SlowArgs| {
            let stats = Arc::clone(&stats);
            let sleep = slow_rt.sleep(Duration::from_millis(s.ms));
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
                sleep.await;
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
            let rt = quit_rt.clone();
            async move {
                if q.ms > 0 {
                    rt.sleep(Duration::from_millis(q.ms)).await;
                }
                ctx.peer.shutdown(std::time::Duration::ZERO);
                stats.quit_returned.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Infallible>(Empty {})
            }
        })
}

/// The binding's server on loopback, serving [`responders`], that records
/// for each connection why it ended and lends out the server side's `Peer`
/// while it is open (its `on_connection` hook). Asked to stop when dropped.
pub struct Harness<R: Runtime> {
    rt: R,
    /// Where it listens.
    pub addr: SocketAddr,
    ended: Arc<Mutex<HashMap<SocketAddr, ConnectionError>>>,
    open: Arc<Mutex<HashMap<SocketAddr, Peer>>>,
    ended_changed: Arc<Event>,
    /// What its responders saw.
    pub stats: Arc<Stats>,
    stop: ShutdownHandle,
}

impl<R: Runtime> Harness<R> {
    /// Starts it with `options` for every connection.
    pub async fn start(rt: &R, options: Options) -> Harness<R> {
        let ended = Arc::new(Mutex::new(HashMap::new()));
        let ended_changed = Arc::new(Event::new());
        let open = Arc::new(Mutex::new(HashMap::new()));
        let stats = Arc::new(Stats::default());
        let (e, o, n, hook_rt) = (
            Arc::clone(&ended),
            Arc::clone(&open),
            Arc::clone(&ended_changed),
            rt.clone(),
        );
        // A hook that keeps each server-side peer and records why it ended.
        let hook = Arc::new(move |peer: &Peer| {
            let peer_addr = peer.peer_addr().expect("a TCP peer has an address");
            lock(&o).insert(peer_addr, peer.clone());
            let (e, o, n, peer) = (Arc::clone(&e), Arc::clone(&o), Arc::clone(&n), peer.clone());
            hook_rt.spawn_detached(Box::pin(async move {
                let reason = peer.closed().await;
                drop(peer);
                lock(&o).remove(&peer_addr);
                lock(&e).insert(peer_addr, reason);
                n.notify(usize::MAX);
            }));
        });
        let (factory_rt, s) = (rt.clone(), Arc::clone(&stats));
        let served = rt
            .serve_with(
                Arc::new(move |_| responders(&factory_rt, Arc::clone(&s))),
                ServerSetup {
                    options,
                    on_connection: Some(hook),
                    ..ServerSetup::default()
                },
            )
            .await
            .expect("start the server");
        Harness {
            rt: rt.clone(),
            addr: served.addr,
            ended,
            open,
            ended_changed,
            stats,
            stop: served.stop,
        }
    }

    /// Why the server's connection from `client` ended (waits for it).
    pub async fn reason(&self, client: SocketAddr) -> ConnectionError {
        timeout(&self.rt, WAIT, async {
            loop {
                let changed = self.ended_changed.listen();
                if let Some(r) = lock(&self.ended).get(&client) {
                    return r.clone();
                }
                changed.await;
            }
        })
        .await
        .unwrap_or_else(|| panic!("the server did not close the connection from {client}"))
    }

    /// The server side of the connection from `client`, while it is open.
    pub fn server_peer(&self, client: SocketAddr) -> Option<Peer> {
        lock(&self.open).get(&client).cloned()
    }

    /// Waits for the server side of the connection from `client`.
    pub async fn accepted(&self, client: SocketAddr) -> Peer {
        timeout(&self.rt, WAIT, async {
            loop {
                if let Some(p) = self.server_peer(client) {
                    return p;
                }
                self.rt.sleep(Duration::from_millis(2)).await;
            }
        })
        .await
        .expect("the server never accepted the connection")
    }

    /// Whether the server's connection from `client` has ended.
    pub fn has_ended(&self, client: SocketAddr) -> bool {
        lock(&self.ended).contains_key(&client)
    }
}

impl<R: Runtime> Drop for Harness<R> {
    fn drop(&mut self) {
        self.stop.ask(Duration::ZERO);
    }
}

/// Waits until `cond` holds (checking every 2 ms), failing with `what`
/// after [`WAIT`].
pub async fn until<R: Runtime>(rt: &R, what: &str, cond: impl Fn() -> bool) {
    timeout(rt, WAIT, async {
        while !cond() {
            rt.sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .unwrap_or_else(|| panic!("{what}"));
}

/// One box on the wire.
pub fn wire(pairs: &[(&str, &[u8])]) -> Vec<u8> {
    let b: AmpBox = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), bytes::Bytes::copy_from_slice(v)))
        .collect();
    b.to_bytes().unwrap().to_vec()
}

/// A request tagged `1` with these arguments.
pub fn request(command: &str, args: &[(&str, &[u8])]) -> Vec<u8> {
    let mut pairs: Vec<(&str, &[u8])> = vec![("_ask", b"1"), ("_command", command.as_bytes())];
    pairs.extend_from_slice(args);
    wire(&pairs)
}

/// A raw socket to `addr`, and its own address (the one the server sees).
pub async fn connect_raw(addr: SocketAddr) -> (TcpStream, SocketAddr) {
    let raw = TcpStream::connect(addr)
        .await
        .expect("connect a raw socket");
    let me = raw.local_addr().unwrap();
    (raw, me)
}

/// Reads until the server closes: the bytes it sent, and how it closed.
pub async fn read_to_close<R: Runtime>(rt: &R, stream: &mut TcpStream) -> (Vec<u8>, &'static str) {
    let mut got = Vec::new();
    let how = timeout(rt, WAIT, async {
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

/// Every box in `bytes`, which must be whole boxes.
pub fn decode_boxes(bytes: &[u8]) -> Vec<AmpBox> {
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
pub async fn write_tolerant(stream: &mut TcpStream, data: &[u8]) -> bool {
    stream.write_all(data).await.is_ok()
}
