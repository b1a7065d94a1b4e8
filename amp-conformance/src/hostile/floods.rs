//! Floods and memory: a peer that never reads its answers, a flood of
//! requests faster than the responders, many connections at once, and two
//! peers making many large calls on each other.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use amp_core::Decoder;
use futures_util::io::{AsyncReadExt, AsyncWriteExt};

use super::bystander::Bystander;
use super::harness::{Harness, connect_raw, responders, wire};
use super::report::{
    env_number, memory, memory_unchecked, mib, open_files_limit, row, rss_kib, short,
};
use crate::commands::{Echo, Text, echo_responders};
use crate::sync::Gate;
use crate::{Options, Runtime, WAIT, timeout};

/// A peer sending 16 KiB `Echo` requests and never reading the answers:
/// the server's outbound and waiting requests stay bounded, then it stops
/// reading; it keeps the connection, and its memory stays flat.
pub async fn h20_peer_that_never_reads<R: Runtime>(rt: R) {
    let (limit, waiting) = (64 * 1024, 256 * 1024);
    let h = Harness::start(
        &rt,
        Options::default()
            .max_outbound_bytes(limit)
            .max_waiting_bytes(waiting),
    )
    .await;
    let mut other = Bystander::start(&rt, h.addr).await;
    let before = rss_kib();
    other.begin();

    // 16 KiB Echo requests, never reading the answers, until a write
    // stalls for 3 s (the server stopped reading) or 256 MiB went out.
    let text = "x".repeat(16 * 1024);
    let (mut raw, me) = connect_raw(h.addr).await;
    let mut sent = 0usize;
    let mut n = 0u64;
    let stalled = loop {
        n += 1;
        let tag = format!("{n:x}");
        let req = wire(&[
            ("_ask", tag.as_bytes()),
            ("_command", b"Echo"),
            ("text", text.as_bytes()),
        ]);
        match timeout(&rt, Duration::from_secs(3), raw.write_all(&req)).await {
            Some(Ok(())) => sent += req.len(),
            Some(Err(e)) => panic!("writing to the server: {e}"),
            None => break true,
        }
        if sent > 256 << 20 {
            break false;
        }
    };
    assert!(
        stalled,
        "the server kept reading: {sent} bytes of requests taken"
    );
    let peak = rss_kib();
    assert!(!h.has_ended(me), "the server closed a slow reader");
    let summary = other.checkpoint().await;
    drop(raw);
    let reason = h.reason(me).await;
    row(
        &format!(
            "a peer that never reads its answers (16 KiB Echo requests; outbound limit {} KiB, waiting limit {} KiB)",
            limit / 1024,
            waiting / 1024
        ),
        "outbound and waiting requests bounded, then reading paused; connection kept; memory flat",
        &format!(
            "writes stalled after {:.1} MiB of requests (kernel buffers); server stayed up until the peer left, then {}; {summary}",
            sent as f64 / (1 << 20) as f64,
            short(&reason)
        ),
        &format!(
            "{}; peak RSS +{}",
            memory(before),
            mib(peak.saturating_sub(before))
        ),
    );
    other.stop().await;
}

