//! Serializing Rust values into boxes.
//!
//! [`to_box`] turns a struct (or a map) into an [`AmpBox`], one key per
//! field, each value in its Twisted wire form (see [`values`](crate::values)
//! for the mapping).

use std::marker::PhantomData;

use bytes::{BufMut, Bytes, BytesMut};
use serde::ser::{self, Impossible, Serialize};
use smallvec::SmallVec;

use crate::amp_box::{AmpBox, MAX_KEY_LENGTH, MAX_VALUE_LENGTH, Pair};
use crate::codec::{check_pair, copy_short};
use crate::error::CodecError;
use crate::values::{ValueError, ValueErrorKind, integer, write_f32, write_f64};

/// Serializes a struct (or a map with string or byte keys) into a box.
///
/// Each field becomes a key (`#[serde(rename = "...")]` gives wire names that
/// are not Rust identifiers) in field order; a field that is `None` is left
/// out. Fails if a value has no AMP form, a key is empty or over 255 bytes,
/// a value is over 65535 bytes, or a key is written twice.
///
/// The box keeps its pairs already in wire form, so sending it is one copy.
/// Its bytes are split off a 4 KiB chunk shared with the boxes serialized
/// just before and after it on the same thread (no allocation per box); a
/// box kept for long keeps that chunk alive.
///
/// ```
/// use serde::Serialize;
///
/// #[derive(Serialize)]
/// struct Sum {
///     a: i64,
///     b: i64,
///     #[serde(rename = "note-text")]
///     note: Option<String>,
/// }
/// let b = amp_core::ser::to_box(&Sum { a: 13, b: 81, note: None }).unwrap();
/// assert_eq!(b, amp_core::AmpBox::from_pairs([("a", "13"), ("b", "81")]));
/// ```
pub fn to_box<T: Serialize + ?Sized>(value: &T) -> Result<AmpBox, ValueError> {
    value.serialize(TopSerializer::<AmpBox>(PhantomData))
}

/// [`to_box`], but only the pairs' wire form (without the terminator), every
/// length checked: what a call sends, without a box to build and move.
///
/// ```
/// #[derive(serde::Serialize)] struct Sum { a: i64 }
/// let wire = amp_core::ser::to_wire(&Sum { a: 1 }).unwrap();
/// assert_eq!(&wire[..], b"\x00\x01a\x00\x011");
/// ```
pub fn to_wire<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, ValueError> {
    value.serialize(TopSerializer::<Bytes>(PhantomData))
}

/// What serializing a box ends in: the box, or its bare wire form.
trait Finish: Sized {
    fn finish(frame: Bytes, pairs: SmallVec<[Pair; 6]>) -> Self;
}

impl Finish for AmpBox {
    #[inline]
    fn finish(frame: Bytes, pairs: SmallVec<[Pair; 6]>) -> Self {
        AmpBox::from_wire(frame, pairs)
    }
}

impl Finish for Bytes {
    #[inline]
    fn finish(frame: Bytes, _: SmallVec<[Pair; 6]>) -> Self {
        frame
    }
}

/// Appends `value`'s wire form to `out` (for [`encode_value`]).
///
/// [`encode_value`]: crate::values::encode_value
pub(crate) fn write_value<T: Serialize + ?Sized>(
    out: &mut BytesMut,
    value: &T,
) -> Result<(), ValueError> {
    if !value.serialize(ValueSerializer { out: &mut *out })? {
        return Err(ValueError::unsupported(
            "None on its own (an absent key has no wire form)",
        ));
    }
    if out.len() > MAX_VALUE_LENGTH {
        return Err(ValueError::codec(CodecError::ValueTooLong {
            key: Bytes::new(),
            len: out.len(),
        }));
    }
    Ok(())
}

const NOT_A_BOX: &str = "to_box needs a struct or a map";

macro_rules! unsupported_methods {
    ($what:expr; $($method:ident($($arg:ty),*)),* $(,)?) => {$(
        fn $method(self, $(_: $arg),*) -> Result<Self::Ok, ValueError> {
            Err(ValueError::unsupported($what))
        }
    )*};
}

/// The outer serializer: only a struct or a map makes a box (finished as
/// `O`).
struct TopSerializer<O>(PhantomData<fn() -> O>);

