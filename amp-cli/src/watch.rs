//! What `amp proxy` sees, without any I/O: the bytes each side sent,
//! decoded into boxes with amp-core's [`Decoder`], each answer paired with
//! the request it answers (its command and the call's latency), values
//! decoded by a schema when one is given. Bytes that do not decode are
//! reported once per direction, and that direction is not decoded further
//! (its bytes are still forwarded by the proxy, which never depends on
//! this).
//!
//! Memory is bounded per connection: the decoder holds at most one box (its
//! limits), at most [`MAX_PENDING`] requests wait for their answer in each
//! direction, and at most [`MAX_ROUTES`] route pairs are remembered.
//!
//! ```
//! use amp::watch::{Dir, Watch};
//! let mut watch = Watch::new(None, amp_core::Limits::default());
//! let ask = amp_core::AmpBox::from_pairs([("_ask", "1"), ("_command", "Sum"), ("a", "1")]);
//! let answer = amp_core::AmpBox::from_pairs([("_answer", "1"), ("total", "3")]);
//! watch.feed(Dir::ToServer, &ask.to_bytes().unwrap(), 0);
//! let seen = watch.feed(Dir::ToClient, &answer.to_bytes().unwrap(), 1500);
//! assert_eq!(seen[0].line(), "S->C answer Sum tag=1 1.500ms total=3");
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use amp_core::{AmpBox, CodecError, Decoder, Limits};
use bytes::Bytes;
use serde_json::{Map, Value as Json, json};

use crate::boxes::{Kind, route};
use crate::output::{Painter, shown};
use crate::schema::{CommandSchema, Schema};
use crate::typed::{Entry, clip, decode_box};

/// How many requests may wait for their answer in one direction; past
/// that, new requests are not remembered (their answers show no command).
pub const MAX_PENDING: usize = 4096;
/// How many (request route, answer route) pairs are remembered.
pub const MAX_ROUTES: usize = 1024;
/// How many characters of a key or value a line shows.
pub const MAX_SHOWN: usize = 100;
/// How many bytes of unparseable traffic a line shows.
const PREVIEW: usize = 32;

/// Which way bytes travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    /// From the client (the side that connected to the proxy) to the
    /// server (upstream).
    ToServer,
    /// From the server to the client.
    ToClient,
}

impl Dir {
    /// `C->S` or `S->C`.
    pub fn arrow(self) -> &'static str {
        match self {
            Dir::ToServer => "C->S",
            Dir::ToClient => "S->C",
        }
    }

    fn index(self) -> usize {
        match self {
            Dir::ToServer => 0,
            Dir::ToClient => 1,
        }
    }

    fn other(self) -> Dir {
        match self {
            Dir::ToServer => Dir::ToClient,
            Dir::ToClient => Dir::ToServer,
        }
    }
}

/// A request waiting for its answer.
#[derive(Clone, Debug)]
struct Pending {
    tag: Bytes,
    route: Option<Bytes>,
    command: Bytes,
    at_micros: u64,
}

/// One direction's decoding.
struct Side {
    decoder: Decoder,
    /// Set once the bytes stopped decoding: nothing more is decoded.
    broken: bool,
    /// Requests sent this way, waiting for an answer the other way, oldest
    /// first.
    pending: VecDeque<Pending>,
}

/// What was seen.
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    /// A box.
    Box(Boxed),
    /// Bytes that do not decode as AMP, at `offset` in the direction's
    /// stream: `message` says why, `preview` shows the first bytes.
    Unparseable {
        /// The direction.
        dir: Dir,
        /// The offset of the box that failed.
        offset: u64,
        /// Why.
        message: String,
        /// Up to 32 bytes from there, as Python's `repr`.
        preview: String,
    },
    /// The direction ended inside a box.
    Partial {
        /// The direction.
        dir: Dir,
        /// Where the box started.
        offset: u64,
        /// How many of its bytes came.
        bytes: usize,
    },
    /// Requests that got no answer before the connection ended.
    Unanswered {
        /// The direction the requests went.
        dir: Dir,
        /// Their commands and tags.
        calls: Vec<(String, String)>,
    },
}

