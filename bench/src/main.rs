//! Loopback RPC benchmark: the same `Sum(a, b) -> total` call over amp-tokio,
//! amp-async-std (on async-std and on smol), tarpc and a raw TCP ping-pong of
//! the same bytes, with client and server in separate processes.
//!
//! ```text
//! amp-bench server --impl IMPL [--addr 127.0.0.1:0] [--threads N]
//!                  [--executor own|global] [--max-seconds S]
//! amp-bench client --impl IMPL --addr HOST:PORT
//!                  [--conns C] [--inflight I] [--seconds S] [--warmup W]
//!                  [--threads N] [--executor own|global]
//!                  [--server-pid PID] [--label TEXT]
//! amp-bench hold --impl IMPL --addr HOST:PORT [--conns C] [--seconds S]
//! amp-bench wire
//!
//! IMPL: amp (amp-tokio), amp-async-std, amp-smol, tarpc, tarpc-json, raw,
//!       raw-smol (the raw ping-pong on smol), amp-tls and raw-tls (TLS from
//!       the first byte, on tokio), amp-unix and raw-unix (a UNIX socket,
//!       on tokio)
//! ```
//!
//! The UNIX impls take a socket path as `--addr` (the server prints
//! `LISTENING 0`). The TLS server makes a self-signed certificate for
//! `localhost` as it starts and writes it to `--cert FILE`; the TLS client
//! trusts the certificate in `--cert FILE`.
//!
//! A server prints `LISTENING <port>` once bound and runs until it is killed
//! or `--max-seconds` pass. A client opens `C` connections, keeps `I` calls in
//! flight on each (re-issuing one as each completes), lets `W` seconds of
//! warm-up pass, counts the calls that complete in the next `S` seconds and
//! prints one `RESULT key=value ...` line, with those calls' latencies
//! (`lat_calls`, `p50_us`, `p99_us`, `p999_us`, `max_us`; see `latency` for
//! what a raw ping-pong "call" is). With `--server-pid` it also reports the
//! server process's CPU use over the same window.
//!
//! `hold` opens `C` connections (tokio impls), makes one call on each,
//! prints `READY <C>` and keeps them open and idle for `S` seconds: for
//! measuring a server's memory per idle connection (`scripts/bench-idle.sh`).
//!
//! `--threads` is the number of threads running tasks (default 1: tokio's
//! current-thread runtime, one async-std worker, one thread running smol's
//! executor); `--executor` chooses amp-smol's executor (see `on_futures`).

mod client;
mod latency;
mod on_futures;
mod on_tokio;
mod tarpc_sum;

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use amp_core::{AmpBox, Command};
use amp_engine::Responders;
use serde::{Deserialize, Serialize};

use crate::client::ClientSpec;
use crate::on_futures::SmolExecutor;

/// `Sum`'s arguments.
#[derive(Serialize, Deserialize, Debug)]
pub struct SumArgs {
    pub a: i64,
    pub b: i64,
}

/// `Sum`'s response.
#[derive(Serialize, Deserialize, Debug)]
pub struct Total {
    pub total: i64,
}

/// `Sum(a: Integer, b: Integer) -> total: Integer`, as in Twisted's AMP howto.
pub struct Sum;
impl Command for Sum {
    const NAME: &'static str = "Sum";
    type Arguments = SumArgs;
    type Response = Total;
    type Error = Infallible;
}

/// The arguments every client sends, and the answer it checks.
const A: i64 = 13;
const B: i64 = 81;
const TOTAL: i64 = A + B;

/// The bytes of a Sum request box and of its answer box, for the raw
/// ping-pong. The tag is six digits long: a long run of calls on one
/// connection numbers them into the hundreds of thousands.
fn raw_messages() -> (Vec<u8>, Vec<u8>) {
    let tag = "123456";
    let pairs = |p: &[(&str, String)]| {
        AmpBox::from_pairs(p.iter().map(|(k, v)| (k.to_string(), v.clone())))
    };
    let request = pairs(&[
        ("_ask", tag.into()),
        ("_command", "Sum".into()),
        ("a", A.to_string()),
        ("b", B.to_string()),
    ]);
    let answer = pairs(&[("_answer", tag.into()), ("total", TOTAL.to_string())]);
    (
        request.to_bytes().expect("encodes").to_vec(),
        answer.to_bytes().expect("encodes").to_vec(),
    )
}

