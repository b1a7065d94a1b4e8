//! Routes, wire-compatible with `epsilon.amprouter`: any number of
//! independent AMP conversations over one connection, sans IO.
//!
//! Each route has its own dispatcher: its own `_ask` counter, outstanding
//! calls and requests owed an answer. A box's `_route` key names the route on
//! the *receiving* side; the key is removed before the route sees the box,
//! and a box without it goes to the default route. A route sends with the
//! name it was [connected](Router::connect_to) to, so two peers pair their
//! routes by exchanging names (usually through a command on the default
//! route, as epsilon's guide does with `NewRoute`).
//!
//! [`Router`] works in the manner of [`Connection`](crate::Connection):
//! bytes in, events tagged with their route out, bytes to send out. It never
//! blocks, spawns or reads a clock. The live engine (`amp-engine`) drives
//! it as it drives a `Connection`; `amp-router` is that live side.
//!
//! The timeouts of the [`Config`] (`unfinished_box_timeout`,
//! `idle_timeout`) apply to the whole connection, by the rules of
//! [`timeout`](crate::timeout), driven as on a `Connection`: call
//! [`poll_timeout`](Router::poll_timeout) with the current time before
//! waiting, [`handle_timeout`](Router::handle_timeout) once its deadline
//! has passed, and [`pause_reading`](Router::pause_reading) while not
//! reading. The connection is busy (never idle) while any route is: a call
//! waiting for its answer, an answer owed to the peer.
//!
//! ```
//! use amp_core::{AmpBox, Event};
//! use amp_core::router::{Route, RoutedEvent, Router};
//!
//! let mut client = Router::default();
//! let mut server = Router::default();
//! // Each side binds a route and connects it to the other's name.
//! let c = client.bind_route();
//! let s = server.bind_route();
//! client.connect_to(&c, Some(s.name().unwrap().clone())).unwrap();
//! server.connect_to(&s, Some(c.name().unwrap().clone())).unwrap();
//!
//! let call = client.call_remote(&c, "Count", &AmpBox::new(), true).unwrap().unwrap();
//! server.handle_input(&client.take_transmit());
//! let Some(RoutedEvent { route, event: Event::Request(req) }) = server.poll_event() else { panic!() };
//! assert_eq!(route, s);
//! server.answer(&route, req.tag.as_ref().unwrap(), &AmpBox::from_pairs([("value", "1")])).unwrap();
//! client.handle_input(&server.take_transmit());
//! let answer = client.poll_event().unwrap();
//! assert_eq!(answer.route, c);
//! assert!(matches!(answer.event, Event::Answer { call: id, .. } if id == call));
//! ```

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::Instant;

use crate::command::CallError;
use crate::dispatcher::Body;
use crate::timeout::{Snapshot, Timers};
use crate::{
    AmpBox, CallId, Command, Config, ConnectionError, Decoder, Dispatcher, Event, ProtocolError,
    ResponderError, SendError,
};
use bytes::{Bytes, BytesMut};

mod route;

pub use route::{ROUTE, Route, RouteError, RoutedEvent};

struct RouteState {
    dispatcher: Dispatcher,
    connected: bool,
}

/// Many AMP conversations over one byte stream, sans IO.
///
/// ```
/// let mut router = amp_core::router::Router::default();
/// let first = router.bind_route();
/// let second = router.bind_route();
/// assert_eq!(first, amp_core::router::Route::named("0"));
/// assert_eq!(second, amp_core::router::Route::named("1"));
/// ```
pub struct Router {
    decoder: Decoder,
    config: Config,
    routes: HashMap<Route, RouteState>,
    next_name: u64,
    events: VecDeque<RoutedEvent>,
    out: BytesMut,
    closed: Option<ConnectionError>,
    eof: bool,
    /// The timeouts' state.
    timers: Timers,
    /// Bytes received (decoded and buffered) when a poll for events last
    /// found no whole box.
    drained_at: u64,
    /// Bytes taken for sending so far.
    transmitted: u64,
}