/// 2000 `Slow` (10 ms) requests in one write to a server with
/// `max_responders(8)`: at most 8 run at once, all are answered.
pub async fn h21_flood_faster_than_responders<R: Runtime>(rt: R) {
    let max_responders = 8;
    let h = Harness::start(&rt, Options::default().max_responders(max_responders)).await;
    let mut other = Bystander::start(&rt, h.addr).await;
    let before = rss_kib();
    other.begin();

    // 2000 requests of 10 ms each, written at once; 8 may run at a time.
    let requests = 2000u32;
    let mut flood = Vec::new();
    for n in 1..=requests {
        flood.extend(wire(&[
            ("_ask", format!("{n:x}").as_bytes()),
            ("_command", b"Slow"),
            ("ms", b"10"),
        ]));
    }
    let (raw, _) = connect_raw(h.addr).await;
    let (mut rd, mut wr) = (raw.clone(), raw);
    let started = Instant::now();
    let writer = rt.spawn(async move {
        wr.write_all(&flood).await.unwrap();
        wr
    });
    let mut answered = HashSet::new();
    let mut d = Decoder::default();
    let mut buf = vec![0u8; 64 * 1024];
    timeout(&rt, WAIT * 2, async {
        while answered.len() < requests as usize {
            let n = rd.read(&mut buf).await.unwrap();
            assert!(n > 0, "the server closed the flooding connection");
            d.feed(&buf[..n]).unwrap();
            while let Some(b) = d.decode().unwrap() {
                let tag = b.get_str("_answer").expect("an answer").to_owned();
                assert!(answered.insert(tag), "answered twice");
            }
        }
    })
    .await
    .expect("not every flooded request was answered");
    let took = started.elapsed();
    let _wr = writer.await;
    let max_running = h.stats.slow_max_running.load(Ordering::SeqCst);
    assert!(
        max_running <= max_responders,
        "{max_running} responders at once"
    );
    let summary = other.checkpoint().await;
    row(
        &format!(
            "a flood of {requests} Slow (10 ms) requests in one write, max_responders {max_responders}"
        ),
        "at most 8 responders at once, the rest waiting (bounded); all answered; memory flat",
        &format!(
            "all {} answered in {:.1} s, at most {max_running} running at once; {summary}",
            answered.len(),
            took.as_secs_f64()
        ),
        &memory(before),
    );
    other.stop().await;
}

/// `AMP_HOSTILE_CONNECTIONS` (default 500) raw clients of the binding's
/// `Server`, 3 `Sum` calls each, then idle: every call answered, and under
/// 64 KiB of memory per idle connection.
pub async fn h22_many_concurrent_connections<R: Runtime>(rt: R) {
    let connections = env_number("AMP_HOSTILE_CONNECTIONS", 500) as usize;
    let fds = open_files_limit();
    assert!(
        fds >= 2 * connections as u64 + 256,
        "{connections} connections need {} descriptors (both ends are in this process); \
         the limit is {fds}: raise it with `ulimit -n`",
        2 * connections + 256
    );
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

    // Raw clients (a socket and a few bytes each, so the memory measured
    // is the server's): each connects, makes 3 Sum calls, stays open.
    let started = Instant::now();
    let gate = Arc::new(Gate::default());
    gate.open(256);
    let mut tasks = Vec::with_capacity(connections);
    for c in 0..connections {
        let gate = Arc::clone(&gate);
        tasks.push(rt.spawn(async move {
            gate.pass().await;
            let (mut s, _) = connect_raw(addr).await;
            let mut d = Decoder::default();
            let mut buf = [0u8; 256];
            for call in 1..=3u32 {
                let tag = call.to_string();
                let a = (c as i64).to_string();
                s.write_all(&wire(&[
                    ("_ask", tag.as_bytes()),
                    ("_command", b"Sum"),
                    ("a", a.as_bytes()),
                    ("b", tag.as_bytes()),
                ]))
                .await
                .unwrap();
                let answer = loop {
                    if let Some(b) = d.decode().unwrap() {
                        break b;
                    }
                    let n = s.read(&mut buf).await.unwrap();
                    assert!(n > 0, "connection {c} closed by the server");
                    d.feed(&buf[..n]).unwrap();
                };
                let want = (c as i64 + i64::from(call)).to_string();
                assert_eq!(answer.get_str("_answer"), Some(tag.as_str()));
                assert_eq!(answer.get_str("total"), Some(want.as_str()));
            }
            gate.open(1);
            s
        }));
    }
    let mut open = Vec::with_capacity(connections);
    for t in tasks {
        open.push(timeout(&rt, WAIT * 4, t).await.expect("a client hung"));
    }
    let took = started.elapsed();
    rt.sleep(Duration::from_millis(200)).await;
    let idle = rss_kib();
    let per = idle.saturating_sub(before) as f64 * 1024.0 / connections as f64;
    // Memory grows with the number of connections: bounded per
    // connection instead.
    assert!(
        per < 64.0 * 1024.0,
        "{:.1} KiB per idle connection",
        per / 1024.0
    );
    let summary = other.checkpoint().await;
    let mem = memory_unchecked(before);
    drop(open);
    served.stop.shutdown(Duration::from_secs(5)).await;
    timeout(&rt, WAIT, served.running)
        .await
        .expect("run did not return")
        .unwrap();
    row(
        &format!("{connections} concurrent connections, 3 Sum calls each, then idle"),
        "every call answered, no errors; under 64 KiB per idle connection",
        &format!(
            "{} calls answered in {:.1} s; {summary}",
            3 * connections,
            took.as_secs_f64()
        ),
        &format!("{mem}; {:.1} KiB per idle connection", per / 1024.0),
    );
    other.stop().await;
}

