//! Boxes as a `tokio_util::codec` [`Decoder`] and [`Encoder`] (feature
//! `codec`), for users who already frame their streams with `Framed`. A
//! thin wrapper over amp-core's decoder, with the same [`Limits`]: what it
//! accepts and refuses is exactly what a connection accepts and refuses.
//!
//! This is framing only: `_ask`, `_answer` and `_error` are keys like any
//! other here. For calls, answers and responders, use a
//! [`Peer`](crate::Peer).
//!
//! ```
//! use amp_core::AmpBox;
//! use amp_tokio::codec::AmpCodec;
//! use futures_util::{SinkExt, StreamExt};
//! use tokio_util::codec::Framed;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let (a, b) = tokio::io::duplex(1024);
//! let mut left = Framed::new(a, AmpCodec::default());
//! let mut right = Framed::new(b, AmpCodec::default());
//! left.send(AmpBox::from_pairs([("_command", "Ping"), ("_ask", "1")])).await.unwrap();
//! let got = right.next().await.unwrap().unwrap();
//! assert_eq!(got.get_str("_command"), Some("Ping"));
//! # }
//! ```

use std::fmt;
use std::io;

use amp_core::{AmpBox, CodecError, Limits};
use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

/// The codec: decodes boxes under [`Limits`], encodes any box.
///
/// ```
/// let codec = amp_tokio::codec::AmpCodec::new(amp_core::Limits::default().max_keys(8));
/// assert_eq!(codec.limits().keys(), 8);
/// ```
#[derive(Debug, Default)]
pub struct AmpCodec {
    decoder: amp_core::Decoder,
}

impl AmpCodec {
    /// A codec whose decoding refuses what `limits` refuse.
    ///
    /// ```
    /// let codec = amp_tokio::codec::AmpCodec::new(amp_core::Limits::default());
    /// # drop(codec);
    /// ```
    pub fn new(limits: Limits) -> Self {
        AmpCodec {
            decoder: amp_core::Decoder::new(limits),
        }
    }

    /// The limits decoding applies.
    ///
    /// ```
    /// let codec = amp_tokio::codec::AmpCodec::default();
    /// assert_eq!(codec.limits(), &amp_core::Limits::default());
    /// ```
    pub fn limits(&self) -> &Limits {
        self.decoder.limits()
    }
}

/// Why a framed stream failed: its transport, or bytes that are not AMP.
///
/// ```
/// let e = amp_tokio::codec::FrameError::from(std::io::Error::other("reset"));
/// assert!(e.to_string().contains("reset"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum FrameError {
    /// The transport failed.
    Io(io::Error),
    /// The bytes are not AMP (or break a limit); the stream cannot go on.
    Codec(CodecError),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "transport error: {e}"),
            FrameError::Codec(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for FrameError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FrameError::Io(e) => Some(e),
            FrameError::Codec(e) => Some(e),
        }
    }
}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        FrameError::Io(e)
    }
}

impl From<CodecError> for FrameError {
    fn from(e: CodecError) -> Self {
        FrameError::Codec(e)
    }
}

impl Decoder for AmpCodec {
    type Item = AmpBox;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<AmpBox>, FrameError> {
        if !src.is_empty() {
            let buffered = self.decoder.buffer_mut();
            if buffered.is_empty() {
                // Take the bytes as they are: no copy.
                std::mem::swap(buffered, src);
            } else {
                buffered.extend_from_slice(src);
                src.clear();
            }
        }
        Ok(self.decoder.decode()?)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<AmpBox>, FrameError> {
        if let Some(b) = self.decode(src)? {
            return Ok(Some(b));
        }
        // The end of the stream: a box left unfinished is an error.
        self.decoder.finish()?;
        Ok(None)
    }
}

impl Encoder<AmpBox> for AmpCodec {
    type Error = FrameError;

    fn encode(&mut self, b: AmpBox, dst: &mut BytesMut) -> Result<(), FrameError> {
        self.encode(&b, dst)
    }
}

impl Encoder<&AmpBox> for AmpCodec {
    type Error = FrameError;

    fn encode(&mut self, b: &AmpBox, dst: &mut BytesMut) -> Result<(), FrameError> {
        Ok(b.encode(dst)?)
    }
}
