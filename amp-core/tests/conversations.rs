//! Replays the conversations recorded between a real Twisted client and a
//! real Twisted server through our cores: the server side must write the
//! boxes Twisted's server wrote (key order aside) and close exactly where it
//! closed; the client side must write the boxes Twisted's client wrote and
//! turn Twisted's answers into the results Twisted's client saw.

mod support;

use std::convert::Infallible;

use amp_core::command::decode_outcome;
use amp_core::dispatcher::settles;
use amp_core::{
    AmpBox, CallError, CallId, Command, Connection, ConnectionError, Event, Failure, Limits,
    Locator, ProtocolError, codec, command_errors,
};
use futures_util::FutureExt;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug)]
struct SumArgs {
    a: i128,
    b: i128,
}
#[derive(Serialize, Deserialize, Debug)]
struct Total {
    total: i128,
}
struct Sum;
impl Command for Sum {
    const NAME: &'static str = "Sum";
    type Arguments = SumArgs;
    type Response = Total;
    type Error = Infallible;
}

#[derive(Serialize, Deserialize, Debug)]
struct DivideArgs {
    numerator: i64,
    denominator: i64,
}
#[derive(Serialize, Deserialize, Debug)]
struct Quotient {
    result: f64,
}
command_errors! {
    enum DivideError { ZeroDivision => "ZERO_DIVISION" }
}
struct Divide;
impl Command for Divide {
    const NAME: &'static str = "Divide";
    type Arguments = DivideArgs;
    type Response = Quotient;
    type Error = DivideError;
}

#[derive(Serialize, Deserialize, Debug)]
struct NoArgs {}

command_errors! {
    enum FatalError { Key => "FATAL_KEY" (fatal) }
}
struct Fatal;
impl Command for Fatal {
    const NAME: &'static str = "Fatal";
    type Arguments = NoArgs;
    type Response = NoArgs;
    type Error = FatalError;
}

struct Boom;
impl Command for Boom {
    const NAME: &'static str = "Boom";
    type Arguments = NoArgs;
    type Response = NoArgs;
    type Error = Infallible;
}

#[derive(Serialize, Deserialize, Debug)]
struct NotifyArgs {
    text: String,
}
struct Notify;
impl Command for Notify {
    const NAME: &'static str = "Notify";
    const REQUIRES_ANSWER: bool = false;
    type Arguments = NotifyArgs;
    type Response = NoArgs;
    type Error = Infallible;
}

/// The server of the recorded conversations, as the Twisted one behaved.
fn server_locator() -> Locator<()> {
    Locator::new()
        .responder(Sum, |_, a: SumArgs| async move {
            Ok::<_, Infallible>(Total { total: a.a + a.b })
        })
        .responder(Divide, |_, a: DivideArgs| async move {
            if a.denominator == 0 {
                return Err(DivideError::ZeroDivision("division by zero".into()));
            }
            Ok(Quotient {
                result: a.numerator as f64 / a.denominator as f64,
            })
        })
        .responder(Fatal, |_, _: NoArgs| async move {
            // Python's str(KeyError('x')).
            Err::<NoArgs, _>(FatalError::Key("'x'".into()))
        })
        .responder(Boom, |_, _: NoArgs| async move {
            Err::<NoArgs, _>(Failure::<Infallible>::undeclared("RuntimeError: boom"))
        })
        .responder(Notify, |_, _: NotifyArgs| async move {
            Ok::<_, Infallible>(NoArgs {})
        })
}

fn boxes(wire: &[u8]) -> Vec<AmpBox> {
    codec::decode_all(bytes::Bytes::copy_from_slice(wire), &Limits::default())
        .expect("recorded bytes decode")
}

/// Runs the server side over `input`; returns what it wrote and whether it
/// closed.
fn serve(input: &[u8], split: usize) -> (Vec<u8>, Option<ConnectionError>) {
    let locator = server_locator();
    let mut server = Connection::default();
    let mut written = Vec::new();
    for chunk in input.chunks(split.max(1)) {
        server.handle_input(chunk);
        while let Some(event) = server.poll_event() {
            if let Event::Request(req) = event {
                let result = locator
                    .dispatch((), &req.command, req.arguments)
                    .now_or_never()
                    .expect("responders are ready at once");
                server.respond(req.tag.as_deref(), result).unwrap();
            }
        }
        written.extend_from_slice(&server.take_transmit());
    }
    (written, server.close_reason().cloned())
}

#[test]
fn server_side_writes_what_twisted_wrote_and_closes_where_it_closed() {
    let v = support::vectors();
    assert_eq!(
        v.conversations.len(),
        7,
        "every recorded conversation is replayed"
    );
    for conv in &v.conversations {
        let input = support::unhex(&conv.client_to_server_hex);
        let expected = support::unhex(&conv.server_to_client_hex);
        for split in [input.len(), 1, 3, 7] {
            let (written, closed) = serve(&input, split);
            assert_eq!(
                boxes(&written),
                boxes(&expected),
                "{}: server boxes differ (split {split})",
                conv.note
            );
            assert_eq!(
                closed.is_some(),
                conv.server_closed_connection,
                "{}: closed = {closed:?} (split {split})",
                conv.note
            );
        }
    }
}

