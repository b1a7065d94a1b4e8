//! Typed calls as a [`tower::Service`], so that tower's layers (timeout,
//! retry, rate and concurrency limits, load balancing) apply to AMP calls.
//! Feature `tower`.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use amp_core::{CallError, Command};

use crate::Peer;

/// The future of one call made through a [`CallService`].
pub type CallFuture<C> = Pin<
    Box<
        dyn Future<Output = Result<<C as Command>::Response, CallError<<C as Command>::Error>>>
            + Send
            + 'static,
    >,
>;

/// Calls of command `C` on a peer, as a [`tower::Service`] from the
/// command's arguments to its response: [`Peer::call_as`] behind tower's
/// interface. Made by [`Peer::service`].
///
/// It is always ready while the connection is open (the engine's own
/// backpressure holds each call's future, not `poll_ready`), and answers
/// `poll_ready` with the connection's end once it has ended, so a balancer
/// drops it.
///
/// ```
/// use tower::{Service, ServiceExt};
/// amp_core::command! {
///     pub struct Sum { pub a: i64, pub b: i64 } -> pub struct Total { pub total: i64 }
/// }
/// # let peer = amp_engine::tests_support::idle_peer();
/// # peer.shutdown(std::time::Duration::ZERO);
/// let mut sums = peer.service::<Sum>();
/// let called = futures_executor::block_on(sums.ready()).map(|_| ());
/// assert!(called.is_err(), "the connection is closed");
/// ```
pub struct CallService<C> {
    peer: Peer,
    command: PhantomData<fn() -> C>,
}

impl<C> Clone for CallService<C> {
    fn clone(&self) -> Self {
        CallService {
            peer: self.peer.clone(),
            command: PhantomData,
        }
    }
}

impl<C> std::fmt::Debug for CallService<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallService")
            .field("command", &std::any::type_name::<C>())
            .finish()
    }
}

impl<C: Command> tower::Service<C::Arguments> for CallService<C> {
    type Response = C::Response;
    type Error = CallError<C::Error>;
    type Future = CallFuture<C>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if !self.peer.is_closed() {
            return Poll::Ready(Ok(()));
        }
        let reason = self.peer.shared().close_reason();
        Poll::Ready(Err(CallError::Connection(
            reason.unwrap_or(amp_core::ConnectionError::Closed),
        )))
    }

    fn call(&mut self, arguments: C::Arguments) -> Self::Future {
        Box::pin(self.peer.call_as::<C>(&arguments))
    }
}

impl Peer {
    /// Calls of command `C` on this peer as a [`tower::Service`] (feature
    /// `tower`).
    ///
    /// ```
    /// amp_core::command! { pub struct Ping {} -> () }
    /// # let peer = amp_engine::tests_support::idle_peer();
    /// let pings = peer.service::<Ping>();
    /// # drop(pings);
    /// ```
    pub fn service<C: Command>(&self) -> CallService<C> {
        CallService {
            peer: self.clone(),
            command: PhantomData,
        }
    }
}
