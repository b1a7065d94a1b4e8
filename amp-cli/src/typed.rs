//! Values encoded and decoded by their schema type, with amp-core's value
//! codecs (`amp_core::values`): the scalar types through their Rust
//! counterparts, `ListOf` as a list of the elements' wire forms, `AmpList`
//! as a list of boxes of wire forms, each element then decoded by its own
//! type.

use std::collections::BTreeMap;
use std::fmt;

use amp_core::AmpBox;
use amp_core::values::{BigInteger, DateTime, Decimal, decode_value, encode_value};
use bytes::Bytes;
use serde_json::{Map, Value as Json, json};

use crate::output::{hex, json_value, printable, shown};
use crate::schema::{Field, Type};

/// A value decoded by its type.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    /// An Integer (or Descriptor), as decimal text.
    Integer(String),
    /// A String's bytes.
    Bytes(Bytes),
    /// A Unicode or Path text.
    Text(String),
    /// A Boolean.
    Bool(bool),
    /// A Float, with its text as Python's `repr`.
    Float(f64, String),
    /// A Decimal's canonical text.
    Decimal(String),
    /// A DateTime's wire form.
    DateTime(String),
    /// A ListOf's elements.
    List(Vec<Val>),
    /// An AmpList's elements: each element's keys and values, the declared
    /// fields first (absent optional ones left out), then any others as
    /// bytes.
    Boxes(Vec<Vec<(String, Val)>>),
}

impl Val {
    /// The value in JSON: numbers as numbers where JSON holds them exactly
    /// (an Integer beyond 64 bits, a Float that is not finite, a Decimal
    /// and a DateTime are strings), bytes as text or `{"hex", "repr"}`.
    pub fn to_json(&self) -> Json {
        match self {
            Val::Integer(text) => text
                .parse::<i64>()
                .map(Json::from)
                .or_else(|_| text.parse::<u64>().map(Json::from))
                .unwrap_or_else(|_| Json::String(text.clone())),
            Val::Bytes(b) => json_value(b),
            Val::Text(t) => Json::String(t.clone()),
            Val::Bool(b) => Json::Bool(*b),
            Val::Float(f, text) => serde_json::Number::from_f64(*f)
                .map(Json::Number)
                .unwrap_or_else(|| Json::String(text.clone())),
            Val::Decimal(t) | Val::DateTime(t) => Json::String(t.clone()),
            Val::List(items) => Json::Array(items.iter().map(Val::to_json).collect()),
            Val::Boxes(boxes) => Json::Array(
                boxes
                    .iter()
                    .map(|pairs| {
                        Json::Object(
                            pairs
                                .iter()
                                .map(|(k, v)| (k.clone(), v.to_json()))
                                .collect(),
                        )
                    })
                    .collect(),
            ),
        }
    }

    /// Inside a list or box: text quoted, as in JSON.
    fn nested(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Bytes(b) => match printable(b) {
                Some(text) => write!(f, "{}", Json::String(text.to_owned())),
                None => f.write_str(&shown(b)),
            },
            Val::Text(t) | Val::Decimal(t) | Val::DateTime(t) => {
                write!(f, "{}", Json::String(t.clone()))
            }
            other => fmt::Display::fmt(other, f),
        }
    }
}

