//! Twisted's `ampserver.py` in Rust: serves `Sum` and `Divide`, printing
//! each operation as the Python one does, where the first argument says:
//!
//! - `HOST:PORT` (default `127.0.0.1:1234`): over TCP; prints `LISTENING
//!   <port>` once listening;
//! - `unix:PATH`: on a new UNIX socket at PATH; prints `LISTENING
//!   unix:PATH`;
//! - `stdio`: on its own standard input and output, as a child of another
//!   process (Twisted's `spawnProcess`, an ampoule process pool's worker):
//!   prints only to standard error, answers ampoule's `Shutdown` and then
//!   exits 0, and exits 0 when its input ends.
//!
//! `cargo run -p amp-tokio --example ampserver -- 127.0.0.1:1234`

use std::process::ExitCode;

use amp_conformance::howto::{self, Address, Side};
use amp_tokio::Tokio;

#[tokio::main]
async fn main() -> ExitCode {
    let served = match Address::from_args(Side::Server) {
        Address::Tcp(addr) => match amp_tokio::bind(addr, |_| howto::responders()).await {
            Ok(server) => howto::serve(server).await,
            Err(e) => Err(e),
        },
        Address::Unix(path) => match amp_tokio::unix::bind(&path, |_| howto::responders()) {
            Ok(server) => howto::serve_unix(server, &path).await,
            Err(e) => Err(e),
        },
        Address::Stdio => {
            let (responders, asked) = howto::worker_responders();
            match amp_tokio::stdio::serve(responders) {
                Ok(served) => return howto::work(&Tokio, served, asked).await,
                Err(e) => Err(e),
            }
        }
        Address::Exec { .. } => unreachable!("a server's address is never exec:"),
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ampserver: {e}");
            ExitCode::FAILURE
        }
    }
}
