//! txampext's command-level features in the core: constrained arguments
//! (refused when written, nothing queued; refused when read, the responder
//! never runs and the answer is `UNKNOWN`, fatal), nested boxes (an
//! AmpList of exactly one box, round trips and hostile bytes), error codes
//! made from type names, composed locators and the catch-all responder.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use amp_core::command::{error_code, error_code_len};
use amp_core::de::from_box;
use amp_core::ser::to_box;
use amp_core::values::{Constrained, Constraint, NestedBox, ValueErrorKind, decode_value};
use amp_core::{
    AmpBox, CallError, Command, CommandError, ComposeError, Connection, Event, Locator,
    ResponderError, command_errors,
};
use bytes::Bytes;
use futures_util::FutureExt;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

amp_core::predicate!(pub Positive: i64 = |n| *n > 0);
amp_core::predicate!(pub Even: i64 = |n| n % 2 == 0);
amp_core::in_set!(pub Colour: &str = ["red", "green", "blue"]);
amp_core::not_in_set!(pub NotRoot: &str = ["root"]);

#[derive(Serialize, Deserialize, Debug)]
struct PaintArgs {
    colour: Constrained<String, Colour>,
    coats: Constrained<i64, (Positive, Even)>,
    painter: Option<Constrained<String, NotRoot>>,
}

#[derive(Serialize, Deserialize, Debug)]
struct Receipt {
    receipt: String,
}

struct Paint;
impl Command for Paint {
    const NAME: &'static str = "Paint";
    type Arguments = PaintArgs;
    type Response = Receipt;
    type Error = std::convert::Infallible;
}

fn paint(colour: &str, coats: i64, painter: Option<&str>) -> PaintArgs {
    PaintArgs {
        colour: Constrained::new_unchecked(colour.into()),
        coats: Constrained::new_unchecked(coats),
        painter: painter.map(|p| Constrained::new_unchecked(p.into())),
    }
}

#[test]
fn a_violating_call_fails_locally_and_queues_nothing() {
    let mut client = Connection::default();
    for (args, path) in [
        (paint("mauve", 2, None), "colour"),
        (paint("red", 1, None), "coats"),
        (paint("red", 0, None), "coats"),
        (paint("red", 2, Some("root")), "painter"),
    ] {
        match client.call_as::<Paint>(&args) {
            Err(CallError::Value(e)) => {
                assert!(matches!(e.kind(), ValueErrorKind::Constraint { .. }), "{e}");
                assert_eq!(e.path(), path);
            }
            other => panic!("{args:?} was not refused: {other:?}"),
        }
        assert!(client.take_transmit().is_empty(), "{args:?} was queued");
    }
    assert!(client.call_as::<Paint>(&paint("red", 2, None)).is_ok());
    assert!(!client.take_transmit().is_empty());
}

#[test]
fn a_violating_request_never_reaches_its_responder_and_is_answered_unknown() {
    let ran = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&ran);
    let locator = Locator::<()>::new().responder(Paint, move |_, a: PaintArgs| {
        count.fetch_add(1, Ordering::SeqCst);
        async move {
            Ok::<_, std::convert::Infallible>(Receipt {
                receipt: format!("{} {}", *a.colour, *a.coats),
            })
        }
    });
    let request = |pairs: &[(&'static str, &'static str)]| {
        let mut client = Connection::default();
        let mut b = AmpBox::new();
        for (k, v) in pairs {
            b.insert(*k, *v);
        }
        client.call_remote("Paint", &b, true).unwrap();
        let mut server = Connection::default();
        server.handle_input(&client.take_transmit());
        let Some(Event::Request(req)) = server.poll_event() else {
            panic!("no request")
        };
        let result = locator
            .dispatch((), &req.command, req.arguments)
            .now_or_never()
            .unwrap();
        server.respond(req.tag.as_deref(), result).unwrap();
        client.handle_input(&server.take_transmit());
        (client.poll_event(), server.is_closed())
    };
    for bad in [
        &[("colour", "mauve"), ("coats", "2")][..],
        &[("colour", "red"), ("coats", "3")],
        &[("colour", "red"), ("coats", "-4")],
        &[("colour", "red"), ("coats", "2"), ("painter", "root")],
    ] {
        let (answer, server_closed) = request(bad);
        match answer {
            Some(Event::ErrorAnswer { error, .. }) => {
                assert_eq!(
                    (error.code.as_str(), error.description.as_str()),
                    ("UNKNOWN", "Unknown Error"),
                    "{bad:?}"
                );
            }
            other => panic!("{bad:?}: {other:?}"),
        }
        assert!(server_closed, "UNKNOWN is fatal, as in Twisted");
    }
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    let (answer, server_closed) = request(&[("colour", "red"), ("coats", "2")]);
    assert!(matches!(answer, Some(Event::Answer { .. })), "{answer:?}");
    assert!(!server_closed);
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

