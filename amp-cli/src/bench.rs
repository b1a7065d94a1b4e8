//! `amp bench`: a load generator. Keeps CONCURRENCY calls in flight over
//! one or more connections, each connection driven by one task polling its
//! share of the calls together (pipelined on the connection, as the engine
//! allows), latencies recorded in an HDR histogram per task and merged at
//! the end.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amp_core::{AmpBox, CallError};
use amp_tokio::{Peer, Responders};
use bytes::Bytes;
use clap::builder::NonEmptyStringValueParser;
use clap::{ArgGroup, Args};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::addr::{Address, TlsArgs, parse_address};
use crate::call::parse_pair;
use crate::failure::{Failure, REFUSED, UNREACHED, USAGE};
use crate::output::Painter;
use crate::schema::Schema;
use crate::typed::encode_arguments;

/// The arguments of `amp bench`.
#[derive(Args, Debug)]
#[command(
    group(ArgGroup::new("amount").required(true).args(["count", "duration"])),
    after_help = "\
Calls COMMAND with the same arguments over and over, CONCURRENCY calls in
flight at all times, spread over --connections connections (calls are
pipelined on each connection, as AMP allows), until COUNT calls are done
or DURATION has passed (the calls in flight then finish and are counted).
Works against any AMP server, Twisted's included.

On a terminal, a progress bar on standard error shows the calls done and
the rate. Then the report: calls, time, throughput, the outcomes (every
error answer counted by its code; a lost connection ends that
connection's calls), and latency percentiles (p50, p90, p99, p99.9, max)
from an HDR histogram, in milliseconds. --json prints the report as one
JSON object.

Arguments are sent as text, or encoded by type with --schema FILE, as for
`amp call`.

Exit status: 0 every call answered, 1 some calls failed (the report is
printed), 2 usage error, 3 cannot connect.

Examples:
  amp bench 127.0.0.1:1234 Sum a=13 b=81 -c 256 -n 100000
  amp bench 127.0.0.1:1234 Sum a=13 b=81 -c 64 -d 10s --connections 4
  amp bench --json 127.0.0.1:1234 Ping -c 1 -n 1000 | jq .latency_ms.p99"
)]
pub struct BenchArgs {
    /// Where the server listens: HOST:PORT, unix:PATH or tls:HOST:PORT.
    #[arg(value_name = "ADDR", value_parser = parse_address)]
    addr: Address,
    #[command(flatten)]
    tls: TlsArgs,
    /// The command to call.
    #[arg(value_name = "COMMAND", value_parser = NonEmptyStringValueParser::new())]
    command: String,
    /// The command's arguments, as for `amp call`.
    #[arg(value_name = "KEY=VALUE", value_parser = parse_pair)]
    arguments: Vec<(String, String)>,
    /// How many calls to keep in flight, in all.
    #[arg(short = 'c', long, value_name = "CONCURRENCY", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    concurrency: u32,
    /// How many calls to make.
    #[arg(short = 'n', long, value_name = "COUNT", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// How long to keep calling: 10s, 500ms, 2m, or seconds.
    #[arg(short = 'd', long, value_name = "DURATION", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// How many connections to spread the calls over.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    connections: u32,
    /// Encode the arguments by type, as the command is declared in this
    /// schema file (TOML; see docs/cli.md).
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

/// `10s`, `500ms`, `2m`, `1h`, or a number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (number, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {s:?} (use ms, s, m or h)"
            ));
        }
    };
    number
        .parse::<f64>()
        .ok()
        .filter(|n| *n > 0.0)
        .and_then(|n| Duration::try_from_secs_f64(n * scale).ok())
        .ok_or_else(|| format!("expected a positive duration (10s, 500ms, 2m), got {s:?}"))
}

/// When to stop issuing calls.
enum Amount {
    /// After this many calls.
    Count(u64),
    /// After this long.
    Duration(Duration),
}

/// One connection's task's results.
struct Driven {
    latencies: Histogram<u64>,
    errors: BTreeMap<String, u64>,
}

/// What every task shares.
struct Shared {
    /// Calls started (with a count: each call takes a ticket).
    issued: AtomicU64,
    /// Calls finished, answered or not.
    done: AtomicU64,
    /// Set when no more calls are to start.
    stop: AtomicBool,
    count: Option<u64>,
}

impl Shared {
    /// Whether another call may start.
    fn ticket(&self) -> bool {
        if self.stop.load(Relaxed) {
            return false;
        }
        match self.count {
            Some(count) => self.issued.fetch_add(1, Relaxed) < count,
            None => true,
        }
    }
}

