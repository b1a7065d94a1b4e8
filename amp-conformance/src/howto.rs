//! Twisted's AMP howto (`ampserver.py` and `ampclient.py`) as every
//! binding's examples run it: the server's responders, which print each
//! operation as the Python server does, and the client's two calls and
//! report, which print what the Python client does. A binding's example
//! adds only its runtime: how to bind, connect and block.
//!
//! The commands are the catalogue's [`Sum`] and [`Divide`].

use std::future::Future;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use amp_core::CallError;
use amp_engine::{Listener, Peer, Responders, Runtime, Server};
use futures_util::future::{Either, join, select};

use crate::commands::{Divide, DivideArgs, DivideError, Quotient, Sum, SumArgs, Total};

/// How long the client waits for both answers before it gives up.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The address from the first argument, or Twisted's example default.
///
/// ```
/// // A test binary's first argument is no address of ours; the default is
/// // what the examples use without one.
/// assert!(!amp_conformance::howto::address().is_empty());
/// ```
pub fn address() -> String {
    std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:1234".to_owned())
}

/// Formats a float as Python's `str()` does, so the output matches the
/// Python example's.
///
/// ```
/// use amp_conformance::howto::py_float;
/// assert_eq!(py_float(0.5), "0.5");
/// assert_eq!(py_float(f64::INFINITY), "inf");
/// ```
pub fn py_float(x: f64) -> String {
    let wire = amp_core::values::encode_value(&x).expect("floats always encode");
    String::from_utf8(wire.to_vec()).expect("float text is ASCII")
}

/// The server's responders: `Sum`, and `Divide` with Python's
/// `ZeroDivisionError` as `ZERO_DIVISION`; each prints what it did.
///
/// ```
/// use amp_conformance::commands::{Sum, SumArgs};
/// use amp_engine::{ReadHalf, Responders, Runtime, Task, WriteHalf};
/// use futures_channel::mpsc::{UnboundedReceiver as Rx, UnboundedSender as Tx, unbounded};
/// use futures_util::StreamExt;
/// # struct In(Rx<Vec<u8>>);
/// # impl ReadHalf for In { async fn read(&mut self, buf: &mut bytes::BytesMut) -> std::io::Result<usize> {
/// #     let bytes = self.0.next().await.unwrap_or_default(); buf.extend_from_slice(&bytes); Ok(bytes.len()) } }
/// # struct Out(Tx<Vec<u8>>);
/// # impl WriteHalf for Out { async fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> { let _ = self.0.unbounded_send(b.to_vec()); Ok(()) }
/// #     async fn close(&mut self) -> std::io::Result<()> { self.0.close_channel(); Ok(()) } }
/// # #[derive(Clone)] struct Threads;
/// # impl Runtime for Threads { fn spawn(&self, task: Task) { std::thread::spawn(move || futures_executor::block_on(task)); }
/// #     fn sleep(&self, _: std::time::Duration) -> impl Future<Output = ()> + Send + 'static { std::future::pending() } }
///
/// // Two peers over in-memory channels, the server with the howto's responders.
/// let ((to_server, server_in), (to_client, client_in)) = (unbounded(), unbounded());
/// let server = amp_engine::spawn(&Threads, In(server_in), Out(to_client), None,
///     amp_conformance::howto::responders(), Default::default());
/// let client = amp_engine::spawn(&Threads, In(client_in), Out(to_server), None,
///     Responders::new(), Default::default());
/// let total = futures_executor::block_on(client.call_as::<Sum>(&SumArgs { a: 13, b: 81 })).unwrap();
/// assert_eq!(total.total, 94);
/// # drop(server);
/// ```
pub fn responders() -> Responders {
    Responders::new()
        .responder(Sum, |_, args: SumArgs| async move {
            let total = args.a + args.b;
            println!("Did a sum: {} + {} = {}", args.a, args.b, total);
            Ok::<_, std::convert::Infallible>(Total { total })
        })
        .responder(Divide, |_, args: DivideArgs| async move {
            if args.denominator == 0 {
                // Python's float division raises ZeroDivisionError here.
                return Err(DivideError::ZeroDivision("float division by zero".into()));
            }
            let result = args.numerator as f64 / args.denominator as f64;
            println!(
                "Divided: {} / {} = {}",
                args.numerator,
                args.denominator,
                py_float(result)
            );
            Ok(Quotient { result })
        })
}

/// Runs the howto server: prints `LISTENING <port>` (which the scripts of
/// `interop/` wait for) and serves until the process ends.
///
/// ```no_run
/// # async fn f(server: amp_engine::Server<impl amp_engine::Runtime, impl amp_engine::Listener>) -> std::io::Result<()> {
/// amp_conformance::howto::serve(server).await
/// # }
/// ```
pub async fn serve<Rt: Runtime, L: Listener>(server: Server<Rt, L>) -> io::Result<()> {
    println!("LISTENING {}", server.local_addr()?.port());
    io::stdout().flush()?;
    server.run().await
}

/// Runs the howto client: `Sum(13, 81)` and `Divide(1234, 0)`, each on a
/// connection of its own from `connect` (as the Python client does), at
/// once, for at most [`PATIENCE`] (timed by `runtime`); turns
/// `ZERO_DIVISION` into infinity and prints the results as the Python
/// client does. Fails if a call failed or no answer came in time.
///
/// ```no_run
/// # async fn f(rt: impl amp_engine::Runtime, connect: impl Fn() -> std::future::Ready<std::io::Result<amp_engine::Peer>>) {
/// let code = amp_conformance::howto::client(&rt, connect).await;
/// # }
/// ```
pub async fn client<F, C>(runtime: &impl Runtime, connect: C) -> ExitCode
where
    C: Fn() -> F,
    F: Future<Output = io::Result<Peer>>,
{
    let work = join(sum(connect()), divide(connect()));
    match select(Box::pin(work), Box::pin(runtime.sleep(PATIENCE))).await {
        Either::Left(((Ok(total), Ok(quotient)), _)) => {
            println!(
                "Done with math: [(True, {total}), (True, {})]",
                py_float(quotient)
            );
            ExitCode::SUCCESS
        }
        Either::Left(((a, b), _)) => {
            for e in [a.err(), b.err()].into_iter().flatten() {
                eprintln!("failed: {e}");
            }
            ExitCode::FAILURE
        }
        Either::Right(_) => {
            eprintln!("failed: no answer within {} s", PATIENCE.as_secs());
            ExitCode::FAILURE
        }
    }
}

async fn sum(peer: impl Future<Output = io::Result<Peer>>) -> Result<i128, String> {
    let peer = peer.await.map_err(|e| format!("connect: {e}"))?;
    let total = peer
        .call_as::<Sum>(&SumArgs { a: 13, b: 81 })
        .await
        .map_err(|e| format!("Sum: {e}"))?;
    Ok(total.total)
}

async fn divide(peer: impl Future<Output = io::Result<Peer>>) -> Result<f64, String> {
    let peer = peer.await.map_err(|e| format!("connect: {e}"))?;
    let args = DivideArgs {
        numerator: 1234,
        denominator: 0,
    };
    match peer.call_as::<Divide>(&args).await {
        Ok(q) => Ok(q.result),
        Err(CallError::Declared(DivideError::ZeroDivision(_))) => {
            println!("Divided by zero: returning INF");
            Ok(f64::INFINITY)
        }
        Err(e) => Err(format!("Divide: {e}")),
    }
}
