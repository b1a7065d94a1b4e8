//! The state machine a live connection drives: a plain
//! [`Connection`](amp_core::Connection), or a [`Router`] carrying routes.
//! Both take bytes and time and give events and bytes; the engine drives
//! either the same way, and a route's calls and answers name their route.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;

use amp_core::dispatcher::Body;
use amp_core::router::{Route, RouteError, RoutedEvent, Router};
use amp_core::{AmpBox, CallId, Connection, ConnectionError, ResponderError, SendError};

use crate::Responders;
use crate::peer::Handle;

/// Which conversation a request or a box belongs to: `None` on a plain
/// connection, the route on a routed one.
pub(crate) type Lane = Option<Arc<RouteLane>>;

/// Which conversation a peer calls on and an answer goes to: 0 on a plain
/// connection, the route's [`RouteLane::id`] on a routed one. A number, so
/// that the plain connection's calls and answers carry nothing to clone or
/// drop and their pending-table key is their call's own.
pub(crate) type LaneId = u32;

/// The plain connection's [`LaneId`].
pub(crate) const PLAIN: LaneId = 0;

/// One bound route of a routed connection, as its peers and its requests
/// name it.
pub(crate) struct RouteLane {
    pub(crate) route: Route,
    /// Tells this route's calls from other routes' in the pending table
    /// (each route numbers its own calls); never [`PLAIN`].
    pub(crate) id: LaneId,
    pub(crate) responders: Responders,
    /// The handle of the route's peers, the ones its responders are given.
    pub(crate) handle: Arc<Handle>,
}

/// The lane of a request or a box: its id, the handle its responders are
/// given and the responders that take it (`plain`'s on a plain
/// connection).
pub(crate) fn lane_of<'a>(
    lane: &'a Lane,
    plain: (&'a Arc<Handle>, &'a Responders),
) -> (LaneId, &'a Arc<Handle>, &'a Responders) {
    match lane {
        None => (PLAIN, plain.0, plain.1),
        Some(lane) => (lane.id, &lane.handle, &lane.responders),
    }
}

/// Bits of a pending-table key left for a route's own call counter.
const CALL_BITS: u32 = 40;

/// The pending-table key of call `id` on `lane` (on the plain connection,
/// the call's own id).
#[inline]
pub(crate) fn call_key(lane: LaneId, id: CallId) -> CallId {
    CallId::new((u64::from(lane) << CALL_BITS) | id.get())
}

/// Whether pending-table key `key` is one of `lane`'s calls.
pub(crate) fn is_lane_key(lane: LaneId, key: CallId) -> bool {
    key.get() >> CALL_BITS == u64::from(lane)
}

// The plain connection is kept inline, as it was before routes ran on the
// engine: the common case pays no indirection on each step. The router is
// reached through a vtable, made only where a routed connection starts: a
// program that never starts one carries none of the router's code, and the
// plain connection's decoding stays one piece of code, inlined where the
// engine takes its events (measured: a second caller of the decoder cost
// the plain connection about 8 % more instructions per call).
#[allow(clippy::large_enum_variant)]
pub(crate) enum Machine {
    Plain(Connection),
    Routed(Box<Routed>),
}

/// A routed connection's state machine: the router, and the routes bound
/// on it as the engine knows them (by name for received boxes, by id for
/// peers' calls and answers).
pub(crate) struct Routed {
    pub(crate) router: Box<dyn Routing>,
    pub(crate) lanes: HashMap<Route, Arc<RouteLane>>,
    pub(crate) by_id: HashMap<LaneId, Arc<RouteLane>>,
    /// The id the next bound route gets (never [`PLAIN`]).
    pub(crate) next_lane: LaneId,
}

impl Routed {
    pub(crate) fn new(router: Router) -> Self {
        Routed {
            router: Box::new(router),
            lanes: HashMap::new(),
            by_id: HashMap::new(),
            next_lane: 1,
        }
    }

