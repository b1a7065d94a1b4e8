//! Integer: decimal text, as Python's `str(int)`.

use bytes::{BufMut, BytesMut};

use super::error::{ValueError, ValueErrorKind, snippet};

const PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends `v` in decimal.
pub(crate) fn write_u64(out: &mut BytesMut, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while v >= 100 {
        let r = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[r..r + 2]);
    }
    if v >= 10 {
        let r = v as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[r..r + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    out.put_slice(&buf[i..]);
}

/// Appends `v` in decimal, with a `-` if negative.
pub(crate) fn write_i64(out: &mut BytesMut, v: i64) {
    if v < 0 {
        out.put_u8(b'-');
    }
    write_u64(out, v.unsigned_abs());
}

/// Appends `v` in decimal.
pub(crate) fn write_u128(out: &mut BytesMut, mut v: u128) {
    if let Ok(small) = u64::try_from(v) {
        return write_u64(out, small);
    }
    let mut buf = [0u8; 39];
    let mut i = buf.len();
    // Peel off 19 digits at a time so the inner loop runs on u64.
    const CHUNK: u128 = 10_000_000_000_000_000_000;
    while v >= CHUNK {
        let mut low = (v % CHUNK) as u64;
        v /= CHUNK;
        for _ in 0..19 {
            i -= 1;
            buf[i] = b'0' + (low % 10) as u8;
            low /= 10;
        }
    }
    let mut high = v as u64;
    while high > 0 {
        i -= 1;
        buf[i] = b'0' + (high % 10) as u8;
        high /= 10;
    }
    out.put_slice(&buf[i..]);
}

/// Appends `v` in decimal, with a `-` if negative.
pub(crate) fn write_i128(out: &mut BytesMut, v: i128) {
    if v < 0 {
        out.put_u8(b'-');
    }
    write_u128(out, v.unsigned_abs());
}

/// An Integer's text split into sign and magnitude.
pub(crate) struct Parsed {
    pub(crate) negative: bool,
    /// `None` when the magnitude does not fit in a `u128`.
    pub(crate) magnitude: Option<u128>,
}

/// An Integer's optional sign taken off: whether it is `-`, and the rest.
fn split_sign(text: &[u8]) -> (bool, &[u8]) {
    match text {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, text),
    }
}

/// Checks Integer syntax (an optional sign, then one or more ASCII digits)
/// and reads the magnitude.
pub(crate) fn parse(text: &[u8]) -> Result<Parsed, ValueError> {
    let (negative, digits) = split_sign(text);
    if digits.is_empty() {
        return Err(invalid(text));
    }
    let magnitude = if digits.len() <= 19 {
        // 19 digits stay below 10^19 < u64::MAX: `v * 10 + d` cannot
        // overflow.
        let mut v = 0u64;
        for &d in digits {
            let d = d.wrapping_sub(b'0');
            if d > 9 {
                return Err(invalid(text));
            }
            v = v * 10 + d as u64;
        }
        Some(v as u128)
    } else {
        let mut v = Some(0u128);
        for &d in digits {
            let d = d.wrapping_sub(b'0');
            if d > 9 {
                return Err(invalid(text));
            }
            v = v
                .and_then(|v| v.checked_mul(10))
                .and_then(|v| v.checked_add(d as u128));
        }
        v
    };
    Ok(Parsed {
        negative,
        magnitude,
    })
}

/// An Integer of 1 to 18 digits (after an optional sign), read as an
/// `i64`; `None` for anything else, which [`parse`] then reads or refuses.
fn parse_short(text: &[u8]) -> Option<i64> {
    let (negative, digits) = split_sign(text);
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    // 18 digits stay below 10^18 < i64::MAX: neither `v * 10 + d` nor
    // `-v` can overflow.
    let mut v = 0i64;
    for &d in digits {
        let d = d.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + i64::from(d);
    }
    Some(if negative { -v } else { v })
}

/// Checks Integer syntax without reading the value.
pub(crate) fn check_syntax(text: &[u8]) -> Result<(), ValueError> {
    let (_, digits) = split_sign(text);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid(text));
    }
    Ok(())
}

fn invalid(text: &[u8]) -> ValueError {
    ValueError::new(ValueErrorKind::InvalidInteger {
        text: snippet(text),
    })
}

pub(crate) fn out_of_range(text: &[u8], ty: &'static str) -> ValueError {
    ValueError::new(ValueErrorKind::IntegerOutOfRange {
        text: snippet(text),
        ty,
    })
}

/// Parses an Integer into an unsigned type.
pub(crate) fn parse_unsigned<T: TryFrom<u128>>(
    text: &[u8],
    ty: &'static str,
) -> Result<T, ValueError> {
    let p = parse(text)?;
    match p.magnitude {
        Some(0) => T::try_from(0).map_err(|_| out_of_range(text, ty)),
        Some(m) if !p.negative => T::try_from(m).map_err(|_| out_of_range(text, ty)),
        _ => Err(out_of_range(text, ty)),
    }
}

