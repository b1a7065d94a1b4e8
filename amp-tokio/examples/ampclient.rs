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
//! With `--starttls CA.pem` (before or after the address; over TCP; built
//! with the `tls` feature) each connection calls Twisted's `StartTLS`
//! before its call, verifying the server against those authorities and
//! the name `localhost` (or `--server-name NAME`).
//!
//! `cargo run -p amp-tokio --example ampclient -- 127.0.0.1:1234`
//! `cargo run -p amp-tokio --features tls --example ampclient -- --starttls ca.pem 127.0.0.1:1234`

use std::process::ExitCode;

use amp_conformance::howto::{self, Address, Side};
use amp_conformance::howto_tls;
use amp_tokio::{Responders, Tokio};

#[tokio::main]
async fn main() -> ExitCode {
    let flags = howto_tls::flags();
    let address = flags.where_to(Side::Client);
    let tls = match flags.client_tls() {
        Ok(tls) => tls,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    howto::client(&Tokio, || {
        let (address, tls) = (address.clone(), tls.clone());
        async move {
            match (address, tls) {
                (Address::Tcp(addr), None) => amp_tokio::connect(addr, Responders::new()).await,
                (Address::Tcp(_addr), Some(_tls)) => {
                    #[cfg(feature = "tls")]
                    {
                        let peer =
                            amp_tokio::tls::connect_upgradable(_addr, Responders::new()).await?;
                        amp_tokio::tls::start_tls(&peer, &_tls)
                            .await
                            .map_err(std::io::Error::other)?;
                        Ok(peer)
                    }
                    #[cfg(not(feature = "tls"))]
                    Err(std::io::Error::other(
                        "--starttls: built without the tls feature",
                    ))
                }
                (_, Some(_)) => Err(std::io::Error::other("--starttls is for HOST:PORT")),
                (Address::Unix(path), None) => {
                    amp_tokio::unix::connect(path, Responders::new()).await
                }
                (Address::Exec { program, args }, None) => amp_tokio::process::spawn(
                    tokio::process::Command::new(program).args(args),
                    Responders::new(),
                ),
                (Address::Stdio, None) => unreachable!("a client's address is never stdio"),
            }
        }
    })
    .await
}
