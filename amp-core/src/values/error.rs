//! [`ValueError`]: what went wrong mapping a Rust value to or from its wire
//! form, and where.

use std::fmt;

use bytes::Bytes;

use crate::amp_box::Readable;
use crate::error::CodecError;

use super::constrained::VIOLATION_PREFIX;
use super::datetime::DateTimeError;
use super::nested::{MANY_BOXES, NO_BOX, NOT_ONE_BOX_PREFIX};

/// Longest piece of an offending value an error keeps (and shows).
const SNIPPET: usize = 64;

/// What was wrong with an argument value, and the key (or path inside nested
/// lists) where it was found.
///
/// The path names the box key, then list positions and keys inside AmpList
/// elements: `items[1].n` is key `n` of the second element of the AmpList
/// under key `items`. It is empty for a value handled on its own
/// ([`encode_value`](super::encode_value), [`decode_value`](super::decode_value)).
///
/// ```
/// use amp_core::values::ValueErrorKind;
///
/// #[derive(Debug, serde::Deserialize)]
/// struct Args {
///     a: u8,
/// }
/// let b = amp_core::AmpBox::from_pairs([("a", "300")]);
/// let e = amp_core::de::from_box::<Args>(&b).unwrap_err();
/// assert_eq!(e.path(), "a");
/// assert!(matches!(e.kind(), ValueErrorKind::IntegerOutOfRange { ty: "u8", .. }));
/// assert_eq!(e.to_string(), r#"argument "a": "300" does not fit in u8"#);
/// ```
#[derive(Clone, PartialEq)]
pub struct ValueError(Box<Inner>);

#[derive(Clone, PartialEq)]
struct Inner {
    kind: ValueErrorKind,
    path: String,
}