/// The report.
struct Report {
    calls: u64,
    ok: u64,
    errors: BTreeMap<String, u64>,
    elapsed: Duration,
    latencies: Histogram<u64>,
}

/// Runs `amp bench`.
pub fn run(args: &BenchArgs) -> Result<(), Failure> {
    args.tls
        .check(&args.addr)
        .map_err(|e| Failure::new(USAGE, e))?;
    let mut keys = HashSet::new();
    for (key, _) in &args.arguments {
        if !keys.insert(key) {
            return Err(Failure::new(
                USAGE,
                format_args!("the argument {key:?} is given twice"),
            ));
        }
    }
    let arguments = match &args.schema {
        Some(path) => {
            let schema = Schema::load(path).map_err(|e| Failure::new(USAGE, e))?;
            let command = schema.command(&args.command).ok_or_else(|| {
                Failure::new(
                    USAGE,
                    format_args!("the schema declares no command {:?}", args.command),
                )
            })?;
            encode_arguments(&command.name, &command.arguments, &args.arguments)
                .map_err(|e| Failure::new(USAGE, e))?
        }
        None => args
            .arguments
            .iter()
            .map(|(k, v)| (Bytes::from(k.clone()), Bytes::from(v.clone())))
            .collect(),
    };
    let amount = match (args.count, args.duration) {
        (Some(n), _) => Amount::Count(n),
        (None, Some(d)) => Amount::Duration(d),
        (None, None) => return Err(Failure::new(USAGE, "give -n COUNT or -d DURATION")),
    };
    // One thread per connection, up to the cores: a connection's task and
    // its engine's reader and writer then wake each other on one thread,
    // which is what lets one connection go fastest.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = (args.connections as usize).min(cores);
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
    .map_err(|e| Failure::new(UNREACHED, format_args!("cannot start the runtime: {e}")))?;
    let report = runtime.block_on(bench(args, ready_to_send(&arguments), amount))?;
    runtime.shutdown_timeout(Duration::from_secs(1));
    print_report(args, &report)?;
    let failed = report.calls - report.ok;
    if failed > 0 {
        let (worst, n) = report
            .errors
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(e, n)| (e.as_str(), *n))
            .unwrap_or(("?", 0));
        return Err(Failure::new(
            REFUSED,
            format_args!(
                "{failed} of {} calls failed (most: {worst}, {n} times)",
                report.calls
            ),
        ));
    }
    Ok(())
}

async fn bench(args: &BenchArgs, arguments: AmpBox, amount: Amount) -> Result<Report, Failure> {
    let addr = &args.addr;
    let connections = args.connections as usize;
    let mut peers = Vec::with_capacity(connections);
    for _ in 0..connections {
        let peer = tokio::time::timeout(
            Duration::from_secs(10),
            addr.connect(Responders::new(), &args.tls),
        )
        .await
        .map_err(|_| {
            Failure::new(
                UNREACHED,
                format_args!("connecting to {addr}: no reply within 10 s"),
            )
        })?
        .map_err(|e| Failure::new(UNREACHED, format_args!("cannot connect to {addr}: {e}")))?;
        peers.push(peer);
    }
    let shared = Arc::new(Shared {
        issued: AtomicU64::new(0),
        done: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        count: match amount {
            Amount::Count(n) => Some(n),
            Amount::Duration(_) => None,
        },
    });
    let command: Arc<str> = args.command.as_str().into();
    let concurrency = args.concurrency as usize;
    let started = Instant::now();
    let tasks: Vec<_> = peers
        .iter()
        .enumerate()
        .map(|(i, peer)| {
            // The in-flight calls, shared out as evenly as they go.
            let share = concurrency / connections + usize::from(i < concurrency % connections);
            tokio::spawn(drive(
                peer.clone(),
                share,
                Arc::clone(&command),
                arguments.clone(),
                Arc::clone(&shared),
            ))
        })
        .collect();
    let bar = progress_bar(&amount);
    let ticker = {
        let shared = Arc::clone(&shared);
        let bar = bar.clone();
        let limit = match amount {
            Amount::Duration(d) => Some(d),
            Amount::Count(_) => None,
        };
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tick.tick().await;
                let done = shared.done.load(Relaxed);
                let elapsed = started.elapsed();
                match limit {
                    Some(limit) => {
                        bar.set_position(elapsed.as_millis().min(limit.as_millis()) as u64);
                        bar.set_message(format!(
                            "{done} calls, {:.0}/s",
                            done as f64 / elapsed.as_secs_f64().max(1e-9)
                        ));
                        if elapsed >= limit {
                            shared.stop.store(true, Relaxed);
                        }
                    }
                    None => bar.set_position(done),
                }
            }
        })
    };
    let mut errors = BTreeMap::new();
    let mut latencies = histogram();
    for task in tasks {
        let driven = task.await.map_err(|e| {
            Failure::new(UNREACHED, format_args!("a connection's task failed: {e}"))
        })?;
        latencies
            .add(&driven.latencies)
            .map_err(|e| Failure::new(UNREACHED, format_args!("merging latencies: {e}")))?;
        for (error, n) in driven.errors {
            *errors.entry(error).or_insert(0) += n;
        }
    }
    let elapsed = started.elapsed();
    ticker.abort();
    bar.finish_and_clear();
    for peer in &peers {
        peer.shutdown(std::time::Duration::ZERO);
    }
    let ok = latencies.len();
    let failed: u64 = errors.values().sum();
    Ok(Report {
        calls: ok + failed,
        ok,
        errors,
        elapsed,
        latencies,
    })
}

