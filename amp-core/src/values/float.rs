//! Float: Python's `repr(float)`.
//!
//! Python writes a float with the shortest digits that read back to the same
//! value, in fixed notation when the decimal exponent `e` (of the form
//! `d.ddd × 10^e`) is in `-4 <= e < 16` and in scientific notation otherwise,
//! with a sign and at least two exponent digits. Rust's `{:e}` formatting
//! gives the same shortest digits (but for exact ties, see `shortest!`);
//! this module lays them out Python's way.

use std::fmt::{self, Write as _};

use bytes::{BufMut, BytesMut};

use super::error::{ValueError, ValueErrorKind, snippet};

/// A small stack buffer for `{:e}` output (the longest `f64` form,
/// `-1.2345678901234567e-308`, is 24 bytes).
struct Stack {
    buf: [u8; 48],
    len: usize,
}

impl fmt::Write for Stack {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl Stack {
    fn new() -> Self {
        Stack {
            buf: [0; 48],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        // Only `str`s are written in.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

/// Number of significant digits in a `{:e}` form, and whether the last is
/// odd.
fn digit_count(sci: &str) -> (usize, bool) {
    let mantissa = sci.split('e').next().unwrap_or("");
    let n = mantissa.bytes().filter(u8::is_ascii_digit).count();
    let odd = mantissa.bytes().last().is_some_and(|d| d % 2 == 1);
    (n, odd)
}

/// Whether a float `m × 2^q` (`m` odd) can sit exactly halfway between two
/// decimals of `n` significant digits: its exact decimal expansion must then
/// have `n + 1` significant digits, the last a 5.
fn tie_possible(m: u64, q: i32, n: usize) -> bool {
    let mut s = u128::from(m);
    if q < 0 {
        // m / 2^-q = m × 5^-q / 10^-q: the digits are m × 5^-q.
        for _ in 0..q.unsigned_abs() {
            match s.checked_mul(5) {
                Some(v) => s = v,
                None => return false,
            }
        }
    } else {
        // An integer: m × 2^q, trailing zeros aside. Beyond 2^127 it has
        // far more digits than any shortest form.
        if q > 74 {
            return false;
        }
        s <<= q;
        while s % 10 == 0 {
            s /= 10;
        }
    }
    s % 10 == 5 && s.ilog10() as usize + 1 == n + 1
}

/// `v`'s odd significand and binary exponent: `v = ±m × 2^q`.
fn decompose_f64(v: f64) -> (u64, i32) {
    let bits = v.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1 << 52) - 1);
    let (m, q) = if exp == 0 {
        (frac, -1074)
    } else {
        (frac | (1 << 52), exp - 1075)
    };
    let tz = m.trailing_zeros();
    (m >> tz, q + tz as i32)
}

/// `v`'s odd significand and binary exponent: `v = ±m × 2^q`.
fn decompose_f32(v: f32) -> (u64, i32) {
    let bits = v.to_bits();
    let exp = ((bits >> 23) & 0xff) as i32;
    let frac = u64::from(bits & ((1 << 23) - 1));
    let (m, q) = if exp == 0 {
        (frac, -149)
    } else {
        (frac | (1 << 23), exp - 150)
    };
    let tz = m.trailing_zeros();
    (m >> tz, q + tz as i32)
}

macro_rules! shortest {
    ($v:expr, $ty:ty, $decompose:ident) => {{
        let v = $v;
        let mut s = Stack::new();
        // Cannot fail: the buffer is larger than any finite float's form.
        let _ = write!(s, "{v:e}");
        // Rust's shortest digits break an exact tie between two equally
        // close candidates upwards; Python's repr breaks it to the even
        // digit. In a tie, the correctly rounded form with as many digits
        // (which rounds ties to even) is Python's pick whenever it reads
        // back to the same value.
        let (n, odd) = digit_count(s.as_str());
        if odd && v != 0.0 {
            let (m, q) = $decompose(v);
            if tie_possible(m, q, n) {
                let mut t = Stack::new();
                let _ = write!(t, "{v:.prec$e}", prec = n.saturating_sub(1));
                if t.as_str() != s.as_str() && t.as_str().parse::<$ty>().ok() == Some(v) {
                    s = t;
                }
            }
        }
        s
    }};
}

/// Appends `v` as Python's `repr(v)`.
pub(crate) fn write_f64(out: &mut BytesMut, v: f64) {
    if v.is_nan() {
        out.put_slice(b"nan");
    } else if v.is_infinite() {
        out.put_slice(if v > 0.0 { b"inf" } else { b"-inf" });
    } else {
        let s = shortest!(v, f64, decompose_f64);
        layout(out, &s.buf[..s.len]);
    }
}

/// Appends `v` in the layout of Python's `repr`, with the shortest digits
/// that read back to the same `f32` (so `0.1f32` is written `0.1`).
pub(crate) fn write_f32(out: &mut BytesMut, v: f32) {
    if v.is_nan() {
        out.put_slice(b"nan");
    } else if v.is_infinite() {
        out.put_slice(if v > 0.0 { b"inf" } else { b"-inf" });
    } else {
        let s = shortest!(v, f32, decompose_f32);
        layout(out, &s.buf[..s.len]);
    }
}

/// Re-lays out Rust's `{:e}` form (`-1.25e-7`, `0e0`) as Python's repr.
fn layout(out: &mut BytesMut, sci: &[u8]) {
    let (negative, sci) = match sci.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, sci),
    };
    let e_at = sci.iter().position(|&c| c == b'e').unwrap_or(sci.len());
    let (mantissa, exp_text) = (&sci[..e_at], sci.get(e_at + 1..).unwrap_or(b"0"));
    let mut digits = [0u8; 40];
    let mut n = 0;
    for &c in mantissa {
        if c != b'.' && n < digits.len() {
            digits[n] = c;
            n += 1;
        }
    }
    let digits = &digits[..n];
    let (exp_negative, exp_digits) = match exp_text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, exp_text),
    };
    let magnitude = exp_digits.iter().fold(0i32, |acc, &d| {
        acc.wrapping_mul(10)
            .wrapping_add(i32::from(d.wrapping_sub(b'0')))
    });
    let exp = if exp_negative { -magnitude } else { magnitude };

    if negative {
        out.put_u8(b'-');
    }
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.put_slice(digits);
                out.put_bytes(b'0', int_len - digits.len());
                out.put_slice(b".0");
            } else {
                out.put_slice(&digits[..int_len]);
                out.put_u8(b'.');
                out.put_slice(&digits[int_len..]);
            }
        } else {
            out.put_slice(b"0.");
            out.put_bytes(b'0', (-exp - 1) as usize);
            out.put_slice(digits);
        }
    } else {
        out.put_slice(&digits[..1]);
        if digits.len() > 1 {
            out.put_u8(b'.');
            out.put_slice(&digits[1..]);
        }
        out.put_u8(b'e');
        out.put_u8(if exp < 0 { b'-' } else { b'+' });
        let magnitude = exp.unsigned_abs();
        if magnitude < 10 {
            out.put_u8(b'0');
        }
        super::integer::write_u64(out, u64::from(magnitude));
    }
}

fn invalid(text: &[u8]) -> ValueError {
    ValueError::new(ValueErrorKind::InvalidFloat {
        text: snippet(text),
    })
}

/// Reads a Float: what Rust's `f64::from_str` accepts (Python writes nothing
/// else).
pub(crate) fn parse_f64(text: &[u8]) -> Result<f64, ValueError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid(text))
}

/// Reads a Float into an `f32`, rounding the text once, straight to the
/// nearest `f32`.
pub(crate) fn parse_f32(text: &[u8]) -> Result<f32, ValueError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr(v: f64) -> String {
        let mut out = BytesMut::new();
        write_f64(&mut out, v);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn layouts() {
        for (v, s) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (123.456, "123.456"),
            (1e100, "1e+100"),
        ] {
            assert_eq!(repr(v), s);
        }
    }
}
