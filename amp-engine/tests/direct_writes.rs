//! Writes at once ([`WriteHalf::direct`]): bytes written by the task that
//! queued them and bytes written by the writer reach the wire whole, once
//! and in order, however little each write at once takes; and a failed
//! write at once ends the connection with its error.

mod common;

use std::convert::Infallible;
use std::sync::atomic::Ordering;

use amp_conformance::commands::{Echo, Text};
use amp_core::{CallError, ConnectionError};
use amp_engine::{Peer, Responders};
use common::joined;
use futures_executor::LocalPool;
use futures_util::future::join_all;

fn echo() -> Responders {
    Responders::new().responder(
        Echo,
        |_, text: Text| async move { Ok::<_, Infallible>(text) },
    )
}

async fn echo_through(from: &Peer, text: String) -> String {
    from.call_as::<Echo>(&Text { text }).await.unwrap().text
}

#[test]
fn bytes_written_at_once_and_by_the_writer_arrive_whole_and_in_order() {
    for most in [1, 7, 1000] {
        let mut pool = LocalPool::new();
        let (a, b, a_counts, b_counts) = joined(&pool, most, false, echo(), echo());
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
    let (a, b, _, _) = joined(&pool, 1, true, echo(), echo());
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
