//! Twisted's `ampserver.py` on async-std: serves `Sum` and `Divide`,
//! printing each operation as the Python one does, where the first
//! argument says (`HOST:PORT`, default `127.0.0.1:1234`; `unix:PATH`;
//! `stdio`, as an ampoule process pool's worker). The same program as
//! amp-tokio's `ampserver`, on the other binding: over TCP it also answers
//! the catalogue's `SwitchToEcho`, and with `--tls CERT.pem KEY.pem` (built
//! with the `tls` feature) Twisted's `StartTLS` with that certificate.
//!
//! `cargo run -p amp-async-std --example ampserver_async_std -- 127.0.0.1:1234`

use std::process::ExitCode;

use amp_async_std::AsyncStd;
use amp_async_std::upgradable::{self, Switched, Upgrades};
use amp_conformance::howto::{self, Address, Side};
use amp_conformance::howto_tls;
use async_net::TcpStream;
use futures_util::io::{AsyncReadExt, AsyncWriteExt};

fn main() -> ExitCode {
    let flags = howto_tls::flags();
    let served = async_std::task::block_on(async {
        match flags.where_to(Side::Server) {
            Address::Tcp(addr) => serve_tcp(&flags, addr).await.map(|()| ExitCode::SUCCESS),
            Address::Unix(path) => {
                let server = amp_async_std::unix::bind(AsyncStd, &path, |_| {
                    amp_conformance::catalogue::descriptor_responders(howto::responders())
                })?;
                howto::serve_unix(server, &path)
                    .await
                    .map(|()| ExitCode::SUCCESS)
            }
            Address::Stdio => {
                let (responders, asked) = howto::worker_responders();
                let served = amp_async_std::stdio::serve(AsyncStd, responders)?;
                Ok(howto::work(served, asked).await)
            }
            Address::Exec { .. } => unreachable!("a server's address is never exec:"),
        }
    });
    served.unwrap_or_else(|e: std::io::Error| {
        eprintln!("ampserver_async_std: {e}");
        ExitCode::FAILURE
    })
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
    let server = upgradable::bind(AsyncStd, addr, upgrades, |_| {
        howto_tls::answer_switch_to_echo(howto::responders())
    })
    .await?;
    howto::serve(server).await
}

/// After `SwitchToEcho`: every byte back, those that came with the switch
/// first.
fn echo(switched: Switched<TcpStream>) {
    async_std::task::spawn(async move {
        let (mut r, mut w) = switched.into_stream().split();
        let _ = futures_util::io::copy(&mut r, &mut w).await;
        let _ = w.close().await;
    });
}