impl<O: Finish> ser::Serializer for TopSerializer<O> {
    type Ok = O;
    type Error = ValueError;
    type SerializeSeq = Impossible<O, ValueError>;
    type SerializeTuple = Impossible<O, ValueError>;
    type SerializeTupleStruct = Impossible<O, ValueError>;
    type SerializeTupleVariant = Impossible<O, ValueError>;
    type SerializeMap = BoxBuilder<O>;
    type SerializeStruct = BoxBuilder<O>;
    type SerializeStructVariant = Impossible<O, ValueError>;

    unsupported_methods!(NOT_A_BOX;
        serialize_bool(bool), serialize_i8(i8), serialize_i16(i16), serialize_i32(i32),
        serialize_i64(i64), serialize_i128(i128), serialize_u8(u8), serialize_u16(u16),
        serialize_u32(u32), serialize_u64(u64), serialize_u128(u128), serialize_f32(f32),
        serialize_f64(f64), serialize_char(char), serialize_str(&str), serialize_bytes(&[u8]),
        serialize_none(), serialize_unit(), serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    );

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

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, ValueError> {
        Err(ValueError::unsupported(NOT_A_BOX))
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

/// Builds the box: every pair is written in its wire form (length, key,
/// length, value) into a single buffer, which becomes the box's frame, each
/// pair a range of it. A box costs one allocation however many fields it
/// has, no reference count per value, and encoding it later is one copy.
struct BoxBuilder<O> {
    buf: BytesMut,
    /// The pairs written, as ranges of `buf`.
    pairs: SmallVec<[Pair; 6]>,
    /// A map key written, waiting for its value: where its pair starts.
    key: Option<usize>,
    finish: PhantomData<fn() -> O>,
}

/// Size of the chunks boxes are serialized into.
const CHUNK: usize = 4096;

thread_local! {
    /// The rest of the chunk the last box serialized on this thread was
    /// written into: the next box goes on from there.
    static SCRATCH: std::cell::Cell<BytesMut> = std::cell::Cell::new(BytesMut::new());
}

impl<O: Finish> BoxBuilder<O> {
    fn new(len: usize) -> Self {
        // Boxes serialized one after another on a thread share 4 KiB chunks:
        // each box is split off the chunk it was written into (a reference
        // count, no allocation), instead of a buffer of its own plus the
        // reference-counted header `Bytes` adds to a buffer with room left.
        // Keeping a box alive keeps its chunk.
        let mut buf = SCRATCH.take();
        if buf.capacity() < (len * 24).max(256) {
            buf = BytesMut::with_capacity(CHUNK);
        }
        BoxBuilder {
            buf,
            pairs: SmallVec::with_capacity(len),
            key: None,
            finish: PhantomData,
        }
    }

    /// Starts a pair with a known key: room for the key's length, the key,
    /// room for the value's length, made in one step (one buffer call, not
    /// one per piece).
    fn start_pair(&mut self, key: &[u8]) -> usize {
        let start = self.buf.len();
        self.buf.resize(start + 4 + key.len(), 0);
        copy_short(&mut self.buf[start + 2..start + 2 + key.len()], key);
        start
    }

    /// Writes the value of the pair started at `start` (its `key_len`-byte
    /// key and the room for the value's length the last things written)
    /// and fills in both lengths, or takes the key out again if the value
    /// is `None`.
    fn field<T: Serialize + ?Sized>(
        &mut self,
        start: usize,
        key_len: usize,
        value: &T,
    ) -> Result<(), ValueError> {
        let key_start = start + 2;
        let value_start = key_start + key_len + 2;
        debug_assert_eq!(value_start, self.buf.len());
        let present = value.serialize(ValueSerializer { out: &mut self.buf });
        let key = &self.buf[key_start..key_start + key_len];
        let present = present.map_err(|e| e.at_key_bytes(key))?;
        if !present {
            // `None` wrote nothing: the key is left out.
            self.buf.truncate(start);
            return Ok(());
        }
        let v = &self.buf[value_start..];
        if let Err(e) = check_pair(key, v) {
            return Err(ValueError::codec(e).at_key_bytes(key));
        }
        if self.buf.len() > u32::MAX as usize {
            return Err(ValueError::unsupported("a box over 4 GiB").at_key_bytes(key));
        }
        let duplicate = self.pairs.iter().any(|p| p.key_is(&self.buf, key));
        if duplicate {
            let key = Bytes::copy_from_slice(key);
            return Err(
                ValueError::codec(CodecError::DuplicateKey { key: key.clone() }).at_key_bytes(&key),
            );
        }
        let value_len = self.buf.len() - value_start;
        // Both fit: check_pair bounds a key to 255 bytes and a value to
        // 65535, and the whole buffer was checked against u32::MAX.
        self.buf[start..key_start].copy_from_slice(&(key_len as u16).to_be_bytes());
        self.buf[value_start - 2..value_start].copy_from_slice(&(value_len as u16).to_be_bytes());
        self.pairs.push(Pair::in_frame(
            key_start as u32,
            key_len as u32,
            value_start as u32,
            value_len as u32,
        ));
        Ok(())
    }

    fn finish(mut self) -> O {
        let frame = self.buf.split().freeze();
        // What is left of the chunk serves the next box.
        SCRATCH.set(self.buf);
        O::finish(frame, self.pairs)
    }
}

impl<O: Finish> ser::SerializeStruct for BoxBuilder<O> {
    type Ok = O;
    type Error = ValueError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        let start = self.start_pair(key.as_bytes());
        self.field(start, key.len(), value)
    }

    fn end(self) -> Result<O, ValueError> {
        Ok(self.finish())
    }
}

impl<O: Finish> ser::SerializeMap for BoxBuilder<O> {
    type Ok = O;
    type Error = ValueError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ValueError> {
        if let Some(start) = self.key.take() {
            // A key without its value: forget it.
            self.buf.truncate(start);
        }
        let start = self.buf.len();
        self.buf.put_u16(0);
        let present = key.serialize(ValueSerializer { out: &mut self.buf })?;
        if !present {
            self.buf.truncate(start);
            return Err(ValueError::unsupported("None as a map key"));
        }
        self.key = Some(start);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        let start = self
            .key
            .take()
            .ok_or_else(|| ValueError::unsupported("map value without a key"))?;
        let key_len = self.buf.len() - (start + 2);
        self.buf.put_u16(0);
        self.field(start, key_len, value)
    }

