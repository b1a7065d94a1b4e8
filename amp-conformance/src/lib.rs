//! The behaviour suites every runtime binding of `amp_engine` runs.
//!
//! A binding's tests implement [`Runtime`] (in-memory streams, TCP server and
//! client, spawn, sleep, block_on, graceful shutdown) once, and expand a
//! suite's macro with it, which writes one `#[test]` per scenario:
//!
//! | macro | scenarios | what they check |
//! |---|---|---|
//! | [`suite!`] | [`scenarios`] | the engine's behaviour: calls, errors, cancellation, backpressure, servers, timeouts, shutdown, Twisted's recorded conversations |
//! | [`interop_suite!`] | [`interop`] | live interoperability with Twisted's peers of `interop/` (Python processes) |
//! | [`hostile_suite!`] | [`hostile`] | hostile peers and faults against a server on loopback TCP, printing the `ROW` lines of `docs/reliability.md` |
//!
//! ```text
//! #[derive(Clone)]
//! struct Tokio;
//! impl amp_conformance::Runtime for Tokio { /* ... */ }
//! amp_conformance::suite!(Tokio);
//! ```
//!
//! The commands they call are defined once, in [`commands`] (and the rest of
//! the interoperability catalogue of `interop/COMMANDS.md` in
//! [`catalogue`]): the bindings' tests use these, not commands of their own.
//!
//! Every scenario is a `pub async fn` generic over the runtime, so the same
//! code checks every binding. Each test runs its scenario on a thread of its
//! own with a deadline ([`DEADLINE`]), and every wait inside a scenario is
//! bounded too ([`WAIT`]): a scenario that hangs fails, it does not hang the
//! run. Where a scenario needs "this call is still waiting", a responder
//! waits on a [`sync::Gate`] the scenario opens, never on a sleep.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod catalogue;
pub mod commands;
#[cfg(unix)]
pub mod descriptors;
pub mod hostile;
pub mod howto;
pub mod howto_tls;
pub mod interop;
pub mod scenarios;
pub mod switch;
pub mod sync;
pub mod tls;
pub mod vectors;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

pub use amp_engine::{Options, Peer, Responders, ShutdownHandle};
use futures_channel::oneshot;
use futures_util::FutureExt;
use futures_util::future::{Either, select};

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What a server runs once per connection to build its responders; the
/// connection's address is given.
pub type Factory = Arc<dyn Fn(Option<SocketAddr>) -> Responders + Send + Sync>;

/// What a server runs on each connection as it starts, with its [`Peer`]
/// (the server's `on_connection` hook).
pub type Hook = Arc<dyn Fn(&Peer) + Send + Sync>;

/// How a server started by [`Runtime::serve_with`] is set up.
#[derive(Clone)]
pub struct ServerSetup {
    /// Settings for every connection.
    pub options: Options,
    /// At most this many connections served at once (the server's
    /// `max_connections`).
    pub max_connections: usize,
    /// The server's `on_connection` hook, if any.
    pub on_connection: Option<Hook>,
}

impl Default for ServerSetup {
    fn default() -> Self {
        ServerSetup {
            options: Options::default(),
            max_connections: usize::MAX,
            on_connection: None,
        }
    }
}

impl ServerSetup {
    /// Sets `server` (a binding's TCP server, bound) up as this says and runs
    /// it in the background on `rt`: what every binding's
    /// [`Runtime::serve_with`] does once it has bound its server.
    ///
    /// ```text
    /// fn serve_with(&self, factory: Factory, setup: ServerSetup) -> BoxFuture<io::Result<Served>> {
    ///     let rt = self.clone();
    ///     Box::pin(async move {
    ///         let server = amp_tokio::bind("127.0.0.1:0", move |addr| factory(Some(addr))).await?;
    ///         setup.start(&rt, server)
    ///     })
    /// }
    /// ```
    pub fn start<R, E, L>(self, rt: &R, server: amp_engine::Server<E, L>) -> io::Result<Served>
    where
        R: Runtime,
        E: amp_engine::Runtime,
        L: amp_engine::Listener,
    {
        let mut server = server
            .options(self.options)
            .max_connections(self.max_connections);
        if let Some(hook) = self.on_connection {
            server = server.on_connection(move |peer| hook(peer));
        }
        Ok(Served {
            addr: server.local_addr()?,
            stop: server.shutdown_handle(),
            running: Box::pin(rt.spawn(server.run())),
        })
    }
}

