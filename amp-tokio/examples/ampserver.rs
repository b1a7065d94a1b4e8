//! Twisted's `ampserver.py` in Rust: serves `Sum` and `Divide` on the address
//! given as the first argument (default `127.0.0.1:1234`), printing each
//! operation as the Python one does.
//!
//! `cargo run -p amp-tokio --example ampserver -- 127.0.0.1:1234`

use amp_conformance::howto;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let server = amp_tokio::bind(howto::address(), |_| howto::responders()).await?;
    howto::serve(server).await
}
