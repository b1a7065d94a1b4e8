//! Every command the suites call, defined once: the interoperability
//! catalogue's arithmetic and errors (`interop/COMMANDS.md`, the ones
//! Twisted's peers in `interop/` answer too), the conformance scenarios'
//! own (`Wait`, `Fan`, `Echo`), and the hostile suite's (`Slow`, `Check`,
//! `Quit`); and the responders the scenarios serve them with.
//!
//! The rest of the catalogue (the echo commands of every argument type,
//! `Storm`, `Die`, ...) and its responders, which behave as the Twisted
//! peers do, are in [`crate::catalogue`].

use std::convert::Infallible;
use std::sync::Arc;

use amp_core::values::{DateTime, Decimal};
use amp_core::{Command, Failure, command_errors};
use amp_engine::{Context, Responders};
use serde::{Deserialize, Serialize};

use crate::sync::{Counter, Gate};

/// A request or response without keys.
#[derive(Serialize, Deserialize, Debug, Default, Clone, PartialEq)]
pub struct Empty {}

// -- Arithmetic ---------------------------------------------------------------

/// `Sum`'s arguments. Integers are `i128`, as Twisted's `Integer` is a
/// Python int: the catalogue's largest values are around 10**30
/// (`echo_cases.json`, the `sum` and `storm` scenarios, the recorded
/// conversations).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SumArgs {
    /// First term.
    pub a: i128,
    /// Second term.
    pub b: i128,
}

/// `Sum`'s answer (and `Fan`'s and `Storm`'s).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Total {
    /// The sum.
    pub total: i128,
}

/// `Sum(a: Integer, b: Integer) -> total: Integer`.
pub struct Sum;
impl Command for Sum {
    const NAME: &'static str = "Sum";
    type Arguments = SumArgs;
    type Response = Total;
    type Error = Infallible;
}

/// `Divide`'s arguments.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct DivideArgs {
    /// Dividend.
    pub numerator: i128,
    /// Divisor: 0 is `ZERO_DIVISION`; for [`math`]'s responder, -1 is the
    /// fatal `BROKEN`.
    pub denominator: i128,
}

/// `Divide`'s answer.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Quotient {
    /// The quotient.
    pub result: f64,
}

command_errors! {
    /// `Divide`'s declared errors.
    pub enum DivideError {
        /// Division by zero (Python's `ZeroDivisionError`).
        ZeroDivision => "ZERO_DIVISION",
        /// Declared fatal: the connection closes after it. Only [`math`]'s
        /// responder sends it; Twisted's never does.
        Broken => "BROKEN" (fatal),
    }
}

/// `Divide(numerator: Integer, denominator: Integer) -> result: Float`,
/// declaring `ZERO_DIVISION` (and the fatal `BROKEN`).
pub struct Divide;
impl Command for Divide {
    const NAME: &'static str = "Divide";
    type Arguments = DivideArgs;
    type Response = Quotient;
    type Error = DivideError;
}

// -- Errors -------------------------------------------------------------------

command_errors! {
    /// `Fatal`'s declared errors.
    pub enum FatalError {
        /// Python's `KeyError('x')`, declared fatal.
        Key => "FATAL_KEY" (fatal),
    }
}

/// `Fatal`: always fails with the fatal `FATAL_KEY`.
pub struct Fatal;
impl Command for Fatal {
    const NAME: &'static str = "Fatal";
    type Arguments = Empty;
    type Response = Empty;
    type Error = FatalError;
}

/// `Boom`: always fails in an undeclared way (`UNKNOWN`, fatal); or panics,
/// in the scenario that says so.
pub struct Boom;
impl Command for Boom {
    const NAME: &'static str = "Boom";
    type Arguments = Empty;
    type Response = Empty;
    type Error = Infallible;
}

// -- Text ---------------------------------------------------------------------

/// `Notify`'s, `NotifyFail`'s and `Echo`'s arguments.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Text {
    /// Anything.
    pub text: String,
}

