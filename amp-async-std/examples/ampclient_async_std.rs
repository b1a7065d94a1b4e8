//! Twisted's `ampclient.py` on async-std: calls `Sum(13, 81)` and
//! `Divide(1234, 0)` (each on its own connection, as the Python client does)
//! against the address given as the first argument (default
//! `127.0.0.1:1234`), turns `ZERO_DIVISION` into infinity, and prints the
//! results. The same program as amp-tokio's `ampclient`, on the other
//! binding.
//!
//! `cargo run -p amp-async-std --example ampclient_async_std -- 127.0.0.1:1234`

use std::process::ExitCode;

use amp_async_std::{AsyncStd, Responders};
use amp_conformance::howto;

fn main() -> ExitCode {
    let addr = howto::address();
    let connect = || amp_async_std::connect(AsyncStd, addr.as_str(), Responders::new());
    async_std::task::block_on(howto::client(&AsyncStd, connect))
}