impl Default for Router {
    fn default() -> Self {
        Router::new(&Config::default())
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("routes", &self.routes.keys().collect::<Vec<_>>())
            .field("closed", &self.closed)
            .finish()
    }
}

impl Router {
    /// A router with these settings (limits apply to the shared decoder;
    /// each route's dispatcher gets the rest).
    ///
    /// ```
    /// let r = amp_core::router::Router::new(&amp_core::Config::default());
    /// assert!(!r.is_closed());
    /// ```
    pub fn new(config: &Config) -> Self {
        Router {
            decoder: Decoder::new(*config.decoder_limits()),
            config: config.clone(),
            routes: HashMap::new(),
            next_name: 0,
            events: VecDeque::new(),
            out: BytesMut::new(),
            closed: None,
            eof: false,
            timers: Timers::new(config.timeouts()),
            drained_at: 0,
            transmitted: 0,
        }
    }

    /// Binds a route with a fresh local name: a decimal counter as text
    /// (`"0"`, `"1"`, ...), as epsilon names them, skipping names bound by
    /// hand.
    ///
    /// ```
    /// let mut r = amp_core::router::Router::default();
    /// r.bind(amp_core::router::Route::named("0")).unwrap();
    /// assert_eq!(r.bind_route(), amp_core::router::Route::named("1"));
    /// ```
    pub fn bind_route(&mut self) -> Route {
        loop {
            let route = Route::Named(Bytes::from(self.next_name.to_string()));
            self.next_name += 1;
            if !self.routes.contains_key(&route) {
                self.insert(route.clone());
                return route;
            }
        }
    }

    /// Binds `route` (the default route, or one with a name chosen by hand).
    ///
    /// ```
    /// let mut r = amp_core::router::Router::default();
    /// r.bind(amp_core::router::Route::Default).unwrap();
    /// assert!(r.bind(amp_core::router::Route::Default).is_err());
    /// ```
    pub fn bind(&mut self, route: Route) -> Result<(), RouteError> {
        if self.routes.contains_key(&route) {
            return Err(RouteError::AlreadyBound(route));
        }
        self.insert(route);
        Ok(())
    }

    fn insert(&mut self, route: Route) {
        let mut dispatcher = Dispatcher::new(&self.config);
        if let Some(reason) = &self.closed {
            dispatcher.close(reason.clone());
            while dispatcher.poll_event().is_some() {}
        }
        self.routes.insert(
            route,
            RouteState {
                dispatcher,
                connected: false,
            },
        );
    }

    /// Connects `route` to the peer's route named `remote`: every box sent
    /// on it from now on carries `_route: remote` (`None`: no `_route`, the
    /// peer's default route).
    ///
    /// ```
    /// let mut r = amp_core::router::Router::default();
    /// let route = r.bind_route();
    /// r.connect_to(&route, None).unwrap();
    /// assert!(r.is_connected(&route));
    /// ```
    pub fn connect_to(&mut self, route: &Route, remote: Option<Bytes>) -> Result<(), RouteError> {
        let state = self.state(route)?;
        state.dispatcher.set_route(remote);
        state.connected = true;
        Ok(())
    }

    /// Whether `route` is bound and connected.
    ///
    /// ```
    /// let mut r = amp_core::router::Router::default();
    /// let route = r.bind_route();
    /// assert!(!r.is_connected(&route));
    /// ```
    pub fn is_connected(&self, route: &Route) -> bool {
        self.routes.get(route).is_some_and(|s| s.connected)
    }

    /// Removes `route`: its outstanding calls fail with
    /// [`ConnectionError::RouteUnbound`] ([`Event::CallFailed`] events tagged
    /// with it), and a later box for it is a protocol error.
    ///
    /// ```
    /// let mut r = amp_core::router::Router::default();
    /// let route = r.bind_route();
    /// r.unbind(&route).unwrap();
    /// assert!(r.unbind(&route).is_err());
    /// ```
    pub fn unbind(&mut self, route: &Route) -> Result<(), RouteError> {
        let mut state = self
            .routes
            .remove(route)
            .ok_or_else(|| RouteError::NotBound(route.clone()))?;
        state.dispatcher.close(ConnectionError::RouteUnbound);
        while let Some(event) = state.dispatcher.poll_event() {
            // The route's calls fail; the connection goes on, so no `Closed`.
            if !matches!(event, Event::Closed(_)) {
                self.events.push_back(RoutedEvent {
                    route: route.clone(),
                    event,
                });
            }
        }
        Ok(())
    }

