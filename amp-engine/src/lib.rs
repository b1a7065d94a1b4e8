//! The live AMP engine, runtime-agnostic: what every runtime binding would
//! otherwise write again around [`amp_core::Connection`], the pure state
//! machine.
//!
//! amp-core decides everything about the protocol and does no IO; this crate
//! runs it on a live transport: the [`Peer`] handle (calls as futures,
//! cancellation by drop, `closed()`), the pending-call table, backpressure,
//! running responders concurrently, the read and write loops, holding and
//! shutting down a server's connections. It uses only `futures` types and a
//! small notification primitive, never a runtime: a binding (amp-tokio,
//! amp-async-std) provides the transport through [`ReadHalf`] and
//! [`WriteHalf`], spawns the two futures [`start`] returns, and adds
//! connect/listen for its runtime. This is the split of quinn-proto (the
//! state machine) and quinn (the engine over a runtime).
//!
//! | module | what it holds |
//! |---|---|
//! | `options` | [`Options`]: a connection's limits and timeouts |
//! | `transport` | [`ReadHalf`], [`WriteHalf`]: what the engine reads and writes |
//! | `peer` | [`Peer`], [`Context`], [`Responders`]: the handle, calls as futures |
//! | `machine` | the state machine driven: a `Connection`, or a `Router` of routes |
//! | `routed` | [`routed::RoutedPeer`]: routes (epsilon's amprouter) on this engine |
//! | `shared` | the state the handle, the reader and the writer share |
//! | `reader` | the read loop: decoding, running responders, timeouts |
//! | `writer` | the write loop |
//! | `live` | [`LiveConnections`]: a server's open connections |
//! | `shutdown` | [`ShutdownHandle`]: stopping a server from elsewhere |
//! | `runtime` | [`Runtime`]: what a binding gives (spawn, sleep) |
//! | `server` | [`Server`] over any [`Listener`]: the one accept loop |
//! | `upgrade` | [`Upgrader`]: changing a live connection's transport in place (StartTLS, protocol switches) |
//! | `upgradable` | [`upgradable::Upgrades`]: the protocol switches and `StartTLS` a connection answers, over any binding's [`upgradable::UpgradableStream`] |
//! | `tls` | `amp_engine::tls` (feature `tls`): rustls settings and Twisted's `StartTLS`, for the bindings' TLS |
//! | `stdio` | [`stdio::take`]: the process's standard input and output for AMP, and nothing else on them (unix) |
//! | `process` | [`process::ChildReader`], [`process::ChildWriter`]: a child process's pipes as a transport, its exit as the reason |
//!
//! ```
//! use amp_engine::{Peer, ReadHalf, Responders, WriteHalf};
//! use bytes::BytesMut;
//! use std::io;
//!
//! // A transport that reads nothing (the peer closed at once) and writes
//! // into a vector.
//! struct Closed;
//! impl ReadHalf for Closed {
//!     async fn read(&mut self, _buf: &mut BytesMut) -> io::Result<usize> { Ok(0) }
//! }
//! struct Sink(Vec<u8>);
//! impl WriteHalf for Sink {
//!     async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> { self.0.extend_from_slice(bytes); Ok(()) }
//!     async fn close(&mut self) -> io::Result<()> { Ok(()) }
//! }
//!
//! let (peer, reading, writing) =
//!     amp_engine::start(Closed, Sink(Vec::new()), None, Responders::new(), Default::default());
//! futures_executor::block_on(async {
//!     futures_util::future::join(reading, writing).await;
//!     assert_eq!(peer.closed().await, amp_core::ConnectionError::PeerClosed);
//! });
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod binding;
mod deadline;
#[cfg(unix)]
pub mod descriptors;
mod live;
mod machine;
mod options;
mod peer;
pub mod process;
mod reader;
pub mod routed;
mod runtime;
mod server;
#[cfg(feature = "tower")]
mod service;
mod shared;
mod shutdown;
#[cfg(unix)]
pub mod stdio;
#[cfg(feature = "tls")]
pub mod tls;
mod transport;
pub mod upgradable;
mod upgrade;
mod writer;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_channel::oneshot;

