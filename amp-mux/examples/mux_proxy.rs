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

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, listen, amp_addr, factory] = &args[..] else {
        eprintln!("usage: mux_proxy LISTEN AMPADDR FACTORY");
        std::process::exit(2);
    };
    let mux = Mux::new();
    let peer = amp_tokio::connect(amp_addr.as_str(), mux.responders()).await?;
    let listener = tokio::net::TcpListener::bind(listen.as_str()).await?;
    println!("LISTENING {}", listener.local_addr()?.port());
    amp_mux::tcp::proxy(listener, mux, peer, factory.clone().into_bytes()).await
}
