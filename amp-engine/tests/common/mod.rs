//! Transports for driving the engine with scripted bytes, shared by the
//! engine's tests.

#![allow(dead_code)]

use std::io;
use std::sync::{Arc, Mutex};

use amp_core::{AmpBox, Decoder};
use amp_engine::{ReadHalf, WriteHalf};
use bytes::BytesMut;
use futures_channel::mpsc;
use futures_util::StreamExt;

/// Reads what the test sends; the end of the channel is the end of the
/// stream.
#[derive(Debug)]
pub struct Script(pub mpsc::UnboundedReceiver<Vec<u8>>);

impl ReadHalf for Script {
    async fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self.0.next().await {
            Some(bytes) => {
                buf.extend_from_slice(&bytes);
                Ok(bytes.len())
            }
            None => Ok(0),
        }
    }
}

/// Keeps every byte written; remembers whether it was closed.
#[derive(Clone, Debug, Default)]
pub struct Recorder(Arc<Mutex<(Vec<u8>, bool)>>);

impl WriteHalf for Recorder {
    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.lock().unwrap().0.extend_from_slice(bytes);
        Ok(())
    }
    async fn close(&mut self) -> io::Result<()> {
        self.0.lock().unwrap().1 = true;
        Ok(())
    }
}

impl Recorder {
    /// Every byte written so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap().0.clone()
    }

    /// Whether the sending direction was closed.
    pub fn closed(&self) -> bool {
        self.0.lock().unwrap().1
    }

    /// The boxes written so far.
    pub fn boxes(&self) -> Vec<AmpBox> {
        let mut decoder = Decoder::default();
        decoder.feed(&self.bytes()).unwrap();
        std::iter::from_fn(|| decoder.decode().unwrap()).collect()
    }
}
