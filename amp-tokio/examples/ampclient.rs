//! Twisted's `ampclient.py` in Rust: calls `Sum(13, 81)` and
//! `Divide(1234, 0)` (each on its own connection, as the Python client does)
//! against the address given as the first argument (default
//! `127.0.0.1:1234`), turns `ZERO_DIVISION` into infinity, and prints the
//! results. With `--starttls CA.pem` (before or after the address; built
//! with the `tls` feature) each connection calls Twisted's `StartTLS`
//! before its call, verifying the server against those authorities and
//! the name `localhost` (or `--server-name NAME`).
//!
//! `cargo run -p amp-tokio --example ampclient -- 127.0.0.1:1234`
//! `cargo run -p amp-tokio --features tls --example ampclient -- --starttls ca.pem 127.0.0.1:1234`

use std::process::ExitCode;

use amp_conformance::{howto, howto_tls};
use amp_tokio::{Responders, Tokio};

#[tokio::main]
async fn main() -> ExitCode {
    let flags = howto_tls::flags();
    let tls = match flags.client_tls() {
        Ok(tls) => tls,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let addr = flags.address();
    howto::client(&Tokio, || {
        let (addr, tls) = (addr.clone(), tls.clone());
        async move {
            let Some(_tls) = tls else {
                return amp_tokio::connect(addr.as_str(), Responders::new()).await;
            };
            #[cfg(feature = "tls")]
            {
                let peer =
                    amp_tokio::tls::connect_upgradable(addr.as_str(), Responders::new()).await?;
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
    })
    .await
}