#[test]
fn close_reasons_name_what_happened() {
    let v = support::vectors();
    let find = |needle: &str| {
        v.conversations
            .iter()
            .find(|c| c.note.contains(needle))
            .unwrap_or_else(|| panic!("no conversation about {needle}"))
    };
    let (_, reason) = serve(
        &support::unhex(&find("fatal error").client_to_server_hex),
        4096,
    );
    assert_eq!(
        reason,
        Some(ConnectionError::FatalError {
            code: "FATAL_KEY".into(),
            description: "'x'".into()
        })
    );
    let (_, reason) = serve(
        &support::unhex(&find("undeclared").client_to_server_hex),
        4096,
    );
    assert_eq!(
        reason,
        Some(ConnectionError::FatalError {
            code: "UNKNOWN".into(),
            description: "Unknown Error".into()
        })
    );
    let (written, reason) = serve(&support::unhex(&find("over 255").client_to_server_hex), 1);
    assert!(written.is_empty());
    assert!(
        matches!(
            reason,
            Some(ConnectionError::Protocol(ProtocolError::Codec(
                amp_core::CodecError::KeyLengthPrefix { high: 1, .. }
            )))
        ),
        "{reason:?}"
    );
}

/// What one client call produced, in the vectors' terms.
fn describe<C: Command>(
    outcome: Result<C::Response, CallError<C::Error>>,
    ok: impl Fn(C::Response) -> serde_json::Value,
) -> serde_json::Value
where
    C::Error: std::fmt::Debug,
{
    use serde_json::json;
    match outcome {
        Ok(r) => json!(["ok", ok(r)]),
        Err(CallError::Declared(e)) => {
            // Twisted's client raises the exception class mapped to the code.
            let class = match amp_core::CommandError::code(&e) {
                "ZERO_DIVISION" => "ZeroDivisionError",
                "FATAL_KEY" => "KeyError",
                other => panic!("unexpected code {other}"),
            };
            json!(["error", class, ""])
        }
        Err(CallError::Remote(e)) => json!(["error", "UnknownRemoteError", e.code]),
        Err(other) => panic!("unexpected failure {other:?}"),
    }
}

#[test]
fn client_side_writes_what_twisted_wrote_and_reads_its_answers() {
    use serde_json::json;
    let v = support::vectors();
    let mut replayed = 0;
    for conv in &v.conversations {
        if conv.note.contains("over 255") {
            continue; // Not a box at all: nothing a client core would write.
        }
        let mut client = Connection::default();
        // Re-issue the calls the Twisted client made, decoded from its bytes.
        let sent = boxes(&support::unhex(&conv.client_to_server_hex));
        let mut calls: Vec<(CallId, String)> = Vec::new();
        for b in &sent {
            let command = b.get_str("_command").unwrap().to_owned();
            let args = {
                let mut a = b.clone();
                a.remove("_ask");
                a.remove("_command");
                a
            };
            let id = match command.as_str() {
                "Sum" => client
                    .call::<Sum>(&amp_core::de::from_box(&args).unwrap())
                    .unwrap(),
                "Divide" => client
                    .call::<Divide>(&amp_core::de::from_box(&args).unwrap())
                    .unwrap(),
                "Fatal" => client.call::<Fatal>(&NoArgs {}).unwrap(),
                "Boom" => client.call::<Boom>(&NoArgs {}).unwrap(),
                "Notify" => client
                    .call::<Notify>(&amp_core::de::from_box(&args).unwrap())
                    .unwrap(),
                other => client
                    .call_remote(other, &args, b.contains_key("_ask"))
                    .unwrap(),
            };
            if let Some(id) = id {
                calls.push((id, command));
            }
        }
        assert_eq!(boxes(&client.take_transmit()), sent, "{}", conv.note);

        client.handle_input(&support::unhex(&conv.server_to_client_hex));
        if conv.server_closed_connection {
            client.handle_eof();
        }
        let mut results = Vec::new();
        while let Some(event) = client.poll_event() {
            let Some((id, outcome)) = settles(event) else {
                continue;
            };
            let command = &calls.iter().find(|(c, _)| *c == id).unwrap().1;
            results.push(match command.as_str() {
                "Sum" => describe::<Sum>(
                    decode_outcome::<Sum>(outcome),
                    |r| json!({"total": r.total.to_string()}),
                ),
                "Divide" => describe::<Divide>(
                    decode_outcome::<Divide>(outcome),
                    |r| json!({"result": r.result.to_string()}),
                ),
                "Fatal" => describe::<Fatal>(decode_outcome::<Fatal>(outcome), |_| json!({})),
                "Boom" => describe::<Boom>(decode_outcome::<Boom>(outcome), |_| json!({})),
                _ => continue, // the unknown command's result was not recorded
            });
        }
        assert_eq!(results, conv.client_results, "{}", conv.note);
        if conv.server_closed_connection {
            assert!(client.is_closed(), "{}", conv.note);
        }
        replayed += 1;
    }
    assert_eq!(replayed, 6);
}
