//! The `values` target: every argument type's decoder on arbitrary wire
//! bytes; what decodes must round-trip. Also the comparisons the `serde_box`
//! target shares.

use std::fmt::Debug;
use std::path::PathBuf;

use amp_core::CodecError;
use amp_core::values::{DateTime, Decimal, ValueError, ValueErrorKind, decode_value, encode_value};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// An AmpList element covering Twisted's AmpList vectors:
/// `[a: Integer, b: Unicode]`, `[a: Integer, b: Unicode optional]` and
/// `[name: Unicode, items: AmpList([n: Integer])]`.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Entry {
    a: Option<i64>,
    b: Option<String>,
    name: Option<String>,
    items: Option<Vec<Item>>,
}

/// The inner AmpList element.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Item {
    n: i64,
}

/// A re-encoding may fail only by growing past what the wire can hold
/// (Python's `repr` of `1e5` is `100000.0`): nothing else.
pub(crate) fn too_long(e: &ValueError) -> bool {
    matches!(
        e.kind(),
        ValueErrorKind::Codec(CodecError::ValueTooLong { .. })
            | ValueErrorKind::AmpList(CodecError::ValueTooLong { .. })
            | ValueErrorKind::ElementTooLong { .. }
    )
}

/// Whatever decodes must encode, decode again to an equal value (as `same`
/// says), and encode again to the same bytes.
fn value_roundtrip<T>(wire: &[u8], same: fn(&T, &T) -> bool)
where
    T: DeserializeOwned + Serialize + Debug,
{
    let Ok(v) = decode_value::<T>(wire) else {
        return;
    };
    let enc = match encode_value(&v) {
        Ok(enc) => enc,
        Err(e) if too_long(&e) => return,
        Err(e) => panic!("{v:?}, decoded from {wire:?}, does not encode: {e}"),
    };
    let v2 = decode_value::<T>(&enc)
        .unwrap_or_else(|e| panic!("{v:?} encodes as {enc:?}, which does not decode: {e}"));
    assert!(same(&v, &v2), "{v:?} comes back as {v2:?} (wire {enc:?})");
    let enc2 = encode_value(&v2).expect("a value decoded from our own encoding does not encode");
    assert_eq!(enc, enc2, "encoding not stable for {v:?}");
}

pub(crate) fn eq<T: PartialEq>(a: &T, b: &T) -> bool {
    a == b
}

/// Floats compare by their encoding (done by [`value_roundtrip`]): NaN is
/// not equal to itself, and `-0.0 == 0.0` hides a lost sign.
pub(crate) fn any<T>(_: &T, _: &T) -> bool {
    true
}

/// The argument types `values` picks from, by the input's first byte.
pub const VALUE_TYPES: &[&str] = &[
    "i64",
    "u8",
    "i128",
    "String (Unicode)",
    "bool",
    "f64",
    "Decimal",
    "DateTime",
    "Vec<i64>",
    "Vec<String>",
    "Vec<Entry> (nested AmpList)",
    "PathBuf",
    "Bytes (String)",
    "Vec<bool>",
    "Vec<Vec<i64>>",
    "f32",
    "u64",
    "Vec<f64>",
    "char",
    "Vec<Bytes>",
];

/// Every argument type's decoder: the first byte picks the type
/// ([`VALUE_TYPES`]), the rest is the value's wire form.
pub fn values(data: &[u8]) {
    let Some((&which, wire)) = data.split_first() else {
        return;
    };
    match which as usize % VALUE_TYPES.len() {
        0 => value_roundtrip::<i64>(wire, eq),
        1 => value_roundtrip::<u8>(wire, eq),
        2 => value_roundtrip::<i128>(wire, eq),
        3 => value_roundtrip::<String>(wire, eq),
        4 => value_roundtrip::<bool>(wire, eq),
        5 => value_roundtrip::<f64>(wire, any),
        6 => value_roundtrip::<Decimal>(wire, eq),
        7 => value_roundtrip::<DateTime>(wire, eq),
        8 => value_roundtrip::<Vec<i64>>(wire, eq),
        9 => value_roundtrip::<Vec<String>>(wire, eq),
        10 => value_roundtrip::<Vec<Entry>>(wire, eq),
        11 => value_roundtrip::<PathBuf>(wire, eq),
        12 => value_roundtrip::<Bytes>(wire, eq),
        13 => value_roundtrip::<Vec<bool>>(wire, eq),
        14 => value_roundtrip::<Vec<Vec<i64>>>(wire, eq),
        15 => value_roundtrip::<f32>(wire, any),
        16 => value_roundtrip::<u64>(wire, eq),
        17 => value_roundtrip::<Vec<f64>>(wire, any),
        18 => value_roundtrip::<char>(wire, eq),
        _ => value_roundtrip::<Vec<serde_bytes::ByteBuf>>(wire, eq),
    }
}
