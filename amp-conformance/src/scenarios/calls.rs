//! Calls, answers and errors: typed calls and declared errors, unknown
//! commands, fatal and undeclared failures, calls wanting no answer,
//! concurrent calls both ways, and requests without `_ask`.

use std::convert::Infallible;
use std::sync::Arc;

use amp_core::{AmpBox, CallError, ConnectionError};
use futures_util::future::{join_all, join3};

use crate::commands::{
    Boom, Divide, DivideArgs, DivideError, Empty, Fan, FanArgs, Notify, Probes, Sum, Text, math,
    sum_responders,
};
use crate::vectors;
use crate::{Options, Peer, Responders, Runtime, WAIT, blocking, within};

use super::{started_wait, sum, sums};

/// Typed calls get typed answers; a declared error arrives as that error and
/// the connection goes on.
pub async fn typed_calls_answers_and_declared_errors<R: Runtime>(rt: R) {
    let (_server, client) = rt.pair(math(&Probes::default()), Responders::new());
    sums(&rt, "Sum", &client, 13, 81).await;
    let q = within(
        &rt,
        "Divide",
        client.call_as::<Divide>(&DivideArgs {
            numerator: 10,
            denominator: 4,
        }),
    )
    .await;
    assert_eq!(q.unwrap().result, 2.5);
    let e = within(
        &rt,
        "Divide by zero",
        client.call_as::<Divide>(&DivideArgs {
            numerator: 1,
            denominator: 0,
        }),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, CallError::Declared(DivideError::ZeroDivision(ref d)) if d == "division by zero"),
        "{e:?}"
    );
    // The connection is still usable after a declared error.
    sums(&rt, "Sum after the error", &client, 1, 1).await;
    assert!(!client.is_closed());
}

/// A command nobody answers gets `UNHANDLED` with Twisted's description, and
/// the connection survives it.
pub async fn unknown_commands_get_unhandled_and_the_connection_survives<R: Runtime>(rt: R) {
    let (server, client) = rt.pair(math(&Probes::default()), Responders::new());
    match within(&rt, "NoSuch", client.call_remote("NoSuch", AmpBox::new())).await {
        Err(CallError::Remote(e)) => {
            assert_eq!(e.code, "UNHANDLED");
            assert_eq!(e.description, "Unhandled Command: b'NoSuch'");
        }
        other => panic!("{other:?}"),
    }
    let answer = within(
        &rt,
        "Sum by name",
        client.call_remote("Sum", AmpBox::from_pairs([("a", "2"), ("b", "3")])),
    )
    .await
    .unwrap();
    assert_eq!(answer.get_str("total"), Some("5"));
    assert!(!server.is_closed());
    assert!(!client.is_closed());
}

/// A declared fatal error and an undeclared failure are sent, then the
/// connection closes: the responding side says why, the calling side sees
/// the peer close.
pub async fn fatal_and_undeclared_errors_close_the_connection_after_the_error<R: Runtime>(rt: R) {
    let (server, client) = rt.pair(math(&Probes::default()), Responders::new());
    let e = within(
        &rt,
        "Divide by -1",
        client.call_as::<Divide>(&DivideArgs {
            numerator: 1,
            denominator: -1,
        }),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, CallError::Declared(DivideError::Broken(ref d)) if d == "fatal"),
        "{e:?}"
    );
    assert_eq!(
        within(&rt, "the server to close", server.closed()).await,
        ConnectionError::FatalError {
            code: "BROKEN".into(),
            description: "fatal".into()
        }
    );
    assert_eq!(
        within(&rt, "the client to close", client.closed()).await,
        ConnectionError::PeerClosed
    );

    let (server, client) = rt.pair(math(&Probes::default()), Responders::new());
    boom_is_unknown_and_closes_both_ends(&rt, &server, &client).await;
    let r = within(
        &rt,
        "a call after the close",
        client.call_as::<Sum>(&sum(1, 1)),
    )
    .await;
    assert!(matches!(r, Err(CallError::Connection(_))), "{r:?}");
}

/// A command that wants no answer returns `None` as soon as it is queued,
/// and its responder runs on the other side.
pub async fn commands_without_answer_return_once_queued<R: Runtime>(rt: R) {
    let probes = Probes::default();
    let (_server, client) = rt.pair(math(&probes), Responders::new());
    for i in 0..3 {
        let r = within(
            &rt,
            "Notify",
            client.notify_as::<Notify>(&Text {
                text: i.to_string(),
            }),
        )
        .await;
        assert!(matches!(r, Ok(())), "{r:?}");
    }
    within(
        &rt,
        "the Notify responders to run",
        probes.notified.at_least(3),
    )
    .await;
    sums(&rt, "Sum", &client, 0, 0).await;
    assert_eq!(probes.notified.get(), 3);
}

/// Both sides call at once, 200 calls in flight each way, while a responder
/// calls back its caller 200 times.
pub async fn both_sides_call_at_once_and_responders_call_back<R: Runtime>(rt: R) {
    let (server, client) = rt.pair(math(&Probes::default()), sum_responders());
    let from_client = join_all((0..200).map(|i| client.call_as::<Sum>(&sum(i, i))));
    let from_server = join_all((0..200).map(|i| server.call_as::<Sum>(&sum(i, 1))));
    let fan = client.call_as::<Fan>(&FanArgs { n: 200 });
    let (a, b, fan) = within(&rt, "calls both ways", join3(from_client, from_server, fan)).await;
    for (i, r) in a.into_iter().enumerate() {
        assert_eq!(r.unwrap().total, 2 * i as i128);
    }
    for (i, r) in b.into_iter().enumerate() {
        assert_eq!(r.unwrap().total, i as i128 + 1);
    }
    assert_eq!(fan.unwrap().total, (0..200).map(|i| i + 1).sum::<i128>());
}

