//! Serializing Rust values into boxes.
//!
//! [`to_box`] turns a struct (or a map) into an [`AmpBox`], one key per
//! field, each value in its Twisted wire form (see [`values`](crate::values)
//! for the mapping). `()`, a unit struct (`struct Nothing;`) and a tuple
//! struct without fields write the empty box, as a struct without fields
//! does: a command without arguments or without a response.
//!
//! A plain `Vec<u8>` (any list whose elements are `u8`) is refused with
//! [`ValueErrorKind::ByteList`](crate::values::ValueErrorKind::ByteList)
//! rather than written as a `ListOf(Integer)`: serde hands it over as a
//! list of integers, but it is nearly always meant as bytes, Twisted's
//! `String`. Write bytes as `serde_bytes::ByteBuf`, `bytes::Bytes` or a
//! `Vec<u8>` field with `#[serde(with = "serde_bytes")]`, and small integers
//! as a list of a wider type (`Vec<u16>`, `Vec<i64>`).
//!
//! ```
//! use serde::Serialize;
//!
//! #[derive(Serialize)]
//! struct Upload {
//!     #[serde(with = "serde_bytes")]
//!     data: Vec<u8>,
//!     sizes: Vec<u16>,
//! }
//! let b = amp_core::ser::to_box(&Upload { data: vec![1, 2], sizes: vec![1, 2] }).unwrap();
//! assert_eq!(b.get("data"), Some(&b"\x01\x02"[..]));
//! assert_eq!(b.get("sizes"), Some(&b"\x00\x011\x00\x012"[..]));
//!
//! #[derive(Serialize)]
//! struct Plain {
//!     data: Vec<u8>,
//! }
//! let e = amp_core::ser::to_box(&Plain { data: vec![1, 2] }).unwrap_err();
//! assert!(e.to_string().contains("serde_bytes::ByteBuf"));
//! ```

// One file per thing being written:
//
// - `top.rs`: the outer serializer, which accepts only a struct or a map
//   (or `()` and unit structs, for the empty box);
// - `box_builder.rs`: the box it builds, every pair written in wire form
//   into one buffer;
// - `value.rs`: one argument value in its Twisted wire form;
// - `list.rs`: the elements of a ListOf or an AmpList;
// - `element_box.rs`: one AmpList element, written as a box.

use std::marker::PhantomData;

use bytes::{Bytes, BytesMut};
use serde::ser::Serialize;

use crate::amp_box::{AmpBox, MAX_VALUE_LENGTH};
use crate::error::CodecError;
use crate::values::ValueError;

mod box_builder;
mod element_box;
mod list;
mod top;
mod value;

use top::TopSerializer;
use value::ValueSerializer;

/// Serializes a struct (or a map with string or byte keys) into a box;
/// `()` or a unit struct into the empty box.
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
///
/// #[derive(Serialize)]
/// struct Nothing;
/// assert!(amp_core::ser::to_box(&Nothing).unwrap().is_empty());
/// assert!(amp_core::ser::to_box(&()).unwrap().is_empty());
/// ```
///
/// A [`Descriptor`](crate::values::Descriptor) argument goes with the box
/// (see [`AmpBox::descriptor_count`]); [`to_wire`] cannot carry one.
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
/// assert!(amp_core::ser::to_wire(&()).unwrap().is_empty());
/// ```
pub fn to_wire<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, ValueError> {
    value.serialize(TopSerializer::<Bytes>(PhantomData))
}

/// Appends `value`'s wire form to `out` (for [`encode_value`]).
///
/// [`encode_value`]: crate::values::encode_value
pub(crate) fn write_value<T: Serialize + ?Sized>(
    out: &mut BytesMut,
    value: &T,
) -> Result<(), ValueError> {
    if !value.serialize(ValueSerializer::plain(&mut *out))? {
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
