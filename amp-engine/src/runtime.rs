//! What the engine needs of an async runtime: to run a task in the
//! background and to wait. A binding implements [`Runtime`] in a few lines
//! (amp-tokio's `Tokio`, amp-async-std's `AsyncStd` and `Smol`), as quinn's
//! runtime bindings do.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A task the engine hands to the runtime: a connection's reading or
/// writing half, a server's watch over one connection.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// An async runtime, as the engine uses it.
///
/// ```
/// use std::time::Duration;
/// use amp_engine::{Runtime, Task};
///
/// // Each task on a thread of its own, timers by sleeping a thread.
/// #[derive(Clone)]
/// struct Threads;
/// impl Runtime for Threads {
///     fn spawn(&self, task: Task) {
///         std::thread::spawn(move || futures_executor::block_on(task));
///     }
///     fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + 'static {
///         let (tx, rx) = futures_channel::oneshot::channel::<()>();
///         std::thread::spawn(move || { std::thread::sleep(duration); let _ = tx.send(()); });
///         async move { let _ = rx.await; }
///     }
/// }
/// futures_executor::block_on(Threads.sleep(Duration::from_millis(1)));
/// ```
pub trait Runtime: Clone + Send + Sync + 'static {
    /// Runs `task` to completion in the background.
    fn spawn(&self, task: Task);

    /// Resolves after `duration`.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + 'static;
}
