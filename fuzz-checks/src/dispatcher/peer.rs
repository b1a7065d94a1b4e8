//! The boxes and arguments the `dispatcher` check makes from its input:
//! what a peer could send, and what the application could.

use std::collections::BTreeSet;

use amp_core::{AmpBox, CallId};
use bytes::Bytes;

use super::model::Model;
use crate::input::Input;

/// A small box of 0 to 3 pairs, sometimes holding a reserved or over-long
/// key.
pub(super) fn arguments(input: &mut Input) -> AmpBox {
    let mut b = AmpBox::new();
    for _ in 0..input.below(4) {
        let key: Bytes = match input.below(8) {
            0 => Bytes::from_static(b"_ask"),
            1 => Bytes::from_static(b"_answer"),
            2 => Bytes::from(vec![b'k'; 256]),
            3 => Bytes::new(),
            4 => Bytes::from_static(b"a"),
            5 => Bytes::from_static(b"b"),
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

pub(super) fn command_name(input: &mut Input) -> Bytes {
    match input.below(4) {
        0 => Bytes::from_static(b"Sum"),
        1 => Bytes::from_static(b"Echo"),
        2 => Bytes::new(),
        _ => Bytes::copy_from_slice(input.bytes()),
    }
}

/// A well-formed box of the kind the input picks, as a peer could send it.
pub(super) fn peer_box(input: &mut Input, model: &mut Model) -> AmpBox {
    let mut b = AmpBox::new();
    let random_tag = |input: &mut Input| Bytes::copy_from_slice(input.bytes());
    match input.below(12) {
        // A request with a fresh tag.
        0 | 1 => {
            model.fresh += 1;
            b.insert("_ask", format!("p{}", model.fresh));
            b.insert("_command", command_name(input));
        }
        // A request reusing a tag we owe an answer for.
        2 => {
            let tag = model.pick_owed(input).unwrap_or_else(|| random_tag(input));
            b.insert("_ask", tag);
            b.insert("_command", command_name(input));
        }
        // A request without a tag.
        3 => {
            b.insert("_command", command_name(input));
        }
        // An answer to a call of ours.
        4 | 5 => {
            let tag = match model.pick_outstanding(input) {
                Some(id) => Bytes::from(CallId::new(id).tag()),
                None => random_tag(input),
            };
            b.insert("_answer", tag);
        }
        // An error answer, sometimes missing its code or description.
        6 => {
            let tag = match model.pick_outstanding(input) {
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
        // A late answer to a call we forgot.
        7 => {
            let i = input.u8() as usize;
            let tag = match nth(&model.forgotten, i) {
                Some(id) => Bytes::from(CallId::new(id).tag()),
                None => random_tag(input),
            };
            b.insert(if input.bool() { "_answer" } else { "_error" }, tag);
            b.insert("_error_code", "X");
            b.insert("_error_description", "y");
        }
        // An answer or error for any tag.
        8 => {
            b.insert(
                if input.bool() { "_answer" } else { "_error" },
                random_tag(input),
            );
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
        // A request carrying a protocol key among its arguments.
        _ => {
            model.fresh += 1;
            b.insert("_ask", format!("p{}", model.fresh));
            b.insert("_command", "Sum");
            b.insert("_error_code", "odd");
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
    b
}

pub(super) fn nth(set: &BTreeSet<u64>, i: usize) -> Option<u64> {
    set.iter().nth(i % set.len().max(1)).copied()
}
