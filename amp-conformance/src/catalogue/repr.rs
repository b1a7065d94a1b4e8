//! What Twisted makes of the values the catalogue's echo commands carry:
//! the value its argument type decodes to ([`Decoded`]), its `repr` text
//! ([`PyRepr`]), and sameness of values ([`Same`]).

use std::path::{Path, PathBuf};

use amp_core::values::{DateTime, Decimal, encode_value};
use bytes::Bytes;

use super::{AmpEntry, AmpItem};

// -- What Twisted makes of a decoded value ----------------------------------------

/// The value Twisted holds after decoding: the identity, except for `Path`.
pub trait Decoded: Sized {
    /// The value as Twisted's argument type would have decoded it.
    fn decoded(self) -> Self {
        self
    }
}

impl Decoded for i128 {}
impl Decoded for Bytes {}
impl Decoded for String {}
impl Decoded for bool {}
impl Decoded for f64 {}
impl Decoded for Decimal {}
impl Decoded for DateTime {}
impl<T> Decoded for Vec<T> {}

impl Decoded for PathBuf {
    /// `FilePath(text)` makes the path absolute and normalised
    /// (`os.path.abspath`) against the working directory.
    fn decoded(self) -> Self {
        abspath(&self)
    }
}

/// Python's `os.path.abspath` on POSIX: joined to the working directory if
/// relative, then `os.path.normpath`.
pub fn abspath(path: &Path) -> PathBuf {
    let text = path.to_string_lossy();
    let joined = if text.starts_with('/') {
        text.into_owned()
    } else {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        format!("{}/{}", cwd.to_string_lossy(), text)
    };
    PathBuf::from(normpath(&joined))
}