impl fmt::Display for Val {
    /// Scalars as their text (`True`/`False` for Booleans, as Twisted
    /// writes them; bytes as [`shown`]); lists as `[a, b]`, boxes as
    /// `{key: value, ...}`, with text inside them quoted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Integer(t) | Val::Decimal(t) | Val::DateTime(t) | Val::Float(_, t) => {
                f.write_str(t)
            }
            Val::Bytes(b) => f.write_str(&shown(b)),
            Val::Text(t) => f.write_str(&shown(t.as_bytes())),
            Val::Bool(b) => f.write_str(if *b { "True" } else { "False" }),
            Val::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    item.nested(f)?;
                }
                f.write_str("]")
            }
            Val::Boxes(boxes) => {
                f.write_str("[")?;
                for (i, pairs) in boxes.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str("{")?;
                    for (j, (k, v)) in pairs.iter().enumerate() {
                        if j > 0 {
                            f.write_str(", ")?;
                        }
                        write!(f, "{k}: ")?;
                        v.nested(f)?;
                    }
                    f.write_str("}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// Why a value did not encode or decode as its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeError {
    /// Where inside the value: `[2].note`, or empty.
    pub path: String,
    /// What was wrong.
    pub message: String,
}

impl TypeError {
    fn new(message: impl Into<String>) -> TypeError {
        TypeError {
            path: String::new(),
            message: message.into(),
        }
    }

    fn at(mut self, step: impl fmt::Display) -> TypeError {
        self.path = format!("{step}{}", self.path);
        self
    }
}

impl fmt::Display for TypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "at {}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for TypeError {}

impl From<amp_core::ValueError> for TypeError {
    fn from(e: amp_core::ValueError) -> TypeError {
        TypeError::new(e.to_string())
    }
}

/// Decodes `wire` as a `ty` value.
pub fn decode(ty: &Type, wire: &[u8]) -> Result<Val, TypeError> {
    Ok(match ty {
        Type::Integer | Type::Descriptor => {
            Val::Integer(decode_value::<BigInteger>(wire)?.to_string())
        }
        Type::String => Val::Bytes(Bytes::copy_from_slice(wire)),
        Type::Unicode | Type::Path => Val::Text(decode_value::<String>(wire)?),
        Type::Boolean => Val::Bool(decode_value::<bool>(wire)?),
        Type::Float => {
            let f = decode_value::<f64>(wire)?;
            Val::Float(f, text(&encode_value(&f)?))
        }
        Type::Decimal => Val::Decimal(decode_value::<Decimal>(wire)?.into_string()),
        Type::DateTime => Val::DateTime(decode_value::<DateTime>(wire)?.to_string()),
        Type::ListOf(element) => {
            let items = decode_value::<Vec<Bytes>>(wire)?;
            Val::List(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| decode(element, item).map_err(|e| e.at(format_args!("[{i}]"))))
                    .collect::<Result<_, _>>()?,
            )
        }
        Type::AmpList(fields) => {
            let boxes = decode_value::<Vec<BTreeMap<Bytes, Bytes>>>(wire)?;
            Val::Boxes(
                boxes
                    .iter()
                    .enumerate()
                    .map(|(i, b)| {
                        decode_element(fields, b).map_err(|e| e.at(format_args!("[{i}]")))
                    })
                    .collect::<Result<_, _>>()?,
            )
        }
    })
}

fn text(wire: &[u8]) -> String {
    String::from_utf8_lossy(wire).into_owned()
}

fn decode_element(
    fields: &[Field],
    b: &BTreeMap<Bytes, Bytes>,
) -> Result<Vec<(String, Val)>, TypeError> {
    let mut pairs = Vec::new();
    for field in fields {
        match b.get(field.name.as_bytes()) {
            Some(wire) => pairs.push((
                field.name.clone(),
                decode(&field.ty, wire).map_err(|e| e.at(format_args!(".{}", field.name)))?,
            )),
            None if field.optional => {}
            None => {
                return Err(TypeError::new(format!(
                    "the required key {:?} is missing",
                    field.name
                )));
            }
        }
    }
    for (key, value) in b {
        if !fields.iter().any(|f| f.name.as_bytes() == key) {
            pairs.push((shown(key), Val::Bytes(value.clone())));
        }
    }
    Ok(pairs)
}