use amp_core::{AmpBox, Connection, ConnectionError, ResponderError};
use machine::{LaneId, Machine, PLAIN};

pub use amp_core;
pub use binding::{Split, TRACING, connected_tcp, from_stream_with};
pub use deadline::Deadline;
pub use live::LiveConnections;
pub use options::Options;
pub use peer::{Context, Peer, QueuedCall, Responders, Shutdown};
pub use reader::SHUTTING_DOWN_ERROR_CODE;
pub use runtime::{Runtime, Task};
pub use server::{Accepted, Listener, PeerAddr, Server};
#[cfg(feature = "tower")]
pub use service::{CallFuture, CallService};
pub use shared::UPGRADE_IN_PROGRESS_ERROR_CODE;
pub use shutdown::ShutdownHandle;
#[cfg(unix)]
pub use transport::ReceivedDescriptors;
pub(crate) use transport::end_reason;
pub use transport::{DirectWrite, ReadHalf, WriteHalf};
pub use upgrade::{Upgrade, UpgradeError, Upgraded, Upgrader};

use peer::Handle;
use reader::{ReadSwitch, read_loop};
use shared::Shared;
use upgrade::{NoUpgrade, Upgrading};
use writer::{WriteSwitch, write_loop};

/// A responder's result with the `_ask` tag it answers.
pub(crate) type Answer = (LaneId, Option<Bytes>, Result<AmpBox, ResponderError>);

/// Starts a connection over a transport: returns the peer handle and the two
/// futures that run it (reading and responding, writing), which the caller
/// spawns on its runtime. Both finish when the connection has ended.
///
/// ```
/// # use amp_engine::{ReadHalf, WriteHalf};
/// # struct R; impl ReadHalf for R { async fn read(&mut self, _: &mut bytes::BytesMut) -> std::io::Result<usize> { Ok(0) } }
/// # struct W; impl WriteHalf for W { async fn write_all(&mut self, _: &[u8]) -> std::io::Result<()> { Ok(()) } async fn close(&mut self) -> std::io::Result<()> { Ok(()) } }
/// let (peer, reading, writing) = amp_engine::start(R, W, None, amp_engine::Responders::new(), Default::default());
/// // e.g. tokio::spawn(reading); tokio::spawn(writing);
/// # futures_executor::block_on(futures_util::future::join(reading, writing));
/// # assert!(peer.is_closed());
/// ```
pub fn start<R: ReadHalf, W: WriteHalf>(
    reader: R,
    writer: W,
    addr: Option<SocketAddr>,
    responders: Responders,
    options: Options,
) -> (
    Peer,
    impl Future<Output = ()> + Send + 'static,
    impl Future<Output = ()> + Send + 'static,
) {
    start_with(
        reader,
        writer,
        addr,
        responders,
        options,
        None,
        None::<(NoUpgrade, _)>,
    )
}

