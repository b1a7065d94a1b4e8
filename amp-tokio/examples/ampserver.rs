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
//! Over TCP it also answers the catalogue's `SwitchToEcho` (after its
//! answer the connection echoes every byte) and, with `--tls CERT.pem
//! KEY.pem` (before or after the address; built with the `tls` feature),
//! Twisted's `StartTLS` with that certificate, going on over TLS.
//!
//! `cargo run -p amp-tokio --example ampserver -- 127.0.0.1:1234`
//! `cargo run -p amp-tokio --features tls --example ampserver -- 127.0.0.1:1234 --tls cert.pem key.pem`

use std::process::ExitCode;

use amp_conformance::howto::{self, Address, Side};
use amp_conformance::howto_tls;
use amp_tokio::upgradable::{self, Switched, Upgrades};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::main]
async fn main() -> ExitCode {
    let flags = howto_tls::flags();
    let served = match flags.where_to(Side::Server) {
        Address::Tcp(addr) => serve_tcp(&flags, addr).await,
        Address::Unix(path) => match amp_tokio::unix::bind(&path, |_| {
            amp_conformance::catalogue::descriptor_responders(howto::responders())
        }) {
            Ok(server) => howto::serve_unix(server, &path).await,
            Err(e) => Err(e),
        },
        Address::Stdio => {
            let (responders, asked) = howto::worker_responders();
            match amp_tokio::stdio::serve(responders) {
                Ok(served) => return howto::work(served, asked).await,
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

/// Over TCP: `SwitchToEcho`, and `StartTLS` with `--tls`.
async fn serve_tcp(flags: &howto_tls::Flags, addr: String) -> std::io::Result<()> {
    let upgrades = Upgrades::new().switch(howto_tls::SWITCH_TO_ECHO, echo);
    let upgrades = match flags.server_tls().map_err(std::io::Error::other)? {
        None => upgrades,
        #[cfg(feature = "tls")]
        Some(tls) => upgrades.answer_start_tls(tls),
        #[cfg(not(feature = "tls"))]
        Some(_) => {
            return Err(std::io::Error::other(
                "--tls: built without the tls feature",
            ));
        }
    };
    let server = upgradable::bind(addr, upgrades, |_| {
        howto_tls::answer_switch_to_echo(howto::responders())
    })
    .await?;
    howto::serve(server).await
}

/// After `SwitchToEcho`: every byte back, those that came with the switch
/// first.
fn echo(switched: Switched<TcpStream>) {
    tokio::spawn(async move {
        let (mut r, mut w) = tokio::io::split(switched.into_stream());
        let _ = tokio::io::copy(&mut r, &mut w).await;
        let _ = w.shutdown().await;
    });
}
