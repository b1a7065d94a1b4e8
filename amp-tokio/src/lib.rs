//! AMP peers on tokio: connect, serve, call commands as futures, run async
//! responders concurrently. All protocol decisions live in [`amp_core`];
//! this crate moves bytes between a stream and the core and runs futures.
//!
//! ```
//! use amp_core::Command;
//! use amp_tokio::{Peer, Responders};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)] struct SumArgs { a: i64, b: i64 }
//! #[derive(Serialize, Deserialize)] struct Total { total: i64 }
//! struct Sum;
//! impl Command for Sum {
//!     const NAME: &'static str = "Sum";
//!     type Arguments = SumArgs; type Response = Total; type Error = std::convert::Infallible;
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let (a, b) = tokio::io::duplex(64 * 1024);
//! let server = Peer::new(a, Responders::new().responder(Sum, |_ctx, args: SumArgs| async move {
//!     Ok::<_, std::convert::Infallible>(Total { total: args.a + args.b })
//! }));
//! let client = Peer::new(b, Responders::new());
//! let total = client.call::<Sum>(&SumArgs { a: 13, b: 81 }).await.unwrap().unwrap();
//! assert_eq!(total.total, 94);
//! # drop(server); }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Emits a `tracing` event when the `tracing` feature is on; nothing
/// otherwise.
macro_rules! trace {
    ($level:ident, $($arg:tt)*) => {
        #[cfg(feature = "tracing")]
        tracing::$level!($($arg)*);
    };
}

mod peer;
mod server;

pub use peer::{Context, Options, Peer, Responders};
pub use server::{Server, ShutdownHandle};

pub use amp_core;

/// The guide's tokio chapter, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/tokio.md")]
pub struct GuideDoctests;