/// [`start`] for a connection whose transport can be upgraded in place
/// (StartTLS), with `upgrader`: this side upgrades once it has answered a
/// request for one of [`Upgrader::commands`], or once the answer to its
/// [`Peer::call_upgrading`] has come; with `first`, it starts by upgrading
/// (TLS from the first byte), before anything is read or written. The same
/// [`Peer`] goes on over the upgraded transport: calls in flight are
/// answered, boxes queued meanwhile are written on the new transport, in
/// order.
///
/// ```
/// use amp_engine::{ReadHalf, Upgrade, Upgraded, Upgrader, WriteHalf};
/// use bytes::{Bytes, BytesMut};
/// # struct R; impl ReadHalf for R { async fn read(&mut self, _: &mut BytesMut) -> std::io::Result<usize> { Ok(0) } }
/// # struct W; impl WriteHalf for W { async fn write_all(&mut self, _: &[u8]) -> std::io::Result<()> { Ok(()) } async fn close(&mut self) -> std::io::Result<()> { Ok(()) } }
/// /// Refuses every upgrade.
/// struct Refuse;
/// impl Upgrader<R, W> for Refuse {
///     fn commands(&self) -> Vec<Bytes> { Vec::new() }
///     async fn upgrade(&mut self, _: R, _: W, _: BytesMut, _: Upgrade) -> Result<Option<Upgraded<R, W>>, String> {
///         Err("no, thanks".into())
///     }
/// }
/// let (peer, reading, writing) = amp_engine::start_upgradable(
///     R, W, None, amp_engine::Responders::new(), Default::default(),
///     Refuse, Some(Upgrade::Start(Box::new(()))),
/// );
/// futures_executor::block_on(futures_util::future::join(reading, writing));
/// assert_eq!(
///     futures_executor::block_on(peer.closed()),
///     amp_core::ConnectionError::UpgradeFailed("no, thanks".into()),
/// );
/// ```
#[allow(clippy::too_many_arguments)]
pub fn start_upgradable<R: ReadHalf, W: WriteHalf, U: Upgrader<R, W>>(
    reader: R,
    writer: W,
    addr: Option<SocketAddr>,
    responders: Responders,
    options: Options,
    upgrader: U,
    first: Option<Upgrade>,
) -> (
    Peer,
    impl Future<Output = ()> + Send + 'static,
    impl Future<Output = ()> + Send + 'static,
) {
    start_with(
        reader,
        writer,
        addr,
        responders,
        options,
        None,
        Some((upgrader, first)),
    )
}

/// [`start_upgradable`] with the two loops spawned on `runtime`.
///
/// ```
/// # use amp_engine::{ReadHalf, Runtime, Task, Upgrade, Upgraded, Upgrader, WriteHalf};
/// # use bytes::{Bytes, BytesMut};
/// # struct R; impl ReadHalf for R { async fn read(&mut self, _: &mut BytesMut) -> std::io::Result<usize> { Ok(0) } }
/// # struct W; impl WriteHalf for W { async fn write_all(&mut self, _: &[u8]) -> std::io::Result<()> { Ok(()) } async fn close(&mut self) -> std::io::Result<()> { Ok(()) } }
/// # struct Same;
/// # impl Upgrader<R, W> for Same {
/// #     fn commands(&self) -> Vec<Bytes> { Vec::new() }
/// #     async fn upgrade(&mut self, reader: R, writer: W, _: BytesMut, _: Upgrade) -> Result<Option<Upgraded<R, W>>, String> {
/// #         Ok(Some(Upgraded { reader, writer, peer_certificates: Some(vec![Bytes::from_static(b"cert")]) }))
/// #     }
/// # }
/// #[derive(Clone)]
/// struct Threads;
/// impl Runtime for Threads {
///     fn spawn(&self, task: Task) { std::thread::spawn(move || futures_executor::block_on(task)); }
///     fn sleep(&self, _: std::time::Duration) -> impl Future<Output = ()> + Send + 'static { std::future::pending() }
/// }
/// let peer = amp_engine::spawn_upgradable(
///     &Threads, R, W, None, amp_engine::Responders::new(), Default::default(),
///     Same, Some(Upgrade::Start(Box::new(()))),
/// );
/// futures_executor::block_on(peer.closed());
/// ```
#[allow(clippy::too_many_arguments)]
pub fn spawn_upgradable<Rt: Runtime, R: ReadHalf, W: WriteHalf, U: Upgrader<R, W>>(
    runtime: &Rt,
    reader: R,
    writer: W,
    addr: Option<SocketAddr>,
    responders: Responders,
    options: Options,
    upgrader: U,
    first: Option<Upgrade>,
) -> Peer {
    let (peer, reading, writing) =
        start_upgradable(reader, writer, addr, responders, options, upgrader, first);
    run_loops(runtime, reading, writing);
    peer
}

/// The parts of a connection taken apart ([`Peer::detach`]): its
/// transport's two halves, and the bytes read past the last box, none of
/// them decoded, for the protocol that takes the transport over.
#[derive(Debug)]
pub struct Parts<R, W> {
    /// The receiving half.
    pub reader: R,
    /// The sending half, with everything the connection queued written.
    pub writer: W,
    /// Bytes received after the last AMP box.
    pub leftover: BytesMut,
}

