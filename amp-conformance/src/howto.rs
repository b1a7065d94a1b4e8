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

/// Where an example serves or connects, as its arguments say: the first
/// argument is `HOST:PORT` (the default `127.0.0.1:1234` when there is
/// none), `unix:PATH`, `stdio` (a server only: serve on standard input and
/// output) or `exec:COMMAND...` (a client only: spawn the command, the
/// arguments after it being the command's, and speak AMP over its pipes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// `HOST:PORT`, over TCP.
    Tcp(String),
    /// `unix:PATH`, a UNIX stream socket.
    Unix(std::path::PathBuf),
    /// `stdio`: the process's own standard input and output.
    Stdio,
    /// `exec:PROGRAM ARGS...`: a child process's pipes.
    Exec {
        /// The program to run.
        program: String,
        /// Its arguments.
        args: Vec<String>,
    },
}

/// Which side an example is: which addresses it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// `ampserver`: `HOST:PORT`, `unix:PATH`, `stdio`.
    Server,
    /// `ampclient`: `HOST:PORT`, `unix:PATH`, `exec:COMMAND...`.
    Client,
}

impl Address {
    /// Parses an example's arguments (without the program's name).
    ///
    /// ```
    /// use amp_conformance::howto::{Address, Side};
    /// let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    /// assert_eq!(Address::parse(Side::Server, &[]), Ok(Address::Tcp("127.0.0.1:1234".into())));
    /// assert_eq!(Address::parse(Side::Server, &args(&["unix:/tmp/s"])), Ok(Address::Unix("/tmp/s".into())));
    /// assert_eq!(Address::parse(Side::Server, &args(&["stdio"])), Ok(Address::Stdio));
    /// assert_eq!(
    ///     Address::parse(Side::Client, &args(&["exec:python3", "server.py", "stdio"])),
    ///     Ok(Address::Exec { program: "python3".into(), args: args(&["server.py", "stdio"]) }),
    /// );
    /// assert!(Address::parse(Side::Client, &args(&["stdio"])).is_err());
    /// assert!(Address::parse(Side::Server, &args(&["exec:x"])).is_err());
    /// assert!(Address::parse(Side::Server, &args(&["unix:"])).is_err());
    /// assert!(Address::parse(Side::Server, &args(&["1234"])).is_err());
    /// ```
    pub fn parse(side: Side, args: &[String]) -> Result<Address, String> {
        let (first, rest) = match args.split_first() {
            Some((first, rest)) => (first.as_str(), rest),
            None => ("127.0.0.1:1234", &[][..]),
        };
        let address = if first == "stdio" {
            Address::Stdio
        } else if let Some(path) = first.strip_prefix("unix:") {
            if path.is_empty() {
                return Err("unix: needs a socket path (unix:PATH)".into());
            }
            Address::Unix(path.into())
        } else if let Some(program) = first.strip_prefix("exec:") {
            let mut words = rest.iter().cloned();
            let program = match program {
                "" => words
                    .next()
                    .ok_or("exec: needs a command (exec:PROGRAM ARGS...)")?,
                p => p.to_owned(),
            };
            return match side {
                Side::Client => Ok(Address::Exec {
                    program,
                    args: words.collect(),
                }),
                Side::Server => Err("exec:COMMAND is for the client; serve with `stdio`".into()),
            };
        } else if first
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
        {
            Address::Tcp(first.to_owned())
        } else {
            return Err(format!(
                "bad address {first:?}: expected HOST:PORT, unix:PATH, {}",
                match side {
                    Side::Server => "or stdio",
                    Side::Client => "or exec:COMMAND...",
                }
            ));
        };
        if let Some(extra) = rest.first() {
            return Err(format!("unexpected argument {extra:?} after the address"));
        }
        if side == Side::Client && address == Address::Stdio {
            return Err(
                "stdio is for the server; a client spawns its server with exec:COMMAND".into(),
            );
        }
        Ok(address)
    }

    /// The process's arguments, parsed for `side`; on an error, prints it
    /// with the usage to standard error and exits with status 2.
    ///
    /// ```no_run
    /// let address = amp_conformance::howto::Address::from_args(amp_conformance::howto::Side::Server);
    /// ```
    pub fn from_args(side: Side) -> Address {
        let args: Vec<String> = std::env::args().skip(1).collect();
        Address::parse(side, &args).unwrap_or_else(|e| {
            let usage = match side {
                Side::Server => "usage: ampserver [HOST:PORT | unix:PATH | stdio]",
                Side::Client => "usage: ampclient [HOST:PORT | unix:PATH | exec:COMMAND [ARGS...]]",
            };
            eprintln!("{e}\n{usage}");
            std::process::exit(2)
        })
    }
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
    responders_reporting(Report::Stdout)
}

