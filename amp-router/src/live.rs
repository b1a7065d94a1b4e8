//! Routes on a live connection, for any runtime: each route is a full
//! [`Peer`] (typed calls, responders, `closed()`), so code written for a
//! plain connection runs on a route unchanged.
//!
//! Each route runs the ordinary connection engine (`amp_engine`)
//! over an in-memory transport of its own; one task reads the real
//! connection and hands each box, its `_route` removed, to the route it
//! names, and the routes' outgoing boxes get their `_route` on the way to
//! the one writer. The runtime adapters provide the transport halves and a
//! spawner (see `amp_router::tokio` and `amp_router::futures_io`).
//!
//! ```
//! use amp_engine::{ReadHalf, Responders, WriteHalf};
//! use amp_router::{Route, live};
//! # struct R; impl ReadHalf for R { async fn read(&mut self, _: &mut bytes::BytesMut) -> std::io::Result<usize> { Ok(0) } }
//! # struct W; impl WriteHalf for W { async fn write_all(&mut self, _: &[u8]) -> std::io::Result<()> { Ok(()) } async fn close(&mut self) -> std::io::Result<()> { Ok(()) } }
//! let spawner: live::Spawner = std::sync::Arc::new(|task| { std::thread::spawn(move || futures_executor::block_on(task)); });
//! let (router, reading, writing) = live::start(R, W, spawner, Default::default());
//! let route = router.bind_route(Responders::new());
//! assert_eq!(route.route(), &Route::named("0"));
//! assert!(route.peer().is_err(), "not connected yet");
//! route.connect_to(Some("7".into()));
//! assert!(route.peer().is_ok());
//! # drop((reading, writing));
//! ```

use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::Instant;

use amp_core::timeout::{Snapshot, Timers};
use amp_core::{ConnectionError, Decoder, Limits, ProtocolError};
use amp_engine::{Deadline, Options, Peer, ReadHalf, Responders, WriteHalf};
use bytes::{Bytes, BytesMut};
use event_listener::Event as Notify;
use futures_channel::mpsc;
use futures_util::{SinkExt, StreamExt};

use crate::{ROUTE, Route, RouteError};

/// Runs a future to completion in the background: the runtime's spawn.
pub type Spawner = Arc<dyn Fn(Pin<Box<dyn Future<Output = ()> + Send>>) + Send + Sync>;

/// Boxes a route's inbound queue holds before the connection's reader waits.
const ROUTE_QUEUE: usize = 64;

struct Mux {
    state: Mutex<MuxState>,
    ended: Notify,
    next_name: AtomicU64,
    spawner: Spawner,
    options: Options,
    /// Bytes written so far (for the idle timeout).
    sent: AtomicU64,
}

struct MuxState {
    /// Each bound route: where its boxes go, and its peer (held here, so a
    /// route lives until it is unbound or the connection ends, whoever
    /// holds its handle).
    routes: HashMap<Route, (mpsc::Sender<Bytes>, Peer)>,
    /// The writer's queue; `None` once the connection has ended.
    outbound: Option<mpsc::Sender<Bytes>>,
    ended: Option<ConnectionError>,
}

impl Mux {
    fn lock(&self) -> MutexGuard<'_, MuxState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends the connection (first reason wins): every route's transport
    /// ends, so every route's calls fail.
    fn end(&self, reason: ConnectionError) {
        let mut state = self.lock();
        if state.ended.is_none() {
            state.ended = Some(reason);
        }
        state.routes.clear();
        state.outbound = None;
        drop(state);
        self.ended.notify(usize::MAX);
    }

    fn ended(&self) -> Option<ConnectionError> {
        self.lock().ended.clone()
    }
}

/// A connection carrying routes. Cheap to clone.
#[derive(Clone)]
pub struct RoutedPeer {
    mux: Arc<Mux>,
}

/// One route of a [`RoutedPeer`]: its name on this side, where it sends,
/// and the [`Peer`] that calls and answers on it.
#[derive(Clone)]
pub struct RouteHandle {
    route: Route,
    peer: Peer,
    remote: Arc<Mutex<Option<Option<Bytes>>>>,
    mux: Arc<Mux>,
}

impl std::fmt::Debug for RouteHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteHandle")
            .field("route", &self.route)
            .field(
                "remote",
                &*self.remote.lock().unwrap_or_else(|e| e.into_inner()),
            )
            .finish()
    }
}

