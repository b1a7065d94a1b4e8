//! How keys and values are shown: as text when they are printable UTF-8,
//! else as escaped bytes the way Python writes a `bytes` literal; and their
//! JSON forms.

use std::fmt::Write as _;
use std::io::IsTerminal;

use serde_json::{Map, Value, json};

/// `bytes` as text when they are valid UTF-8 with no control characters
/// (so that one value stays on one line), else as Python's `repr` of them
/// (`b'\x00\xff'`).
pub fn shown(bytes: &[u8]) -> String {
    match printable(bytes) {
        Some(text) => text.to_owned(),
        None => repr(bytes),
    }
}

/// `bytes` as text, if they are valid UTF-8 without control characters.
pub fn printable(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes)
        .ok()
        .filter(|text| !text.chars().any(char::is_control))
}

/// Python's `repr` of a `bytes` object: `b'...'`, or `b"..."` when the bytes
/// hold a single quote and no double quote.
pub fn repr(bytes: &[u8]) -> String {
    let quote = if bytes.contains(&b'\'') && !bytes.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    let mut out = String::with_capacity(bytes.len() + 3);
    out.push('b');
    out.push(quote as char);
    for &byte in bytes {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            _ if byte == quote => {
                out.push('\\');
                out.push(quote as char);
            }
            0x20..=0x7e => out.push(byte as char),
            _ => {
                let _ = write!(out, "\\x{byte:02x}");
            }
        }
    }
    out.push(quote as char);
    out
}

/// Colours for a terminal: on when standard output (or error) is a
/// terminal and `NO_COLOR` is not set, off when piped, so that piped output
/// carries no escape codes.
#[derive(Clone, Copy, Debug)]
pub struct Painter {
    on: bool,
}

impl Painter {
    /// Colours if standard output is a terminal.
    pub fn stdout() -> Painter {
        Painter::when(std::io::stdout().is_terminal())
    }

    /// Colours if standard error is a terminal.
    pub fn stderr() -> Painter {
        Painter::when(std::io::stderr().is_terminal())
    }

    /// Colours if `terminal` and `NO_COLOR` is unset or empty.
    pub fn when(terminal: bool) -> Painter {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Painter {
            on: terminal && !no_color,
        }
    }

    /// Whether colours are on.
    pub fn is_on(&self) -> bool {
        self.on
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// Faint: times, offsets.
    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    /// Bold: command names.
    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    /// Green: answers.
    pub fn green(&self, text: &str) -> String {
        self.paint("32", text)
    }

    /// Red: errors.
    pub fn red(&self, text: &str) -> String {
        self.paint("31", text)
    }

    /// Yellow: warnings, unparseable traffic.
    pub fn yellow(&self, text: &str) -> String {
        self.paint("33", text)
    }

    /// Cyan: requests.
    pub fn cyan(&self, text: &str) -> String {
        self.paint("36", text)
    }
}

/// The time now, UTC, for log lines: `12:34:56.054321`.
pub fn clock() -> String {
    let now = amp_core::values::DateTime::now();
    format!(
        "{:02}:{:02}:{:02}.{:06}",
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond()
    )
}

/// The time now, UTC, for JSON: `2012-01-23T12:34:56.054321Z`.
pub fn timestamp() -> String {
    let now = amp_core::values::DateTime::now();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        now.year(),
        now.month(),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond()
    )
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// A value in JSON: its text when it is valid UTF-8, else an object with
/// its bytes in hexadecimal and as Python's `repr`.
pub fn json_value(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => Value::String(text.to_owned()),
        Err(_) => json!({ "hex": hex(bytes), "repr": repr(bytes) }),
    }
}

/// A key/value pair in JSON, losing nothing: the key and the value as
/// [`shown`], whether each was valid UTF-8 text, and both in hexadecimal.
pub fn json_pair(key: &[u8], value: &[u8]) -> Value {
    let mut pair = Map::new();
    pair.insert("key".into(), shown(key).into());
    pair.insert("value".into(), shown(value).into());
    pair.insert("text".into(), printable(value).is_some().into());
    pair.insert("key_hex".into(), hex(key).into());
    pair.insert("value_hex".into(), hex(value).into());
    Value::Object(pair)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_painter_off_writes_plain_text() {
        let off = Painter { on: false };
        assert_eq!(off.red("x"), "x");
        let on = Painter { on: true };
        assert_eq!(on.red("x"), "\x1b[31mx\x1b[0m");
    }

    #[test]
    fn repr_is_pythons() {
        assert_eq!(repr(b""), "b''");
        assert_eq!(repr(b"\x00\x01\xff\xfe"), "b'\\x00\\x01\\xff\\xfe'");
        assert_eq!(repr(b"a\tb\nc\rd\\"), "b'a\\tb\\nc\\rd\\\\'");
        assert_eq!(repr(b"it's"), "b\"it's\"");
        assert_eq!(repr(b"'\""), "b'\\'\"'");
        assert_eq!(repr(b"\x7f"), "b'\\x7f'");
    }

    #[test]
    fn text_is_shown_as_text() {
        assert_eq!(shown(b"94"), "94");
        assert_eq!(shown("caf\u{e9}".as_bytes()), "caf\u{e9}");
        assert_eq!(shown(b"two\nlines"), "b'two\\nlines'");
        assert_eq!(shown(b"\xff"), "b'\\xff'");
    }

    #[test]
    fn json_values_lose_nothing() {
        assert_eq!(json_value(b"94"), json!("94"));
        assert_eq!(
            json_value(b"\xff"),
            json!({"hex": "ff", "repr": "b'\\xff'"})
        );
    }
}
