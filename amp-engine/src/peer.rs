//! The handle to a live connection: calls as futures, closing, waiting for
//! the end; and what a responder is given.

use std::fmt;
use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;

use bytes::Bytes;

use amp_core::command::decode_outcome;
use amp_core::dispatcher::Body;
use amp_core::{
    AmpBox, CallError, CallId, CallOutcome, Command, ConnectionError, Locator, SendError,
};

use crate::machine::{LaneId, PLAIN};
use crate::shared::{Shared, State};
use crate::upgrade::{UpgradeError, Upgrading};
#[cfg(doc)]
use crate::{Options, SHUTTING_DOWN_ERROR_CODE};

/// What a responder receives beside its arguments: a handle to the peer that
/// called (to call it back) and its address, and the responders that
/// dispatched the request.
///
/// This is what txampext exposes as special arguments:
///
/// | txampext | here |
/// |---|---|
/// | `EXPOSED_BOX_SENDER` (the connection's box sender) | [`Context::peer`]: `send_box`, and `call`, `notify`, `call_remote` to call the peer back on the same connection |
/// | `EXPOSED_RESPONDER_LOCATOR` (the locator that dispatched the request) | [`Context::responders`] (on a route, the route's own) |
#[derive(Clone, Debug)]
pub struct Context {
    /// The connection the request came on.
    pub peer: Peer,
    /// The responders that took the request.
    pub(crate) responders: Responders,
}

impl Context {
    /// The responders of the connection (or route) the request came on:
    /// the ones that dispatched it, txampext's `EXPOSED_RESPONDER_LOCATOR`.
    /// A responder can see which commands they answer, or hand a request
    /// on to one of them.
    ///
    /// ```no_run
    /// # fn f(ctx: amp_engine::Context) {
    /// let answers_sum = ctx.responders().handles(b"Sum");
    /// # }
    /// ```
    pub fn responders(&self) -> &Responders {
        &self.responders
    }

    /// The peer's address, if the transport has one.
    ///
    /// ```no_run
    /// # fn f(ctx: amp_engine::Context) {
    /// println!("request from {:?}", ctx.peer_addr());
    /// # }
    /// ```
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer.peer_addr()
    }

    /// The certificate the peer presented and this side verified (the
    /// leaf, DER-encoded), on a connection over TLS: Twisted's
    /// `peerCertificate`. `None` on a plain connection, and on TLS when
    /// the peer presented none.
    ///
    /// ```no_run
    /// # fn f(ctx: amp_engine::Context) {
    /// if let Some(der) = ctx.peer_certificate() {
    ///     println!("the caller proved it holds a certificate of {} bytes", der.len());
    /// }
    /// # }
    /// ```
    pub fn peer_certificate(&self) -> Option<Bytes> {
        self.peer.peer_certificates()?.first().cloned()
    }
}

/// The responders of a connection run by this module.
pub type Responders = Locator<Context>;

/// The user's handles; the last one dropped closes the connection.
pub(crate) struct Handle {
    pub(crate) shared: Arc<Shared>,
    /// The route the handle's peers call and answer on ([`PLAIN`]: a plain
    /// connection).
    pub(crate) lane: LaneId,
}

impl Drop for Handle {
    fn drop(&mut self) {
        // A route's handles going does not end the connection its routes
        // share (a routed connection lives until it ends).
        if self.lane == PLAIN {
            self.shared.end(ConnectionError::Closed);
        }
    }
}

/// A handle to one AMP connection. Cheap to clone. The connection closes when
/// [`shutdown`](Self::shutdown) is called, when the peer closes, or when the last
/// handle is dropped (a server keeps one per connection until it ends).
///
/// AMP is symmetric: the same handle calls the peer while the connection's
/// responders answer the peer's calls.
#[derive(Clone)]
pub struct Peer {
    pub(crate) handle: Arc<Handle>,
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("addr", &self.handle.shared.addr)
            .field("closed", &self.handle.shared.close_reason())
            .finish()
    }
}

/// Waits for a queued call's outcome; dropped before it, forgets the call.
struct AnswerWait<'a> {
    shared: &'a Shared,
    lane: LaneId,
    id: Option<CallId>,
}

impl Future for AnswerWait<'_> {
    type Output = CallOutcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<CallOutcome> {
        let Some(id) = self.id else {
            return Poll::Ready(Err(CallError::Connection(ConnectionError::Closed)));
        };
        let outcome = std::task::ready!(self.shared.poll_answer(self.lane, id, cx));
        self.id = None;
        Poll::Ready(outcome)
    }
}

