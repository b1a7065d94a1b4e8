//! The names of routes, what happens on them, and what a router refuses.

use std::fmt;

use bytes::Bytes;

use crate::{Event, SendError};

/// The `_route` key.
pub const ROUTE: &str = "_route";

/// A route on this side of the connection: the default one (boxes without
/// `_route`), or one with a name (the `_route` value the peer writes to reach
/// it).
///
/// ```
/// let r = amp_core::router::Route::named("7");
/// assert_eq!(r.name().map(|n| &n[..]), Some(&b"7"[..]));
/// assert!(amp_core::router::Route::Default.name().is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    /// The route of boxes without `_route`.
    Default,
    /// The route of boxes whose `_route` is this name.
    Named(Bytes),
}

impl Route {
    /// A named route.
    ///
    /// ```
    /// assert_eq!(amp_core::router::Route::named("a"), amp_core::router::Route::Named("a".into()));
    /// ```
    pub fn named(name: impl Into<Bytes>) -> Route {
        Route::Named(name.into())
    }

    /// The route's name, `None` for the default route.
    ///
    /// ```
    /// assert!(amp_core::router::Route::Default.name().is_none());
    /// ```
    pub fn name(&self) -> Option<&Bytes> {
        match self {
            Route::Default => None,
            Route::Named(n) => Some(n),
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::Default => f.write_str("the default route"),
            Route::Named(n) => write!(f, "route {:?}", String::from_utf8_lossy(n)),
        }
    }
}

/// Something that happened on one route.
#[derive(Clone, Debug, PartialEq)]
pub struct RoutedEvent {
    /// The route it happened on.
    pub route: Route,
    /// What happened (as on a plain connection).
    pub event: Event,
}

/// A local action on a route that the router refused.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum RouteError {
    /// The route is not bound.
    NotBound(Route),
    /// The route is bound already.
    AlreadyBound(Route),
    /// The route is not connected to a remote route yet: nothing can be sent
    /// on it.
    RouteNotConnected(Route),
    /// The route's dispatcher refused (the connection ended, a box that
    /// cannot be encoded, an answer nobody asked for).
    Send(SendError),
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteError::NotBound(r) => write!(f, "{r} is not bound"),
            RouteError::AlreadyBound(r) => write!(f, "{r} is bound already"),
            RouteError::RouteNotConnected(r) => {
                write!(f, "{r} is not connected to a remote route yet")
            }
            RouteError::Send(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for RouteError {}

impl From<SendError> for RouteError {
    fn from(e: SendError) -> Self {
        RouteError::Send(e)
    }
}