    fn end(self) -> Result<O, ValueError> {
        if let Some(start) = self.key {
            return Err(ValueError::unsupported("map key without a value")
                .at_key_bytes(&self.buf[start + 2..]));
        }
        Ok(self.finish())
    }
}

/// Writes one value's wire form into `out`. Its `Ok` says whether there was
/// a value at all (`false` for `None`: the key is left out).
struct ValueSerializer<'a> {
    out: &'a mut BytesMut,
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
        self,
        _: &'static str,
        value: &T,
    ) -> Result<bool, ValueError> {
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

/// Writes the elements of a sequence: ListOf or AmpList.
struct ListWriter<'a> {
    out: &'a mut BytesMut,
    index: usize,
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
        if !value.serialize(ValueSerializer {
            out: &mut *self.out,
        })? {
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
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
    );

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
        ValueSerializer {
            out: &mut *self.out,
        }
        .collect_str(value)?;
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

/// Where one pair of an element box sits in the output.
#[derive(Clone, Copy)]
struct PairSpan {
    start: usize,
    key_len: usize,
    end: usize,
}

/// Writes one AmpList element as a box, keys sorted as Twisted sorts them.
struct ElementBox<'a> {
    out: &'a mut BytesMut,
    start: usize,
    pairs: SmallVec<[PairSpan; 8]>,
    /// Start of a map entry whose key is written and whose value is not.
    pending: Option<usize>,
}

impl<'a> ElementBox<'a> {
    fn new(out: &'a mut BytesMut) -> Self {
        let start = out.len();
        ElementBox {
            out,
            start,
            pairs: SmallVec::new(),
            pending: None,
        }
    }

    fn key_at(&self, span: &PairSpan) -> &[u8] {
        &self.out[span.start + 2..span.start + 2 + span.key_len]
    }

    fn check_key(key: &[u8]) -> Result<(), ValueError> {
        let e = if key.is_empty() {
            CodecError::EmptyKey
        } else if key.len() > MAX_KEY_LENGTH {
            CodecError::KeyTooLong { len: key.len() }
        } else {
            return Ok(());
        };
        Err(ValueError::codec(e).at_key_bytes(key))
    }

