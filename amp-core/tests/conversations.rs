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
                    .call_as::<Sum>(&amp_core::de::from_box(&args).unwrap())
                    .unwrap(),
                "Divide" => client
                    .call_as::<Divide>(&amp_core::de::from_box(&args).unwrap())
                    .unwrap(),
                "Fatal" => client.call_as::<Fatal>(&NoArgs {}).unwrap(),
                "Boom" => client.call_as::<Boom>(&NoArgs {}).unwrap(),
                "Notify" => client
                    .call_as::<Notify>(&amp_core::de::from_box(&args).unwrap())
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

/// Every box in `wire`, each written with its keys sorted, as Twisted writes
/// them: the bytes of boxes a Rust peer wrote, comparable byte for byte with
/// what Twisted wrote.
fn twisted_order(wire: &[u8]) -> Vec<u8> {
    boxes(wire)
        .iter()
        .flat_map(|b| b.sorted().to_bytes().unwrap().to_vec())
        .collect()
}

/// The box at the start of `wire`, whatever follows it.
fn first_box(wire: &[u8]) -> AmpBox {
    let mut decoder = amp_core::Decoder::new(Limits::default());
    decoder.feed(wire).unwrap();
    decoder.decode().unwrap().expect("a whole box")
}

// -- ProtocolSwitchCommand ----------------------------------------------------

#[derive(Serialize, Deserialize, Debug)]
struct Greeting {
    greeting: String,
}
command_errors! {
    enum SwitchError { NoEcho => "NO_ECHO" }
}
/// Twisted's `ProtocolSwitchCommand` subclass of the vectors: on the wire a
/// command like any other; both sides switch after its answer.
struct SwitchToEcho;
impl Command for SwitchToEcho {
    const NAME: &'static str = "SwitchToEcho";
    type Arguments = Greeting;
    type Response = NoArgs;
    type Error = SwitchError;
}

/// The server of the switch vectors, as the Twisted one behaved: it switches
/// when asked politely, and refuses with `NO_ECHO` (its description Python's
/// `f"{greeting!r} is not please"`) otherwise.
fn switch_locator() -> Locator<()> {
    server_locator().responder(SwitchToEcho, |_, g: Greeting| async move {
        if g.greeting == "please" {
            Ok(NoArgs {})
        } else {
            Err(SwitchError::NoEcho(format!(
                "'{}' is not please",
                g.greeting
            )))
        }
    })
}

/// Runs the server side of a switch conversation over `input` in chunks of
/// `split`: what it wrote in AMP, and the bytes it handed to the next
/// protocol (`None` if it never switched).
fn serve_switch(input: &[u8], split: usize) -> (Vec<u8>, Option<Vec<u8>>) {
    let locator = switch_locator();
    let mut server = Connection::default();
    let mut written = Vec::new();
    let mut after: Option<Vec<u8>> = None;
    for chunk in input.chunks(split.max(1)) {
        if let Some(after) = &mut after {
            after.extend_from_slice(chunk);
            continue;
        }
        server.handle_input(chunk);
        while let Some(event) = server.poll_event() {
            let Event::Request(req) = event else {
                panic!("unexpected {event:?}")
            };
            let switching = req.command_str() == Some("SwitchToEcho");
            let result = locator
                .dispatch((), &req.command, req.arguments)
                .now_or_never()
                .expect("responders are ready at once");
            let ok = result.is_ok();
            server.respond(req.tag.as_deref(), result).unwrap();
            if switching && ok {
                // Twisted's server switches as soon as its answer is written.
                written.extend_from_slice(&server.take_transmit());
                after = Some(server.switch_protocol().to_vec());
                assert_eq!(
                    server.close_reason(),
                    Some(&ConnectionError::ProtocolSwitched)
                );
                break;
            }
        }
        if after.is_none() {
            written.extend_from_slice(&server.take_transmit());
        }
    }
    (written, after)
}

