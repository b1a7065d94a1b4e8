//! The routes, names and boxes the `router` check makes from its input:
//! what a peer could send, and what the application could.

use amp_core::{AmpBox, CallId};
use amp_router::{ROUTE, Route};
use bytes::Bytes;

use super::model::{Model, route_of};
use crate::input::Input;

/// A route to act on: the default one, "0" to "3", a bound one, any name.
pub(super) fn pick_route(input: &mut Input, model: &Model) -> Route {
    match input.below(8) {
        0 => Route::Default,
        n @ 1..=4 => Route::named((n - 1).to_string()),
        5 => {
            let i = input.u8() as usize;
            model.nth_route(i).unwrap_or(Route::Default)
        }
        6 => Route::Named(Bytes::copy_from_slice(input.bytes())),
        _ => Route::named("7"),
    }
}

/// A remote route name to connect to: the peer's default route, a short
/// name, any name, or one too long to write.
pub(super) fn pick_remote(input: &mut Input) -> Option<Bytes> {
    match input.below(8) {
        0 | 1 => None,
        2 | 3 => Some(Bytes::from_static(b"0")),
        4 => Some(Bytes::from_static(b"1")),
        5 => Some(Bytes::from_static(b"7")),
        6 => Some(Bytes::copy_from_slice(input.bytes())),
        _ => Some(Bytes::from(vec![b'r'; 65536])),
    }
}

/// A small box of 0 to 3 pairs, sometimes holding `_route`, another
/// reserved key or an over-long one.
pub(super) fn arguments(input: &mut Input) -> AmpBox {
    let mut b = AmpBox::new();
    for _ in 0..input.below(4) {
        let key: Bytes = match input.below(10) {
            0 => Bytes::from_static(b"_route"),
            1 => Bytes::from_static(b"_ask"),
            2 => Bytes::from_static(b"_answer"),
            3 => Bytes::from(vec![b'k'; 256]),
            4 => Bytes::new(),
            5 => Bytes::from_static(b"a"),
            6 => Bytes::from_static(b"b"),
            _ => Bytes::copy_from_slice(input.bytes()),
        };
        let value: Bytes = match input.below(16) {
            0 => Bytes::from(vec![b'v'; 65536]),
            _ => Bytes::copy_from_slice(input.bytes()),
        };
        b.insert(key, value);
    }
    b
}

pub(super) fn command_name(input: &mut Input) -> String {
    match input.below(5) {
        0 => "Sum".into(),
        1 => "Count".into(),
        2 => "NewRoute".into(),
        3 => String::new(),
        _ => String::from_utf8_lossy(input.bytes()).into_owned(),
    }
}
/// A well-formed box a peer could send, addressed (`_route`) to one of our
/// routes, the default route, or a name nobody bound.
pub(super) fn peer_box(input: &mut Input, model: &mut Model) -> AmpBox {
    let to: Option<Bytes> = match input.below(8) {
        0 | 1 => None,
        2 | 3 => Some(Bytes::from_static(b"0")),
        4 => Some(Bytes::from_static(b"1")),
        5 => Some(Bytes::from_static(b"2")),
        6 => {
            let i = input.u8() as usize;
            model.nth_route(i).and_then(|r| r.name().cloned())
        }
        _ => Some(Bytes::copy_from_slice(input.bytes())),
    };
    let target = route_of(&to);
    let random_tag = |input: &mut Input| Bytes::copy_from_slice(input.bytes());
    let mut b = AmpBox::new();
    let route_first = input.bool();
    if let (true, Some(name)) = (route_first, &to) {
        b.insert(ROUTE, name.clone());
    }
    match input.below(12) {
        // A request with a fresh tag.
        0 | 1 => {
            model.fresh += 1;
            b.insert("_ask", format!("p{}", model.fresh));
            b.insert("_command", command_name(input));
        }
        // A request reusing a tag the route owes an answer for.
        2 => {
            let tag = model
                .pick_owed(&target, input)
                .unwrap_or_else(|| random_tag(input));
            b.insert("_ask", tag);
            b.insert("_command", command_name(input));
        }
        // A request without a tag.
        3 => {
            b.insert("_command", command_name(input));
        }
        // An answer to a call of the route's.
        4 | 5 => {
            let tag = match model.pick_outstanding(&target, input) {
                Some(id) => Bytes::from(CallId::new(id).tag()),
                None => random_tag(input),
            };
            b.insert("_answer", tag);
        }
        // An error answer, sometimes missing its code or description.
        6 => {
            let tag = match model.pick_outstanding(&target, input) {
                Some(id) => Bytes::from(CallId::new(id).tag()),
                None => random_tag(input),
            };
            b.insert("_error", tag);
            let shape = input.below(4);
            if shape != 1 {
                b.insert("_error_code", "ZERO_DIVISION");
            }
            if shape != 2 {
                b.insert("_error_description", Bytes::copy_from_slice(input.bytes()));
            }
        }
        // A late answer to a call the route forgot.
        7 => {
            let i = input.u8() as usize;
            let forgotten = model.routes.get(&to).map(|r| &r.forgotten);
            let tag = match forgotten.and_then(|f| f.iter().nth(i % f.len().max(1))) {
                Some(id) => Bytes::from(CallId::new(*id).tag()),
                None => random_tag(input),
            };
            b.insert(if input.bool() { "_answer" } else { "_error" }, tag);
            b.insert("_error_code", "X");
            b.insert("_error_description", "y");
        }
        // An answer to a call of another route (on this one).
        8 => {
            let other = model.nth_route(input.u8() as usize);
            let tag = match other.and_then(|r| model.pick_outstanding(&r, input)) {
                Some(id) => Bytes::from(CallId::new(id).tag()),
                None => random_tag(input),
            };
            b.insert("_answer", tag);
        }
        // A box that is neither request nor answer.
        9 => {}
        // More than one of _answer, _error, _command.
        10 => {
            let all = ["_answer", "_error", "_command"];
            let skip = input.below(4);
            for (i, key) in all.iter().enumerate() {
                if i != skip {
                    b.insert(*key, "1");
                }
            }
        }
        // An answer or error for any tag.
        _ => {
            b.insert(
                if input.bool() { "_answer" } else { "_error" },
                random_tag(input),
            );
        }
    }
    for _ in 0..input.below(3) {
        let key = input.bytes();
        if !key.is_empty() && !b.contains_key(key) && !key.starts_with(b"_") {
            b.insert(
                Bytes::copy_from_slice(key),
                Bytes::copy_from_slice(input.bytes()),
            );
        }
    }
    if let (false, Some(name)) = (route_first, &to) {
        b.insert(ROUTE, name.clone());
    }
    b
}