    /// The bound routes.
    ///
    /// ```
    /// let mut r = amp_core::router::Router::default();
    /// r.bind_route();
    /// assert_eq!(r.routes().count(), 1);
    /// ```
    pub fn routes(&self) -> impl Iterator<Item = &Route> {
        self.routes.keys()
    }

    fn state(&mut self, route: &Route) -> Result<&mut RouteState, RouteError> {
        self.routes
            .get_mut(route)
            .ok_or_else(|| RouteError::NotBound(route.clone()))
    }

    /// Runs `f` on the route's dispatcher, then moves what it queued (bytes
    /// and events) to the router, keeping the order of everything sent.
    fn on_route<T>(
        &mut self,
        route: &Route,
        f: impl FnOnce(&mut Dispatcher) -> Result<T, SendError>,
    ) -> Result<T, RouteError> {
        let state = self
            .routes
            .get_mut(route)
            .ok_or_else(|| RouteError::NotBound(route.clone()))?;
        if !state.connected {
            return Err(RouteError::RouteNotConnected(route.clone()));
        }
        let dispatcher = &mut state.dispatcher;
        let result = f(dispatcher);
        dispatcher.transmit_into(&mut self.out);
        let mut moved = Vec::new();
        while let Some(event) = dispatcher.poll_event() {
            // The connection's own `Closed` comes from `close_with`.
            if !matches!(event, Event::Closed(_)) {
                moved.push(event);
            }
        }
        let fatal = dispatcher.close_reason().cloned();
        for event in moved {
            self.events.push_back(RoutedEvent {
                route: route.clone(),
                event,
            });
        }
        // A fatal error on one route ends the whole connection, as it ends a
        // plain one.
        if let Some(reason @ ConnectionError::FatalError { .. }) = fatal {
            self.close_with(reason);
        }
        Ok(result?)
    }

    /// Calls `command` on `route` with a raw argument box.
    ///
    /// ```
    /// let mut r = amp_core::router::Router::default();
    /// let route = r.bind_route();
    /// let e = r.call_remote(&route, "X", &amp_core::AmpBox::new(), true).unwrap_err();
    /// assert!(matches!(e, amp_core::router::RouteError::RouteNotConnected(_)));
    /// ```
    pub fn call_remote(
        &mut self,
        route: &Route,
        command: &str,
        arguments: &AmpBox,
        requires_answer: bool,
    ) -> Result<Option<CallId>, RouteError> {
        self.call_body(route, command, Body::Box(arguments), requires_answer)
    }

    /// [`call_remote`](Self::call_remote) with the arguments as a [`Body`]
    /// (already encoded, as a typed call has them).
    ///
    /// ```
    /// use amp_core::dispatcher::Body;
    /// let mut r = amp_core::router::Router::default();
    /// let route = r.bind_route();
    /// r.connect_to(&route, Some("3".into())).unwrap();
    /// let wire = amp_core::ser::to_wire(&std::collections::BTreeMap::from([("a", 1)])).unwrap();
    /// assert!(r.call_body(&route, "Sum", Body::Wire(&wire), true).unwrap().is_some());
    /// ```
    pub fn call_body(
        &mut self,
        route: &Route,
        command: &str,
        arguments: Body<'_>,
        requires_answer: bool,
    ) -> Result<Option<CallId>, RouteError> {
        self.on_route(route, |d| d.call_body(command, arguments, requires_answer))
    }

