//! Twisted's `ampclient.py` on async-std: calls `Sum(13, 81)` and
//! `Divide(1234, 0)` (each on its own connection, as the Python client does)
//! against the address given as the first argument (default
//! `127.0.0.1:1234`), turns `ZERO_DIVISION` into infinity, and prints the
//! results. The same program as amp-tokio's `ampclient`, on the other
//! adapter.
//!
//! `cargo run -p amp-async-std --example ampclient_async_std -- 127.0.0.1:1234`

#[path = "../../amp-tokio/examples/common/mod.rs"]
mod common;

use std::process::ExitCode;
use std::time::Duration;

use amp_async_std::{AsyncStd, Responders};
use amp_core::CallError;
use common::{Divide, DivideArgs, DivideError, Sum, SumArgs, py_float};
use futures_util::future::{Either, join, select};

async fn sum(addr: &str) -> Result<i64, String> {
    let peer = amp_async_std::connect(AsyncStd, addr, Responders::new())
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let total = peer
        .call::<Sum>(&SumArgs { a: 13, b: 81 })
        .await
        .map_err(|e| format!("Sum: {e}"))?;
    Ok(total.total)
}

async fn divide(addr: &str) -> Result<f64, String> {
    let peer = amp_async_std::connect(AsyncStd, addr, Responders::new())
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

fn main() -> ExitCode {
    let addr = common::address();
    async_std::task::block_on(async {
        let work = Box::pin(join(sum(&addr), divide(&addr)));
        let deadline = async_io::Timer::after(Duration::from_secs(20));
        match select(work, deadline).await {
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
                eprintln!("failed: no answer within 20 s");
                ExitCode::FAILURE
            }
        }
    })
}
