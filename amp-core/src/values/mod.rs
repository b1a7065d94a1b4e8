//! Twisted's argument types and their Rust counterparts.
//!
//! A box's values are byte strings; Twisted's argument types say how a
//! Python value is written as one. Through serde, Rust types map onto them
//! byte for byte:
//!
//! | Twisted argument | Rust type | Wire value |
//! |---|---|---|
//! | `Integer` | `i8`..`i128`, `u8`..`u128`, `isize`, `usize`; `BigInteger` (feature `bigint`) | decimal text, as Python's `str(int)` |
//! | `String` | `bytes::Bytes`, `serde_bytes::ByteBuf`, `&[u8]`, `Vec<u8>` with `#[serde(with = "serde_bytes")]` | the bytes themselves |
//! | `Unicode` | `String`, `&str`, `char` | UTF-8 |
//! | `Path` | `std::path::PathBuf` | UTF-8 text (a path that is not UTF-8 cannot be sent) |
//! | `Boolean` | `bool` | `True` or `False` |
//! | `Float` | `f64`, `f32` | Python's `repr(float)`: `0.1`, `1e+16`, `-0.0`, `inf`, `nan` (an `f32` with its own shortest digits in the same layout: `0.1f32` is `0.1`) |
//! | `Decimal` | [`Decimal`] | Python's `str(Decimal)`: `1E+2`, `-0`, `sNaN` |
//! | `DateTime` | [`DateTime`] | `YYYY-MM-DDTHH:MM:SS.ffffff±HH:MM` |
//! | `Descriptor` | [`Descriptor`] (unix) | the descriptor's ordinal, as Integer; the descriptor itself out of band (see [`descriptor`](crate::descriptor)) |
//! | `ListOf(T)` | `Vec<T>` (any sequence) of the above, but not of `u8` | each element as a 2-byte big-endian length and its wire form |
//! | `AmpList([...])` | `Vec<S>` of structs or maps | each element as a whole box, back to back |
//! | optional argument | `Option<T>` field | the key is absent when `None` |
//! | txampext's `NestedAMPBox` | [`NestedBox<S>`] of a struct or map | an AmpList of exactly one box |
//! | txampext's `ConstrainedArgument(T, ...)` | [`Constrained<T, C>`] | `T`'s, once `C` ([`Constraint`]) accepts the value |
//!
//! Newtype structs are transparent. A unit enum variant is written as its
//! name, as Unicode (a convenience: Twisted has no such type).
//!
//! A plain `Vec<u8>` reaches serde as a sequence of integers, which would
//! be a `ListOf(Integer)`, but is nearly always meant as bytes: a list of
//! `u8` is refused both ways ([`ValueErrorKind::ByteList`], naming the
//! fix). Use `serde_bytes` or `bytes::Bytes` for a `String`, and a wider
//! element type (`Vec<u16>`, `Vec<i64>`) for a `ListOf(Integer)`.
//!
//! Inside a list, elements are told apart by what their type asks for: a
//! struct or map is a box (AmpList), anything else a length-prefixed value
//! (ListOf), so a list of lists (`ListOf(ListOf(Integer))`) works too.
//! AmpList elements are written with their keys sorted, as Twisted writes
//! boxes, so the bytes are Twisted's whatever the field order.
//!
//! Shapes AMP has no counterpart for (tuples, `()` as one value, `Option`
//! inside a list, enum variants carrying data, a struct where one value is
//! expected) are a [`ValueError`] of kind [`ValueErrorKind::Unsupported`].
//! (A whole box may be `()` or a unit struct: see [`ser`](crate::ser).)
//!
//! Decoding is strict where Twisted is lenient: an Integer is an optional
//! sign and ASCII digits only (Python's `int()` would also take whitespace
//! and underscores, which Python never writes), a Boolean exactly `True` or
//! `False`, a DateTime exactly its 32-byte form, and a list whose last
//! element or box is cut short is an error (Twisted silently drops the
//! incomplete tail). AmpList elements are checked as the box decoder checks
//! boxes: key lengths, duplicate keys, at most
//! [`Limits::DEFAULT_MAX_KEYS`](crate::Limits::DEFAULT_MAX_KEYS) keys.
//!
//! ```
//! use amp_core::values::{decode_value, encode_value};
//!
//! assert_eq!(&encode_value(&1e16f64).unwrap()[..], b"1e+16");
//! assert_eq!(&encode_value(&vec![1u16, 2]).unwrap()[..], b"\x00\x011\x00\x012");
//! assert_eq!(decode_value::<Vec<String>>(b"\x00\x02hi").unwrap(), ["hi"]);
//! ```