/// Bytes the raw ping-pong asks of the socket per read.
const RAW_READ: usize = 64 * 1024;

/// Counts the whole messages of `len` bytes in a byte stream read in
/// arbitrary pieces (the raw ping-pong's only parsing).
struct Whole {
    len: usize,
    partial: usize,
}

impl Whole {
    fn new(len: usize) -> Whole {
        Whole { len, partial: 0 }
    }

    /// `n` more bytes arrived: how many messages they complete.
    fn add(&mut self, n: usize) -> usize {
        self.partial += n;
        let k = self.partial / self.len;
        self.partial %= self.len;
        k
    }
}

/// The responders of every AMP server here: `Sum`, answered at once.
fn sum_responders() -> Responders {
    Responders::new().sync_responder(Sum, |_, args: SumArgs| {
        Ok::<_, Infallible>(Total {
            total: args.a + args.b,
        })
    })
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Impl {
    /// amp-tokio.
    Amp,
    /// amp-async-std on async-std.
    AmpAsyncStd,
    /// amp-async-std on smol.
    AmpSmol,
    Tarpc(tarpc_sum::Codec),
    Raw,
    /// The raw ping-pong on smol (async-io's TCP), for comparison with
    /// `Raw` on tokio.
    RawSmol,
    /// amp-tokio over TLS from the first byte (rustls).
    AmpTls,
    /// The raw ping-pong over TLS (tokio-rustls, the same rustls settings).
    RawTls,
    /// amp-tokio over a UNIX socket.
    AmpUnix,
    /// The raw ping-pong over a UNIX socket.
    RawUnix,
}

impl Impl {
    fn parse(s: &str) -> Result<Impl, String> {
        Ok(match s {
            "amp" | "amp-tokio" => Impl::Amp,
            "amp-async-std" => Impl::AmpAsyncStd,
            "amp-smol" => Impl::AmpSmol,
            "tarpc" | "tarpc-bincode" => Impl::Tarpc(tarpc_sum::Codec::Bincode),
            "tarpc-json" => Impl::Tarpc(tarpc_sum::Codec::Json),
            "raw" => Impl::Raw,
            "raw-smol" => Impl::RawSmol,
            "amp-tls" => Impl::AmpTls,
            "raw-tls" => Impl::RawTls,
            "amp-unix" => Impl::AmpUnix,
            "raw-unix" => Impl::RawUnix,
            other => {
                return Err(format!(
                    "unknown --impl {other:?} (amp, amp-async-std, amp-smol, tarpc, tarpc-json, raw, raw-smol, amp-tls, raw-tls, amp-unix, raw-unix)"
                ));
            }
        })
    }

    /// The name in `RESULT` lines.
    pub fn name(self) -> &'static str {
        match self {
            Impl::Amp => "amp",
            Impl::AmpAsyncStd => "amp-async-std",
            Impl::AmpSmol => "amp-smol",
            Impl::Tarpc(tarpc_sum::Codec::Bincode) => "tarpc",
            Impl::Tarpc(tarpc_sum::Codec::Json) => "tarpc-json",
            Impl::Raw => "raw",
            Impl::RawSmol => "raw-smol",
            Impl::AmpTls => "amp-tls",
            Impl::RawTls => "raw-tls",
            Impl::AmpUnix => "amp-unix",
            Impl::RawUnix => "raw-unix",
        }
    }
}

struct Opts(HashMap<String, String>);

impl Opts {
    fn parse(args: impl Iterator<Item = String>) -> Result<Opts, String> {
        let mut map = HashMap::new();
        let mut args = args.peekable();
        while let Some(key) = args.next() {
            let Some(name) = key.strip_prefix("--") else {
                return Err(format!("unexpected argument {key:?}"));
            };
            let value = args
                .next()
                .ok_or_else(|| format!("--{name} needs a value"))?;
            map.insert(name.to_owned(), value);
        }
        Ok(Opts(map))
    }