    /// Runs a local action on `lane`'s route; refused if the route is
    /// unbound or the connection has ended.
    fn on_lane<T>(
        &mut self,
        lane: LaneId,
        action: impl FnOnce(&mut dyn Routing, &Route) -> Result<T, RouteError>,
    ) -> Result<T, SendError> {
        let Routed { router, by_id, .. } = self;
        let result = match by_id.get(&lane) {
            Some(bound) => action(&mut **router, &bound.route),
            None => Err(RouteError::NotBound(Route::Default)),
        };
        result.map_err(|e| route_refused(&**router, e))
    }
}

/// What the engine asks of a [`Router`].
pub(crate) trait Routing: Send {
    fn is_closed(&self) -> bool;
    fn close_reason(&self) -> Option<&ConnectionError>;
    fn pending_transmit(&self) -> usize;
    fn transmit_into(&mut self, dst: &mut BytesMut);
    fn buffered(&self) -> usize;
    fn read_buffer(&mut self) -> &mut BytesMut;
    fn handle_eof(&mut self);
    fn connection_lost(&mut self, reason: ConnectionError);
    fn poll_timeout(&mut self, now: Instant) -> Option<Instant>;
    fn handle_timeout(&mut self, now: Instant);
    fn pause_reading(&mut self, paused: bool);
    fn poll_event(&mut self) -> Option<RoutedEvent>;
    fn call_body(
        &mut self,
        route: &Route,
        command: &str,
        arguments: Body<'_>,
        requires_answer: bool,
    ) -> Result<Option<CallId>, RouteError>;
    fn send_box(&mut self, route: &Route, b: &AmpBox) -> Result<(), RouteError>;
    fn forget(&mut self, route: &Route, call: CallId) -> bool;
    fn respond_ref(
        &mut self,
        route: &Route,
        tag: Option<&[u8]>,
        result: Result<&AmpBox, &ResponderError>,
    ) -> Result<(), RouteError>;
    fn fail(&mut self, route: &Route, tag: &[u8], error: &ResponderError)
    -> Result<(), RouteError>;
    fn router(&mut self) -> &mut Router;
}

impl Routing for Router {
    fn is_closed(&self) -> bool {
        Router::is_closed(self)
    }
    fn close_reason(&self) -> Option<&ConnectionError> {
        Router::close_reason(self)
    }
    fn pending_transmit(&self) -> usize {
        Router::pending_transmit(self)
    }
    fn transmit_into(&mut self, dst: &mut BytesMut) {
        Router::transmit_into(self, dst)
    }
    fn buffered(&self) -> usize {
        Router::buffered(self)
    }
    fn read_buffer(&mut self) -> &mut BytesMut {
        Router::read_buffer(self)
    }
    fn handle_eof(&mut self) {
        Router::handle_eof(self)
    }
    fn connection_lost(&mut self, reason: ConnectionError) {
        Router::connection_lost(self, reason)
    }
    fn poll_timeout(&mut self, now: Instant) -> Option<Instant> {
        Router::poll_timeout(self, now)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Router::handle_timeout(self, now)
    }
    fn pause_reading(&mut self, paused: bool) {
        Router::pause_reading(self, paused)
    }
    fn poll_event(&mut self) -> Option<RoutedEvent> {
        Router::poll_event(self)
    }
    fn call_body(
        &mut self,
        route: &Route,
        command: &str,
        arguments: Body<'_>,
        requires_answer: bool,
    ) -> Result<Option<CallId>, RouteError> {
        Router::call_body(self, route, command, arguments, requires_answer)
    }
    fn send_box(&mut self, route: &Route, b: &AmpBox) -> Result<(), RouteError> {
        Router::send_box(self, route, b)
    }
    fn forget(&mut self, route: &Route, call: CallId) -> bool {
        Router::forget(self, route, call)
    }
    fn respond_ref(
        &mut self,
        route: &Route,
        tag: Option<&[u8]>,
        result: Result<&AmpBox, &ResponderError>,
    ) -> Result<(), RouteError> {
        Router::respond_ref(self, route, tag, result)
    }
    fn fail(
        &mut self,
        route: &Route,
        tag: &[u8],
        error: &ResponderError,
    ) -> Result<(), RouteError> {
        Router::fail(self, route, tag, error)
    }
    fn router(&mut self) -> &mut Router {
        self
    }
}

