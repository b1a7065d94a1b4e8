//! Decimal: exact decimal text, as Python's `decimal.Decimal`.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::{Serialize, Serializer};

use super::error::{ValueError, ValueErrorKind, snippet};

/// Name under which [`Decimal`] asks a deserializer for its text, so this
/// crate's deserializer can report a typed error.
pub(crate) const TOKEN: &str = "$amp_core::values::Decimal";

/// Largest adjusted exponent CPython's `decimal` accepts (its `MAX_EMAX`).
const MAX_EMAX: i64 = 999_999_999_999_999_999;
/// Smallest exponent CPython's `decimal` accepts exactly (its `MIN_ETINY`:
/// `MIN_EMIN - (MAX_PREC - 1)`).
const MIN_ETINY: i64 = -999_999_999_999_999_999 - 999_999_999_999_999_998;

/// An exact decimal number, as Python's `decimal.Decimal`: Twisted's
/// `Decimal` argument.
///
/// It keeps the number's text, in the form Python's `str(Decimal)` gives
/// (the General Decimal Arithmetic *to-scientific-string*), which is what
/// Twisted writes: `Decimal('1E-1')` is `0.1`, `Decimal('1E+2')` stays
/// `1E+2`, `Decimal('1.50')` keeps its trailing zero, `-0` keeps its sign.
/// [`FromStr`] accepts Python's `Decimal(str)` syntax: an optional sign, then
/// digits with an optional point and exponent (`1E+2`, `.5`, `1.`), or
/// `Infinity`/`Inf`, or `NaN`/`sNaN` with optional payload digits
/// (case-insensitive). Unlike Python it does not strip whitespace or accept
/// underscores or non-ASCII digits, which Python never writes. Exponents are
/// limited as in CPython (adjusted exponent at most 999999999999999999).
///
/// Equality compares the text: `1.0` and `1` are different values (Python
/// would call them equal).
///
/// With the `rust_decimal` feature it converts to and from
/// `rust_decimal::Decimal`.
///
/// ```
/// use amp_core::values::Decimal;
///
/// let d: Decimal = "1.5E+2".parse().unwrap();
/// assert_eq!(d.as_str(), "1.5E+2");
/// assert_eq!("1E-1".parse::<Decimal>().unwrap().as_str(), "0.1");
/// assert_eq!("-inf".parse::<Decimal>().unwrap().as_str(), "-Infinity");
/// assert!("1,5".parse::<Decimal>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Decimal {
    text: String,
}

/// A decimal's parts, as read from text.
pub(crate) enum Parts<'a> {
    /// `coefficient × 10^exponent`; the coefficient is ASCII digits without
    /// leading zeros (`0` for zero).
    Finite {
        negative: bool,
        coefficient: &'a [u8],
        exponent: i64,
    },
    Infinity {
        negative: bool,
    },
    NaN {
        negative: bool,
        signaling: bool,
        /// Payload digits without leading zeros (empty for none).
        payload: &'a [u8],
    },
}

fn strip_zeros(digits: &[u8]) -> &[u8] {
    let start = digits
        .iter()
        .position(|&d| d != b'0')
        .unwrap_or(digits.len());
    &digits[start..]
}

fn digit_run(s: &[u8]) -> usize {
    s.iter().take_while(|d| d.is_ascii_digit()).count()
}

