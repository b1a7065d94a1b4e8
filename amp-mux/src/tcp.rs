//! Local proxying over TCP (txampext's `ProxyingFactory`), on tokio: a
//! local listener whose every connection becomes a stream to a factory of
//! the peer ([`proxy`]), and a factory that connects each stream to a TCP
//! address ([`Mux::listen_forward`]). Together they forward a port over
//! one AMP connection, as `ssh -L` does.
//!
//! txampext's streams have no half-close: the first end of either side
//! ends the stream, after everything written before it is delivered. A
//! client that closes its sending side and waits for an answer gets the
//! answer only if the other end sent it before it saw the end.

use std::io;
use std::net::SocketAddr;

use amp_engine::Peer;
use bytes::Bytes;
use tokio::net::{TcpListener, TcpStream};

use crate::{MAX_CHUNK, Mux, MuxStream};

/// Copies both ways between `tcp` and `stream` until both have ended.
///
/// ```no_run
/// # async fn f(tcp: tokio::net::TcpStream, stream: amp_mux::MuxStream) {
/// amp_mux::tcp::join(tcp, stream).await;
/// # }
/// ```
pub async fn join(mut tcp: TcpStream, mut stream: MuxStream) {
    let _ = tcp.set_nodelay(true);
    // Reads of one AMP value at most, so each becomes one Transmit.
    let _ =
        tokio::io::copy_bidirectional_with_sizes(&mut tcp, &mut stream, MAX_CHUNK, MAX_CHUNK).await;
    // Ended either way: make sure the peer knows.
    let _ = tokio::io::AsyncWriteExt::shutdown(&mut stream).await;
}

/// Accepts TCP connections on `listener` and forwards each, as a stream,
/// to the peer's factory `factory` (txampext's `ProxyingFactory`). Runs
/// until the AMP connection ends (`Ok`) or accepting fails. A connection
/// the peer refuses is closed at once.
///
/// ```no_run
/// # async fn f(peer: amp_engine::Peer) -> std::io::Result<()> {
/// let mux = amp_mux::Mux::new();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// amp_mux::tcp::proxy(listener, mux, peer, "forward:127.0.0.1:80").await?;
/// # Ok(())
/// # }
/// ```
pub async fn proxy(
    listener: TcpListener,
    mux: Mux,
    peer: Peer,
    factory: impl Into<Bytes>,
) -> io::Result<()> {
    let factory = factory.into();
    let ended = peer.closed();
    tokio::pin!(ended);
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = &mut ended => return Ok(()),
        };
        let (mux, peer, factory) = (mux.clone(), peer.clone(), factory.clone());
        tokio::spawn(async move {
            if let Ok(stream) = mux.open(&peer, factory).await {
                join(tcp, stream).await;
            }
        });
    }
}

impl Mux {
    /// Names a factory that connects each stream to `target` over TCP and
    /// copies both ways (the far end of [`proxy`]); a stream whose
    /// connection fails ends at once. Must be called within a tokio
    /// runtime's context when streams arrive (each is served by a task).
    ///
    /// ```no_run
    /// # async fn f() {
    /// let mux = amp_mux::Mux::new();
    /// mux.listen_forward("web", "127.0.0.1:80".parse().unwrap());
    /// # }
    /// ```
    pub fn listen_forward(&self, name: impl Into<Bytes>, target: SocketAddr) {
        self.listen(name, move |mut stream: MuxStream| {
            tokio::spawn(async move {
                match TcpStream::connect(target).await {
                    Ok(tcp) => join(tcp, stream).await,
                    Err(_) => {
                        let _ = tokio::io::AsyncWriteExt::shutdown(&mut stream).await;
                    }
                }
            });
            Ok(())
        });
    }
}