/// A route's local refusal, as the engine reports it to a caller: once the
/// connection has ended, its reason (its routes are gone with it).
fn route_refused(router: &dyn Routing, e: RouteError) -> SendError {
    if let Some(reason) = router.close_reason() {
        return SendError::Closed(reason.clone());
    }
    match e {
        RouteError::Send(e) => e,
        RouteError::NotBound(_) => SendError::Closed(ConnectionError::RouteUnbound),
        other => SendError::Closed(ConnectionError::Transport(other.to_string())),
    }
}

impl Machine {
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        match self {
            Machine::Plain(c) => c.is_closed(),
            Machine::Routed(r) => r.router.is_closed(),
        }
    }

    #[inline]
    pub(crate) fn close_reason(&self) -> Option<&ConnectionError> {
        match self {
            Machine::Plain(c) => c.close_reason(),
            Machine::Routed(r) => r.router.close_reason(),
        }
    }

    #[inline]
    pub(crate) fn pending_transmit(&self) -> usize {
        match self {
            Machine::Plain(c) => c.pending_transmit(),
            Machine::Routed(r) => r.router.pending_transmit(),
        }
    }

    /// The queued bytes onto the end of `dst` (swapped in, not copied, when
    /// `dst` is empty).
    #[inline]
    pub(crate) fn transmit_into(&mut self, dst: &mut BytesMut) {
        match self {
            Machine::Plain(c) => c.transmit_into(dst),
            Machine::Routed(r) => r.router.transmit_into(dst),
        }
    }

    /// Bytes taken for sending so far (descriptor passing only).
    #[cfg(unix)]
    pub(crate) fn transmitted(&self) -> u64 {
        match self {
            Machine::Plain(c) => c.transmitted(),
            Machine::Routed(_) => 0,
        }
    }

    /// Turns descriptor passing on (a plain connection only: routes carry
    /// none).
    #[cfg(unix)]
    pub(crate) fn pass_descriptors(&mut self) {
        if let Machine::Plain(c) = self {
            c.pass_descriptors();
        }
    }

    /// Descriptors a read brought (closed at once on a routed connection).
    #[cfg(unix)]
    pub(crate) fn receive_descriptors(&mut self, got: crate::ReceivedDescriptors) {
        if let Machine::Plain(c) = self {
            if got.truncated {
                c.descriptors_lost();
            }
            c.receive_descriptors(got.fds);
        }
    }

    #[cfg(unix)]
    pub(crate) fn take_descriptors(&mut self, taken_from: u64) -> amp_core::descriptor::Outgoing {
        match self {
            Machine::Plain(c) => c.take_descriptors(taken_from),
            Machine::Routed(_) => Vec::new(),
        }
    }

    #[cfg(unix)]
    pub(crate) fn drop_outgoing_descriptors(&mut self) {
        if let Machine::Plain(c) = self {
            c.drop_outgoing_descriptors();
        }
    }

    #[inline]
    pub(crate) fn buffered(&self) -> usize {
        match self {
            Machine::Plain(c) => c.buffered(),
            Machine::Routed(r) => r.router.buffered(),
        }
    }

    #[inline]
    pub(crate) fn read_buffer(&mut self) -> &mut BytesMut {
        match self {
            Machine::Plain(c) => c.read_buffer(),
            Machine::Routed(r) => r.router.read_buffer(),
        }
    }

    #[inline]
    pub(crate) fn handle_eof(&mut self) {
        match self {
            Machine::Plain(c) => c.handle_eof(),
            Machine::Routed(r) => r.router.handle_eof(),
        }
    }

    #[inline]
    pub(crate) fn connection_lost(&mut self, reason: ConnectionError) {
        match self {
            Machine::Plain(c) => c.connection_lost(reason),
            Machine::Routed(r) => r.router.connection_lost(reason),
        }
    }

    #[inline]
    pub(crate) fn poll_timeout(&mut self, now: Instant) -> Option<Instant> {
        match self {
            Machine::Plain(c) => c.poll_timeout(now),
            Machine::Routed(r) => r.router.poll_timeout(now),
        }
    }

    #[inline]
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        match self {
            Machine::Plain(c) => c.handle_timeout(now),
            Machine::Routed(r) => r.router.handle_timeout(now),
        }
    }

    #[inline]
    pub(crate) fn pause_reading(&mut self, paused: bool) {
        match self {
            Machine::Plain(c) => c.pause_reading(paused),
            Machine::Routed(r) => r.router.pause_reading(paused),
        }
    }

    /// This side's calls still waiting for their answer (coming apart
    /// waits for them; only a plain connection comes apart).
    #[inline]
    pub(crate) fn outstanding_calls(&self) -> usize {
        match self {
            Machine::Plain(c) => c.dispatcher().outstanding_calls(),
            Machine::Routed(_) => 0,
        }
    }

    /// Whether `lane` is a route unbound since.
    pub(crate) fn is_unbound(&self, lane: LaneId) -> bool {
        match self {
            Machine::Plain(_) => false,
            Machine::Routed(r) => lane != PLAIN && !r.by_id.contains_key(&lane),
        }
    }

    #[inline]
    pub(crate) fn call_body(
        &mut self,
        lane: LaneId,
        command: &str,
        arguments: Body<'_>,
        requires_answer: bool,
    ) -> Result<Option<CallId>, SendError> {
        match self {
            Machine::Plain(c) => c.call_body(command, arguments, requires_answer),
            Machine::Routed(r) => r.on_lane(lane, |router, at| {
                router.call_body(at, command, arguments, requires_answer)
            }),
        }
    }

    #[inline]
    pub(crate) fn send_box(&mut self, lane: LaneId, b: &AmpBox) -> Result<(), SendError> {
        match self {
            Machine::Plain(c) => c.send_box(b),
            Machine::Routed(r) => r.on_lane(lane, |router, at| router.send_box(at, b)),
        }
    }

    #[inline]
    pub(crate) fn forget(&mut self, lane: LaneId, id: CallId) {
        match self {
            Machine::Plain(c) => {
                c.forget(id);
            }
            Machine::Routed(r) => {
                let _ = r.on_lane(lane, |router, at| Ok(router.forget(at, id)));
            }
        }
    }

    #[inline]
    pub(crate) fn respond_ref(
        &mut self,
        lane: LaneId,
        tag: Option<&[u8]>,
        result: Result<&AmpBox, &ResponderError>,
    ) -> Result<(), SendError> {
        match self {
            Machine::Plain(c) => c.respond_ref(tag, result),
            Machine::Routed(r) => r.on_lane(lane, |router, at| router.respond_ref(at, tag, result)),
        }
    }

    #[inline]
    pub(crate) fn fail(
        &mut self,
        lane: LaneId,
        tag: &[u8],
        error: &ResponderError,
    ) -> Result<(), SendError> {
        match self {
            Machine::Plain(c) => c.fail(tag, error),
            Machine::Routed(r) => r.on_lane(lane, |router, at| router.fail(at, tag, error)),
        }
    }

    /// Takes what is buffered past the last box (coming apart; a routed
    /// connection does not come apart and keeps its bytes).
    #[inline]
    pub(crate) fn switch_protocol(&mut self) -> BytesMut {
        match self {
            Machine::Plain(c) => c.switch_protocol(),
            Machine::Routed(_) => BytesMut::new(),
        }
    }

    /// Takes what is buffered past the last box and goes on: the
    /// transport under the connection is being upgraded (a routed
    /// connection is not upgraded and keeps its bytes).
    pub(crate) fn take_unread(&mut self) -> BytesMut {
        match self {
            Machine::Plain(c) => c.take_unread(),
            Machine::Routed(_) => BytesMut::new(),
        }
    }

    #[inline]
    /// A routed connection's router and routes.
    pub(crate) fn routed(&mut self) -> Option<&mut Routed> {
        match self {
            Machine::Plain(_) => None,
            Machine::Routed(r) => Some(r),
        }
    }
}
