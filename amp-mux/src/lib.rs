//! Multiplexed streams over AMP, wire-compatible with txampext's
//! `multiplexing` module: the commands that open, feed and close a stream
//! carried inside an AMP connection, and the identifiers that name them.
//!
//! txampext (PyPI `txampext` 0.0.11) multiplexes byte streams over one AMP
//! connection with three commands:
//!
//! | command | arguments | response | errors |
//! |---|---|---|---|
//! | [`Connect`] | `factory` (String) | `connection` (String) | `NO_SUCH_FACTORY`, `CONNECTION_REFUSED` |
//! | [`Transmit`] | `connection`, `data` (String) | (none) | `NO_SUCH_CONNECTION` |
//! | [`Disconnect`] | `connection` (String) | (none) | `NO_SUCH_CONNECTION` |
//!
//! `Connect` asks the peer to start a stream with one of its named
//! factories and answers with the new stream's identifier, 32 lower-case
//! hexadecimal digits ([`ConnectionId`]); `Transmit` carries bytes of a
//! stream to the side that did not write them, either way; `Disconnect`
//! ends a stream both ways. The error codes are txampext's, made from its
//! exception names ([`amp_core::command_errors!`] makes them the same way).
//!
//! ```
//! use amp_core::{Command, CommandError};
//! use amp_mux::{Connect, ConnectArgs, ConnectError};
//!
//! assert_eq!(Connect::NAME, "Connect");
//! assert_eq!(ConnectError::NoSuchFactory(String::new()).code(), "NO_SUCH_FACTORY");
//! let b = amp_core::ser::to_box(&ConnectArgs { factory: "echo".into() }).unwrap();
//! assert_eq!(b.get_str("factory"), Some("echo"));
//! ```
//!
//! [`Mux`] runs the streams of one live connection (amp-engine, so
//! amp-tokio and amp-async-std): named factories the peer opens streams
//! on, streams this side opens on the peer's, each a [`MuxStream`]
//! (`AsyncRead + AsyncWrite`, features `tokio` and `futures-io`), with the
//! flow control txampext lacks (a per-stream window). [`tcp`] (feature
//! `tokio`) forwards local TCP connections over the AMP connection
//! (txampext's `ProxyingFactory`) and connects streams to TCP addresses;
//! the examples `mux_server` and `mux_proxy` are the two ends.
//!
//! ```
//! # #[cfg(feature = "tokio")]
//! # async fn f() -> std::io::Result<()> {
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! // The listening side: an echo factory.
//! let server = amp_mux::Mux::new();
//! server.listen("echo", |stream| {
//!     tokio::spawn(async move {
//!         let (mut r, mut w) = tokio::io::split(stream);
//!         let _ = tokio::io::copy(&mut r, &mut w).await;
//!         let _ = w.shutdown().await;
//!     });
//!     Ok(())
//! });
//! // The connecting side, over one AMP connection.
//! let client = amp_mux::Mux::new();
//! let (a, b) = tokio::io::duplex(64 * 1024);
//! let _server_peer = amp_tokio::from_stream(a, server.responders());
//! let peer = amp_tokio::from_stream(b, client.responders());
//! let mut stream = client.open(&peer, "echo").await.unwrap();
//! stream.write_all(b"hello").await?;
//! let mut back = [0u8; 5];
//! stream.read_exact(&mut back).await?;
//! assert_eq!(&back, b"hello");
//! stream.shutdown().await?;
//! # Ok(())
//! # }
//! # #[cfg(feature = "tokio")]
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(f()).unwrap();
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod commands;
mod id;
mod mux;
mod stream;
#[cfg(feature = "tokio")]
pub mod tcp;

pub use commands::{
    Connect, ConnectArgs, ConnectError, Connected, Disconnect, DisconnectArgs, StreamError,
    Transmit, TransmitArgs,
};
pub use id::{ConnectionId, InvalidConnectionId};
pub use mux::{DEFAULT_MAX_STREAMS, DEFAULT_WINDOW, Mux, Refused};
pub use stream::{MAX_CHUNK, MuxStream};