/// Reads Python's decimal string syntax. The coefficient's digits are given
/// as two runs (integer and fraction digits), joined by the caller.
fn parse_parts(text: &[u8]) -> Option<(Parts<'_>, &[u8])> {
    let (negative, rest) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest.eq_ignore_ascii_case(b"inf") || rest.eq_ignore_ascii_case(b"infinity") {
        return Some((Parts::Infinity { negative }, &[]));
    }
    let nan = if rest.len() >= 4 && rest[..4].eq_ignore_ascii_case(b"snan") {
        Some((true, &rest[4..]))
    } else if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(b"nan") {
        Some((false, &rest[3..]))
    } else {
        None
    };
    if let Some((signaling, payload)) = nan {
        if digit_run(payload) != payload.len() {
            return None;
        }
        return Some((
            Parts::NaN {
                negative,
                signaling,
                payload: strip_zeros(payload),
            },
            &[],
        ));
    }
    let int_len = digit_run(rest);
    let int_digits = &rest[..int_len];
    let mut pos = int_len;
    let mut frac_digits: &[u8] = &[];
    if rest.get(pos) == Some(&b'.') {
        let n = digit_run(&rest[pos + 1..]);
        frac_digits = &rest[pos + 1..pos + 1 + n];
        pos += 1 + n;
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return None;
    }
    let mut exp: i64 = 0;
    if let Some(b'e' | b'E') = rest.get(pos) {
        pos += 1;
        let exp_negative = match rest.get(pos) {
            Some(b'-') => {
                pos += 1;
                true
            }
            Some(b'+') => {
                pos += 1;
                false
            }
            _ => false,
        };
        let n = digit_run(&rest[pos..]);
        if n == 0 {
            return None;
        }
        for &d in strip_zeros(&rest[pos..pos + n]) {
            exp = exp.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
        }
        if exp_negative {
            exp = -exp;
        }
        pos += n;
    }
    if pos != rest.len() {
        return None;
    }
    let exponent = exp.checked_sub(i64::try_from(frac_digits.len()).ok()?)?;
    // The coefficient is `int_digits` followed by `frac_digits`; strip its
    // leading zeros across both runs.
    let int_stripped = strip_zeros(int_digits);
    let (coef_int, coef_frac) = if int_stripped.is_empty() {
        (&[][..], strip_zeros(frac_digits))
    } else {
        (int_stripped, frac_digits)
    };
    let parts = Parts::Finite {
        negative,
        coefficient: coef_int,
        exponent,
    };
    Some((parts, coef_frac))
}

/// Writes the to-scientific-string of `negative`, `coefficient` (digits
/// without leading zeros, possibly empty meaning zero) and `exponent`.
fn write_finite(out: &mut String, negative: bool, coefficient: &[u8], exponent: i64) {
    let coefficient: &[u8] = if coefficient.is_empty() {
        b"0"
    } else {
        coefficient
    };
    // Digits are ASCII.
    let digits = std::str::from_utf8(coefficient).unwrap_or("0");
    // No overflow: a Decimal read from text has `exponent >= MIN_ETINY` and
    // `exponent + len - 1 <= MAX_EMAX` (checked by `canonical`), one from
    // `rust_decimal` an exponent of -28 to 0 and at most 29 digits.
    let len = digits.len() as i64;
    let left_digits = exponent + len;
    let dot_place = if exponent <= 0 && left_digits > -6 {
        left_digits
    } else {
        1
    };
    if negative {
        out.push('-');
    }
    if dot_place <= 0 {
        out.push_str("0.");
        for _ in 0..-dot_place {
            out.push('0');
        }
        out.push_str(digits);
    } else if dot_place >= len {
        out.push_str(digits);
        for _ in 0..dot_place - len {
            out.push('0');
        }
    } else {
        let (int_part, frac_part) = digits.split_at(dot_place as usize);
        out.push_str(int_part);
        out.push('.');
        out.push_str(frac_part);
    }
    if left_digits != dot_place {
        let e = left_digits - dot_place;
        out.push('E');
        out.push(if e < 0 { '-' } else { '+' });
        out.push_str(&e.unsigned_abs().to_string());
    }
}

fn canonical(text: &[u8]) -> Option<String> {
    let (parts, frac) = parse_parts(text)?;
    let mut out = String::with_capacity(text.len() + 8);
    match parts {
        Parts::Infinity { negative } => {
            out.push_str(if negative { "-Infinity" } else { "Infinity" });
        }
        Parts::NaN {
            negative,
            signaling,
            payload,
        } => {
            if negative {
                out.push('-');
            }
            out.push_str(if signaling { "sNaN" } else { "NaN" });
            out.push_str(std::str::from_utf8(payload).ok()?);
        }
        Parts::Finite {
            negative,
            coefficient,
            exponent,
        } => {
            // The digit count is bounded by the input's length; the
            // exponent is the peer's and may be anywhere in i64.
            let len = i64::try_from((coefficient.len() + frac.len()).max(1)).ok()?;
            let adjusted = exponent.checked_add(len - 1)?;
            if exponent < MIN_ETINY || adjusted > MAX_EMAX {
                return None;
            }
            if frac.is_empty() {
                write_finite(&mut out, negative, coefficient, exponent);
            } else if coefficient.is_empty() {
                write_finite(&mut out, negative, frac, exponent);
            } else {
                let mut joined = Vec::with_capacity(coefficient.len() + frac.len());
                joined.extend_from_slice(coefficient);
                joined.extend_from_slice(frac);
                write_finite(&mut out, negative, &joined, exponent);
            }
        }
    }
    Some(out)
}

