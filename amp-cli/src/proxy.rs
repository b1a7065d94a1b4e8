//! `amp proxy`: a logging man-in-the-middle. Each connection accepted is
//! forwarded to the upstream server, bytes unchanged both ways, while a
//! [`Watch`] decodes a copy of them and each box is logged as it passes.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amp_core::Limits;
use clap::Args;
use serde_json::{Value as Json, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use crate::addr::{Address, parse_address};
use crate::failure::{Failure, UNREACHED, USAGE};
use crate::output::{Painter, clock, timestamp};
use crate::schema::Schema;
use crate::watch::{Dir, Seen, Watch};

/// The arguments of `amp proxy`.
#[derive(Args, Debug)]
#[command(after_help = "\
Listens on LISTEN; each connection accepted is connected to UPSTREAM and
the bytes are forwarded both ways exactly as they come (never re-encoded),
while a copy is decoded and every box printed as it passes, one line each:

  12:34:56.000100 #1 C->S ask Sum tag=1 a=13 b=81
  12:34:56.000400 #1 S->C answer Sum tag=1 0.300ms total=94

C->S is from the client (the side that connected to the proxy) to the
server (UPSTREAM), S->C the other way. An answer or error is paired with
its request: the command it answers and the call's latency as the proxy
saw it. A box's `_route` (epsilon.amprouter) shows as route=NAME.
With --schema FILE, values are decoded by type (see docs/cli.md).

Bytes that are not AMP are shown as unparseable, with their offset, why,
and their first bytes; they are still forwarded, and that direction of the
connection is not decoded further. Each connection's memory is bounded:
one box being decoded per direction (--max-box-bytes) and at most 4096
requests awaiting their answer.

Runs until killed. Exit status: 2 usage error, 3 cannot listen.

Examples:
  amp proxy 127.0.0.1:7000 127.0.0.1:1234
  amp proxy 127.0.0.1:7000 127.0.0.1:1234 --schema commands.toml
  amp proxy --json 127.0.0.1:7000 example.org:1234 | jq 'select(.kind == \"error\")'")]
pub struct ProxyArgs {
    /// Where to listen: HOST:PORT (port 0 picks a free port) or unix:PATH.
    #[arg(value_name = "LISTEN", value_parser = parse_address)]
    listen: Address,
    /// The server to forward to: HOST:PORT or unix:PATH.
    #[arg(value_name = "UPSTREAM", value_parser = parse_address)]
    upstream: Address,
    /// Decode values by type, as the commands are declared in this schema
    /// file (TOML; see docs/cli.md).
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    /// Print one JSON object per line.
    #[arg(long)]
    json: bool,
    /// The largest box decoded, in bytes; a larger one is shown as
    /// unparseable (and still forwarded).
    #[arg(long, value_name = "BYTES", default_value_t = Limits::DEFAULT_MAX_BOX_BYTES)]
    max_box_bytes: usize,
    /// The most keys a box decoded may hold.
    #[arg(long, value_name = "N", default_value_t = Limits::DEFAULT_MAX_KEYS)]
    max_keys: usize,
}

/// How much is read at a time, per direction.
const CHUNK: usize = 64 * 1024;
/// How long connecting upstream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `amp proxy` until killed.
pub fn run(args: &ProxyArgs) -> Result<(), Failure> {
    let schema = args
        .schema
        .as_deref()
        .map(Schema::load)
        .transpose()
        .map_err(|e| Failure::new(USAGE, e))?
        .map(Arc::new);
    let limits = Limits::default()
        .max_box_bytes(args.max_box_bytes)
        .max_buffered_bytes(args.max_box_bytes)
        .max_keys(args.max_keys);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(UNREACHED, format_args!("cannot start the runtime: {e}")))?;
    let log = Log {
        json: args.json,
        painter: Painter::stdout(),
        started: Instant::now(),
    };
    runtime.block_on(proxy(args, schema, limits, log))
}

/// Where lines go.
#[derive(Clone, Copy)]
struct Log {
    json: bool,
    painter: Painter,
    started: Instant,
}

