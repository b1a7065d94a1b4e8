//! `amp`: the command-line tool for AMP, Twisted's Asynchronous Messaging
//! Protocol. Each subcommand lives in a file of its own.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use amp::failure::Failure;
use amp::{bench, call, decode, proxy, serve};
use clap::{Parser, Subcommand};

/// Decode AMP byte streams and call commands on AMP peers.
#[derive(Parser, Debug)]
#[command(
    name = "amp",
    version,
    after_help = "\
Examples:
  amp decode capture.bin
  amp call 127.0.0.1:1234 Sum a=13 b=81

Every subcommand takes --json (one JSON object per line) and --help."
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
            eprintln!("amp {name}: {reason}");
            ExitCode::from(status)
        }
    }
}
