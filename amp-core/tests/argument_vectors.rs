//! Every argument vector recorded from Twisted: decode its wire bytes into
//! the matching Rust type, compare with the value Twisted named, and encode
//! it back to exactly the same bytes.

mod support;

use std::fmt::Debug;
use std::path::PathBuf;

use amp_core::values::{DateTime, Decimal, decode_value, encode_value};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// A Python literal, as found in the vectors' `value` and `decoded_repr`.
#[derive(Clone, Debug, PartialEq)]
enum Py {
    Int(i128),
    Str(String),
    Bytes(Vec<u8>),
    Bool(bool),
    None,
    List(Vec<Py>),
    Dict(Vec<(String, Py)>),
}

/// A small reader for the Python literals the vectors use.
struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn parse(text: &str) -> Py {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value();
        p.ws();
        assert_eq!(p.i, p.s.len(), "trailing text in Python literal {text:?}");
        v
    }

    fn ws(&mut self) {
        while self.s.get(self.i) == Some(&b' ') {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) {
        assert!(
            self.eat(c),
            "expected {:?} at {} in {:?}",
            c as char,
            self.i,
            String::from_utf8_lossy(self.s)
        );
    }

    fn value(&mut self) -> Py {
        self.ws();
        let rest = &self.s[self.i..];
        if rest.starts_with(b"[") {
            self.i += 1;
            let mut items = Vec::new();
            if !self.eat(b']') {
                loop {
                    items.push(self.value());
                    if self.eat(b']') {
                        break;
                    }
                    self.expect(b',');
                }
            }
            Py::List(items)
        } else if rest.starts_with(b"{") {
            self.i += 1;
            let mut items = Vec::new();
            if !self.eat(b'}') {
                loop {
                    let Py::Str(k) = self.value() else {
                        panic!("dict key is not a str")
                    };
                    self.expect(b':');
                    items.push((k, self.value()));
                    if self.eat(b'}') {
                        break;
                    }
                    self.expect(b',');
                }
            }
            Py::Dict(items)
        } else if rest.starts_with(b"b'") {
            self.i += 1;
            Py::Bytes(self.quoted(true))
        } else if rest.starts_with(b"'") {
            Py::Str(String::from_utf8(self.quoted(false)).unwrap())
        } else if rest.starts_with(b"True") {
            self.i += 4;
            Py::Bool(true)
        } else if rest.starts_with(b"False") {
            self.i += 5;
            Py::Bool(false)
        } else if rest.starts_with(b"None") {
            self.i += 4;
            Py::None
        } else {
            let n = rest
                .iter()
                .take_while(|c| c.is_ascii_digit() || **c == b'-')
                .count();
            assert!(
                n > 0,
                "unknown Python literal at {:?}",
                String::from_utf8_lossy(rest)
            );
            self.i += n;
            Py::Int(std::str::from_utf8(&rest[..n]).unwrap().parse().unwrap())
        }
    }

    /// A single-quoted literal's bytes (UTF-8 for a str), escapes resolved.
    fn quoted(&mut self, bytes: bool) -> Vec<u8> {
        assert_eq!(self.s[self.i], b'\'');
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let c = self.s[self.i];
            self.i += 1;
            match c {
                b'\'' => return out,
                b'\\' => {
                    let e = self.s[self.i];
                    self.i += 1;
                    match e {
                        b'x' => {
                            let h = std::str::from_utf8(&self.s[self.i..self.i + 2]).unwrap();
                            let byte = u8::from_str_radix(h, 16).unwrap();
                            self.i += 2;
                            // In bytes, \xNN is a byte; in a str, a code point.
                            if bytes {
                                out.push(byte);
                            } else {
                                let mut buf = [0; 4];
                                out.extend_from_slice(
                                    char::from(byte).encode_utf8(&mut buf).as_bytes(),
                                );
                            }
                        }
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'\\' => out.push(b'\\'),
                        b'\'' => out.push(b'\''),
                        other => panic!("unknown escape \\{}", other as char),
                    }
                }
                _ => out.push(c),
            }
        }
    }
}

