//! Twisted's `ampclient.py` in Rust: calls `Sum(13, 81)` and
//! `Divide(1234, 0)` (each on its own connection, as the Python client does)
//! against the address given as the first argument (default
//! `127.0.0.1:1234`), turns `ZERO_DIVISION` into infinity, and prints the
//! results.
//!
//! `cargo run -p amp-tokio --example ampclient -- 127.0.0.1:1234`

use std::process::ExitCode;

use amp_conformance::howto;
use amp_tokio::{Responders, Tokio};

#[tokio::main]
async fn main() -> ExitCode {
    let addr = howto::address();
    howto::client(&Tokio, || {
        amp_tokio::connect(addr.as_str(), Responders::new())
    })
    .await
}
