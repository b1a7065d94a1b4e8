//! [`ValueSerializer`]: one argument value in its Twisted wire form.

use bytes::{BufMut, BytesMut};
use serde::ser::{self, Impossible, Serialize};

use super::list::ListWriter;
use crate::values::{ValueError, ValueErrorKind, integer, write_f32, write_f64};

/// Writes one value's wire form into `out`. Its `Ok` says whether there was
/// a value at all (`false` for `None`: the key is left out).
pub(super) struct ValueSerializer<'a> {
    pub(super) out: &'a mut BytesMut,
    /// Where a `Descriptor` value hands its descriptor: only a box's own
    /// values have it (`ser::to_box`); elsewhere a descriptor is refused.
    #[cfg(unix)]
    pub(super) fds: Option<&'a mut super::box_builder::Outgoing>,
}

impl<'a> ValueSerializer<'a> {
    /// A serializer of a value that cannot carry a descriptor.
    #[inline]
    pub(super) fn plain(out: &'a mut BytesMut) -> Self {
        ValueSerializer {
            out,
            #[cfg(unix)]
            fds: None,
        }
    }
}

const STRUCT_AS_VALUE: &str =
    "a struct or map as a single value (an AmpList is a sequence of them)";

impl<'a> ser::Serializer for ValueSerializer<'a> {
    type Ok = bool;
    type Error = ValueError;
    type SerializeSeq = ListWriter<'a>;
    type SerializeTuple = Impossible<bool, ValueError>;
    type SerializeTupleStruct = Impossible<bool, ValueError>;
    type SerializeTupleVariant = Impossible<bool, ValueError>;
    type SerializeMap = Impossible<bool, ValueError>;
    type SerializeStruct = Impossible<bool, ValueError>;
    type SerializeStructVariant = Impossible<bool, ValueError>;

    fn serialize_bool(self, v: bool) -> Result<bool, ValueError> {
        self.out.put_slice(if v { b"True" } else { b"False" });
        Ok(true)
    }

    fn serialize_i8(self, v: i8) -> Result<bool, ValueError> {
        self.serialize_i64(v.into())
    }

    fn serialize_i16(self, v: i16) -> Result<bool, ValueError> {
        self.serialize_i64(v.into())
    }

    fn serialize_i32(self, v: i32) -> Result<bool, ValueError> {
        self.serialize_i64(v.into())
    }

    fn serialize_i64(self, v: i64) -> Result<bool, ValueError> {
        integer::write_i64(self.out, v);
        Ok(true)
    }

    fn serialize_i128(self, v: i128) -> Result<bool, ValueError> {
        integer::write_i128(self.out, v);
        Ok(true)
    }

    fn serialize_u8(self, v: u8) -> Result<bool, ValueError> {
        self.serialize_u64(v.into())
    }

    fn serialize_u16(self, v: u16) -> Result<bool, ValueError> {
        self.serialize_u64(v.into())
    }

    fn serialize_u32(self, v: u32) -> Result<bool, ValueError> {
        self.serialize_u64(v.into())
    }

    fn serialize_u64(self, v: u64) -> Result<bool, ValueError> {
        integer::write_u64(self.out, v);
        Ok(true)
    }

    fn serialize_u128(self, v: u128) -> Result<bool, ValueError> {
        integer::write_u128(self.out, v);
        Ok(true)
    }

    fn serialize_f32(self, v: f32) -> Result<bool, ValueError> {
        write_f32(self.out, v);
        Ok(true)
    }

    fn serialize_f64(self, v: f64) -> Result<bool, ValueError> {
        write_f64(self.out, v);
        Ok(true)
    }

    fn serialize_char(self, v: char) -> Result<bool, ValueError> {
        let mut buf = [0u8; 4];
        self.out.put_slice(v.encode_utf8(&mut buf).as_bytes());
        Ok(true)
    }

    fn serialize_str(self, v: &str) -> Result<bool, ValueError> {
        self.out.put_slice(v.as_bytes());
        Ok(true)
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<bool, ValueError> {
        self.out.put_slice(v);
        Ok(true)
    }

    fn serialize_none(self) -> Result<bool, ValueError> {
        Ok(false)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<bool, ValueError> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<bool, ValueError> {
        Err(ValueError::unsupported("() as a value"))
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<bool, ValueError> {
        Err(ValueError::unsupported("a unit struct as a value"))
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<bool, ValueError> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        #[allow(unused_mut)] mut self,
        name: &'static str,
        value: &T,
    ) -> Result<bool, ValueError> {
        #[cfg(unix)]
        if name == crate::descriptor::MAGIC {
            // A descriptor: the box takes it under this value's key (the
            // placeholder written here becomes its ordinal when the box is
            // queued).
            take_descriptor(self.fds.as_deref_mut())?;
        }
        #[cfg(not(unix))]
        let _ = name;
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<bool, ValueError> {
        Err(ValueError::unsupported("an enum variant carrying data"))
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<ListWriter<'a>, ValueError> {
        Ok(ListWriter {
            out: self.out,
            index: 0,
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

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, ValueError> {
        Err(ValueError::unsupported(STRUCT_AS_VALUE))
    }

    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, ValueError> {
        Err(ValueError::unsupported(STRUCT_AS_VALUE))
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

    fn collect_str<T: std::fmt::Display + ?Sized>(self, value: &T) -> Result<bool, ValueError> {
        use std::fmt::Write as _;
        write!(self.out, "{value}")
            .map_err(|_| ValueError::new(ValueErrorKind::Custom("Display failed".into())))?;
        Ok(true)
    }

    fn is_human_readable(&self) -> bool {
        true
    }
}

/// A `Descriptor` value is being written: the box being built takes its
/// descriptor; anywhere else it is refused.
#[cfg(unix)]
#[cold]
#[inline(never)]
fn take_descriptor(fds: Option<&mut super::box_builder::Outgoing>) -> Result<(), ValueError> {
    match fds {
        Some(fds) => {
            if let Some(fd) = crate::descriptor::take_handed() {
                fds.get_or_insert_with(Box::default).handed = Some(fd);
            }
            Ok(())
        }
        None => Err(ValueError::unsupported(crate::descriptor::NEEDS_BOX)),
    }
}