/// Encodes a value given on the command line as `ty`: scalars as their
/// text, lists and AmpLists as JSON (`[1, 2]`, `[{"n": 1}]`).
pub fn encode_text(ty: &Type, text: &str) -> Result<Bytes, TypeError> {
    match ty {
        Type::ListOf(_) | Type::AmpList(_) => {
            let json: Json = serde_json::from_str(text)
                .map_err(|e| TypeError::new(format!("expected a JSON list for {ty}: {e}")))?;
            encode_json(ty, &json)
        }
        Type::String => Ok(Bytes::copy_from_slice(text.as_bytes())),
        _ => encode_json(ty, &Json::String(text.to_owned())),
    }
}

/// Encodes a JSON value as `ty`. Strings are accepted for every scalar
/// (as their text), numbers for the numeric types, `true`/`false` and
/// `"True"`/`"False"` for Boolean, and `{"hex": "..."}` for String.
pub fn encode_json(ty: &Type, value: &Json) -> Result<Bytes, TypeError> {
    let wrong = || TypeError::new(format!("expected a {} value, got {value}", ty.name()));
    let number_or_text = || match value {
        Json::String(s) => Ok(s.clone()),
        Json::Number(n) => Ok(n.to_string()),
        _ => Err(wrong()),
    };
    match ty {
        Type::Integer | Type::Descriptor => {
            if let Some(n) = value.as_number().filter(|n| n.is_f64()) {
                return Err(TypeError::new(format!(
                    "{n} is not a 64-bit integer: give larger integers as JSON strings (\"18446744073709551616\")"
                )));
            }
            let n: BigInteger = number_or_text()?.parse()?;
            Ok(encode_value(&n)?)
        }
        Type::String => match value {
            Json::String(s) => Ok(Bytes::copy_from_slice(s.as_bytes())),
            Json::Object(o) => match o.get("hex").and_then(Json::as_str) {
                Some(h) if o.len() == 1 || o.contains_key("repr") => unhex(h),
                _ => Err(wrong()),
            },
            _ => Err(wrong()),
        },
        Type::Unicode | Type::Path => match value {
            Json::String(s) => Ok(encode_value(s)?),
            _ => Err(wrong()),
        },
        Type::Boolean => match value {
            Json::Bool(b) => Ok(encode_value(b)?),
            Json::String(s) => match s.as_str() {
                "True" | "true" => Ok(encode_value(&true)?),
                "False" | "false" => Ok(encode_value(&false)?),
                _ => Err(TypeError::new(format!(
                    "expected True or False for a Boolean, got {s:?}"
                ))),
            },
            _ => Err(wrong()),
        },
        Type::Float => {
            let f = match value {
                Json::Number(n) => n.as_f64().ok_or_else(wrong)?,
                Json::String(s) => s.trim().parse::<f64>().map_err(|_| {
                    TypeError::new(format!(
                        "expected a Float (as 0.5, 1e+16, inf, nan), got {s:?}"
                    ))
                })?,
                _ => return Err(wrong()),
            };
            Ok(encode_value(&f)?)
        }
        Type::Decimal => {
            let d: Decimal = number_or_text()?.parse()?;
            Ok(encode_value(&d)?)
        }
        Type::DateTime => match value {
            Json::String(s) => {
                let d: DateTime = s.parse()?;
                Ok(encode_value(&d)?)
            }
            _ => Err(wrong()),
        },
        Type::ListOf(element) => {
            let items = value.as_array().ok_or_else(wrong)?;
            let wires = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    encode_json(element, item).map_err(|e| e.at(format_args!("[{i}]")))
                })
                .collect::<Result<Vec<Bytes>, _>>()?;
            Ok(encode_value(&wires)?)
        }
        Type::AmpList(fields) => {
            let items = value.as_array().ok_or_else(wrong)?;
            let boxes = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let object = item.as_object().ok_or_else(|| {
                        TypeError::new(format!("expected an object, got {item}"))
                            .at(format_args!("[{i}]"))
                    })?;
                    encode_element(fields, object).map_err(|e| e.at(format_args!("[{i}]")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(encode_value(&boxes)?)
        }
    }
}

