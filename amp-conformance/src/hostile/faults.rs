//! Faults: the connection dies with calls in flight in both directions,
//! reset both ways or closed by the client.

use std::convert::Infallible;
use std::net::{Shutdown, SocketAddr};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use amp_core::CallError;
use async_net::{TcpListener, TcpStream};
use futures_channel::oneshot;
use futures_util::future::{Either, select, try_join};

use super::bystander::Bystander;
use super::harness::{Harness, until};
use super::report::{memory, ms, row, rss_kib, short};
use crate::commands::{Empty, Hang, Slow, SlowArgs};
use crate::sync::Gate;
use crate::{Options, Responders, Runtime, timeout};

/// Copies `from` to `to` until the end of `from`'s stream, then ends
/// `to`'s sending side.
async fn pump(mut from: TcpStream, mut to: TcpStream) -> std::io::Result<()> {
    futures_util::io::copy(&mut from, &mut to).await?;
    to.shutdown(Shutdown::Write)
}

/// Forwards one connection accepted on `listener` to `target` (ends of
/// stream included) until `kill` opens, then drops both sockets with
/// `SO_LINGER` 0: both ends get a reset, no end-of-stream. Sends the
/// address the server sees.
pub async fn proxy(
    listener: TcpListener,
    target: SocketAddr,
    kill: Arc<Gate>,
    server_side: oneshot::Sender<SocketAddr>,
) {
    let (client, _) = listener.accept().await.unwrap();
    let server = TcpStream::connect(target).await.unwrap();
    let _ = server_side.send(server.local_addr().unwrap());
    {
        let both = pin!(try_join(
            pump(client.clone(), server.clone()),
            pump(server.clone(), client.clone()),
        ));
        if let Either::Right(_) = select(both, pin!(kill.pass())).await {
            for s in [&client, &server] {
                socket2::SockRef::from(s)
                    .set_linger(Some(Duration::ZERO))
                    .unwrap();
            }
        }
    }
    drop(client);
    drop(server);
}

/// Starts a [`proxy`] to `target` on a port of its own: where to connect,
/// the switch that resets both ends, and the address the server will see.
pub async fn start_proxy<R: Runtime>(
    rt: &R,
    target: SocketAddr,
) -> (SocketAddr, Arc<Gate>, oneshot::Receiver<SocketAddr>) {
    let kill = Arc::new(Gate::default());
    let (tx, rx) = oneshot::channel();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_addr = listener.local_addr().unwrap();
    rt.spawn_detached(Box::pin(proxy(listener, target, Arc::clone(&kill), tx)));
    (proxy_addr, kill, rx)
}

/// A client with three `Slow` calls running on the server, and the server
/// with two calls running on the client (its `Hang`, which never answers),
/// loses its connection: reset both ways (`reset`), or closed by the
/// client. Every pending call on both sides must fail promptly with a
/// connection error, and the server's running responders must be dropped.
async fn in_flight<R: Runtime>(rt: &R, case: &str, reset: bool) {
    let h = Harness::start(rt, Options::default()).await;
    let mut other = Bystander::start(rt, h.addr).await;
    let before = rss_kib();
    other.begin();

    let hung = Arc::new(AtomicUsize::new(0));
    let client_responders = {
        let hung = Arc::clone(&hung);
        Responders::new().responder(Hang, move |_, _: Empty| {
            let hung = Arc::clone(&hung);
            async move {
                hung.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<()>().await;
                Ok::<_, Infallible>(Empty {})
            }
        })
    };
    // Through a proxy, which can reset both ends at once, and which tells
    // the address the server sees.
    let (proxy_addr, kill, server_side) = start_proxy(rt, h.addr).await;
    let client = rt
        .connect(proxy_addr, client_responders, Options::default())
        .await
        .unwrap();
    let server_addr = server_side.await.unwrap();

    let mut client_calls = Vec::new();
    for _ in 0..3 {
        let c = client.clone();
        client_calls.push(rt.spawn(async move {
            c.call_as::<Slow>(&SlowArgs { ms: 600_000 })
                .await
                .map(|_| ())
        }));
    }
    let server = h.accepted(server_addr).await;
    let mut server_calls = Vec::new();
    for _ in 0..2 {
        let s = server.clone();
        server_calls.push(rt.spawn(async move { s.call_as::<Hang>(&Empty {}).await.map(|_| ()) }));
    }
    drop(server);
    // Wait until all of it is in flight.
    until(rt, "the calls never all started", || {
        h.stats.slow_running.load(Ordering::SeqCst) >= 3 && hung.load(Ordering::SeqCst) >= 2
    })
    .await;

    let cut = Instant::now();
    if reset {
        kill.open(1);
    } else {
        client.shutdown(std::time::Duration::ZERO);
    }
    let mut failures = Vec::new();
    for (side, calls) in [("client", client_calls), ("server", server_calls)] {
        for call in calls {
            let outcome = timeout(rt, Duration::from_secs(10), call)
                .await
                .unwrap_or_else(|| panic!("a {side} call did not fail promptly"));
            match outcome {
                Err(CallError::Connection(e)) => failures.push((side, cut.elapsed(), e)),
                other => panic!("a {side} call ended with {other:?}"),
            }
        }
    }
    let reason = h.reason(server_addr).await;
    until(rt, "the server's Slow responders kept running", || {
        h.stats.slow_running.load(Ordering::SeqCst) == 0
    })
    .await;
    let summary = other.checkpoint().await;
    let side = |name: &str| {
        let mine: Vec<_> = failures.iter().filter(|f| f.0 == name).collect();
        let slowest = mine.iter().map(|f| f.1).max().unwrap_or_default();
        format!(
            "{} {name} calls failed within {} ({})",
            mine.len(),
            ms(slowest),
            short(&mine[0].2)
        )
    };
    row(
        case,
        "every pending call on both sides fails promptly with a connection error",
        &format!(
            "{}; {}; server connection: {}; its 3 running responders dropped; {summary}",
            side("client"),
            side("server"),
            short(&reason),
        ),
        &memory(before),
    );
    other.stop().await;
}

/// Reset (RST both ways) with calls in flight in both directions.
pub async fn h23_reset_with_calls_in_flight<R: Runtime>(rt: R) {
    in_flight(
        &rt,
        "connection reset (RST both ways, SO_LINGER 0) with calls in flight in both directions",
        true,
    )
    .await;
}

/// Closed by the client (FIN) with calls in flight in both directions.
pub async fn h24_client_drops_with_calls_in_flight<R: Runtime>(rt: R) {
    in_flight(
        &rt,
        "client closes (FIN) with calls in flight in both directions",
        false,
    )
    .await;
}
