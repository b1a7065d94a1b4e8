//! Routes on a live connection, for any runtime: each route is a full
//! [`Peer`](amp_engine::Peer) (typed calls, responders, `closed()`), so code
//! written for a plain connection runs on a route unchanged.
//!
//! A routed connection runs on the same engine as a plain one
//! ([`amp_engine::routed`], re-exported here): one reader and one writer
//! drive the sans-IO [`Router`](crate::Router), which hands each box to the
//! route its `_route` names and writes each route's `_route` as its boxes
//! are encoded. The runtime modules connect and accept
//! ([`amp_router::tokio`](crate#modules), `amp_router::futures_io`).
//!
//! ```
//! use amp_engine::{ReadHalf, Responders, WriteHalf};
//! use amp_router::{Route, live};
//! # struct R; impl ReadHalf for R { async fn read(&mut self, _: &mut bytes::BytesMut) -> std::io::Result<usize> { std::future::pending().await } }
//! # struct W; impl WriteHalf for W { async fn write_all(&mut self, _: &[u8]) -> std::io::Result<()> { Ok(()) } async fn close(&mut self) -> std::io::Result<()> { Ok(()) } }
//! let (router, _reading, _writing) = live::start(R, W, None, Default::default());
//! let route = router.bind_route(Responders::new());
//! assert_eq!(route.route(), &Route::named("0"));
//! assert!(route.peer().is_err(), "not connected yet");
//! route.connect_to(Some("7".into()));
//! assert!(route.peer().is_ok());
//! ```

pub use amp_engine::routed::{RouteHandle, RoutedPeer, spawn, start};
