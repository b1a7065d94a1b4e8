//! An undeclared failure's reason never goes on the wire (the peer is told
//! `UNKNOWN`), so it is logged locally, naming the command, as Twisted logs a
//! responder's traceback. Checked with a subscriber that records every event.
#![cfg(feature = "tracing")]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use amp_core::{AmpBox, CallError, Command, Failure, Locator, RemoteError, ResponderError};
use futures_util::FutureExt;
use serde::{Deserialize, Serialize};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

#[derive(Serialize, Deserialize)]
struct Empty {}

#[derive(Serialize, Deserialize)]
struct Count {
    n: i64,
}

struct Boom;
impl Command for Boom {
    const NAME: &'static str = "Boom";
    type Arguments = Count;
    type Response = Empty;
    type Error = Infallible;
}

/// Every event as one line: its message and fields.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Line<'a>(&'a mut String);
impl Visit for Line<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={:?}", field.name(), value));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = format!("{}", event.metadata().level());
        event.record(&mut Line(&mut line));
        self.0.lock().unwrap().push(line);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// What `locator` answers `command` with, and the events logged meanwhile.
fn dispatch(
    locator: &Locator<()>,
    command: &[u8],
    args: AmpBox,
) -> (Result<AmpBox, ResponderError>, Vec<String>) {
    let capture = Capture::default();
    let result = tracing::subscriber::with_default(capture.clone(), || {
        locator
            .dispatch((), command, args)
            .now_or_never()
            .expect("the responder answers at once")
    });
    let lines = capture.0.lock().unwrap().clone();
    (result, lines)
}

#[test]
fn a_typed_responders_undeclared_failure_is_logged_with_its_command_and_reason() {
    let locator = Locator::<()>::new().responder(Boom, |_, _: Count| async {
        Err::<Empty, _>(Failure::<Infallible>::Undeclared("disk on fire".into()))
    });
    let (result, lines) = dispatch(&locator, b"Boom", AmpBox::from_pairs([("n", "1")]));
    assert_eq!(result.unwrap_err().code(), "UNKNOWN");
    assert!(
        lines.iter().any(|l| l.starts_with("ERROR")
            && l.contains("command=Boom")
            && l.contains("disk on fire")),
        "{lines:?}"
    );
}

#[test]
fn a_failed_call_made_by_a_responder_is_an_undeclared_failure_with_its_reason() {
    // `?` on a call's result inside a responder: as a Twisted responder
    // whose callRemote errs, the peer is told UNKNOWN and the reason (the
    // call's error) is logged here.
    let locator = Locator::<()>::new().responder(Boom, |_, _: Count| async {
        let call: Result<Empty, CallError> =
            Err(CallError::Remote(RemoteError::new("NO_SUCH_ROW", "row 7")));
        let answer = call?;
        Ok::<_, Failure<Infallible>>(answer)
    });
    let (result, lines) = dispatch(&locator, b"Boom", AmpBox::from_pairs([("n", "1")]));
    assert_eq!(result.unwrap_err().code(), "UNKNOWN");
    assert!(
        lines.iter().any(|l| l.starts_with("ERROR")
            && l.contains("command=Boom")
            && l.contains("NO_SUCH_ROW")
            && l.contains("row 7")),
        "{lines:?}"
    );
}

#[test]
fn arguments_that_do_not_decode_are_logged_with_the_command() {
    let locator =
        Locator::<()>::new().responder(Boom, |_, _: Count| async { Ok::<_, Infallible>(Empty {}) });
    let (result, lines) = dispatch(
        &locator,
        b"Boom",
        AmpBox::from_pairs([("n", "not a number")]),
    );
    assert_eq!(result.unwrap_err().code(), "UNKNOWN");
    assert!(
        lines.iter().any(|l| l.starts_with("ERROR")
            && l.contains("command=Boom")
            && l.contains("bad arguments")),
        "{lines:?}"
    );
}

#[test]
fn a_raw_responders_undeclared_failure_is_logged_and_a_declared_one_is_not() {
    let locator = Locator::<()>::new()
        .raw_responder("Raw", |_, _| async {
            Err(ResponderError::undeclared("no such row"))
        })
        .raw_responder("Declared", |_, _| async {
            Err(ResponderError::Declared {
                code: "NOT_FOUND".into(),
                description: "no such row".into(),
                fatal: false,
            })
        });
    let (_, lines) = dispatch(&locator, b"Raw", AmpBox::new());
    assert!(
        lines
            .iter()
            .any(|l| l.contains("command=Raw") && l.contains("no such row")),
        "{lines:?}"
    );
    let (result, lines) = dispatch(&locator, b"Declared", AmpBox::new());
    assert_eq!(result.unwrap_err().code(), "NOT_FOUND");
    assert!(
        lines.is_empty(),
        "a declared error is the peer's to handle: {lines:?}"
    );
}