/// `Notify(text: Unicode)`, requiresAnswer False: a command that wants no
/// answer.
pub struct Notify;
impl Command for Notify {
    const NAME: &'static str = "Notify";
    const REQUIRES_ANSWER: bool = false;
    type Arguments = Text;
    type Response = Empty;
    type Error = Infallible;
}

/// `Echo(text: Unicode) -> text: Unicode`: answers with its arguments.
pub struct Echo;
impl Command for Echo {
    const NAME: &'static str = "Echo";
    type Arguments = Text;
    type Response = Text;
    type Error = Infallible;
}

// -- Waiting ------------------------------------------------------------------

/// `Hang`: never answers.
pub struct Hang;
impl Command for Hang {
    const NAME: &'static str = "Hang";
    type Arguments = Empty;
    type Response = Empty;
    type Error = Infallible;
}

/// `Wait`: answers once the scenario opens its gate.
pub struct Wait;
impl Command for Wait {
    const NAME: &'static str = "Wait";
    type Arguments = Empty;
    type Response = Empty;
    type Error = Infallible;
}

/// `Slow`'s and `Quit`'s arguments.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SlowArgs {
    /// Milliseconds.
    pub ms: u64,
}

/// `Slow(ms: Integer)`: answers after `ms` milliseconds.
pub struct Slow;
impl Command for Slow {
    const NAME: &'static str = "Slow";
    type Arguments = SlowArgs;
    type Response = Empty;
    type Error = Infallible;
}

/// `Quit(ms: Integer)`: closes its own connection (after `ms`
/// milliseconds), then returns its result, which has nowhere to go.
pub struct Quit;
impl Command for Quit {
    const NAME: &'static str = "Quit";
    type Arguments = SlowArgs;
    type Response = Empty;
    type Error = Infallible;
}

// -- Calling back -------------------------------------------------------------

/// `Fan`'s arguments.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct FanArgs {
    /// How many calls back.
    pub n: i64,
}

/// `Fan(n: Integer) -> total: Integer`: calls `Sum` back on the caller `n`
/// times at once and returns the sum of the answers.
pub struct Fan;
impl Command for Fan {
    const NAME: &'static str = "Fan";
    type Arguments = FanArgs;
    type Response = Total;
    type Error = Infallible;
}

// -- Argument types -----------------------------------------------------------

/// `Check`'s arguments: one optional argument of each type the hostile
/// argument cases break.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct CheckArgs {
    /// A Boolean.
    pub flag: Option<bool>,
    /// A DateTime.
    pub when: Option<DateTime>,
    /// A Decimal.
    pub amount: Option<Decimal>,
    /// A ListOf(Integer).
    pub counts: Option<Vec<i64>>,
}

/// `Check(flag, when, amount, counts, all optional)`: answers nothing but
/// that its arguments decoded.
pub struct Check;
impl Command for Check {
    const NAME: &'static str = "Check";
    type Arguments = CheckArgs;
    type Response = Empty;
    type Error = Infallible;
}

// -- Responders ---------------------------------------------------------------

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

/// `a + b`, or an undeclared failure where the sum leaves `i128` (Python's
/// ints have no size limit; past `i128` we cannot follow).
pub fn add(args: &SumArgs) -> Result<Total, Failure<Infallible>> {
    match args.a.checked_add(args.b) {
        Some(total) => Ok(Total { total }),
        None => Err(Failure::undeclared("Sum overflows i128")),
    }
}

/// Responders for `Sum` only.
pub fn sum_responders() -> Responders {
    Responders::new().responder(Sum, |_, a: SumArgs| async move { add(&a) })
}

/// Responders for `Sum`, `Divide` (`BROKEN` for -1), `Wait`, `Fan`, `Boom`
/// (an undeclared failure) and `Notify`.
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
                async move { peer.call_as::<Sum>(&SumArgs { a: i.into(), b: 1 }).await }
            });
            let mut total = 0;
            for r in futures_util::future::join_all(calls).await {
                let answer = r.map_err(Failure::undeclared)?;
                total += answer.total;
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
