//! The `dispatcher` check's model: what a connection must be doing, from
//! the calls made on it and the events it gave out.

use std::collections::BTreeSet;

use amp_core::{Connection, Decoder, Event, Limits, Timeouts};
use bytes::Bytes;

use crate::input::Input;
use crate::timeout_model::Clock;

/// Tracks what a connection must be doing, from the calls made on it and
/// the events it gave out.
pub(super) struct Model {
    /// Calls made with a tag, not yet answered, failed or forgotten.
    pub(super) outstanding: BTreeSet<u64>,
    /// Calls forgotten (for generating late answers).
    pub(super) forgotten: BTreeSet<u64>,
    /// Tags of requests received and not answered yet.
    pub(super) owed: Vec<Bytes>,
    /// The next call's id.
    pub(super) next_call: u64,
    /// Event::Closed has been handed out.
    pub(super) closed_seen: bool,
    /// Bytes queued when the connection was last seen closed.
    pub(super) closed_transmit: Option<usize>,
    /// Everything the connection sent, decoded.
    pub(super) sent: Decoder,
    /// Counter for fresh tags in received requests.
    pub(super) fresh: u64,
    /// The timeouts: time, and what the connection looked like at each
    /// `poll_timeout`/`handle_timeout`.
    pub(super) clock: Clock,
}

impl Model {
    pub(super) fn new(timeouts: Timeouts) -> Self {
        let unlimited = Limits::default()
            .max_keys(usize::MAX)
            .max_box_bytes(usize::MAX)
            .max_buffered_bytes(usize::MAX);
        Model {
            outstanding: BTreeSet::new(),
            forgotten: BTreeSet::new(),
            owed: Vec::new(),
            next_call: 1,
            closed_seen: false,
            closed_transmit: None,
            sent: Decoder::new(unlimited),
            fresh: 0,
            clock: Clock::new(timeouts),
        }
    }

    pub(super) fn pick_outstanding(&self, input: &mut Input) -> Option<u64> {
        let i = input.u8() as usize;
        self.outstanding
            .iter()
            .nth(i % self.outstanding.len().max(1))
            .copied()
    }

    pub(super) fn pick_owed(&self, input: &mut Input) -> Option<Bytes> {
        let i = input.u8() as usize;
        self.owed.get(i % self.owed.len().max(1)).cloned()
    }

    pub(super) fn event(&mut self, conn: &Connection, raw_boxes: bool, event: Event) {
        assert!(!self.closed_seen, "event after Closed: {event:?}");
        match event {
            Event::Request(req) => {
                assert!(!conn.is_closed(), "a request after the connection ended");
                if let Some(tag) = req.tag {
                    assert!(
                        !self.owed.contains(&tag),
                        "a request reuses owed tag {tag:?}"
                    );
                    self.owed.push(tag);
                }
            }
            Event::Answer { call, .. } | Event::ErrorAnswer { call, .. } => {
                assert!(
                    self.outstanding.remove(&call.get()),
                    "answer for call {call} that is not outstanding"
                );
            }
            Event::Box(b) => {
                assert!(raw_boxes, "a raw box without raw boxes on");
                for key in ["_answer", "_error", "_command"] {
                    assert!(!b.contains_key(key), "a raw box holding {key}");
                }
            }
            Event::CallFailed { call, .. } => {
                assert!(conn.is_closed(), "CallFailed on an open connection");
                assert!(
                    self.outstanding.remove(&call.get()),
                    "CallFailed for call {call} that is not outstanding"
                );
            }
            Event::Closed(reason) => {
                assert!(
                    self.outstanding.is_empty(),
                    "Closed before CallFailed for {:?}",
                    self.outstanding
                );
                assert_eq!(conn.close_reason(), Some(&reason), "close reason");
                self.closed_seen = true;
                self.owed.clear();
                self.forgotten.clear();
            }
            other => panic!("unexpected event {other:?}"),
        }
    }

    pub(super) fn poll(&mut self, conn: &mut Connection, raw_boxes: bool, n: usize) {
        for _ in 0..n {
            let Some(event) = conn.poll_event() else {
                if !conn.is_closed() {
                    // No whole box left: what is buffered is part of one.
                    self.clock.drained_at = self.clock.fed;
                }
                return;
            };
            self.event(conn, raw_boxes, event);
        }
    }

    /// Hands received bytes to the connection (counted while it is open:
    /// later ones are ignored).
    pub(super) fn feed(&mut self, conn: &mut Connection, data: &[u8]) {
        if !conn.is_closed() {
            self.clock.fed += data.len() as u64;
        }
        conn.handle_input(data);
    }

    /// One time action, by the model's rules (see [`Clock::time`]).
    pub(super) fn time(&mut self, conn: &mut Connection, input: &mut Input) {
        let calls = !self.outstanding.is_empty() || !self.owed.is_empty();
        self.clock.time(conn, input, calls);
    }

    pub(super) fn take_transmit(&mut self, conn: &mut Connection) {
        let out = conn.take_transmit();
        self.clock.transmitted += out.len() as u64;
        self.sent.feed(&out).expect("our output does not decode");
        while let Some(b) = self.sent.decode().expect("our output does not decode") {
            drop(b);
        }
    }

    /// Invariants that hold between any two actions.
    pub(super) fn check(&mut self, conn: &Connection) {
        let d = conn.dispatcher();
        if conn.is_closed() {
            let now = conn.pending_transmit();
            if let Some(before) = self.closed_transmit {
                assert!(now <= before, "bytes queued after the connection ended");
            }
            self.closed_transmit = Some(now);
            assert_eq!(d.outstanding_calls(), 0, "outstanding calls after close");
            assert_eq!(d.owed_answers(), 0, "owed answers after close");
        } else {
            assert!(!self.closed_seen, "open after Closed");
            assert_eq!(
                d.outstanding_calls(),
                self.outstanding.len(),
                "outstanding calls"
            );
            assert_eq!(d.owed_answers(), self.owed.len(), "owed answers");
        }
    }
}
