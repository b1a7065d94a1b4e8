//! Local proxying over TCP: a local listener forwarding each connection as
//! a stream (what `mux_proxy` runs), to a Rust factory connecting streams
//! to a TCP echo server (what `mux_server`'s `forward:` does), and to
//! txampext's `MultiplexingCommandLocator` with a Twisted echo factory.

use std::time::Duration;

use amp_conformance::interop::python::PyServer;
use amp_mux::Mux;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A plain TCP echo server; its address.
async fn tcp_echo() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = tcp.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// Starts the proxy's listener forwarding to `factory` over `peer`.
async fn start_proxy(
    mux: Mux,
    peer: amp_tokio::Peer,
    factory: &'static str,
) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(amp_mux::tcp::proxy(listener, mux, peer, factory));
    addr
}

async fn echo_through(proxy: std::net::SocketAddr, len: usize, seed: u8) {
    let mut local = TcpStream::connect(proxy).await.unwrap();
    let data: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
        .collect();
    let (mut r, mut w) = local.split();
    let sent = data.clone();
    let (wrote, read) = tokio::join!(async move { w.write_all(&sent).await }, async {
        let mut got = vec![0u8; len];
        tokio::time::timeout(Duration::from_secs(30), r.read_exact(&mut got))
            .await
            .expect("the echo through the proxy within 30 s")
            .map(|_| got)
    });
    wrote.unwrap();
    assert!(read.unwrap() == data, "the echo differs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_forwarded_over_one_amp_connection() {
    let target = tcp_echo().await;
    let server = Mux::with_window(64 * 1024);
    server.listen_forward("forward", target);
    let responders = server.responders();
    let amp = amp_tokio::bind("127.0.0.1:0", move |_| responders.clone())
        .await
        .unwrap();
    let amp_addr = amp.local_addr().unwrap();
    tokio::spawn(amp.run());

    let client = Mux::with_window(64 * 1024);
    let peer = amp_tokio::connect(amp_addr, client.responders())
        .await
        .unwrap();
    let proxy = start_proxy(client.clone(), peer, "forward").await;
    // Several connections at once, each its own stream, one large.
    tokio::join!(
        echo_through(proxy, 2 * 1024 * 1024, 1),
        echo_through(proxy, 10_000, 2),
        echo_through(proxy, 1, 3),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_proxy_to_txampexts_echo_factory() {
    let server = tokio::task::spawn_blocking(|| PyServer::start("txampext_mux_server.py"))
        .await
        .expect("starting txampext_mux_server.py");
    let mux = Mux::new();
    let peer = amp_tokio::connect(server.addr(), mux.responders())
        .await
        .unwrap();
    let proxy = start_proxy(mux, peer, "echo").await;
    tokio::join!(echo_through(proxy, 500_000, 4), echo_through(proxy, 100, 5),);
}
