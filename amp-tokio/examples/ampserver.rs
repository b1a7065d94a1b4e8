//! Twisted's `ampserver.py` in Rust: serves `Sum` and `Divide` on the address
//! given as the first argument (default `127.0.0.1:1234`), printing each
//! operation as the Python one does; and the catalogue's `SwitchToEcho`
//! (after its answer the connection echoes every byte). With `--tls
//! CERT.pem KEY.pem` (before or after the address; built with the `tls`
//! feature) it answers Twisted's `StartTLS` with that certificate and goes
//! on over TLS.
//!
//! `cargo run -p amp-tokio --example ampserver -- 127.0.0.1:1234`
//! `cargo run -p amp-tokio --features tls --example ampserver -- 127.0.0.1:1234 --tls cert.pem key.pem`

use amp_conformance::{howto, howto_tls};
use amp_tokio::upgradable::{self, Switched, Upgrades};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let flags = howto_tls::flags();
    let upgrades = upgrades(&flags)?;
    let server = upgradable::bind(flags.address(), upgrades, |_| {
        howto_tls::answer_switch_to_echo(howto::responders())
    })
    .await?;
    howto::serve(server).await
}

/// `SwitchToEcho`, and `StartTLS` with `--tls`.
fn upgrades(flags: &howto_tls::Flags) -> std::io::Result<Upgrades<TcpStream>> {
    let upgrades = Upgrades::new().switch(howto_tls::SWITCH_TO_ECHO, echo);
    let Some(_tls) = flags.server_tls().map_err(std::io::Error::other)? else {
        return Ok(upgrades);
    };
    #[cfg(feature = "tls")]
    return Ok(upgrades.answer_start_tls(_tls));
    #[cfg(not(feature = "tls"))]
    Err(std::io::Error::other(
        "--tls: built without the tls feature",
    ))
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