/// The kinds of [`ValueError`].
///
/// Texts quoted from the wire are kept up to their first 64 bytes.
///
/// ```
/// let e = amp_core::values::decode_value::<bool>(b"true").unwrap_err();
/// assert!(matches!(e.kind(), amp_core::values::ValueErrorKind::InvalidBoolean { .. }));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ValueErrorKind {
    /// A key the type requires is absent from the box.
    MissingKey,
    /// An Integer that is not an optional sign followed by ASCII digits.
    InvalidInteger {
        /// The offending text.
        text: Bytes,
    },
    /// An Integer too large or too small for the Rust type receiving it.
    IntegerOutOfRange {
        /// The offending text.
        text: Bytes,
        /// The Rust type, as `"u8"`, `"i64"`...
        ty: &'static str,
    },
    /// A Unicode value that is not valid UTF-8.
    InvalidUtf8 {
        /// Length of the valid UTF-8 prefix.
        valid_up_to: usize,
    },
    /// A `char` value that is not exactly one character.
    InvalidChar {
        /// The offending text.
        text: Bytes,
    },
    /// A Boolean that is neither `True` nor `False`.
    InvalidBoolean {
        /// The offending text.
        text: Bytes,
    },
    /// A Float that does not parse.
    InvalidFloat {
        /// The offending text.
        text: Bytes,
    },
    /// A Decimal outside Python's `decimal.Decimal` string syntax.
    InvalidDecimal {
        /// The offending text.
        text: Bytes,
    },
    /// A DateTime that is not a valid 32-character Twisted date-time.
    InvalidDateTime {
        /// The offending text.
        text: Bytes,
        /// What was wrong with it.
        reason: DateTimeError,
    },
    /// A unit enum variant name the type does not know.
    UnknownVariant {
        /// The offending text.
        text: Bytes,
    },
    /// A ListOf element whose length prefix runs past the end of the value
    /// (a ListOf whose inner lengths lie), or a lone byte where a prefix
    /// should be.
    ListLengthLies {
        /// Bytes the element claims (0 for a truncated prefix).
        claimed: usize,
        /// Bytes left in the value.
        remaining: usize,
    },
    /// A ListOf element longer than the 65535 bytes its prefix can say.
    ElementTooLong {
        /// The element's length.
        len: usize,
    },
    /// A malformed box inside an AmpList value.
    AmpList(CodecError),
    /// A key or value that cannot go on the wire (empty or over-long key,
    /// value over 65535 bytes, a key written twice).
    Codec(CodecError),
    /// A Rust shape with no AMP counterpart (a tuple, an `Option` inside a
    /// list, a struct where a single value is expected...).
    Unsupported {
        /// What it was.
        what: &'static str,
    },
    /// A list whose elements are `u8`: a plain `Vec<u8>` (or `[u8]`, or
    /// `VecDeque<u8>`...), which serde hands over as a sequence of integers.
    /// It is refused rather than sent as a `ListOf(Integer)`, because such a
    /// field is nearly always meant as bytes (Twisted's `String`), and
    /// read the same way: write it as `serde_bytes::ByteBuf`, `bytes::Bytes`
    /// or with `#[serde(with = "serde_bytes")]`; a list of small integers
    /// takes a wider element type (`Vec<u16>`, `Vec<i64>`).
    ///
    /// ```
    /// use amp_core::values::{ValueErrorKind, decode_value, encode_value};
    ///
    /// let e = encode_value(&vec![1u8, 2]).unwrap_err();
    /// assert!(matches!(e.kind(), ValueErrorKind::ByteList));
    /// assert!(e.to_string().contains("serde_bytes"));
    /// assert_eq!(&encode_value(&serde_bytes::ByteBuf::from(vec![1u8, 2])).unwrap()[..], b"\x01\x02");
    /// assert_eq!(&encode_value(&vec![1u16, 2]).unwrap()[..], b"\x00\x011\x00\x012");
    /// assert!(matches!(decode_value::<Vec<u8>>(b"\x00\x011").unwrap_err().kind(), ValueErrorKind::ByteList));
    /// ```
    ByteList,
    /// A [`Constrained`](super::Constrained) value that violates its
    /// constraint (txampext's `ConstrainedArgument` raising `ValueError`).
    ///
    /// ```
    /// use amp_core::values::{Constrained, ValueErrorKind, decode_value};
    /// amp_core::in_set!(pub Yes: &str = ["yes"]);
    /// let e = decode_value::<Constrained<String, Yes>>(b"no").unwrap_err();
    /// assert_eq!(e.kind(), &ValueErrorKind::Constraint { constraint: r#"Yes: one of ["yes"]"#.into() });
    /// ```
    Constraint {
        /// The constraint that failed, described.
        constraint: String,
    },
    /// A [`NestedBox`](super::NestedBox) value (an AmpList of exactly one
    /// box) that holds no box, or more than one.
    ///
    /// ```
    /// use amp_core::values::{NestedBox, ValueErrorKind, decode_value};
    /// # #[derive(serde::Deserialize, Debug)] struct P { x: i64 }
    /// let e = decode_value::<NestedBox<P>>(b"").unwrap_err();
    /// assert_eq!(e.kind(), &ValueErrorKind::NotOneBox { more: false });
    /// ```
    NotOneBox {
        /// `true`: more than one box; `false`: none.
        more: bool,
    },
    /// Any other message, from a type's own `Serialize`/`Deserialize`.
    Custom(String),
}

impl ValueError {
    /// An error of `kind` at no particular key.
    ///
    /// ```
    /// use amp_core::values::{ValueError, ValueErrorKind};
    /// let e = ValueError::new(ValueErrorKind::MissingKey).at_key("a");
    /// assert_eq!(e.to_string(), r#"argument "a": missing"#);
    /// ```
    pub fn new(kind: ValueErrorKind) -> Self {
        ValueError(Box::new(Inner {
            kind,
            path: String::new(),
        }))
    }

    /// What was wrong.
    ///
    /// ```
    /// let e = amp_core::values::decode_value::<u8>(b"x").unwrap_err();
    /// assert!(matches!(e.kind(), amp_core::values::ValueErrorKind::InvalidInteger { .. }));
    /// ```
    pub fn kind(&self) -> &ValueErrorKind {
        &self.0.kind
    }

