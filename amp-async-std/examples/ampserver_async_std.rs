//! Twisted's `ampserver.py` on async-std: serves `Sum` and `Divide`,
//! printing each operation as the Python one does, where the first
//! argument says (`HOST:PORT`, default `127.0.0.1:1234`; `unix:PATH`;
//! `stdio`, as an ampoule process pool's worker). The same program as
//! amp-tokio's `ampserver`, on the other binding.
//!
//! `cargo run -p amp-async-std --example ampserver_async_std -- 127.0.0.1:1234`

use std::process::ExitCode;

use amp_async_std::AsyncStd;
use amp_conformance::howto::{self, Address, Side};

fn main() -> ExitCode {
    let served = async_std::task::block_on(async {
        match Address::from_args(Side::Server) {
            Address::Tcp(addr) => {
                let server = amp_async_std::bind(AsyncStd, addr, |_| howto::responders()).await?;
                howto::serve(server).await.map(|()| ExitCode::SUCCESS)
            }
            Address::Unix(path) => {
                let server = amp_async_std::unix::bind(AsyncStd, &path, |_| howto::responders())?;
                howto::serve_unix(server, &path)
                    .await
                    .map(|()| ExitCode::SUCCESS)
            }
            Address::Stdio => {
                let (responders, asked) = howto::worker_responders();
                let served = amp_async_std::stdio::serve(AsyncStd, responders)?;
                Ok(howto::work(&AsyncStd, served, asked).await)
            }
            Address::Exec { .. } => unreachable!("a server's address is never exec:"),
        }
    });
    served.unwrap_or_else(|e: std::io::Error| {
        eprintln!("ampserver_async_std: {e}");
        ExitCode::FAILURE
    })
}
