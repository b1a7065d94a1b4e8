//! The echo cases of `interop/echo_cases.json` (what Twisted sent for a
//! value of each argument type, what its echo carried, and the `repr` of
//! the value it decoded), checked on any connected peer.

use std::fmt::Debug;

use amp_core::values::{decode_value, encode_value};
use amp_engine::Peer;
use serde::Deserialize;

use super::python::repo_root;
use crate::catalogue::{
    EchoAmpList, EchoArgs, EchoBoolean, EchoCommand, EchoDateTime, EchoDecimal, EchoFloat,
    EchoInteger, EchoListOfBoolean, EchoListOfInteger, EchoListOfString, EchoListOfUnicode,
    EchoOptional, EchoPath, EchoString, EchoUnicode, OptionalArgs, PyRepr, Same,
};

/// One case of `interop/echo_cases.json`.
#[derive(Deserialize, Debug)]
pub struct Case {
    /// The echo command.
    pub command: String,
    /// Python's repr of the value sent (for messages).
    value: String,
    /// The value's wire bytes as Twisted sends them; `None`: the key is absent.
    sent_hex: Option<String>,
    /// The wire bytes the echo must carry.
    echoed_hex: Option<String>,
    /// The `repr` of the value Twisted decoded.
    repr: String,
}

/// Hex to bytes; panics on bad hex.
pub fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex {text:?}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digits"))
        .collect()
}

/// `text` cut to 60 characters, for messages.
pub fn short(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.into(),
    }
}

/// Bytes to hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks one echo case of command `C` on `peer`; returns what went wrong.
pub async fn check_echo<C: EchoCommand>(peer: &Peer, case: &Case) -> Vec<String>
where
    C::Value: Debug,
{
    let name = format!("{} {}", C::NAME, short(&case.value));
    let (Some(sent_hex), Some(echoed_hex)) = (&case.sent_hex, &case.echoed_hex) else {
        return vec![format!("{name}: the case has no bytes")];
    };
    let (sent, echoed) = (unhex(sent_hex), unhex(echoed_hex));
    let mut problems = Vec::new();
    let value: C::Value = match decode_value(&sent) {
        Ok(value) => value,
        Err(e) => {
            return vec![format!(
                "{name}: Twisted's bytes {sent_hex} do not decode: {e}"
            )];
        }
    };
    match encode_value(&value) {
        Ok(ours) if ours[..] == echoed[..] => {}
        Ok(ours) => problems.push(format!(
            "{name}: we encode {value:?} as {}, Twisted as {echoed_hex}",
            hex(&ours)
        )),
        Err(e) => problems.push(format!("{name}: {value:?} does not encode: {e}")),
    }
    let ours = value.py_repr();
    if ours != case.repr {
        problems.push(format!(
            "{name}: our repr {ours:?}, Twisted's {:?}",
            case.repr
        ));
    }
    let args = EchoArgs { value };
    match peer.call_as::<C>(&args).await {
        Ok(answer) => {
            if !answer.value.same(&args.value) {
                problems.push(format!(
                    "{name}: sent {:?}, echoed {:?}",
                    args.value, answer.value
                ));
            }
            match encode_value(&answer.value) {
                Ok(again) if again[..] == echoed[..] => {}
                Ok(again) => problems.push(format!(
                    "{name}: the echo re-encodes as {}, not {echoed_hex}",
                    hex(&again)
                )),
                Err(e) => problems.push(format!("{name}: the echo does not re-encode: {e}")),
            }
            if answer.repr != case.repr {
                problems.push(format!(
                    "{name}: Twisted read our bytes as {:?}, expected {:?}",
                    answer.repr, case.repr
                ));
            }
        }
        Err(e) => problems.push(format!("{name}: the call failed: {e}")),
    }
    problems
}

/// Checks one EchoOptional case (`sent_hex` null: no `value` key).
pub async fn check_optional(peer: &Peer, case: &Case) -> Vec<String> {
    let name = format!("EchoOptional {}", short(&case.value));
    let mut problems = Vec::new();
    let value: Option<String> = match &case.sent_hex {
        None => None,
        Some(sent_hex) => match decode_value(&unhex(sent_hex)) {
            Ok(value) => Some(value),
            Err(e) => {
                return vec![format!(
                    "{name}: Twisted's bytes {sent_hex} do not decode: {e}"
                )];
            }
        },
    };
    let echoed = case.echoed_hex.as_deref().map(unhex);
    if value.py_repr() != case.repr {
        problems.push(format!(
            "{name}: our repr {:?}, Twisted's {:?}",
            value.py_repr(),
            case.repr
        ));
    }
    let args = OptionalArgs { value };
    match peer.call_as::<EchoOptional>(&args).await {
        Ok(answer) => {
            if answer.present != args.value.is_some() {
                problems.push(format!("{name}: present = {}", answer.present));
            }
            if !answer.value.same(&args.value) {
                problems.push(format!("{name}: echoed {:?}", answer.value));
            }
            let again = answer
                .value
                .as_ref()
                .map(|v| encode_value(v).unwrap().to_vec());
            if again != echoed {
                problems.push(format!(
                    "{name}: the echo re-encodes as {again:?}, not {echoed:?}"
                ));
            }
            if answer.repr != case.repr {
                problems.push(format!(
                    "{name}: Twisted read our bytes as {:?}, expected {:?}",
                    answer.repr, case.repr
                ));
            }
        }
        Err(e) => problems.push(format!("{name}: the call failed: {e}")),
    }
    problems
}

/// Every case of `interop/echo_cases.json`, checked on `peer`: returns the
/// problems found, the cases handled and the cases in the file.
pub async fn check_every_echo_case(peer: &Peer) -> (Vec<String>, usize, usize) {
    let text = std::fs::read_to_string(repo_root().join("interop/echo_cases.json"))
        .expect("interop/echo_cases.json");
    let cases: Vec<Case> = serde_json::from_str(&text).expect("echo_cases.json parses");
    assert!(!cases.is_empty());
    let mut problems = Vec::new();
    let mut handled = 0;
    for case in &cases {
        let found = match case.command.as_str() {
            "EchoInteger" => check_echo::<EchoInteger>(peer, case).await,
            "EchoString" => check_echo::<EchoString>(peer, case).await,
            "EchoUnicode" => check_echo::<EchoUnicode>(peer, case).await,
            "EchoBoolean" => check_echo::<EchoBoolean>(peer, case).await,
            "EchoFloat" => check_echo::<EchoFloat>(peer, case).await,
            "EchoDecimal" => check_echo::<EchoDecimal>(peer, case).await,
            "EchoDateTime" => check_echo::<EchoDateTime>(peer, case).await,
            "EchoListOfInteger" => check_echo::<EchoListOfInteger>(peer, case).await,
            "EchoListOfUnicode" => check_echo::<EchoListOfUnicode>(peer, case).await,
            "EchoListOfString" => check_echo::<EchoListOfString>(peer, case).await,
            "EchoListOfBoolean" => check_echo::<EchoListOfBoolean>(peer, case).await,
            "EchoAmpList" => check_echo::<EchoAmpList>(peer, case).await,
            "EchoPath" => check_echo::<EchoPath>(peer, case).await,
            "EchoOptional" => check_optional(peer, case).await,
            other => vec![format!("unknown echo command {other}")],
        };
        handled += 1;
        problems.extend(found);
    }
    (problems, handled, cases.len())
}
