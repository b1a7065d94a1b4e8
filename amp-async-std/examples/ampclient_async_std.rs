//! Twisted's `ampclient.py` on async-std: calls `Sum(13, 81)` and
//! `Divide(1234, 0)` (each on its own connection, as the Python client
//! does), turns `ZERO_DIVISION` into infinity, and prints the results. The
//! first argument says where the server is (`HOST:PORT`, default
//! `127.0.0.1:1234`; `unix:PATH`; `exec:COMMAND ARGS...`, a child process
//! spawned for each connection). The same program as amp-tokio's
//! `ampclient`, on the other binding; `--starttls CA.pem` (and
//! `--server-name NAME`; over TCP, built with the `tls` feature) calls
//! Twisted's `StartTLS` first on each connection.
//!
//! `cargo run -p amp-async-std --example ampclient_async_std -- 127.0.0.1:1234`

use std::process::ExitCode;

use amp_async_std::{AsyncStd, Responders};
use amp_conformance::howto::{self, Address, Side};
use amp_conformance::howto_tls;

fn main() -> ExitCode {
    let flags = howto_tls::flags();
    let address = flags.where_to(Side::Client);
    let tls = match flags.client_tls() {
        Ok(tls) => tls,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let connect = || {
        let (address, tls) = (address.clone(), tls.clone());
        async move {
            match (address, tls) {
                (Address::Tcp(addr), None) => {
                    amp_async_std::connect(AsyncStd, addr, Responders::new()).await
                }
                (Address::Tcp(_addr), Some(_tls)) => {
                    #[cfg(feature = "tls")]
                    {
                        let peer = amp_async_std::tls::connect_upgradable(
                            AsyncStd,
                            _addr,
                            Responders::new(),
                        )
                        .await?;
                        amp_async_std::tls::start_tls(&peer, &_tls)
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
                    amp_async_std::unix::connect(AsyncStd, path, Responders::new()).await
                }
                (Address::Exec { program, args }, None) => amp_async_std::process::spawn(
                    AsyncStd,
                    async_process::Command::new(program).args(args),
                    Responders::new(),
                ),
                (Address::Stdio, None) => unreachable!("a client's address is never stdio"),
            }
        }
    };
    async_std::task::block_on(howto::client(&AsyncStd, connect))
}
