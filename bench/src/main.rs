//! Loopback RPC benchmark: the same `Sum(a, b) -> total` call over amp-tokio,
//! tarpc and a raw TCP ping-pong of the same bytes, with client and server in
//! separate processes.
//!
//! ```text
//! amp-bench server --impl amp|tarpc|tarpc-json|raw [--addr 127.0.0.1:0]
//!                  [--threads N] [--max-seconds S]
//! amp-bench client --impl amp|tarpc|tarpc-json|raw --addr HOST:PORT
//!                  [--conns C] [--inflight I] [--seconds S] [--warmup W]
//!                  [--threads N] [--server-pid PID] [--label TEXT]
//! amp-bench wire
//! ```
//!
//! A server prints `LISTENING <port>` once bound and runs until it is killed
//! or `--max-seconds` pass. A client opens `C` connections, keeps `I` calls in
//! flight on each (re-issuing one as each completes), lets `W` seconds of
//! warm-up pass, counts the calls that complete in the next `S` seconds and
//! prints one `RESULT key=value ...` line. With `--server-pid` it also reports
//! the server process's CPU use over the same window.

mod tarpc_sum;

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use amp_core::{AmpBox, Command};
use amp_tokio::{Peer, Responders, Server};
use futures::stream::{FuturesUnordered, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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

#[derive(Clone, Copy, Debug, PartialEq)]
enum Impl {
    Amp,
    Tarpc(tarpc_sum::Codec),
    Raw,
}

impl Impl {
    fn parse(s: &str) -> Result<Impl, String> {
        Ok(match s {
            "amp" => Impl::Amp,
            "tarpc" | "tarpc-bincode" => Impl::Tarpc(tarpc_sum::Codec::Bincode),
            "tarpc-json" => Impl::Tarpc(tarpc_sum::Codec::Json),
            "raw" => Impl::Raw,
            other => return Err(format!("unknown --impl {other:?} (amp, tarpc, tarpc-json, raw)")),
        })
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
            let value = args.next().ok_or_else(|| format!("--{name} needs a value"))?;
            map.insert(name.to_owned(), value);
        }
        Ok(Opts(map))
    }

    fn str(&self, key: &str, default: &str) -> String {
        self.0.get(key).cloned().unwrap_or_else(|| default.to_owned())
    }

    fn num<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, String> {
        match self.0.get(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("--{key}: not a number: {v:?}")),
        }
    }
}

fn runtime(threads: usize) -> io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
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
                let rt = runtime(opts.num("threads", 1)?).map_err(|e| e.to_string())?;
                rt.block_on(async move {
                    match tokio::time::timeout(max, server(imp, &addr)).await {
                        Ok(r) => r,
                        Err(_) => Ok(()), // --max-seconds passed: stop by ourselves
                    }
                })
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
                };
                if spec.conns == 0 || spec.inflight == 0 {
                    return Err("--conns and --inflight must be at least 1".into());
                }
                let rt = runtime(opts.num("threads", 1)?).map_err(|e| e.to_string())?;
                let line = rt.block_on(client(spec)).map_err(|e| e.to_string())?;
                println!("{line}");
                io::stdout().flush().ok();
                // Connections still open (a slow peer) must not hold up the
                // exit: the measurement is done.
                std::process::exit(0);
            }
            "wire" => {
                let (req, ans) = raw_messages();
                println!("request {} bytes: {:?}", req.len(), String::from_utf8_lossy(&req));
                println!("answer  {} bytes: {:?}", ans.len(), String::from_utf8_lossy(&ans));
                Ok(())
            }
            _ => Err("usage: amp-bench server|client|wire [--option value ...] (see src/main.rs)".into()),
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

// ---------------------------------------------------------------- servers

async fn server(imp: Impl, addr: &str) -> io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    println!("LISTENING {}", listener.local_addr()?.port());
    io::stdout().flush()?;
    match imp {
        Impl::Amp => {
            Server::from_listener(listener, |_| {
                Responders::new().responder(Sum, |_, args: SumArgs| async move {
                    Ok::<_, Infallible>(Total { total: args.a + args.b })
                })
            })
            .run()
            .await
        }
        Impl::Tarpc(codec) => tarpc_sum::serve(listener, codec).await,
        Impl::Raw => raw_serve(listener).await,
    }
}

