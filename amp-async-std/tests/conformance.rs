//! The conformance suite (`amp-conformance`) on the futures-io binding:
//! in-memory peers over `amp_async_std::pipe()`, TCP through
//! `amp_async_std::Server` and `connect_with`, with connection tasks spawned
//! on async-std (feature `async-std`) and on smol's executor (feature
//! `smol`; `cargo test --all-features` runs both).

#![cfg(any(feature = "async-std", feature = "smol"))]

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use amp_async_std::Pipe;
use amp_async_std::amp_core::ConnectionError;
use amp_conformance::{BoxFuture, Factory, Options, Peer, Responders, Runtime, Served};

/// An executor the binding's tasks are spawned on, and how to block on it.
trait Executor: amp_async_std::Runtime + Copy {
    fn block_on<F: Future>(future: F) -> F::Output;
}

/// The futures-io binding on executor `E`.
#[derive(Clone, Copy)]
struct FuturesIo<E>(E);

impl<E: Executor> Runtime for FuturesIo<E> {
    type Stream = Pipe;

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        E::block_on(future)
    }

    fn spawn_detached(&self, task: BoxFuture<()>) {
        self.0.spawn(task);
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<()> {
        Box::pin(amp_async_std::Runtime::sleep(&self.0, duration))
    }

    // The pipe's capacity is fixed (256 KiB a direction): at least what is
    // asked for.
    fn stream_pair(&self, _capacity: usize) -> (Pipe, Pipe) {
        amp_async_std::pipe()
    }

    fn peer_on(&self, stream: Pipe, responders: Responders, options: Options) -> Peer {
        amp_async_std::from_stream_with(self.0, stream, None, responders, options)
    }

    fn serve_at_most(
        &self,
        factory: Factory,
        options: Options,
        max_connections: usize,
    ) -> BoxFuture<io::Result<Served>> {
        let rt = *self;
        Box::pin(async move {
            let server = amp_async_std::bind(rt.0, "127.0.0.1:0", move |addr| factory(addr))
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
        Box::pin(amp_async_std::connect_with(
            self.0, addr, responders, options,
        ))
    }

    fn shutdown(&self, peer: &Peer, grace: Duration) -> BoxFuture<ConnectionError> {
        let peer = peer.clone();
        Box::pin(async move { amp_async_std::shutdown(&peer, grace).await })
    }
}

#[cfg(feature = "async-std")]
mod on_async_std {
    use super::*;
    use amp_async_std::AsyncStd;

    impl Executor for AsyncStd {
        fn block_on<F: Future>(future: F) -> F::Output {
            async_std::task::block_on(future)
        }
    }

    amp_conformance::suite!(FuturesIo(AsyncStd));
}

#[cfg(feature = "smol")]
mod on_smol {
    use super::*;
    use amp_async_std::Smol;

    impl Executor for Smol {
        fn block_on<F: Future>(future: F) -> F::Output {
            smol::block_on(future)
        }
    }

    amp_conformance::suite!(FuturesIo(Smol));
}
