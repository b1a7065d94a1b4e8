//! Twisted's `ampserver.py` on async-std: serves `Sum` and `Divide` on the
//! address given as the first argument (default `127.0.0.1:1234`), printing
//! each operation as the Python one does, and the catalogue's
//! `SwitchToEcho`. The same program as amp-tokio's `ampserver`, on the
//! other binding; `--tls CERT.pem KEY.pem` (built with the `tls` feature)
//! answers Twisted's `StartTLS` with that certificate.
//!
//! `cargo run -p amp-async-std --example ampserver_async_std -- 127.0.0.1:1234`

use amp_async_std::AsyncStd;
use amp_async_std::upgradable::{self, Switched, Upgrades};
use amp_conformance::{howto, howto_tls};
use async_net::TcpStream;
use futures_util::io::{AsyncReadExt, AsyncWriteExt};

fn main() -> std::io::Result<()> {
    let flags = howto_tls::flags();
    let upgrades = upgrades(&flags)?;
    async_std::task::block_on(async {
        let server = upgradable::bind(AsyncStd, flags.address(), upgrades, |_| {
            howto_tls::answer_switch_to_echo(howto::responders())
        })
        .await?;
        howto::serve(server).await
    })
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
    async_std::task::spawn(async move {
        let (mut r, mut w) = switched.into_stream().split();
        let _ = futures_util::io::copy(&mut r, &mut w).await;
        let _ = w.close().await;
    });
}
