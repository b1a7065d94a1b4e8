//! Deserializing boxes into Rust values.
//!
//! [`from_box`] reads a struct (or a map) out of an [`AmpBox`], each field
//! from the value under its key, in its Twisted wire form (see
//! [`values`](crate::values) for the mapping).
//!
//! A value does not say its type: the type it is read into decides how it
//! is read. Serde features that read values before knowing their type
//! (`#[serde(flatten)]`, untagged enums) therefore see every value as a
//! string (or bytes, if it is not UTF-8), and work only with text and byte
//! fields.
//!
//! `()`, a unit struct and a tuple struct without fields read any box,
//! ignoring its keys as a struct without fields does: a command without
//! arguments or without a response.
//!
//! A plain `Vec<u8>` (any list whose elements are `u8`) is refused with
//! [`ValueErrorKind::ByteList`] whatever the value holds (only an empty
//! value reads, as an empty list), as [`ser`](crate::ser) refuses to write
//! it: bytes are Twisted's `String`, read into `serde_bytes::ByteBuf`,
//! `bytes::Bytes` or a `Vec<u8>` field with `#[serde(with = "serde_bytes")]`.
//!
//! ```
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Upload {
//!     #[serde(with = "serde_bytes")]
//!     data: Vec<u8>,
//! }
//! let b = amp_core::AmpBox::from_pairs([("data", "\x00\x01")]);
//! assert_eq!(amp_core::de::from_box::<Upload>(&b).unwrap().data, [0, 1]);
//!
//! #[derive(Deserialize, Debug)]
//! struct Plain {
//!     data: Vec<u8>,
//! }
//! let e = amp_core::de::from_box::<Plain>(&b).unwrap_err();
//! assert!(matches!(e.kind(), amp_core::values::ValueErrorKind::ByteList));
//! ```

use std::collections::HashSet;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Visitor};
use smallvec::SmallVec;

use crate::amp_box::AmpBox;
use crate::codec::{Limits, read_u16};
use crate::error::CodecError;
use crate::values::{
    DATETIME_TOKEN, DECIMAL_TOKEN, DateTime, Decimal, INTEGER_TOKEN, ValueError, ValueErrorKind,
    integer, parse_f32, parse_f64, snippet,
};

/// Deserializes a struct (or a map) from a box; `()` or a unit struct from
/// any box.
///
/// Keys the struct does not name are ignored (boxes carry `_ask`,
/// `_command` and the like); a missing `Option` field is `None`; a missing
/// required field is a [`ValueErrorKind::MissingKey`] error naming the key.
/// `&str` and `&[u8]` fields borrow from the box.
///
/// ```
/// use serde::Deserialize;
///
/// #[derive(Deserialize, Debug, PartialEq)]
/// struct Sum<'a> {
///     a: i64,
///     b: i64,
///     note: Option<&'a str>,
/// }
/// let b = amp_core::AmpBox::from_pairs([("_command", "Sum"), ("_ask", "1"), ("a", "13"), ("b", "81")]);
/// let sum: Sum = amp_core::de::from_box(&b).unwrap();
/// assert_eq!(sum, Sum { a: 13, b: 81, note: None });
///
/// let e = amp_core::de::from_box::<Sum>(&amp_core::AmpBox::from_pairs([("a", "1")])).unwrap_err();
/// assert_eq!(e.to_string(), r#"argument "b": missing"#);
///
/// #[derive(Deserialize, Debug, PartialEq)]
/// struct Nothing;
/// assert_eq!(amp_core::de::from_box::<Nothing>(&b).unwrap(), Nothing);
/// ```
pub fn from_box<'de, T: Deserialize<'de>>(b: &'de AmpBox) -> Result<T, ValueError> {
    // The descriptors that came with the box, for its `Descriptor` values.
    #[cfg(unix)]
    let _installed = b
        .attached()
        .map(|a| crate::descriptor::Installed::new(std::sync::Arc::clone(a)));
    T::deserialize(BoxDeserializer { b })
}

const NOT_A_BOX: &str = "from_box needs a struct, a map, () or a unit struct";

macro_rules! unsupported_methods {
    ($what:expr; $($method:ident),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, _: V) -> Result<V::Value, ValueError> {
            Err(ValueError::unsupported($what))
        }
    )*};
}

/// The outer deserializer: a box is a struct or a map.
struct BoxDeserializer<'de> {
    b: &'de AmpBox,
}

impl<'de> BoxDeserializer<'de> {
    fn map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_map(PairsAccess {
            iter: self.b.iter(),
            pending: None,
        })
    }
}

