//! `amp call --schema` against real Twisted (`interop/server.py`): every
//! Twisted argument type encoded by the schema, decoded by Twisted (its
//! `repr` answer checked), echoed back and decoded by type again.
//!
//! The Python environment comes from `AMP_INTEROP_PYTHON`, or else from
//! `scripts/python-env.sh`; without it these tests fail, never skip.

mod common;

use common::{amp, plain, schema, stderr, stdout, twisted};
use serde_json::{Value, json};

/// Calls `command` with `value=<value>` and returns the answer's lines.
fn echo(addr: &str, command: &str, value: &str) -> String {
    let schema = schema();
    let argument = format!("value={value}");
    let output = amp(&["call", "--schema", &schema, addr, command, &argument]);
    assert!(
        output.status.success(),
        "{command} {value}: {}",
        stderr(&output)
    );
    let out = stdout(&output);
    assert!(plain(&out));
    out
}

#[test]
fn every_twisted_type_is_encoded_and_decoded_by_the_schema() {
    let server = twisted();
    let addr = server.addr().to_string();
    for (command, value, answer) in [
        (
            "EchoInteger",
            "-18446744073709551616",
            "value: -18446744073709551616\nrepr: -18446744073709551616\n",
        ),
        ("EchoString", "bytes", "value: bytes\nrepr: b'bytes'\n"),
        (
            "EchoUnicode",
            "caf\u{e9} \u{1f600}",
            "value: caf\u{e9} \u{1f600}\nrepr: 'caf\u{e9} \u{1f600}'\n",
        ),
        ("EchoBoolean", "true", "value: True\nrepr: True\n"),
        ("EchoFloat", "1e16", "value: 1e+16\nrepr: 1e+16\n"),
        ("EchoFloat", "-0.0", "value: -0.0\nrepr: -0.0\n"),
        (
            "EchoDecimal",
            "1.5E+2",
            "value: 1.5E+2\nrepr: Decimal('1.5E+2')\n",
        ),
        (
            "EchoDateTime",
            "2012-01-23T12:34:56.054321+05:30",
            "value: 2012-01-23T12:34:56.054321+05:30\nrepr: 2012-01-23T12:34:56.054321+05:30\n",
        ),
        (
            "EchoListOfInteger",
            "[1, -2, \"18446744073709551616\"]",
            "value: [1, -2, 18446744073709551616]\nrepr: [1, -2, 18446744073709551616]\n",
        ),
        (
            "EchoListOfUnicode",
            r#"["a", "b c", ""]"#,
            "value: [\"a\", \"b c\", \"\"]\nrepr: ['a', 'b c', '']\n",
        ),
        (
            "EchoListOfString",
            r#"[{"hex": "00ff"}, "a", ""]"#,
            "value: [b'\\x00\\xff', \"a\", \"\"]\nrepr: [b'\\x00\\xff', b'a', b'']\n",
        ),
        (
            "EchoListOfBoolean",
            "[false, true]",
            "value: [False, True]\nrepr: [False, True]\n",
        ),
        (
            "EchoAmpList",
            r#"[{"name": "one", "items": [{"n": 1}, {"n": 2}], "note": "with note"}, {"name": "two", "items": []}]"#,
            "value: [{name: \"one\", items: [{n: 1}, {n: 2}], note: \"with note\"}, {name: \"two\", items: []}]\n\
             repr: [{'name': 'one', 'items': [{'n': 1}, {'n': 2}], 'note': 'with note'}, {'name': 'two', 'items': [], 'note': None}]\n",
        ),
        (
            "EchoPath",
            "/tmp/amp-interop/f\u{e9}.txt",
            "value: /tmp/amp-interop/f\u{e9}.txt\nrepr: FilePath('/tmp/amp-interop/f\u{e9}.txt')\n",
        ),
    ] {
        assert_eq!(echo(&addr, command, value), answer, "{command} {value}");
    }
}