/// Latencies in nanoseconds, from 1 ns to an hour, to 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds")
}

fn progress_bar(amount: &Amount) -> ProgressBar {
    let target = if io::stderr().is_terminal() {
        ProgressDrawTarget::stderr_with_hz(10)
    } else {
        ProgressDrawTarget::hidden()
    };
    let (len, template) = match amount {
        Amount::Count(n) => (
            *n,
            "{bar:40.cyan/blue} {pos}/{len} calls  {per_sec}  eta {eta}",
        ),
        Amount::Duration(d) => (
            d.as_millis() as u64,
            "{bar:40.cyan/blue} {elapsed}/{duration}  {msg}",
        ),
    };
    let bar = ProgressBar::with_draw_target(Some(len), target);
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Keeps `share` calls in flight on `peer` while tickets last: `share`
/// loops, each calling again as soon as its call completes, polled together
/// in this one task (no task or allocation per call).
async fn drive(
    peer: Peer,
    share: usize,
    command: Arc<str>,
    arguments: AmpBox,
    shared: Arc<Shared>,
) -> Driven {
    let latencies = Mutex::new(histogram());
    let errors = Mutex::new(BTreeMap::<String, u64>::new());
    {
        let (peer, command, arguments, shared) = (&peer, &*command, &arguments, &*shared);
        let (latencies, errors) = (&latencies, &errors);
        let mut loops: FuturesUnordered<_> = (0..share)
            .map(|_| async move {
                // Latencies are recorded in batches, to take the lock
                // once per batch; one clock reading ends a call and
                // starts the next.
                let mut batch: Vec<u64> = Vec::with_capacity(BATCH);
                let flush = |batch: &mut Vec<u64>| {
                    let mut h = latencies.lock().unwrap_or_else(|e| e.into_inner());
                    for nanos in batch.drain(..) {
                        h.saturating_record(nanos);
                    }
                };
                let mut start = Instant::now();
                while shared.ticket() {
                    let outcome = peer.call_remote(command, arguments.clone()).await;
                    let end = Instant::now();
                    let took = end - start;
                    start = end;
                    shared.done.fetch_add(1, Relaxed);
                    match outcome {
                        Ok(_) => {
                            batch.push(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1));
                            if batch.len() == BATCH {
                                flush(&mut batch);
                            }
                        }
                        Err(e) => {
                            let closed = matches!(e, CallError::Connection(_)) || peer.is_closed();
                            let key = match e {
                                CallError::Remote(e) => e.code,
                                CallError::Connection(e) => format!("connection lost: {e}"),
                                other => other.to_string(),
                            };
                            *errors
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .entry(key)
                                .or_insert(0) += 1;
                            if closed {
                                break;
                            }
                        }
                    }
                }
                flush(&mut batch);
            })
            .collect();
        while loops.next().await.is_some() {}
    }
    Driven {
        latencies: latencies.into_inner().unwrap_or_else(|e| e.into_inner()),
        errors: errors.into_inner().unwrap_or_else(|e| e.into_inner()),
    }
}

/// How many latencies a call loop keeps before recording them.
const BATCH: usize = 64;

