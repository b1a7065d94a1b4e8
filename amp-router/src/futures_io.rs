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

use amp_engine::{Options, Runtime};
use async_net::{AsyncToSocketAddrs, TcpStream};
use futures_io::{AsyncRead, AsyncWrite};

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
pub fn from_stream<S>(runtime: impl Runtime, stream: S, options: Options) -> RoutedPeer
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
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
pub fn from_stream_with<S>(
    runtime: impl Runtime,
    stream: S,
    options: Options,
    bind: impl FnOnce(&RoutedPeer),
) -> RoutedPeer
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (reader, writer) = amp_async_std::transport::split(stream);
    amp_engine::routed::spawn(&runtime, reader, writer, None, options, bind)
}

/// Connects to `addr` over TCP and runs routes on the connection.
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// let router = amp_router::futures_io::connect(amp_async_std::AsyncStd, "127.0.0.1:1234", Default::default()).await?;
/// # Ok(()) }
/// ```
pub async fn connect(
    runtime: impl Runtime,
    addr: impl AsyncToSocketAddrs,
    options: Options,
) -> std::io::Result<RoutedPeer> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(from_stream(runtime, stream, options))
}