/// A peer being connected over TCP ([`Runtime::connect`]).
pub type Connecting = BoxFuture<io::Result<Peer>>;

/// A peer being connected over a plain TCP socket, with the socket's own
/// address ([`Runtime::connect_tcp`]).
pub type ConnectingTcp = BoxFuture<io::Result<(Peer, SocketAddr)>>;

/// Readies a plain TCP socket a binding's [`Runtime::connect_tcp`] has
/// just connected, as the binding's own `connect` does: sets
/// `TCP_NODELAY`; gives the socket's own address (the peer address the
/// server sees).
///
/// ```
/// let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// let socket = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
/// let me = amp_conformance::ready_tcp(&socket).unwrap();
/// assert_eq!(me, socket.local_addr().unwrap());
/// assert!(socket.nodelay().unwrap());
/// ```
#[cfg(unix)]
pub fn ready_tcp(socket: &impl std::os::fd::AsFd) -> io::Result<SocketAddr> {
    ready(socket2::SockRef::from(socket))
}

/// Readies a plain TCP socket a binding's [`Runtime::connect_tcp`] has
/// just connected, as the binding's own `connect` does: sets
/// `TCP_NODELAY`; gives the socket's own address (the peer address the
/// server sees).
///
/// ```
/// let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// let socket = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
/// let me = amp_conformance::ready_tcp(&socket).unwrap();
/// assert_eq!(me, socket.local_addr().unwrap());
/// ```
#[cfg(windows)]
pub fn ready_tcp(socket: &impl std::os::windows::io::AsSocket) -> io::Result<SocketAddr> {
    ready(socket2::SockRef::from(socket))
}

fn ready(socket: socket2::SockRef<'_>) -> io::Result<SocketAddr> {
    socket.set_tcp_nodelay(true)?;
    socket
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("not an IP socket"))
}

/// A TCP server started by [`Runtime::serve`].
pub struct Served {
    /// Where it listens (127.0.0.1, a port of its own).
    pub addr: SocketAddr,
    /// Stops it gracefully.
    pub stop: ShutdownHandle,
    /// Resolves with what the server's `run` returned.
    pub running: BoxFuture<io::Result<()>>,
}