impl Decimal {
    /// Checks `text` and gives its canonical form.
    pub(crate) fn parse_wire(text: &[u8]) -> Result<Decimal, ValueError> {
        canonical(text).map(|text| Decimal { text }).ok_or_else(|| {
            ValueError::new(ValueErrorKind::InvalidDecimal {
                text: snippet(text),
            })
        })
    }

    /// The number's text, as Python's `str(Decimal)` writes it.
    ///
    /// ```
    /// let d: amp_core::values::Decimal = "-3.14159".parse().unwrap();
    /// assert_eq!(d.as_str(), "-3.14159");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The number's text, as an owned string.
    ///
    /// ```
    /// let d: amp_core::values::Decimal = "007".parse().unwrap();
    /// assert_eq!(d.into_string(), "7");
    /// ```
    pub fn into_string(self) -> String {
        self.text
    }

    /// Whether the value is a number (neither infinite nor NaN).
    ///
    /// ```
    /// use amp_core::values::Decimal;
    /// assert!("1E+2".parse::<Decimal>().unwrap().is_finite());
    /// assert!(!"-Infinity".parse::<Decimal>().unwrap().is_finite());
    /// ```
    pub fn is_finite(&self) -> bool {
        !self.is_nan() && !self.is_infinite()
    }

    /// Whether the value is an infinity.
    ///
    /// ```
    /// assert!("Inf".parse::<amp_core::values::Decimal>().unwrap().is_infinite());
    /// ```
    pub fn is_infinite(&self) -> bool {
        self.text.ends_with('y')
    }

    /// Whether the value is a NaN, quiet or signaling.
    ///
    /// ```
    /// assert!("-sNaN12".parse::<amp_core::values::Decimal>().unwrap().is_nan());
    /// ```
    pub fn is_nan(&self) -> bool {
        self.text.contains('N')
    }

    /// Whether the sign is negative (`-0` and `-NaN` included).
    ///
    /// ```
    /// assert!("-0".parse::<amp_core::values::Decimal>().unwrap().is_sign_negative());
    /// ```
    pub fn is_sign_negative(&self) -> bool {
        self.text.starts_with('-')
    }

    #[cfg(feature = "rust_decimal")]
    pub(crate) fn parts(&self) -> (Parts<'_>, &[u8]) {
        // The text is canonical, so it always parses.
        parse_parts(self.text.as_bytes()).unwrap_or((Parts::Infinity { negative: false }, &[]))
    }

    #[cfg(feature = "rust_decimal")]
    pub(crate) fn from_finite(negative: bool, coefficient: &[u8], exponent: i64) -> Decimal {
        let mut text = String::new();
        write_finite(&mut text, negative, strip_zeros(coefficient), exponent);
        Decimal { text }
    }
}

impl FromStr for Decimal {
    type Err = ValueError;

    /// Reads Python's `Decimal(str)` syntax and keeps the canonical text.
    /// Fails with [`ValueErrorKind::InvalidDecimal`].
    ///
    /// ```
    /// use amp_core::values::Decimal;
    /// assert_eq!("1.".parse::<Decimal>().unwrap().as_str(), "1");
    /// assert_eq!(".5".parse::<Decimal>().unwrap().as_str(), "0.5");
    /// assert_eq!("nan012".parse::<Decimal>().unwrap().as_str(), "NaN12");
    /// assert!(".".parse::<Decimal>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Decimal, ValueError> {
        Decimal::parse_wire(s.as_bytes())
    }
}

impl fmt::Display for Decimal {
    /// The canonical text, as Python's `str(Decimal)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decimal({:?})", self.text)
    }
}

impl AsRef<str> for Decimal {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Decimal {
            fn from(v: $t) -> Decimal {
                Decimal { text: v.to_string() }
            }
        }
    )*};
}

from_int!(
    i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize
);

impl Serialize for Decimal {
    /// Serializes as its text, a string.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Decimal {
    /// Deserializes from its text, checked.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        d.deserialize_newtype_struct(TOKEN, DecimalVisitor)
    }
}

struct DecimalVisitor;