/// Where the howto server's responders print what they did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    /// Standard output, as Twisted's `ampserver.py` prints.
    Stdout,
    /// Standard error: for a server on standard input and output, whose
    /// standard output carries nothing but AMP.
    Stderr,
}

impl Report {
    fn line(self, text: &str) {
        match self {
            Report::Stdout => println!("{text}"),
            Report::Stderr => eprintln!("{text}"),
        }
    }
}

/// [`responders`], printing to `report`.
///
/// ```
/// let _ = amp_conformance::howto::responders_reporting(amp_conformance::howto::Report::Stderr);
/// ```
pub fn responders_reporting(report: Report) -> Responders {
    Responders::new()
        .responder(Sum, move |_, args: SumArgs| async move {
            let total = args.a + args.b;
            report.line(&format!("Did a sum: {} + {} = {}", args.a, args.b, total));
            Ok::<_, std::convert::Infallible>(Total { total })
        })
        .responder(Divide, move |_, args: DivideArgs| async move {
            if args.denominator == 0 {
                // Python's float division raises ZeroDivisionError here.
                return Err(DivideError::ZeroDivision("float division by zero".into()));
            }
            let result = args.numerator as f64 / args.denominator as f64;
            report.line(&format!(
                "Divided: {} / {} = {}",
                args.numerator,
                args.denominator,
                py_float(result)
            ));
            Ok(Quotient { result })
        })
}

/// ampoule's `Shutdown` command (`ampoule.commands.Shutdown`): no
/// arguments, an empty answer, after which the worker closes the
/// connection and exits (its answer is a `QuitBox`).
pub struct Shutdown;
impl amp_core::Command for Shutdown {
    const NAME: &'static str = "Shutdown";
    type Arguments = crate::commands::Empty;
    type Response = crate::commands::Empty;
    type Error = std::convert::Infallible;
}

/// A worker's `Shutdown` having been asked: resolves once it has.
pub struct ShutdownAsked(futures_channel::oneshot::Receiver<()>);

/// The howto server's responders as a worker on standard input and output
/// (an ampoule process pool's, say) serves them: printing to standard
/// error, and answering ampoule's [`Shutdown`], which the returned
/// [`ShutdownAsked`] then reports.
///
/// ```
/// let (_responders, _asked) = amp_conformance::howto::worker_responders();
/// ```
pub fn worker_responders() -> (Responders, ShutdownAsked) {
    let (tx, rx) = futures_channel::oneshot::channel();
    let tx = std::sync::Mutex::new(Some(tx));
    let responders = responders_reporting(Report::Stderr).responder(
        Shutdown,
        move |_, _: crate::commands::Empty| {
            let asked = tx.lock().unwrap_or_else(|e| e.into_inner()).take();
            async move {
                eprintln!("Shutdown asked: answering, then exiting");
                if let Some(asked) = asked {
                    let _ = asked.send(());
                }
                Ok::<_, std::convert::Infallible>(crate::commands::Empty {})
            }
        },
    );
    (responders, ShutdownAsked(rx))
}

/// How long a worker asked to shut down lets its running responders
/// finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Runs a worker on standard input and output until it ends: when its
/// input ends (the parent closed it), or once it has answered `Shutdown`
/// (then it shuts the connection down gracefully, so the answer goes out
/// first). Waits for the last bytes to be written (`flushed`). Exits 0
/// then, or 1 if the connection ended otherwise (the parent broke the
/// protocol, say), printing why to standard error.
///
/// ```no_run
/// # async fn f(served: amp_engine::stdio::Served) {
/// let (_responders, asked) = amp_conformance::howto::worker_responders();
/// let code = amp_conformance::howto::work(served, asked).await;
/// # }
/// ```
pub async fn work(served: amp_engine::stdio::Served, asked: ShutdownAsked) -> ExitCode {
    let amp_engine::stdio::Served { peer, flushed } = served;
    let reason = match select(Box::pin(peer.closed()), asked.0).await {
        Either::Left((reason, _)) => reason,
        Either::Right((_, _)) => peer.shutdown(SHUTDOWN_GRACE).await,
    };
    drop(peer);
    flushed.await;
    match reason {
        amp_core::ConnectionError::PeerClosed | amp_core::ConnectionError::Closed => {
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("the connection ended: {other}");
            ExitCode::FAILURE
        }
    }
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

/// Runs the howto server on the UNIX socket at `path`: prints `LISTENING
/// unix:PATH` and serves until the process ends.
///
/// ```no_run
/// # async fn f(server: amp_engine::Server<impl amp_engine::Runtime, impl amp_engine::Listener>) -> std::io::Result<()> {
/// amp_conformance::howto::serve_unix(server, std::path::Path::new("/tmp/amp.sock")).await
/// # }
/// ```
pub async fn serve_unix<Rt: Runtime, L: Listener>(
    server: Server<Rt, L>,
    path: &std::path::Path,
) -> io::Result<()> {
    println!("LISTENING unix:{}", path.display());
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