fn int(p: &Py) -> i128 {
    match p {
        Py::Int(n) => *n,
        other => panic!("expected an int, got {other:?}"),
    }
}

fn string(p: &Py) -> String {
    match p {
        Py::Str(s) => s.clone(),
        other => panic!("expected a str, got {other:?}"),
    }
}

fn list(p: &Py) -> &[Py] {
    match p {
        Py::List(items) => items,
        other => panic!("expected a list, got {other:?}"),
    }
}

fn field<'a>(p: &'a Py, key: &str) -> &'a Py {
    match p {
        Py::Dict(items) => {
            &items
                .iter()
                .find(|(k, _)| k == key)
                .unwrap_or_else(|| panic!("no key {key:?} in {p:?}"))
                .1
        }
        other => panic!("expected a dict, got {other:?}"),
    }
}

/// Decodes `wire` as `T`, checks it equals `expected`, and checks it encodes
/// back to `wire`.
fn check<T>(wire: &[u8], expected: &T)
where
    T: Serialize + for<'de> Deserialize<'de> + PartialEq + Debug,
{
    let decoded: T = decode_value(wire).unwrap_or_else(|e| {
        panic!(
            "decoding {wire:02x?} as {}: {e}",
            std::any::type_name::<T>()
        )
    });
    assert_eq!(&decoded, expected, "decoded value of {wire:02x?}");
    let encoded = encode_value(&decoded).unwrap();
    assert_eq!(&encoded[..], wire, "re-encoding {decoded:?}");
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct IntText {
    a: i64,
    b: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct IntOptionalText {
    a: i64,
    b: Option<String>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct N {
    n: i64,
}

/// Declared with `name` first: Twisted sorts keys, so `items` comes first on
/// the wire, and the encoder must sort too.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Named {
    name: String,
    items: Vec<N>,
}

/// The DateTime a vector names: fields from `decoded_repr`
/// (`datetime.datetime(2012, 1, 23, 12, 34, 56, 54321, tzinfo=...)`), offset
/// from `value` (`... UTC` or a trailing `±HH:MM`).
fn expected_datetime(value: &str, repr: &str) -> DateTime {
    let inner = repr
        .strip_prefix("datetime.datetime(")
        .and_then(|r| r.split(", tzinfo").next())
        .expect("datetime repr");
    let mut f: Vec<u32> = inner.split(", ").map(|n| n.parse().unwrap()).collect();
    f.resize(7, 0);
    let offset = if value.ends_with(" UTC") {
        0
    } else {
        let tail = &value[value.len() - 6..];
        let sign = if tail.starts_with('-') { -1 } else { 1 };
        let h: i16 = tail[1..3].parse().unwrap();
        let m: i16 = tail[4..6].parse().unwrap();
        sign * (h * 60 + m)
    };
    DateTime::new(
        f[0] as u16,
        f[1] as u8,
        f[2] as u8,
        f[3] as u8,
        f[4] as u8,
        f[5] as u8,
        f[6],
        offset,
    )
    .unwrap()
}

#[test]
fn every_argument_vector_round_trips() {
    let vectors = support::vectors();
    let mut handled = 0;
    for v in &vectors.arguments {
        let wire = support::unhex(&v.wire_hex);
        match v.ty.as_str() {
            "Integer" => {
                let n: i128 = v.value.parse().unwrap();
                assert_eq!(v.decoded_repr, v.value);
                check(&wire, &n);
                #[cfg(feature = "bigint")]
                check(
                    &wire,
                    &amp_core::values::BigInteger(v.value.parse().unwrap()),
                );
                if let Ok(small) = i64::try_from(n) {
                    check(&wire, &small);
                }
                if let Ok(small) = u64::try_from(n) {
                    check(&wire, &small);
                }
                if let Ok(small) = u128::try_from(n) {
                    check(&wire, &small);
                }
            }
            "String" => {
                let bytes = support::unhex(&v.value);
                let Py::Bytes(repr) = Parser::parse(&v.decoded_repr) else {
                    panic!("String repr is not bytes")
                };
                assert_eq!(repr, bytes);
                check(&wire, &ByteBuf::from(bytes.clone()));
                check(&wire, &bytes::Bytes::from(bytes.clone()));
                assert_eq!(decode_value::<&[u8]>(&wire).unwrap(), &bytes[..]);
            }
            "Unicode" => {
                assert_eq!(Parser::parse(&v.decoded_repr), Py::Str(v.value.clone()));
                check(&wire, &v.value);
                assert_eq!(decode_value::<&str>(&wire).unwrap(), v.value);
            }
            "Boolean" => {
                let b = match v.value.as_str() {
                    "True" => true,
                    "False" => false,
                    other => panic!("Boolean value {other:?}"),
                };
                check(&wire, &b);
            }
            "Float" => {
                let expected: f64 = v.value.parse().unwrap();
                let decoded: f64 = decode_value(&wire).unwrap();
                if expected.is_nan() {
                    assert!(decoded.is_nan());
                } else {
                    assert_eq!(decoded.to_bits(), expected.to_bits(), "{}", v.value);
                }
                assert_eq!(&encode_value(&decoded).unwrap()[..], &wire[..]);
                assert_eq!(v.decoded_repr, v.value);
            }
            "Decimal" => {
                let text = v
                    .decoded_repr
                    .strip_prefix("Decimal('")
                    .and_then(|r| r.strip_suffix("')"))
                    .expect("Decimal repr");
                let expected: Decimal = v.value.parse().unwrap();
                assert_eq!(expected.as_str(), text);
                check(&wire, &expected);
            }
            "DateTime" => {
                check(&wire, &expected_datetime(&v.value, &v.decoded_repr));
            }
            "ListOf(Integer)" => {
                let expected: Vec<i128> = list(&Parser::parse(&v.value)).iter().map(int).collect();
                check(&wire, &expected);
                #[cfg(feature = "bigint")]
                {
                    let big: Vec<amp_core::values::BigInteger> = expected
                        .iter()
                        .map(|n| amp_core::values::BigInteger((*n).into()))
                        .collect();
                    check(&wire, &big);
                }
            }
            "ListOf(Unicode)" => {
                let expected: Vec<String> =
                    list(&Parser::parse(&v.value)).iter().map(string).collect();
                check(&wire, &expected);
            }
            "ListOf(Boolean)" => {
                let expected: Vec<bool> = list(&Parser::parse(&v.value))
                    .iter()
                    .map(|p| match p {
                        Py::Bool(b) => *b,
                        other => panic!("expected a bool, got {other:?}"),
                    })
                    .collect();
                check(&wire, &expected);
            }
            "ListOf(String)" => {
                let expected: Vec<ByteBuf> = list(&Parser::parse(&v.value))
                    .iter()
                    .map(|p| match p {
                        Py::Bytes(b) => ByteBuf::from(b.clone()),
                        other => panic!("expected bytes, got {other:?}"),
                    })
                    .collect();
                check(&wire, &expected);
            }
            "AmpList([a: Integer, b: Unicode])" => {
                let expected: Vec<IntText> = list(&Parser::parse(&v.value))
                    .iter()
                    .map(|d| IntText {
                        a: int(field(d, "a")) as i64,
                        b: string(field(d, "b")),
                    })
                    .collect();
                check(&wire, &expected);
            }
            "AmpList([a: Integer, b: Unicode optional])" => {
                let expected: Vec<IntOptionalText> = list(&Parser::parse(&v.value))
                    .iter()
                    .map(|d| IntOptionalText {
                        a: int(field(d, "a")) as i64,
                        b: match field(d, "b") {
                            Py::None => None,
                            s => Some(string(s)),
                        },
                    })
                    .collect();
                check(&wire, &expected);
            }
            "AmpList([name: Unicode, items: AmpList([n: Integer])])" => {
                let expected: Vec<Named> = list(&Parser::parse(&v.value))
                    .iter()
                    .map(|d| Named {
                        name: string(field(d, "name")),
                        items: list(field(d, "items"))
                            .iter()
                            .map(|i| N {
                                n: int(field(i, "n")) as i64,
                            })
                            .collect(),
                    })
                    .collect();
                check(&wire, &expected);
            }
            "Path" => {
                // Twisted decodes a Path into a FilePath, always absolute and
                // normalized (it resolves the value it was given against its
                // working directory), and writes it back as its UTF-8 text.
                let inner = v
                    .decoded_repr
                    .strip_prefix("FilePath(")
                    .and_then(|r| r.strip_suffix(')'))
                    .expect("Path repr");
                let expected = PathBuf::from(string(&Parser::parse(inner)));
                assert!(expected.is_absolute(), "{expected:?}");
                check(&wire, &expected);
                assert_eq!(
                    decode_value::<PathBuf>(&wire).unwrap().to_str(),
                    Some(std::str::from_utf8(&wire).unwrap())
                );
                // What Twisted was given, made absolute against its working
                // directory (/ while recording) and normalized, is what it
                // wrote.
                let given = if v.value.starts_with('/') {
                    PathBuf::from(&v.value)
                } else {
                    PathBuf::from("/").join(&v.value)
                };
                let normalized: PathBuf = given.components().fold(PathBuf::new(), |mut p, c| {
                    match c {
                        std::path::Component::ParentDir => {
                            p.pop();
                        }
                        std::path::Component::CurDir => {}
                        other => p.push(other),
                    }
                    p
                });
                assert_eq!(normalized, expected, "{}", v.value);
            }
            other => panic!("argument vector of unhandled type {other:?}"),
        }
        if v.ty.starts_with("ListOf") || v.ty.starts_with("AmpList") {
            assert_eq!(
                Parser::parse(&v.decoded_repr),
                Parser::parse(&v.value),
                "decoded_repr of {}",
                v.ty
            );
        }
        handled += 1;
    }
    assert_eq!(handled, vectors.arguments.len());
    assert_eq!(handled, 73, "the vector file changed: review this test");
    let paths = vectors.arguments.iter().filter(|v| v.ty == "Path").count();
    assert_eq!(paths, 5, "Path vectors");
}

/// The same vectors through whole boxes: a struct with one field per type.
#[test]
fn vectors_through_boxes() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Args<'a> {
        #[serde(borrow)]
        text: &'a str,
        #[serde(with = "serde_bytes")]
        raw: &'a [u8],
        items: Vec<Named>,
        when: DateTime,
        price: Decimal,
        ratio: f64,
        flag: bool,
        file: PathBuf,
        missing: Option<i32>,
    }
    let vectors = support::vectors();
    let wire_of = |ty: &str, value: &str| {
        support::unhex(
            &vectors
                .arguments
                .iter()
                .find(|v| v.ty == ty && v.value == value)
                .unwrap()
                .wire_hex,
        )
    };
    let items = wire_of(
        "AmpList([name: Unicode, items: AmpList([n: Integer])])",
        "[{'name': 'x', 'items': [{'n': 1}, {'n': 2}]}, {'name': 'y', 'items': []}]",
    );
    let when = wire_of("DateTime", "9999-12-31T23:59:59.999999+05:30");
    let file = wire_of("Path", "/srv/données/日本語 ☃.txt");
    let b = amp_core::AmpBox::from_pairs([
        ("_command", b"Thing".to_vec()),
        ("_ask", b"17".to_vec()),
        ("text", "日本語".as_bytes().to_vec()),
        ("raw", b"\x00\x01\xff\xfe".to_vec()),
        ("items", items),
        ("when", when),
        ("price", b"1.5E+2".to_vec()),
        ("ratio", b"1e-07".to_vec()),
        ("flag", b"True".to_vec()),
        ("file", file),
    ]);
    let args: Args = amp_core::de::from_box(&b).unwrap();
    assert_eq!(args.text, "日本語");
    assert_eq!(args.file, PathBuf::from("/srv/données/日本語 ☃.txt"));
    assert_eq!(args.items.len(), 2);
    assert_eq!(args.missing, None);
    let mut again = amp_core::ser::to_box(&args).unwrap();
    assert!(!again.contains_key("missing"));
    again.insert("_command", "Thing");
    again.insert("_ask", "17");
    assert_eq!(again, b);
}