fn encode_element(
    fields: &[Field],
    object: &Map<String, Json>,
) -> Result<BTreeMap<String, Bytes>, TypeError> {
    if let Some(extra) = object
        .keys()
        .find(|k| !fields.iter().any(|f| &f.name == *k))
    {
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        return Err(TypeError::new(format!(
            "no field {extra:?} (the fields are {})",
            names.join(", ")
        )));
    }
    let mut out = BTreeMap::new();
    for field in fields {
        match object.get(&field.name) {
            None | Some(Json::Null) if field.optional => {}
            None | Some(Json::Null) => {
                return Err(TypeError::new(format!(
                    "the required field {:?} is missing",
                    field.name
                )));
            }
            Some(value) => {
                let wire = encode_json(&field.ty, value)
                    .map_err(|e| e.at(format_args!(".{}", field.name)))?;
                out.insert(field.name.clone(), wire);
            }
        }
    }
    Ok(out)
}

fn unhex(h: &str) -> Result<Bytes, TypeError> {
    let bad = || TypeError::new(format!("not hexadecimal: {h:?}"));
    if !h.len().is_multiple_of(2) {
        return Err(bad());
    }
    (0..h.len())
        .step_by(2)
        .map(|i| {
            h.get(i..i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .ok_or_else(bad)
        })
        .collect::<Result<Vec<u8>, _>>()
        .map(Bytes::from)
}

/// One key of a box decoded by a schema: declared keys by their type,
/// others as bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The key, as [`shown`].
    pub key: String,
    /// The value decoded, or why it did not decode (then shown as bytes).
    pub value: Result<Val, (Bytes, TypeError)>,
    /// Whether the schema declares the key.
    pub declared: bool,
}

impl Entry {
    /// The value's JSON: decoded, or `{"raw": ..., "error": "..."}`.
    pub fn to_json(&self) -> Json {
        match &self.value {
            Ok(v) => v.to_json(),
            Err((raw, e)) => {
                json!({ "raw": json_value(raw), "raw_hex": hex(raw), "error": e.to_string() })
            }
        }
    }
}

impl Entry {
    /// `key=value` for one-line logs, a value longer than `max` characters
    /// cut short with the length it had.
    pub fn inline(&self, max: usize) -> String {
        let value = match &self.value {
            Ok(v) => v.to_string(),
            Err((raw, e)) => format!("{} (does not decode: {e})", shown(raw)),
        };
        format!("{}={}", clip(&self.key, max), clip(&value, max))
    }
}

/// `text` cut to `max` characters, saying so.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}...({} chars)", &text[..end], text.chars().count()),
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Ok(v) => write!(f, "{}: {v}", self.key),
            Err((raw, e)) => write!(f, "{}: {} (does not decode: {e})", self.key, shown(raw)),
        }
    }
}

/// The keys of `b` (AMP's own, starting with `_`, left out) decoded by
/// `fields`: declared keys in declaration order, then the others in wire
/// order; a missing required key is an entry with an error.
pub fn decode_box(fields: &[Field], b: &AmpBox) -> Vec<Entry> {
    let mut entries = Vec::new();
    for field in fields {
        match b.get(field.name.as_bytes()) {
            Some(wire) => entries.push(Entry {
                key: field.name.clone(),
                value: decode(&field.ty, wire).map_err(|e| (Bytes::copy_from_slice(wire), e)),
                declared: true,
            }),
            None if field.optional => {}
            None => entries.push(Entry {
                key: field.name.clone(),
                value: Err((
                    Bytes::new(),
                    TypeError::new(format!("missing: {} is required", field.ty)),
                )),
                declared: true,
            }),
        }
    }
    for (key, value) in b.iter() {
        if key.starts_with(b"_") || fields.iter().any(|f| f.name.as_bytes() == key) {
            continue;
        }
        entries.push(Entry {
            key: shown(key),
            value: Ok(Val::Bytes(Bytes::copy_from_slice(value))),
            declared: false,
        });
    }
    entries
}