    /// Calls, on `route`, the command whose arguments `arguments` are (one
    /// declared with [`command!`](crate::command!)); otherwise as
    /// [`call_as`](Self::call_as).
    ///
    /// ```
    /// amp_core::command! { pub struct Count {} -> () }
    /// let mut r = amp_core::router::Router::default();
    /// let route = r.bind_route();
    /// r.connect_to(&route, Some("3".into())).unwrap();
    /// assert!(r.call(&route, Count {}).unwrap().is_some());
    /// ```
    pub fn call<C: Command<Arguments = C>>(
        &mut self,
        route: &Route,
        arguments: C,
    ) -> Result<Option<CallId>, CallError<C::Error>> {
        self.call_as::<C>(route, &arguments)
    }

    /// Calls the typed command `C` on `route`.
    ///
    /// ```
    /// # use amp_core::Command;
    /// # #[derive(serde::Serialize, serde::Deserialize)] pub struct A {}
    /// # struct Count; impl Command for Count { const NAME: &'static str = "Count"; type Arguments = A; type Response = A; type Error = std::convert::Infallible; }
    /// let mut r = amp_core::router::Router::default();
    /// let route = r.bind_route();
    /// r.connect_to(&route, Some("3".into())).unwrap();
    /// assert!(r.call_as::<Count>(&route, &A {}).unwrap().is_some());
    /// ```
    pub fn call_as<C: Command>(
        &mut self,
        route: &Route,
        arguments: &C::Arguments,
    ) -> Result<Option<CallId>, CallError<C::Error>> {
        let b = crate::ser::to_box(arguments).map_err(CallError::Value)?;
        self.call_remote(route, C::NAME, &b, C::REQUIRES_ANSWER)
            .map_err(|e| match e {
                RouteError::Send(s) => s.into(),
                other => CallError::Send(SendError::Closed(ConnectionError::Transport(
                    other.to_string(),
                ))),
            })
    }

    /// Answers request `tag` on `route`.
    ///
    /// ```
    /// let mut r = amp_core::router::Router::default();
    /// let route = r.bind_route();
    /// r.connect_to(&route, None).unwrap();
    /// assert!(r.answer(&route, b"1", &amp_core::AmpBox::new()).is_err());
    /// ```
    pub fn answer(
        &mut self,
        route: &Route,
        tag: &[u8],
        response: &AmpBox,
    ) -> Result<(), RouteError> {
        self.on_route(route, |d| d.answer(tag, response))
    }

    /// Sends a responder's result for a request on `route` (see
    /// `amp_core::Dispatcher::respond`).
    ///
    /// ```
    /// let mut r = amp_core::router::Router::default();
    /// let route = r.bind_route();
    /// r.connect_to(&route, None).unwrap();
    /// r.respond(&route, None, Ok(amp_core::AmpBox::new())).unwrap();
    /// ```
    pub fn respond(
        &mut self,
        route: &Route,
        tag: Option<&[u8]>,
        result: Result<AmpBox, ResponderError>,
    ) -> Result<(), RouteError> {
        self.on_route(route, |d| d.respond(tag, result))
    }

    /// [`respond`](Self::respond) with the result borrowed.
    ///
    /// ```
    /// let mut r = amp_core::router::Router::default();
    /// let route = r.bind_route();
    /// r.connect_to(&route, None).unwrap();
    /// r.respond_ref(&route, None, Ok(&amp_core::AmpBox::new())).unwrap();
    /// ```
    pub fn respond_ref(
        &mut self,
        route: &Route,
        tag: Option<&[u8]>,
        result: Result<&AmpBox, &ResponderError>,
    ) -> Result<(), RouteError> {
        self.on_route(route, |d| d.respond_ref(tag, result))
    }

    /// Answers request `tag` on `route` with an error box (see
    /// `amp_core::Dispatcher::fail`).
    ///
    /// ```
    /// use amp_core::ResponderError;
    /// let mut r = amp_core::router::Router::default();
    /// let route = r.bind_route();
    /// r.connect_to(&route, None).unwrap();
    /// assert!(r.fail(&route, b"1", &ResponderError::undeclared("x")).is_err(), "nobody asked");
    /// ```
    pub fn fail(
        &mut self,
        route: &Route,
        tag: &[u8],
        error: &ResponderError,
    ) -> Result<(), RouteError> {
        self.on_route(route, |d| d.fail(tag, error))
    }

