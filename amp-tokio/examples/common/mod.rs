//! The commands of Twisted's AMP howto (`ampserver.py` / `ampclient.py`),
//! shared by the examples.

use amp_core::{Command, command_errors};
use serde::{Deserialize, Serialize};

/// `Sum`'s arguments.
#[derive(Serialize, Deserialize, Debug)]
pub struct SumArgs {
    pub a: i64,
    pub b: i64,
}

/// `Sum`'s response.
#[derive(Serialize, Deserialize, Debug)]
pub struct Total {
    pub total: i64,
}

/// `Sum(a: Integer, b: Integer) -> total: Integer`.
pub struct Sum;
impl Command for Sum {
    const NAME: &'static str = "Sum";
    type Arguments = SumArgs;
    type Response = Total;
    type Error = std::convert::Infallible;
}

/// `Divide`'s arguments.
#[derive(Serialize, Deserialize, Debug)]
pub struct DivideArgs {
    pub numerator: i64,
    pub denominator: i64,
}

/// `Divide`'s response.
#[derive(Serialize, Deserialize, Debug)]
pub struct Quotient {
    pub result: f64,
}

command_errors! {
    /// `Divide`'s declared errors.
    pub enum DivideError {
        /// Python's `ZeroDivisionError`.
        ZeroDivision => "ZERO_DIVISION",
    }
}

/// `Divide(numerator: Integer, denominator: Integer) -> result: Float`,
/// declaring `ZERO_DIVISION`.
pub struct Divide;
impl Command for Divide {
    const NAME: &'static str = "Divide";
    type Arguments = DivideArgs;
    type Response = Quotient;
    type Error = DivideError;
}

/// The address from the first argument, or Twisted's example default.
pub fn address() -> String {
    std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:1234".to_owned())
}

/// Formats a float as Python's `str()` does, so the output matches the
/// Python example's.
pub fn py_float(x: f64) -> String {
    let wire = amp_core::values::encode_value(&x).expect("floats always encode");
    String::from_utf8(wire.to_vec()).expect("float text is ASCII")
}
