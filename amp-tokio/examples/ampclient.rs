//! Twisted's `ampclient.py` in Rust: calls `Sum(13, 81)` and
//! `Divide(1234, 0)` (each on its own connection, as the Python client does)
//! against the address given as the first argument (default
//! `127.0.0.1:1234`), turns `ZERO_DIVISION` into infinity, and prints the
//! results.
//!
//! `cargo run -p amp-tokio --example ampclient -- 127.0.0.1:1234`

mod common;

use std::process::ExitCode;
use std::time::Duration;

use amp_core::CallError;
use amp_tokio::Responders;
use common::{Divide, DivideArgs, DivideError, Sum, SumArgs, py_float};

async fn sum(addr: &str) -> Result<i64, String> {
    let peer = amp_tokio::connect(addr, Responders::new())
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let total = peer
        .call::<Sum>(&SumArgs { a: 13, b: 81 })
        .await
        .map_err(|e| format!("Sum: {e}"))?;
    Ok(total.total)
}

async fn divide(addr: &str) -> Result<f64, String> {
    let peer = amp_tokio::connect(addr, Responders::new())
        .await
        .map_err(|e| format!("connect: {e}"))?;
    match peer
        .call::<Divide>(&DivideArgs {
            numerator: 1234,
            denominator: 0,
        })
        .await
    {
        Ok(q) => Ok(q.result),
        Err(CallError::Declared(DivideError::ZeroDivision(_))) => {
            println!("Divided by zero: returning INF");
            Ok(f64::INFINITY)
        }
        Err(e) => Err(format!("Divide: {e}")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let addr = common::address();
    let work = async { tokio::join!(sum(&addr), divide(&addr)) };
    match tokio::time::timeout(Duration::from_secs(20), work).await {
        Ok((Ok(total), Ok(quotient))) => {
            println!(
                "Done with math: [(True, {total}), (True, {})]",
                py_float(quotient)
            );
            ExitCode::SUCCESS
        }
        Ok((a, b)) => {
            for e in [a.err(), b.err()].into_iter().flatten() {
                eprintln!("failed: {e}");
            }
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("failed: no answer within 20 s");
            ExitCode::FAILURE
        }
    }
}