impl<'de> Visitor<'de> for DecimalVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal number")
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Decimal, D::Error> {
        d.deserialize_str(self)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
        Decimal::parse_wire(v.as_bytes()).map_err(E::custom)
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Decimal, E> {
        Decimal::parse_wire(v).map_err(E::custom)
    }
}

#[cfg(feature = "rust_decimal")]
mod with_rust_decimal {
    use super::{Decimal, Parts};
    use crate::values::error::{ValueError, ValueErrorKind};

    fn out_of_range(d: &Decimal) -> ValueError {
        ValueError::new(ValueErrorKind::InvalidDecimal {
            text: super::snippet(d.text.as_bytes()),
        })
    }

    impl TryFrom<&Decimal> for rust_decimal::Decimal {
        type Error = ValueError;

        /// The same number, when `rust_decimal` can hold it exactly: fails
        /// for infinities, NaNs, more than 28 fraction digits (after
        /// dropping trailing zeros) and numbers of 2^96 or more. The sign of
        /// zero is kept.
        ///
        /// ```
        /// use amp_core::values::Decimal;
        /// let d: Decimal = "1.5E+2".parse().unwrap();
        /// let r = rust_decimal::Decimal::try_from(&d).unwrap();
        /// assert_eq!(r.to_string(), "150");
        /// assert!(rust_decimal::Decimal::try_from(&"NaN".parse::<Decimal>().unwrap()).is_err());
        /// ```
        fn try_from(d: &Decimal) -> Result<rust_decimal::Decimal, ValueError> {
            let (parts, frac) = d.parts();
            let Parts::Finite {
                negative,
                coefficient,
                exponent,
            } = parts
            else {
                return Err(out_of_range(d));
            };
            let mut mantissa: i128 = 0;
            for &digit in coefficient.iter().chain(frac) {
                mantissa = mantissa
                    .checked_mul(10)
                    .and_then(|m| m.checked_add(i128::from(digit - b'0')))
                    .ok_or_else(|| out_of_range(d))?;
            }
            let max_scale = rust_decimal::Decimal::MAX_SCALE;
            let mut scale = 0u32;
            if mantissa == 0 {
                // Zero at any exponent: keep what scale fits. The exponent
                // is at least MIN_ETINY, so negating it cannot overflow.
                scale = u32::try_from(-exponent.min(0)).map_or(max_scale, |s| s.min(max_scale));
            } else if exponent > 0 {
                // At most 39 digits fit in an i128.
                if exponent > 39 {
                    return Err(out_of_range(d));
                }
                for _ in 0..exponent {
                    mantissa = mantissa.checked_mul(10).ok_or_else(|| out_of_range(d))?;
                }
            } else {
                scale = u32::try_from(-exponent).map_err(|_| out_of_range(d))?;
                // Trailing zeros can go to bring the scale down; an i128 has
                // at most 39 digits, so this loop is short.
                while scale > max_scale && mantissa % 10 == 0 {
                    mantissa /= 10;
                    scale -= 1;
                }
            }
            let mut r = rust_decimal::Decimal::try_from_i128_with_scale(mantissa, scale)
                .map_err(|_| out_of_range(d))?;
            r.set_sign_negative(negative);
            Ok(r)
        }
    }

    impl TryFrom<Decimal> for rust_decimal::Decimal {
        type Error = ValueError;

        /// See the conversion from `&Decimal`.
        ///
        /// ```
        /// let d: amp_core::values::Decimal = "-0.50".parse().unwrap();
        /// assert_eq!(rust_decimal::Decimal::try_from(d).unwrap().to_string(), "-0.50");
        /// ```
        fn try_from(d: Decimal) -> Result<rust_decimal::Decimal, ValueError> {
            rust_decimal::Decimal::try_from(&d)
        }
    }

    impl From<rust_decimal::Decimal> for Decimal {
        /// The same number and scale: `1.50` stays `1.50`.
        ///
        /// ```
        /// let r = rust_decimal::Decimal::new(150, 2);
        /// assert_eq!(amp_core::values::Decimal::from(r).as_str(), "1.50");
        /// ```
        fn from(r: rust_decimal::Decimal) -> Decimal {
            let mut digits = String::new();
            digits.push_str(&r.mantissa().unsigned_abs().to_string());
            Decimal::from_finite(
                r.is_sign_negative(),
                digits.as_bytes(),
                -i64::from(r.scale()),
            )
        }
    }
}