impl Drop for AnswerWait<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.shared.cancel(self.lane, id);
        }
    }
}

/// A typed call: queued once there is room, then waiting for its answer,
/// then decoded. Written by hand rather than as an `async` block so that it
/// stays small (it is moved into whatever holds the caller's futures).
struct TypedCall<C: Command> {
    peer: Peer,
    stage: Stage,
    command: std::marker::PhantomData<fn() -> C>,
}

enum Stage {
    /// Arguments encoded (their pairs' wire form: the future stays small
    /// and queueing is one copy), not queued yet; a listener once the
    /// outbound budget was found full.
    Send(Bytes, Option<event_listener::EventListener>),
    /// Arguments that carry descriptors, which go with a box (boxed: the
    /// future of a call without descriptors stays as small as before).
    SendBox(Box<AmpBox>, Option<event_listener::EventListener>),
    /// The arguments did not encode.
    Invalid(amp_core::ValueError),
    /// Queued; waiting for the answer.
    Wait(CallId),
    Done,
}

impl<C: Command> Future for TypedCall<C> {
    type Output = Result<C::Response, CallError<C::Error>>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let shared = &*this.peer.handle.shared;
        let lane = this.peer.handle.lane;
        match &mut this.stage {
            Stage::Send(..) | Stage::SendBox(..) => {
                let queued = std::task::ready!(match &mut this.stage {
                    Stage::SendBox(arguments, listener) => {
                        shared.poll_queue(listener, cx, |state, waker| {
                            state.queue_call(lane, C::NAME, Body::Box(arguments), true, Some(waker))
                        })
                    }
                    Stage::Send(arguments, listener) => {
                        shared.poll_queue(listener, cx, |state, waker| {
                            state.queue_call(
                                lane,
                                C::NAME,
                                Body::Wire(arguments),
                                true,
                                Some(waker),
                            )
                        })
                    }
                    _ => unreachable!(),
                });
                match queued {
                    Ok(Some(id)) => {
                        // Its slot has this task's waker: wait without
                        // looking again.
                        this.stage = Stage::Wait(id);
                        Poll::Pending
                    }
                    // Not reached: a call that asks for an answer is given a
                    // tag. Reported as the end rather than waited on.
                    Ok(None) => {
                        this.stage = Stage::Done;
                        Poll::Ready(Err(CallError::Connection(ConnectionError::Closed)))
                    }
                    Err(e) => {
                        this.stage = Stage::Done;
                        Poll::Ready(decode_outcome::<C>(Err(send_failure(e))))
                    }
                }
            }
            Stage::Wait(id) => {
                let outcome = std::task::ready!(shared.poll_answer(lane, *id, cx));
                this.stage = Stage::Done;
                Poll::Ready(decode_outcome::<C>(outcome))
            }
            Stage::Invalid(_) | Stage::Done => {
                match std::mem::replace(&mut this.stage, Stage::Done) {
                    Stage::Invalid(e) => Poll::Ready(Err(CallError::Value(e))),
                    _ => panic!("a call's future was polled after it completed"),
                }
            }
        }
    }
}

impl<C: Command> Drop for TypedCall<C> {
    fn drop(&mut self) {
        if let Stage::Wait(id) = self.stage {
            self.peer.handle.shared.cancel(self.peer.handle.lane, id);
        }
    }
}

/// A call already queued on its connection ([`Peer::call_queued`]): a
/// future of its answer. Dropped before the answer, forgets the call (its
/// answer, if it comes, is dropped quietly).
pub struct QueuedCall<C: Command> {
    peer: Peer,
    id: Option<CallId>,
    command: std::marker::PhantomData<fn() -> C>,
}

impl<C: Command> fmt::Debug for QueuedCall<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueuedCall")
            .field("command", &C::NAME)
            .field("answered", &self.id.is_none())
            .finish()
    }
}

impl<C: Command> Future for QueuedCall<C> {
    type Output = Result<C::Response, CallError<C::Error>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let Some(id) = self.id else {
            return Poll::Ready(Err(CallError::Connection(ConnectionError::Closed)));
        };
        let handle = &self.peer.handle;
        let outcome = std::task::ready!(handle.shared.poll_answer(handle.lane, id, cx));
        self.id = None;
        Poll::Ready(decode_outcome::<C>(outcome))
    }
}

