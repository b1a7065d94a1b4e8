//! What a box is in a conversation: a request, an answer, an error answer,
//! or a box of no kind AMP knows (the dispatcher drops those); and the
//! route it travels on, if any.

use amp_core::AmpBox;
use amp_core::router::ROUTE;
use amp_core::wire::{ANSWER, ASK, COMMAND, ERROR, ERROR_CODE, ERROR_DESCRIPTION};
use serde_json::{Map, Value};

use crate::output::{json_pair, shown};

/// The kind of a box, read from its AMP keys.
pub enum Kind<'a> {
    /// `_ask`: a request expecting an answer, or (without `_ask`, with
    /// `_command`) one expecting none.
    Ask {
        /// `_command`, if present.
        command: Option<&'a [u8]>,
        /// `_ask`, if present.
        tag: Option<&'a [u8]>,
    },
    /// `_answer`: the answer to the request with this tag.
    Answer {
        /// The `_answer` tag.
        tag: &'a [u8],
    },
    /// `_error`: an error answer to the request with this tag.
    Error {
        /// The `_error` tag.
        tag: &'a [u8],
        /// `_error_code`, if present.
        code: Option<&'a [u8]>,
        /// `_error_description`, if present.
        description: Option<&'a [u8]>,
    },
    /// None of AMP's keys.
    Raw,
}

impl<'a> Kind<'a> {
    /// The kind of `b`.
    pub fn of(b: &'a AmpBox) -> Kind<'a> {
        if let Some(tag) = b.get(ANSWER) {
            Kind::Answer { tag }
        } else if let Some(tag) = b.get(ERROR) {
            Kind::Error {
                tag,
                code: b.get(ERROR_CODE),
                description: b.get(ERROR_DESCRIPTION),
            }
        } else if b.contains_key(ASK) || b.contains_key(COMMAND) {
            Kind::Ask {
                command: b.get(COMMAND),
                tag: b.get(ASK),
            }
        } else {
            Kind::Raw
        }
    }

    /// The kind's name: `ask`, `answer`, `error` or `box`.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Ask { .. } => "ask",
            Kind::Answer { .. } => "answer",
            Kind::Error { .. } => "error",
            Kind::Raw => "box",
        }
    }

    /// A one-line summary: `ask Sum tag=1`, `answer tag=1`,
    /// `error tag=1 code=UNHANDLED description=...`, `box`; a request
    /// without `_ask` expects no answer.
    pub fn summary(&self) -> String {
        let opt = |v: Option<&[u8]>| v.map_or_else(|| "(none)".to_owned(), shown);
        match self {
            Kind::Ask { command, tag } => match tag {
                Some(tag) => format!("ask {} tag={}", opt(*command), shown(tag)),
                None => format!("ask {} (no answer wanted)", opt(*command)),
            },
            Kind::Answer { tag } => format!("answer tag={}", shown(tag)),
            Kind::Error {
                tag,
                code,
                description,
            } => format!(
                "error tag={} code={} description={}",
                shown(tag),
                opt(*code),
                opt(*description)
            ),
            Kind::Raw => "box".to_owned(),
        }
    }

    /// The kind's fields in JSON, added to `object`.
    pub fn add_json(&self, object: &mut Map<String, Value>) {
        let opt = |v: Option<&[u8]>| v.map_or(Value::Null, |v| Value::String(shown(v)));
        object.insert("kind".into(), self.name().into());
        match self {
            Kind::Ask { command, tag } => {
                object.insert("command".into(), opt(*command));
                object.insert("tag".into(), opt(*tag));
            }
            Kind::Answer { tag } => {
                object.insert("tag".into(), shown(tag).into());
            }
            Kind::Error {
                tag,
                code,
                description,
            } => {
                object.insert("tag".into(), shown(tag).into());
                object.insert("code".into(), opt(*code));
                object.insert("description".into(), opt(*description));
            }
            Kind::Raw => {}
        }
    }
}

/// The box's `_route`, if it has one.
pub fn route(b: &AmpBox) -> Option<&[u8]> {
    b.get(ROUTE)
}

/// Every pair of `b` in JSON (see [`json_pair`]), in wire order.
pub fn json_pairs(b: &AmpBox) -> Value {
    Value::Array(b.iter().map(|(k, v)| json_pair(k, v)).collect())
}