    /// Whether boxes that are neither requests nor answers, received on
    /// `route`, come out as [`Event::Box`] (`true`) or end the connection
    /// as a protocol error (`false`, the default unless the [`Config`]
    /// says otherwise). A route with a box receiver turns it on.
    ///
    /// ```
    /// let mut r = amp_core::router::Router::default();
    /// let route = r.bind_route();
    /// r.deliver_raw_boxes(&route, true).unwrap();
    /// r.handle_input(&amp_core::AmpBox::from_pairs([("_route", "0"), ("k", "v")]).to_bytes().unwrap());
    /// assert!(matches!(r.poll_event().unwrap().event, amp_core::Event::Box(_)));
    /// ```
    pub fn deliver_raw_boxes(&mut self, route: &Route, on: bool) -> Result<(), RouteError> {
        self.state(route)?.dispatcher.set_raw_boxes(on);
        Ok(())
    }

    /// Sends any box on `route` (with its `_route`).
    ///
    /// ```
    /// let mut r = amp_core::router::Router::default();
    /// let route = r.bind_route();
    /// r.connect_to(&route, Some("9".into())).unwrap();
    /// r.send_box(&route, &amp_core::AmpBox::from_pairs([("k", "v")])).unwrap();
    /// assert!(!r.take_transmit().is_empty());
    /// ```
    pub fn send_box(&mut self, route: &Route, b: &AmpBox) -> Result<(), RouteError> {
        self.on_route(route, |d| d.send_box(b))
    }

    /// Forgets an outstanding call of `route` (its late answer is dropped).
    ///
    /// ```
    /// let mut r = amp_core::router::Router::default();
    /// let route = r.bind_route();
    /// assert!(!r.forget(&route, amp_core::CallId::new(1)));
    /// ```
    pub fn forget(&mut self, route: &Route, call: CallId) -> bool {
        self.routes
            .get_mut(route)
            .is_some_and(|s| s.dispatcher.forget(call))
    }

    /// Feeds received bytes; decoded by [`poll_event`](Self::poll_event).
    ///
    /// ```
    /// let mut r = amp_core::router::Router::default();
    /// r.handle_input(b"\x00\x00");
    /// assert!(r.poll_event().is_some());
    /// ```
    pub fn handle_input(&mut self, data: &[u8]) {
        if self.closed.is_none() {
            let _ = self.decoder.feed(data);
        }
    }

    /// The receive buffer, for reading without a copy.
    ///
    /// ```
    /// assert!(amp_core::router::Router::default().read_buffer().is_empty());
    /// ```
    pub fn read_buffer(&mut self) -> &mut BytesMut {
        self.decoder.buffer_mut()
    }

    /// Received bytes not yet decoded.
    ///
    /// ```
    /// let mut r = amp_core::router::Router::default();
    /// r.handle_input(b"\x00\x01");
    /// assert_eq!(r.buffered(), 2);
    /// ```
    pub fn buffered(&self) -> usize {
        self.decoder.buffered()
    }

    /// The peer closed its side (see `amp_core::Connection::handle_eof`).
    ///
    /// ```
    /// let mut r = amp_core::router::Router::default();
    /// r.handle_eof();
    /// assert!(matches!(r.poll_event().map(|e| e.event), Some(amp_core::Event::Closed(_))));
    /// ```
    pub fn handle_eof(&mut self) {
        self.eof = true;
    }

    /// The transport failed: every route ends with `reason`.
    ///
    /// ```
    /// let mut r = amp_core::router::Router::default();
    /// r.connection_lost(amp_core::ConnectionError::Transport("reset".into()));
    /// assert!(r.is_closed());
    /// ```
    pub fn connection_lost(&mut self, reason: ConnectionError) {
        self.close_with(reason);
    }

