//! A struct as one argument value: txampext's `NestedAMPBox`.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[cfg(doc)]
use super::{ValueError, ValueErrorKind};

/// A box inside a box: a struct (or map) `T` as the value of one argument,
/// written as txampext's `NestedAMPBox` writes it, an `AmpList` of exactly
/// one element.
///
/// `T` is a struct or map, as an `AmpList` element is (any other type would
/// be written as a `ListOf` of one). Reading a value that holds no box or
/// more than one fails with a [`ValueError`] of kind
/// [`ValueErrorKind::NotOneBox`] (txampext's `ValueError` from unpacking
/// the list).
///
/// ```
/// use amp_core::values::NestedBox;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, Debug, PartialEq)]
/// struct Point { x: i64, y: i64 }
/// #[derive(Serialize, Deserialize, Debug, PartialEq)]
/// struct Move { to: NestedBox<Point> }
///
/// let m = Move { to: NestedBox(Point { x: 1, y: 2 }) };
/// let b = amp_core::ser::to_box(&m).unwrap();
/// assert_eq!(b.get("to").unwrap(), &b"\x00\x01x\x00\x011\x00\x01y\x00\x012\x00\x00"[..]);
/// assert_eq!(amp_core::de::from_box::<Move>(&b).unwrap(), m);
///
/// // Two boxes where one is expected: txampext refuses them too.
/// let two = amp_core::AmpBox::from_pairs([("to", &b"\x00\x01x\x00\x011\x00\x01y\x00\x012\x00\x00\x00\x01x\x00\x011\x00\x01y\x00\x012\x00\x00"[..])]);
/// let e = amp_core::de::from_box::<Move>(&two).unwrap_err();
/// assert_eq!(e.to_string(), r#"argument "to": a nested box value holds more than one box"#);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NestedBox<T>(pub T);

impl<T> NestedBox<T> {
    /// The struct inside.
    ///
    /// ```
    /// assert_eq!(amp_core::values::NestedBox(3).into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for NestedBox<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for NestedBox<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T> From<T> for NestedBox<T> {
    fn from(value: T) -> Self {
        NestedBox(value)
    }
}

impl<T: Serialize> Serialize for NestedBox<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(std::iter::once(&self.0))
    }
}

/// The start of the messages of a nested box value holding no box or more
/// than one: how a `ValueError` made by [`NestedBox`]'s `Deserialize` is
/// recognised as [`ValueErrorKind::NotOneBox`].
pub(crate) const NOT_ONE_BOX_PREFIX: &str = "a nested box value holds ";
/// The rest of the message when it holds none.
pub(crate) const NO_BOX: &str = "no box";
/// The rest of the message when it holds more than one.
pub(crate) const MANY_BOXES: &str = "more than one box";

impl<'de, T: Deserialize<'de>> Deserialize<'de> for NestedBox<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct One<T>(PhantomData<fn() -> T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for One<T> {
            type Value = NestedBox<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an AmpList of exactly one box")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let not_one = |what: &str| {
                    serde::de::Error::custom(format_args!("{NOT_ONE_BOX_PREFIX}{what}"))
                };
                let Some(first) = seq.next_element::<T>()? else {
                    return Err(not_one(NO_BOX));
                };
                // One more element at most is read: whatever follows the
                // second box is not looked at.
                match seq.next_element::<T>()? {
                    None => Ok(NestedBox(first)),
                    Some(_) => Err(not_one(MANY_BOXES)),
                }
            }
        }

        d.deserialize_seq(One(PhantomData))
    }
}
