//! Twisted's `ampserver.py` in Rust: serves `Sum` and `Divide` on the address
//! given as the first argument (default `127.0.0.1:1234`), printing each
//! operation as the Python one does.
//!
//! `cargo run -p amp-tokio --example ampserver -- 127.0.0.1:1234`

mod common;

use std::io::Write;

use amp_tokio::Responders;
use common::{Divide, DivideArgs, DivideError, Quotient, Sum, SumArgs, Total, py_float};

fn math() -> Responders {
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

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let server = amp_tokio::bind(common::address(), |_| math()).await?;
    println!("LISTENING {}", server.local_addr()?.port());
    std::io::stdout().flush()?;
    server.run().await
}
