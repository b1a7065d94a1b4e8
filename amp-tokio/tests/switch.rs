//! Twisted's ProtocolSwitchCommand on tokio: amp-conformance's switching
//! suite (`SwitchToEcho`), Rust with Rust and with real Twisted both ways.
//! Without the Python environment these tests fail: they are never skipped.

mod harness;

use std::io;
use std::net::SocketAddr;

use amp_conformance::switch::{SwitchRuntime, Switched};
use amp_conformance::{BoxFuture, Responders, Served, ServerSetup};
use amp_tokio::upgradable::{self, Upgrades};
use harness::Tokio;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Echoes what comes, the bytes read after the switch first.
fn echo(switched: upgradable::Switched<TcpStream>) {
    tokio::spawn(async move {
        let (mut r, mut w) = tokio::io::split(switched.into_stream());
        let _ = tokio::io::copy(&mut r, &mut w).await;
        let _ = w.shutdown().await;
    });
}

impl SwitchRuntime for Tokio {
    fn serve_switch_to_echo(&self) -> BoxFuture<io::Result<Served>> {
        let rt = *self;
        Box::pin(async move {
            let upgrades = Upgrades::new().switch("SwitchToEcho", echo);
            let server = upgradable::bind("127.0.0.1:0", upgrades, |_| {
                Responders::new()
                    .raw_responder("SwitchToEcho", |_, _| async { Ok(amp_core::AmpBox::new()) })
            })
            .await?;
            ServerSetup::default().start(&rt, server)
        })
    }

    fn switch_and_echo(&self, addr: SocketAddr, bytes: Vec<u8>) -> BoxFuture<io::Result<Switched>> {
        Box::pin(async move {
            let stream = TcpStream::connect(addr).await?;
            let peer = upgradable::from_stream(
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

amp_conformance::switch_suite!(Tokio { multi_thread: true });