/// Answers every whole request-sized chunk it reads with one answer-sized
/// chunk, in one write per read: a ping-pong with no protocol work at all.
async fn raw_serve(listener: TcpListener) -> io::Result<()> {
    let (req, ans) = raw_messages();
    let req_len = req.len();
    const READ: usize = 64 * 1024;
    let answers: Arc<Vec<u8>> = Arc::new(ans.repeat(READ / req_len + 2));
    let ans_len = ans.len();
    loop {
        let (mut stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let answers = Arc::clone(&answers);
        tokio::spawn(async move {
            let mut buf = vec![0u8; READ];
            let mut partial = 0usize;
            loop {
                let n = match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                partial += n;
                let k = partial / req_len;
                partial %= req_len;
                if k > 0 && stream.write_all(&answers[..k * ans_len]).await.is_err() {
                    return;
                }
            }
        });
    }
}

// ---------------------------------------------------------------- clients

struct ClientSpec {
    imp: Impl,
    addr: String,
    conns: usize,
    inflight: usize,
    seconds: f64,
    warmup: f64,
    server_pid: Option<String>,
    label: String,
}

enum Conn {
    Amp(Peer),
    Tarpc(tarpc_sum::ArithClient),
    Raw(TcpStream),
}

async fn connect(imp: Impl, addr: &str) -> io::Result<Conn> {
    Ok(match imp {
        Impl::Amp => Conn::Amp(amp_tokio::connect(addr, Responders::new()).await?),
        Impl::Tarpc(codec) => Conn::Tarpc(tarpc_sum::connect(addr, codec).await?),
        Impl::Raw => {
            let s = TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            Conn::Raw(s)
        }
    })
}

#[derive(Default)]
struct Counters {
    done: AtomicU64,
    errors: AtomicU64,
}

/// CPU seconds (user + system) a process has used, from /proc.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux configuration in practice.
    Some((utime + stime) / 100.0)
}

/// CPU seconds the whole machine has been busy (all cores, steal excluded),
/// from /proc/stat.
fn machine_busy_seconds() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let v: Vec<f64> = line.split_whitespace().skip(1).map(|x| x.parse().unwrap_or(0.0)).collect();
    // user nice system idle iowait irq softirq steal ...
    let busy = v.first()? + v.get(1)? + v.get(2)? + v.get(5)? + v.get(6)?;
    // Time the hypervisor gave this machine's CPUs to someone else.
    let steal = v.get(7).copied().unwrap_or(0.0);
    Some((busy / 100.0, steal / 100.0))
}

async fn client(spec: ClientSpec) -> io::Result<String> {
    // Connect everything first, at most 64 handshakes at a time, so that the
    // listener's backlog is never overrun.
    let imp = spec.imp;
    let addr = spec.addr.clone();
    let conns: Vec<Conn> = futures::stream::iter(0..spec.conns)
        .map(|_| connect(imp, &addr))
        .buffer_unordered(64)
        .try_collect()
        .await?;

    let stop = Arc::new(AtomicBool::new(false));
    let counters: Vec<Arc<Counters>> = (0..conns.len()).map(|_| Arc::default()).collect();
    let mut workers = Vec::with_capacity(conns.len());
    for (conn, counter) in conns.into_iter().zip(&counters) {
        let stop = Arc::clone(&stop);
        let counter = Arc::clone(counter);
        let inflight = spec.inflight;
        workers.push(tokio::spawn(async move {
            match conn {
                Conn::Amp(peer) => amp_worker(peer, inflight, &counter, &stop).await,
                Conn::Tarpc(client) => tarpc_worker(client, inflight, &counter, &stop).await,
                Conn::Raw(stream) => raw_worker(stream, inflight, &counter, &stop).await,
            }
        }));
    }
    let total = |counters: &[Arc<Counters>]| -> (u64, u64) {
        counters.iter().fold((0, 0), |(d, e), c| {
            (d + c.done.load(Relaxed), e + c.errors.load(Relaxed))
        })
    };

    tokio::time::sleep(Duration::from_secs_f64(spec.warmup)).await;
    let (c0, e0) = total(&counters);
    let cpu0 = cpu_seconds("self");
    let scpu0 = spec.server_pid.as_deref().and_then(cpu_seconds);
    let busy0 = machine_busy_seconds();
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(spec.seconds)).await;
    let (c1, e1) = total(&counters);
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu1 = cpu_seconds("self");
    let scpu1 = spec.server_pid.as_deref().and_then(cpu_seconds);
    let busy1 = machine_busy_seconds();
    stop.store(true, Relaxed);
    // Let the calls in flight finish (bounded), so the server sees clean
    // closes rather than resets.
    let _ = tokio::time::timeout(Duration::from_secs(3), futures::future::join_all(workers)).await;

    let calls = c1 - c0;
    let fmt_cpu = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.2}", (b - a) / elapsed),
        _ => "na".to_owned(),
    };
    // What everything else on the machine used meanwhile, in cores: a
    // measurement with this well above zero shared the CPUs.
    let others = match (busy0, busy1, cpu0, cpu1, scpu0, scpu1) {
        (Some((b0, _)), Some((b1, _)), Some(c0), Some(c1), Some(s0), Some(s1)) => {
            format!("{:.2}", ((b1 - b0) - (c1 - c0) - (s1 - s0)).max(0.0) / elapsed)
        }
        _ => "na".to_owned(),
    };
    let steal = match (busy0, busy1) {
        (Some((_, a)), Some((_, b))) => format!("{:.2}", (b - a) / elapsed),
        _ => "na".to_owned(),
    };
    Ok(format!(
        "RESULT impl={} label={} conns={} inflight={} calls={} seconds={:.3} rate={:.0} errors={} client_cpu={} server_cpu={} others_cpu={} steal_cpu={}",
        match spec.imp {
            Impl::Amp => "amp",
            Impl::Tarpc(tarpc_sum::Codec::Bincode) => "tarpc",
            Impl::Tarpc(tarpc_sum::Codec::Json) => "tarpc-json",
            Impl::Raw => "raw",
        },
        if spec.label.is_empty() { "-" } else { &spec.label },
        spec.conns,
        spec.inflight,
        calls,
        elapsed,
        calls as f64 / elapsed,
        e1 - e0,
        fmt_cpu(cpu0, cpu1),
        fmt_cpu(scpu0, scpu1),
        others,
        steal,
    ))
}