/// A box seen, with what is known about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Boxed {
    /// The direction.
    pub dir: Dir,
    /// Its offset in the direction's stream.
    pub offset: u64,
    /// Its length in bytes.
    pub length: u64,
    /// `ask`, `answer`, `error` or `box`.
    pub kind: &'static str,
    /// The command: its own for a request, the request's for an answer
    /// (when paired).
    pub command: Option<String>,
    /// `_ask`, `_answer` or `_error`.
    pub tag: Option<String>,
    /// `_route`.
    pub route: Option<String>,
    /// For an answer or error paired with its request: the time between
    /// them, in microseconds.
    pub latency_micros: Option<u64>,
    /// For an error: its code and description.
    pub error: Option<(String, String)>,
    /// Whether the request wants no answer (no `_ask`).
    pub no_answer: bool,
    /// The values (AMP's own keys left out), decoded by the schema when it
    /// declares the command.
    pub entries: Vec<Entry>,
}

/// Both directions of one connection.
pub struct Watch {
    schema: Option<Arc<Schema>>,
    sides: [Side; 2],
    /// Learned pairs: a request's route -> the route its answers come on.
    routes: HashMap<Bytes, Bytes>,
}

impl Watch {
    /// A connection's watch, decoding under `limits`.
    pub fn new(schema: Option<Arc<Schema>>, limits: Limits) -> Watch {
        let side = || Side {
            decoder: Decoder::new(limits),
            broken: false,
            pending: VecDeque::new(),
        };
        Watch {
            schema,
            sides: [side(), side()],
            routes: HashMap::new(),
        }
    }

    /// Whether `dir` stopped decoding.
    pub fn is_broken(&self, dir: Dir) -> bool {
        self.sides[dir.index()].broken
    }

    /// How many requests sent in `dir` wait for their answer.
    pub fn pending(&self, dir: Dir) -> usize {
        self.sides[dir.index()].pending.len()
    }

    /// How many route pairs are remembered.
    pub fn routes(&self) -> usize {
        self.routes.len()
    }

    /// Bytes sent in `dir`, at `now_micros` (any clock, in microseconds):
    /// what they complete.
    pub fn feed(&mut self, dir: Dir, bytes: &[u8], now_micros: u64) -> Vec<Seen> {
        let mut seen = Vec::new();
        let side = &mut self.sides[dir.index()];
        if side.broken {
            return seen;
        }
        if let Err(e) = side.decoder.feed(bytes) {
            self.break_side(dir, &e, &mut seen);
            return seen;
        }
        loop {
            let side = &mut self.sides[dir.index()];
            let offset = side.decoder.consumed();
            match side.decoder.decode() {
                Ok(Some(b)) => {
                    let length = side.decoder.consumed() - offset;
                    let boxed = self.boxed(dir, &b, offset, length, now_micros);
                    seen.push(Seen::Box(boxed));
                }
                Ok(None) => break,
                Err(e) => {
                    self.break_side(dir, &e, &mut seen);
                    break;
                }
            }
        }
        seen
    }

    /// `dir` ended (its sender closed): a partial box, if it ended in one,
    /// and the requests sent that way that got no answer. Once both
    /// directions ended, every request still waiting is reported.
    pub fn end(&mut self, dir: Dir) -> Vec<Seen> {
        let mut seen = Vec::new();
        let side = &mut self.sides[dir.index()];
        if !side.broken {
            let offset = side.decoder.consumed();
            if let Err(CodecError::Truncated { buffered }) = side.decoder.finish() {
                seen.push(Seen::Partial {
                    dir,
                    offset,
                    bytes: buffered,
                });
            }
            side.broken = true;
            // Nothing more is decoded this way: let go of the buffer.
            drop(side.decoder.take_remaining());
        }
        // The answers to requests sent the other way would have come this
        // way: they never will.
        let other = &mut self.sides[dir.other().index()];
        if !other.pending.is_empty() {
            let calls = other
                .pending
                .drain(..)
                .map(|p| (shown(&p.command), shown(&p.tag)))
                .collect();
            seen.push(Seen::Unanswered {
                dir: dir.other(),
                calls,
            });
        }
        seen
    }

