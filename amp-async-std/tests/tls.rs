//! TLS and Twisted's StartTLS over futures-io (feature `tls`), on async-std
//! and on smol: amp-conformance's TLS suite, Rust with Rust and with real
//! Twisted (`interop/tls_peer.py`) both ways, with and without a client
//! certificate. Without the Python environment these tests fail: they are
//! never skipped.

#![cfg(any(feature = "async-std", feature = "smol"))]

mod harness;

use std::io;
use std::net::SocketAddr;

use amp_conformance::tls::TlsRuntime;
use amp_conformance::{BoxFuture, Connecting, Factory, Responders, Served, ServerSetup};
use amp_engine::tls::{ClientTls, ServerTls};
use harness::{Executor, FuturesIo};

impl<E: Executor> TlsRuntime for FuturesIo<E> {
    fn serve_start_tls(&self, tls: ServerTls, factory: Factory) -> BoxFuture<io::Result<Served>> {
        let rt = *self;
        Box::pin(async move {
            let server =
                amp_async_std::tls::bind_start_tls(rt.0, "127.0.0.1:0", tls, move |addr| {
                    factory(Some(addr))
                })
                .await?;
            ServerSetup::default().start(&rt, server)
        })
    }

    fn serve_tls(&self, tls: ServerTls, factory: Factory) -> BoxFuture<io::Result<Served>> {
        let rt = *self;
        Box::pin(async move {
            let server =
                amp_async_std::tls::bind(rt.0, "127.0.0.1:0", tls, move |addr| factory(Some(addr)))
                    .await?;
            ServerSetup::default().start(&rt, server)
        })
    }

    fn connect_upgradable(&self, addr: SocketAddr, responders: Responders) -> Connecting {
        Box::pin(amp_async_std::tls::connect_upgradable(
            self.0, addr, responders,
        ))
    }

    fn connect_tls(&self, addr: SocketAddr, tls: ClientTls, responders: Responders) -> Connecting {
        let rt = self.0;
        Box::pin(async move { amp_async_std::tls::connect(rt, addr, &tls, responders).await })
    }
}

#[cfg(feature = "async-std")]
mod on_async_std {
    use super::harness::FuturesIo;
    amp_conformance::tls_suite!(FuturesIo(amp_async_std::AsyncStd));
}

#[cfg(feature = "smol")]
mod on_smol {
    use super::harness::FuturesIo;
    amp_conformance::tls_suite!(FuturesIo(amp_async_std::Smol));
}
