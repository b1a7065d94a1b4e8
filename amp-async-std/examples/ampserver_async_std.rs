//! Twisted's `ampserver.py` on async-std: serves `Sum` and `Divide` on the
//! address given as the first argument (default `127.0.0.1:1234`), printing
//! each operation as the Python one does. The same program as amp-tokio's
//! `ampserver`, on the other binding; `--tls CERT.pem KEY.pem` (built with
//! the `tls` feature) answers Twisted's `StartTLS` with that certificate.
//!
//! `cargo run -p amp-async-std --example ampserver_async_std -- 127.0.0.1:1234`

use amp_async_std::AsyncStd;
use amp_conformance::{howto, howto_tls};

fn main() -> std::io::Result<()> {
    let flags = howto_tls::flags();
    async_std::task::block_on(async {
        if let Some(tls) = serve_tls(&flags).await? {
            return tls;
        }
        let server =
            amp_async_std::bind(AsyncStd, flags.address(), |_| howto::responders()).await?;
        howto::serve(server).await
    })
}

/// Serves with `--tls`, if given: plain connections that answer StartTLS.
async fn serve_tls(flags: &howto_tls::Flags) -> std::io::Result<Option<std::io::Result<()>>> {
    let tls = flags.server_tls().map_err(std::io::Error::other)?;
    let Some(_tls) = tls else {
        return Ok(None);
    };
    #[cfg(feature = "tls")]
    {
        let server = amp_async_std::tls::bind_start_tls(AsyncStd, flags.address(), _tls, |_| {
            howto::responders()
        })
        .await?;
        Ok(Some(howto::serve(server).await))
    }
    #[cfg(not(feature = "tls"))]
    Err(std::io::Error::other(
        "--tls: built without the tls feature",
    ))
}