    fn break_side(&mut self, dir: Dir, e: &CodecError, seen: &mut Vec<Seen>) {
        let side = &mut self.sides[dir.index()];
        side.broken = true;
        let offset = side.decoder.consumed();
        let rest = side.decoder.take_remaining();
        let preview = &rest[..rest.len().min(PREVIEW)];
        let mut preview = crate::output::repr(preview);
        if rest.len() > PREVIEW {
            preview.push_str("...");
        }
        seen.push(Seen::Unparseable {
            dir,
            offset,
            message: e.to_string(),
            preview,
        });
    }

    fn command(&self, name: Option<&[u8]>) -> Option<&CommandSchema> {
        self.schema.as_ref()?.command_bytes(name?)
    }

    fn boxed(&mut self, dir: Dir, b: &AmpBox, offset: u64, length: u64, now: u64) -> Boxed {
        let kind = Kind::of(b);
        let route_bytes = route(b).map(Bytes::copy_from_slice);
        let mut boxed = Boxed {
            dir,
            offset,
            length,
            kind: kind.name(),
            command: None,
            tag: None,
            route: route_bytes.as_deref().map(shown),
            latency_micros: None,
            error: None,
            no_answer: false,
            entries: Vec::new(),
        };
        match kind {
            Kind::Ask { command, tag } => {
                boxed.command = command.map(shown);
                boxed.tag = tag.map(shown);
                boxed.no_answer = tag.is_none();
                boxed.entries = match self.command(command) {
                    Some(c) => decode_box(&c.arguments, b),
                    None => raw_entries(b),
                };
                if let (Some(tag), Some(command)) = (tag, command) {
                    let pending = &mut self.sides[dir.index()].pending;
                    if pending.len() < MAX_PENDING {
                        pending.push_back(Pending {
                            tag: Bytes::copy_from_slice(tag),
                            route: route_bytes,
                            command: Bytes::copy_from_slice(command),
                            at_micros: now,
                        });
                    }
                }
            }
            Kind::Answer { tag } | Kind::Error { tag, .. } => {
                boxed.tag = Some(shown(tag));
                let request = self.pair(dir.other(), tag, route_bytes.as_ref());
                if let Some(request) = &request {
                    boxed.command = Some(shown(&request.command));
                    boxed.latency_micros = Some(now.saturating_sub(request.at_micros));
                }
                if let Kind::Error {
                    code, description, ..
                } = kind
                {
                    boxed.error = Some((
                        code.map(shown).unwrap_or_default(),
                        description.map(shown).unwrap_or_default(),
                    ));
                    boxed.entries = raw_entries(b)
                        .into_iter()
                        .filter(|e| !e.key.starts_with("_error"))
                        .collect();
                } else {
                    let command = request.as_ref().map(|r| &r.command[..]);
                    boxed.entries = match self.command(command) {
                        Some(c) => decode_box(&c.response, b),
                        None => raw_entries(b),
                    };
                }
            }
            Kind::Raw => boxed.entries = raw_entries(b),
        }
        boxed
    }

    /// The request sent in `dir` that an answer with `tag` on `route`
    /// answers: one with that tag whose route is known to be answered on
    /// `route`, else the oldest with that tag.
    fn pair(&mut self, dir: Dir, tag: &[u8], route: Option<&Bytes>) -> Option<Pending> {
        let pending = &mut self.sides[dir.index()].pending;
        let matches = |p: &Pending| {
            p.tag == tag
                && match (&p.route, route) {
                    (None, None) => true,
                    (Some(asked), Some(answered)) => {
                        self.routes.get(asked).is_none_or(|r| r == answered)
                    }
                    _ => false,
                }
        };
        let index = pending.iter().position(matches)?;
        let request = pending.remove(index)?;
        if let (Some(asked), Some(answered)) = (&request.route, route)
            && (self.routes.len() < MAX_ROUTES || self.routes.contains_key(asked))
        {
            self.routes.insert(asked.clone(), answered.clone());
        }
        Some(request)
    }
}