impl RouteHandle {
    /// This route's name on this side (what the peer's boxes carry as
    /// `_route` to reach it).
    ///
    /// ```no_run
    /// # fn f(route: amp_router::live::RouteHandle) {
    /// println!("bound as {}", route.route());
    /// # }
    /// ```
    pub fn route(&self) -> &Route {
        &self.route
    }

    /// Sends every box of this route to the peer's route `remote` (`None`:
    /// the peer's default route). May be called again to re-point it.
    ///
    /// ```no_run
    /// # fn f(route: amp_router::live::RouteHandle) {
    /// route.connect_to(Some("3".into()));
    /// # }
    /// ```
    pub fn connect_to(&self, remote: Option<Bytes>) {
        // The route's engine writes `_route` as it encodes each box.
        self.peer.set_route(remote.clone());
        *self.remote.lock().unwrap_or_else(|e| e.into_inner()) = Some(remote);
    }

    /// Whether [`connect_to`](Self::connect_to) was called.
    ///
    /// ```no_run
    /// # fn f(route: amp_router::live::RouteHandle) {
    /// assert!(!route.is_connected());
    /// # }
    /// ```
    pub fn is_connected(&self) -> bool {
        self.remote
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// The peer of this route, to call with: an error until the route is
    /// connected, since nothing can be sent on it before.
    ///
    /// ```no_run
    /// # fn f(route: amp_router::live::RouteHandle) {
    /// let peer = route.peer().expect("connected");
    /// # }
    /// ```
    pub fn peer(&self) -> Result<Peer, RouteError> {
        if self.is_connected() {
            Ok(self.peer.clone())
        } else {
            Err(RouteError::RouteNotConnected(self.route.clone()))
        }
    }

    /// Removes the route: its calls fail and a later box for it ends the
    /// connection (an unknown route).
    ///
    /// ```no_run
    /// # fn f(route: amp_router::live::RouteHandle) {
    /// route.unbind();
    /// # }
    /// ```
    pub fn unbind(&self) {
        self.mux.lock().routes.remove(&self.route);
        self.peer.close();
    }
}

impl RoutedPeer {
    /// Binds a route with a fresh name (`"0"`, `"1"`, ...), served by
    /// `responders`.
    ///
    /// ```no_run
    /// # fn f(router: amp_router::live::RoutedPeer) {
    /// let route = router.bind_route(amp_engine::Responders::new());
    /// # }
    /// ```
    pub fn bind_route(&self, responders: Responders) -> RouteHandle {
        loop {
            let n = self.mux.next_name.fetch_add(1, Ordering::Relaxed);
            let route = Route::Named(Bytes::from(n.to_string()));
            if let Ok(handle) = self.bind(route, responders.clone()) {
                return handle;
            }
        }
    }

    /// Binds `route` (the default route, or a name chosen by hand).
    ///
    /// ```no_run
    /// # fn f(router: amp_router::live::RoutedPeer) {
    /// let default = router.bind(amp_router::Route::Default, amp_engine::Responders::new()).unwrap();
    /// # }
    /// ```
    pub fn bind(&self, route: Route, responders: Responders) -> Result<RouteHandle, RouteError> {
        let mux = &self.mux;
        let (tx, rx) = mpsc::channel(ROUTE_QUEUE);
        let remote = Arc::new(Mutex::new(None));
        let mut state = mux.lock();
        if state.routes.contains_key(&route) {
            return Err(RouteError::AlreadyBound(route));
        }
        let outbound = match (&state.outbound, &state.ended) {
            (Some(out), _) => out.clone(),
            (None, reason) => {
                return Err(RouteError::Send(amp_core::SendError::Closed(
                    reason.clone().unwrap_or(ConnectionError::Closed),
                )));
            }
        };
        let reader = RouteReader {
            inbound: rx,
            mux: Arc::clone(mux),
        };
        let writer = RouteWriter {
            outbound,
            remote: Arc::clone(&remote),
        };
        let (peer, reading, writing) =
            amp_engine::start(reader, writer, None, responders, mux.options.clone());
        state.routes.insert(route.clone(), (tx, peer.clone()));
        drop(state);
        (mux.spawner)(Box::pin(reading));
        (mux.spawner)(Box::pin(writing));
        // A protocol error or a fatal error on one route ends the whole
        // connection, as it does in epsilon (and in the sans-IO `Router`).
        let ended = peer.closed();
        let weak = Arc::downgrade(mux);
        (mux.spawner)(Box::pin(async move {
            let reason = ended.await;
            if matches!(
                reason,
                ConnectionError::Protocol(_) | ConnectionError::FatalError { .. }
            ) && let Some(mux) = weak.upgrade()
            {
                mux.end(reason);
            }
        }));
        Ok(RouteHandle {
            route,
            peer,
            remote,
            mux: Arc::clone(mux),
        })
    }

