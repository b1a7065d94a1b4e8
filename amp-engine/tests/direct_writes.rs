//! Writes at once ([`WriteHalf::direct`]): bytes written by the task that
//! queued them and bytes written by the writer reach the wire whole, once
//! and in order, however little each write at once takes; and a failed
//! write at once ends the connection with its error.

mod common;

use std::convert::Infallible;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use amp_conformance::commands::{Echo, Text};
use amp_core::{CallError, ConnectionError};
use amp_engine::{DirectWrite, Peer, Responders, WriteHalf, start};
use common::Script;
use futures_channel::mpsc;
use futures_executor::LocalPool;
use futures_util::future::join_all;
use futures_util::task::LocalSpawnExt;

/// How the writes at once of one transport went.
#[derive(Default)]
struct Counts {
    /// Writes at once that took bytes.
    took: AtomicUsize,
    /// Writes at once refused with `WouldBlock`.
    refused: AtomicUsize,
    /// Writes by the writer.
    by_writer: AtomicUsize,
}

/// A write at once that takes at most `most` bytes, refuses every third
/// write with `WouldBlock` (or fails it, if `fail`), and sends what it
/// takes on the same channel as the writer.
struct Choppy {
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
        if *turn % 3 == 0 {
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

struct Wire {
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

fn echo() -> Responders {
    Responders::new().responder(
        Echo,
        |_, text: Text| async move { Ok::<_, Infallible>(text) },
    )
}

/// Two peers joined by [`Wire`]s, their loops spawned on `pool`.
fn pair(pool: &LocalPool, most: usize, fail: bool) -> (Peer, Peer, Arc<Counts>, Arc<Counts>) {
    let (a_out, b_in) = mpsc::unbounded();
    let (b_out, a_in) = mpsc::unbounded();
    let (a_wire, a_counts) = wire(a_out, most, fail);
    let (b_wire, b_counts) = wire(b_out, most, false);
    let (a, a_reading, a_writing) = start(Script(a_in), a_wire, None, echo(), Default::default());
    let (b, b_reading, b_writing) = start(Script(b_in), b_wire, None, echo(), Default::default());
    let spawner = pool.spawner();
    spawner.spawn_local(a_reading).unwrap();
    spawner.spawn_local(a_writing).unwrap();
    spawner.spawn_local(b_reading).unwrap();
    spawner.spawn_local(b_writing).unwrap();
    (a, b, a_counts, b_counts)
}

async fn echo_through(from: &Peer, text: String) -> String {
    from.call_as::<Echo>(&Text { text }).await.unwrap().text
}

#[test]
fn bytes_written_at_once_and_by_the_writer_arrive_whole_and_in_order() {
    for most in [1, 7, 1000] {
        let mut pool = LocalPool::new();
        let (a, b, a_counts, b_counts) = pair(&pool, most, false);
        pool.run_until(async {
            // One call at a time: each goes out at once from its caller,
            // and each answer at once from the reader that ran the
            // responder.
            for i in 0..30 {
                let text = format!("one {i} {}", "x".repeat(i * 37));
                assert_eq!(echo_through(&a, text.clone()).await, text);
                assert_eq!(echo_through(&b, text.clone()).await, text);
            }
            // Many at once, both ways at the same time, some large: the
            // writer sends what the writes at once leave.
            let texts: Vec<String> = (0..200)
                .map(|i| format!("{i}:{}", "y".repeat((i * 131) % 5000)))
                .collect();
            let from_a = join_all(texts.iter().map(|t| echo_through(&a, t.clone())));
            let from_b = join_all(texts.iter().map(|t| echo_through(&b, t.clone())));
            let (got_a, got_b) = futures_util::future::join(from_a, from_b).await;
            assert_eq!(got_a, texts);
            assert_eq!(got_b, texts);
        });
        for counts in [&a_counts, &b_counts] {
            assert!(
                counts.took.load(Ordering::SeqCst) > 0,
                "nothing written at once"
            );
            assert!(
                counts.refused.load(Ordering::SeqCst) > 0,
                "no write at once refused"
            );
            assert!(
                counts.by_writer.load(Ordering::SeqCst) > 0,
                "the writer wrote nothing"
            );
        }
        drop((a, b));
        pool.run();
    }
}

#[test]
fn a_failed_write_at_once_ends_the_connection_with_its_error() {
    let mut pool = LocalPool::new();
    let (a, b, _, _) = pair(&pool, 1, true);
    pool.run_until(async {
        // The third write at once fails: one of these calls finds the
        // connection ended.
        let mut outcome = Ok(());
        for i in 0..10 {
            if let Err(e) = a
                .call_as::<Echo>(&Text {
                    text: format!("{i}"),
                })
                .await
            {
                outcome = Err(e);
                break;
            }
        }
        let reason = ConnectionError::Transport("the wire broke".into());
        assert_eq!(outcome, Err(CallError::Connection(reason.clone())));
        assert_eq!(a.closed().await, reason);
    });
    drop(b);
}