/// The box's keys other than AMP's own, as bytes.
fn raw_entries(b: &AmpBox) -> Vec<Entry> {
    decode_box(&[], b)
}

impl Seen {
    /// The line shown for it, without colours.
    pub fn line(&self) -> String {
        self.paint(&Painter::when(false))
    }

    /// The line shown for it (without the time and connection), in colour
    /// when `painter` says so.
    pub fn paint(&self, p: &Painter) -> String {
        match self {
            Seen::Box(b) => {
                let mut line = format!("{} ", b.dir.arrow());
                let kind = match b.kind {
                    "ask" => p.cyan("ask"),
                    "answer" => p.green("answer"),
                    "error" => p.red("error"),
                    other => p.yellow(other),
                };
                line.push_str(&kind);
                if b.kind != "box" {
                    let command = b.command.as_deref().unwrap_or("?");
                    line.push(' ');
                    line.push_str(&p.bold(&clip(command, MAX_SHOWN)));
                }
                if let Some(tag) = &b.tag {
                    line.push_str(&format!(" tag={}", clip(tag, MAX_SHOWN)));
                }
                if b.no_answer {
                    line.push_str(" (no answer wanted)");
                }
                if let Some(route) = &b.route {
                    line.push_str(&format!(" route={}", clip(route, MAX_SHOWN)));
                }
                if let Some(micros) = b.latency_micros {
                    line.push_str(&format!(
                        " {}",
                        p.dim(&format!("{:.3}ms", micros as f64 / 1000.0))
                    ));
                }
                if let Some((code, description)) = &b.error {
                    line.push_str(&format!(
                        " {}: {}",
                        p.red(&clip(code, MAX_SHOWN)),
                        clip(description, MAX_SHOWN)
                    ));
                }
                for entry in &b.entries {
                    line.push(' ');
                    line.push_str(&entry.inline(MAX_SHOWN));
                }
                line
            }
            Seen::Unparseable {
                dir,
                offset,
                message,
                preview,
            } => format!(
                "{} {} at byte {offset}: {message}: {preview} (forwarded as is; this direction is not decoded further)",
                dir.arrow(),
                p.yellow("unparseable"),
            ),
            Seen::Partial { dir, offset, bytes } => format!(
                "{} {} at byte {offset}: the stream ended {bytes} bytes into a box",
                dir.arrow(),
                p.yellow("partial"),
            ),
            Seen::Unanswered { dir, calls } => {
                let mut shown: Vec<String> = calls
                    .iter()
                    .take(10)
                    .map(|(c, t)| format!("{} tag={}", clip(c, MAX_SHOWN), clip(t, MAX_SHOWN)))
                    .collect();
                if calls.len() > 10 {
                    shown.push(format!("and {} more", calls.len() - 10));
                }
                format!(
                    "{} {} {}",
                    dir.arrow(),
                    p.yellow("unanswered"),
                    shown.join(", ")
                )
            }
        }
    }