    /// Closes from this side.
    ///
    /// ```
    /// let mut r = amp_core::router::Router::default();
    /// r.close();
    /// assert_eq!(r.close_reason(), Some(&amp_core::ConnectionError::Closed));
    /// ```
    pub fn close(&mut self) {
        self.close_with(ConnectionError::Closed);
    }

    /// Whether the connection has ended.
    ///
    /// ```
    /// assert!(!amp_core::router::Router::default().is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// Why the connection ended.
    ///
    /// ```
    /// assert!(amp_core::router::Router::default().close_reason().is_none());
    /// ```
    pub fn close_reason(&self) -> Option<&ConnectionError> {
        self.closed.as_ref()
    }

    /// Ends every route with `reason`: each route's outstanding calls fail
    /// (events tagged with the route), then one [`Event::Closed`] on the
    /// default route's tag closes the connection.
    fn close_with(&mut self, reason: ConnectionError) {
        if self.closed.is_some() {
            return;
        }
        self.closed = Some(reason.clone());
        let mut routes: Vec<Route> = self.routes.keys().cloned().collect();
        routes.sort_by(|a, b| a.name().cmp(&b.name()));
        for route in routes {
            let d = &mut self.routes.get_mut(&route).expect("listed").dispatcher;
            d.close(reason.clone());
            d.transmit_into(&mut self.out);
            while let Some(event) = d.poll_event() {
                if let Event::Closed(_) = event {
                    continue;
                }
                self.events.push_back(RoutedEvent {
                    route: route.clone(),
                    event,
                });
            }
        }
        self.events.push_back(RoutedEvent {
            route: Route::Default,
            event: Event::Closed(reason),
        });
    }

    /// The next event: queued ones first, then the next received box,
    /// routed by its `_route`.
    ///
    /// ```
    /// assert!(amp_core::router::Router::default().poll_event().is_none());
    /// ```
    pub fn poll_event(&mut self) -> Option<RoutedEvent> {
        loop {
            if let Some(event) = self.events.pop_front() {
                return Some(event);
            }
            if self.closed.is_some() {
                return None;
            }
            match self.decoder.decode() {
                Ok(Some(mut b)) => {
                    let route = match b.remove(ROUTE) {
                        Some(name) => Route::Named(name),
                        None => Route::Default,
                    };
                    let Some(state) = self.routes.get_mut(&route) else {
                        let name = route.name().cloned().unwrap_or_default();
                        self.close_with(ConnectionError::Protocol(ProtocolError::UnknownRoute {
                            name,
                        }));
                        continue;
                    };
                    if let Err(e) = state.dispatcher.receive_box(b) {
                        self.close_with(ConnectionError::Protocol(e));
                        continue;
                    }
                    while let Some(event) = state.dispatcher.poll_event() {
                        self.events.push_back(RoutedEvent {
                            route: route.clone(),
                            event,
                        });
                    }
                }
                Ok(None) => {
                    if !self.eof {
                        self.drained_at = self.decoder.consumed() + self.decoder.buffered() as u64;
                        return None;
                    }
                    let reason = match self.decoder.finish() {
                        Ok(()) => ConnectionError::PeerClosed,
                        Err(e) => ConnectionError::Protocol(ProtocolError::Codec(e)),
                    };
                    self.close_with(reason);
                }
                Err(e) => self.close_with(ConnectionError::Protocol(ProtocolError::Codec(e))),
            }
        }
    }

    /// The next deadline of the timeouts set in the [`Config`], or `None`
    /// when no timer runs (neither is set, or the connection has ended). As
    /// `amp_core::Connection::poll_timeout`: it looks at the connection as
    /// it is at `now` and arms what needs arming then, so call it each time
    /// before waiting; then wait for bytes until the deadline at most, and
    /// call [`handle_timeout`](Self::handle_timeout) if it passes first.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let config = amp_core::Config::default().idle_timeout(Duration::from_secs(60));
    /// let mut r = amp_core::router::Router::new(&config);
    /// let now = Instant::now();
    /// assert_eq!(r.poll_timeout(now), Some(now + Duration::from_secs(60)));
    /// assert_eq!(amp_core::router::Router::default().poll_timeout(now), None);
    /// ```
    pub fn poll_timeout(&mut self, now: Instant) -> Option<Instant> {
        if self.timers.timeouts().is_off() || self.closed.is_some() {
            return None;
        }
        let snapshot = self.snapshot();
        self.timers.poll_timeout(now, &snapshot)
    }