/// Encodes `KEY=VALUE` pairs given on the command line as `fields`
/// declare them: every key declared, every required key given, each value
/// by its type ([`encode_text`]).
pub fn encode_arguments(
    what: &str,
    fields: &[Field],
    pairs: &[(String, String)],
) -> Result<AmpBox, String> {
    let mut b = AmpBox::new();
    for (key, text) in pairs {
        let Some(field) = fields.iter().find(|f| &f.name == key) else {
            let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
            return Err(if names.is_empty() {
                format!("{what} takes no arguments, but {key:?} is given")
            } else {
                format!(
                    "{what} has no argument {key:?} (its arguments: {})",
                    names.join(", ")
                )
            });
        };
        let wire = encode_text(&field.ty, text)
            .map_err(|e| format!("{key}={text}: not a {}: {e}", field.ty))?;
        b.insert(Bytes::from(key.clone()), wire);
    }
    if let Some(missing) = fields
        .iter()
        .find(|f| !f.optional && !b.contains_key(f.name.as_bytes()))
    {
        return Err(format!(
            "{what} needs the argument {} ({})",
            missing.name, missing.ty
        ));
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::parse_type;

    fn ty(text: &str) -> Type {
        parse_type(text).unwrap().0
    }

    fn roundtrip(t: &str, input: &str, wire: &[u8], shown: &str) {
        let ty = ty(t);
        let encoded = encode_text(&ty, input).unwrap();
        assert_eq!(&encoded[..], wire, "{t} {input}");
        let decoded = decode(&ty, &encoded).unwrap();
        assert_eq!(decoded.to_string(), shown, "{t} {input}");
    }

    #[test]
    fn every_type_roundtrips_as_twisted_writes_it() {
        roundtrip("Integer", "-42", b"-42", "-42");
        roundtrip(
            "Integer",
            "18446744073709551616",
            b"18446744073709551616",
            "18446744073709551616",
        );
        roundtrip("String", "a\u{e9}", "a\u{e9}".as_bytes(), "a\u{e9}");
        roundtrip("Unicode", "caf\u{e9}", "caf\u{e9}".as_bytes(), "caf\u{e9}");
        roundtrip("Boolean", "true", b"True", "True");
        roundtrip("Boolean", "False", b"False", "False");
        roundtrip("Float", "0.1", b"0.1", "0.1");
        roundtrip("Float", "1e16", b"1e+16", "1e+16");
        roundtrip("Float", "-inf", b"-inf", "-inf");
        roundtrip("Decimal", "1.5E+2", b"1.5E+2", "1.5E+2");
        roundtrip(
            "DateTime",
            "2012-01-23T12:34:56.054321-00:00",
            b"2012-01-23T12:34:56.054321-00:00",
            "2012-01-23T12:34:56.054321-00:00",
        );
        roundtrip("Path", "/tmp/x", b"/tmp/x", "/tmp/x");
        roundtrip(
            "ListOf(Integer)",
            "[1, -2, \"3\"]",
            b"\x00\x011\x00\x02-2\x00\x013",
            "[1, -2, 3]",
        );
        roundtrip("ListOf(Unicode)", "[]", b"", "[]");
        roundtrip(
            "ListOf(ListOf(Boolean))",
            "[[true], []]",
            b"\x00\x06\x00\x04True\x00\x00",
            "[[True], []]",
        );
        roundtrip(
            "AmpList(name: Unicode, items: AmpList(n: Integer), note: Unicode(optional=True))",
            r#"[{"name": "one", "items": [{"n": 1}], "note": "x"}, {"name": "two", "items": []}]"#,
            b"\x00\x05items\x00\x08\x00\x01n\x00\x011\x00\x00\x00\x04name\x00\x03one\x00\x04note\x00\x01x\x00\x00\
              \x00\x05items\x00\x00\x00\x04name\x00\x03two\x00\x00",
            r#"[{name: "one", items: [{n: 1}], note: "x"}, {name: "two", items: []}]"#,
        );
        roundtrip(
            "ListOf(String)",
            r#"[{"hex": "00ff"}, "a"]"#,
            b"\x00\x02\x00\xff\x00\x01a",
            "[b'\\x00\\xff', \"a\"]",
        );
    }

    #[test]
    fn json_keeps_numbers_exact() {
        let t = ty("ListOf(Integer)");
        let v = decode(&t, b"\x00\x011\x00\x1418446744073709551616").unwrap();
        assert_eq!(v.to_json(), json!([1, "18446744073709551616"]));
        assert_eq!(
            decode(&Type::Float, b"nan").unwrap().to_json(),
            json!("nan")
        );
        assert_eq!(decode(&Type::Float, b"0.5").unwrap().to_json(), json!(0.5));
        assert_eq!(
            decode(&Type::String, b"\xff").unwrap().to_json(),
            json!({"hex": "ff", "repr": "b'\\xff'"})
        );
    }

    #[test]
    fn bad_values_say_what_and_where() {
        for (t, input, needle) in [
            ("Integer", "1.5", "integer"),
            ("Boolean", "yes", "True or False"),
            ("Float", "x", "expected a Float"),
            ("DateTime", "2012-01-23", "date-time"),
            ("ListOf(Integer)", "[1, \"x\"]", "at [1]"),
            (
                "ListOf(Integer)",
                "[18446744073709551616]",
                "as JSON strings",
            ),
            ("ListOf(Integer)", "1", "expected a ListOf(Integer) value"),
            ("ListOf(Integer)", "[", "expected a JSON list"),
            ("AmpList(n: Integer)", "[{\"m\": 1}]", "no field \"m\""),
            ("AmpList(n: Integer)", "[{}]", "required field \"n\""),
            ("AmpList(n: Integer)", "[{\"n\": \"x\"}]", "at [0].n"),
            ("String", "{\"hex\": \"0\"}", ""),
        ] {
            match encode_text(&ty(t), input) {
                Err(e) => assert!(e.to_string().contains(needle), "{t} {input}: {e}"),
                Ok(wire) => assert_eq!(t, "String", "{t} {input} encoded as {wire:?}"),
            }
        }
        for (t, wire, needle) in [
            ("Integer", &b"x"[..], "integer"),
            ("ListOf(Integer)", b"\x00\x05ab", ""),
            ("ListOf(Integer)", b"\x00\x01x", "at [0]"),
            (
                "AmpList(n: Integer)",
                b"\x00\x01m\x00\x011\x00\x00",
                "\"n\" is missing",
            ),
            ("Unicode", b"\xff", ""),
        ] {
            let e = decode(&ty(t), wire).unwrap_err();
            assert!(e.to_string().contains(needle), "{t}: {e}");
        }
    }

    #[test]
    fn a_box_decodes_declared_keys_and_shows_the_rest() {
        let fields = vec![
            Field {
                name: "a".into(),
                ty: Type::Integer,
                optional: false,
            },
            Field {
                name: "b".into(),
                ty: Type::Integer,
                optional: false,
            },
            Field {
                name: "c".into(),
                ty: Type::Unicode,
                optional: true,
            },
        ];
        let b = AmpBox::from_pairs([("_ask", "1"), ("x", "y"), ("a", "1"), ("b", "z")]);
        let entries = decode_box(&fields, &b);
        let lines: Vec<String> = entries.iter().map(Entry::to_string).collect();
        assert_eq!(lines[0], "a: 1");
        assert!(
            lines[1].starts_with("b: z (does not decode: "),
            "{}",
            lines[1]
        );
        assert_eq!(lines[2], "x: y");
        assert_eq!(lines.len(), 3);
        assert!(!entries[2].declared);
    }
}