    fn str(&self, key: &str, default: &str) -> String {
        self.0
            .get(key)
            .cloned()
            .unwrap_or_else(|| default.to_owned())
    }

    fn num<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, String> {
        match self.0.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{key}: not a number: {v:?}")),
        }
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let sub = args.next().unwrap_or_default();
    let result = (|| -> Result<(), String> {
        let opts = Opts::parse(args)?;
        match sub.as_str() {
            "server" => {
                let imp = Impl::parse(&opts.str("impl", "amp"))?;
                let addr = opts.str("addr", "127.0.0.1:0");
                let max = Duration::from_secs_f64(opts.num("max-seconds", 600.0)?);
                let threads = opts.num("threads", 1)?;
                let executor = SmolExecutor::parse(&opts.str("executor", "own"))?;
                // --max-seconds: timed by a thread, not by the runtime under
                // test, as the client's clock is.
                std::thread::spawn(move || {
                    std::thread::sleep(max);
                    std::process::exit(0);
                });
                match imp {
                    Impl::AmpAsyncStd => on_futures::async_std_server(&addr, threads),
                    Impl::AmpSmol | Impl::RawSmol => {
                        on_futures::smol_server(imp, &addr, threads, executor)
                    }
                    _ => on_tokio::run_server(imp, &addr, opts.0.get("cert").cloned(), threads),
                }
                .map_err(|e| e.to_string())
            }
            "client" => {
                let spec = ClientSpec {
                    imp: Impl::parse(&opts.str("impl", "amp"))?,
                    addr: opts.0.get("addr").cloned().ok_or("client needs --addr")?,
                    conns: opts.num("conns", 1)?,
                    inflight: opts.num("inflight", 1)?,
                    seconds: opts.num("seconds", 3.0)?,
                    warmup: opts.num("warmup", 1.0)?,
                    server_pid: opts.0.get("server-pid").cloned(),
                    label: opts.str("label", ""),
                    cert: opts.0.get("cert").cloned(),
                };
                if spec.conns == 0 || spec.inflight == 0 {
                    return Err("--conns and --inflight must be at least 1".into());
                }
                let threads = opts.num("threads", 1)?;
                let executor = SmolExecutor::parse(&opts.str("executor", "own"))?;
                let line = match spec.imp {
                    Impl::AmpAsyncStd => on_futures::async_std_client(spec, threads),
                    Impl::AmpSmol | Impl::RawSmol => {
                        on_futures::smol_client(spec, threads, executor)
                    }
                    _ => on_tokio::run_client(spec, threads),
                }
                .map_err(|e| e.to_string())?;
                println!("{line}");
                io::stdout().flush().ok();
                // Connections still open (a slow peer) must not hold up the
                // exit: the measurement is done.
                std::process::exit(0);
            }
            "hold" => {
                let spec = ClientSpec {
                    imp: Impl::parse(&opts.str("impl", "amp"))?,
                    addr: opts.0.get("addr").cloned().ok_or("hold needs --addr")?,
                    conns: opts.num("conns", 1000)?,
                    inflight: 1,
                    seconds: 0.0,
                    warmup: 0.0,
                    server_pid: None,
                    label: String::new(),
                    cert: opts.0.get("cert").cloned(),
                };
                on_tokio::run_hold(spec, opts.num("seconds", 10.0)?).map_err(|e| e.to_string())?;
                std::process::exit(0);
            }
            "wire" => {
                let (req, ans) = raw_messages();
                println!(
                    "request {} bytes: {:?}",
                    req.len(),
                    String::from_utf8_lossy(&req)
                );
                println!(
                    "answer  {} bytes: {:?}",
                    ans.len(),
                    String::from_utf8_lossy(&ans)
                );
                Ok(())
            }
            _ => Err(
                "usage: amp-bench server|client|wire [--option value ...] (see src/main.rs)".into(),
            ),
        }
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("amp-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
