//! Twisted's `ampclient.py` in Rust: calls `Sum(13, 81)` and
//! `Divide(1234, 0)` (each on its own connection, as the Python client
//! does), turns `ZERO_DIVISION` into infinity, and prints the results. The
//! first argument says where the server is:
//!
//! - `HOST:PORT` (default `127.0.0.1:1234`): over TCP;
//! - `unix:PATH`: on the UNIX socket at PATH;
//! - `exec:COMMAND ARGS...`: a child process speaking AMP on its standard
//!   input and output, spawned for each connection (`exec:ampserver stdio`,
//!   `exec:python3 interop/ampserver.py stdio`).
//!
//! `cargo run -p amp-tokio --example ampclient -- 127.0.0.1:1234`

use std::process::ExitCode;

use amp_conformance::howto::{self, Address, Side};
use amp_tokio::{Responders, Tokio};

#[tokio::main]
async fn main() -> ExitCode {
    let address = Address::from_args(Side::Client);
    howto::client(&Tokio, || {
        let address = address.clone();
        async move {
            match address {
                Address::Tcp(addr) => amp_tokio::connect(addr, Responders::new()).await,
                Address::Unix(path) => amp_tokio::unix::connect(path, Responders::new()).await,
                Address::Exec { program, args } => amp_tokio::process::spawn(
                    tokio::process::Command::new(program).args(args),
                    Responders::new(),
                ),
                Address::Stdio => unreachable!("a client's address is never stdio"),
            }
        }
    })
    .await
}