    /// Writes the value of the pair whose key starts at `start`; drops the
    /// pair if the value is `None`.
    fn value<T: Serialize + ?Sized>(&mut self, start: usize, value: &T) -> Result<(), ValueError> {
        let key_len = usize::from(self.out[start + 1]);
        let at = self.out.len();
        self.out.put_u16(0);
        let present = value
            .serialize(ValueSerializer {
                out: &mut *self.out,
            })
            .map_err(|e| e.at_key_bytes(&self.out[start + 2..start + 2 + key_len]))?;
        if !present {
            self.out.truncate(start);
            return Ok(());
        }
        let len = self.out.len() - at - 2;
        if len > MAX_VALUE_LENGTH {
            let key = Bytes::copy_from_slice(&self.out[start + 2..start + 2 + key_len]);
            return Err(ValueError::codec(CodecError::ValueTooLong {
                key: key.clone(),
                len,
            })
            .at_key_bytes(&key));
        }
        self.out[at..at + 2].copy_from_slice(&(len as u16).to_be_bytes());
        self.pairs.push(PairSpan {
            start,
            key_len,
            end: self.out.len(),
        });
        Ok(())
    }

    fn finish(mut self) -> Result<(), ValueError> {
        let sorted = self
            .pairs
            .windows(2)
            .all(|w| self.key_at(&w[0]) < self.key_at(&w[1]));
        if !sorted {
            let mut order = self.pairs.clone();
            order.sort_by(|a, b| self.key_at(a).cmp(self.key_at(b)));
            if let Some(w) = order
                .windows(2)
                .find(|w| self.key_at(&w[0]) == self.key_at(&w[1]))
            {
                let key = Bytes::copy_from_slice(self.key_at(&w[0]));
                return Err(
                    ValueError::codec(CodecError::DuplicateKey { key: key.clone() })
                        .at_key_bytes(&key),
                );
            }
            let written = self.out[self.start..].to_vec();
            self.out.truncate(self.start);
            for span in &order {
                self.out
                    .put_slice(&written[span.start - self.start..span.end - self.start]);
            }
            self.pairs.clear();
        }
        self.out.put_u16(0);
        Ok(())
    }
}

impl ser::SerializeStruct for ElementBox<'_> {
    type Ok = ();
    type Error = ValueError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        Self::check_key(key.as_bytes())?;
        let start = self.out.len();
        self.out.put_u16(key.len() as u16);
        self.out.put_slice(key.as_bytes());
        self.value(start, value)
    }

    fn end(self) -> Result<(), ValueError> {
        self.finish()
    }
}

impl ser::SerializeMap for ElementBox<'_> {
    type Ok = ();
    type Error = ValueError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ValueError> {
        let start = self.out.len();
        self.out.put_u16(0);
        if !key.serialize(ValueSerializer {
            out: &mut *self.out,
        })? {
            return Err(ValueError::unsupported("None as a map key"));
        }
        Self::check_key(&self.out[start + 2..])?;
        let len = self.out.len() - start - 2;
        self.out[start..start + 2].copy_from_slice(&(len as u16).to_be_bytes());
        self.pending = Some(start);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        let start = self
            .pending
            .take()
            .ok_or_else(|| ValueError::unsupported("map value without a key"))?;
        self.value(start, value)
    }

    fn end(self) -> Result<(), ValueError> {
        self.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// Pairs serialized as a map with byte keys and values.
    struct AsMap(Vec<(Vec<u8>, Vec<u8>)>);

    impl Serialize for AsMap {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut m = s.serialize_map(Some(self.0.len()))?;
            for (k, v) in &self.0 {
                m.serialize_entry(serde_bytes::Bytes::new(k), serde_bytes::Bytes::new(v))?;
            }
            m.end()
        }
    }

    proptest! {
        /// A call's wire form is the box's wire form without its
        /// terminator, and fails exactly when the box does.
        #[test]
        fn call_wire_form_is_the_boxes(
            pairs in vec((vec(any::<u8>(), 0..=6), vec(any::<u8>(), 0..=40)), 0..6),
        ) {
            let value = AsMap(pairs);
            match (to_wire(&value), to_box(&value)) {
                (Ok(wire), Ok(b)) => {
                    let full = b.to_bytes().unwrap();
                    prop_assert_eq!(&wire[..], &full[..full.len() - 2]);
                }
                (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
                (a, b) => prop_assert!(false, "{:?} against {:?}", a.map(|_| ()), b.map(|_| ())),
            }
        }
    }
}
