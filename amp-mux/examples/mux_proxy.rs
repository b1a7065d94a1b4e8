//! `mux_proxy LISTEN AMPADDR FACTORY`: accepts TCP on LISTEN and forwards
//! each connection, as a multiplexed stream over one AMP connection to
//! AMPADDR, to the factory FACTORY there (txampext's `ProxyingFactory`).
//! Prints `LISTENING <port>` once listening; exits when the AMP connection
//! ends.
//!
//! ```sh
//! cargo run -p amp-mux --features tokio --example mux_proxy -- 127.0.0.1:8000 127.0.0.1:7000 forward:127.0.0.1:22
//! ```

use amp_mux::Mux;

// One thread: a stream's bytes cross no thread inside the process.
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, listen, amp_addr, factory] = &args[..] else {
        eprintln!("usage: mux_proxy LISTEN AMPADDR FACTORY");
        std::process::exit(2);
    };
    // The per-stream window, in bytes (AMP_MUX_WINDOW; 256 KiB if unset).
    let mux = match std::env::var("AMP_MUX_WINDOW")
        .ok()
        .and_then(|w| w.parse().ok())
    {
        Some(window) => Mux::with_window(window),
        None => Mux::new(),
    };
    let peer = amp_tokio::connect(amp_addr.as_str(), mux.responders()).await?;
    let listener = tokio::net::TcpListener::bind(listen.as_str()).await?;
    println!("LISTENING {}", listener.local_addr()?.port());
    amp_mux::tcp::proxy(listener, mux, peer, factory.clone().into_bytes()).await
}
