//! Routed connections on the engine, driven with scripted bytes: each
//! route's requests reach its own responders and are answered with the
//! remote route's name; raw boxes reach the box receiver of the route they
//! name; unbinding fails that route's calls and leaves the rest; a routed
//! connection serves on after every handle is dropped.

mod common;

use std::sync::{Arc, Mutex};

use amp_core::router::Route;
use amp_core::{AmpBox, CallError, ConnectionError, ProtocolError};
use amp_engine::routed::{self, RoutedPeer};
use amp_engine::{Options, Responders};
use common::{Recorder, Script};
use futures_channel::mpsc;

fn wire(pairs: &[(&'static str, &'static str)]) -> Vec<u8> {
    AmpBox::from_pairs(pairs.iter().copied())
        .to_bytes()
        .unwrap()
        .to_vec()
}

/// Answers `Echo` with its `value` and the responder set's `name`.
fn echo(name: &'static str) -> Responders {
    Responders::new().raw_responder("Echo", move |_ctx, args: AmpBox| async move {
        let mut answer = AmpBox::new();
        answer.insert("value", args.get("value").unwrap_or_default().to_vec());
        answer.insert("by", name);
        Ok(answer)
    })
}

struct Running {
    router: RoutedPeer,
    input: mpsc::UnboundedSender<Vec<u8>>,
    written: Recorder,
    reading: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    writing: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
}

fn start() -> Running {
    let (input, rx) = mpsc::unbounded();
    let written = Recorder::default();
    let (router, reading, writing) =
        routed::start(Script(rx), written.clone(), None, Options::default());
    Running {
        router,
        input,
        written,
        reading: Box::pin(reading),
        writing: Box::pin(writing),
    }
}

impl Running {
    /// Ends the input and runs the connection to its end.
    fn finish(self) -> (ConnectionError, Recorder) {
        drop(self.input);
        futures_executor::block_on(futures_util::future::join(self.reading, self.writing));
        let reason = futures_executor::block_on(self.router.closed());
        (reason, self.written)
    }
}

#[test]
fn each_route_is_answered_by_its_own_responders_with_the_remote_name() {
    let run = start();
    let a = run.router.bind_route(echo("a"));
    let b = run.router.bind_route(echo("b"));
    a.connect_to(Some("left".into()));
    b.connect_to(Some("right".into()));
    run.input
        .unbounded_send(wire(&[
            ("_command", "Echo"),
            ("_ask", "1"),
            ("_route", "1"),
            ("value", "x"),
        ]))
        .unwrap();
    run.input
        .unbounded_send(wire(&[
            ("_command", "Echo"),
            ("_ask", "1"),
            ("_route", "0"),
            ("value", "y"),
        ]))
        .unwrap();
    let (reason, written) = run.finish();
    assert_eq!(reason, ConnectionError::PeerClosed);
    let answers = written.boxes();
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert_eq!(answers[0].get_str("_route"), Some("right"));
    assert_eq!(answers[0].get_str("by"), Some("b"));
    assert_eq!(answers[0].get_str("value"), Some("x"));
    assert_eq!(answers[1].get_str("_route"), Some("left"));
    assert_eq!(answers[1].get_str("by"), Some("a"));
    assert_eq!(answers[1].get_str("value"), Some("y"));
}

#[test]
fn raw_boxes_reach_the_box_receiver_of_their_route_without_route_key() {
    let run = start();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&seen);
    let receiving = run
        .router
        .bind_route(Responders::new().box_receiver(move |ctx, b| {
            assert!(!ctx.peer.is_closed());
            keep.lock().unwrap().push(b);
        }));
    receiving.connect_to(None);
    run.input
        .unbounded_send(wire(&[("_route", "0"), ("hello", "world")]))
        .unwrap();
    let (reason, _) = run.finish();
    assert_eq!(reason, ConnectionError::PeerClosed);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].get_str("hello"), Some("world"));
    assert_eq!(seen[0].get("_route"), None, "the route key is the router's");
}

