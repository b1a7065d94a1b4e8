//! Routed connections over `futures-io` streams, for async-std and smol.
//!
//! ```
//! use amp_async_std::AsyncStd;
//! use amp_engine::Responders;
//!
//! # async_std::task::block_on(async {
//! let (a, b) = amp_async_std::pipe();
//! let left = amp_router::futures_io::from_stream(AsyncStd, a, Default::default());
//! let right = amp_router::futures_io::from_stream(AsyncStd, b, Default::default());
//! let l = left.bind_route(Responders::new());
//! let r = right.bind_route(Responders::new());
//! l.connect_to(r.route().name().cloned());
//! r.connect_to(l.route().name().cloned());
//! let answer = l.peer().unwrap().call_remote("Nope", amp_core::AmpBox::new()).await;
//! assert!(matches!(answer, Err(amp_core::CallError::Remote(e)) if e.code == "UNHANDLED"));
//! # });
//! ```

use amp_engine::{Options, Split};
use async_net::{AsyncToSocketAddrs, TcpStream};

use crate::live::RoutedPeer;

/// Runs routes over any `futures-io` stream, the connection's and the
/// routes' tasks run on `runtime`.
///
/// ```
/// # async_std::task::block_on(async {
/// let (a, _b) = amp_async_std::pipe();
/// let router = amp_router::futures_io::from_stream(amp_async_std::AsyncStd, a, Default::default());
/// assert!(!router.is_closed());
/// # });
/// ```
pub fn from_stream<Rt: Split<S>, S>(runtime: Rt, stream: S, options: Options) -> RoutedPeer {
    from_stream_with(runtime, stream, options, |_| {})
}

/// [`from_stream`], with `bind` run before the first byte is read, so the
/// routes it binds are there for the peer's first box.
///
/// ```
/// # async_std::task::block_on(async {
/// use amp_engine::Responders;
/// let (a, _b) = amp_async_std::pipe();
/// let router = amp_router::futures_io::from_stream_with(amp_async_std::AsyncStd, a, Default::default(), |router| {
///     router.bind(amp_router::Route::Default, Responders::new()).unwrap().connect_to(None);
/// });
/// # drop(router); });
/// ```
pub fn from_stream_with<Rt: Split<S>, S>(
    runtime: Rt,
    stream: S,
    options: Options,
    bind: impl FnOnce(&RoutedPeer),
) -> RoutedPeer {
    amp_engine::routed::from_stream_with(runtime, stream, None, options, bind)
}

/// Connects to `addr` over TCP and runs routes on the connection.
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// let router = amp_router::futures_io::connect(amp_async_std::AsyncStd, "127.0.0.1:1234", Default::default()).await?;
/// # Ok(()) }
/// ```
pub async fn connect(
    runtime: impl Split<TcpStream>,
    addr: impl AsyncToSocketAddrs,
    options: Options,
) -> std::io::Result<RoutedPeer> {
    let stream = TcpStream::connect(addr).await?;
    let peer = amp_engine::connected_tcp(&stream, TcpStream::set_nodelay, TcpStream::peer_addr)?;
    let router = amp_engine::routed::from_stream_with(runtime, stream, peer, options, |_| {});
    Ok(router)
}