/// Python's `posixpath.normpath`.
pub fn normpath(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let initial = if path.starts_with("//") && !path.starts_with("///") {
        2
    } else {
        usize::from(path.starts_with('/'))
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if (initial == 0 && parts.is_empty()) || parts.last() == Some(&"..") => {
                parts.push(part)
            }
            ".." => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    let out = "/".repeat(initial) + &parts.join("/");
    if out.is_empty() { ".".into() } else { out }
}

// -- Python's repr ------------------------------------------------------------------

/// The `repr` text COMMANDS.md defines for a decoded value: Python 3.11's
/// `repr()`, except DateTime's `isoformat(timespec="microseconds")`.
pub trait PyRepr {
    /// The text.
    fn py_repr(&self) -> String;
}

impl PyRepr for i128 {
    fn py_repr(&self) -> String {
        self.to_string()
    }
}

impl PyRepr for bool {
    fn py_repr(&self) -> String {
        if *self { "True" } else { "False" }.into()
    }
}

impl PyRepr for f64 {
    /// `repr(float)` is exactly the Float wire form.
    fn py_repr(&self) -> String {
        let wire = encode_value(self).expect("every float encodes");
        String::from_utf8(wire.to_vec()).expect("float text is ASCII")
    }
}

impl PyRepr for Decimal {
    fn py_repr(&self) -> String {
        format!("Decimal('{}')", self.as_str())
    }
}

impl PyRepr for DateTime {
    /// `isoformat(timespec="microseconds")`: the wire form, but `+` for a
    /// zero offset.
    fn py_repr(&self) -> String {
        let wire = self.to_string();
        let sign = if self.offset_minutes() < 0 { '-' } else { '+' };
        format!("{}{sign}{}", &wire[..26], &wire[27..])
    }
}

impl PyRepr for Bytes {
    fn py_repr(&self) -> String {
        bytes_repr(self)
    }
}

impl PyRepr for String {
    fn py_repr(&self) -> String {
        str_repr(self)
    }
}

impl PyRepr for PathBuf {
    /// `repr(FilePath)`: `FilePath('<path as repr(str)>')`.
    fn py_repr(&self) -> String {
        format!("FilePath({})", str_repr(&self.to_string_lossy()))
    }
}

impl<T: PyRepr> PyRepr for Option<T> {
    fn py_repr(&self) -> String {
        self.as_ref().map_or_else(|| "None".into(), T::py_repr)
    }
}

impl<T: PyRepr> PyRepr for Vec<T> {
    fn py_repr(&self) -> String {
        let items: Vec<String> = self.iter().map(T::py_repr).collect();
        format!("[{}]", items.join(", "))
    }
}

impl PyRepr for AmpEntry {
    /// A dict with the keys in declaration order; an absent note is `None`.
    fn py_repr(&self) -> String {
        format!(
            "{{'name': {}, 'items': {}, 'note': {}}}",
            self.name.py_repr(),
            self.items.py_repr(),
            self.note.py_repr()
        )
    }
}

impl PyRepr for AmpItem {
    fn py_repr(&self) -> String {
        format!("{{'n': {}}}", self.n.py_repr())
    }
}

/// The quote Python's repr picks: `'` unless the text holds `'` and no `"`.
fn quote_for(has_single: bool, has_double: bool) -> char {
    if has_single && !has_double { '"' } else { '\'' }
}

/// Python's `repr(bytes)`.
pub fn bytes_repr(bytes: &[u8]) -> String {
    let quote = quote_for(bytes.contains(&b'\''), bytes.contains(&b'"'));
    let mut out = format!("b{quote}");
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b if b as char == quote => {
                out.push('\\');
                out.push(quote);
            }
            0x20..=0x7e => out.push(b as char),
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push(quote);
    out
}

/// Python's `repr(str)`.
pub fn str_repr(text: &str) -> String {
    let quote = quote_for(text.contains('\''), text.contains('"'));
    let mut out = String::from(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(quote);
            }
            c if is_printable(c) => out.push(c),
            c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push(quote);
    out
}

/// An approximation of Python's `str.isprintable()` for one character,
/// which rejects the general categories Cc, Cf, Cs, Co, Cn, Zl, Zp and Zs
/// (except the space). Without Unicode tables this rejects: control
/// characters (Cc), whitespace other than the space (all of Zs, Zl, Zp),
/// the format characters (Cf) listed below, private use (Co) and the
/// noncharacters (part of Cn). Unassigned code points (the rest of Cn) are
/// taken as printable, which is wrong but does not matter for the values the
/// suite sends (ASCII, Latin-1, CJK, emoji, Gothic: all assigned).
pub fn is_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(
        c as u32,
        // Cf
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x890..=0x891 | 0x8E2 | 0x180E
            | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
            | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F
            // Co
            | 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD
            // Noncharacters (Cn)
            | 0xFDD0..=0xFDEF
    ) && (c as u32) & 0xFFFE != 0xFFFE
}

// -- Sameness -----------------------------------------------------------------------

/// The same value of the same type, exactly: NaN is NaN, -0.0 is not 0.0,
/// Decimals by their text, DateTimes by their fields and offset.
pub trait Same {
    /// Whether `self` and `other` are the same value.
    fn same(&self, other: &Self) -> bool;
}

macro_rules! same_by_eq {
    ($($t:ty),*) => {$(
        impl Same for $t {
            fn same(&self, other: &Self) -> bool {
                self == other
            }
        }
    )*};
}

same_by_eq!(i128, bool, Bytes, String, DateTime, PathBuf, AmpEntry);

impl Same for f64 {
    fn same(&self, other: &Self) -> bool {
        if self.is_nan() || other.is_nan() {
            return self.is_nan() && other.is_nan();
        }
        self == other && self.is_sign_negative() == other.is_sign_negative()
    }
}

impl Same for Decimal {
    fn same(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl<T: Same> Same for Vec<T> {
    fn same(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(a, b)| a.same(b))
    }
}

impl<T: Same> Same for Option<T> {
    fn same(&self, other: &Self) -> bool {
        match (self, other) {
            (Some(a), Some(b)) => a.same(b),
            (None, None) => true,
            _ => false,
        }
    }
}