    /// Closes the whole connection: every route ends.
    ///
    /// ```no_run
    /// # fn f(router: amp_router::live::RoutedPeer) {
    /// router.close();
    /// # }
    /// ```
    pub fn close(&self) {
        self.mux.end(ConnectionError::Closed);
    }

    /// Whether the connection has ended.
    ///
    /// ```no_run
    /// # fn f(router: amp_router::live::RoutedPeer) {
    /// assert!(!router.is_closed());
    /// # }
    /// ```
    pub fn is_closed(&self) -> bool {
        self.mux.ended().is_some()
    }

    /// Resolves when the connection has ended, with the reason (a box for a
    /// route that is not bound is [`ProtocolError::UnknownRoute`]).
    ///
    /// ```no_run
    /// # async fn f(router: amp_router::live::RoutedPeer) {
    /// println!("ended: {}", router.closed().await);
    /// # }
    /// ```
    pub fn closed(&self) -> impl Future<Output = ConnectionError> + Send + 'static + use<> {
        let mux = Arc::clone(&self.mux);
        async move {
            loop {
                let listener = mux.ended.listen();
                if let Some(reason) = mux.ended() {
                    return reason;
                }
                listener.await;
            }
        }
    }
}

/// A route's receiving side: the boxes the connection's reader hands it.
struct RouteReader {
    inbound: mpsc::Receiver<Bytes>,
    mux: Arc<Mux>,
}

impl ReadHalf for RouteReader {
    async fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self.inbound.next().await {
            Some(wire) => {
                buf.extend_from_slice(&wire);
                Ok(wire.len())
            }
            // The connection ended: a clean end reads as the end of the
            // stream, anything else as an error naming the reason.
            None => match self.mux.ended() {
                None | Some(ConnectionError::PeerClosed | ConnectionError::Closed) => Ok(0),
                Some(reason) => Err(io::Error::other(reason.to_string())),
            },
        }
    }
}

/// A route's sending side: its boxes, `_route` already written by its
/// engine, go to the connection's writer as they are.
struct RouteWriter {
    outbound: mpsc::Sender<Bytes>,
    remote: Arc<Mutex<Option<Option<Bytes>>>>,
}