/// Keeps `inflight` calls going on one AMP connection until told to stop.
async fn amp_worker(peer: Peer, inflight: usize, counter: &Counters, stop: &AtomicBool) {
    let args = SumArgs { a: A, b: B };
    let mut running = FuturesUnordered::new();
    for _ in 0..inflight {
        running.push(peer.call::<Sum>(&args));
    }
    while let Some(result) = running.next().await {
        match result {
            Ok(Some(Total { total: TOTAL })) => {
                counter.done.fetch_add(1, Relaxed);
            }
            _ => {
                counter.errors.fetch_add(1, Relaxed);
                if peer.is_closed() {
                    return;
                }
            }
        }
        if !stop.load(Relaxed) {
            running.push(peer.call::<Sum>(&args));
        }
    }
    peer.close();
}

async fn tarpc_worker(
    client: tarpc_sum::ArithClient,
    inflight: usize,
    counter: &Counters,
    stop: &AtomicBool,
) {
    let mut running = FuturesUnordered::new();
    for _ in 0..inflight {
        running.push(tarpc_sum::call(&client, A, B));
    }
    while let Some(result) = running.next().await {
        match result {
            Ok(TOTAL) => {
                counter.done.fetch_add(1, Relaxed);
            }
            _ => {
                counter.errors.fetch_add(1, Relaxed);
            }
        }
        if !stop.load(Relaxed) {
            running.push(tarpc_sum::call(&client, A, B));
        }
    }
}

/// Writes `inflight` requests, then one request for each answer read.
async fn raw_worker(mut stream: TcpStream, inflight: usize, counter: &Counters, stop: &AtomicBool) {
    let (req, ans) = raw_messages();
    let requests = req.repeat(inflight);
    let mut buf = vec![0u8; 64 * 1024];
    let mut partial = 0usize;
    let mut outstanding = inflight;
    if stream.write_all(&requests).await.is_err() {
        counter.errors.fetch_add(1, Relaxed);
        return;
    }
    while outstanding > 0 {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => {
                counter.errors.fetch_add(1, Relaxed);
                return;
            }
            Ok(n) => n,
        };
        partial += n;
        let k = partial / ans.len();
        partial %= ans.len();
        counter.done.fetch_add(k as u64, Relaxed);
        outstanding -= k;
        if k > 0 && !stop.load(Relaxed) {
            if stream.write_all(&requests[..k * req.len()]).await.is_err() {
                counter.errors.fetch_add(1, Relaxed);
                return;
            }
            outstanding += k;
        }
    }
}