/// [`start`] for a connection that can be taken apart: the fourth value
/// resolves, once [`Peer::detach`] has drained the connection and both
/// loops have finished, to its [`Parts`]; or to why the connection ended
/// first, some other way.
///
/// ```
/// # use amp_engine::{ReadHalf, WriteHalf};
/// # struct R; impl ReadHalf for R { async fn read(&mut self, _: &mut bytes::BytesMut) -> std::io::Result<usize> { std::future::pending().await } }
/// # struct W; impl WriteHalf for W { async fn write_all(&mut self, _: &[u8]) -> std::io::Result<()> { Ok(()) } async fn close(&mut self) -> std::io::Result<()> { Ok(()) } }
/// let (peer, reading, writing, parts) =
///     amp_engine::start_detachable(R, W, None, amp_engine::Responders::new(), Default::default());
/// peer.detach();
/// let parts = futures_executor::block_on(async {
///     futures_util::future::join(reading, writing).await;
///     parts.await
/// });
/// assert!(parts.unwrap().leftover.is_empty());
/// ```
#[allow(clippy::type_complexity)]
pub fn start_detachable<R: ReadHalf, W: WriteHalf>(
    reader: R,
    writer: W,
    addr: Option<SocketAddr>,
    responders: Responders,
    options: Options,
) -> (
    Peer,
    impl Future<Output = ()> + Send + 'static,
    impl Future<Output = ()> + Send + 'static,
    impl Future<Output = Result<Parts<R, W>, ConnectionError>> + Send + 'static,
) {
    let (read_tx, read_rx) = oneshot::channel();
    let (write_tx, write_rx) = oneshot::channel();
    let (peer, reading, writing) = start_with(
        reader,
        writer,
        addr,
        responders,
        options,
        Some((read_tx, write_tx)),
        None::<(NoUpgrade, _)>,
    );
    let ended = peer.closed();
    let parts = async move {
        match (read_rx.await, write_rx.await) {
            (Ok((reader, leftover)), Ok(writer)) => Ok(Parts {
                reader,
                writer,
                leftover,
            }),
            // A loop finished without handing its half back: the
            // connection ended another way.
            _ => Err(ended.await),
        }
    };
    (peer, reading, writing, parts)
}

/// Where a detached connection's loops hand their halves back.
type Handback<R, W> = (oneshot::Sender<(R, BytesMut)>, oneshot::Sender<W>);

fn start_with<R: ReadHalf, W: WriteHalf, U: Upgrader<R, W>>(
    reader: R,
    writer: W,
    addr: Option<SocketAddr>,
    responders: Responders,
    options: Options,
    handback: Option<Handback<R, W>>,
    upgradable: Option<(U, Option<Upgrade>)>,
) -> (
    Peer,
    impl Future<Output = ()> + Send + 'static,
    impl Future<Output = ()> + Send + 'static,
) {
    let options = options.normalized();
    // Boxes that are neither requests nor answers go to the responders'
    // box receiver if there is one; without one they end the connection.
    let mut config = options.connection_config();
    if responders.receives_boxes() {
        config = config.raw_boxes(true);
    }
    #[allow(unused_mut)]
    let mut machine = Machine::Plain(Connection::new(&config));
    #[cfg(unix)]
    if crate::writer::passes_descriptors(&writer, upgradable.is_some()) {
        machine.pass_descriptors();
    }
    let direct = crate::writer::direct_for(&writer, upgradable.is_some());
    let shared = Shared::new(machine, options, addr, direct);
    let (read_switch, write_switch) = match upgradable {
        None => (None, None),
        Some((upgrader, first)) => {
            {
                let mut state = shared.lock();
                let upgrades = &mut state.upgrades;
                upgrades.enabled = true;
                upgrades.commands = upgrader.commands();
                if let Some(first) = first {
                    // Nothing is read or written before the upgrade.
                    upgrades.now = Some(Upgrading::Ready(first));
                    upgrades.hold_decoding = true;
                    upgrades.write_limit = Some(0);
                }
            }
            let (to_writer, from_reader) = futures_channel::mpsc::unbounded();
            let (to_reader, from_writer) = futures_channel::mpsc::unbounded();
            (
                Some(ReadSwitch {
                    to_writer,
                    from_writer,
                }),
                Some(WriteSwitch {
                    from_reader,
                    to_reader,
                    upgrader,
                }),
            )
        }
    };
    let handle = Arc::new(Handle {
        shared: Arc::clone(&shared),
        lane: PLAIN,
    });
    let (read_back, write_back) = match handback {
        Some((r, w)) => (Some(r), Some(w)),
        None => (None, None),
    };
    let reading = shared.in_span(read_loop(
        Arc::clone(&shared),
        Arc::downgrade(&handle),
        None,
        reader,
        responders,
        read_back,
        read_switch,
    ));
    let writing = shared.in_span(write_loop(
        Arc::clone(&shared),
        writer,
        write_back,
        write_switch,
    ));
    (Peer { handle }, reading, writing)
}