    /// Where: the key, with list positions and nested keys (`items[1].n`);
    /// empty for a value on its own.
    ///
    /// ```
    /// let e = amp_core::values::decode_value::<Vec<u8>>(b"\x00\x01x").unwrap_err();
    /// assert_eq!(e.path(), "[0]");
    /// ```
    pub fn path(&self) -> &str {
        &self.0.path
    }

    /// This error, found under box key `key` (prefixed to the path).
    ///
    /// ```
    /// use amp_core::values::{ValueError, ValueErrorKind};
    /// let e = ValueError::new(ValueErrorKind::MissingKey).at_key("n").at_index(1).at_key("items");
    /// assert_eq!(e.path(), "items[1].n");
    /// ```
    pub fn at_key(mut self, key: &str) -> Self {
        let path = &mut self.0.path;
        if path.is_empty() {
            path.push_str(key);
        } else if path.starts_with('[') {
            path.insert_str(0, key);
        } else {
            path.insert(0, '.');
            path.insert_str(0, key);
        }
        self
    }

    /// [`at_key`](Self::at_key) for a key given as bytes (shown escaped if
    /// it is not UTF-8).
    pub(crate) fn at_key_bytes(self, key: &[u8]) -> Self {
        match std::str::from_utf8(key) {
            Ok(k) => self.at_key(k),
            Err(_) => {
                let k = key.escape_ascii().to_string();
                self.at_key(&k)
            }
        }
    }

    /// This error, found at position `index` of a list (prefixed to the
    /// path).
    ///
    /// ```
    /// use amp_core::values::{ValueError, ValueErrorKind};
    /// let e = ValueError::new(ValueErrorKind::MissingKey).at_key("n").at_index(0);
    /// assert_eq!(e.path(), "[0].n");
    /// ```
    pub fn at_index(mut self, index: usize) -> Self {
        let path = &mut self.0.path;
        let prefix = if path.is_empty() || path.starts_with('[') {
            format!("[{index}]")
        } else {
            format!("[{index}].")
        };
        path.insert_str(0, &prefix);
        self
    }

    pub(crate) fn missing(key: &str) -> Self {
        ValueError::new(ValueErrorKind::MissingKey).at_key(key)
    }

    /// Whether this is a [`Descriptor`](crate::values::Descriptor) met
    /// where only a box can carry it ([`ser::to_wire`](crate::ser::to_wire)):
    /// then [`ser::to_box`](crate::ser::to_box) can.
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// #[derive(serde::Serialize)]
    /// struct Args { fd: amp_core::values::Descriptor }
    /// let (s, _) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let args = Args { fd: std::os::fd::OwnedFd::from(s).into() };
    /// assert!(amp_core::ser::to_wire(&args).unwrap_err().needs_box());
    /// assert!(amp_core::ser::to_box(&args).is_ok());
    /// # }
    /// ```
    pub fn needs_box(&self) -> bool {
        #[cfg(unix)]
        if let ValueErrorKind::Unsupported { what } = self.kind() {
            return *what == crate::descriptor::NEEDS_BOX;
        }
        false
    }

    pub(crate) fn unsupported(what: &'static str) -> Self {
        ValueError::new(ValueErrorKind::Unsupported { what })
    }

    pub(crate) fn codec(e: CodecError) -> Self {
        ValueError::new(ValueErrorKind::Codec(e))
    }
}

/// Keeps the first [`SNIPPET`] bytes of an offending text.
pub(crate) fn snippet(text: &[u8]) -> Bytes {
    Bytes::copy_from_slice(&text[..text.len().min(SNIPPET)])
}

