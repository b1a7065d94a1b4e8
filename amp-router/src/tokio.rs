//! Routed connections on tokio.
//!
//! ```
//! use amp_router::Route;
//! use amp_engine::Responders;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let (a, b) = tokio::io::duplex(64 * 1024);
//! let left = amp_router::tokio::from_stream(a, Default::default());
//! let right = amp_router::tokio::from_stream(b, Default::default());
//! let l = left.bind_route(Responders::new());
//! let r = right.bind_route(Responders::new());
//! l.connect_to(r.route().name().cloned());
//! r.connect_to(l.route().name().cloned());
//! // A full peer per route: here an unknown command, answered on route "0".
//! let answer = l.peer().unwrap().call_remote("Nope", amp_core::AmpBox::new()).await;
//! assert!(matches!(answer, Err(amp_core::CallError::Remote(e)) if e.code == "UNHANDLED"));
//! # }
//! ```

use ::tokio::io::{AsyncRead, AsyncWrite};
use ::tokio::net::{TcpStream, ToSocketAddrs};
use amp_engine::Options;
use amp_tokio::Tokio;

use crate::live::RoutedPeer;

/// Runs routes over any tokio stream. Must be called inside a tokio runtime.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (a, _b) = tokio::io::duplex(1024);
/// let router = amp_router::tokio::from_stream(a, Default::default());
/// assert!(!router.is_closed());
/// # }
/// ```
pub fn from_stream<S>(stream: S, options: Options) -> RoutedPeer
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    amp_engine::routed::from_stream_with(Tokio, stream, None, options, |_| {})
}

/// [`from_stream`], with `bind` run before the first byte is read: routes
/// it binds (the default route of a server, say) are there for the peer's
/// first box, as routes bound before the connection starts are in epsilon.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use amp_engine::Responders;
/// let (a, _b) = tokio::io::duplex(1024);
/// let router = amp_router::tokio::from_stream_with(a, Default::default(), |router| {
///     router.bind(amp_router::Route::Default, Responders::new()).unwrap().connect_to(None);
/// });
/// # drop(router); }
/// ```
pub fn from_stream_with<S>(
    stream: S,
    options: Options,
    bind: impl FnOnce(&RoutedPeer),
) -> RoutedPeer
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    amp_engine::routed::from_stream_with(Tokio, stream, None, options, bind)
}

/// Connects to `addr` over TCP and runs routes on the connection.
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// let router = amp_router::tokio::connect("127.0.0.1:1234", Default::default()).await?;
/// # Ok(()) }
/// ```
pub async fn connect(addr: impl ToSocketAddrs, options: Options) -> std::io::Result<RoutedPeer> {
    let stream = TcpStream::connect(addr).await?;
    let peer = amp_engine::connected_tcp(&stream, TcpStream::set_nodelay, TcpStream::peer_addr)?;
    let router = amp_engine::routed::from_stream_with(Tokio, stream, peer, options, |_| {});
    Ok(router)
}
