//! The elements of a sequence: a ListOf (length-prefixed values) or an
//! AmpList (boxes).

use bytes::{BufMut, BytesMut};
use serde::ser::{self, Impossible, Serialize};

use super::element_box::ElementBox;
use super::value::ValueSerializer;
use crate::amp_box::MAX_VALUE_LENGTH;
use crate::values::{ValueError, ValueErrorKind};

/// Writes the elements of a sequence: ListOf or AmpList.
pub(super) struct ListWriter<'a> {
    pub(super) out: &'a mut BytesMut,
    pub(super) index: usize,
}

impl ListWriter<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        let index = self.index;
        self.index += 1;
        value
            .serialize(ElementSerializer {
                out: &mut *self.out,
            })
            .map_err(|e| e.at_index(index))
    }
}

impl ser::SerializeSeq for ListWriter<'_> {
    type Ok = bool;
    type Error = ValueError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.element(value)
    }

    fn end(self) -> Result<bool, ValueError> {
        Ok(true)
    }
}

/// Patches the two-byte length written at `at` to cover what follows it.
fn patch_length(out: &mut BytesMut, at: usize) -> Result<(), ValueError> {
    let len = out.len() - at - 2;
    if len > MAX_VALUE_LENGTH {
        return Err(ValueError::new(ValueErrorKind::ElementTooLong { len }));
    }
    out[at..at + 2].copy_from_slice(&(len as u16).to_be_bytes());
    Ok(())
}

/// Writes one list element: a struct or map as a whole box (AmpList),
/// anything else as a length-prefixed value (ListOf).
struct ElementSerializer<'a> {
    out: &'a mut BytesMut,
}

impl ElementSerializer<'_> {
    /// Writes a length-prefixed scalar.
    fn prefixed<T: Serialize + ?Sized>(self, value: &T) -> Result<(), ValueError> {
        let at = self.out.len();
        self.out.put_u16(0);
        if !value.serialize(ValueSerializer::plain(&mut *self.out))? {
            return Err(ValueError::unsupported("None inside a list"));
        }
        patch_length(self.out, at)
    }
}

macro_rules! prefixed_methods {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method(self, v: $ty) -> Result<(), ValueError> {
            self.prefixed(&v)
        }
    )*};
}

impl<'a> ser::Serializer for ElementSerializer<'a> {
    type Ok = ();
    type Error = ValueError;
    type SerializeSeq = NestedList<'a>;
    type SerializeTuple = Impossible<(), ValueError>;
    type SerializeTupleStruct = Impossible<(), ValueError>;
    type SerializeTupleVariant = Impossible<(), ValueError>;
    type SerializeMap = ElementBox<'a>;
    type SerializeStruct = ElementBox<'a>;
    type SerializeStructVariant = Impossible<(), ValueError>;

    prefixed_methods!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
    );

    /// A `u8` element means a plain `Vec<u8>` (serde tells it from no other
    /// list): refused, so bytes meant as a `String` are not sent as a
    /// `ListOf(Integer)`.
    fn serialize_u8(self, _: u8) -> Result<(), ValueError> {
        Err(ValueError::new(ValueErrorKind::ByteList))
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), ValueError> {
        self.prefixed(serde_bytes::Bytes::new(v))
    }

    fn serialize_none(self) -> Result<(), ValueError> {
        Err(ValueError::unsupported("None inside a list"))
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), ValueError> {
        Err(ValueError::unsupported("an Option inside a list"))
    }

    fn serialize_unit(self) -> Result<(), ValueError> {
        Err(ValueError::unsupported("() as a value"))
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), ValueError> {
        Err(ValueError::unsupported("a unit struct as a value"))
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), ValueError> {
        self.prefixed(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), ValueError> {
        Err(ValueError::unsupported("an enum variant carrying data"))
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<NestedList<'a>, ValueError> {
        let at = self.out.len();
        self.out.put_u16(0);
        Ok(NestedList {
            list: ListWriter {
                out: self.out,
                index: 0,
            },
            at,
        })
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, ValueError> {
        Err(ValueError::unsupported("a tuple as a value"))
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, ValueError> {
        Err(ValueError::unsupported("a tuple struct as a value"))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, ValueError> {
        Err(ValueError::unsupported("an enum variant carrying data"))
    }

    fn serialize_map(self, _: Option<usize>) -> Result<ElementBox<'a>, ValueError> {
        Ok(ElementBox::new(self.out))
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<ElementBox<'a>, ValueError> {
        Ok(ElementBox::new(self.out))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, ValueError> {
        Err(ValueError::unsupported("an enum variant carrying data"))
    }

    fn collect_str<T: std::fmt::Display + ?Sized>(self, value: &T) -> Result<(), ValueError> {
        let at = self.out.len();
        self.out.put_u16(0);
        ValueSerializer::plain(&mut *self.out).collect_str(value)?;
        patch_length(self.out, at)
    }

    fn is_human_readable(&self) -> bool {
        true
    }
}

/// A list inside a list: a length-prefixed ListOf.
struct NestedList<'a> {
    list: ListWriter<'a>,
    at: usize,
}

impl ser::SerializeSeq for NestedList<'_> {
    type Ok = ();
    type Error = ValueError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.list.element(value)
    }

    fn end(self) -> Result<(), ValueError> {
        patch_length(self.list.out, self.at)
    }
}
