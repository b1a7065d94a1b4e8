//! `mux_server ADDR`: AMP on ADDR, with the multiplexed-stream factories
//! `echo` (writes back every byte) and `forward:HOST:PORT` (connects each
//! stream to that TCP address). Prints `LISTENING <port>` once listening.
//!
//! ```sh
//! cargo run -p amp-mux --features tokio --example mux_server -- 127.0.0.1:7000
//! ```
//!
//! `forward:` connects anywhere the server can reach: run it only where
//! every AMP peer may do that.

use amp_mux::{ConnectError, Mux, MuxStream};
use tokio::io::AsyncWriteExt;

// One thread: a stream's bytes cross no thread inside the process.
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".into());
    // The per-stream window, in bytes (AMP_MUX_WINDOW; 256 KiB if unset).
    let mux = match std::env::var("AMP_MUX_WINDOW")
        .ok()
        .and_then(|w| w.parse().ok())
    {
        Some(window) => Mux::with_window(window),
        None => Mux::new(),
    };
    mux.listen("echo", |stream: MuxStream| {
        tokio::spawn(async move {
            let (mut r, mut w) = tokio::io::split(stream);
            let _ = tokio::io::copy(&mut r, &mut w).await;
            let _ = w.shutdown().await;
        });
        Ok(())
    });
    mux.listen_any(|name, mut stream| {
        let Some(target) = name
            .strip_prefix(b"forward:")
            .and_then(|t| std::str::from_utf8(t).ok())
            .map(str::to_owned)
        else {
            return Err(ConnectError::NoSuchFactory(format!(
                "no factory {}",
                name.escape_ascii()
            )));
        };
        tokio::spawn(async move {
            match tokio::net::TcpStream::connect(&target).await {
                Ok(tcp) => amp_mux::tcp::join(tcp, stream).await,
                Err(e) => {
                    eprintln!("forward to {target}: {e}");
                    let _ = stream.shutdown().await;
                }
            }
        });
        Ok(())
    });
    let responders = mux.responders();
    let server = amp_tokio::bind(&addr, move |_| responders.clone()).await?;
    println!("LISTENING {}", server.local_addr()?.port());
    server.run().await
}
