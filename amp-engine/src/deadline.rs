//! A timer for the deadline a state machine gives: the only clock-reading
//! part of the timeouts, which the state machine decides
//! ([`amp_core::Connection::poll_timeout`]).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::ReadHalf;

/// A transport's timer future.
type Timer = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The timer set for the latest deadline, kept while the deadline stays the
/// same (a new timer is made only when it moves).
///
/// ```
/// use std::time::{Duration, Instant};
/// use amp_engine::{Deadline, ReadHalf};
/// # struct R; impl ReadHalf for R { async fn read(&mut self, _: &mut bytes::BytesMut) -> std::io::Result<usize> { Ok(0) }
/// #     fn sleep(_: Duration) -> impl Future<Output = ()> + Send + 'static { std::future::ready(()) } }
/// let mut deadline = Deadline::default();
/// deadline.set::<R>(Some(Instant::now() + Duration::from_secs(1)));
/// assert!(deadline.is_set());
/// futures_executor::block_on(std::future::poll_fn(|cx| deadline.poll(cx)));
/// deadline.set::<R>(None);
/// assert!(!deadline.is_set());
/// ```
#[derive(Default)]
pub struct Deadline {
    timer: Option<(Instant, Timer)>,
}

impl Deadline {
    /// Sets the timer for `deadline` (none: no timer), with the
    /// transport's [`ReadHalf::sleep`].
    pub fn set<R: ReadHalf>(&mut self, deadline: Option<Instant>) {
        match (deadline, &self.timer) {
            (Some(d), Some((set, _))) if *set == d => {}
            (Some(d), _) => {
                let wait = d.saturating_duration_since(Instant::now());
                self.timer = Some((d, Box::pin(R::sleep(wait))));
            }
            (None, _) => self.timer = None,
        }
    }

    /// Whether a timer is set.
    pub fn is_set(&self) -> bool {
        self.timer.is_some()
    }

    /// Ready once the deadline has passed (then the timer is cleared);
    /// pending while none is set.
    pub fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some((_, t)) = &mut self.timer else {
            return Poll::Pending;
        };
        std::task::ready!(t.as_mut().poll(cx));
        self.timer = None;
        Poll::Ready(())
    }
}

impl std::fmt::Debug for Deadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deadline")
            .field("at", &self.timer.as_ref().map(|(at, _)| at))
            .finish()
    }
}