/// `arguments` as amp-core's serializer writes a box: with its wire form
/// ready, so that each call copies it in one go, and cloning it for each
/// call allocates nothing. Unchanged if a key is not text.
fn ready_to_send(arguments: &AmpBox) -> AmpBox {
    struct Pairs<'a>(Vec<(&'a str, &'a [u8])>);
    impl serde::Serialize for Pairs<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut map = s.serialize_map(Some(self.0.len()))?;
            for (k, v) in &self.0 {
                map.serialize_entry(k, &serde_bytes::Bytes::new(v))?;
            }
            map.end()
        }
    }
    let pairs: Option<Vec<(&str, &[u8])>> = arguments
        .iter()
        .map(|(k, v)| std::str::from_utf8(k).ok().map(|k| (k, v)))
        .collect();
    pairs
        .and_then(|pairs| amp_core::ser::to_box(&Pairs(pairs)).ok())
        .filter(|ready| ready == arguments)
        .unwrap_or_else(|| arguments.clone())
}

/// Milliseconds, from nanoseconds.
fn ms(nanos: u64) -> f64 {
    nanos as f64 / 1e6
}

const PERCENTILES: [(&str, f64); 4] =
    [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9)];

fn print_report(args: &BenchArgs, r: &Report) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    let seconds = r.elapsed.as_secs_f64();
    let rate = r.calls as f64 / seconds.max(1e-9);
    let h = &r.latencies;
    let text = if args.json {
        let mut latency = serde_json::Map::new();
        if !h.is_empty() {
            for (name, q) in PERCENTILES {
                latency.insert(name.into(), ms(h.value_at_percentile(q)).into());
            }
            latency.insert("max".into(), ms(h.max()).into());
            latency.insert("min".into(), ms(h.min()).into());
            latency.insert("mean".into(), (h.mean() / 1e6).into());
        }
        format!(
            "{}\n",
            json!({
                "addr": args.addr.to_string(),
                "command": args.command,
                "concurrency": args.concurrency,
                "connections": args.connections,
                "calls": r.calls,
                "ok": r.ok,
                "errors": r.errors,
                "seconds": seconds,
                "rate": rate,
                "latency_ms": latency,
            })
        )
    } else {
        let p = Painter::stdout();
        let mut s = String::new();
        s.push_str(&format!(
            "{} {} on {}: {} in flight over {} connection{}\n",
            p.bold("amp bench"),
            p.bold(&args.command),
            args.addr,
            args.concurrency,
            args.connections,
            if args.connections == 1 { "" } else { "s" }
        ));
        s.push_str(&format!("  calls       {}\n", r.calls));
        s.push_str(&format!("  time        {seconds:.3} s\n"));
        s.push_str(&format!(
            "  throughput  {}\n",
            p.bold(&format!("{rate:.1} calls/s"))
        ));
        s.push_str(&format!("  answered    {}\n", p.green(&r.ok.to_string())));
        let failed = r.calls - r.ok;
        if failed == 0 {
            s.push_str("  errors      0\n");
        } else {
            s.push_str(&format!("  errors      {}\n", p.red(&failed.to_string())));
            for (error, n) in &r.errors {
                s.push_str(&format!("    {n:>9}  {error}\n"));
            }
        }
        if !h.is_empty() {
            s.push_str("latency (ms)\n");
            for (name, q) in PERCENTILES {
                s.push_str(&format!(
                    "  {name:<6} {:>10.3}\n",
                    ms(h.value_at_percentile(q))
                ));
            }
            s.push_str(&format!("  {:<6} {:>10.3}\n", "max", ms(h.max())));
            s.push_str(&format!("  {:<6} {:>10.3}\n", "mean", h.mean() / 1e6));
        }
        s
    };
    out.write_all(text.as_bytes()).map_err(Failure::output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_with_their_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("10x").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn arguments_made_ready_are_the_same_box() {
        let given = AmpBox::from_pairs([("b", "81"), ("a", "13")]);
        let ready = ready_to_send(&given);
        assert_eq!(ready, given);
        assert_eq!(ready.to_bytes().unwrap(), given.to_bytes().unwrap());
        let empty = ready_to_send(&AmpBox::new());
        assert!(empty.is_empty());
    }

    #[test]
    fn tickets_run_out_at_the_count() {
        let shared = Shared {
            issued: AtomicU64::new(0),
            done: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            count: Some(2),
        };
        assert!(shared.ticket() && shared.ticket());
        assert!(!shared.ticket());
        let forever = Shared {
            count: None,
            ..shared
        };
        assert!(forever.ticket());
        forever.stop.store(true, Relaxed);
        assert!(!forever.ticket());
    }
}
