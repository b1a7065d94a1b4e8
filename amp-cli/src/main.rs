//! `amp`: the command-line tool for AMP, Twisted's Asynchronous Messaging
//! Protocol. Each subcommand lives in a file of its own.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use amp::failure::Failure;
use amp::output::Painter;
use amp::{bench, call, decode, proxy, serve};
use clap::{Parser, Subcommand};

/// Call, serve, watch, load-test and decode AMP (Twisted's Asynchronous
/// Messaging Protocol) peers.
#[derive(Parser, Debug)]
#[command(
    name = "amp",
    version,
    after_help = "\
Examples:
  amp call 127.0.0.1:1234 Sum a=13 b=81
  amp call --schema commands.toml 127.0.0.1:1234 Divide numerator=1 denominator=4
  amp serve 127.0.0.1:1234 --schema commands.toml --answers answers.toml
  amp proxy 127.0.0.1:7000 127.0.0.1:1234 --schema commands.toml
  amp bench 127.0.0.1:1234 Sum a=13 b=81 -c 256 -d 10s
  amp decode capture.bin

Every subcommand takes --json (one JSON object per line) and --help.
Output is coloured on a terminal (unless NO_COLOR is set) and plain when
piped. On failure: a one-line reason on standard error and a non-zero
exit status (1 refused, 2 usage error, 3 unreachable or unreadable)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Decode a raw AMP byte stream (a file or standard input) into boxes.
    Decode(decode::DecodeArgs),
    /// Call a command on an AMP peer over TCP and print its answer.
    Call(call::CallArgs),
    /// Serve canned answers to the commands of a schema, logging each call.
    Serve(serve::ServeArgs),
    /// Forward connections to a server unchanged, printing every box.
    Proxy(proxy::ProxyArgs),
    /// Load-test a server: many calls in flight, then throughput and latency.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (name, outcome) = match &cli.command {
        Command::Decode(args) => ("decode", decode::run(args)),
        Command::Call(args) => ("call", call::run(args)),
        Command::Serve(args) => ("serve", serve::run(args)),
        Command::Proxy(args) => ("proxy", proxy::run(args)),
        Command::Bench(args) => ("bench", bench::run(args)),
    };
    match outcome {
        Ok(()) | Err(Failure::OutputClosed) => ExitCode::SUCCESS,
        Err(Failure::Reason { status, reason }) => {
            let prefix = Painter::stderr().red(&format!("amp {name}:"));
            eprintln!("{prefix} {reason}");
            ExitCode::from(status)
        }
    }
}