#[test]
fn protocol_switch_server_answers_then_hands_over_the_bytes_after_the_request() {
    let v = support::vectors();
    assert_eq!(v.protocol_switch.len(), 2);
    for sw in &v.protocol_switch {
        let c2s = support::unhex(&sw.client_to_server_hex);
        let s2c = support::unhex(&sw.server_to_client_hex);
        for split in [c2s.len(), 1, 2, 5, 16] {
            let (written, after) = serve_switch(&c2s, split);
            if sw.switched {
                let c2s_at = sw.client_to_server_switch_offset.unwrap();
                let s2c_at = sw.server_to_client_switch_offset.unwrap();
                assert_eq!(
                    twisted_order(&written),
                    &s2c[..s2c_at],
                    "{}: the answer (split {split})",
                    sw.note
                );
                let after = after.expect("the server switched");
                assert_eq!(after, &c2s[c2s_at..], "{} (split {split})", sw.note);
                assert_eq!(
                    after,
                    support::unhex(&sw.server_received_after_switch_hex),
                    "{}: what Twisted's new protocol received (split {split})",
                    sw.note
                );
            } else {
                assert!(after.is_none(), "{}: switched (split {split})", sw.note);
                assert_eq!(
                    twisted_order(&written),
                    s2c,
                    "{}: server boxes (split {split})",
                    sw.note
                );
            }
        }
    }
}

#[test]
fn protocol_switch_client_calls_then_hands_over_the_bytes_after_the_answer() {
    use serde_json::json;
    let v = support::vectors();
    for sw in &v.protocol_switch {
        let c2s = support::unhex(&sw.client_to_server_hex);
        let s2c = support::unhex(&sw.server_to_client_hex);
        let greeting: Greeting = amp_core::de::from_box(&{
            let mut a = first_box(&c2s);
            a.remove("_ask");
            a.remove("_command");
            a
        })
        .unwrap();
        for split in [s2c.len(), 1, 3, 14] {
            let mut client = Connection::default();
            let switch = client.call_as::<SwitchToEcho>(&greeting).unwrap().unwrap();
            let mut wrote = client.take_transmit().to_vec();
            let mut sum = None;
            let mut after: Option<Vec<u8>> = None;
            let mut results = Vec::new();
            for chunk in s2c.chunks(split) {
                if let Some(after) = &mut after {
                    after.extend_from_slice(chunk);
                    continue;
                }
                client.handle_input(chunk);
                while let Some(event) = client.poll_event() {
                    let (id, outcome) = settles(event).expect("an answer");
                    if id == switch {
                        let r = decode_outcome::<SwitchToEcho>(outcome);
                        results.push(match r {
                            Ok(NoArgs {}) => json!(["ok", {}]),
                            // Twisted raises the class mapped to the code.
                            Err(CallError::Declared(SwitchError::NoEcho(_))) => {
                                json!(["error", "ValueError", ""])
                            }
                            Err(other) => panic!("{other:?}"),
                        });
                        if sw.switched {
                            // Twisted's client switches on the answer.
                            after = Some(client.switch_protocol().to_vec());
                            break;
                        }
                        // Refused: the connection stays AMP, the client
                        // carries on as Twisted's did.
                        sum = Some(
                            client
                                .call_as::<Sum>(&SumArgs { a: 1, b: 2 })
                                .unwrap()
                                .unwrap(),
                        );
                        wrote.extend_from_slice(&client.take_transmit());
                    } else {
                        assert_eq!(Some(id), sum);
                        let total = decode_outcome::<Sum>(outcome).unwrap().total;
                        results.push(json!(["ok", {"total": total.to_string()}]));
                    }
                }
            }
            assert_eq!(results, sw.client_results, "{} (split {split})", sw.note);
            if sw.switched {
                let c2s_at = sw.client_to_server_switch_offset.unwrap();
                let s2c_at = sw.server_to_client_switch_offset.unwrap();
                assert_eq!(twisted_order(&wrote), &c2s[..c2s_at], "{}", sw.note);
                let after = after.expect("the client switched");
                assert_eq!(after, &s2c[s2c_at..], "{} (split {split})", sw.note);
                assert_eq!(
                    after,
                    support::unhex(&sw.client_received_after_switch_hex),
                    "{}: what Twisted's new protocol received (split {split})",
                    sw.note
                );
                assert!(client.is_closed());
            } else {
                assert_eq!(twisted_order(&wrote), c2s, "{}", sw.note);
                assert!(!client.is_closed(), "{}", sw.note);
            }
        }
    }
}

