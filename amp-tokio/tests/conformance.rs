//! The conformance suite (`amp-conformance`) on tokio: in-memory peers over
//! `tokio::io::duplex`, TCP through `amp_tokio::Server` and `connect_with`,
//! on a multi-threaded runtime and on a current-thread one.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use amp_conformance::{BoxFuture, Factory, Options, Peer, Responders, Runtime, Served};
use amp_core::ConnectionError;

/// Tokio, with one runtime per test.
#[derive(Clone, Copy)]
struct Tokio {
    multi_thread: bool,
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

    fn serve_at_most(
        &self,
        factory: Factory,
        options: Options,
        max_connections: usize,
    ) -> BoxFuture<io::Result<Served>> {
        let rt = *self;
        Box::pin(async move {
            let server = amp_tokio::bind("127.0.0.1:0", move |addr| factory(addr))
                .await?
                .options(options)
                .max_connections(max_connections);
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

    fn shutdown(&self, peer: &Peer, grace: Duration) -> BoxFuture<ConnectionError> {
        let peer = peer.clone();
        Box::pin(async move { amp_tokio::shutdown(&peer, grace).await })
    }
}

mod multi_thread {
    use super::Tokio;
    amp_conformance::suite!(Tokio { multi_thread: true });
}

mod current_thread {
    use super::Tokio;
    amp_conformance::suite!(Tokio {
        multi_thread: false
    });
}
