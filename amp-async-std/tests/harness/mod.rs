//! amp-conformance's `Runtime` on the futures-io binding, for every suite
//! this crate runs (`conformance.rs`, `interop.rs`, `hostile.rs`):
//! in-memory peers over `amp_async_std::pipe()`, TCP through
//! `amp_async_std::Server`, `connect_with` and `from_stream_with`, with
//! connection tasks spawned on async-std (feature `async-std`) or on smol's
//! executor (feature `smol`).

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use amp_async_std::Pipe;
use amp_conformance::{
    BoxFuture, Connecting, ConnectingTcp, Factory, Options, Peer, Responders, Runtime, Served,
    ServerSetup,
};

/// An executor the binding's tasks are spawned on, and how to block on it.
pub trait Executor:
    amp_async_std::Split<Pipe> + amp_async_std::Split<async_net::TcpStream> + Copy
{
    fn block_on<F: Future>(future: F) -> F::Output;
}

/// The futures-io binding on executor `E`.
#[derive(Clone, Copy)]
pub struct FuturesIo<E>(pub E);

impl<E: Executor> Runtime for FuturesIo<E> {
    type Stream = Pipe;
    type Engine = E;

    fn engine(&self) -> E {
        self.0
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        E::block_on(future)
    }

    // The pipe's capacity is fixed (256 KiB a direction): at least what is
    // asked for.
    fn stream_pair(&self, _capacity: usize) -> (Pipe, Pipe) {
        amp_async_std::pipe()
    }

    fn peer_on(&self, stream: Pipe, responders: Responders, options: Options) -> Peer {
        amp_async_std::from_stream_with(self.0, stream, None, responders, options)
    }

    fn serve_with(&self, factory: Factory, setup: ServerSetup) -> BoxFuture<io::Result<Served>> {
        let rt = *self;
        Box::pin(async move {
            let server =
                amp_async_std::bind(rt.0, "127.0.0.1:0", move |addr| factory(Some(addr))).await?;
            setup.start(&rt, server)
        })
    }

    fn connect(&self, addr: SocketAddr, responders: Responders, options: Options) -> Connecting {
        Box::pin(amp_async_std::connect_with(
            self.0, addr, responders, options,
        ))
    }

    fn connect_tcp(&self, addr: SocketAddr, responders: Responders) -> ConnectingTcp {
        let rt = self.0;
        Box::pin(async move {
            let stream = async_net::TcpStream::connect(addr).await?;
            let me = amp_conformance::ready_tcp(&stream)?;
            let peer = amp_async_std::from_stream_with(
                rt,
                stream,
                Some(addr),
                responders,
                Options::default(),
            );
            Ok((peer, me))
        })
    }
}

#[cfg(feature = "async-std")]
impl Executor for amp_async_std::AsyncStd {
    fn block_on<F: Future>(future: F) -> F::Output {
        async_std::task::block_on(future)
    }
}

#[cfg(feature = "smol")]
impl Executor for amp_async_std::Smol {
    fn block_on<F: Future>(future: F) -> F::Output {
        smol::block_on(future)
    }
}

#[cfg(unix)]
impl<E> amp_conformance::interop::transports::Transports for FuturesIo<E>
where
    E: Executor + amp_async_std::Split<async_net::unix::UnixStream>,
{
    fn connect_unix(&self, path: std::path::PathBuf, responders: Responders) -> Connecting {
        Box::pin(amp_async_std::unix::connect(self.0, path, responders))
    }

    fn serve_unix(
        &self,
        path: std::path::PathBuf,
        factory: Factory,
    ) -> io::Result<amp_conformance::interop::transports::ServedUnix> {
        let server = amp_async_std::unix::bind(self.0, path, move |()| factory(None))?;
        let stop = server.shutdown_handle();
        let running = amp_conformance::Runtime::spawn(self, server.run());
        Ok(amp_conformance::interop::transports::ServedUnix {
            stop,
            running: Box::pin(running),
        })
    }

    fn spawn_child(
        &self,
        program: &std::path::Path,
        args: &[&str],
        responders: Responders,
    ) -> io::Result<Peer> {
        amp_async_std::process::spawn(
            self.0,
            async_process::Command::new(program).args(args),
            responders,
        )
    }

    fn ampserver_example(&self) -> (&'static str, &'static str) {
        ("amp-async-std", "ampserver_async_std")
    }
}
