//! Routes, wire-compatible with `epsilon.amprouter`: any number of
//! independent AMP conversations over one connection.
//!
//! Each route has its own dispatcher: its own `_ask` counter, outstanding
//! calls and requests owed an answer. A box's `_route` key names the route on
//! the *receiving* side; the key is removed before the route sees the box,
//! and a box without it goes to the default route. A route sends with the
//! name it was [connected](Router::connect_to) to, so two peers pair their
//! routes by exchanging names (usually through a command on the default
//! route, as epsilon's guide does with `NewRoute`).
//!
//! [`Router`] is the sans-IO core of it, in the manner of
//! `amp_core::Connection`: bytes in, events tagged with their route out,
//! bytes to send out. It never blocks, spawns or reads a clock.
//!
//! The timeouts (`unfinished_box_timeout`, `idle_timeout`) apply to the
//! whole connection, by amp-core's rules, driven as on a `Connection` (see
//! [`Router::poll_timeout`]). The connection is busy (never idle) while any
//! route is: a call waiting for its answer, an answer owed to the peer.
//!
//! ```
//! use amp_core::{AmpBox, Event};
//! use amp_router::{Route, RoutedEvent, Router};
//!
//! let mut client = Router::default();
//! let mut server = Router::default();
//! // Each side binds a route and connects it to the other's name.
//! let c = client.bind_route();
//! let s = server.bind_route();
//! client.connect_to(&c, Some(s.name().unwrap().clone())).unwrap();
//! server.connect_to(&s, Some(c.name().unwrap().clone())).unwrap();
//!
//! let call = client.call_remote(&c, "Count", &AmpBox::new(), true).unwrap().unwrap();
//! server.handle_input(&client.take_transmit());
//! let Some(RoutedEvent { route, event: Event::Request(req) }) = server.poll_event() else { panic!() };
//! assert_eq!(route, s);
//! server.answer(&route, req.tag.as_ref().unwrap(), &AmpBox::from_pairs([("value", "1")])).unwrap();
//! client.handle_input(&server.take_transmit());
//! let answer = client.poll_event().unwrap();
//! assert_eq!(answer.route, c);
//! assert!(matches!(answer.event, Event::Answer { call: id, .. } if id == call));
//! ```
//!
//! The sans-IO [`Router`] lives in `amp_core::router` (every protocol
//! decision is amp-core's) and is re-exported here; this crate is the live
//! side: [`live::RoutedPeer`], whose routes are [`amp_engine::Peer`]s on the
//! one engine that drives the connection.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "futures-io")]
pub mod futures_io;
pub mod live;
#[cfg(feature = "tokio")]
pub mod tokio;

pub use amp_core::router::{ROUTE, Route, RouteError, RoutedEvent, Router};

/// The guide's routes chapter, compiled and run as doctests.
#[cfg(all(doctest, feature = "tokio"))]
#[doc = include_str!("../../docs/routes.md")]
pub struct GuideDoctests;
