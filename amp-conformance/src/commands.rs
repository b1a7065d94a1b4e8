//! The commands the scenarios call, and the responders that answer them.

use std::convert::Infallible;
use std::sync::Arc;

use amp_core::{Command, Failure, command_errors};
use amp_engine::{Context, Responders};
use serde::{Deserialize, Serialize};

use crate::sync::{Counter, Gate};

/// `Sum`'s arguments.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct SumArgs {
    /// First term.
    pub a: i64,
    /// Second term.
    pub b: i64,
}

/// `Sum`'s answer (and `Fan`'s).
#[derive(Serialize, Deserialize, Debug)]
pub struct Total {
    /// The sum.
    pub total: i64,
}

/// Adds two integers.
pub struct Sum;
impl Command for Sum {
    const NAME: &'static str = "Sum";
    type Arguments = SumArgs;
    type Response = Total;
    type Error = Infallible;
}

/// `Divide`'s arguments.
#[derive(Serialize, Deserialize, Debug)]
pub struct DivideArgs {
    /// Dividend.
    pub numerator: i64,
    /// Divisor: 0 is `ZERO_DIVISION`, -1 the fatal `BROKEN`.
    pub denominator: i64,
}

/// `Divide`'s answer.
#[derive(Serialize, Deserialize, Debug)]
pub struct Quotient {
    /// The quotient.
    pub result: f64,
}

command_errors! {
    /// `Divide`'s declared errors.
    pub enum DivideError {
        /// Division by zero.
        ZeroDivision => "ZERO_DIVISION",
        /// Declared fatal: the connection closes after it.
        Broken => "BROKEN" (fatal),
    }
}

/// Divides, with a declared error and a declared fatal one.
pub struct Divide;
impl Command for Divide {
    const NAME: &'static str = "Divide";
    type Arguments = DivideArgs;
    type Response = Quotient;
    type Error = DivideError;
}

/// No arguments, no answer keys.
#[derive(Serialize, Deserialize, Debug)]
pub struct Empty {}

/// Answers once the scenario opens its gate.
pub struct Wait;
impl Command for Wait {
    const NAME: &'static str = "Wait";
    type Arguments = Empty;
    type Response = Empty;
    type Error = Infallible;
}

/// `Fan`'s arguments.
#[derive(Serialize, Deserialize, Debug)]
pub struct FanArgs {
    /// How many calls back.
    pub n: i64,
}

/// Calls `Sum` back on the caller `n` times at once and returns the sum of
/// the answers.
pub struct Fan;
impl Command for Fan {
    const NAME: &'static str = "Fan";
    type Arguments = FanArgs;
    type Response = Total;
    type Error = Infallible;
}

/// Fails in an undeclared way (or panics, in the scenario that says so).
pub struct Boom;
impl Command for Boom {
    const NAME: &'static str = "Boom";
    type Arguments = Empty;
    type Response = Empty;
    type Error = Infallible;
}

/// `Notify`'s arguments.
#[derive(Serialize, Deserialize, Debug)]
pub struct Text {
    /// Anything.
    pub text: String,
}

/// A command that wants no answer.
pub struct Notify;
impl Command for Notify {
    const NAME: &'static str = "Notify";
    const REQUIRES_ANSWER: bool = false;
    type Arguments = Text;
    type Response = Empty;
    type Error = Infallible;
}

/// Answers with its arguments.
pub struct Echo;
impl Command for Echo {
    const NAME: &'static str = "Echo";
    type Arguments = Text;
    type Response = Text;
    type Error = Infallible;
}

/// What a scenario sees of the responders of [`math`].
#[derive(Clone, Default)]
pub struct Probes {
    /// `Wait` responders wait for a permit here.
    pub gate: Arc<Gate>,
    /// Counts `Wait` responders that have started.
    pub entered: Arc<Counter>,
    /// Counts `Wait` responders that have been let through.
    pub passed: Arc<Counter>,
    /// Counts `Notify` responders run.
    pub notified: Arc<Counter>,
}

/// Responders for `Sum` only.
pub fn sum_responders() -> Responders {
    Responders::new().responder(Sum, |_, a: SumArgs| async move {
        Ok::<_, Infallible>(Total { total: a.a + a.b })
    })
}

/// Responders for every command of this module but `Boom`'s panicking
/// variant.
pub fn math(probes: &Probes) -> Responders {
    let waits = probes.clone();
    let notified = Arc::clone(&probes.notified);
    sum_responders()
        .responder(Divide, |_, a: DivideArgs| async move {
            match a.denominator {
                0 => Err(DivideError::ZeroDivision("division by zero".into())),
                -1 => Err(DivideError::Broken("fatal".into())),
                d => Ok(Quotient {
                    result: a.numerator as f64 / d as f64,
                }),
            }
        })
        .responder(Wait, move |_, _: Empty| {
            let probes = waits.clone();
            async move {
                probes.entered.up();
                probes.gate.pass().await;
                probes.passed.up();
                Ok::<_, Infallible>(Empty {})
            }
        })
        .responder(Fan, |ctx: Context, a: FanArgs| async move {
            let calls = (0..a.n).map(|i| {
                let peer = ctx.peer.clone();
                async move { peer.call::<Sum>(&SumArgs { a: i, b: 1 }).await }
            });
            let mut total = 0;
            for r in futures_util::future::join_all(calls).await {
                let answer = r.map_err(Failure::undeclared)?;
                total += answer
                    .ok_or_else(|| Failure::undeclared("no answer"))?
                    .total;
            }
            Ok::<_, Failure<Infallible>>(Total { total })
        })
        .responder(Boom, |_, _: Empty| async move {
            Err::<Empty, _>(Failure::<Infallible>::undeclared("boom"))
        })
        .responder(Notify, move |_, _: Text| {
            let notified = Arc::clone(&notified);
            async move {
                notified.up();
                Ok::<_, Infallible>(Empty {})
            }
        })
}

/// Responders for `Echo` only.
pub fn echo_responders() -> Responders {
    Responders::new().responder(Echo, |_, t: Text| async move { Ok::<_, Infallible>(t) })
}
