//! The core on its own, no sockets and no runtime: a client-side core encodes
//! a `Sum` call and a `Divide` call, a server-side core decodes them and runs
//! its responders, and the client reads the answers. Every byte that would
//! cross the wire is printed.
//!
//! Run with `cargo run -p amp-core --example sum`.

use std::convert::Infallible;

use amp_core::command::decode_outcome;
use amp_core::dispatcher::settles;
use amp_core::{CallError, Command, Connection, Event, Locator, command_errors};
use futures_util::FutureExt;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct SumArgs {
    a: i64,
    b: i64,
}

#[derive(Serialize, Deserialize)]
struct Total {
    total: i64,
}

struct Sum;
impl Command for Sum {
    const NAME: &'static str = "Sum";
    type Arguments = SumArgs;
    type Response = Total;
    type Error = Infallible;
}

#[derive(Serialize, Deserialize)]
struct DivideArgs {
    numerator: i64,
    denominator: i64,
}

#[derive(Serialize, Deserialize)]
struct Quotient {
    result: f64,
}

command_errors! {
    enum DivideError {
        ZeroDivision => "ZERO_DIVISION",
    }
}

struct Divide;
impl Command for Divide {
    const NAME: &'static str = "Divide";
    type Arguments = DivideArgs;
    type Response = Quotient;
    type Error = DivideError;
}

/// Prints the bytes of each box in `wire`, one per line.
fn show(direction: &str, wire: &[u8]) {
    let mut rest = wire;
    while let Ok(Some((b, used))) = amp_core::codec::decode_one(rest, &Default::default()) {
        println!("{direction} {b:?}");
        rest = &rest[used..];
    }
}

fn main() {
    let locator = Locator::<()>::new()
        .responder(Sum, |_, args: SumArgs| async move {
            println!(
                "server: did a sum: {} + {} = {}",
                args.a,
                args.b,
                args.a + args.b
            );
            Ok::<_, Infallible>(Total {
                total: args.a + args.b,
            })
        })
        .responder(Divide, |_, args: DivideArgs| async move {
            if args.denominator == 0 {
                return Err(DivideError::ZeroDivision("division by zero".into()));
            }
            let result = args.numerator as f64 / args.denominator as f64;
            println!(
                "server: did a division: {} / {} = {result}",
                args.numerator, args.denominator
            );
            Ok(Quotient { result })
        });

    let mut client = Connection::default();
    let mut server = Connection::default();

    let sum = client
        .call_as::<Sum>(&SumArgs { a: 13, b: 81 })
        .expect("queue Sum")
        .expect("Sum wants an answer");
    let divide = client
        .call_as::<Divide>(&DivideArgs {
            numerator: 1234,
            denominator: 0,
        })
        .expect("queue Divide")
        .expect("Divide wants an answer");

    let request_bytes = client.take_transmit();
    show("client -> server", &request_bytes);
    server.handle_input(&request_bytes);

    // The server's loop: run each request's responder, queue its result.
    while let Some(event) = server.poll_event() {
        if let Event::Request(req) = event {
            let result = locator
                .dispatch((), &req.command, req.arguments)
                .now_or_never()
                .expect("these responders never wait");
            server
                .respond(req.tag.as_deref(), result)
                .expect("queue the answer");
        }
    }

    let answer_bytes = server.take_transmit();
    show("server -> client", &answer_bytes);
    client.handle_input(&answer_bytes);

    let mut total = None;
    let mut quotient = None;
    while let Some(event) = client.poll_event() {
        let Some((call, outcome)) = settles(event) else {
            continue;
        };
        if call == sum {
            total = Some(decode_outcome::<Sum>(outcome).expect("Sum answered").total);
        } else if call == divide {
            quotient = Some(match decode_outcome::<Divide>(outcome) {
                Ok(q) => q.result,
                Err(CallError::Declared(DivideError::ZeroDivision(_))) => f64::INFINITY,
                Err(e) => panic!("Divide failed: {e}"),
            });
        }
    }
    let (total, quotient) = (
        total.expect("Sum settled"),
        quotient.expect("Divide settled"),
    );
    println!("Done with math: {total} {quotient}");
    assert_eq!(total, 94);
    assert_eq!(quotient, f64::INFINITY);
}
