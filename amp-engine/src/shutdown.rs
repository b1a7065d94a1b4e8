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
    /// Stops the server: it stops accepting, lets each connection's running
    /// responders finish (for at most `grace`), writes their answers, closes
    /// every connection, and finishes. Returns once it has. Requests that
    /// arrive on the closing connections meanwhile are answered with a
    /// non-fatal [`SHUTTING_DOWN_ERROR_CODE`](crate::SHUTTING_DOWN_ERROR_CODE)
    /// error; a call the server's side makes still goes out until its
    /// connection closes, and one still waiting then fails with
    /// `ConnectionError::Closed`.
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
