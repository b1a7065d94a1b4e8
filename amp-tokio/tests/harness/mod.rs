//! amp-conformance's `Runtime` on tokio, for every suite this crate runs
//! (`conformance.rs`, `interop.rs`, `hostile.rs`): in-memory peers over
//! `tokio::io::duplex`, TCP through `amp_tokio::Server`, `connect_with` and
//! `from_stream_with`, one runtime per test.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use amp_conformance::{
    BoxFuture, Connecting, ConnectingTcp, Factory, Options, Peer, Responders, Runtime, Served,
    ServerSetup,
};

/// Tokio, with one runtime per test: multi-threaded (two workers) or
/// current-thread.
#[derive(Clone, Copy)]
pub struct Tokio {
    pub multi_thread: bool,
}

impl Runtime for Tokio {
    type Stream = tokio::io::DuplexStream;
    type Engine = amp_tokio::Tokio;

    fn engine(&self) -> amp_tokio::Tokio {
        amp_tokio::Tokio
    }

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

    fn stream_pair(&self, capacity: usize) -> (Self::Stream, Self::Stream) {
        tokio::io::duplex(capacity)
    }

    fn peer_on(&self, stream: Self::Stream, responders: Responders, options: Options) -> Peer {
        amp_tokio::from_stream_with(stream, None, responders, options)
    }

    fn serve_with(&self, factory: Factory, setup: ServerSetup) -> BoxFuture<io::Result<Served>> {
        let rt = *self;
        Box::pin(async move {
            let server = amp_tokio::bind("127.0.0.1:0", move |addr| factory(Some(addr))).await?;
            setup.start(&rt, server)
        })
    }

    fn connect(&self, addr: SocketAddr, responders: Responders, options: Options) -> Connecting {
        Box::pin(amp_tokio::connect_with(addr, responders, options))
    }

    fn connect_tcp(&self, addr: SocketAddr, responders: Responders) -> ConnectingTcp {
        Box::pin(async move {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            let me = amp_conformance::ready_tcp(&stream)?;
            let peer =
                amp_tokio::from_stream_with(stream, Some(addr), responders, Options::default());
            Ok((peer, me))
        })
    }

    fn live_tasks(&self) -> Option<usize> {
        Some(
            tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks(),
        )
    }
}

#[cfg(unix)]
impl amp_conformance::interop::transports::Transports for Tokio {
    fn connect_unix(&self, path: std::path::PathBuf, responders: Responders) -> Connecting {
        Box::pin(amp_tokio::unix::connect(path, responders))
    }

    fn serve_unix(
        &self,
        path: std::path::PathBuf,
        factory: Factory,
    ) -> io::Result<amp_conformance::interop::transports::ServedUnix> {
        let server = amp_tokio::unix::bind(path, move |()| factory(None))?;
        let stop = server.shutdown_handle();
        let running = tokio::spawn(server.run());
        Ok(amp_conformance::interop::transports::ServedUnix {
            stop,
            running: Box::pin(async move { running.await.expect("the server task") }),
        })
    }

    fn spawn_child(
        &self,
        program: &std::path::Path,
        args: &[&str],
        responders: Responders,
    ) -> io::Result<Peer> {
        amp_tokio::process::spawn(tokio::process::Command::new(program).args(args), responders)
    }

    fn ampserver_example(&self) -> (&'static str, &'static str) {
        ("amp-tokio", "ampserver")
    }
}
