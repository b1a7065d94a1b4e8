//! Twisted's ProtocolSwitchCommand over futures-io, on async-std and on
//! smol: amp-conformance's switching suite (`SwitchToEcho`), Rust with Rust
//! and with real Twisted both ways. Without the Python environment these
//! tests fail: they are never skipped.

#![cfg(any(feature = "async-std", feature = "smol"))]

mod harness;

use std::io;
use std::net::SocketAddr;

use amp_async_std::upgradable::{self, Upgrades};
use amp_conformance::switch::{SwitchRuntime, Switched};
use amp_conformance::{BoxFuture, Responders, Served, ServerSetup};
use async_net::TcpStream;
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use harness::{Executor, FuturesIo};

impl<E: Executor> SwitchRuntime for FuturesIo<E> {
    fn serve_switch_to_echo(&self) -> BoxFuture<io::Result<Served>> {
        let rt = *self;
        Box::pin(async move {
            let engine = rt.0;
            let upgrades = Upgrades::new().switch("SwitchToEcho", move |switched| {
                amp_engine::Runtime::spawn(
                    &engine,
                    Box::pin(async move {
                        let (mut r, mut w) = switched.into_stream().split();
                        let _ = futures_util::io::copy(&mut r, &mut w).await;
                        let _ = w.close().await;
                    }),
                );
            });
            let server = upgradable::bind(rt.0, "127.0.0.1:0", upgrades, |_| {
                Responders::new()
                    .raw_responder("SwitchToEcho", |_, _| async { Ok(amp_core::AmpBox::new()) })
            })
            .await?;
            ServerSetup::default().start(&rt, server)
        })
    }

    fn switch_and_echo(&self, addr: SocketAddr, bytes: Vec<u8>) -> BoxFuture<io::Result<Switched>> {
        let rt = self.0;
        Box::pin(async move {
            let stream = TcpStream::connect(addr).await?;
            let peer = upgradable::from_stream(
                rt,
                stream,
                None,
                Responders::new(),
                Default::default(),
                Upgrades::new(),
            );
            let switching = upgradable::switch_protocol::<TcpStream>(
                &peer,
                "SwitchToEcho",
                amp_core::AmpBox::new(),
            );
            let meanwhile = peer.call_remote("Sum", amp_core::AmpBox::new());
            let (switched, meanwhile) = futures_util::future::join(switching, meanwhile).await;
            let refused_meanwhile = match meanwhile {
                Err(amp_core::CallError::Connection(e)) => Some(e),
                _ => None,
            };
            let (_answer, switched) = switched.map_err(io::Error::other)?;
            let mut stream = switched.into_stream();
            stream.write_all(&bytes).await?;
            let mut echoed = vec![0; bytes.len()];
            stream.read_exact(&mut echoed).await?;
            Ok(Switched {
                echoed,
                refused_meanwhile,
            })
        })
    }
}

#[cfg(feature = "async-std")]
mod on_async_std {
    use super::harness::FuturesIo;
    amp_conformance::switch_suite!(FuturesIo(amp_async_std::AsyncStd));
}

#[cfg(feature = "smol")]
mod on_smol {
    use super::harness::FuturesIo;
    amp_conformance::switch_suite!(FuturesIo(amp_async_std::Smol));
}