// -- StartTLS ----------------------------------------------------------------------

#[test]
fn starttls_request_and_answer_are_plain_boxes_then_the_switch() {
    let v = support::vectors();
    assert_eq!(v.starttls.len(), 1);
    let tls = &v.starttls[0];
    let c2s = support::unhex(&tls.client_to_server_hex);
    let s2c = support::unhex(&tls.server_to_client_hex);
    // What a TLS client writes first (a handshake record header), standing
    // in for the handshake, which is not recorded.
    let hello: &[u8] = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";

    // Twisted's request: the command and its tag, nothing else (the
    // certificates are local arguments and never on the wire).
    let request = boxes(&c2s);
    assert_eq!(request.len(), 1);
    assert_eq!(
        request[0],
        AmpBox::from_pairs([("_ask", "1"), ("_command", "StartTLS")])
    );

    // Our server: the request, an empty answer written exactly as Twisted's,
    // then every byte after the request belongs to TLS.
    let mut server = Connection::default();
    server.handle_input(&[&c2s[..], hello].concat());
    let Some(Event::Request(req)) = server.poll_event() else {
        panic!("no request")
    };
    assert_eq!(req.command_str(), Some("StartTLS"));
    assert!(req.arguments.is_empty(), "{:?}", req.arguments);
    server
        .answer(req.tag.as_ref().unwrap(), &AmpBox::new())
        .unwrap();
    assert_eq!(twisted_order(&server.take_transmit()), s2c);
    assert_eq!(&server.switch_protocol()[..], hello);

    // Our client: the same request bytes; Twisted's answer settles the call
    // (Twisted's client saw an empty response), and what follows it is TLS.
    let mut client = Connection::default();
    let call = client
        .call_remote("StartTLS", &AmpBox::new(), true)
        .unwrap()
        .unwrap();
    assert_eq!(twisted_order(&client.take_transmit()), c2s);
    client.handle_input(&[&s2c[..], b"\x16\x03\x03"].concat());
    assert_eq!(
        client.poll_event(),
        Some(Event::Answer {
            call,
            response: AmpBox::new()
        })
    );
    assert_eq!(tls.client_results[0], serde_json::json!(["ok", {}]));
    assert_eq!(&client.switch_protocol()[..], b"\x16\x03\x03");
}

// -- Descriptor -------------------------------------------------------------------

/// The ordinals as they are on the wire (the descriptors themselves come
/// out of band: see `amp_core::descriptor`).
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct FdOrdinals {
    fd: u64,
}
#[derive(Serialize, Deserialize, Debug)]
struct FdArgs {
    fd: amp_core::values::Descriptor,
}
#[derive(Serialize, Deserialize, Debug)]
struct Text {
    text: String,
}
struct ReadDescriptor;
impl Command for ReadDescriptor {
    const NAME: &'static str = "ReadDescriptor";
    type Arguments = FdArgs;
    type Response = Text;
    type Error = Infallible;
}

/// Declared `source` first, as in Twisted's command: `source` gets the
/// smaller ordinal, and `log` still comes first on the wire.
#[derive(Serialize, Deserialize, Debug)]
struct RelayArgs {
    source: amp_core::values::Descriptor,
    log: amp_core::values::Descriptor,
}
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct RelayOrdinals {
    source: u64,
    log: u64,
}
#[derive(Serialize, Deserialize, Debug)]
struct Relayed {
    relayed: u64,
}
struct Relay;
impl Command for Relay {
    const NAME: &'static str = "Relay";
    type Arguments = RelayArgs;
    type Response = Relayed;
    type Error = Infallible;
}

