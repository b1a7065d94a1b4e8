//! The commands of epsilon's amprouter guide, shared by its two examples.

use amp_core::Command;
use serde::{Deserialize, Serialize};

/// `NewRoute`'s argument and response: a route name.
#[derive(Serialize, Deserialize, Debug)]
pub struct Name {
    pub name: String,
}

/// `NewRoute(name: Unicode) -> name: Unicode`: the caller names its route;
/// the server binds a new route connected to it and answers with the new
/// route's name.
pub struct NewRoute;
impl Command for NewRoute {
    const NAME: &'static str = "NewRoute";
    type Arguments = Name;
    type Response = Name;
    type Error = std::convert::Infallible;
}

/// `Count`'s (empty) arguments.
#[derive(Serialize, Deserialize, Debug)]
pub struct Nothing {}

/// `Count`'s response.
#[derive(Serialize, Deserialize, Debug)]
pub struct Value {
    pub value: i64,
}

/// `Count() -> value: Integer`: counts, per route, from 1.
pub struct Count;
impl Command for Count {
    const NAME: &'static str = "Count";
    type Arguments = Nothing;
    type Response = Value;
    type Error = std::convert::Infallible;
}

/// The address from the first argument, or a default.
pub fn address() -> String {
    std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7805".to_owned())
}