/// What a binding provides for the suite to run on it.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// One end of an in-memory byte stream.
    type Stream: Send + 'static;

    /// The binding's runtime, as the engine runs on it (spawn, sleep).
    type Engine: amp_engine::Runtime;

    /// The binding's runtime the binding's peers and servers run on here.
    fn engine(&self) -> Self::Engine;

    /// Runs `future` to completion on this runtime, from a plain thread.
    fn block_on<F: Future>(&self, future: F) -> F::Output;

    /// Runs `task` in the background, on [`engine`](Self::engine).
    fn spawn_detached(&self, task: BoxFuture<()>) {
        amp_engine::Runtime::spawn(&self.engine(), task);
    }

    /// Resolves after `duration`, timed by [`engine`](Self::engine).
    fn sleep(&self, duration: Duration) -> BoxFuture<()> {
        Box::pin(amp_engine::Runtime::sleep(&self.engine(), duration))
    }

    /// Two connected ends of an in-memory stream holding at least about
    /// `capacity` bytes in each direction before a writer waits (more is
    /// fine). Dropping one end closes the stream for the other.
    fn stream_pair(&self, capacity: usize) -> (Self::Stream, Self::Stream);

    /// Runs AMP over one end of a stream (the binding's `from_stream_with`,
    /// no address).
    fn peer_on(&self, stream: Self::Stream, responders: Responders, options: Options) -> Peer;

    /// Binds the binding's TCP `Server` on 127.0.0.1:0 with `factory` and
    /// `options` and runs it in the background.
    fn serve(&self, factory: Factory, options: Options) -> BoxFuture<io::Result<Served>> {
        self.serve_with(
            factory,
            ServerSetup {
                options,
                ..ServerSetup::default()
            },
        )
    }

    /// [`serve`](Self::serve), serving at most `max_connections` at once
    /// (the server's `max_connections`).
    fn serve_at_most(
        &self,
        factory: Factory,
        options: Options,
        max_connections: usize,
    ) -> BoxFuture<io::Result<Served>> {
        self.serve_with(
            factory,
            ServerSetup {
                options,
                max_connections,
                on_connection: None,
            },
        )
    }

    /// Binds the binding's TCP `Server` on 127.0.0.1:0 with `factory`, set
    /// up as `setup` says (options, connection cap, `on_connection` hook),
    /// and runs it in the background ([`ServerSetup::start`] does all but
    /// the binding).
    fn serve_with(&self, factory: Factory, setup: ServerSetup) -> BoxFuture<io::Result<Served>>;

    /// Connects over TCP (the binding's `connect_with`).
    fn connect(&self, addr: SocketAddr, responders: Responders, options: Options) -> Connecting;

    /// Connects a plain TCP socket of the binding's runtime to `addr`,
    /// readies it ([`ready_tcp`]) and runs AMP over it with default
    /// settings (the binding's `from_stream_with`); gives the socket's own
    /// address too, which is the peer address the server sees.
    fn connect_tcp(&self, addr: SocketAddr, responders: Responders) -> ConnectingTcp;

    /// How many tasks are alive on the runtime the calling task runs on
    /// (spawned and not finished), where the runtime counts them (tokio's
    /// `num_alive_tasks`); `None` where it does not. The hostile suite's
    /// leak cases compare it before and after.
    fn live_tasks(&self) -> Option<usize> {
        None
    }

    /// Whether the engine was built with its `tracing` feature (the
    /// binding's `tracing` feature turns it on), so that it logs what the
    /// hostile suite counts.
    fn engine_logs(&self) -> bool {
        amp_engine::TRACING
    }

    /// Runs `future` in the background; the returned [`Task`] resolves with
    /// its output (a panic in it is raised again where the task is awaited).
    /// Dropping the task does not cancel it.
    fn spawn<T, F>(&self, future: F) -> Task<T>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let finished = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&finished);
        self.spawn_detached(Box::pin(async move {
            let outcome = AssertUnwindSafe(future).catch_unwind().await;
            flag.store(true, Ordering::SeqCst);
            let _ = tx.send(outcome);
        }));
        Task { rx, finished }
    }

    /// A connected pair of peers over an in-memory stream.
    fn pair(&self, left: Responders, right: Responders) -> (Peer, Peer) {
        self.pair_with(left, Options::default(), right, Options::default())
    }

    /// [`pair`](Self::pair) with settings for each side.
    fn pair_with(
        &self,
        left: Responders,
        left_options: Options,
        right: Responders,
        right_options: Options,
    ) -> (Peer, Peer) {
        let (a, b) = self.stream_pair(256 * 1024);
        (
            self.peer_on(a, left, left_options),
            self.peer_on(b, right, right_options),
        )
    }
}

/// A task started by [`Runtime::spawn`].
pub struct Task<T> {
    rx: oneshot::Receiver<std::thread::Result<T>>,
    finished: Arc<AtomicBool>,
}

impl<T> Task<T> {
    /// Whether the task has finished.
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::SeqCst)
    }
}

impl<T> Future for Task<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<T> {
        match self.rx.poll_unpin(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Ok(value))) => Poll::Ready(value),
            Poll::Ready(Ok(Err(panic))) => resume_unwind(panic),
            Poll::Ready(Err(_)) => panic!("a spawned task was dropped by its runtime"),
        }
    }
}

/// How long one wait inside a scenario may take before the scenario fails.
pub const WAIT: Duration = Duration::from_secs(30);

/// How long a whole scenario may take before its test fails.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// Awaits `future`, failing the scenario (naming `what`) if it takes longer
/// than [`WAIT`].
pub async fn within<R: Runtime, F: Future>(rt: &R, what: &str, future: F) -> F::Output {
    within_for(rt, WAIT, what, future).await
}