impl<'de> de::Deserializer<'de> for BoxDeserializer<'de> {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.map(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.map(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.map(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_some(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_unit()
    }

    unsupported_methods!(NOT_A_BOX;
        deserialize_bool, deserialize_i8, deserialize_i16, deserialize_i32, deserialize_i64,
        deserialize_i128, deserialize_u8, deserialize_u16, deserialize_u32, deserialize_u64,
        deserialize_u128, deserialize_f32, deserialize_f64, deserialize_char, deserialize_str,
        deserialize_string, deserialize_bytes, deserialize_byte_buf,
        deserialize_seq, deserialize_identifier,
    );

    /// `()` reads any box, ignoring its keys (as a struct without fields
    /// does).
    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_unit()
    }

    /// A unit struct, like `()`.
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        visitor.visit_unit()
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, ValueError> {
        Err(ValueError::unsupported(NOT_A_BOX))
    }

    /// A tuple struct without fields (`struct Nothing();`), like `()`; one
    /// with fields has no keys to read them from.
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        if len != 0 {
            return Err(ValueError::unsupported(NOT_A_BOX));
        }
        visitor.visit_seq(NoFields)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, ValueError> {
        Err(ValueError::unsupported(NOT_A_BOX))
    }

    fn is_human_readable(&self) -> bool {
        true
    }
}

/// The fields of a tuple struct without fields: none.
struct NoFields;

impl<'de> de::SeqAccess<'de> for NoFields {
    type Error = ValueError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        _: T,
    ) -> Result<Option<T::Value>, ValueError> {
        Ok(None)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(0)
    }
}

/// The pairs of a box, as a map.
struct PairsAccess<'de, I> {
    iter: I,
    pending: Option<Pair<'de>>,
}

impl<'de, I> de::MapAccess<'de> for PairsAccess<'de, I>
where
    I: ExactSizeIterator<Item = (&'de [u8], &'de [u8])>,
{
    type Error = ValueError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ValueError> {
        match self.iter.next() {
            None => Ok(None),
            Some((k, v)) => {
                self.pending = Some((k, v));
                seed.deserialize(ValueDeserializer::new(k))
                    .map(Some)
                    .map_err(|e| e.at_key_bytes(k))
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ValueError> {
        let (k, v) = self
            .pending
            .take()
            .ok_or_else(|| ValueError::unsupported("map value asked before its key"))?;
        seed.deserialize(ValueDeserializer::new(v))
            .map_err(|e| e.at_key_bytes(k))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// A key and its value, borrowed.
type Pair<'de> = (&'de [u8], &'de [u8]);

/// Reads one value from its wire form.
pub(crate) struct ValueDeserializer<'de> {
    v: &'de [u8],
}

impl<'de> ValueDeserializer<'de> {
    pub(crate) fn new(v: &'de [u8]) -> Self {
        ValueDeserializer { v }
    }

    fn str(&self) -> Result<&'de str, ValueError> {
        std::str::from_utf8(self.v).map_err(|e| {
            ValueError::new(ValueErrorKind::InvalidUtf8 {
                valid_up_to: e.valid_up_to(),
            })
        })
    }
}

macro_rules! int_methods {
    ($($method:ident $visit:ident $parse:ident $ty:ident),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
            visitor.$visit(integer::$parse::<$ty>(self.v, stringify!($ty))?)
        }
    )*};
}

const STRUCT_AS_VALUE: &str =
    "a struct or map as a single value (an AmpList is a sequence of them)";

impl<'de> de::Deserializer<'de> for ValueDeserializer<'de> {
    type Error = ValueError;

    /// A value does not say its type: it is given as a string if it is UTF-8,
    /// as bytes otherwise.
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match std::str::from_utf8(self.v) {
            Ok(s) => visitor.visit_borrowed_str(s),
            Err(_) => visitor.visit_borrowed_bytes(self.v),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.v {
            b"True" => visitor.visit_bool(true),
            b"False" => visitor.visit_bool(false),
            _ => Err(ValueError::new(ValueErrorKind::InvalidBoolean {
                text: snippet(self.v),
            })),
        }
    }

    int_methods!(
        deserialize_i8 visit_i8 parse_signed i8,
        deserialize_i16 visit_i16 parse_signed i16,
        deserialize_i32 visit_i32 parse_signed i32,
        deserialize_i64 visit_i64 parse_signed i64,
        deserialize_i128 visit_i128 parse_signed i128,
        deserialize_u8 visit_u8 parse_unsigned u8,
        deserialize_u16 visit_u16 parse_unsigned u16,
        deserialize_u32 visit_u32 parse_unsigned u32,
        deserialize_u64 visit_u64 parse_unsigned u64,
        deserialize_u128 visit_u128 parse_unsigned u128,
    );

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_f32(parse_f32(self.v)?)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_f64(parse_f64(self.v)?)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        let s = self.str()?;
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => visitor.visit_char(c),
            _ => Err(ValueError::new(ValueErrorKind::InvalidChar {
                text: snippet(self.v),
            })),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_borrowed_str(self.str()?)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_borrowed_str(self.str()?)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_borrowed_bytes(self.v)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_borrowed_bytes(self.v)
    }

    /// A value that is there is `Some` (an absent key is `None`).
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, _: V) -> Result<V::Value, ValueError> {
        Err(ValueError::unsupported("() as a value"))
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: V,
    ) -> Result<V::Value, ValueError> {
        Err(ValueError::unsupported("a unit struct as a value"))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        // This crate's own text types: check here, so a bad value is a typed
        // error, then hand over the text.
        if name == DECIMAL_TOKEN {
            Decimal::parse_wire(self.v)?;
            visitor.visit_borrowed_str(self.str()?)
        } else if name == DATETIME_TOKEN {
            DateTime::parse_wire(self.v)?;
            visitor.visit_borrowed_str(self.str()?)
        } else if name == INTEGER_TOKEN {
            integer::check_syntax(self.v)?;
            visitor.visit_borrowed_str(self.str()?)
        } else {
            visitor.visit_newtype_struct(self)
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_seq(ListAccess {
            rest: self.v,
            index: 0,
        })
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, ValueError> {
        Err(ValueError::unsupported("a tuple as a value"))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        _: V,
    ) -> Result<V::Value, ValueError> {
        Err(ValueError::unsupported("a tuple struct as a value"))
    }

    fn deserialize_map<V: Visitor<'de>>(self, _: V) -> Result<V::Value, ValueError> {
        Err(ValueError::unsupported(STRUCT_AS_VALUE))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, ValueError> {
        Err(ValueError::unsupported(STRUCT_AS_VALUE))
    }

    /// A unit variant, by name.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        visitor.visit_enum(de::value::BorrowedStrDeserializer::<ValueError>::new(
            self.str()?,
        ))
    }

    /// A key naming a struct's field: given as bytes, which serde's derived
    /// field visitors take as they take a string, without the UTF-8 check
    /// (a name that is not UTF-8 matches no field either way).
    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_borrowed_bytes(self.v)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_unit()
    }

    fn is_human_readable(&self) -> bool {
        true
    }
}

