//! amp-conformance's `Runtime` on tokio, for every suite this crate runs
//! (`conformance.rs`, `interop.rs`, `hostile.rs`): in-memory peers over
//! `tokio::io::duplex`, TCP through `amp_tokio::Server`, `connect_with` and
//! `from_stream_with`, one runtime per test.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use amp_conformance::{
    BoxFuture, Factory, Options, Peer, Responders, Runtime, Served, ServerSetup,
};
use amp_core::ConnectionError;

/// Tokio, with one runtime per test: multi-threaded (two workers) or
/// current-thread.
#[derive(Clone, Copy)]
pub struct Tokio {
    pub multi_thread: bool,
}

impl Runtime for Tokio {
    type Stream = tokio::io::DuplexStream;

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        let mut builder = if self.multi_thread {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(2);
            b
        } else {
            tokio::runtime::Builder::new_current_thread()
        };
        builder
            .enable_all()
            .build()
            .expect("build a tokio runtime")
            .block_on(future)
    }

    fn spawn_detached(&self, task: BoxFuture<()>) {
        tokio::spawn(task);
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<()> {
        Box::pin(tokio::time::sleep(duration))
    }

    fn stream_pair(&self, capacity: usize) -> (Self::Stream, Self::Stream) {
        tokio::io::duplex(capacity)
    }

    fn peer_on(&self, stream: Self::Stream, responders: Responders, options: Options) -> Peer {
        amp_tokio::from_stream_with(stream, None, responders, options)
    }

    fn serve_with(&self, factory: Factory, setup: ServerSetup) -> BoxFuture<io::Result<Served>> {
        let rt = *self;
        Box::pin(async move {
            let mut server = amp_tokio::bind("127.0.0.1:0", move |addr| factory(addr))
                .await?
                .options(setup.options)
                .max_connections(setup.max_connections);
            if let Some(hook) = setup.on_connection {
                server = server.on_connection(move |peer| hook(peer));
            }
            Ok(Served {
                addr: server.local_addr()?,
                stop: server.shutdown_handle(),
                running: Box::pin(rt.spawn(server.run())),
            })
        })
    }

    fn connect(
        &self,
        addr: SocketAddr,
        responders: Responders,
        options: Options,
    ) -> BoxFuture<io::Result<Peer>> {
        Box::pin(amp_tokio::connect_with(addr, responders, options))
    }

    fn connect_tcp(
        &self,
        addr: SocketAddr,
        responders: Responders,
        options: Options,
    ) -> BoxFuture<io::Result<(Peer, SocketAddr)>> {
        Box::pin(async move {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let me = stream.local_addr()?;
            let peer = amp_tokio::from_stream_with(stream, Some(addr), responders, options);
            Ok((peer, me))
        })
    }

    fn shutdown(&self, peer: &Peer, grace: Duration) -> BoxFuture<ConnectionError> {
        let peer = peer.clone();
        Box::pin(async move { amp_tokio::shutdown(&peer, grace).await })
    }

    fn engine_logs(&self) -> bool {
        cfg!(feature = "tracing")
    }

    fn live_tasks(&self) -> Option<usize> {
        Some(
            tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks(),
        )
    }
}