/// Two peers of this crate, each running 1024 callers making 3 `Echo`
/// calls of 60 KB on the other at once: every call answered (no deadlock
/// with both outbound buffers full). Finding 2 of `docs/reliability.md`.
pub async fn h25_large_calls_both_ways<R: Runtime>(rt: R) {
    let h = Harness::start(&rt, Options::default()).await;
    let mut other = Bystander::start(&rt, h.addr).await;
    let before = rss_kib();
    other.begin();

    // The client serves Echo too; each side runs 1024 callers making 3
    // Echo calls of 60 KB each on the other, all at once.
    let (client, me) = rt.connect_tcp(h.addr, echo_responders()).await.unwrap();
    let server = h.accepted(me).await;
    let (callers, rounds, size) = (1024usize, 3usize, 60_000usize);
    let answered = Arc::new(AtomicUsize::new(0));
    let text: Arc<str> = "y".repeat(size).into();
    let mut tasks = Vec::new();
    for side in [client.clone(), server.clone()] {
        for _ in 0..callers {
            let (side, answered, text) = (side.clone(), Arc::clone(&answered), Arc::clone(&text));
            tasks.push(rt.spawn(async move {
                for _ in 0..rounds {
                    // The arguments are encoded here and dropped: only the
                    // encoded box waits with the call.
                    let call = side.call_as::<Echo>(&Text {
                        text: text.to_string(),
                    });
                    let back = call.await.expect("an Echo call failed");
                    assert_eq!(back.text.len(), text.len());
                    answered.fetch_add(1, Ordering::SeqCst);
                }
            }));
        }
    }
    drop(server);
    let total = 2 * callers * rounds;
    let started = Instant::now();
    let mut last = (0, Instant::now());
    let mut peak = 0;
    while answered.load(Ordering::SeqCst) < total {
        rt.sleep(Duration::from_millis(100)).await;
        peak = peak.max(rss_kib());
        let now = answered.load(Ordering::SeqCst);
        if now != last.0 {
            last = (now, Instant::now());
        }
        assert!(
            last.1.elapsed() < Duration::from_secs(15),
            "deadlocked: no call answered for 15 s, {now} of {total} answered"
        );
    }
    for t in tasks {
        t.await;
    }
    let took = started.elapsed();
    let summary = other.checkpoint().await;
    client.shutdown(std::time::Duration::ZERO);
    let reason = h.reason(me).await;
    row(
        &format!(
            "two peers each making {callers} concurrent 60 KB Echo calls on the other ({rounds} rounds)"
        ),
        "every call answered (no deadlock with both outbound buffers full)",
        &format!(
            "all {total} answered in {:.1} s; then {}; {summary}",
            took.as_secs_f64(),
            short(&reason)
        ),
        &format!(
            "peak RSS +{} (the calls' own arguments: {} MiB); {}",
            mib(peak.saturating_sub(before)),
            (2 * callers * size) >> 20,
            memory_unchecked(before)
        ),
    );
    other.stop().await;
}