/// The elements of a ListOf or AmpList value.
struct ListAccess<'de> {
    rest: &'de [u8],
    index: usize,
}

impl<'de> de::SeqAccess<'de> for ListAccess<'de> {
    type Error = ValueError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ValueError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let index = self.index;
        self.index += 1;
        let before = self.rest.len();
        let v = seed
            .deserialize(ElementDeserializer {
                rest: &mut self.rest,
            })
            .map_err(|e| e.at_index(index))?;
        if self.rest.len() == before {
            // Only a Deserialize that reads nothing gets here; without this
            // check it would be asked for elements forever.
            return Err(
                ValueError::unsupported("a list element that reads nothing").at_index(index)
            );
        }
        Ok(Some(v))
    }
}

/// Reads one list element off the front of the list: a whole box if its
/// type asks for a struct or map, a length-prefixed value otherwise.
struct ElementDeserializer<'a, 'de> {
    rest: &'a mut &'de [u8],
}

impl<'de> ElementDeserializer<'_, 'de> {
    /// Takes a length-prefixed value.
    fn scalar(self) -> Result<ValueDeserializer<'de>, ValueError> {
        let mut body: &'de [u8] = self.rest;
        let lies = |claimed, remaining| {
            ValueError::new(ValueErrorKind::ListLengthLies { claimed, remaining })
        };
        let Some(len) = read_u16(&mut body) else {
            return Err(lies(0, body.len()));
        };
        let len = usize::from(len);
        if body.len() < len {
            return Err(lies(len, body.len()));
        }
        let (value, after) = body.split_at(len);
        *self.rest = after;
        Ok(ValueDeserializer::new(value))
    }

    /// Reads a whole box.
    fn boxed<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        let mut access = BoxAccess {
            rest: self.rest,
            start_len: 0,
            keys: SmallVec::new(),
            seen: None,
            pending: None,
            done: false,
        };
        access.start_len = access.rest.len();
        let v = visitor.visit_map(&mut access)?;
        // A visitor may stop before the end of the box: skip the rest so the
        // next element starts in the right place.
        while !access.done {
            access.next_pair()?;
        }
        Ok(v)
    }
}

