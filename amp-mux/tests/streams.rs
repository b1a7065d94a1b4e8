//! Multiplexed streams between two Rust peers over one AMP connection
//! (tokio, in memory): echo of large transfers in order, the window bounding
//! what a writer may have sent to a reader that does not read, every way a
//! stream ends, and refusals.

use std::io;
use std::time::Duration;

use amp_core::CallError;
use amp_mux::{ConnectError, Mux, MuxStream, Refused};
use amp_tokio::{Peer, Responders};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Two connected peers: the server side with `server`'s streams, the
/// client side with `client`'s.
fn pair(server: &Mux, client: &Mux) -> (Peer, Peer) {
    let (a, b) = tokio::io::duplex(256 * 1024);
    let server_peer =
        amp_tokio::from_stream(a, Responders::new().include(server.responders()).unwrap());
    let client_peer = amp_tokio::from_stream(b, client.responders());
    (server_peer, client_peer)
}

fn echo_factory(mux: &Mux) {
    mux.listen("echo", |stream: MuxStream| {
        tokio::spawn(async move {
            let (mut r, mut w) = tokio::io::split(stream);
            let _ = tokio::io::copy(&mut r, &mut w).await;
            let _ = w.shutdown().await;
        });
        Ok(())
    });
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

async fn echo_round_trip(window: usize, len: usize) {
    let server = Mux::with_window(window);
    echo_factory(&server);
    let client = Mux::with_window(window);
    let (_s, peer) = pair(&server, &client);
    let stream = client.open(&peer, "echo").await.unwrap();
    let (mut r, mut w) = tokio::io::split(stream);
    let data = pattern(len);
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&sent).await.unwrap();
        w.flush().await.unwrap();
        w
    });
    let mut got = vec![0u8; len];
    tokio::time::timeout(Duration::from_secs(30), r.read_exact(&mut got))
        .await
        .expect("the echo within 30 s")
        .unwrap();
    assert!(got == data, "the echo differs");
    let mut w = writer.await.unwrap();
    w.shutdown().await.unwrap();
    // The echo ends its side when it sees the end.
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(10), r.read_to_end(&mut rest))
        .await
        .expect("the end within 10 s");
    assert!(matches!(n, Ok(0)), "{n:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_transfer_echoes_in_order_through_a_small_window() {
    echo_round_trip(8 * 1024, 3 * 1024 * 1024 + 7).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_larger_than_one_value_are_split() {
    echo_round_trip(amp_mux::DEFAULT_WINDOW, 5 * amp_mux::MAX_CHUNK + 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_does_not_read_stops_the_writer_at_the_window() {
    let window = 16 * 1024;
    let server = Mux::with_window(window);
    let (held_tx, mut held) = mpsc::unbounded_channel();
    server.listen("hold", move |stream| {
        // Keeps the stream without reading it.
        let _ = held_tx.send(stream);
        Ok(())
    });
    let client = Mux::with_window(window);
    let (_s, peer) = pair(&server, &client);
    let mut stream = client.open(&peer, "hold").await.unwrap();
    let mut held_stream = held.recv().await.unwrap();
    let chunk = vec![7u8; 1024];
    let mut accepted = 0usize;
    loop {
        match tokio::time::timeout(Duration::from_millis(300), stream.write(&chunk)).await {
            Ok(Ok(n)) => accepted += n,
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => break,
        }
        assert!(
            accepted <= 4 * window,
            "{accepted} bytes accepted: the window does not hold"
        );
    }
    assert!(accepted >= window, "only {accepted} bytes accepted");
    assert!(
        accepted <= 3 * window,
        "{accepted} bytes accepted for a window of {window}"
    );
    // Once read, everything comes through, in order.
    let mut got = vec![0u8; accepted];
    held_stream.read_exact(&mut got).await.unwrap();
    assert!(got.iter().all(|&b| b == 7));
    tokio::time::timeout(Duration::from_secs(5), stream.write_all(&chunk))
        .await
        .expect("writing goes on once the reader reads")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_ends_the_stream_both_ways() {
    let server = Mux::new();
    let (held_tx, mut held) = mpsc::unbounded_channel();
    server.listen("hold", move |stream| {
        let _ = held_tx.send(stream);
        Ok(())
    });
    let client = Mux::new();
    let (_s, peer) = pair(&server, &client);

    // The opener closes: the other end reads what was written, then the end.
    let mut stream = client.open(&peer, "hold").await.unwrap();
    let mut other = held.recv().await.unwrap();
    stream.write_all(b"last words").await.unwrap();
    stream.shutdown().await.unwrap();
    let mut got = Vec::new();
    other.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"last words");
    let e = other.write_all(b"too late").await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    assert_eq!((client.streams(), server.streams()), (0, 0));

    // The listening side closes: the same the other way.
    let mut stream = client.open(&peer, "hold").await.unwrap();
    let mut other = held.recv().await.unwrap();
    other.write_all(b"bye").await.unwrap();
    other.shutdown().await.unwrap();
    let mut got = Vec::new();
    stream.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"bye");
    assert_eq!(
        stream.write_all(b"x").await.unwrap_err().kind(),
        io::ErrorKind::BrokenPipe
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_amp_connection_fails_the_streams() {
    let server = Mux::new();
    let (held_tx, mut held) = mpsc::unbounded_channel();
    server.listen("hold", move |stream| {
        let _ = held_tx.send(stream);
        Ok(())
    });
    let client = Mux::new();
    let (server_peer, peer) = pair(&server, &client);
    let mut stream = client.open(&peer, "hold").await.unwrap();
    let mut other = held.recv().await.unwrap();
    server_peer.shutdown(std::time::Duration::ZERO);
    let mut buf = [0u8; 8];
    let e = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("the read ends")
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionAborted);
    let e = tokio::time::timeout(Duration::from_secs(5), other.read(&mut buf))
        .await
        .expect("the read ends")
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionAborted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_refusing_factories() {
    let server = Mux::new();
    server.listen("busy", |_stream| Err(Refused("busy".into())));
    let client = Mux::new();
    let (_s, peer) = pair(&server, &client);
    let e = client.open(&peer, "nope").await.unwrap_err();
    assert!(
        matches!(e, CallError::Declared(ConnectError::NoSuchFactory(_))),
        "{e:?}"
    );
    let e = client.open(&peer, "busy").await.unwrap_err();
    assert_eq!(
        e,
        CallError::Declared(ConnectError::ConnectionRefused("busy".into()))
    );
    assert_eq!(server.streams(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_cannot_open_streams_without_bound() {
    let server = Mux::new();
    server.set_max_streams(3);
    let (held_tx, _held) = mpsc::unbounded_channel();
    server.listen("hold", move |stream| {
        let _ = held_tx.send(stream);
        Ok(())
    });
    let client = Mux::new();
    let (_s, peer) = pair(&server, &client);
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(client.open(&peer, "hold").await.unwrap());
    }
    let e = client.open(&peer, "hold").await.unwrap_err();
    assert!(
        matches!(e, CallError::Declared(ConnectError::ConnectionRefused(_))),
        "{e:?}"
    );
    // One ended: room for one more.
    let mut first = open.remove(0);
    first.shutdown().await.unwrap();
    assert!(client.open(&peer, "hold").await.is_ok());
}

/// A factory that writes first, at once (as a server sending a banner):
/// its bytes may go out before the answer to `Connect` does, and still
/// reach the stream that `open` returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_written_before_its_connect_is_answered() {
    let server = Mux::new();
    server.listen("greet", |mut stream: MuxStream| {
        // Written from the factory itself: certainly queued before the
        // answer to Connect.
        let mut first = Box::pin(stream.write(b"hello"));
        let _ = futures_util::FutureExt::now_or_never(first.as_mut());
        drop(first);
        tokio::spawn(async move {
            let _ = stream.write_all(b", world").await;
            let _ = stream.shutdown().await;
        });
        Ok(())
    });
    let client = Mux::new();
    let (_s, peer) = pair(&server, &client);
    for _ in 0..20 {
        let mut stream = client.open(&peer, "greet").await.unwrap();
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut got))
            .await
            .expect("the greeting within 5 s")
            .unwrap();
        assert_eq!(got, b"hello, world");
    }
}

/// Bytes for an identifier no answer to `Connect` names, sent while an
/// `open` waited: kept for a while, then refused (`NO_SUCH_CONNECTION`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_for_a_stream_no_answer_names_are_refused() {
    use amp_core::AmpBox;
    use amp_mux::{StreamError, Transmit, TransmitArgs};

    let (calls_tx, mut calls) = mpsc::unbounded_channel();
    let server_side =
        Responders::new().raw_responder("Connect", move |ctx: amp_tokio::Context, _| {
            let calls_tx = calls_tx.clone();
            async move {
                let peer = ctx.peer.clone();
                let call = tokio::spawn(async move {
                    peer.call_as::<Transmit>(&TransmitArgs {
                        connection: "f".repeat(32).into(),
                        data: vec![1u8; 10].into(),
                    })
                    .await
                });
                // The Transmit goes out first.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let _ = calls_tx.send(call);
                Ok(AmpBox::from_pairs([("connection", "0".repeat(32))]))
            }
        });
    let client = Mux::with_window(4);
    let (a, b) = tokio::io::duplex(64 * 1024);
    let _server = amp_tokio::from_stream(a, server_side);
    let peer = amp_tokio::from_stream(b, client.responders());
    let mut stream = client.open(&peer, "any").await.unwrap();
    assert_eq!(stream.connection(), "0".repeat(32).as_bytes());
    let call = calls.recv().await.unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .expect("answered once the open is done")
        .unwrap();
    assert!(
        matches!(
            refused,
            Err(CallError::Declared(StreamError::NoSuchConnection(_)))
        ),
        "{refused:?}"
    );
    // And the stream that was opened got none of it.
    let mut buf = [0u8; 4];
    let nothing = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await;
    assert!(nothing.is_err(), "{nothing:?}");
}
