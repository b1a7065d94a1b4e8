//! A stream through futures-io's `AsyncRead + AsyncWrite` (as async-std and
//! smol use it): the same bytes back, in order, and the end.

use amp_mux::Mux;
use amp_tokio::Responders;
use futures_util::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_through_futures_io() {
    let server = Mux::with_window(4096);
    server.listen("upper", |mut stream| {
        tokio::spawn(async move {
            let mut buf = vec![0u8; 1000];
            loop {
                let n = stream.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                buf[..n].make_ascii_uppercase();
                stream.write_all(&buf[..n]).await.unwrap();
            }
            stream.close().await.unwrap();
        });
        Ok(())
    });
    let client = Mux::with_window(4096);
    let (a, b) = tokio::io::duplex(64 * 1024);
    let _s = amp_tokio::from_stream(a, Responders::new().include(server.responders()).unwrap());
    let peer = amp_tokio::from_stream(b, client.responders());
    let stream = client.open(&peer, "upper").await.unwrap();
    let (mut r, mut w) = stream.split();
    let text: Vec<u8> = b"abcdefghij".repeat(5000);
    let sent = text.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&sent).await.unwrap();
        w.flush().await.unwrap();
        w
    });
    let mut got = vec![0u8; text.len()];
    r.read_exact(&mut got).await.unwrap();
    assert_eq!(got, text.to_ascii_uppercase());
    let mut w = writer.await.unwrap();
    w.close().await.unwrap();
    let mut rest = Vec::new();
    assert_eq!(r.read_to_end(&mut rest).await.unwrap(), 0);
}
