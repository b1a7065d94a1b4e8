//! Twisted's `ampclient.py` on async-std: calls `Sum(13, 81)` and
//! `Divide(1234, 0)` (each on its own connection, as the Python client
//! does), turns `ZERO_DIVISION` into infinity, and prints the results. The
//! first argument says where the server is (`HOST:PORT`, default
//! `127.0.0.1:1234`; `unix:PATH`; `exec:COMMAND ARGS...`, a child process
//! spawned for each connection). The same program as amp-tokio's
//! `ampclient`, on the other binding.
//!
//! `cargo run -p amp-async-std --example ampclient_async_std -- 127.0.0.1:1234`

use std::process::ExitCode;

use amp_async_std::{AsyncStd, Responders};
use amp_conformance::howto::{self, Address, Side};

fn main() -> ExitCode {
    let address = Address::from_args(Side::Client);
    let connect = || {
        let address = address.clone();
        async move {
            match address {
                Address::Tcp(addr) => {
                    amp_async_std::connect(AsyncStd, addr, Responders::new()).await
                }
                Address::Unix(path) => {
                    amp_async_std::unix::connect(AsyncStd, path, Responders::new()).await
                }
                Address::Exec { program, args } => amp_async_std::process::spawn(
                    AsyncStd,
                    async_process::Command::new(program).args(args),
                    Responders::new(),
                ),
                Address::Stdio => unreachable!("a client's address is never stdio"),
            }
        }
    };
    async_std::task::block_on(howto::client(&AsyncStd, connect))
}
