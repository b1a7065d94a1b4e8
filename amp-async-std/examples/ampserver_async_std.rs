//! Twisted's `ampserver.py` on async-std: serves `Sum` and `Divide` on the
//! address given as the first argument (default `127.0.0.1:1234`), printing
//! each operation as the Python one does. The same program as amp-tokio's
//! `ampserver`, on the other binding.
//!
//! `cargo run -p amp-async-std --example ampserver_async_std -- 127.0.0.1:1234`

use amp_async_std::AsyncStd;
use amp_conformance::howto;

fn main() -> std::io::Result<()> {
    async_std::task::block_on(async {
        let server =
            amp_async_std::bind(AsyncStd, howto::address(), |_| howto::responders()).await?;
        howto::serve(server).await
    })
}