/// What the recorder put in the descriptors it passed (a pipe each).
const FIRST_FILE: &str = "descripteur n° 0";
const RELAYED_FILE: &str = "relayed through the server";

#[test]
fn descriptor_arguments_are_their_ordinals_in_the_box() {
    use amp_core::values::Descriptor;
    use serde_json::json;
    // A descriptor to send: one end of a socket pair.
    let descriptor = || {
        let (mine, _theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        Descriptor::new(std::os::fd::OwnedFd::from(mine))
    };
    let v = support::vectors();
    assert_eq!(v.descriptors.len(), 1);
    let conv = &v.descriptors[0];
    let c2s = support::unhex(&conv.client_to_server_hex);
    let s2c = support::unhex(&conv.server_to_client_hex);
    let ordinal = |call: usize, name: &str| {
        let c = &conv.calls[call];
        u64::from(
            *c.ordinals
                .get(name)
                .unwrap_or_else(|| panic!("no ordinal for {} {name}", c.command)),
        )
    };
    assert_eq!(conv.calls[0].command, "ReadDescriptor");
    assert_eq!(conv.calls[1].command, "Relay");

    // Our server reads the ordinals Twisted's client sent, and answers as
    // Twisted's server did (from the descriptors' contents).
    let mut server = Connection::default();
    server.handle_input(&c2s);
    let Some(Event::Request(first)) = server.poll_event() else {
        panic!()
    };
    let args: FdOrdinals = amp_core::de::from_box(&first.arguments).unwrap();
    assert_eq!(
        args,
        FdOrdinals {
            fd: ordinal(0, "fd")
        }
    );
    server
        .answer(
            first.tag.as_ref().unwrap(),
            &amp_core::ser::to_box(&Text {
                text: FIRST_FILE.into(),
            })
            .unwrap(),
        )
        .unwrap();
    let Some(Event::Request(relay)) = server.poll_event() else {
        panic!()
    };
    let args: RelayOrdinals = amp_core::de::from_box(&relay.arguments).unwrap();
    assert_eq!(
        args,
        RelayOrdinals {
            source: ordinal(1, "source"),
            log: ordinal(1, "log"),
        }
    );
    server
        .answer(
            relay.tag.as_ref().unwrap(),
            &amp_core::ser::to_box(&Relayed {
                relayed: RELAYED_FILE.len() as u64,
            })
            .unwrap(),
        )
        .unwrap();
    assert_eq!(twisted_order(&server.take_transmit()), s2c);

    // Our client, sending real descriptors, numbers them as Twisted did
    // (the same ordinals, so the same boxes), queues each with the first
    // bytes of its box, and reads Twisted's answers.
    let mut client = Connection::default();
    client.pass_descriptors();
    let a = client
        .call_as::<ReadDescriptor>(&FdArgs { fd: descriptor() })
        .unwrap()
        .unwrap();
    let first_len = client.pending_transmit();
    let b = client
        .call_as::<Relay>(&RelayArgs {
            source: descriptor(),
            log: descriptor(),
        })
        .unwrap()
        .unwrap();
    let from = client.transmitted();
    assert_eq!(twisted_order(&client.take_transmit()), c2s);
    let positions: Vec<usize> = client
        .take_descriptors(from)
        .into_iter()
        .map(|(at, _)| at)
        .collect();
    assert_eq!(positions, [0, first_len, first_len + 1]);
    client.handle_input(&s2c);
    let mut results = Vec::new();
    while let Some(event) = client.poll_event() {
        let (id, outcome) = settles(event).expect("an answer");
        if id == a {
            let text = decode_outcome::<ReadDescriptor>(outcome).unwrap().text;
            results.push(json!(["ok", {"text": text}]));
        } else {
            assert_eq!(id, b);
            let n = decode_outcome::<Relay>(outcome).unwrap().relayed;
            results.push(json!(["ok", {"relayed": n.to_string()}]));
        }
    }
    assert_eq!(results, conv.client_results);
}
