//! The stream an upgradable connection runs over, on tokio: plain now,
//! perhaps TLS later ([`MaybeTls`]), read with the bytes read past a switch
//! first ([`Rewind`]), and what the engine's upgrader
//! ([`amp_engine::upgradable`]) needs of it: its halves, joined again, and
//! its TLS handshake.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

#[cfg(feature = "tls")]
use amp_engine::tls::{Side, handshake_failure, peer_chain};
use amp_engine::upgradable::UpgradableStream;
#[cfg(feature = "tls")]
use bytes::Bytes;
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::transport::{Reader, Writer};

/// A stream that gives `first` before what it reads from `inner`: the
/// bytes read past the switch, for the TLS that takes the stream over.
#[derive(Debug)]
pub struct Rewind<S> {
    first: BytesMut,
    inner: S,
}

impl<S> Rewind<S> {
    /// `inner`, read after `first`.
    ///
    /// ```
    /// use tokio::io::AsyncReadExt;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut r = amp_tokio::upgradable::Rewind::new("ab".into(), &b"cd"[..]);
    /// let mut all = String::new();
    /// r.read_to_string(&mut all).await.unwrap();
    /// assert_eq!(all, "abcd");
    /// # }
    /// ```
    pub fn new(first: BytesMut, inner: S) -> Self {
        Rewind { first, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.first.is_empty() {
            let n = self.first.len().min(buf.remaining());
            buf.put_slice(&self.first[..n]);
            self.first.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A stream that is plain now and may be TLS later: what an upgradable
/// connection runs over.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum MaybeTls<S> {
    /// Plain.
    Plain(S),
    /// TLS, this side the client.
    #[cfg(feature = "tls")]
    Client(Box<tokio_rustls::client::TlsStream<Rewind<S>>>),
    /// TLS, this side the server.
    #[cfg(feature = "tls")]
    Server(Box<tokio_rustls::server::TlsStream<Rewind<S>>>),
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            MaybeTls::Plain($s) => {
                let $s = Pin::new($s);
                $e
            }
            #[cfg(feature = "tls")]
            MaybeTls::Client($s) => {
                let $s = Pin::new(&mut **$s);
                $e
            }
            #[cfg(feature = "tls")]
            MaybeTls::Server($s) => {
                let $s = Pin::new(&mut **$s);
                $e
            }
        }
    };
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for MaybeTls<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        each!(self, s => s.poll_read(cx, buf))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for MaybeTls<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => s.poll_write(cx, buf))
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => s.poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => s.poll_shutdown(cx))
    }
}

/// The receiving half of an upgradable connection (TLS or not).
pub type TlsReader<S> = Reader<tokio::io::ReadHalf<MaybeTls<S>>>;
/// The sending half of an upgradable connection (TLS or not).
pub type TlsWriter<S> = Writer<tokio::io::WriteHalf<MaybeTls<S>>>;

pub(crate) fn split<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: MaybeTls<S>,
) -> (TlsReader<S>, TlsWriter<S>) {
    let (r, w) = tokio::io::split(stream);
    (Reader(r), Writer(w))
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> UpgradableStream for MaybeTls<S> {
    type Reader = TlsReader<S>;
    type Writer = TlsWriter<S>;
    type Rewound = Rewind<MaybeTls<S>>;

    fn split(self) -> (TlsReader<S>, TlsWriter<S>) {
        split(self)
    }

    fn reunite(reader: TlsReader<S>, writer: TlsWriter<S>) -> Result<Self, String> {
        Ok(reader.0.unsplit(writer.0))
    }

    fn rewind(self, first: BytesMut) -> Rewind<MaybeTls<S>> {
        Rewind::new(first, self)
    }

    #[cfg(feature = "tls")]
    async fn handshake(
        self,
        leftover: BytesMut,
        side: amp_engine::tls::Side,
    ) -> Result<(Self, Option<Vec<Bytes>>), String> {
        handshake(self, leftover, side).await
    }
}

#[cfg(feature = "tls")]
/// Runs the TLS handshake over `stream` (plain), reading `leftover`
/// first: as the client when this side asked, as the server when it
/// answered the peer's `StartTLS` (or started as a TLS server), as `side`
/// says.
async fn handshake<S>(
    stream: MaybeTls<S>,
    leftover: BytesMut,
    side: Side,
) -> Result<(MaybeTls<S>, Option<Vec<Bytes>>), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let MaybeTls::Plain(stream) = stream else {
        return Err("TLS is on already".to_owned());
    };
    let stream = Rewind::new(leftover, stream);
    Ok(match side {
        Side::Client(tls) => {
            let connector = tokio_rustls::TlsConnector::from(tls.config().clone());
            let tls = connector
                .connect(tls.server_name().clone(), stream)
                .await
                .map_err(|e| handshake_failure(&e))?;
            let chain = peer_chain(tls.get_ref().1.peer_certificates());
            (MaybeTls::Client(Box::new(tls)), chain)
        }
        Side::Server(tls) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.config().clone());
            let tls = acceptor
                .accept(stream)
                .await
                .map_err(|e| handshake_failure(&e))?;
            let chain = peer_chain(tls.get_ref().1.peer_certificates());
            (MaybeTls::Server(Box::new(tls)), chain)
        }
    })
}