/// Awaits `future`, failing the scenario (naming `what`) if it takes longer
/// than `limit`.
pub async fn within_for<R: Runtime, F: Future>(
    rt: &R,
    limit: Duration,
    what: &str,
    future: F,
) -> F::Output {
    match timeout(rt, limit, future).await {
        Some(output) => output,
        None => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

/// Awaits `future` for at most `limit`: `None` if it took longer (the
/// future is dropped then).
pub async fn timeout<R: Runtime, F: Future>(
    rt: &R,
    limit: Duration,
    future: F,
) -> Option<F::Output> {
    match select(pin!(future), rt.sleep(limit)).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(_) => None,
    }
}

/// Runs `future` on a thread of its own and resolves with its result, for
/// blocking work (plain sockets) that must not hold up the runtime.
pub fn blocking<T, F>(work: F) -> impl Future<Output = T> + Send + 'static
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    std::thread::spawn(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(work)));
    });
    async move {
        match rx.await {
            Ok(Ok(value)) => value,
            Ok(Err(panic)) => resume_unwind(panic),
            Err(_) => panic!("a helper thread went away"),
        }
    }
}

/// Runs one scenario as a test: builds the runtime with `make` on a fresh
/// thread, blocks on `scenario(runtime)` there, and fails if it panics or
/// takes longer than [`DEADLINE`]. Used by [`suite!`].
pub fn run<R, M, S, Fut>(name: &str, make: M, scenario: S)
where
    R: Runtime,
    M: FnOnce() -> R + Send + 'static,
    S: FnOnce(R) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    run_within(name, DEADLINE, make, scenario)
}

/// [`run`] with a deadline of its own instead of [`DEADLINE`].
pub fn run_within<R, M, S, Fut>(name: &str, deadline: Duration, make: M, scenario: S)
where
    R: Runtime,
    M: FnOnce() -> R + Send + 'static,
    S: FnOnce(R) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let outcome = catch_unwind(AssertUnwindSafe(move || {
                let rt = make();
                rt.block_on(scenario(rt.clone()));
            }));
            let _ = tx.send(outcome);
        })
        .expect("cannot start the scenario's thread");
    match rx.recv_timeout(deadline) {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => resume_unwind(panic),
        Err(_) => panic!("scenario {name} did not finish within {deadline:?}"),
    }
}

/// Expands to one `#[test]` per scenario of [`scenarios`], each running on
/// the runtime `$make` evaluates to (an expression of a type implementing
/// [`Runtime`], evaluated once per test on the test's own thread).
///
/// ```text
/// amp_conformance::suite!(MyRuntime::default());
/// ```
#[macro_export]
macro_rules! suite {
    ($make:expr) => {
        $crate::suite!(@tests $make;
            typed_calls_answers_and_declared_errors,
            unknown_commands_get_unhandled_and_the_connection_survives,
            fatal_and_undeclared_errors_close_the_connection_after_the_error,
            commands_without_answer_return_once_queued,
            both_sides_call_at_once_and_responders_call_back,
            responders_run_concurrently_and_answer_in_the_order_they_finish,
            dropping_a_call_cancels_it_and_its_late_answer_is_ignored,
            dropped_calls_give_back_their_share_of_the_in_flight_budget,
            connection_loss_fails_every_pending_call_with_the_reason,
            responders_in_flight_are_bounded,
            callers_wait_when_the_outbound_buffer_is_full,
            closed_reports_why_and_close_fails_pending_calls,
            a_responder_that_panics_is_an_undeclared_error,
            tcp_server_with_per_connection_state_and_graceful_shutdown,
            a_server_at_its_connection_limit_accepts_once_one_ends,
            a_box_left_unfinished_past_the_timeout_ends_the_connection,
            the_unfinished_box_clock_stops_while_the_server_cannot_read,
            an_idle_connection_ends_after_the_idle_timeout_and_a_busy_one_does_not,
            a_request_without_ask_that_fails_closes_the_connection_silently,
            dropping_the_last_handle_closes_the_connection,
            graceful_shutdown_of_one_peer,
            a_stop_starts_when_asked_and_a_shorter_grace_wins,
            twisted_conversations_over_tcp,
            a_responder_calling_back_at_the_responder_bound_gets_its_answer,
            large_answers_through_small_buffers_do_not_deadlock,
            a_responder_calling_back_during_a_graceful_shutdown_gets_its_answer,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::run(stringify!($name), move || $make, $crate::scenarios::$name);
            }
        )*
    };
}
