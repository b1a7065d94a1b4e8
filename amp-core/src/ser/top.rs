//! The outer serializer: a struct or a map becomes a box, as do `()`, a
//! unit struct and a tuple struct without fields (an empty box); anything
//! else has no box form.

use std::marker::PhantomData;

use bytes::Bytes;
use serde::ser::{self, Impossible, Serialize};
use smallvec::SmallVec;

use super::box_builder::{BoxBuilder, Finish};
use crate::values::ValueError;

const NOT_A_BOX: &str = "to_box needs a struct, a map, () or a unit struct";

macro_rules! unsupported_methods {
    ($what:expr; $($method:ident($($arg:ty),*)),* $(,)?) => {$(
        fn $method(self, $(_: $arg),*) -> Result<Self::Ok, ValueError> {
            Err(ValueError::unsupported($what))
        }
    )*};
}

/// The outer serializer: only a struct or a map makes a box (finished as
/// `O`), or `()`, a unit struct or a tuple struct without fields, which
/// make an empty one.
pub(super) struct TopSerializer<O>(pub(super) PhantomData<fn() -> O>);

impl<O: Finish> ser::Serializer for TopSerializer<O> {
    type Ok = O;
    type Error = ValueError;
    type SerializeSeq = Impossible<O, ValueError>;
    type SerializeTuple = Impossible<O, ValueError>;
    type SerializeTupleStruct = EmptyBox<O>;
    type SerializeTupleVariant = Impossible<O, ValueError>;
    type SerializeMap = BoxBuilder<O>;
    type SerializeStruct = BoxBuilder<O>;
    type SerializeStructVariant = Impossible<O, ValueError>;

    unsupported_methods!(NOT_A_BOX;
        serialize_bool(bool), serialize_i8(i8), serialize_i16(i16), serialize_i32(i32),
        serialize_i64(i64), serialize_i128(i128), serialize_u8(u8), serialize_u16(u16),
        serialize_u32(u32), serialize_u64(u64), serialize_u128(u128), serialize_f32(f32),
        serialize_f64(f64), serialize_char(char), serialize_str(&str), serialize_bytes(&[u8]),
        serialize_none(), serialize_unit_variant(&'static str, u32, &'static str),
    );

    /// `()`: a command without arguments (or without a response) sends an
    /// empty box.
    fn serialize_unit(self) -> Result<O, ValueError> {
        Ok(empty())
    }

    /// A unit struct, like `()`.
    fn serialize_unit_struct(self, _: &'static str) -> Result<O, ValueError> {
        Ok(empty())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<O, ValueError> {
        value.serialize(self)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<O, ValueError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<O, ValueError> {
        Err(ValueError::unsupported(NOT_A_BOX))
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, ValueError> {
        Err(ValueError::unsupported(NOT_A_BOX))
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, ValueError> {
        Err(ValueError::unsupported(NOT_A_BOX))
    }

    /// A tuple struct without fields (`struct Nothing();`), like `()`; one
    /// with fields has no keys to write them under.
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<EmptyBox<O>, ValueError> {
        if len != 0 {
            return Err(ValueError::unsupported(NOT_A_BOX));
        }
        Ok(EmptyBox(PhantomData))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, ValueError> {
        Err(ValueError::unsupported(NOT_A_BOX))
    }

    fn serialize_map(self, len: Option<usize>) -> Result<BoxBuilder<O>, ValueError> {
        Ok(BoxBuilder::new(len.unwrap_or(0)))
    }

    #[inline(always)]
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<BoxBuilder<O>, ValueError> {
        Ok(BoxBuilder::new(len))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, ValueError> {
        Err(ValueError::unsupported(NOT_A_BOX))
    }
}

/// The empty box.
fn empty<O: Finish>() -> O {
    O::finish(Bytes::new(), SmallVec::new(), Default::default())
}

/// A tuple struct without fields: an empty box (a field, which the length
/// it gave did not announce, has no key to go under).
pub(super) struct EmptyBox<O>(PhantomData<fn() -> O>);

impl<O: Finish> ser::SerializeTupleStruct for EmptyBox<O> {
    type Ok = O;
    type Error = ValueError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &T) -> Result<(), ValueError> {
        Err(ValueError::unsupported(NOT_A_BOX))
    }

    fn end(self) -> Result<O, ValueError> {
        Ok(empty())
    }
}
