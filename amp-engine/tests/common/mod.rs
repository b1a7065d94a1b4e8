//! Transports for driving the engine with scripted bytes, shared by the
//! engine's tests.

#![allow(dead_code)]

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use amp_core::{AmpBox, Decoder};
use amp_engine::{DirectWrite, Peer, ReadHalf, Responders, WriteHalf, start};
use bytes::BytesMut;
use futures_channel::mpsc;
use futures_executor::LocalPool;
use futures_util::StreamExt;
use futures_util::task::LocalSpawnExt;

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

/// How the writes at once of one transport went.
#[derive(Default)]
pub struct Counts {
    /// Writes at once that took bytes.
    pub took: AtomicUsize,
    /// Writes at once refused with `WouldBlock`.
    pub refused: AtomicUsize,
    /// Writes by the writer.
    pub by_writer: AtomicUsize,
}

/// A write at once that takes at most `most` bytes, refuses every third
/// write with `WouldBlock` (or fails it, if `fail`), and sends what it
/// takes on the same channel as the writer.
pub struct Choppy {
    out: mpsc::UnboundedSender<Vec<u8>>,
    most: usize,
    fail: bool,
    counts: Arc<Counts>,
    turn: Mutex<usize>,
}

impl DirectWrite for Choppy {
    fn try_write(&self, bytes: &[u8]) -> io::Result<usize> {
        let mut turn = self.turn.lock().unwrap();
        *turn += 1;
        if (*turn).is_multiple_of(3) {
            if self.fail {
                return Err(io::Error::other("the wire broke"));
            }
            self.counts.refused.fetch_add(1, Ordering::SeqCst);
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = bytes.len().min(self.most);
        self.counts.took.fetch_add(1, Ordering::SeqCst);
        let _ = self.out.unbounded_send(bytes[..n].to_vec());
        Ok(n)
    }
}

pub struct Wire {
    out: mpsc::UnboundedSender<Vec<u8>>,
    direct: Arc<Choppy>,
}

impl WriteHalf for Wire {
    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.direct.counts.by_writer.fetch_add(1, Ordering::SeqCst);
        let _ = self.out.unbounded_send(bytes.to_vec());
        Ok(())
    }
    async fn close(&mut self) -> io::Result<()> {
        self.out.close_channel();
        Ok(())
    }
    fn direct(&self) -> Option<Arc<dyn DirectWrite>> {
        Some(self.direct.clone())
    }
}

fn wire(out: mpsc::UnboundedSender<Vec<u8>>, most: usize, fail: bool) -> (Wire, Arc<Counts>) {
    let counts = Arc::new(Counts::default());
    let direct = Arc::new(Choppy {
        out: out.clone(),
        most,
        fail,
        counts: Arc::clone(&counts),
        turn: Mutex::new(0),
    });
    (Wire { out, direct }, counts)
}

/// Two peers joined by [`Wire`]s (`a`'s writes at once take at most
/// `most` bytes, and fail instead of refusing if `fail`), with these
/// responders, their loops spawned on `pool`.
pub fn joined(
    pool: &LocalPool,
    most: usize,
    fail: bool,
    a_responders: Responders,
    b_responders: Responders,
) -> (Peer, Peer, Arc<Counts>, Arc<Counts>) {
    let (a_out, b_in) = mpsc::unbounded();
    let (b_out, a_in) = mpsc::unbounded();
    let (a_wire, a_counts) = wire(a_out, most, fail);
    let (b_wire, b_counts) = wire(b_out, most, false);
    let (a, a_reading, a_writing) =
        start(Script(a_in), a_wire, None, a_responders, Default::default());
    let (b, b_reading, b_writing) =
        start(Script(b_in), b_wire, None, b_responders, Default::default());
    let spawner = pool.spawner();
    spawner.spawn_local(a_reading).unwrap();
    spawner.spawn_local(a_writing).unwrap();
    spawner.spawn_local(b_reading).unwrap();
    spawner.spawn_local(b_writing).unwrap();
    (a, b, a_counts, b_counts)
}