/// Parses an Integer into a signed type.
pub(crate) fn parse_signed<T: TryFrom<i128> + TryFrom<i64>>(
    text: &[u8],
    ty: &'static str,
) -> Result<T, ValueError> {
    // Up to 18 digits fit an `i64` whatever they are: read them there,
    // without the `u128` arithmetic a longer number needs.
    if let Some(v) = parse_short(text) {
        return T::try_from(v).map_err(|_| out_of_range(text, ty));
    }
    let p = parse(text)?;
    let v = match p.magnitude {
        Some(m) if p.negative => 0i128.checked_sub_unsigned(m),
        Some(m) => i128::try_from(m).ok(),
        None => None,
    };
    v.and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| out_of_range(text, ty))
}

/// [`num_bigint::BigInt`] as an Integer of any size.
#[cfg(feature = "bigint")]
pub(crate) mod big {
    use std::fmt;

    use num_bigint::BigInt;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::values::error::ValueError;

    /// An Integer of any size, as Twisted's (Python's) `int` is.
    ///
    /// Serializes as Integer text (its decimal digits, a string to other serde
    /// formats); deserializes from Integer text (an optional sign and ASCII
    /// digits) or from any serde integer.
    ///
    /// ```
    /// use amp_core::values::{BigInteger, decode_value, encode_value};
    /// use num_bigint::BigInt;
    ///
    /// let big = BigInteger(BigInt::from(10u8).pow(30));
    /// let wire = encode_value(&big).unwrap();
    /// assert_eq!(&wire[..], b"1000000000000000000000000000000");
    /// assert_eq!(decode_value::<BigInteger>(&wire).unwrap(), big);
    /// ```
    #[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub struct BigInteger(pub BigInt);

    impl From<BigInt> for BigInteger {
        fn from(v: BigInt) -> Self {
            BigInteger(v)
        }
    }

    impl From<BigInteger> for BigInt {
        fn from(v: BigInteger) -> Self {
            v.0
        }
    }

    impl fmt::Display for BigInteger {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            fmt::Display::fmt(&self.0, f)
        }
    }

    impl std::str::FromStr for BigInteger {
        type Err = ValueError;

        /// Parses Integer text: an optional sign and ASCII digits.
        ///
        /// ```
        /// let n: amp_core::values::BigInteger = "-18446744073709551616".parse().unwrap();
        /// assert_eq!(n.to_string(), "-18446744073709551616");
        /// assert!("1e3".parse::<amp_core::values::BigInteger>().is_err());
        /// ```
        fn from_str(s: &str) -> Result<Self, ValueError> {
            parse_big(s.as_bytes()).map(BigInteger)
        }
    }

    fn parse_big(text: &[u8]) -> Result<BigInt, ValueError> {
        super::check_syntax(text)?;
        let digits = text.strip_prefix(b"+").unwrap_or(text);
        BigInt::parse_bytes(digits, 10).ok_or_else(|| super::invalid(text))
    }

    impl Serialize for BigInteger {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            serialize(&self.0, s)
        }
    }

    impl<'de> Deserialize<'de> for BigInteger {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            deserialize(d).map(BigInteger)
        }
    }

    /// Serializes a [`BigInt`] as Integer text. Use as
    /// `#[serde(serialize_with = "amp_core::values::bigint::serialize")]`,
    /// or the whole module with `#[serde(with = "amp_core::values::bigint")]`.
    ///
    /// ```
    /// use num_bigint::BigInt;
    ///
    /// #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    /// struct Args {
    ///     #[serde(with = "amp_core::values::bigint")]
    ///     n: BigInt,
    /// }
    /// let args = Args { n: BigInt::from(2u8).pow(64) };
    /// let b = amp_core::ser::to_box(&args).unwrap();
    /// assert_eq!(b.get_str("n"), Some("18446744073709551616"));
    /// assert_eq!(amp_core::de::from_box::<Args>(&b).unwrap(), args);
    /// ```
    pub fn serialize<S: Serializer>(v: &BigInt, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    /// Deserializes a [`BigInt`] from Integer text (or any serde integer).
    /// See [`serialize`].
    ///
    /// ```
    /// use num_bigint::BigInt;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Args {
    ///     #[serde(deserialize_with = "amp_core::values::bigint::deserialize")]
    ///     n: BigInt,
    /// }
    /// let b = amp_core::AmpBox::from_pairs([("n", "-1000000000000000000000000000000")]);
    /// let args: Args = amp_core::de::from_box(&b).unwrap();
    /// assert_eq!(args.n, -BigInt::from(10u8).pow(30));
    /// ```
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BigInt, D::Error> {
        d.deserialize_newtype_struct(crate::values::INTEGER_TOKEN, BigVisitor)
    }

    struct BigVisitor;

    impl<'de> serde::de::Visitor<'de> for BigVisitor {
        type Value = BigInt;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an integer")
        }

        fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<BigInt, D::Error> {
            d.deserialize_str(self)
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<BigInt, E> {
            parse_big(v.as_bytes()).map_err(E::custom)
        }

        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<BigInt, E> {
            parse_big(v).map_err(E::custom)
        }

        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<BigInt, E> {
            Ok(v.into())
        }

        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<BigInt, E> {
            Ok(v.into())
        }

        fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<BigInt, E> {
            Ok(v.into())
        }

        fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<BigInt, E> {
            Ok(v.into())
        }
    }
}

#[cfg(feature = "bigint")]
pub use big::BigInteger;
