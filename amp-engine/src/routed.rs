//! Routed connections (epsilon's amprouter) on the same engine as plain
//! ones: one reader and one writer drive a sans-IO
//! [`Router`], which demultiplexes by `_route`,
//! ends the connection at the end of the stream, and writes each route's
//! `_route` as its boxes are encoded. Each route is a full [`Peer`] (typed
//! calls, responders, `closed()`), so code written for a plain connection
//! runs on a route unchanged. `amp-router` re-exports this module as
//! `amp_router::live`, with connect and accept helpers per runtime.
//!
//! ```
//! use amp_engine::{ReadHalf, Responders, WriteHalf};
//! use amp_engine::routed;
//! use amp_core::router::Route;
//! # struct R; impl ReadHalf for R { async fn read(&mut self, _: &mut bytes::BytesMut) -> std::io::Result<usize> { std::future::pending().await } }
//! # struct W; impl WriteHalf for W { async fn write_all(&mut self, _: &[u8]) -> std::io::Result<()> { Ok(()) } async fn close(&mut self) -> std::io::Result<()> { Ok(()) } }
//! let (router, _reading, _writing) = routed::start(R, W, None, Default::default());
//! let route = router.bind_route(Responders::new());
//! assert_eq!(route.route(), &Route::named("0"));
//! assert!(route.peer().is_err(), "not connected yet");
//! route.connect_to(Some("7".into()));
//! assert!(route.peer().is_ok());
//! ```

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Waker;

use bytes::Bytes;

use amp_core::router::{Route, RouteError, Router};
use amp_core::{CallError, ConnectionError, SendError};

use crate::machine::{LaneId, Machine, PLAIN, RouteLane, Routed, is_lane_key};
use crate::peer::Handle;
use crate::reader::read_loop;
use crate::shared::Shared;
use crate::writer::write_loop;
use crate::{Options, Peer, ReadHalf, Responders, Runtime, Split, WriteHalf};

/// A connection carrying routes. Cheap to clone. The connection lives until
/// it ends (the peer closes it, [`shutdown`](Self::shutdown), an error), whether
/// or not a handle is still held.
#[derive(Clone)]
pub struct RoutedPeer {
    handle: Arc<Handle>,
}

impl fmt::Debug for RoutedPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoutedPeer")
            .field("addr", &self.handle.shared.addr)
            .field("closed", &self.handle.shared.close_reason())
            .finish()
    }
}

/// One route of a [`RoutedPeer`]: its name on this side, where it sends,
/// and the [`Peer`] that calls and answers on it.
#[derive(Clone)]
pub struct RouteHandle {
    peer: Peer,
    lane: Arc<RouteLane>,
    connected: Arc<AtomicBool>,
}

impl fmt::Debug for RouteHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteHandle")
            .field("route", &self.lane.route)
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl RouteHandle {
    /// This route's name on this side (what the peer's boxes carry as
    /// `_route` to reach it).
    ///
    /// ```no_run
    /// # fn f(route: amp_engine::routed::RouteHandle) {
    /// println!("bound as {}", route.route());
    /// # }
    /// ```
    pub fn route(&self) -> &Route {
        &self.lane.route
    }

    /// Sends every box of this route to the peer's route `remote` (`None`:
    /// the peer's default route). May be called again to re-point it.
    ///
    /// ```no_run
    /// # fn f(route: amp_engine::routed::RouteHandle) {
    /// route.connect_to(Some("3".into()));
    /// # }
    /// ```
    pub fn connect_to(&self, remote: Option<Bytes>) {
        let shared = &self.peer.handle.shared;
        let mut state = shared.lock();
        if let Some(routed) = state.machine.routed()
            && routed
                .router
                .router()
                .connect_to(&self.lane.route, remote)
                .is_ok()
        {
            self.connected.store(true, Ordering::SeqCst);
        }
    }

    /// Whether [`connect_to`](Self::connect_to) was called (and the route
    /// is still bound).
    ///
    /// ```no_run
    /// # fn f(route: amp_engine::routed::RouteHandle) {
    /// assert!(!route.is_connected());
    /// # }
    /// ```
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst) && !self.peer.is_closed()
    }

    /// The peer of this route, to call with: an error until the route is
    /// connected, since nothing can be sent on it before.
    ///
    /// ```no_run
    /// # fn f(route: amp_engine::routed::RouteHandle) {
    /// let peer = route.peer().expect("connected");
    /// # }
    /// ```
    pub fn peer(&self) -> Result<Peer, RouteError> {
        if self.connected.load(Ordering::SeqCst) {
            Ok(self.peer.clone())
        } else {
            Err(RouteError::RouteNotConnected(self.lane.route.clone()))
        }
    }

    /// Removes the route: its calls fail with
    /// [`ConnectionError::RouteUnbound`], its peer is closed, and a later
    /// box for it ends the connection (an unknown route). The same as
    /// closing its peer.
    ///
    /// ```no_run
    /// # fn f(route: amp_engine::routed::RouteHandle) {
    /// route.unbind();
    /// # }
    /// ```
    pub fn unbind(&self) {
        self.peer.handle.shared.unbind(self.lane.id);
    }
}