impl WriteHalf for RouteWriter {
    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        let connected = self
            .remote
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some();
        if !connected {
            return Err(io::Error::other("the route is not connected"));
        }
        let out = Bytes::copy_from_slice(bytes);
        self.outbound
            .send(out)
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }

    async fn close(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Starts a routed connection over a transport: returns the router handle
/// and the two futures that run the connection (reading and handing boxes to
/// routes; writing), which the caller spawns. `spawner` runs each route's
/// own tasks. Routes start when bound.
///
/// ```
/// # use amp_engine::{ReadHalf, WriteHalf};
/// # struct R; impl ReadHalf for R { async fn read(&mut self, _: &mut bytes::BytesMut) -> std::io::Result<usize> { Ok(0) } }
/// # struct W; impl WriteHalf for W { async fn write_all(&mut self, _: &[u8]) -> std::io::Result<()> { Ok(()) } async fn close(&mut self) -> std::io::Result<()> { Ok(()) } }
/// let spawner: amp_router::live::Spawner = std::sync::Arc::new(|task| { std::thread::spawn(move || futures_executor::block_on(task)); });
/// let (router, reading, writing) = amp_router::live::start(R, W, spawner, Default::default());
/// futures_executor::block_on(futures_util::future::join(reading, writing));
/// assert_eq!(futures_executor::block_on(router.closed()), amp_core::ConnectionError::PeerClosed);
/// ```
pub fn start<R: ReadHalf, W: WriteHalf>(
    reader: R,
    writer: W,
    spawner: Spawner,
    options: Options,
) -> (
    RoutedPeer,
    impl Future<Output = ()> + Send + 'static,
    impl Future<Output = ()> + Send + 'static,
) {
    let (outbound, outbound_rx) = mpsc::channel(ROUTE_QUEUE);
    let limits = *options.config.decoder_limits();
    let mux = Arc::new(Mux {
        state: Mutex::new(MuxState {
            routes: HashMap::new(),
            outbound: Some(outbound),
            ended: None,
        }),
        ended: Notify::new(),
        next_name: AtomicU64::new(0),
        spawner,
        options,
        sent: AtomicU64::new(0),
    });
    let reading = read_loop(Arc::clone(&mux), reader, limits);
    let writing = write_loop(Arc::clone(&mux), writer, outbound_rx);
    (RoutedPeer { mux }, reading, writing)
}

/// Reads boxes and hands each to its route. The options' timeouts apply to
/// the connection by the state machine's rules ([`amp_core::timeout`]), as
/// they do on a plain connection; a route with work under way
/// ([`Peer::is_busy`]) keeps the connection from being idle.
async fn read_loop<R: ReadHalf>(mux: Arc<Mux>, mut reader: R, limits: Limits) {
    let mut decoder = Decoder::new(limits);
    let mut timers = Timers::new(mux.options.connection_config().timeouts());
    let timed = !timers.timeouts().is_off();
    let mut deadline = Deadline::default();
    // What the timeouts look at: the connection's bytes, and whether any
    // route has work under way. The reader decodes everything it reads
    // before it waits again, so what is buffered is part of one box.
    let snapshot = |decoder: &Decoder| Snapshot {
        decoded: decoder.consumed(),
        buffered: decoder.buffered(),
        drained: true,
        transmitted: mux.sent.load(Ordering::Relaxed),
        busy: decoder.buffered() > 0 || mux.lock().routes.values().any(|(_, peer)| peer.is_busy()),
    };
    loop {
        if mux.ended().is_some() {
            return;
        }
        if timed {
            deadline.set::<R>(timers.poll_timeout(Instant::now(), &snapshot(&decoder)));
        }
        let read = {
            let mut read = pin!(reader.read(decoder.buffer_mut()));
            poll_fn(|cx| {
                if let Poll::Ready(r) = read.as_mut().poll(cx) {
                    return Poll::Ready(Some(r));
                }
                deadline.poll(cx).map(|()| None)
            })
            .await
        };
        let n = match read {
            Some(Ok(n)) => n,
            Some(Err(e)) => return mux.end(ConnectionError::Transport(e.to_string())),
            None => {
                // The deadline passed: the rules decide.
                if let Some(reason) = timers.handle_timeout(Instant::now(), &snapshot(&decoder)) {
                    return mux.end(reason);
                }
                continue;
            }
        };
        loop {
            match decoder.decode() {
                Ok(Some(mut b)) => {
                    let route = match b.remove(ROUTE) {
                        Some(name) => Route::Named(name),
                        None => Route::Default,
                    };
                    let sender = mux.lock().routes.get(&route).map(|(tx, _)| tx.clone());
                    let Some(mut sender) = sender else {
                        let name = route.name().cloned().unwrap_or_default();
                        return mux.end(ConnectionError::Protocol(ProtocolError::UnknownRoute {
                            name,
                        }));
                    };
                    let wire = match b.to_bytes() {
                        Ok(wire) => wire,
                        Err(e) => {
                            return mux.end(ConnectionError::Protocol(ProtocolError::Codec(e)));
                        }
                    };
                    // A route that just ended drops its boxes.
                    let _ = sender.send(wire).await;
                }
                Ok(None) => break,
                Err(e) => return mux.end(ConnectionError::Protocol(ProtocolError::Codec(e))),
            }
        }
        if n == 0 {
            let reason = match decoder.finish() {
                Ok(()) => ConnectionError::PeerClosed,
                Err(e) => ConnectionError::Protocol(ProtocolError::Codec(e)),
            };
            return mux.end(reason);
        }
    }
}

async fn write_loop<W: WriteHalf>(
    mux: Arc<Mux>,
    mut writer: W,
    mut outbound: mpsc::Receiver<Bytes>,
) {
    // Ends once every route's sending side and the router's own are gone.
    while let Some(bytes) = outbound.next().await {
        if let Err(e) = writer.write_all(&bytes).await {
            mux.end(ConnectionError::Transport(e.to_string()));
            break;
        }
        mux.sent.fetch_add(bytes.len() as u64, Ordering::Relaxed);
    }
    let _ = writer.close().await;
}
