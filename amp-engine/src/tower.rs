//! Typed calls on a [`Peer`] as a [`tower_service::Service`] (feature
//! `tower`), so that tower's middleware (timeouts, retries, rate and
//! concurrency limits, load balancing) applies to AMP calls.
//!
//! The service takes a command's arguments and answers its response; its
//! error is the call's [`CallError`]. It is ready while the connection is
//! open: once the connection has ended, `poll_ready` fails with the reason,
//! so a balancer drops it.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use amp_core::{CallError, Command, ConnectionError};

use crate::Peer;

/// Calls of command `C` on a peer, as a tower `Service<C::Arguments>`.
///
/// ```
/// # use std::convert::Infallible;
/// # use amp_core::Command;
/// # #[derive(serde::Serialize, serde::Deserialize)] pub struct SumArgs { a: i64, b: i64 }
/// # #[derive(serde::Serialize, serde::Deserialize)] pub struct Total { total: i64 }
/// # struct Sum; impl Command for Sum { const NAME: &'static str = "Sum"; type Arguments = SumArgs; type Response = Total; type Error = Infallible; }
/// use amp_engine::CallService;
/// use tower_service::Service;
///
/// # let peer = amp_engine::tests_support::idle_peer();
/// let mut sum = CallService::<Sum>::new(peer.clone());
/// let call = sum.call(SumArgs { a: 1, b: 2 }); // a future, as Peer::call's
/// # drop(call);
/// peer.close();
/// let waker = std::task::Waker::noop();
/// let ready = sum.poll_ready(&mut std::task::Context::from_waker(&waker));
/// assert!(matches!(
///     ready,
///     std::task::Poll::Ready(Err(amp_core::CallError::Connection(amp_core::ConnectionError::Closed)))
/// ));
/// ```
pub struct CallService<C> {
    peer: Peer,
    command: PhantomData<fn() -> C>,
}

impl<C> CallService<C> {
    /// Calls of `C` on `peer`.
    pub fn new(peer: Peer) -> Self {
        CallService {
            peer,
            command: PhantomData,
        }
    }

    /// The peer it calls.
    pub fn peer(&self) -> &Peer {
        &self.peer
    }
}

impl<C> Clone for CallService<C> {
    fn clone(&self) -> Self {
        CallService::new(self.peer.clone())
    }
}

impl<C> fmt::Debug for CallService<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallService")
            .field("command", &std::any::type_name::<C>())
            .finish_non_exhaustive()
    }
}

/// The future of a [`CallService`] call.
pub type CallFuture<C> = Pin<
    Box<
        dyn Future<Output = Result<<C as Command>::Response, CallError<<C as Command>::Error>>>
            + Send
            + 'static,
    >,
>;

impl<C> tower_service::Service<C::Arguments> for CallService<C>
where
    C: Command + 'static,
    C::Response: Send + 'static,
    C::Error: Send + 'static,
{
    type Response = C::Response;
    type Error = CallError<C::Error>;
    type Future = CallFuture<C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The engine applies backpressure inside each call (a call waits
        // for room in the connection's budget); what makes the service
        // unusable is the end of the connection.
        if self.peer.is_closed() {
            // Ended: the reason is there already.
            let reason = match std::pin::pin!(self.peer.closed()).poll(cx) {
                Poll::Ready(reason) => reason,
                Poll::Pending => ConnectionError::Closed,
            };
            return Poll::Ready(Err(CallError::Connection(reason)));
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, arguments: C::Arguments) -> Self::Future {
        Box::pin(self.peer.call::<C>(&arguments))
    }
}