#[test]
fn constraints_describe_what_failed() {
    let e = Constrained::<i64, (Positive, Even)>::new(3).unwrap_err();
    assert_eq!(e.constraint, "Even");
    let e = Constrained::<i64, (Positive, Even)>::new(-2).unwrap_err();
    assert_eq!(e.constraint, "Positive");
    let e = decode_value::<Constrained<String, Colour>>(b"mauve").unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"constraint not satisfied: Colour: one of ["red", "green", "blue"]"#
    );
    assert_eq!(
        <(Positive, Even) as Constraint<i64>>::violation(&4),
        None,
        "both hold"
    );
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Point {
    x: i64,
    y: i64,
    label: String,
    note: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Nested {
    at: NestedBox<Point>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct AsList {
    at: Vec<Point>,
}

/// A nested box in an AmpList in a nested box.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Route {
    stops: Vec<NestedBoxHolder>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct NestedBoxHolder {
    stop: NestedBox<Point>,
}

fn point() -> impl Strategy<Value = Point> {
    (
        any::<i64>(),
        any::<i64>(),
        ".{0,20}",
        proptest::option::of(".{0,10}"),
    )
        .prop_map(|(x, y, label, note)| Point { x, y, label, note })
}

proptest! {
    #[test]
    fn nested_box_round_trips_as_an_amp_list_of_one(p in point()) {
        let nested = to_box(&Nested { at: NestedBox(p.clone()) }).unwrap();
        let list = to_box(&AsList { at: vec![p.clone()] }).unwrap();
        prop_assert_eq!(&nested, &list);
        prop_assert_eq!(from_box::<Nested>(&nested).unwrap().at.0, p.clone());
        prop_assert_eq!(from_box::<AsList>(&nested).unwrap().at, vec![p]);
    }

    #[test]
    fn nested_boxes_nest(stops in proptest::collection::vec(point(), 0..4)) {
        let route = Route { stops: stops.into_iter().map(|p| NestedBoxHolder { stop: NestedBox(p) }).collect() };
        let b = to_box(&route).unwrap();
        prop_assert_eq!(from_box::<Route>(&b).unwrap(), route);
    }

    #[test]
    fn a_nested_box_holding_other_than_one_box_is_refused(ps in proptest::collection::vec(point(), 0..4)) {
        let b = to_box(&AsList { at: ps.clone() }).unwrap();
        let read = from_box::<Nested>(&b);
        if ps.len() == 1 {
            prop_assert_eq!(read.unwrap().at.0, ps[0].clone());
        } else {
            let e = read.unwrap_err();
            prop_assert_eq!(e.kind(), &ValueErrorKind::NotOneBox { more: !ps.is_empty() });
            prop_assert_eq!(e.path(), "at");
        }
    }

    #[test]
    fn nested_box_decoding_any_bytes_is_an_answer(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        // Ok or a typed error, never a panic; what reads writes back the same.
        if let Ok(p) = decode_value::<NestedBox<Point>>(&bytes) {
            let again = amp_core::values::encode_value(&p).unwrap();
            prop_assert_eq!(decode_value::<NestedBox<Point>>(&again).unwrap(), p);
        }
    }

    #[test]
    fn constrained_values_write_and_read_exactly_when_they_hold(n in any::<i64>()) {
        let holds = n > 0 && n % 2 == 0;
        let v = Constrained::<i64, (Positive, Even)>::new_unchecked(n);
        let written = amp_core::values::encode_value(&v);
        prop_assert_eq!(written.is_ok(), holds);
        prop_assert_eq!(Constrained::<i64, (Positive, Even)>::new(n).is_ok(), holds);
        let plain = amp_core::values::encode_value(&n).unwrap();
        let read = decode_value::<Constrained<i64, (Positive, Even)>>(&plain);
        match read {
            Ok(v) => {
                prop_assert!(holds);
                prop_assert_eq!(&written.unwrap()[..], &plain[..]);
                prop_assert_eq!(v.into_inner(), n);
            }
            Err(e) => {
                prop_assert!(!holds);
                let is_constraint = matches!(e.kind(), ValueErrorKind::Constraint { .. });
                prop_assert!(is_constraint);
            }
        }
    }

    #[test]
    fn set_constraints_on_text(s in "(red|green|blue|root|[a-z]{0,6})") {
        let in_set = ["red", "green", "blue"].contains(&s.as_str());
        prop_assert_eq!(decode_value::<Constrained<String, Colour>>(s.as_bytes()).is_ok(), in_set);
        prop_assert_eq!(decode_value::<Constrained<String, NotRoot>>(s.as_bytes()).is_ok(), s != "root");
        prop_assert_eq!(amp_core::values::encode_value(&Constrained::<String, Colour>::new_unchecked(s.clone())).is_ok(), in_set);
    }

    #[test]
    fn error_code_length_is_what_the_const_form_allocates(name in "[A-Za-z0-9_]{0,24}") {
        prop_assert_eq!(error_code(&name).len(), error_code_len(&name));
        let code = error_code(&name);
        prop_assert!(code.bytes().all(|c| c.is_ascii_uppercase() || c == b'_'));
        prop_assert!(!code.starts_with('_') && !code.ends_with('_') && !code.contains("__"));
    }
}

#[test]
fn error_codes_follow_txampexts_regular_expression() {
    // Each pair as Python's re.findall(r"[A-Z]+(?=[A-Z]|$)|[A-Z][a-z]*")
    // joined by txampext's asAMP gives it.
    for (name, code) in [
        ("NoSuchFactory", "NO_SUCH_FACTORY"),
        ("AMPException", "AMP_EXCEPTION"),
        ("ExceptionWithAMPThere", "EXCEPTION_WITH_AMP_THERE"),
        ("AnExampleException", "AN_EXAMPLE_EXCEPTION"),
        ("HTTPError", "HTTP_ERROR"),
        ("X509Error", "X_ERROR"),
        ("Error2", "ERROR"),
        ("lowercase", ""),
        ("fooBar", "BAR"),
        ("ABc", "A_BC"),
        ("AB", "AB"),
        ("A", "A"),
        ("", ""),
        ("My_Error", "MY_ERROR"),
        ("ABC\n", "ABC"),
        ("AB\nC", "A_B_C"),
        ("IOError", "IO_ERROR"),
        ("ÄrgerError", "ERROR"),
        ("getHTTPResponseCode", "HTTP_RESPONSE_CODE"),
        ("A1B2C3", "A_B_C"),
        ("URLs", "UR_LS"),
        ("ABCDef", "ABC_DEF"),
        ("aA", "A"),
        ("AbcDEF", "ABC_DEF"),
    ] {
        assert_eq!(error_code(name), code, "{name:?}");
    }
    const CODE: &str = amp_core::error_code!(ExceptionWithAMPThere);
    assert_eq!(CODE, "EXCEPTION_WITH_AMP_THERE");
    assert_eq!(amp_core::error_code!(""), "");
}

command_errors! {
    #[derive(PartialEq)]
    enum MuxError {
        NoSuchFactory,
        ConnectionRefused,
        NoSuchConnection (fatal),
        Spelled => "SPELLED_OUT",
    }
}

#[test]
fn command_errors_derive_codes_from_variant_names() {
    let all = [
        (
            MuxError::NoSuchFactory("a".into()),
            "NO_SUCH_FACTORY",
            false,
        ),
        (
            MuxError::ConnectionRefused("b".into()),
            "CONNECTION_REFUSED",
            false,
        ),
        (
            MuxError::NoSuchConnection("c".into()),
            "NO_SUCH_CONNECTION",
            true,
        ),
        (MuxError::Spelled("d".into()), "SPELLED_OUT", false),
    ];
    for (e, code, fatal) in all {
        assert_eq!(e.code(), code);
        assert_eq!(e.is_fatal(), fatal);
        assert_eq!(MuxError::from_remote(code, &e.description()), Some(e));
    }
    assert_eq!(MuxError::from_remote("SPELLED", "x"), None);
}

fn echo(_: (), b: AmpBox) -> impl Future<Output = Result<AmpBox, ResponderError>> {
    std::future::ready(Ok(b))
}

fn answer(l: &Locator<()>, command: &[u8]) -> Result<AmpBox, ResponderError> {
    l.dispatch((), command, AmpBox::from_pairs([("k", "v")]))
        .now_or_never()
        .unwrap()
}

#[test]
fn composed_locators_take_each_others_commands_and_refuse_duplicates() {
    let a = Locator::<()>::new().raw_responder("A", echo);
    let b = Locator::<()>::new().raw_responder("B", echo);
    let all = Locator::compose([a.clone(), b.clone()]).unwrap();
    assert!(answer(&all, b"A").is_ok() && answer(&all, b"B").is_ok());
    assert_eq!(answer(&all, b"C").unwrap_err().code(), "UNHANDLED");
    // The parts are left as they were.
    assert!(!a.handles(b"B") && !b.handles(b"A"));

    let dup = Locator::compose([a.clone(), b, Locator::new().raw_responder("A", echo)]);
    assert_eq!(
        dup.unwrap_err(),
        ComposeError::DuplicateCommand {
            command: Bytes::from_static(b"A")
        }
    );
    let catch_all = || Locator::<()>::new().fallback(|_, _, b| async move { Ok(b) });
    assert_eq!(
        Locator::compose([catch_all(), a.clone(), catch_all()]).unwrap_err(),
        ComposeError::DuplicateFallback
    );
    let receiver = || Locator::<()>::new().box_receiver(|_, _| {});
    assert_eq!(
        Locator::compose([receiver(), receiver()]).unwrap_err(),
        ComposeError::DuplicateBoxReceiver
    );
}

#[test]
fn the_catch_all_gets_commands_nobody_declared_with_the_raw_box() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = Arc::clone(&seen);
    let catch_all = Locator::<()>::new().fallback(move |_, command: Bytes, args: AmpBox| {
        keep.lock().unwrap().push(command);
        async move {
            let mut answer = AmpBox::new();
            answer.insert(
                "got",
                args.get("k")
                    .map(Bytes::copy_from_slice)
                    .unwrap_or_default(),
            );
            Ok(answer)
        }
    });
    // Composed first, it still does not shadow a named responder.
    let all = catch_all
        .include(Locator::new().raw_responder("Named", echo))
        .unwrap();
    assert_eq!(answer(&all, b"Named").unwrap().get_str("k"), Some("v"));
    assert_eq!(answer(&all, b"Other").unwrap().get_str("got"), Some("v"));
    assert_eq!(answer(&all, b"\xff").unwrap().get_str("got"), Some("v"));
    assert_eq!(
        *seen.lock().unwrap(),
        [Bytes::from_static(b"Other"), Bytes::from_static(b"\xff")]
    );
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Maybe {
    a: Option<i64>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct HoldsMaybe {
    m: NestedBox<Maybe>,
}

#[test]
fn an_empty_nested_box_is_one_empty_box_not_none() {
    let empty = HoldsMaybe {
        m: NestedBox(Maybe { a: None }),
    };
    let b = to_box(&empty).unwrap();
    // An AmpList of one empty box is its terminator alone.
    assert_eq!(b.get("m"), Some(&b"\x00\x00"[..]));
    assert_eq!(from_box::<HoldsMaybe>(&b).unwrap(), empty);
    // An empty value is an AmpList of no box.
    let none = AmpBox::from_pairs([("m", "")]);
    let e = from_box::<HoldsMaybe>(&none).unwrap_err();
    assert_eq!(e.kind(), &ValueErrorKind::NotOneBox { more: false });
}