#[test]
fn a_raw_box_for_a_route_without_a_receiver_ends_the_connection() {
    let run = start();
    run.router.bind_route(Responders::new()).connect_to(None);
    run.input
        .unbounded_send(wire(&[("_route", "0"), ("hello", "world")]))
        .unwrap();
    let (reason, _) = run.finish();
    assert!(
        matches!(
            reason,
            ConnectionError::Protocol(ProtocolError::NotAmp { .. })
        ),
        "{reason:?}"
    );
}

#[test]
fn unbinding_fails_the_routes_calls_in_flight_and_keeps_the_connection() {
    let run = start();
    let gone = run.router.bind_route(Responders::new());
    let stays = run.router.bind_route(Responders::new());
    gone.connect_to(Some("x".into()));
    stays.connect_to(Some("y".into()));
    let gone_peer = gone.peer().unwrap();
    let stays_peer = stays.peer().unwrap();
    let mut in_flight = Box::pin(gone_peer.call_remote("Wait", AmpBox::new()));
    let mut other = Box::pin(stays_peer.call_remote("Wait", AmpBox::new()));
    // Both calls are queued (and wait for their answers).
    let waker = futures_util::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(in_flight.as_mut().poll(&mut cx).is_pending());
    assert!(other.as_mut().poll(&mut cx).is_pending());
    gone.unbind();
    let failed = futures_executor::block_on(in_flight);
    assert_eq!(
        failed,
        Err(CallError::Connection(ConnectionError::RouteUnbound))
    );
    assert_eq!(
        futures_executor::block_on(gone_peer.closed()),
        ConnectionError::RouteUnbound
    );
    assert!(gone_peer.is_closed());
    assert!(!stays_peer.is_closed());
    assert!(!run.router.is_closed());
    // The other route's call is answered (its tag is 1 on route "1").
    run.input
        .unbounded_send(wire(&[("_answer", "1"), ("_route", "1"), ("v", "ok")]))
        .unwrap();
    let answer = futures_executor::block_on(async {
        let (reading, writing) = (run.reading, run.writing);
        let input = run.input;
        let served = futures_util::future::join(reading, writing);
        let answered = async move {
            let answer = other.await;
            drop(input);
            answer
        };
        futures_util::future::join(served, answered).await.1
    });
    assert_eq!(answer.unwrap().get_str("v"), Some("ok"));
}

#[test]
fn a_routed_connection_serves_on_when_every_handle_is_dropped() {
    let run = start();
    run.router.bind_route(echo("a")).connect_to(None);
    let Running {
        router,
        input,
        written,
        reading,
        writing,
    } = run;
    let ended = router.closed();
    drop(router);
    input
        .unbounded_send(wire(&[
            ("_command", "Echo"),
            ("_ask", "7"),
            ("_route", "0"),
            ("value", "z"),
        ]))
        .unwrap();
    drop(input);
    futures_executor::block_on(futures_util::future::join(reading, writing));
    assert_eq!(
        futures_executor::block_on(ended),
        ConnectionError::PeerClosed
    );
    let answers = written.boxes();
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].get_str("_answer"), Some("7"));
    assert_eq!(answers[0].get_str("value"), Some("z"));
}

#[test]
fn binding_a_route_twice_is_refused_and_default_route_works() {
    let run = start();
    let default = run.router.bind(Route::Default, echo("d")).unwrap();
    assert!(run.router.bind(Route::Default, Responders::new()).is_err());
    default.connect_to(None);
    run.input
        .unbounded_send(wire(&[("_command", "Echo"), ("_ask", "1"), ("value", "v")]))
        .unwrap();
    let (_, written) = run.finish();
    let answers = written.boxes();
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].get("_route"), None);
    assert_eq!(answers[0].get_str("by"), Some("d"));
}