    /// A deadline [`poll_timeout`](Self::poll_timeout) returned has passed:
    /// if a rule says so at `now`, the connection ends with
    /// [`ConnectionError::BoxTimeout`] or [`ConnectionError::IdleTimeout`];
    /// every route's calls fail with it and [`Event::Closed`] follows, as
    /// for any end. Calling it early (nothing happens) or late is harmless.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use amp_core::{Config, ConnectionError};
    /// let timeout = Duration::from_secs(60);
    /// let mut r = amp_core::router::Router::new(&Config::default().idle_timeout(timeout));
    /// let deadline = r.poll_timeout(Instant::now()).unwrap();
    /// r.handle_timeout(deadline);
    /// assert_eq!(r.close_reason(), Some(&ConnectionError::IdleTimeout { timeout }));
    /// ```
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.timers.timeouts().is_off() || self.closed.is_some() {
            return;
        }
        let snapshot = self.snapshot();
        if let Some(reason) = self.timers.handle_timeout(now, &snapshot) {
            self.close_with(reason);
        }
    }

    /// The driver has stopped reading (`true`) or reads again (`false`):
    /// while paused, the unfinished-box clock does not run (see
    /// `amp_core::Connection::pause_reading`).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let config = amp_core::Config::default().unfinished_box_timeout(Duration::from_secs(1));
    /// let mut r = amp_core::router::Router::new(&config);
    /// r.handle_input(b"\x00\x01k");
    /// assert!(r.poll_event().is_none());
    /// r.pause_reading(true);
    /// assert_eq!(r.poll_timeout(Instant::now()), None);
    /// ```
    pub fn pause_reading(&mut self, paused: bool) {
        self.timers.pause_reading(paused);
    }

    /// What the timeouts look at, now: busy while any route is.
    fn snapshot(&self) -> Snapshot {
        let decoded = self.decoder.consumed();
        let buffered = self.decoder.buffered();
        let busy = buffered > 0
            || !self.out.is_empty()
            || self.routes.values().any(|state| {
                state.dispatcher.outstanding_calls() > 0 || state.dispatcher.owed_answers() > 0
            });
        Snapshot {
            decoded,
            buffered,
            drained: decoded + buffered as u64 == self.drained_at,
            transmitted: self.transmitted,
            busy,
        }
    }

    /// Takes every byte queued for sending, from every route, in the order
    /// it was queued.
    ///
    /// ```
    /// assert!(amp_core::router::Router::default().take_transmit().is_empty());
    /// ```
    pub fn take_transmit(&mut self) -> Bytes {
        self.transmitted += self.out.len() as u64;
        self.out.split().freeze()
    }

    /// The bytes queued for sending onto the end of `dst`; when `dst` is
    /// empty the two buffers trade places, with nothing copied or allocated
    /// (as [`Dispatcher::transmit_into`]).
    ///
    /// ```
    /// let mut r = amp_core::router::Router::default();
    /// let mut out = bytes::BytesMut::new();
    /// r.transmit_into(&mut out);
    /// assert!(out.is_empty());
    /// ```
    pub fn transmit_into(&mut self, dst: &mut BytesMut) {
        self.transmitted += self.out.len() as u64;
        crate::dispatcher::move_onto(&mut self.out, dst);
    }

    /// Bytes queued for sending.
    ///
    /// ```
    /// assert_eq!(amp_core::router::Router::default().pending_transmit(), 0);
    /// ```
    pub fn pending_transmit(&self) -> usize {
        self.out.len()
    }
}
