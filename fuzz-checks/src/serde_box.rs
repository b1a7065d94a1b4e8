//! The `serde_box` target: a decoded box read into typical command argument
//! structs; what reads must write back and round-trip.

use std::collections::BTreeMap;
use std::path::PathBuf;

use amp_core::codec::decode_one;
use amp_core::values::{DateTime, Decimal};
use amp_core::{AmpBox, Limits, de, ser};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::values::{Entry, any, eq, too_long};

/// `Sum`'s arguments.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct SumArgs {
    a: i64,
    b: i64,
}

/// `Divide`'s answer.
#[derive(Serialize, Deserialize, Debug)]
pub struct Quotient {
    result: f64,
}

/// Text and bytes borrowed from the box.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Note<'a> {
    text: &'a str,
    #[serde(borrow, with = "serde_bytes")]
    data: &'a [u8],
}

/// One optional field of each argument type.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Typed {
    int: Option<i128>,
    text: Option<String>,
    raw: Option<Bytes>,
    flag: Option<bool>,
    amount: Option<Decimal>,
    when: Option<DateTime>,
    path: Option<PathBuf>,
    counts: Option<Vec<u32>>,
    names: Option<Vec<String>>,
}

/// A listing: an AmpList of AmpLists.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Listing {
    name: String,
    entries: Vec<Entry>,
}

/// A command without arguments (or without a response): any box reads
/// as it, ignoring its keys, and it writes an empty box.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Nothing;

/// A plain `Vec<u8>`, which is refused as a list: it reads only when the
/// value is empty (an empty list and empty bytes are the same value).
#[derive(Deserialize, Debug)]
pub struct PlainBytes {
    data: Option<Vec<u8>>,
}

/// A command's arguments read into a struct: whatever reads must write
/// back, read back equal (as `$same` says), and write the same box again.
/// A macro rather than a function so that borrowing types read from each
/// box with that box's lifetime.
macro_rules! box_roundtrip {
    ($ty:ty, $b:expr, $same:expr) => {{
        let b: &AmpBox = $b;
        if let Ok(v) = de::from_box::<$ty>(b) {
            match ser::to_box(&v) {
                Ok(b2) => {
                    let v2 = de::from_box::<$ty>(&b2).unwrap_or_else(|e| {
                        panic!("{v:?} writes {b2:?}, which does not read back: {e}")
                    });
                    assert!($same(&v, &v2), "{v:?} comes back as {v2:?}");
                    let b3 = ser::to_box(&v2).expect("a value read from our box does not write");
                    assert_eq!(
                        b2.to_bytes().expect("our box does not encode"),
                        b3.to_bytes().expect("our box does not encode"),
                        "writing {v:?} is not stable"
                    );
                }
                Err(e) if too_long(&e) => {}
                Err(e) => panic!("{v:?}, read from {b:?}, does not write: {e}"),
            }
        }
    }};
}

/// A box, decoded from the input, read into a few typical argument structs
/// (and a map): whatever reads must write back, read back equal, and write
/// the same box again.
pub fn serde_box(data: &[u8]) {
    let Ok(Some((b, _))) = decode_one(data, &Limits::default()) else {
        return;
    };
    box_roundtrip!(SumArgs, &b, eq);
    box_roundtrip!(Quotient, &b, any);
    box_roundtrip!(Note<'_>, &b, eq);
    box_roundtrip!(Typed, &b, eq);
    box_roundtrip!(Listing, &b, eq);
    box_roundtrip!(BTreeMap<String, Bytes>, &b, eq);
    box_roundtrip!(BTreeMap<String, i64>, &b, eq);
    box_roundtrip!((), &b, eq);
    box_roundtrip!(Nothing, &b, eq);
    if let Ok(PlainBytes { data: Some(data) }) = de::from_box::<PlainBytes>(&b) {
        assert!(data.is_empty(), "a plain Vec<u8> read {data:?} from {b:?}");
    }
}