/// Starts a connection over a transport and runs its two tasks on
/// `runtime`: what every binding's `from_stream` is. With the `tracing`
/// feature both tasks run in an `amp_connection` span naming the peer's
/// address.
///
/// ```
/// # use amp_engine::{ReadHalf, Runtime, Task, WriteHalf};
/// # struct R; impl ReadHalf for R { async fn read(&mut self, _: &mut bytes::BytesMut) -> std::io::Result<usize> { Ok(0) } }
/// # struct W; impl WriteHalf for W { async fn write_all(&mut self, _: &[u8]) -> std::io::Result<()> { Ok(()) } async fn close(&mut self) -> std::io::Result<()> { Ok(()) } }
/// #[derive(Clone)]
/// struct Threads;
/// impl Runtime for Threads {
///     fn spawn(&self, task: Task) { std::thread::spawn(move || futures_executor::block_on(task)); }
///     fn sleep(&self, _: std::time::Duration) -> impl Future<Output = ()> + Send + 'static { std::future::pending() }
/// }
/// let peer = amp_engine::spawn(&Threads, R, W, None, amp_engine::Responders::new(), Default::default());
/// // The transport reads nothing: the peer has closed.
/// assert_eq!(futures_executor::block_on(peer.closed()), amp_core::ConnectionError::PeerClosed);
/// ```
pub fn spawn<Rt: Runtime, R: ReadHalf, W: WriteHalf>(
    runtime: &Rt,
    reader: R,
    writer: W,
    addr: Option<SocketAddr>,
    responders: Responders,
    options: Options,
) -> Peer {
    let (peer, reading, writing) = start(reader, writer, addr, responders, options);
    run_loops(runtime, reading, writing);
    peer
}

/// Spawns a connection's two loops on `runtime` (they run in the
/// connection's `tracing` span already).
pub(crate) fn run_loops<Rt: Runtime>(
    runtime: &Rt,
    reading: impl Future<Output = ()> + Send + 'static,
    writing: impl Future<Output = ()> + Send + 'static,
) {
    runtime.spawn(Box::pin(reading));
    runtime.spawn(Box::pin(writing));
}

#[doc(hidden)]
/// Helpers for this module's examples.
pub mod tests_support {
    use super::*;
    use bytes::BytesMut;
    use std::io;

    struct Never;
    impl ReadHalf for Never {
        async fn read(&mut self, _: &mut BytesMut) -> io::Result<usize> {
            std::future::pending().await
        }
    }
    impl WriteHalf for Never {
        async fn write_all(&mut self, _: &[u8]) -> io::Result<()> {
            Ok(())
        }
        async fn close(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A peer on a transport that never delivers anything, its loops not
    /// running.
    pub fn idle_peer() -> Peer {
        let (peer, _reading, _writing) =
            start(Never, Never, None, Responders::new(), Options::default());
        peer
    }
}

/// The txampext chapter's code samples (`docs/txampext.md`), compiled and
/// run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/txampext.md")]
pub struct TxampextDoctests;