/// A responder that waits does not hold up the next call: that one is
/// answered first.
pub async fn responders_run_concurrently_and_answer_in_the_order_they_finish<R: Runtime>(rt: R) {
    let probes = Probes::default();
    let (_server, client) = rt.pair(math(&probes), Responders::new());
    let slow = started_wait(&rt, &client, &probes).await;
    sums(&rt, "Sum", &client, 1, 2).await;
    // The gate is still shut: the first call cannot have been answered.
    assert!(!slow.is_finished());
    assert_eq!(probes.passed.get(), 0);
    probes.gate.open(1);
    let r = within(&rt, "the Wait call", slow).await;
    assert!(matches!(r, Ok(Empty {})), "{r:?}");
}

/// A responder that panics is an undeclared failure: `UNKNOWN`, then the
/// connection closes.
pub async fn a_responder_that_panics_is_an_undeclared_error<R: Runtime>(rt: R) {
    let responders = Responders::new().responder(Boom, |_, _: Empty| async move {
        if true {
            panic!("responder bug (this panic is expected)");
        }
        Ok::<_, Infallible>(Empty {})
    });
    let (server, client) = rt.pair(responders, Responders::new());
    boom_is_unknown_and_closes_both_ends(&rt, &server, &client).await;
}

/// Calls `Boom` (whose responder fails without a declared error): the
/// caller gets `UNKNOWN` with Twisted's description, the server closes with
/// that fatal error, the client sees the peer close.
async fn boom_is_unknown_and_closes_both_ends<R: Runtime>(rt: &R, server: &Peer, client: &Peer) {
    let e = within(rt, "Boom", client.call_as::<Boom>(&Empty {}))
        .await
        .unwrap_err();
    assert!(
        matches!(e, CallError::Remote(ref r) if r.code == "UNKNOWN" && r.description == "Unknown Error"),
        "{e:?}"
    );
    assert!(matches!(
        within(rt, "the server to close", server.closed()).await,
        ConnectionError::FatalError { ref code, .. } if code == "UNKNOWN"
    ));
    assert_eq!(
        within(rt, "the client to close", client.closed()).await,
        ConnectionError::PeerClosed
    );
}

/// A request without `_ask` whose responder fails, in any way (unknown
/// command, declared error, undeclared failure), closes the connection
/// without a word, as Twisted does; one that succeeds leaves it open.
pub async fn a_request_without_ask_that_fails_closes_the_connection_silently<R: Runtime>(rt: R) {
    let cases = [
        (
            "NoSuch",
            AmpBox::new(),
            "UNHANDLED",
            Some("Unhandled Command: b'NoSuch'"),
        ),
        (
            "Divide",
            AmpBox::from_pairs([("numerator", "1"), ("denominator", "0")]),
            "ZERO_DIVISION",
            Some("division by zero"),
        ),
        ("Boom", AmpBox::new(), "UNKNOWN", None),
    ];
    for (command, arguments, code, description) in cases {
        let (server, client) = rt.pair(math(&Probes::default()), Responders::new());
        within(&rt, command, client.notify_remote(command, arguments))
            .await
            .unwrap();
        match within(&rt, "the server to close", server.closed()).await {
            ConnectionError::FatalError {
                code: c,
                description: d,
            } => {
                assert_eq!(c, code, "{command}");
                if let Some(description) = description {
                    assert_eq!(d, description, "{command}");
                }
            }
            other => panic!("{command}: the server closed with {other:?}"),
        }
        // Had anything been sent, the client would have closed on a box
        // answering no call of its own.
        assert_eq!(
            within(&rt, "the client to close", client.closed()).await,
            ConnectionError::PeerClosed,
            "{command}"
        );
    }

    // One that succeeds leaves the connection open.
    let probes = Probes::default();
    let (server, client) = rt.pair(math(&probes), Responders::new());
    within(
        &rt,
        "Notify",
        client.notify_remote("Notify", AmpBox::from_pairs([("text", "hi")])),
    )
    .await
    .unwrap();
    within(&rt, "the Notify responder", probes.notified.at_least(1)).await;
    sums(&rt, "Sum", &client, 1, 1).await;
    assert!(!server.is_closed());

    // On the wire, over TCP: nothing comes back, then the end of the stream.
    let served = within(
        &rt,
        "the server to bind",
        rt.serve(Arc::new(|_| math(&Probes::default())), Options::default()),
    )
    .await
    .unwrap();
    let addr = served.addr;
    let request = AmpBox::from_pairs([("_command", "NoSuch")])
        .to_bytes()
        .unwrap();
    let ex = within(
        &rt,
        "the exchange",
        blocking(move || vectors::exchange_until_closed(addr, &request, vectors::QUIET)),
    )
    .await;
    assert!(ex.read.is_empty(), "the server wrote {:?}", ex.read);
    assert!(ex.closed, "the server did not close: {ex:?}");
    within(&rt, "the shutdown", served.stop.shutdown(WAIT)).await;
    within(&rt, "the server's run", served.running)
        .await
        .unwrap();
}
