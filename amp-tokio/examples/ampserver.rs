//! Twisted's `ampserver.py` in Rust: serves `Sum` and `Divide` on the address
//! given as the first argument (default `127.0.0.1:1234`), printing each
//! operation as the Python one does. With `--tls CERT.pem KEY.pem` (before
//! or after the address; built with the `tls` feature) it answers Twisted's
//! `StartTLS` with that certificate and goes on over TLS.
//!
//! `cargo run -p amp-tokio --example ampserver -- 127.0.0.1:1234`
//! `cargo run -p amp-tokio --features tls --example ampserver -- 127.0.0.1:1234 --tls cert.pem key.pem`

use amp_conformance::{howto, howto_tls};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let flags = howto_tls::flags();
    if let Some(tls) = serve_tls(&flags).await? {
        return tls;
    }
    let server = amp_tokio::bind(flags.address(), |_| howto::responders()).await?;
    howto::serve(server).await
}

/// Serves with `--tls`, if given: plain connections that answer StartTLS.
async fn serve_tls(flags: &howto_tls::Flags) -> std::io::Result<Option<std::io::Result<()>>> {
    let tls = flags.server_tls().map_err(std::io::Error::other)?;
    let Some(_tls) = tls else {
        return Ok(None);
    };
    #[cfg(feature = "tls")]
    {
        let server =
            amp_tokio::tls::bind_start_tls(flags.address(), _tls, |_| howto::responders()).await?;
        Ok(Some(howto::serve(server).await))
    }
    #[cfg(not(feature = "tls"))]
    Err(std::io::Error::other(
        "--tls: built without the tls feature",
    ))
}
