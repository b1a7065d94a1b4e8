//! TLS and Twisted's StartTLS on tokio (feature `tls`): amp-conformance's
//! TLS suite, Rust with Rust and with real Twisted (`interop/tls_peer.py`)
//! both ways, with and without a client certificate. Without the Python
//! environment these tests fail: they are never skipped.

mod harness;

use std::io;
use std::net::SocketAddr;

use amp_conformance::tls::TlsRuntime;
use amp_conformance::{BoxFuture, Connecting, Factory, Responders, Served, ServerSetup};
use amp_engine::tls::{ClientTls, ServerTls};
use harness::Tokio;

impl TlsRuntime for Tokio {
    fn serve_start_tls(&self, tls: ServerTls, factory: Factory) -> BoxFuture<io::Result<Served>> {
        let rt = *self;
        Box::pin(async move {
            let server =
                amp_tokio::tls::bind_start_tls("127.0.0.1:0", tls, move |addr| factory(Some(addr)))
                    .await?;
            ServerSetup::default().start(&rt, server)
        })
    }

    fn serve_tls(&self, tls: ServerTls, factory: Factory) -> BoxFuture<io::Result<Served>> {
        let rt = *self;
        Box::pin(async move {
            let server =
                amp_tokio::tls::bind("127.0.0.1:0", tls, move |addr| factory(Some(addr))).await?;
            ServerSetup::default().start(&rt, server)
        })
    }

    fn connect_upgradable(&self, addr: SocketAddr, responders: Responders) -> Connecting {
        Box::pin(amp_tokio::tls::connect_upgradable(addr, responders))
    }

    fn connect_tls(&self, addr: SocketAddr, tls: ClientTls, responders: Responders) -> Connecting {
        Box::pin(async move { amp_tokio::tls::connect(addr, &tls, responders).await })
    }
}

amp_conformance::tls_suite!(Tokio { multi_thread: true });
