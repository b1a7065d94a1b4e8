//! Responders that answer without waiting (`sync_responder`, `on_sync`):
//! answered on a live connection beside async ones, their declared errors
//! sent with their codes, bad arguments and panics answered `UNKNOWN`; and
//! a responder that panics while making its future, answered `UNKNOWN` too.

mod common;

use std::convert::Infallible;

use amp_conformance::commands::{
    Divide, DivideArgs, DivideError, Echo, Empty, Quotient, Sum, SumArgs, Text, Total,
};
use amp_core::{CallError, Command};
use amp_engine::Responders;
use common::joined;
use futures_executor::LocalPool;
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};

/// A command whose sync responder panics.
struct Panics;
impl Command for Panics {
    const NAME: &'static str = "Panics";
    type Arguments = Empty;
    type Response = Empty;
    type Error = Infallible;
}

/// A command whose responder panics before it has made its future.
struct PanicsEarly;
impl Command for PanicsEarly {
    const NAME: &'static str = "PanicsEarly";
    type Arguments = Empty;
    type Response = Empty;
    type Error = Infallible;
}

#[derive(Serialize, Deserialize)]
struct Wrong {
    a: String,
}

/// `Sum` with arguments its responder cannot decode.
struct SumWrong;
impl Command for SumWrong {
    const NAME: &'static str = "Sum";
    type Arguments = Wrong;
    type Response = Total;
    type Error = Infallible;
}

fn server() -> Responders {
    Responders::new()
        .sync_responder(Sum, |_, a: SumArgs| {
            Ok::<_, Infallible>(Total { total: a.a + a.b })
        })
        .sync_responder(Divide, |_, a: DivideArgs| {
            if a.denominator == 0 {
                return Err(DivideError::ZeroDivision("divided by zero".into()));
            }
            Ok(Quotient {
                result: a.numerator as f64 / a.denominator as f64,
            })
        })
        .sync_responder(Panics, |_, _: Empty| -> Result<Empty, Infallible> {
            panic!("a responder's bug")
        })
        .responder(Echo, |_, t: Text| async move { Ok::<_, Infallible>(t) })
        .responder(
            PanicsEarly,
            |_, _: Empty| -> std::future::Ready<Result<Empty, Infallible>> {
                panic!("a bug before the future")
            },
        )
}

#[test]
fn sync_and_async_responders_answer_each_call_with_its_own_answer() {
    let mut pool = LocalPool::new();
    let (client, _server, _, _) = joined(&pool, usize::MAX, false, Responders::new(), server());
    pool.run_until(async {
        let sums = join_all((0..300).map(|i| {
            let client = client.clone();
            async move { client.call_as::<Sum>(&SumArgs { a: i, b: 1000 }).await }
        }));
        let echoes = join_all((0..300).map(|i| {
            let client = client.clone();
            async move {
                client
                    .call_as::<Echo>(&Text {
                        text: i.to_string(),
                    })
                    .await
            }
        }));
        let (sums, echoes) = futures_util::future::join(sums, echoes).await;
        for (i, (sum, echo)) in sums.into_iter().zip(echoes).enumerate() {
            assert_eq!(sum.unwrap().total, i as i128 + 1000);
            assert_eq!(echo.unwrap().text, i.to_string());
        }
        let half = client
            .call_as::<Divide>(&DivideArgs {
                numerator: 1,
                denominator: 2,
            })
            .await
            .unwrap();
        assert_eq!(half.result, 0.5);
        // A declared error goes with its code, and the connection stays.
        match client
            .call_as::<Divide>(&DivideArgs {
                numerator: 1,
                denominator: 0,
            })
            .await
        {
            Err(CallError::Declared(DivideError::ZeroDivision(_))) => {}
            other => panic!("expected ZERO_DIVISION, got {other:?}"),
        }
        assert_eq!(
            client
                .call_as::<Sum>(&SumArgs { a: 2, b: 3 })
                .await
                .unwrap()
                .total,
            5
        );
    });
}

/// Calls `C` with `args` on a connection to [`server`]: the answer is the
/// error `UNKNOWN`.
fn answered_unknown<C: Command>(args: C::Arguments) {
    let mut pool = LocalPool::new();
    let (client, _server, _, _) = joined(&pool, usize::MAX, false, Responders::new(), server());
    pool.run_until(async {
        match client.call_as::<C>(&args).await {
            Err(CallError::Remote(e)) => assert_eq!(e.code, "UNKNOWN"),
            Err(other) => panic!("expected UNKNOWN, got {other:?}"),
            Ok(_) => panic!("expected UNKNOWN, got an answer"),
        }
    });
}

#[test]
fn a_sync_responder_that_panics_is_answered_unknown() {
    answered_unknown::<Panics>(Empty {});
}

#[test]
fn a_responder_that_panics_before_its_future_is_answered_unknown() {
    answered_unknown::<PanicsEarly>(Empty {});
}

#[test]
fn arguments_a_sync_responder_cannot_decode_are_answered_unknown() {
    answered_unknown::<SumWrong>(Wrong { a: "x".into() });
}