macro_rules! scalar_methods {
    ($($method:ident),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
            self.scalar()?.$method(visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for ElementDeserializer<'_, 'de> {
    type Error = ValueError;

    scalar_methods!(
        deserialize_any,
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_unit,
        deserialize_seq,
        deserialize_identifier,
        deserialize_ignored_any,
    );

    fn deserialize_option<V: Visitor<'de>>(self, _: V) -> Result<V::Value, ValueError> {
        Err(ValueError::unsupported("an Option inside a list"))
    }

    /// A `u8` element means a plain `Vec<u8>`: refused (before its bytes
    /// are read, so the same error whatever the value holds), as it is
    /// when written.
    fn deserialize_u8<V: Visitor<'de>>(self, _: V) -> Result<V::Value, ValueError> {
        Err(ValueError::new(ValueErrorKind::ByteList))
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.scalar()?.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        if name == DECIMAL_TOKEN || name == DATETIME_TOKEN || name == INTEGER_TOKEN {
            self.scalar()?.deserialize_newtype_struct(name, visitor)
        } else {
            visitor.visit_newtype_struct(self)
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.scalar()?.deserialize_tuple(len, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.scalar()?.deserialize_tuple_struct(name, len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.boxed(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.boxed(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.scalar()?.deserialize_enum(name, variants, visitor)
    }

    fn is_human_readable(&self) -> bool {
        true
    }
}

/// Boxes with more keys than this are checked for duplicates with a hash
/// set instead of a scan.
const LINEAR_DUPLICATE_SCAN: usize = 16;

/// The pairs of one AmpList element, read in place (so borrowed fields
/// borrow from the box the list came in), with the checks the box decoder
/// makes: key lengths, duplicates, the default key limit, truncation.
struct BoxAccess<'a, 'de> {
    rest: &'a mut &'de [u8],
    /// Bytes left when the element started (for error reports).
    start_len: usize,
    keys: SmallVec<[&'de [u8]; LINEAR_DUPLICATE_SCAN]>,
    seen: Option<HashSet<&'de [u8]>>,
    pending: Option<Pair<'de>>,
    done: bool,
}

impl<'de> BoxAccess<'_, 'de> {
    fn malformed(e: CodecError) -> ValueError {
        ValueError::new(ValueErrorKind::AmpList(e))
    }

    /// Reads the next pair, or the terminator (`None`).
    fn next_pair(&mut self) -> Result<Option<Pair<'de>>, ValueError> {
        if self.done {
            return Ok(None);
        }
        let mut rest: &'de [u8] = self.rest;
        let truncated = || {
            Self::malformed(CodecError::Truncated {
                buffered: self.start_len,
            })
        };
        let Some(prefix) = read_u16(&mut rest) else {
            return Err(truncated());
        };
        let [high, low] = prefix.to_be_bytes();
        if high != 0 {
            return Err(Self::malformed(CodecError::KeyLengthPrefix {
                high,
                low: Some(low),
            }));
        }
        let key_len = usize::from(low);
        if key_len == 0 {
            *self.rest = rest;
            self.done = true;
            return Ok(None);
        }
        let count = self.keys.len() + self.seen.as_ref().map_or(0, HashSet::len);
        let max_keys = Limits::DEFAULT_MAX_KEYS;
        if count >= max_keys {
            return Err(Self::malformed(CodecError::TooManyKeys { limit: max_keys }));
        }
        // `key_len` is one byte: the sum cannot overflow.
        if rest.len() < key_len + 2 {
            return Err(truncated());
        }
        let (key, mut rest) = rest.split_at(key_len);
        let value_len = read_u16(&mut rest).map_or(0, usize::from);
        if rest.len() < value_len {
            return Err(truncated());
        }
        let (value, rest) = rest.split_at(value_len);
        self.check_duplicate(key)?;
        *self.rest = rest;
        Ok(Some((key, value)))
    }

    fn check_duplicate(&mut self, key: &'de [u8]) -> Result<(), ValueError> {
        let duplicate = match &mut self.seen {
            Some(set) => !set.insert(key),
            None if self.keys.len() < LINEAR_DUPLICATE_SCAN => {
                let found = self.keys.contains(&key);
                self.keys.push(key);
                found
            }
            None => {
                let mut set: HashSet<&'de [u8]> = self.keys.drain(..).collect();
                let found = !set.insert(key);
                self.seen = Some(set);
                found
            }
        };
        if duplicate {
            return Err(Self::malformed(CodecError::DuplicateKey {
                key: bytes::Bytes::copy_from_slice(key),
            }));
        }
        Ok(())
    }
}

impl<'de> de::MapAccess<'de> for &mut BoxAccess<'_, 'de> {
    type Error = ValueError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ValueError> {
        match self.next_pair()? {
            None => Ok(None),
            Some((k, v)) => {
                self.pending = Some((k, v));
                seed.deserialize(ValueDeserializer::new(k))
                    .map(Some)
                    .map_err(|e| e.at_key_bytes(k))
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ValueError> {
        let (k, v) = self
            .pending
            .take()
            .ok_or_else(|| ValueError::unsupported("map value asked before its key"))?;
        seed.deserialize(ValueDeserializer::new(v))
            .map_err(|e| e.at_key_bytes(k))
    }
}