mod constrained;
mod datetime;
mod decimal;
mod error;
mod float;
pub(crate) mod integer;
mod nested;

use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use constrained::{Constrained, Constraint, Violation};
pub use datetime::{DateTime, DateTimeError};
pub use decimal::Decimal;
pub use error::{ValueError, ValueErrorKind};
#[cfg(feature = "bigint")]
pub use integer::BigInteger;
pub use nested::NestedBox;

pub(crate) use datetime::TOKEN as DATETIME_TOKEN;
pub(crate) use decimal::TOKEN as DECIMAL_TOKEN;
pub(crate) use error::snippet;
pub(crate) use float::{parse_f32, parse_f64, write_f32, write_f64};

/// Name under which an arbitrary-size Integer asks a deserializer for its
/// text, so this crate's deserializer can report a typed error.
pub(crate) const INTEGER_TOKEN: &str = "$amp_core::values::Integer";

/// `#[serde(with = "amp_core::values::bigint")]` for `num_bigint::BigInt`
/// fields: Integer text of any size (as [`BigInteger`]).
///
/// ```
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Args {
///     #[serde(with = "amp_core::values::bigint")]
///     n: num_bigint::BigInt,
/// }
/// let b = amp_core::AmpBox::from_pairs([("n", "18446744073709551616")]);
/// let args: Args = amp_core::de::from_box(&b).unwrap();
/// assert_eq!(amp_core::ser::to_box(&args).unwrap(), b);
/// ```
#[cfg(feature = "bigint")]
pub mod bigint {
    pub use super::integer::big::{deserialize, serialize};
}

/// A file descriptor passed with Twisted's `Descriptor` argument: an open
/// descriptor, owned.
///
/// On the wire the value is an `Integer`, the descriptor's ordinal among
/// those sent on the connection; the descriptor itself travels out of band
/// over a UNIX socket (`SCM_RIGHTS`), with the first bytes of the box that
/// carries it. See [`descriptor`](crate::descriptor) for the numbering, and
/// which box a received descriptor belongs to.
///
/// - **Sending.** [`Descriptor::new`] takes the descriptor by value: the
///   sender gives up its copy (keep one with `OwnedFd::try_clone` first).
///   Serializing the value into a box ([`ser::to_box`](crate::ser::to_box),
///   or a live peer's typed call or answer) shares it with that box; the
///   descriptor is closed once the value, the box and the send are all
///   done with it. It must be an argument of its own (not inside a list),
///   and only a connection that passes descriptors (a UNIX socket) can send
///   it: elsewhere the call or answer fails locally, nothing sent
///   ([`SendError::Descriptors`](crate::SendError::Descriptors)).
/// - **Receiving.** Decoding a box ([`de::from_box`](crate::de::from_box),
///   which typed responders and typed calls use) takes the descriptor the
///   value names from those that came with the box; a value naming none is
///   a decode error, as Twisted's `KeyError`. [`into_owned_fd`](Self::into_owned_fd)
///   hands it over.
///
/// ```
/// use std::os::fd::OwnedFd;
/// use amp_core::values::Descriptor;
///
/// #[derive(serde::Serialize, serde::Deserialize, Debug)]
/// struct WriteTo { fd: Descriptor, text: String }
///
/// let (mine, _theirs) = std::os::unix::net::UnixStream::pair().unwrap();
/// let fd = Descriptor::new(OwnedFd::from(mine));
/// let b = amp_core::ser::to_box(&WriteTo { fd, text: "hi".into() }).unwrap();
/// assert_eq!(b.descriptor_count(), 1); // goes out with the box
///
/// // A box that came with no descriptor cannot give one.
/// let e = amp_core::de::from_box::<WriteTo>(&b).unwrap_err();
/// assert!(e.to_string().contains("no descriptor 0 was received"), "{e}");
/// ```
#[cfg(unix)]
#[derive(Clone, Debug)]
pub struct Descriptor(std::sync::Arc<std::os::fd::OwnedFd>);

#[cfg(unix)]
impl Descriptor {
    /// A descriptor to send, taken by value.
    ///
    /// ```
    /// let (r, _w) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let d = amp_core::values::Descriptor::new(r.into());
    /// # let _ = d;
    /// ```
    pub fn new(fd: std::os::fd::OwnedFd) -> Descriptor {
        Descriptor(std::sync::Arc::new(fd))
    }

    /// The descriptor, owned; or the value back if a box queued for
    /// sending still holds it (then drop the value, or use
    /// [`AsFd`](std::os::fd::AsFd)). A received descriptor is always
    /// handed over.
    ///
    /// ```
    /// use std::os::fd::AsRawFd;
    /// let (r, _w) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let raw = r.as_raw_fd();
    /// let d = amp_core::values::Descriptor::new(r.into());
    /// assert_eq!(d.into_owned_fd().unwrap().as_raw_fd(), raw);
    /// ```
    pub fn into_owned_fd(self) -> Result<std::os::fd::OwnedFd, Descriptor> {
        std::sync::Arc::try_unwrap(self.0).map_err(Descriptor)
    }
}

#[cfg(unix)]
impl From<std::os::fd::OwnedFd> for Descriptor {
    fn from(fd: std::os::fd::OwnedFd) -> Descriptor {
        Descriptor::new(fd)
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for Descriptor {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
}

#[cfg(unix)]
impl std::os::fd::AsRawFd for Descriptor {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

#[cfg(unix)]
impl Serialize for Descriptor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        crate::descriptor::hand(std::sync::Arc::clone(&self.0));
        // The box serializer takes the descriptor and writes a placeholder
        // that queueing replaces with the ordinal; any other serializer
        // leaves it, and the value cannot be sent from there.
        let written = s.serialize_newtype_struct(crate::descriptor::MAGIC, &0u8);
        let left = crate::descriptor::not_taken();
        match written {
            Ok(_) if left => Err(S::Error::custom(
                "a Descriptor can only be sent as an argument of its own in a box (ser::to_box, a typed call or answer)",
            )),
            written => written,
        }
    }
}

#[cfg(unix)]
impl<'de> Deserialize<'de> for Descriptor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Descriptor, D::Error> {
        use serde::de::Error;
        let ordinal = u64::deserialize(d)?;
        crate::descriptor::take_received(ordinal)
            .map(Descriptor::new)
            .ok_or_else(|| {
                D::Error::custom(format_args!(
                    "no descriptor {ordinal} was received (or an argument took it already)"
                ))
            })
    }
}

/// The wire form of one value on its own: what would stand as the value
/// under its key in a box.
///
/// Fails for `None` (an absent key has no wire form), for shapes with no AMP
/// counterpart, and for a value over 65535 bytes (which no box can hold).
///
/// ```
/// use amp_core::values::{DateTime, encode_value};
///
/// assert_eq!(&encode_value(&-42i64).unwrap()[..], b"-42");
/// assert_eq!(&encode_value(&true).unwrap()[..], b"True");
/// assert_eq!(&encode_value(&0.1f32).unwrap()[..], b"0.1");
/// let dt = DateTime::new(2012, 1, 23, 12, 34, 56, 54321, 0).unwrap();
/// assert_eq!(&encode_value(&dt).unwrap()[..], b"2012-01-23T12:34:56.054321-00:00");
/// assert!(encode_value(&None::<u8>).is_err());
/// ```
pub fn encode_value<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, ValueError> {
    let mut out = BytesMut::new();
    crate::ser::write_value(&mut out, value)?;
    Ok(out.freeze())
}

/// Reads one value from its wire form. Borrowed types (`&str`, `&[u8]`)
/// borrow from `wire`.
///
/// ```
/// use amp_core::values::{Decimal, decode_value};
///
/// assert_eq!(decode_value::<u16>(b"65535").unwrap(), 65535);
/// assert_eq!(decode_value::<&str>("héllo".as_bytes()).unwrap(), "héllo");
/// assert_eq!(decode_value::<Decimal>(b"1E-1").unwrap().as_str(), "0.1");
/// assert!(decode_value::<u8>(b"256").is_err());
/// ```
pub fn decode_value<'de, T: Deserialize<'de>>(wire: &'de [u8]) -> Result<T, ValueError> {
    T::deserialize(crate::de::ValueDeserializer::new(wire))
}
