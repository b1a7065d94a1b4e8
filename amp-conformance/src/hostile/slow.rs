//! Slow peers and timeouts: a peer trickling a request one byte per second,
//! one that never finishes its box against `unfinished_box_timeout`, and
//! one that says nothing against `idle_timeout`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use amp_core::{ConnectionError, Decoder};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};

use super::bystander::Bystander;
use super::harness::{Harness, connect_raw, request, responders};
use super::report::{env_number, memory, row, rss_kib, short};
use crate::{Options, Runtime, WAIT, timeout};

/// A peer sending a `Sum` request one byte per second (for
/// `AMP_HOSTILE_SLOW_SECONDS`, default 4, then the rest) to the binding's
/// `Server` itself: answered once complete, no effect on the other client.
pub async fn h19_one_byte_per_second<R: Runtime>(rt: R) {
    let seconds = env_number("AMP_HOSTILE_SLOW_SECONDS", 4);
    // The binding's Server itself, no hook.
    let (factory_rt, stats) = (rt.clone(), Arc::default());
    let served = rt
        .serve(
            Arc::new(move |_| responders(&factory_rt, Arc::clone(&stats))),
            Options::default(),
        )
        .await
        .unwrap();
    let addr = served.addr;
    let mut other = Bystander::start(&rt, addr).await;
    let before = rss_kib();
    other.begin();

    let bytes = request("Sum", &[("a", b"1"), ("b", b"2")]);
    let (mut raw, _) = connect_raw(addr).await;
    let started = Instant::now();
    let trickled = (seconds as usize).min(bytes.len() - 1);
    for byte in &bytes[..trickled] {
        raw.write_all(std::slice::from_ref(byte)).await.unwrap();
        rt.sleep(Duration::from_secs(1)).await;
    }
    raw.write_all(&bytes[trickled..]).await.unwrap();
    let mut d = Decoder::default();
    let mut buf = [0u8; 1024];
    let answer = timeout(&rt, WAIT, async {
        loop {
            let n = raw.read(&mut buf).await.unwrap();
            assert!(n > 0, "the server closed the trickling connection");
            d.feed(&buf[..n]).unwrap();
            if let Some(b) = d.decode().unwrap() {
                return b;
            }
        }
    })
    .await
    .expect("the trickling peer got no answer");
    assert_eq!(answer.get_str("total"), Some("3"));
    let took = started.elapsed();
    let summary = other.checkpoint().await;
    row(
        &format!("a peer sending one byte per second ({trickled} s, then the rest)"),
        "no effect on the other connection; the slow request answered once complete",
        &format!(
            "answered `total: 3` {:.1} s after its first byte; {summary}",
            took.as_secs_f64()
        ),
        &memory(before),
    );
    other.stop().await;
    served.stop.ask(Duration::ZERO);
}

/// A peer sending a byte every 300 ms and never the last, to a server with
/// `unfinished_box_timeout(1 s)`: cut off with `BoxTimeout` between one
/// and two timeouts after its first byte.
pub async fn h19b_one_byte_every_300_ms_against_an_unfinished_box_timeout<R: Runtime>(rt: R) {
    let limit = Duration::from_secs(1);
    let h = Harness::start(&rt, Options::default().unfinished_box_timeout(limit)).await;
    let mut other = Bystander::start(&rt, h.addr).await;
    let before = rss_kib();
    other.begin();

    let bytes = request("Sum", &[("a", b"1"), ("b", b"2")]);
    let (mut raw, me) = connect_raw(h.addr).await;
    let started = Instant::now();
    let mut sent = 0;
    let mut closed = None;
    let mut buf = [0u8; 64];
    // Never the last byte: the box stays unfinished.
    for byte in &bytes[..bytes.len() - 1] {
        if raw.write_all(std::slice::from_ref(byte)).await.is_err() {
            break;
        }
        sent += 1;
        // The server's end shows as the end of the stream (or a reset).
        if let Some(r) = timeout(&rt, Duration::from_millis(300), raw.read(&mut buf)).await {
            assert!(!matches!(r, Ok(n) if n > 0), "an answer to half a box");
            closed = Some(started.elapsed());
            break;
        }
    }
    let closed = closed.expect("the trickling peer was never cut off");
    assert!(
        closed >= limit,
        "cut off after {closed:?}, before the timeout"
    );
    assert!(closed < limit * 3, "cut off only after {closed:?}");
    let reason = h.reason(me).await;
    // The bytes the server had when it gave up: what was sent, less any
    // byte still on its way then.
    assert!(
        matches!(reason, ConnectionError::BoxTimeout { timeout, buffered }
            if timeout == limit && (1..=sent).contains(&buffered)),
        "server: {reason:?}"
    );
    let summary = other.checkpoint().await;
    row(
        &format!(
            "a peer sending one byte every 300 ms, never the last, to a server with \
             `unfinished_box_timeout({} s)`",
            limit.as_secs()
        ),
        "BoxTimeout, cut off between 1 and 2 timeouts after its first byte; no effect on the other connection",
        &format!(
            "cut off {:.1} s after its first byte ({sent} of {} bytes sent); server: {}; {summary}",
            closed.as_secs_f64(),
            bytes.len(),
            short(&reason)
        ),
        &memory(before),
    );
    other.stop().await;
}

/// A peer that connects and says nothing, to a server with
/// `idle_timeout(1 s)`: let go with `IdleTimeout` between one and two
/// timeouts after connecting, while the other client stays busy.
pub async fn h19c_a_peer_that_connects_and_says_nothing_against_an_idle_timeout<R: Runtime>(rt: R) {
    let limit = Duration::from_secs(1);
    let h = Harness::start(&rt, Options::default().idle_timeout(limit)).await;
    let mut other = Bystander::start(&rt, h.addr).await;
    let before = rss_kib();
    other.begin();

    // The server's clock cannot start before the connection exists: taken
    // before connecting, this is a lower bound on its start whatever the
    // order in which the two ends' tasks run.
    let started = Instant::now();
    let (mut raw, me) = connect_raw(h.addr).await;
    let mut buf = [0u8; 64];
    let end = timeout(&rt, WAIT, raw.read(&mut buf))
        .await
        .expect("the silent peer was never let go");
    assert!(
        !matches!(end, Ok(n) if n > 0),
        "bytes sent to a silent peer"
    );
    let closed = started.elapsed();
    assert!(
        closed >= limit,
        "let go after {closed:?}, before the timeout"
    );
    assert!(closed < limit * 3, "let go only after {closed:?}");
    let reason = h.reason(me).await;
    assert_eq!(reason, ConnectionError::IdleTimeout { timeout: limit });
    let summary = other.checkpoint().await;
    row(
        &format!(
            "a peer that connects and sends nothing, to a server with `idle_timeout({} s)`",
            limit.as_secs()
        ),
        "IdleTimeout, let go between 1 and 2 timeouts after connecting; no effect on the other connection (busy all along)",
        &format!(
            "let go {:.1} s after connecting; server: {}; {summary}",
            closed.as_secs_f64(),
            short(&reason)
        ),
        &memory(before),
    );
    other.stop().await;
}