#[test]
fn optional_arguments_may_be_left_out() {
    let server = twisted();
    let addr = server.addr().to_string();
    let schema = schema();
    let output = amp(&["call", "--schema", &schema, &addr, "EchoOptional"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "present: False\nrepr: None\n");
    assert_eq!(
        echo(&addr, "EchoOptional", "x"),
        "present: True\nvalue: x\nrepr: 'x'\n"
    );
}

#[test]
fn json_output_carries_typed_values() {
    let server = twisted();
    let addr = server.addr().to_string();
    let schema = schema();
    let output = amp(&[
        "call",
        "--json",
        "--schema",
        &schema,
        &addr,
        "EchoListOfInteger",
        "value=[1, \"18446744073709551616\"]",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let answer: Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(
        answer,
        json!({"ok": true, "answer": {"value": [1, "18446744073709551616"], "repr": "[1, 18446744073709551616]"}})
    );
    let output = amp(&[
        "call",
        "--json",
        "--schema",
        &schema,
        &addr,
        "Divide",
        "numerator=1",
        "denominator=4",
    ]);
    let answer: Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(answer, json!({"ok": true, "answer": {"result": 0.25}}));
}

#[test]
fn declared_errors_are_named() {
    let server = twisted();
    let addr = server.addr().to_string();
    let schema = schema();
    let output = amp(&[
        "call",
        "--schema",
        &schema,
        &addr,
        "Divide",
        "numerator=1",
        "denominator=0",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stdout(&output),
        "code: ZERO_DIVISION\ndescription: float division by zero\ndeclared: ZeroDivisionError\n"
    );
    let output = amp(&["call", "--json", "--schema", &schema, &addr, "Fatal"]);
    assert_eq!(output.status.code(), Some(1));
    let error: Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(error["error"]["declared"], "KeyError");
    assert_eq!(error["error"]["fatal"], true);
}

#[test]
fn a_command_wanting_no_answer_is_sent_without_ask() {
    // Notify wants no answer; GetNotified on the same connection would show
    // it, but each call is a connection of its own: that Twisted took it
    // without closing on an error is what is checked.
    let server = twisted();
    let addr = server.addr().to_string();
    let schema = schema();
    let output = amp(&["call", "--schema", &schema, &addr, "Notify", "text=hi"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "");
}

#[test]
fn values_that_do_not_match_the_schema_are_usage_errors() {
    let schema = schema();
    for (args, needle) in [
        (
            &["Sum", "a=1", "c=2"][..],
            "Sum has no argument \"c\" (its arguments: a, b)",
        ),
        (&["Sum", "a=1"], "Sum needs the argument b (Integer)"),
        (&["Sum", "a=x", "b=1"], "a=x: not a Integer"),
        (&["EchoListOfInteger", "value=[1,"], "expected a JSON list"),
        (&["EchoBoolean", "value=yes"], "True or False"),
        (
            &["NoSuchCommand"],
            "the schema declares no command \"NoSuchCommand\"",
        ),
    ] {
        let mut all = vec!["call", "--schema", &schema, "127.0.0.1:1"];
        all.extend_from_slice(args);
        let output = amp(&all);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let err = stderr(&output);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn a_bad_schema_file_is_one_clear_line() {
    let dir = std::env::temp_dir().join(format!("amp-schema-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[commands.Sum]\narguments = { a = \"Integr\" }\n").unwrap();
    let output = amp(&[
        "call",
        "--schema",
        bad.to_str().unwrap(),
        "127.0.0.1:1",
        "Sum",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.starts_with("amp call: commands.Sum.arguments.a: unknown type \"Integr\""),
        "{err}"
    );
    let missing = dir.join("missing.toml");
    let output = amp(&[
        "call",
        "--schema",
        missing.to_str().unwrap(),
        "127.0.0.1:1",
        "Sum",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("cannot read the schema"));
    std::fs::remove_dir_all(&dir).unwrap();
}