impl fmt::Display for ValueErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ValueErrorKind::*;
        match self {
            MissingKey => f.write_str("missing"),
            InvalidInteger { text } => write!(f, "{} is not an integer", Readable(text)),
            IntegerOutOfRange { text, ty } => {
                write!(f, "{} does not fit in {ty}", Readable(text))
            }
            InvalidUtf8 { valid_up_to } => {
                write!(f, "not valid UTF-8 (after byte {valid_up_to})")
            }
            InvalidChar { text } => write!(f, "{} is not one character", Readable(text)),
            InvalidBoolean { text } => {
                write!(f, "{} is not a Boolean (True or False)", Readable(text))
            }
            InvalidFloat { text } => write!(f, "{} is not a float", Readable(text)),
            InvalidDecimal { text } => write!(f, "{} is not a decimal", Readable(text)),
            InvalidDateTime { text, reason } => {
                write!(f, "{} is not a date-time: {reason}", Readable(text))
            }
            UnknownVariant { text } => write!(f, "{} is not a known variant", Readable(text)),
            ListLengthLies { claimed, remaining } => write!(
                f,
                "list element claims {claimed} bytes but only {remaining} remain"
            ),
            ElementTooLong { len } => write!(
                f,
                "list element of {len} bytes is longer than the 65535 AMP allows"
            ),
            AmpList(e) => write!(f, "malformed AmpList element: {e}"),
            Codec(CodecError::ValueTooLong { key, len }) if key.is_empty() => {
                write!(
                    f,
                    "value of {len} bytes is longer than the 65535 AMP allows"
                )
            }
            Codec(e) => write!(f, "{e}"),
            Unsupported { what } => write!(f, "unsupported: {what}"),
            ByteList => f.write_str(
                "a list of u8 (a plain Vec<u8>) is refused as a ListOf(Integer): \
                 for bytes (Twisted's String) use serde_bytes::ByteBuf, bytes::Bytes \
                 or #[serde(with = \"serde_bytes\")]; for a list of integers use a wider \
                 element type such as Vec<u16> or Vec<i64>",
            ),
            Constraint { constraint } => write!(f, "{VIOLATION_PREFIX}{constraint}"),
            NotOneBox { more } => write!(
                f,
                "{NOT_ONE_BOX_PREFIX}{}",
                if *more { MANY_BOXES } else { NO_BOX }
            ),
            Custom(msg) => f.write_str(msg),
        }
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.path.is_empty() {
            write!(f, "{}", self.0.kind)
        } else {
            write!(f, "argument \"{}\": {}", self.0.path, self.0.kind)
        }
    }
}

impl fmt::Debug for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValueError")
            .field("kind", &self.0.kind)
            .field("path", &self.0.path)
            .finish()
    }
}

impl std::error::Error for ValueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0.kind {
            ValueErrorKind::AmpList(e) | ValueErrorKind::Codec(e) => Some(e),
            ValueErrorKind::InvalidDateTime { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

impl From<CodecError> for ValueError {
    fn from(e: CodecError) -> Self {
        ValueError::codec(e)
    }
}

impl ValueError {
    /// A type's own error message: typed when it is one of this crate's
    /// own wrappers' ([`Constrained`](super::Constrained),
    /// [`NestedBox`](super::NestedBox)), which reach the serializer only
    /// through serde's `custom`.
    fn from_message(msg: String) -> Self {
        let kind = if let Some(constraint) = msg.strip_prefix(VIOLATION_PREFIX) {
            ValueErrorKind::Constraint {
                constraint: constraint.to_owned(),
            }
        } else if let Some(rest) = msg.strip_prefix(NOT_ONE_BOX_PREFIX)
            && (rest == NO_BOX || rest == MANY_BOXES)
        {
            ValueErrorKind::NotOneBox {
                more: rest == MANY_BOXES,
            }
        } else {
            ValueErrorKind::Custom(msg)
        };
        ValueError::new(kind)
    }
}

impl serde::ser::Error for ValueError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ValueError::from_message(msg.to_string())
    }
}

impl serde::de::Error for ValueError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ValueError::from_message(msg.to_string())
    }

    fn missing_field(field: &'static str) -> Self {
        ValueError::missing(field)
    }

    fn duplicate_field(field: &'static str) -> Self {
        ValueError::new(ValueErrorKind::Custom("key appears twice".to_owned())).at_key(field)
    }

    fn unknown_variant(variant: &str, _expected: &'static [&'static str]) -> Self {
        ValueError::new(ValueErrorKind::UnknownVariant {
            text: snippet(variant.as_bytes()),
        })
    }
}