impl RoutedPeer {
    /// Binds a route with a fresh name (`"0"`, `"1"`, ..., skipping names
    /// bound by hand), served by `responders`.
    ///
    /// ```no_run
    /// # fn f(router: amp_engine::routed::RoutedPeer) {
    /// let route = router.bind_route(amp_engine::Responders::new());
    /// # }
    /// ```
    pub fn bind_route(&self, responders: Responders) -> RouteHandle {
        self.bind_with(None, responders)
            .expect("a fresh route name is never bound")
    }

    /// Binds `route` (the default route, or a name chosen by hand).
    ///
    /// ```no_run
    /// # fn f(router: amp_engine::routed::RoutedPeer) {
    /// let default = router.bind(amp_core::router::Route::Default, amp_engine::Responders::new()).unwrap();
    /// # }
    /// ```
    pub fn bind(&self, route: Route, responders: Responders) -> Result<RouteHandle, RouteError> {
        self.bind_with(Some(route), responders)
    }

    fn bind_with(
        &self,
        route: Option<Route>,
        responders: Responders,
    ) -> Result<RouteHandle, RouteError> {
        let shared = &self.handle.shared;
        let mut state = shared.lock();
        if let Some(reason) = state.machine.close_reason() {
            return Err(RouteError::Send(SendError::Closed(reason.clone())));
        }
        let Some(routed) = state.machine.routed() else {
            unreachable!("a routed peer drives a router");
        };
        let router = routed.router.router();
        let route = match route {
            Some(route) => {
                router.bind(route.clone())?;
                route
            }
            None => router.bind_route(),
        };
        // A route with a box receiver is given the boxes that are neither
        // requests nor answers; without one they end the connection.
        router
            .deliver_raw_boxes(
                &route,
                responders.receives_boxes() || shared.options.config.delivers_raw_boxes(),
            )
            .expect("just bound");
        let id = routed.next_lane;
        routed.next_lane = routed.next_lane.wrapping_add(1).max(1);
        let lane = Arc::new(RouteLane {
            route: route.clone(),
            id,
            responders,
            handle: Arc::new(Handle {
                shared: Arc::clone(shared),
                lane: id,
            }),
        });
        routed.lanes.insert(route, Arc::clone(&lane));
        routed.by_id.insert(id, Arc::clone(&lane));
        drop(state);
        Ok(RouteHandle {
            peer: Peer {
                handle: Arc::clone(&lane.handle),
            },
            lane,
            connected: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Stops the whole connection, every route of it, as
    /// [`Peer::shutdown`](crate::Peer::shutdown) stops a plain one: requests
    /// arriving from now on get a non-fatal `SHUTTING_DOWN` error, running
    /// responders may finish within `grace`, then it closes (at once for a
    /// zero grace). Resolves with why it ended; the stop starts whether or
    /// not this is awaited.
    ///
    /// ```no_run
    /// # async fn f(router: amp_engine::routed::RoutedPeer) {
    /// router.shutdown(std::time::Duration::from_secs(5)).await;
    /// # }
    /// ```
    pub fn shutdown(&self, grace: std::time::Duration) -> crate::Shutdown {
        self.handle.shared.stop(grace);
        crate::Shutdown::new(self.closed())
    }

    /// Whether the connection has ended.
    ///
    /// ```no_run
    /// # fn f(router: amp_engine::routed::RoutedPeer) {
    /// assert!(!router.is_closed());
    /// # }
    /// ```
    pub fn is_closed(&self) -> bool {
        self.handle.shared.close_reason().is_some()
    }

    /// The address of the peer, if the transport has one.
    ///
    /// ```no_run
    /// # fn f(router: amp_engine::routed::RoutedPeer) {
    /// println!("{:?}", router.peer_addr());
    /// # }
    /// ```
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.handle.shared.addr
    }

    /// Resolves when the connection has ended, with the reason (a box for a
    /// route that is not bound is
    /// [`ProtocolError::UnknownRoute`](amp_core::ProtocolError::UnknownRoute)).
    ///
    /// ```no_run
    /// # async fn f(router: amp_engine::routed::RoutedPeer) {
    /// println!("ended: {}", router.closed().await);
    /// # }
    /// ```
    pub fn closed(&self) -> impl Future<Output = ConnectionError> + Send + 'static + use<> {
        let shared = Arc::clone(&self.handle.shared);
        async move {
            loop {
                let listener = shared.ended.listen();
                if let Some(reason) = shared.close_reason() {
                    return reason;
                }
                listener.await;
            }
        }
    }
}

impl Shared {
    /// Unbinds `lane`'s route: its calls fail, its peers are closed, the
    /// connection goes on.
    pub(crate) fn unbind(&self, lane: LaneId) {
        let mut wakers: Vec<Waker> = Vec::new();
        {
            let mut state = self.lock();
            let Some(routed) = state.machine.routed() else {
                return;
            };
            let Some(bound) = routed.by_id.remove(&lane) else {
                return;
            };
            routed.lanes.remove(&bound.route);
            // Its calls are failed here, below; the router's own failure
            // events for them find no route and are dropped.
            let _ = routed.router.router().unbind(&bound.route);
            let calls: Vec<_> = state
                .pending
                .keys()
                .copied()
                .filter(|&key| is_lane_key(lane, key))
                .collect();
            for key in calls {
                wakers.extend(state.settle(
                    key,
                    Err(CallError::Connection(ConnectionError::RouteUnbound)),
                ));
            }
        }
        wakers.into_iter().for_each(Waker::wake);
        self.space.notify(usize::MAX);
        self.ended.notify(usize::MAX);
        self.wake_reader.notify();
    }
}

/// Starts a routed connection over a transport: returns the router handle
/// and the two futures that run the connection (reading, and writing),
/// which the caller spawns. Routes are bound on the handle; a box for a
/// route not bound ends the connection, as in epsilon.
///
/// ```
/// # use amp_engine::{ReadHalf, WriteHalf};
/// # struct R; impl ReadHalf for R { async fn read(&mut self, _: &mut bytes::BytesMut) -> std::io::Result<usize> { Ok(0) } }
/// # struct W; impl WriteHalf for W { async fn write_all(&mut self, _: &[u8]) -> std::io::Result<()> { Ok(()) } async fn close(&mut self) -> std::io::Result<()> { Ok(()) } }
/// let (router, reading, writing) = amp_engine::routed::start(R, W, None, Default::default());
/// futures_executor::block_on(futures_util::future::join(reading, writing));
/// assert_eq!(futures_executor::block_on(router.closed()), amp_core::ConnectionError::PeerClosed);
/// ```
pub fn start<R: ReadHalf, W: WriteHalf>(
    reader: R,
    writer: W,
    addr: Option<SocketAddr>,
    options: Options,
) -> (
    RoutedPeer,
    impl Future<Output = ()> + Send + 'static,
    impl Future<Output = ()> + Send + 'static,
) {
    let options = options.normalized();
    let router = Router::new(&options.connection_config());
    let shared = Shared::new(
        Machine::Routed(Box::new(Routed::new(router))),
        options,
        addr,
        crate::writer::direct_for(&writer, false),
    );
    let handle = Arc::new(Handle {
        shared: Arc::clone(&shared),
        lane: PLAIN,
    });
    let reading = shared.in_span(read_loop(
        Arc::clone(&shared),
        Arc::downgrade(&handle),
        Some(Arc::clone(&handle)),
        reader,
        Responders::new(),
        None,
        None,
    ));
    let writing = shared.in_span(write_loop(
        Arc::clone(&shared),
        writer,
        None,
        None::<crate::writer::WriteSwitch<R, crate::upgrade::NoUpgrade>>,
    ));
    (RoutedPeer { handle }, reading, writing)
}

/// [`start`]s a routed connection and spawns its two futures on `runtime`.
///
/// ```
/// # use amp_engine::{ReadHalf, Runtime, Task, WriteHalf};
/// # struct R; impl ReadHalf for R { async fn read(&mut self, _: &mut bytes::BytesMut) -> std::io::Result<usize> { Ok(0) } }
/// # struct W; impl WriteHalf for W { async fn write_all(&mut self, _: &[u8]) -> std::io::Result<()> { Ok(()) } async fn close(&mut self) -> std::io::Result<()> { Ok(()) } }
/// #[derive(Clone)]
/// struct Threads;
/// impl Runtime for Threads {
///     fn spawn(&self, task: Task) { std::thread::spawn(move || futures_executor::block_on(task)); }
///     fn sleep(&self, d: std::time::Duration) -> impl std::future::Future<Output = ()> + Send + 'static {
///         async move { std::thread::sleep(d) }
///     }
/// }
/// let router = amp_engine::routed::spawn(&Threads, R, W, None, Default::default(), |_| {});
/// let reason = futures_executor::block_on(router.closed());
/// assert_eq!(reason, amp_core::ConnectionError::PeerClosed);
/// ```
pub fn spawn<Rt: Runtime, R: ReadHalf, W: WriteHalf>(
    runtime: &Rt,
    reader: R,
    writer: W,
    addr: Option<SocketAddr>,
    options: Options,
    bind: impl FnOnce(&RoutedPeer),
) -> RoutedPeer {
    let (router, reading, writing) = start(reader, writer, addr, options);
    // Routes bound before the first byte is read: the peer's first box
    // finds them.
    bind(&router);
    crate::run_loops(runtime, reading, writing);
    router
}

/// Serves routes over `stream` on `runtime`: splits it ([`Split`]) and
/// [`spawn`]s a routed connection, with `bind` run before the first byte is
/// read (routes it binds, the default route of a server say, are there for
/// the peer's first box, as routes bound before the connection starts are
/// in epsilon).
///
/// ```
/// # use amp_engine::{ReadHalf, Runtime, Split, Task, WriteHalf};
/// # struct R; impl ReadHalf for R { async fn read(&mut self, _: &mut bytes::BytesMut) -> std::io::Result<usize> { Ok(0) } }
/// # struct W; impl WriteHalf for W { async fn write_all(&mut self, _: &[u8]) -> std::io::Result<()> { Ok(()) } async fn close(&mut self) -> std::io::Result<()> { Ok(()) } }
/// # struct Ended;
/// # #[derive(Clone)] struct Threads;
/// # impl Runtime for Threads {
/// #     fn spawn(&self, task: Task) { std::thread::spawn(move || futures_executor::block_on(task)); }
/// #     fn sleep(&self, d: std::time::Duration) -> impl Future<Output = ()> + Send + 'static { async move { std::thread::sleep(d) } }
/// # }
/// # impl Split<Ended> for Threads { type Reader = R; type Writer = W; fn split(_: Ended) -> (R, W) { (R, W) } }
/// use amp_core::router::Route;
/// let router = amp_engine::routed::from_stream_with(Threads, Ended, None, Default::default(), |router| {
///     router.bind(Route::Default, amp_engine::Responders::new()).unwrap().connect_to(None);
/// });
/// assert_eq!(futures_executor::block_on(router.closed()), amp_core::ConnectionError::PeerClosed);
/// ```
pub fn from_stream_with<Rt: Split<S>, S>(
    runtime: Rt,
    stream: S,
    addr: Option<SocketAddr>,
    options: Options,
    bind: impl FnOnce(&RoutedPeer),
) -> RoutedPeer {
    let (reader, writer) = Rt::split(stream);
    spawn(&runtime, reader, writer, addr, options, bind)
}
