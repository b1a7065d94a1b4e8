//! Twisted's `ampclient.py` on async-std: calls `Sum(13, 81)` and
//! `Divide(1234, 0)` (each on its own connection, as the Python client does)
//! against the address given as the first argument (default
//! `127.0.0.1:1234`), turns `ZERO_DIVISION` into infinity, and prints the
//! results. The same program as amp-tokio's `ampclient`, on the other
//! binding; `--starttls CA.pem` (and `--server-name NAME`, built with the
//! `tls` feature) calls Twisted's `StartTLS` first on each connection.
//!
//! `cargo run -p amp-async-std --example ampclient_async_std -- 127.0.0.1:1234`

use std::process::ExitCode;

use amp_async_std::{AsyncStd, Responders};
use amp_conformance::{howto, howto_tls};

fn main() -> ExitCode {
    let flags = howto_tls::flags();
    let tls = match flags.client_tls() {
        Ok(tls) => tls,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let addr = flags.address();
    let connect = || {
        let (addr, tls) = (addr.clone(), tls.clone());
        async move {
            let Some(_tls) = tls else {
                return amp_async_std::connect(AsyncStd, addr.as_str(), Responders::new()).await;
            };
            #[cfg(feature = "tls")]
            {
                let peer = amp_async_std::tls::connect_upgradable(
                    AsyncStd,
                    addr.as_str(),
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
    };
    async_std::task::block_on(howto::client(&AsyncStd, connect))
}
