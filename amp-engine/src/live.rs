//! The connections a server holds open: counted for its connection cap,
//! shut down together when it stops.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use event_listener::Event as Notify;

use crate::Peer;

/// Connections a server holds open, for a graceful shutdown of them all.
///
/// ```
/// let live = amp_engine::LiveConnections::default();
/// assert_eq!(live.len(), 0);
/// ```
#[derive(Clone, Default)]
pub struct LiveConnections {
    inner: Arc<LiveInner>,
}

#[derive(Default)]
struct LiveInner {
    held: Mutex<(u64, HashMap<u64, Peer>)>,
    /// A held connection ended.
    left: Notify,
}

impl LiveInner {
    fn lock(&self) -> MutexGuard<'_, (u64, HashMap<u64, Peer>)> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl LiveConnections {
    /// Holds `peer` until its connection ends; returns the future that waits
    /// for that end and lets go (spawn it).
    ///
    /// ```
    /// # let peer = amp_engine::tests_support::idle_peer();
    /// let live = amp_engine::LiveConnections::default();
    /// let watch = live.hold(peer.clone());
    /// assert_eq!(live.len(), 1);
    /// peer.shutdown(std::time::Duration::ZERO);
    /// futures_executor::block_on(watch);
    /// assert_eq!(live.len(), 0);
    /// ```
    pub fn hold(&self, peer: Peer) -> impl Future<Output = ()> + Send + 'static + use<> {
        let ended = peer.closed();
        let id = {
            let mut held = self.lock();
            held.0 += 1;
            let id = held.0;
            held.1.insert(id, peer);
            id
        };
        let inner = Arc::clone(&self.inner);
        async move {
            ended.await;
            inner.lock().1.remove(&id);
            inner.left.notify(usize::MAX);
        }
    }

    fn lock(&self) -> MutexGuard<'_, (u64, HashMap<u64, Peer>)> {
        self.inner.lock()
    }

    /// Waits until fewer than `max` connections are held (at once if they
    /// are): a server with a connection limit waits on it before accepting
    /// the next one, so memory is bounded in total, not only per
    /// connection. A connection is let go when the future [`hold`]
    /// returned sees it end.
    ///
    /// [`hold`]: Self::hold
    ///
    /// ```
    /// # let peer = amp_engine::tests_support::idle_peer();
    /// use futures_util::FutureExt;
    /// let live = amp_engine::LiveConnections::default();
    /// let watch = live.hold(peer.clone());
    /// assert!(live.room(1).now_or_never().is_none());
    /// peer.shutdown(std::time::Duration::ZERO);
    /// futures_executor::block_on(watch);
    /// assert!(live.room(1).now_or_never().is_some());
    /// ```
    pub async fn room(&self, max: usize) {
        loop {
            if self.len() < max {
                return;
            }
            let listener = self.inner.left.listen();
            // Looked at again once listening: a connection that ended in
            // between is not missed.
            if self.len() < max {
                return;
            }
            listener.await;
        }
    }

    /// Connections held.
    ///
    /// ```
    /// assert_eq!(amp_engine::LiveConnections::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.lock().1.len()
    }

    /// Whether none is held.
    ///
    /// ```
    /// assert!(amp_engine::LiveConnections::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops every held connection with [`Peer::shutdown`] and the same
    /// `grace`, and returns once all have ended.
    ///
    /// ```
    /// let live = amp_engine::LiveConnections::default();
    /// futures_executor::block_on(live.shutdown_all(std::time::Duration::from_secs(1)));
    /// ```
    pub async fn shutdown_all(&self, grace: std::time::Duration) {
        let peers: Vec<Peer> = self.lock().1.values().cloned().collect();
        futures_util::future::join_all(peers.iter().map(|peer| peer.shutdown(grace))).await;
    }
}
