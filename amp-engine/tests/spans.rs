//! With the `tracing` feature: every request served has a span (command,
//! tag) under its connection's span, an error answer is an event in it, and
//! every call's span is a child of its connection's span, wherever the call
//! is polled.
#![cfg(feature = "tracing")]

mod common;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use amp_core::{AmpBox, ResponderError};
use amp_engine::{Options, Responders, start};
use common::{Recorder, Script};
use futures_channel::mpsc;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

#[derive(Clone, Debug)]
struct SpanSeen {
    name: &'static str,
    parent: Option<u64>,
    fields: String,
}

#[derive(Clone, Debug)]
struct EventSeen {
    span: Option<u64>,
    fields: String,
}

#[derive(Default)]
struct Seen {
    spans: HashMap<u64, SpanSeen>,
    events: Vec<EventSeen>,
}

/// Records spans with their parents, and events with the span they were in.
#[derive(Clone, Default)]
struct Recording {
    seen: Arc<Mutex<Seen>>,
    next: Arc<AtomicU64>,
}

thread_local! {
    static CURRENT: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

struct Fields<'a>(&'a mut String);
impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={:?}", field.name(), value));
    }
}

impl Subscriber for Recording {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        let parent = if let Some(p) = attrs.parent() {
            Some(p.into_u64())
        } else if attrs.is_contextual() {
            CURRENT.with(|c| c.borrow().last().copied())
        } else {
            None
        };
        let mut fields = String::new();
        attrs.record(&mut Fields(&mut fields));
        self.seen.lock().unwrap().spans.insert(
            id,
            SpanSeen {
                name: attrs.metadata().name(),
                parent,
                fields,
            },
        );
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = String::new();
        event.record(&mut Fields(&mut fields));
        let span = CURRENT.with(|c| c.borrow().last().copied());
        self.seen
            .lock()
            .unwrap()
            .events
            .push(EventSeen { span, fields });
    }
    fn enter(&self, id: &Id) {
        CURRENT.with(|c| c.borrow_mut().push(id.into_u64()));
    }
    fn exit(&self, _: &Id) {
        CURRENT.with(|c| {
            c.borrow_mut().pop();
        });
    }
}

fn request(tag: &'static str, command: &'static str) -> Vec<u8> {
    AmpBox::from_pairs([("_ask", tag), ("_command", command)])
        .to_bytes()
        .unwrap()
        .to_vec()
}

#[test]
fn requests_and_calls_have_spans_under_their_connection() {
    let recording = Recording::default();
    tracing::subscriber::with_default(recording.clone(), || {
        let responders = Responders::new()
            .raw_responder("Fine", |_, _| async { Ok(AmpBox::new()) })
            .raw_responder("Missing", |_, _| async {
                Err(ResponderError::Declared {
                    code: "NOT_FOUND".into(),
                    description: "no such key".into(),
                    fatal: false,
                })
            });
        let (input, rx) = mpsc::unbounded();
        let (peer, reading, writing) = start(
            Script(rx),
            Recorder::default(),
            None,
            responders,
            Options::default(),
        );
        input.unbounded_send(request("1", "Fine")).unwrap();
        input.unbounded_send(request("2", "Missing")).unwrap();
        // A call of this side, polled outside the connection's tasks; its
        // answer comes back as tag 1 of this side's counter.
        let mut call = Box::pin(peer.call_remote("Lookup", AmpBox::new()));
        let answer = AmpBox::from_pairs([("_answer", "1")]).to_bytes().unwrap();
        futures_executor::block_on(async {
            let loops = futures_util::future::join(reading, writing);
            let called = async {
                // Queued at its first poll; answered after.
                std::future::poll_fn(|cx| {
                    assert!(call.as_mut().poll(cx).is_pending());
                    std::task::Poll::Ready(())
                })
                .await;
                input.unbounded_send(answer.to_vec()).unwrap();
                let answered = call.await;
                drop(input);
                answered
            };
            let (_, answered) = futures_util::future::join(loops, called).await;
            assert!(answered.is_ok(), "{answered:?}");
        });
    });
    let seen = recording.seen.lock().unwrap();
    let connection = seen
        .spans
        .iter()
        .find(|(_, s)| s.name == "amp_connection")
        .map(|(id, _)| *id)
        .expect("a connection span");
    let requests: Vec<(u64, &SpanSeen)> = seen
        .spans
        .iter()
        .filter(|(_, s)| s.name == "amp_request")
        .map(|(id, s)| (*id, s))
        .collect();
    assert_eq!(requests.len(), 2, "{:?}", seen.spans);
    for (_, span) in &requests {
        assert_eq!(span.parent, Some(connection), "{span:?}");
    }
    let missing = requests
        .iter()
        .find(|(_, s)| s.fields.contains("command=Missing") && s.fields.contains("\"2\""))
        .map(|(id, _)| *id)
        .expect("the request span names its command and tag");
    assert!(
        seen.events.iter().any(|e| e.span == Some(missing)
            && e.fields.contains("error answer")
            && e.fields.contains("NOT_FOUND")),
        "{:?}",
        seen.events
    );
    let call = seen
        .spans
        .values()
        .find(|s| s.name == "amp_call")
        .expect("a call span");
    assert_eq!(call.parent, Some(connection), "{call:?}");
    assert!(call.fields.contains("Lookup"), "{call:?}");
}

amp_core::command! { pub struct Load {} -> () }

/// What a store's responder fails with: a cause with a cause of its own.
#[derive(Debug)]
struct ReadingStore(std::io::Error);

impl std::fmt::Display for ReadingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reading the store")
    }
}

impl std::error::Error for ReadingStore {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn an_undeclared_failure_is_logged_with_its_command_tag_and_source_chain() {
    let recording = Recording::default();
    tracing::subscriber::with_default(recording.clone(), || {
        let responders = Responders::new().on(|_, Load {}| async {
            let read: Result<(), Box<dyn std::error::Error + Send + Sync>> =
                Err(Box::new(ReadingStore(std::io::Error::other("disk full"))));
            read?;
            Ok(())
        });
        let (input, rx) = mpsc::unbounded();
        let written = Recorder::default();
        let (_peer, reading, writing) = start(
            Script(rx),
            written.clone(),
            None,
            responders,
            Options::default(),
        );
        input.unbounded_send(request("7", "Load")).unwrap();
        drop(input);
        futures_executor::block_on(futures_util::future::join(reading, writing));
        // The peer is told only UNKNOWN.
        let answer = written.bytes();
        let text = String::from_utf8_lossy(&answer);
        assert!(
            text.contains("UNKNOWN") && !text.contains("disk full"),
            "{text}"
        );
    });
    let seen = recording.seen.lock().unwrap();
    let request = seen
        .spans
        .iter()
        .find(|(_, s)| s.name == "amp_request" && s.fields.contains("Load"))
        .map(|(id, s)| (*id, s))
        .expect("a request span");
    assert!(request.1.fields.contains("\"7\""), "{:?}", request.1);
    assert!(
        seen.events.iter().any(|e| e.span == Some(request.0)
            && e.fields.contains("Load")
            && e.fields.contains("reading the store: disk full")),
        "{:?}",
        seen.events
    );
}
