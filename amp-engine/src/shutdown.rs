//! Stopping a server gracefully from elsewhere.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use event_listener::Event as Notify;

/// Stops a server gracefully from elsewhere: shared by a server's accept
/// loop and whoever asks it to stop.
///
/// ```
/// use std::time::Duration;
/// let handle = amp_engine::ShutdownHandle::default();
/// let server_side = handle.clone();
/// handle.ask(Duration::from_secs(2));
/// futures_executor::block_on(async {
///     assert_eq!(server_side.asked().await, Duration::from_secs(2));
///     server_side.finished();
///     handle.done().await;
/// });
/// ```
#[derive(Clone, Default)]
pub struct ShutdownHandle {
    inner: Arc<StopState>,
}

#[derive(Default)]
struct StopState {
    grace: Mutex<Option<std::time::Duration>>,
    done: AtomicBool,
    changed: Notify,
}

impl ShutdownHandle {
    /// Stops the server, the one way to: it stops accepting, stops each
    /// of its connections with [`Peer::shutdown`](crate::Peer::shutdown)
    /// and this `grace` (see there for what happens to requests arriving
    /// meanwhile, to running responders and to calls in flight), and
    /// returns once every connection has closed and
    /// [`Server::run`](crate::Server::run) has returned.
    ///
    /// ```no_run
    /// # async fn f(handle: amp_engine::ShutdownHandle) {
    /// handle.shutdown(std::time::Duration::from_secs(5)).await;
    /// # }
    /// ```
    pub async fn shutdown(&self, grace: std::time::Duration) {
        self.ask(grace);
        self.done().await;
    }

    /// Asks for the stop without waiting for it.
    ///
    /// ```
    /// let h = amp_engine::ShutdownHandle::default();
    /// h.ask(std::time::Duration::ZERO);
    /// assert!(h.is_asked());
    /// ```
    pub fn ask(&self, grace: std::time::Duration) {
        let mut asked = self.inner.grace.lock().unwrap_or_else(|e| e.into_inner());
        asked.get_or_insert(grace);
        drop(asked);
        self.inner.changed.notify(usize::MAX);
    }

    /// Whether a stop was asked for.
    ///
    /// ```
    /// assert!(!amp_engine::ShutdownHandle::default().is_asked());
    /// ```
    pub fn is_asked(&self) -> bool {
        self.inner
            .grace
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// For the server: resolves with the grace period once a stop is asked.
    ///
    /// ```
    /// let h = amp_engine::ShutdownHandle::default();
    /// h.ask(std::time::Duration::from_millis(5));
    /// let grace = futures_executor::block_on(h.asked());
    /// assert_eq!(grace.as_millis(), 5);
    /// ```
    pub async fn asked(&self) -> std::time::Duration {
        loop {
            let listener = self.inner.changed.listen();
            if let Some(grace) = *self.inner.grace.lock().unwrap_or_else(|e| e.into_inner()) {
                return grace;
            }
            listener.await;
        }
    }

    /// For the server: says it has finished stopping.
    ///
    /// ```
    /// let h = amp_engine::ShutdownHandle::default();
    /// h.finished();
    /// futures_executor::block_on(h.done());
    /// ```
    pub fn finished(&self) {
        self.inner.done.store(true, Ordering::SeqCst);
        self.inner.changed.notify(usize::MAX);
    }

    /// Resolves once the server has finished stopping.
    ///
    /// ```
    /// let h = amp_engine::ShutdownHandle::default();
    /// h.finished();
    /// futures_executor::block_on(h.done());
    /// ```
    pub async fn done(&self) {
        loop {
            let listener = self.inner.changed.listen();
            if self.inner.done.load(Ordering::SeqCst) {
                return;
            }
            listener.await;
        }
    }
}