impl Log {
    fn micros(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn event(
        &self,
        conn: u64,
        plain: impl FnOnce(&Painter) -> String,
        json: impl FnOnce() -> Json,
    ) {
        let mut out = io::stdout().lock();
        let _ = if self.json {
            let mut object = json();
            object["time"] = timestamp().into();
            object["conn"] = conn.into();
            writeln!(out, "{object}")
        } else {
            writeln!(
                out,
                "{} #{conn} {}",
                self.painter.dim(&clock()),
                plain(&self.painter)
            )
        };
    }

    fn seen(&self, conn: u64, seen: &[Seen]) {
        for s in seen {
            self.event(conn, |p| s.paint(p), || s.to_json());
        }
    }
}

async fn proxy(
    args: &ProxyArgs,
    schema: Option<Arc<Schema>>,
    limits: Limits,
    log: Log,
) -> Result<(), Failure> {
    let listen = &args.listen;
    let cannot =
        |e: io::Error| Failure::new(UNREACHED, format_args!("cannot listen on {listen}: {e}"));
    let (listener, local) = match listen {
        Address::Tcp(a) => {
            let l = TcpListener::bind(a.as_str()).await.map_err(cannot)?;
            let local = l.local_addr().map_err(cannot)?.to_string();
            (Listening::Tcp(l), local)
        }
        Address::Unix(path) => {
            let l = UnixListener::bind(path).map_err(cannot)?;
            (Listening::Unix(l), listen.to_string())
        }
        Address::Tls(_) => {
            return Err(Failure::new(
                USAGE,
                "amp proxy listens on HOST:PORT or unix:PATH, not on a tls: address",
            ));
        }
    };
    if let Address::Tls(_) = &args.upstream {
        return Err(Failure::new(
            USAGE,
            "amp proxy forwards to HOST:PORT or unix:PATH: it cannot read a tls: conversation",
        ));
    }
    let upstream = Arc::new(args.upstream.clone());
    {
        let mut out = io::stdout().lock();
        let _ = if log.json {
            writeln!(
                out,
                "{}",
                json!({ "listening": local.to_string(), "upstream": upstream.to_string() })
            )
        } else {
            writeln!(out, "listening on {local}, forwarding to {upstream}")
        };
    }
    let next = AtomicU64::new(1);
    loop {
        let (client, from) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors, say: not fatal.
                log.event(
                    0,
                    |_| format!("cannot accept: {e}"),
                    || json!({ "kind": "accept_failed", "message": e.to_string() }),
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let conn = next.fetch_add(1, Ordering::Relaxed);
        let upstream = Arc::clone(&upstream);
        let schema = schema.clone();
        tokio::spawn(async move {
            let to = &*upstream;
            let server = match tokio::time::timeout(CONNECT_TIMEOUT, connect(to)).await {
                Ok(Ok(server)) => server,
                Ok(Err(e)) => {
                    let why = format!("cannot connect to {to}: {e}");
                    log.event(
                        conn,
                        |p| format!("from {from}: {}", p.red(&why)),
                        || json!({ "kind": "upstream_failed", "from": from, "message": why }),
                    );
                    return;
                }
                Err(_) => {
                    let why =
                        format!("cannot connect to {to}: no answer within {CONNECT_TIMEOUT:?}");
                    log.event(
                        conn,
                        |p| format!("from {from}: {}", p.red(&why)),
                        || json!({ "kind": "upstream_failed", "from": from, "message": why }),
                    );
                    return;
                }
            };
            log.event(
                conn,
                |_| format!("connected: {from} to {to}"),
                || json!({ "kind": "connected", "from": from, "upstream": to.to_string() }),
            );
            let watch = Arc::new(Mutex::new(Watch::new(schema, limits)));
            let (client_read, client_write) = tokio::io::split(client);
            let (server_read, server_write) = tokio::io::split(server);
            let (up, down) = tokio::join!(
                pump(Dir::ToServer, client_read, server_write, &watch, conn, log),
                pump(Dir::ToClient, server_read, client_write, &watch, conn, log),
            );
            log.event(
                conn,
                |_| format!("closed: C->S {up} bytes, S->C {down} bytes"),
                || json!({ "kind": "closed", "bytes_to_server": up, "bytes_to_client": down }),
            );
        });
    }
}

/// A byte stream the proxy forwards: a TCP or a UNIX socket.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<S: AsyncRead + AsyncWrite + Send + Unpin> Stream for S {}

/// Where the proxy accepts its clients.
enum Listening {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listening {
    /// The next client, and who it is for the log.
    async fn accept(&self) -> io::Result<(Box<dyn Stream>, String)> {
        match self {
            Listening::Tcp(l) => {
                let (s, from) = l.accept().await?;
                let _ = s.set_nodelay(true);
                Ok((Box::new(s), from.to_string()))
            }
            Listening::Unix(l) => {
                let (s, from) = l.accept().await?;
                let from = from.as_pathname().map_or_else(
                    || "unix client".to_owned(),
                    |p| format!("unix:{}", p.display()),
                );
                Ok((Box::new(s), from))
            }
        }
    }
}

/// Connects to the upstream peer.
async fn connect(to: &Address) -> io::Result<Box<dyn Stream>> {
    Ok(match to {
        Address::Tcp(a) => {
            let s = TcpStream::connect(a.as_str()).await?;
            let _ = s.set_nodelay(true);
            Box::new(s)
        }
        Address::Unix(path) => Box::new(UnixStream::connect(path).await?),
        Address::Tls(_) => {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "tls: upstream"));
        }
    })
}

/// Forwards what `from` sends to `to` until `from` ends or either side
/// fails, decoding a copy; returns the bytes forwarded.
async fn pump(
    dir: Dir,
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    watch: &Mutex<Watch>,
    conn: u64,
    log: Log,
) -> u64 {
    let mut buf = vec![0; CHUNK];
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // Decoded before it is forwarded, so that a request is always seen
        // before the answer the other direction brings back.
        let seen =
            watch
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .feed(dir, &buf[..n], log.micros());
        if to.write_all(&buf[..n]).await.is_err() {
            log.seen(conn, &seen);
            break;
        }
        total += n as u64;
        log.seen(conn, &seen);
    }
    // Pass the end on: the other side sees end of file (or the failure).
    let _ = to.shutdown().await;
    let seen = watch.lock().unwrap_or_else(|e| e.into_inner()).end(dir);
    log.seen(conn, &seen);
    total
}