    /// The JSON object for it (without the time and connection).
    pub fn to_json(&self) -> Json {
        match self {
            Seen::Box(b) => {
                let mut o = Map::new();
                o.insert("dir".into(), b.dir.arrow().into());
                o.insert("offset".into(), b.offset.into());
                o.insert("length".into(), b.length.into());
                o.insert("kind".into(), b.kind.into());
                o.insert("command".into(), b.command.clone().into());
                o.insert("tag".into(), b.tag.clone().into());
                o.insert("route".into(), b.route.clone().into());
                o.insert(
                    "latency_ms".into(),
                    b.latency_micros.map(|m| m as f64 / 1000.0).into(),
                );
                if let Some((code, description)) = &b.error {
                    o.insert("code".into(), code.clone().into());
                    o.insert("description".into(), description.clone().into());
                }
                if b.kind == "ask" {
                    o.insert("answer_wanted".into(), (!b.no_answer).into());
                }
                let values: Map<String, Json> = b
                    .entries
                    .iter()
                    .map(|e| (e.key.clone(), e.to_json()))
                    .collect();
                o.insert("values".into(), Json::Object(values));
                Json::Object(o)
            }
            Seen::Unparseable {
                dir,
                offset,
                message,
                preview,
            } => json!({
                "dir": dir.arrow(), "kind": "unparseable", "offset": offset,
                "message": message, "preview": preview,
            }),
            Seen::Partial { dir, offset, bytes } => json!({
                "dir": dir.arrow(), "kind": "partial", "offset": offset, "bytes": bytes,
            }),
            Seen::Unanswered { dir, calls } => json!({
                "dir": dir.arrow(), "kind": "unanswered",
                "calls": calls.iter().map(|(c, t)| json!({"command": c, "tag": t})).collect::<Vec<_>>(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(pairs: &[(&str, &str)]) -> Bytes {
        AmpBox::from_pairs(pairs.iter().map(|(k, v)| {
            (
                Bytes::copy_from_slice(k.as_bytes()),
                Bytes::copy_from_slice(v.as_bytes()),
            )
        }))
        .to_bytes()
        .unwrap()
    }

    fn lines(seen: &[Seen]) -> Vec<String> {
        seen.iter().map(Seen::line).collect()
    }

    fn schema() -> Arc<Schema> {
        Arc::new(
            Schema::parse(
                "[commands.Sum]\narguments = { a = \"Integer\", b = \"Integer\" }\nresponse = { total = \"Integer\" }\n\
                 [commands.Echo]\narguments = { xs = \"ListOf(Float)\" }\nresponse = { xs = \"ListOf(Float)\" }\n",
            )
            .unwrap(),
        )
    }

    #[test]
    fn answers_are_paired_with_their_requests() {
        let mut w = Watch::new(Some(schema()), Limits::default());
        let mut both =
            wire(&[("_ask", "1"), ("_command", "Sum"), ("a", "13"), ("b", "81")]).to_vec();
        both.extend_from_slice(&wire(&[
            ("_ask", "2"),
            ("_command", "Echo"),
            ("xs", "\x00\x030.5"),
        ]));
        assert_eq!(
            lines(&w.feed(Dir::ToServer, &both, 1_000)),
            [
                "C->S ask Sum tag=1 a=13 b=81",
                "C->S ask Echo tag=2 xs=[0.5]"
            ]
        );
        assert_eq!(w.pending(Dir::ToServer), 2);
        // Answered out of order, in pieces.
        let answers = [
            wire(&[("_answer", "2"), ("xs", "")]),
            wire(&[
                ("_error", "1"),
                ("_error_code", "X"),
                ("_error_description", "why"),
            ]),
        ]
        .concat();
        let (a, b) = answers.split_at(7);
        assert!(w.feed(Dir::ToClient, a, 1_500).is_empty());
        assert_eq!(
            lines(&w.feed(Dir::ToClient, b, 3_000)),
            [
                "S->C answer Echo tag=2 2.000ms xs=[]",
                "S->C error Sum tag=1 2.000ms X: why"
            ]
        );
        assert_eq!(w.pending(Dir::ToServer), 0);
        // An answer to nothing asked.
        assert_eq!(
            lines(&w.feed(Dir::ToClient, &wire(&[("_answer", "9")]), 4_000)),
            ["S->C answer ? tag=9"]
        );
    }

    #[test]
    fn values_that_do_not_match_the_schema_are_shown_raw() {
        let mut w = Watch::new(Some(schema()), Limits::default());
        let seen = w.feed(
            Dir::ToServer,
            &wire(&[("_ask", "1"), ("_command", "Sum"), ("a", "x")]),
            0,
        );
        let line = seen[0].line();
        assert!(
            line.starts_with("C->S ask Sum tag=1 a=x (does not decode: "),
            "{line}"
        );
        assert!(
            line.contains("b= (does not decode: missing: Integer is required)"),
            "{line}"
        );
    }

    #[test]
    fn routes_pair_requests_with_answers_on_the_routes_they_come_back_on() {
        let mut w = Watch::new(None, Limits::default());
        w.feed(
            Dir::ToServer,
            &wire(&[("_ask", "1"), ("_command", "A"), ("_route", "r1")]),
            0,
        );
        w.feed(
            Dir::ToServer,
            &wire(&[("_ask", "1"), ("_command", "B"), ("_route", "r2")]),
            0,
        );
        let seen = w.feed(
            Dir::ToClient,
            &wire(&[("_answer", "1"), ("_route", "0")]),
            10,
        );
        assert_eq!(lines(&seen), ["S->C answer A tag=1 route=0 0.010ms"]);
        assert_eq!(w.routes(), 1);
        let seen = w.feed(
            Dir::ToClient,
            &wire(&[("_answer", "1"), ("_route", "5")]),
            20,
        );
        assert_eq!(lines(&seen), ["S->C answer B tag=1 route=5 0.020ms"]);
    }

    #[test]
    fn unparseable_bytes_stop_decoding_one_direction_only() {
        let mut w = Watch::new(None, Limits::default());
        let seen = w.feed(Dir::ToServer, b"GET / HTTP/1.1\r\n", 0);
        assert_eq!(
            lines(&seen),
            [
                "C->S unparseable at byte 0: key length prefix 4745 is over 255 (its first byte must be zero): b'GET / HTTP/1.1\\r\\n' (forwarded as is; this direction is not decoded further)"
            ]
        );
        assert!(w.is_broken(Dir::ToServer));
        assert!(
            w.feed(Dir::ToServer, &wire(&[("_ask", "1"), ("_command", "A")]), 0)
                .is_empty()
        );
        assert_eq!(
            lines(&w.feed(Dir::ToClient, &wire(&[("k", "v")]), 0)),
            ["S->C box k=v"]
        );
    }

    #[test]
    fn the_end_reports_partial_boxes_and_unanswered_requests() {
        let mut w = Watch::new(None, Limits::default());
        w.feed(
            Dir::ToServer,
            &wire(&[("_ask", "1"), ("_command", "Hang")]),
            0,
        );
        w.feed(Dir::ToClient, b"\x00\x01k", 0);
        assert_eq!(
            lines(&w.end(Dir::ToClient)),
            [
                "S->C partial at byte 0: the stream ended 3 bytes into a box",
                "C->S unanswered Hang tag=1"
            ]
        );
        assert!(w.end(Dir::ToServer).is_empty());
    }

    #[test]
    fn pending_requests_are_bounded() {
        let mut w = Watch::new(None, Limits::default());
        for i in 0..MAX_PENDING + 10 {
            let tag = i.to_string();
            w.feed(
                Dir::ToServer,
                &wire(&[("_ask", &tag), ("_command", "C")]),
                0,
            );
        }
        assert_eq!(w.pending(Dir::ToServer), MAX_PENDING);
    }

    #[test]
    fn json_objects_carry_everything() {
        let mut w = Watch::new(Some(schema()), Limits::default());
        w.feed(
            Dir::ToServer,
            &wire(&[("_ask", "1"), ("_command", "Sum"), ("a", "1"), ("b", "2")]),
            0,
        );
        let seen = w.feed(
            Dir::ToClient,
            &wire(&[("_answer", "1"), ("total", "3")]),
            250,
        );
        assert_eq!(
            seen[0].to_json(),
            json!({"dir": "S->C", "offset": 0, "length": 24, "kind": "answer", "command": "Sum",
                   "tag": "1", "route": null, "latency_ms": 0.25, "values": {"total": 3}})
        );
    }
}