impl<C: Command> Drop for QueuedCall<C> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.peer.handle.shared.cancel(self.peer.handle.lane, id);
        }
    }
}

/// What a call that could not be queued failed with.
fn send_failure(e: SendError) -> CallError {
    match e {
        SendError::Closed(reason) => CallError::Connection(reason),
        other => CallError::Send(other),
    }
}

/// The future [`Peer::shutdown`] and
/// [`RoutedPeer::shutdown`](crate::routed::RoutedPeer::shutdown) return:
/// resolves with why the connection ended. The stop has started already;
/// dropping this does not cancel it.
pub struct Shutdown {
    ended: Pin<Box<dyn Future<Output = ConnectionError> + Send>>,
}

impl Shutdown {
    pub(crate) fn new(ended: impl Future<Output = ConnectionError> + Send + 'static) -> Self {
        Shutdown {
            ended: Box::pin(ended),
        }
    }
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown").finish_non_exhaustive()
    }
}

impl Future for Shutdown {
    type Output = ConnectionError;
    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<ConnectionError> {
        self.ended.as_mut().poll(cx)
    }
}

impl Peer {
    pub(crate) fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    /// The peer's address, if the transport has one.
    ///
    /// ```
    /// # let peer = amp_engine::tests_support::idle_peer();
    /// assert!(peer.peer_addr().is_none());
    /// ```
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.shared().addr
    }

    /// Runs `queue` on the connection once there is room (or the connection
    /// has ended, which `queue` then reports): the bytes waiting to be
    /// written plus this side's requests still waiting for their answer stay
    /// under `max_outbound_bytes`. Bounding the requests in flight, not only
    /// the unwritten bytes, is what lets two peers that flood each other
    /// with calls both keep reading: each holds at most the other's budget
    /// of requests it cannot start yet (see `max_waiting_bytes`).
    async fn queue<T>(
        &self,
        mut queue: impl FnMut(&mut State) -> Result<T, SendError>,
    ) -> Result<T, SendError> {
        let mut listener = None;
        poll_fn(|cx| {
            self.shared()
                .poll_queue(&mut listener, cx, |state, _| queue(state))
        })
        .await
    }

    async fn call_box(
        &self,
        command: &str,
        arguments: &AmpBox,
        requires_answer: bool,
    ) -> Result<Option<AmpBox>, CallError> {
        let call = self.call_box_unlogged(command, arguments, requires_answer);
        #[cfg(feature = "tracing")]
        let call = tracing::Instrument::instrument(
            call,
            tracing::debug_span!(parent: &self.handle.shared.span, "amp_call", command),
        );
        call.await
    }

    async fn call_box_unlogged(
        &self,
        command: &str,
        arguments: &AmpBox,
        requires_answer: bool,
    ) -> Result<Option<AmpBox>, CallError> {
        let shared = self.shared();
        let queued = self
            .queue(|state| {
                state.queue_call(
                    self.handle.lane,
                    command,
                    Body::Box(arguments),
                    requires_answer,
                    None,
                )
            })
            .await
            .map_err(send_failure)?;
        let Some(id) = queued else {
            return Ok(None);
        };
        AnswerWait {
            shared,
            lane: self.handle.lane,
            id: Some(id),
        }
        .await
        .map(Some)
    }

    /// Calls the command whose arguments `arguments` are, and waits for its
    /// response: the form of commands declared with
    /// [`command!`](amp_core::command!), whose arguments struct is the
    /// command. Otherwise as [`call_as`](Self::call_as).
    ///
    /// ```
    /// amp_core::command! {
    ///     pub struct Sum { pub a: i64, pub b: i64 } -> pub struct Total { pub total: i64 }
    /// }
    /// # let peer = amp_engine::tests_support::idle_peer();
    /// # peer.shutdown(std::time::Duration::ZERO);
    /// let answer = futures_executor::block_on(peer.call(Sum { a: 1, b: 2 }));
    /// assert!(answer.is_err(), "the connection is closed");
    /// ```
    ///
    /// A command that wants no answer is sent with [`notify`](Self::notify);
    /// calling it does not compile:
    ///
    /// ```compile_fail,E0080
    /// amp_core::command! { pub struct Log { pub text: String } -> () without answer }
    /// # let peer = amp_engine::tests_support::idle_peer();
    /// let never = peer.call(Log { text: "hi".into() });
    /// ```
    pub fn call<C: Command<Arguments = C>>(
        &self,
        arguments: C,
    ) -> impl Future<Output = Result<C::Response, CallError<C::Error>>> + Send + 'static + use<C>
    {
        self.call_as::<C>(&arguments)
    }

    /// Sends the command whose arguments `arguments` are without asking for
    /// an answer: [`notify_as`](Self::notify_as) for commands declared with
    /// [`command!`](amp_core::command!).
    ///
    /// ```
    /// amp_core::command! {
    ///     pub struct Log { pub text: String } -> () without answer
    /// }
    /// # let peer = amp_engine::tests_support::idle_peer();
    /// # peer.shutdown(std::time::Duration::ZERO);
    /// let sent = futures_executor::block_on(peer.notify(Log { text: "hi".into() }));
    /// assert!(sent.is_err(), "the connection is closed");
    /// ```
    pub fn notify<C: Command<Arguments = C>>(
        &self,
        arguments: C,
    ) -> impl Future<Output = Result<(), CallError<C::Error>>> + Send + 'static + use<C> {
        self.notify_as::<C>(&arguments)
    }

    /// Calls command `C` and waits for its response. The arguments are
    /// encoded when `call` is called, so the returned future borrows nothing
    /// and can be spawned. A command that wants no answer
    /// (`REQUIRES_ANSWER = false`) is sent with [`notify_as`](Self::notify_as):
    /// calling it here does not compile.
    ///
    /// The error says what happened: one of the command's declared errors,
    /// an undeclared remote error (`UNKNOWN`, `UNHANDLED`, ...), a value that
    /// does not encode or decode, or the end of the connection.
    ///
    /// Dropping the future cancels the call: its answer, if it comes, is
    /// dropped quietly. A timeout is therefore the runtime's timeout wrapped
    /// around this future.
    ///
    /// ```
    /// # use amp_core::Command;
    /// # #[derive(serde::Serialize, serde::Deserialize)] pub struct SumArgs { a: i64, b: i64 }
    /// # #[derive(serde::Serialize, serde::Deserialize)] pub struct Total { total: i64 }
    /// # struct Sum; impl Command for Sum { const NAME: &'static str = "Sum"; type Arguments = SumArgs; type Response = Total; type Error = std::convert::Infallible; }
    /// # let peer = amp_engine::tests_support::idle_peer();
    /// let call = peer.call_as::<Sum>(&SumArgs { a: 1, b: 2 });
    /// drop(call); // cancelled before it was even sent
    /// ```
    pub fn call_as<C: Command>(
        &self,
        arguments: &C::Arguments,
    ) -> impl Future<Output = Result<C::Response, CallError<C::Error>>> + Send + 'static + use<C>
    {
        const {
            assert!(
                C::REQUIRES_ANSWER,
                "this command wants no answer: send it with Peer::notify"
            )
        };
        let stage = match amp_core::ser::to_wire(arguments) {
            Ok(wire) => Stage::Send(wire, None),
            // Descriptors go with a box (see amp_core::descriptor).
            Err(e) if e.needs_box() => match amp_core::ser::to_box(arguments) {
                Ok(b) => Stage::SendBox(Box::new(b), None),
                Err(e) => Stage::Invalid(e),
            },
            Err(e) => Stage::Invalid(e),
        };
        let call = TypedCall::<C> {
            peer: self.clone(),
            stage,
            command: std::marker::PhantomData,
        };
        #[cfg(feature = "tracing")]
        let call = tracing::Instrument::instrument(
            call,
            tracing::debug_span!(parent: &self.handle.shared.span, "amp_call", command = C::NAME),
        );
        call
    }

    /// Calls command `C` in two steps: resolves once the request is queued
    /// on the connection (after any earlier one: requests queued one after
    /// the other go out in that order), with a future of its answer. A
    /// stream that sends its bytes as calls keeps them in order this way
    /// and still has many calls in flight. Dropping the answer's future
    /// cancels the call, as dropping [`call`](Self::call)'s does.
    ///
    /// ```
    /// # use amp_core::Command;
    /// # #[derive(serde::Serialize, serde::Deserialize)] pub struct SumArgs { a: i64, b: i64 }
    /// # #[derive(serde::Serialize, serde::Deserialize)] pub struct Total { total: i64 }
    /// # struct Sum; impl Command for Sum { const NAME: &'static str = "Sum"; type Arguments = SumArgs; type Response = Total; type Error = std::convert::Infallible; }
    /// # let peer = amp_engine::tests_support::idle_peer();
    /// # peer.shutdown(std::time::Duration::ZERO);
    /// let queued = futures_executor::block_on(peer.call_queued::<Sum>(&SumArgs { a: 1, b: 2 }));
    /// assert!(queued.is_err(), "the connection is closed: nothing is queued");
    /// ```
    pub fn call_queued<C: Command>(
        &self,
        arguments: &C::Arguments,
    ) -> impl Future<Output = Result<QueuedCall<C>, CallError<C::Error>>> + Send + 'static + use<C>
    {
        const {
            assert!(
                C::REQUIRES_ANSWER,
                "this command wants no answer: send it with Peer::notify"
            )
        };
        let wire = amp_core::ser::to_wire(arguments);
        let peer = self.clone();
        async move {
            let wire = wire.map_err(CallError::Value)?;
            let queued = peer
                .queue(|state| {
                    state.queue_call(peer.handle.lane, C::NAME, Body::Wire(&wire), true, None)
                })
                .await
                .map_err(|e| send_failure(e).typed())?;
            let Some(id) = queued else {
                return Err(CallError::Connection(ConnectionError::Closed));
            };
            Ok(QueuedCall::<C> {
                peer,
                id: Some(id),
                command: std::marker::PhantomData,
            })
        }
    }

    /// Sends command `C` without asking for an answer (no `_ask`: Twisted's
    /// `callRemote` of a command with `requiresAnswer=False`); resolves once
    /// it is queued. Any command may be sent so; one that declares
    /// `REQUIRES_ANSWER = false` can only be.
    ///
    /// ```
    /// # use amp_core::Command;
    /// # #[derive(serde::Serialize, serde::Deserialize)] pub struct Text { text: String }
    /// # #[derive(serde::Serialize, serde::Deserialize)] pub struct Empty {}
    /// # struct Log; impl Command for Log { const NAME: &'static str = "Log"; const REQUIRES_ANSWER: bool = false; type Arguments = Text; type Response = Empty; type Error = std::convert::Infallible; }
    /// # let peer = amp_engine::tests_support::idle_peer();
    /// # peer.shutdown(std::time::Duration::ZERO);
    /// let sent = futures_executor::block_on(peer.notify_as::<Log>(&Text { text: "hi".into() }));
    /// assert!(sent.is_err(), "the connection is closed");
    /// ```
    pub fn notify_as<C: Command>(
        &self,
        arguments: &C::Arguments,
    ) -> impl Future<Output = Result<(), CallError<C::Error>>> + Send + 'static + use<C> {
        let wire = amp_core::ser::to_wire(arguments);
        let peer = self.clone();
        async move {
            let wire = wire.map_err(CallError::Value)?;
            peer.queue(|state| {
                state.queue_call(peer.handle.lane, C::NAME, Body::Wire(&wire), false, None)
            })
            .await
            .map(|_| ())
            .map_err(|e| send_failure(e).typed())
        }
    }

    /// Calls a command by name with a raw argument box and waits for the
    /// answer's box (Twisted's `callRemoteString`).
    ///
    /// ```no_run
    /// # async fn f(peer: amp_engine::Peer) {
    /// let answer = peer
    ///     .call_remote("Sum", amp_core::AmpBox::from_pairs([("a", "1"), ("b", "2")]))
    ///     .await;
    /// # }
    /// ```
    pub async fn call_remote(&self, command: &str, arguments: AmpBox) -> Result<AmpBox, CallError> {
        self.call_box(command, &arguments, true)
            .await
            .map(Option::unwrap_or_default)
    }

    /// Sends a command by name without asking for an answer.
    ///
    /// ```no_run
    /// # async fn f(peer: amp_engine::Peer) {
    /// peer.notify_remote("Notify", amp_core::AmpBox::from_pairs([("text", "hi")])).await.unwrap();
    /// # }
    /// ```
    pub async fn notify_remote(&self, command: &str, arguments: AmpBox) -> Result<(), CallError> {
        self.call_box(command, &arguments, false).await.map(|_| ())
    }

    /// Sends any box as it is.
    ///
    /// ```no_run
    /// # async fn f(peer: amp_engine::Peer) {
    /// peer.send_box(amp_core::AmpBox::from_pairs([("hello", "world")])).await.unwrap();
    /// # }
    /// ```
    pub async fn send_box(&self, b: AmpBox) -> Result<(), SendError> {
        self.queue(|state| {
            if state.detaching || state.upgrades.locked {
                return Err(SendError::Closed(ConnectionError::ProtocolSwitched));
            }
            state.machine.send_box(self.handle.lane, &b)
        })
        .await
    }

    /// The certificate chain the peer presented on this connection's TLS
    /// and this side verified, leaf first, DER-encoded; `None` before TLS
    /// (or when the peer presented none).
    ///
    /// ```
    /// # let peer = amp_engine::tests_support::idle_peer();
    /// assert!(peer.peer_certificates().is_none());
    /// ```
    pub fn peer_certificates(&self) -> Option<Vec<Bytes>> {
        let state = self.shared().lock();
        state
            .upgrades
            .peer_certificates
            .as_deref()
            .map(<[Bytes]>::to_vec)
    }

    /// Whether the connection's transport has been upgraded in place
    /// (StartTLS), or started upgraded (TLS from the first byte).
    ///
    /// ```
    /// # let peer = amp_engine::tests_support::idle_peer();
    /// assert!(!peer.is_upgraded());
    /// ```
    pub fn is_upgraded(&self) -> bool {
        self.shared().lock().upgrades.done > 0
    }

    /// Resolves once the transport has been upgraded (a connection
    /// started upgraded: once its TLS handshake is done), or with why the
    /// connection ended first.
    ///
    /// ```
    /// # let peer = amp_engine::tests_support::idle_peer();
    /// peer.shutdown(std::time::Duration::ZERO);
    /// let upgraded = futures_executor::block_on(peer.upgraded());
    /// assert_eq!(upgraded, Err(amp_core::ConnectionError::Closed));
    /// ```
    pub fn upgraded(
        &self,
    ) -> impl Future<Output = Result<(), ConnectionError>> + Send + 'static + use<> {
        let shared = Arc::clone(&self.handle.shared);
        async move {
            loop {
                let listener = shared.upgraded.listen();
                {
                    let state = shared.lock();
                    if state.upgrades.done > 0 {
                        return Ok(());
                    }
                    if let Some(reason) = state.machine.close_reason() {
                        return Err(reason.clone());
                    }
                }
                listener.await;
            }
        }
    }

    /// Calls `command` and, once the peer answers without an error,
    /// upgrades the transport in place (Twisted's `StartTLS`): the call is
    /// the last box written on the old transport, its answer the last box
    /// read from it. Boxes queued after the call (other calls, answers)
    /// wait and go out on the upgraded transport, in order; calls in
    /// flight are answered whichever transport their answer comes on.
    /// `how` goes to the connection's [`Upgrader`](crate::Upgrader) (a
    /// TLS client configuration, say). Resolves with the answer once the
    /// transport is upgraded.
    ///
    /// An error answer leaves the connection as it was, not upgraded
    /// ([`UpgradeError::Call`]); an upgrade that fails ends the connection
    /// ([`UpgradeError::Failed`], with
    /// [`ConnectionError::UpgradeFailed`]). Only a connection started with
    /// [`start_upgradable`](crate::start_upgradable) upgrades, one upgrade
    /// at a time. Dropping the future does not stop an upgrade whose call
    /// has gone out: the peer switches when it answers, so this side does
    /// too.
    ///
    /// ```
    /// # let peer = amp_engine::tests_support::idle_peer();
    /// let tried = futures_executor::block_on(
    ///     peer.call_upgrading("StartTLS", amp_core::AmpBox::new(), Box::new(())),
    /// );
    /// assert!(matches!(tried, Err(amp_engine::UpgradeError::NotUpgradable)));
    /// ```
    pub async fn call_upgrading(
        &self,
        command: &str,
        arguments: AmpBox,
        how: Box<dyn std::any::Any + Send>,
    ) -> Result<AmpBox, UpgradeError> {
        self.call_changing(command, arguments, how, false).await
    }

    /// Calls `command` as Twisted's `ProtocolSwitchCommand`: from now on
    /// no call or box may be queued on this connection (they fail with
    /// [`ConnectionError::ProtocolSwitched`], as Twisted refuses them while
    /// a switch is pending); an error answer lifts that and the
    /// connection goes on ([`UpgradeError::Call`]); once the answer comes
    /// the transport, with every byte read after the answer, goes to the
    /// connection's [`Upgrader`](crate::Upgrader) with `how` (which hands
    /// it to the protocol switched to), and the AMP connection ends with
    /// [`ConnectionError::ProtocolSwitched`]. Resolves with the answer
    /// then.
    ///
    /// ```
    /// # let peer = amp_engine::tests_support::idle_peer();
    /// let tried = futures_executor::block_on(
    ///     peer.call_switching("SwitchToEcho", amp_core::AmpBox::new(), Box::new(())),
    /// );
    /// assert!(matches!(tried, Err(amp_engine::UpgradeError::NotUpgradable)));
    /// ```
    pub async fn call_switching(
        &self,
        command: &str,
        arguments: AmpBox,
        how: Box<dyn std::any::Any + Send>,
    ) -> Result<AmpBox, UpgradeError> {
        self.call_changing(command, arguments, how, true).await
    }

    async fn call_changing(
        &self,
        command: &str,
        arguments: AmpBox,
        how: Box<dyn std::any::Any + Send>,
        switching: bool,
    ) -> Result<AmpBox, UpgradeError> {
        if self.handle.lane != PLAIN {
            return Err(UpgradeError::NotUpgradable);
        }
        let mut how = Some(how);
        let queued = self
            .queue(|state| {
                if !state.upgrades.enabled {
                    return Ok(Err(UpgradeError::NotUpgradable));
                }
                if state.upgrades.now.is_some() {
                    return Ok(Err(UpgradeError::InProgress));
                }
                let Some(id) =
                    state.queue_call(PLAIN, command, Body::Box(&arguments), true, None)?
                else {
                    return Err(SendError::Closed(ConnectionError::Closed));
                };
                state.upgrades.now = Some(Upgrading::Called {
                    call: id,
                    how: how.take(),
                });
                state.upgrades.locked = switching;
                // Everything queued up to here goes out on the old
                // transport; what follows waits for the new one.
                state.upgrades.write_limit = Some(state.machine.pending_transmit());
                Ok(Ok((id, state.upgrades.done)))
            })
            .await
            .map_err(|e| UpgradeError::Call(send_failure(e)))?;
        let (id, done_before) = queued?;
        let shared = self.shared();
        let answer = AnswerWait {
            shared,
            lane: PLAIN,
            id: Some(id),
        }
        .await
        .map_err(UpgradeError::Call)?;
        loop {
            let listener = shared.upgraded.listen();
            {
                let state = shared.lock();
                match state.machine.close_reason() {
                    // Switched: the transport is the other protocol's now.
                    Some(ConnectionError::ProtocolSwitched) if switching => return Ok(answer),
                    Some(reason) => return Err(UpgradeError::Failed(reason.clone())),
                    None => {}
                }
                if state.upgrades.done > done_before {
                    return Ok(answer);
                }
            }
            listener.await;
        }
    }

    /// Starts taking the connection apart, to hand its transport to another
    /// protocol (a protocol switch, TLS, a stream handover). From now on no
    /// call or box is queued (they fail with
    /// [`ConnectionError::ProtocolSwitched`]), no new responder starts
    /// (requests already read and not started are refused as in a graceful
    /// [`shutdown`](Self::shutdown)), and the transport is read only while
    /// this side still waits for answers. Once this side's calls have their
    /// answers and the running responders have answered and everything is
    /// written, the connection ends with
    /// [`ConnectionError::ProtocolSwitched`], and the future of
    /// a connection started with [`start_detachable`](crate::start_detachable)
    /// yields its transport and the bytes read past the last box, not one
    /// of which was decoded. On a connection started otherwise it only
    /// ends it. A routed connection is not taken apart: on one of its
    /// routes this does nothing.
    ///
    /// ```
    /// # let peer = amp_engine::tests_support::idle_peer();
    /// peer.detach();
    /// let call = futures_executor::block_on(peer.call_remote("Sum", amp_core::AmpBox::new()));
    /// assert!(call.is_err(), "nothing is queued once coming apart");
    /// ```
    pub fn detach(&self) {
        if self.handle.lane != PLAIN {
            return;
        }
        self.shared().lock().detaching = true;
        self.shared().wake_reader.notify();
    }

    /// Stops the connection: the one way to stop a peer. Resolves with why
    /// it ended, but the stop starts at once, whether or not the returned
    /// future is awaited.
    ///
    /// - **Requests that arrive from now on** are not run: each gets a
    ///   non-fatal [`SHUTTING_DOWN_ERROR_CODE`] error answer (one without
    ///   `_ask` is dropped).
    /// - **Responders already running** may finish until `grace` has
    ///   passed; their calls back still get their answers, and their
    ///   answers are written. Those still running then are dropped, and
    ///   their requests stay unanswered.
    /// - **This side's calls** still go out, and are answered, until the
    ///   connection closes; one still waiting then fails with
    ///   [`ConnectionError::Closed`].
    /// - The connection closes as soon as no responder runs, or when
    ///   `grace` has passed: bytes already queued are written, then the
    ///   transport is closed. It ends with [`ConnectionError::Closed`]
    ///   (unless it had ended already, with another reason).
    ///
    /// A zero `grace` closes now: nothing more is run or answered.
    /// `Duration::MAX` waits for the running responders however long they
    /// take. The grace is timed by the connection's own runtime.
    ///
    /// On a route of a routed connection, stops that route only, at once
    /// whatever the grace: it is unbound, its pending calls fail with
    /// [`ConnectionError::RouteUnbound`], and a later box for it ends the
    /// connection (an unknown route); the other routes go on. The whole
    /// routed connection stops with
    /// [`RoutedPeer::shutdown`](crate::routed::RoutedPeer::shutdown).
    ///
    /// ```
    /// use std::time::Duration;
    /// # let peer = amp_engine::tests_support::idle_peer();
    /// let reason = futures_executor::block_on(peer.shutdown(Duration::ZERO));
    /// assert_eq!(reason, amp_core::ConnectionError::Closed);
    /// assert!(peer.is_closed());
    /// ```
    ///
    /// Without waiting (from a `Drop`, say), the stop still happens:
    ///
    /// ```
    /// # let peer = amp_engine::tests_support::idle_peer();
    /// peer.shutdown(std::time::Duration::ZERO);
    /// assert!(peer.is_closed());
    /// ```
    pub fn shutdown(&self, grace: std::time::Duration) -> Shutdown {
        match self.handle.lane {
            PLAIN => self.shared().stop(grace),
            lane => self.shared().unbind(lane),
        }
        Shutdown::new(self.closed())
    }

    /// Resolves when the connection has ended, with the reason (on a route:
    /// or when the route was unbound, with
    /// [`ConnectionError::RouteUnbound`]).
    ///
    /// ```
    /// # let peer = amp_engine::tests_support::idle_peer();
    /// peer.shutdown(std::time::Duration::ZERO);
    /// let reason = futures_executor::block_on(peer.closed());
    /// assert_eq!(reason, amp_core::ConnectionError::Closed);
    /// ```
    pub fn closed(&self) -> impl Future<Output = ConnectionError> + Send + 'static + use<> {
        // Holds the connection's state only, not a handle: waiting does not
        // keep the connection open.
        let shared = Arc::clone(&self.handle.shared);
        let lane = self.handle.lane;
        async move {
            loop {
                let listener = shared.ended.listen();
                {
                    let state = shared.lock();
                    if let Some(reason) = state.machine.close_reason() {
                        return reason.clone();
                    }
                    if state.machine.is_unbound(lane) {
                        return ConnectionError::RouteUnbound;
                    }
                }
                listener.await;
            }
        }
    }

    /// Whether the connection has ended (on a route: or the route was
    /// unbound).
    ///
    /// ```
    /// # let peer = amp_engine::tests_support::idle_peer();
    /// assert!(!peer.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        let state = self.shared().lock();
        state.machine.is_closed() || state.machine.is_unbound(self.handle.lane)
    }

    /// Whether the connection has work under way: a call of this side
    /// waiting for its answer, a responder running or waiting for a slot,
    /// received bytes not decoded yet, or bytes not written yet. A
    /// connection that is not busy and sees no traffic is idle (what
    /// [`Options::idle_timeout`] looks for).
    ///
    /// ```
    /// # let peer = amp_engine::tests_support::idle_peer();
    /// assert!(!peer.is_busy());
    /// ```
    pub fn is_busy(&self) -> bool {
        let shared = self.shared();
        shared.lock().has_work() || shared.responders_busy.load(Ordering::Relaxed) > 0
    }
}
