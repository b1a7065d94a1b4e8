//! Round trips of every argument type, decoders against arbitrary bytes,
//! Python's float layout, and every kind of value error.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::path::PathBuf;

use amp_core::AmpBox;
use amp_core::de::from_box;
use amp_core::ser::to_box;
use amp_core::values::{
    DateTime, DateTimeError, Decimal, ValueError, ValueErrorKind, decode_value, encode_value,
};
use amp_core::{CodecError, Limits};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

fn round_trip<T>(v: &T) -> T
where
    T: Serialize + for<'de> Deserialize<'de> + Debug,
{
    let wire = encode_value(v).unwrap_or_else(|e| panic!("encoding {v:?}: {e}"));
    decode_value(&wire).unwrap_or_else(|e| panic!("decoding {wire:?} (from {v:?}): {e}"))
}

fn wire<T: Serialize + ?Sized>(v: &T) -> String {
    String::from_utf8(encode_value(v).unwrap().to_vec()).unwrap()
}

// ---------------------------------------------------------------- integers

macro_rules! int_props {
    ($($name:ident: $ty:ty),* $(,)?) => {$(
        proptest! {
            #[test]
            fn $name(v in any::<$ty>()) {
                let w = encode_value(&v).unwrap();
                let text = v.to_string();
                prop_assert_eq!(&w[..], text.as_bytes());
                prop_assert_eq!(decode_value::<$ty>(&w).unwrap(), v);
                // Through the widest types too, and back only if it fits.
                prop_assert_eq!(decode_value::<i128>(&w).ok(), i128::try_from(v).ok());
                let narrow = decode_value::<i8>(&w);
                match i8::try_from(v) {
                    Ok(n) => prop_assert_eq!(narrow.unwrap(), n),
                    Err(_) => {
                        let e = narrow.unwrap_err();
                        let is_range = matches!(e.kind(), ValueErrorKind::IntegerOutOfRange { ty: "i8", .. });
                        prop_assert!(is_range);
                    }
                }
            }
        }
    )*};
}

int_props!(
    int_i8: i8, int_i16: i16, int_i32: i32, int_i64: i64, int_i128: i128, int_isize: isize,
    int_u8: u8, int_u16: u16, int_u32: u32, int_u64: u64, int_u128: u128, int_usize: usize,
);

#[test]
fn integer_extremes() {
    for v in [i128::MIN, i128::MIN + 1, -1, 0, 1, i128::MAX] {
        assert_eq!(wire(&v), v.to_string());
        assert_eq!(round_trip(&v), v);
    }
    for v in [0, 1, u64::MAX as u128, u64::MAX as u128 + 1, u128::MAX] {
        assert_eq!(wire(&v), v.to_string());
        assert_eq!(round_trip(&v), v);
    }
    assert_eq!(decode_value::<u8>(b"+7").unwrap(), 7);
    assert_eq!(decode_value::<u8>(b"-0").unwrap(), 0);
    assert_eq!(decode_value::<i32>(b"007").unwrap(), 7);
    let e = decode_value::<u128>(b"340282366920938463463374607431768211456").unwrap_err();
    assert!(matches!(
        e.kind(),
        ValueErrorKind::IntegerOutOfRange { ty: "u128", .. }
    ));
    let e = decode_value::<i128>(b"-170141183460469231731687303715884105729").unwrap_err();
    assert!(matches!(
        e.kind(),
        ValueErrorKind::IntegerOutOfRange { ty: "i128", .. }
    ));
    for bad in [
        &b""[..],
        b"-",
        b"+",
        b" 1",
        b"1 ",
        b"1_000",
        b"0x10",
        b"1.0",
        b"--1",
        "١".as_bytes(),
    ] {
        let e = decode_value::<i64>(bad).unwrap_err();
        assert!(
            matches!(e.kind(), ValueErrorKind::InvalidInteger { .. }),
            "{bad:?}"
        );
    }
    // Many digits: an error, quickly.
    let long = vec![b'9'; 65535];
    assert!(decode_value::<u64>(&long).is_err());
}

proptest! {
    /// Integer text of any length around the 18- and 19-digit boundaries,
    /// with or without a sign and leading zeros, reads into each signed
    /// width as the value it denotes, or is out of range for that width.
    #[test]
    fn integer_text_reads_as_its_value_in_every_width(
        sign in prop::sample::select(vec!["", "-", "+"]),
        digits in "[0-9]{1,22}",
    ) {
        let text = format!("{sign}{digits}");
        // The reference: std's own parser on the same text, in i128.
        let value: Option<i128> = text.parse().ok();
        macro_rules! check {
            ($($ty:ty),*) => {$(
                match value.and_then(|v| <$ty>::try_from(v).ok()) {
                    Some(v) => prop_assert_eq!(decode_value::<$ty>(text.as_bytes()).unwrap(), v),
                    None => {
                        let e = decode_value::<$ty>(text.as_bytes()).unwrap_err();
                        let out_of_range = matches!(e.kind(), ValueErrorKind::IntegerOutOfRange { .. });
                        prop_assert!(out_of_range, "{}", e);
                    }
                }
            )*};
        }
        check!(i8, i16, i32, i64, i128);
    }
}

#[cfg(feature = "bigint")]
mod bigint {
    use super::*;
    use amp_core::values::BigInteger;
    use num_bigint::{BigInt, Sign};

    proptest! {
        #[test]
        fn big_integers(bytes in proptest::collection::vec(any::<u8>(), 0..64), negative: bool) {
            let sign = if negative { Sign::Minus } else { Sign::Plus };
            let v = BigInteger(BigInt::from_bytes_be(sign, &bytes));
            let w = encode_value(&v).unwrap();
            let text = v.0.to_string();
            prop_assert_eq!(&w[..], text.as_bytes());
            prop_assert_eq!(decode_value::<BigInteger>(&w).unwrap(), v);
        }
    }

    #[test]
    fn twisted_sizes() {
        let two64 = BigInt::from(2u8).pow(64);
        let ten30 = BigInt::from(10u8).pow(30);
        for v in [
            two64.clone(),
            ten30.clone(),
            -ten30.clone(),
            BigInt::from(0),
        ] {
            let b = BigInteger(v.clone());
            assert_eq!(wire(&b), v.to_string());
            assert_eq!(round_trip(&b), b);
        }
        assert_eq!(wire(&BigInteger(two64)), "18446744073709551616");
        let e = decode_value::<BigInteger>(b"12a").unwrap_err();
        assert!(matches!(e.kind(), ValueErrorKind::InvalidInteger { .. }));
        assert_eq!(
            decode_value::<BigInteger>(b"+5").unwrap(),
            BigInteger(5.into())
        );

        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Args {
            #[serde(with = "amp_core::values::bigint")]
            n: BigInt,
            list: Vec<BigInteger>,
        }
        let args = Args {
            n: -ten30.clone(),
            list: vec![BigInteger(ten30), BigInteger(1.into())],
        };
        let b = to_box(&args).unwrap();
        assert_eq!(b.get_str("n"), Some("-1000000000000000000000000000000"));
        assert_eq!(from_box::<Args>(&b).unwrap(), args);
        let bad = AmpBox::from_pairs([("n", "x"), ("list", "")]);
        let e = from_box::<Args>(&bad).unwrap_err();
        assert_eq!(e.path(), "n");
        assert!(matches!(e.kind(), ValueErrorKind::InvalidInteger { .. }));
    }
}

// ------------------------------------------------------- bytes and strings

proptest! {
    #[test]
    fn byte_strings(v in proptest::collection::vec(any::<u8>(), 0..300)) {
        let b = ByteBuf::from(v.clone());
        prop_assert_eq!(&encode_value(&b).unwrap()[..], &v[..]);
        prop_assert_eq!(round_trip(&b), b);
        let bytes = bytes::Bytes::from(v.clone());
        prop_assert_eq!(round_trip(&bytes), bytes);
        prop_assert_eq!(decode_value::<&[u8]>(&v).unwrap(), &v[..]);
    }

    #[test]
    fn unicode_strings(s in any::<String>(), t in "[\\x00-\\u{10FFFF}]{0,20}") {
        for s in [&s, &t] {
            prop_assert_eq!(&encode_value(s).unwrap()[..], s.as_bytes());
            prop_assert_eq!(&round_trip(s), s);
            prop_assert_eq!(decode_value::<&str>(s.as_bytes()).unwrap(), s.as_str());
        }
    }

    #[test]
    fn chars(c in any::<char>()) {
        prop_assert_eq!(round_trip(&c), c);
    }

    #[test]
    fn booleans(b: bool) {
        prop_assert_eq!(wire(&b), if b { "True" } else { "False" });
        prop_assert_eq!(round_trip(&b), b);
    }
}

#[test]
fn strings_with_nul_and_astral_chars() {
    for s in ["nul\0inside", "\0", "😀 emoji", "\u{10FFFF}", "日本語", ""] {
        assert_eq!(round_trip(&s.to_owned()), s);
    }
    let p = PathBuf::from("/tmp/日本/file.txt");
    assert_eq!(wire(&p), "/tmp/日本/file.txt");
    assert_eq!(round_trip(&p), p);
}

// ------------------------------------------------------------------ floats

proptest! {
    #[test]
    fn f64_bit_exact(bits: u64) {
        let v = f64::from_bits(bits);
        let back: f64 = round_trip(&v);
        if v.is_nan() {
            prop_assert!(back.is_nan());
            prop_assert_eq!(wire(&v), "nan");
        } else {
            prop_assert_eq!(back.to_bits(), bits);
        }
    }

    #[test]
    fn f64_subnormals(bits in 0u64..(1 << 52), negative: bool) {
        let v = f64::from_bits(bits | if negative { 1 << 63 } else { 0 });
        prop_assert_eq!(round_trip(&v).to_bits(), v.to_bits());
    }

    #[test]
    fn f64_python_layout(bits: u64) {
        let v = f64::from_bits(bits);
        prop_assume!(v.is_finite() && v != 0.0);
        let s = wire(&v);
        let exp = v.abs().log10().floor() as i32;
        // Scientific exactly outside -4 <= exp < 16 (log10 may be off by
        // one right at a power of ten, where the digits decide).
        if (-3..15).contains(&exp) {
            prop_assert!(!s.contains('e') && s.contains('.'), "{}", s);
        } else if !(-5..=16).contains(&exp) {
            prop_assert!(s.contains("e+") || s.contains("e-"), "{}", s);
            let e = s.split('e').nth(1).unwrap();
            prop_assert!(e.len() >= 3, "{}", s);
        }
    }

    #[test]
    fn f32_bit_exact(bits: u32) {
        let v = f32::from_bits(bits);
        let back: f32 = round_trip(&v);
        if v.is_nan() {
            prop_assert!(back.is_nan());
        } else {
            prop_assert_eq!(back.to_bits(), bits);
            // f32's own shortest digits, in Python's layout.
            let s = wire(&v);
            let f64_form = wire(&(v as f64));
            prop_assert!(s.len() <= f64_form.len(), "{} vs {}", s, f64_form);
        }
    }
}

/// Floats whose Python `repr` is known (from CPython 3.11), exact ties
/// (rounded to even digits, as Python does) included.
#[test]
fn python_float_repr_table() {
    let table: &[(f64, &str)] = &[
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (1.0, "1.0"),
        (-1.5, "-1.5"),
        (0.1, "0.1"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e15, "1000000000000000.0"),
        (1e16, "1e+16"),
        (1e22, "1e+22"),
        (1e-7, "1e-07"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (123456789.12345679, "123456789.12345679"),
        (123456789012345678.0, "1.2345678901234568e+17"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (5e-324, "5e-324"),
        (2.2250738585072014e-308, "2.2250738585072014e-308"),
        (100.0, "100.0"),
        (1.5e300, "1.5e+300"),
        (9007199254740993.0, "9007199254740992.0"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
        (f64::NAN, "nan"),
        (-f64::NAN, "nan"),
    ];
    for (v, s) in table {
        assert_eq!(wire(v), *s, "{v:e}");
    }
    let bits: &[(u64, &str)] = &[
        (0x42d2601edb819548, "80816175449685.12"),
        (0xc30797fde5957f5a, "-830130149830635.2"),
        (0x4303c40c720dc98a, "695447786207537.2"),
        (0xc31441f233f63165, "-1425502010969177.2"),
        (0xc24f0019dda37f40, "-266291362630.99414"),
        (0x42ae3921c1e4e49c, "16615364162162.305"),
        (0x80088a4aedbd6f3c, "-1.1876617948829854e-308"),
        (0xc2a8d2a1f686d600, "-13646469743467.0"),
        (0x0007d85986e982d5, "1.090997668272559e-308"),
        (0x442163f1482363ae, "1.6039813292451896e+20"),
        (0x96f0000000000000, "-3.3444356521734666e-198"),
        (0xc3746584f9b284d1, "-9.185794133644418e+16"),
        (0x428a34dba2f83e00, "3601790689031.75"),
        (0xc3a6ef4810fd1a8e, "-8.26309413035657e+17"),
        (0x420d342e71ef6c00, "15678688829.927734"),
        (0x8000296f04c24a6e, "-2.25080488019095e-310"),
        (0xc23877d96a472200, "-105089952327.13281"),
        (0xf170000000000001, "-2.6046931378436937e+238"),
        (0x30f0000000000000, "5.659799424266695e-73"),
        (0x43535b9f3d9b206b, "2.1795056196026796e+16"),
        (0xc38ec17e831d0b0f, "-2.7702394915450928e+17"),
        (0x0b1fffffffffffff, "4.2623947078244293e-255"),
        (0xc2844a13891c2c00, "-2788548486021.5"),
    ];
    for (b, s) in bits {
        assert_eq!(wire(&f64::from_bits(*b)), *s, "{b:#x}");
        assert_eq!(decode_value::<f64>(s.as_bytes()).unwrap().to_bits(), *b);
    }
    // f32 is written with its own shortest digits.
    assert_eq!(wire(&0.1f32), "0.1");
    assert_eq!(wire(&1e16f32), "1e+16");
    assert_eq!(wire(&-0.0f32), "-0.0");
    assert_eq!(wire(&f32::MAX), "3.4028235e+38");
    assert_eq!(wire(&f32::from_bits(1)), "1e-45");
    assert_eq!(decode_value::<f32>(b"0.1").unwrap(), 0.1f32);
    assert_eq!(
        decode_value::<f64>(b"-0.0").unwrap().to_bits(),
        (-0.0f64).to_bits()
    );
    assert_eq!(decode_value::<f64>(b"inf").unwrap(), f64::INFINITY);
    assert!(decode_value::<f64>(b"nan").unwrap().is_nan());
}

// ---------------------------------------------------------------- decimals

fn decimal_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[+-]?([0-9]{1,30}(\\.[0-9]{0,30})?|\\.[0-9]{1,30})([eE][+-]?[0-9]{1,6})?",
        1 => "[+-]?([iI][nN][fF]([iI][nN][iI][tT][yY])?|[sS]?[nN][aA][nN][0-9]{0,5})",
    ]
}

proptest! {
    #[test]
    fn decimals(text in decimal_text()) {
        let d: Decimal = text.parse().unwrap();
        // The canonical text is a fixed point, and is what goes on the wire.
        let again: Decimal = d.as_str().parse().unwrap();
        prop_assert_eq!(&again, &d);
        prop_assert_eq!(&encode_value(&d).unwrap()[..], d.as_str().as_bytes());
        prop_assert_eq!(round_trip(&d), d.clone());
        prop_assert_eq!(d.is_sign_negative(), text.starts_with('-'));
        let special = text.to_ascii_lowercase().contains('n');
        prop_assert_eq!(d.is_finite(), !special);
    }

    #[test]
    fn decimals_reject_garbage(text in "[0-9eE.+\\- a-z]{0,8}") {
        // Whatever the verdict, no panic, and an accepted text is canonical
        // after one pass.
        if let Ok(d) = text.parse::<Decimal>() {
            prop_assert_eq!(d.as_str().parse::<Decimal>().unwrap(), d);
        }
    }
}

#[test]
fn decimal_canonical_forms() {
    // Checked against CPython's str(Decimal(text)).
    for (text, canonical) in [
        ("0", "0"),
        ("-0", "-0"),
        ("1.0", "1.0"),
        ("1E+2", "1E+2"),
        ("1e2", "1E+2"),
        ("1E-1", "0.1"),
        ("1.5E+2", "1.5E+2"),
        (
            "12345678901234567890.123456789",
            "12345678901234567890.123456789",
        ),
        (".5", "0.5"),
        ("1.", "1"),
        ("1.e5", "1E+5"),
        ("+007.50", "7.50"),
        ("0.000001", "0.000001"),
        ("0.0000001", "1E-7"),
        ("-0.00000E3", "-0.00"),
        ("0E+5", "0E+5"),
        ("123E-10", "1.23E-8"),
        ("inf", "Infinity"),
        ("-INFINITY", "-Infinity"),
        ("+Inf", "Infinity"),
        ("nan", "NaN"),
        ("-NaN", "-NaN"),
        ("snan", "sNaN"),
        ("-sNaN007", "-sNaN7"),
        ("NaN0", "NaN"),
        ("1E+999999999999999999", "1E+999999999999999999"),
        ("12E+999999999999999998", "1.2E+999999999999999999"),
        ("1E-1999999999999999997", "1E-1999999999999999997"),
    ] {
        assert_eq!(
            text.parse::<Decimal>().unwrap().as_str(),
            canonical,
            "{text}"
        );
    }
    for bad in [
        "",
        ".",
        "-",
        "e5",
        "1e",
        "1e+",
        "1,5",
        " 1",
        "1 ",
        "1_000",
        "Infin",
        "nana",
        "NaN1.5",
        "sNaNx",
        "1.2.3",
        "0x10",
        "1E+1000000000000000000",
        "0E+1000000000000000000",
        "1E-1999999999999999998",
        "1E99999999999999999999999",
        // Exponents at the edge of i64: the adjusted exponent must not
        // overflow on the way to being refused (found by the fuzzer).
        "1E9223372036854775807",
        ".0E09223372036854775807",
        "12E9223372036854775806",
        "1E9223372036854775808",
        "1E-9223372036854775808",
    ] {
        let e = bad.parse::<Decimal>().unwrap_err();
        assert!(
            matches!(e.kind(), ValueErrorKind::InvalidDecimal { .. }),
            "{bad:?}"
        );
    }
    assert_eq!(Decimal::from(-42i64).as_str(), "-42");
    assert_eq!(format!("{:?}", Decimal::from(1u8)), "Decimal(\"1\")");
}

#[cfg(feature = "rust_decimal")]
mod with_rust_decimal {
    use super::*;

    proptest! {
        #[test]
        fn rust_decimal_round_trip(m in any::<i64>(), scale in 0u32..=28) {
            let r = rust_decimal::Decimal::new(m, scale);
            let d = Decimal::from(r);
            let back = rust_decimal::Decimal::try_from(&d).unwrap();
            prop_assert_eq!(back, r);
            prop_assert_eq!(back.scale(), r.scale());
            prop_assert_eq!(round_trip(&d), d);
        }
    }

    #[test]
    fn conversions() {
        let conv = |s: &str| rust_decimal::Decimal::try_from(&s.parse::<Decimal>().unwrap());
        assert_eq!(conv("1.5E+2").unwrap().to_string(), "150");
        assert_eq!(conv("0.1").unwrap().to_string(), "0.1");
        assert!(conv("-0").unwrap().is_sign_negative());
        assert_eq!(
            conv("1.000000000000000000000000000000")
                .unwrap()
                .to_string(),
            "1.0000000000000000000000000000"
        );
        assert!(conv("0E-40").unwrap().is_zero());
        assert!(conv("0E+40").unwrap().is_zero());
        for bad in [
            "NaN",
            "-Infinity",
            "sNaN",
            "1E+40",
            "1E-29",
            "79228162514264337593543950336",
        ] {
            assert!(conv(bad).is_err(), "{bad}");
        }
        assert!(conv("79228162514264337593543950335").is_ok());
        assert_eq!(
            Decimal::from(rust_decimal::Decimal::new(-150, 2)).as_str(),
            "-1.50"
        );
        assert_eq!(
            Decimal::from(rust_decimal::Decimal::new(1, 28)).as_str(),
            "1E-28"
        );
    }
}

// --------------------------------------------------------------- datetimes

fn datetime() -> impl Strategy<Value = DateTime> {
    (
        1u16..=9999,
        1u8..=12,
        1u8..=31,
        0u8..24,
        0u8..60,
        0u8..60,
        0u32..1_000_000,
        -1439i16..=1439,
    )
        .prop_map(|(y, mo, d, h, mi, s, us, off)| {
            let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
            let days = match mo {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            DateTime::new(y, mo, d.min(days), h, mi, s, us, off).unwrap()
        })
}

proptest! {
    #[test]
    fn datetimes(dt in datetime()) {
        let w = encode_value(&dt).unwrap();
        prop_assert_eq!(w.len(), 32);
        prop_assert_eq!(&w[..], &dt.to_wire()[..]);
        let text = dt.to_string();
        prop_assert_eq!(&w[..], text.as_bytes());
        prop_assert_eq!(decode_value::<DateTime>(&w).unwrap(), dt);
        prop_assert_eq!(dt.to_string().parse::<DateTime>().unwrap(), dt);
        // Twisted's sign: '+' only for a positive offset.
        prop_assert_eq!(w[26] == b'+', dt.offset_minutes() > 0);
    }
}

proptest! {
    /// To the system clock's instant and back: the same instant, at offset
    /// zero (and, at offset zero, the same value).
    #[test]
    fn system_time_round_trip(dt in datetime()) {
        if let Some(t) = dt.to_system_time() {
            let back = DateTime::try_from(t).unwrap();
            prop_assert_eq!(back.offset_minutes(), 0);
            prop_assert_eq!(back.to_system_time(), Some(t));
            if dt.offset_minutes() == 0 {
                prop_assert_eq!(back, dt);
            }
        }
    }
}

#[cfg(feature = "chrono")]
proptest! {
    /// chrono agrees with the conversion to the system clock.
    #[test]
    fn system_time_agrees_with_chrono(dt in datetime()) {
        let c = chrono::DateTime::<chrono::FixedOffset>::from(dt);
        let micros = c.timestamp_micros();
        let t = dt.to_system_time().unwrap();
        let expected = if micros >= 0 {
            std::time::UNIX_EPOCH + std::time::Duration::from_micros(micros as u64)
        } else {
            std::time::UNIX_EPOCH - std::time::Duration::from_micros(micros.unsigned_abs())
        };
        prop_assert_eq!(t, expected);
    }
}

#[cfg(feature = "chrono")]
proptest! {
    #[test]
    fn chrono_round_trip(dt in datetime()) {
        let c = chrono::DateTime::<chrono::FixedOffset>::from(dt);
        prop_assert_eq!(DateTime::try_from(c).unwrap(), dt);
        prop_assert_eq!(c.to_rfc3339_opts(chrono::SecondsFormat::Micros, false).replace("+00:00", "-00:00"), dt.to_string());
    }
}

#[cfg(feature = "time")]
proptest! {
    #[test]
    fn time_round_trip(dt in datetime()) {
        let t = time::OffsetDateTime::from(dt);
        prop_assert_eq!(DateTime::try_from(t).unwrap(), dt);
    }
}

#[cfg(feature = "chrono")]
#[test]
fn chrono_truncates_and_checks() {
    use chrono::TimeZone;
    let c = chrono::FixedOffset::east_opt(3600)
        .unwrap()
        .with_ymd_and_hms(2020, 2, 29, 23, 59, 59)
        .unwrap()
        + chrono::Duration::nanoseconds(999_999_999);
    let dt = DateTime::try_from(c).unwrap();
    assert_eq!(dt.to_string(), "2020-02-29T23:59:59.999999+01:00");
    let odd = chrono::FixedOffset::east_opt(61)
        .unwrap()
        .with_ymd_and_hms(2020, 1, 1, 0, 0, 0)
        .unwrap();
    assert_eq!(
        DateTime::try_from(odd),
        Err(DateTimeError::OffsetSeconds { seconds: 61 })
    );
    let early = chrono::Utc.with_ymd_and_hms(0, 12, 31, 0, 0, 0).unwrap();
    assert_eq!(
        DateTime::try_from(early),
        Err(DateTimeError::Year { year: 0 })
    );
}

#[cfg(feature = "time")]
#[test]
fn time_checks() {
    let t =
        time::OffsetDateTime::UNIX_EPOCH.to_offset(time::UtcOffset::from_hms(-25, 0, 0).unwrap());
    assert!(matches!(
        DateTime::try_from(t),
        Err(DateTimeError::OffsetRange { .. })
    ));
    let t =
        time::OffsetDateTime::UNIX_EPOCH.to_offset(time::UtcOffset::from_hms(1, 0, 30).unwrap());
    assert_eq!(
        DateTime::try_from(t),
        Err(DateTimeError::OffsetSeconds { seconds: 3630 })
    );
}

#[test]
fn datetime_wire_rules() {
    let utc: DateTime = "2012-01-23T12:34:56.054321+00:00".parse().unwrap();
    assert_eq!(utc.to_string(), "2012-01-23T12:34:56.054321-00:00");
    let cases: &[(&str, DateTimeError)] = &[
        (
            "2012-01-23T12:34:56.054321-00:0",
            DateTimeError::Length { len: 31 },
        ),
        (
            "2012-01-23T12:34:56.054321-00:000",
            DateTimeError::Length { len: 33 },
        ),
        (
            "2012/01-23T12:34:56.054321-00:00",
            DateTimeError::Separator {
                at: 4,
                expected: '-',
            },
        ),
        (
            "2012-01-23 12:34:56.054321-00:00",
            DateTimeError::Separator {
                at: 10,
                expected: 'T',
            },
        ),
        (
            "2012-01-23T12:34:56,054321-00:00",
            DateTimeError::Separator {
                at: 19,
                expected: '.',
            },
        ),
        (
            "2012-01-23T12:34:56.054321-00-00",
            DateTimeError::Separator {
                at: 29,
                expected: ':',
            },
        ),
        ("2012-01-23T12:34:56.054321 00:00", DateTimeError::Sign),
        (
            "2O12-01-23T12:34:56.054321-00:00",
            DateTimeError::Digit { at: 1 },
        ),
        (
            "2012-01-23T12:34:56.05432 -00:00",
            DateTimeError::Digit { at: 25 },
        ),
        (
            "+012-01-23T12:34:56.054321-00:00",
            DateTimeError::Digit { at: 0 },
        ),
        (
            "0000-01-23T12:34:56.054321-00:00",
            DateTimeError::Year { year: 0 },
        ),
        (
            "2012-13-23T12:34:56.054321-00:00",
            DateTimeError::Month { month: 13 },
        ),
        (
            "2012-00-23T12:34:56.054321-00:00",
            DateTimeError::Month { month: 0 },
        ),
        (
            "2023-02-29T12:34:56.054321-00:00",
            DateTimeError::Day {
                year: 2023,
                month: 2,
                day: 29,
            },
        ),
        (
            "1900-02-29T12:34:56.054321-00:00",
            DateTimeError::Day {
                year: 1900,
                month: 2,
                day: 29,
            },
        ),
        (
            "2012-04-31T12:34:56.054321-00:00",
            DateTimeError::Day {
                year: 2012,
                month: 4,
                day: 31,
            },
        ),
        (
            "2012-01-00T12:34:56.054321-00:00",
            DateTimeError::Day {
                year: 2012,
                month: 1,
                day: 0,
            },
        ),
        (
            "2012-01-23T24:34:56.054321-00:00",
            DateTimeError::Hour { hour: 24 },
        ),
        (
            "2012-01-23T12:60:56.054321-00:00",
            DateTimeError::Minute { minute: 60 },
        ),
        (
            "2012-01-23T12:34:60.054321-00:00",
            DateTimeError::Second { second: 60 },
        ),
        (
            "2012-01-23T12:34:56.054321+24:00",
            DateTimeError::OffsetField {
                hours: 24,
                minutes: 0,
            },
        ),
        (
            "2012-01-23T12:34:56.054321-00:60",
            DateTimeError::OffsetField {
                hours: 0,
                minutes: 60,
            },
        ),
    ];
    for (text, reason) in cases {
        let e = text.parse::<DateTime>().unwrap_err();
        match e.kind() {
            ValueErrorKind::InvalidDateTime { reason: r, .. } => assert_eq!(r, reason, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
        assert!(!e.to_string().is_empty());
    }
    assert!(
        "2000-02-29T00:00:00.000000-00:00"
            .parse::<DateTime>()
            .is_ok()
    );
    assert!(
        "2012-01-23T12:34:56.054321-23:59"
            .parse::<DateTime>()
            .is_ok()
    );
    assert_eq!(
        DateTime::new(2012, 1, 1, 0, 0, 0, 1_000_000, 0),
        Err(DateTimeError::Microsecond {
            microsecond: 1_000_000
        })
    );
    assert_eq!(
        DateTime::new(2012, 1, 1, 0, 0, 0, 0, -1440),
        Err(DateTimeError::OffsetRange { minutes: -1440 })
    );
    let neg: DateTime = "2012-01-23T12:34:56.054321-05:30".parse().unwrap();
    assert_eq!(neg.offset_minutes(), -330);
    assert_eq!(neg.to_string(), "2012-01-23T12:34:56.054321-05:30");
}

// ------------------------------------------------------------------- lists

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Inner {
    n: u32,
    label: Option<String>,
    raw: ByteBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Outer {
    name: String,
    tag: Option<i64>,
    inner: Vec<Inner>,
    flags: Vec<bool>,
}

fn inner() -> impl Strategy<Value = Inner> {
    (
        any::<u32>(),
        proptest::option::of(".{0,8}"),
        proptest::collection::vec(any::<u8>(), 0..8),
    )
        .prop_map(|(n, label, raw)| Inner {
            n,
            label,
            raw: ByteBuf::from(raw),
        })
}

fn outer() -> impl Strategy<Value = Outer> {
    (
        ".{0,8}",
        proptest::option::of(any::<i64>()),
        proptest::collection::vec(inner(), 0..4),
        proptest::collection::vec(any::<bool>(), 0..4),
    )
        .prop_map(|(name, tag, inner, flags)| Outer {
            name,
            tag,
            inner,
            flags,
        })
}

/// Checks an AmpList value's wire form: back-to-back boxes, keys sorted.
fn check_amplist_wire(w: &[u8], count: usize) {
    let boxes =
        amp_core::codec::decode_all(bytes::Bytes::copy_from_slice(w), &Limits::default()).unwrap();
    assert_eq!(boxes.len(), count);
    for b in boxes {
        let keys: Vec<_> = b.keys().map(<[u8]>::to_vec).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }
}

proptest! {
    #[test]
    fn lists_of_scalars(
        ints in proptest::collection::vec(any::<i32>(), 0..10),
        big in proptest::collection::vec(any::<u128>(), 0..10),
        strings in proptest::collection::vec(any::<String>(), 0..10),
        bools in proptest::collection::vec(any::<bool>(), 0..10),
        raw in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..10), 0..10),
        floats in proptest::collection::vec(any::<u64>(), 0..10),
        times in proptest::collection::vec(datetime(), 0..4),
        nested in proptest::collection::vec(proptest::collection::vec(any::<u16>(), 0..4), 0..4),
        small in proptest::collection::vec(any::<i8>(), 0..10),
        unsigned in proptest::collection::vec(any::<u32>(), 0..10),
        wide in proptest::collection::vec(any::<i64>(), 0..10),
    ) {
        prop_assert_eq!(round_trip(&ints), ints.clone());
        // Integers of every width but u8 are a ListOf(Integer), the same
        // bytes whatever the width.
        prop_assert_eq!(round_trip(&small), small.clone());
        prop_assert_eq!(round_trip(&unsigned), unsigned.clone());
        prop_assert_eq!(round_trip(&wide), wide.clone());
        let as_i64: Vec<i64> = small.iter().map(|&n| n.into()).collect();
        prop_assert_eq!(encode_value(&small).unwrap(), encode_value(&as_i64).unwrap());
        let as_i64: Vec<i64> = unsigned.iter().map(|&n| n.into()).collect();
        prop_assert_eq!(encode_value(&unsigned).unwrap(), encode_value(&as_i64).unwrap());
        prop_assert_eq!(round_trip(&big), big.clone());
        prop_assert_eq!(round_trip(&strings), strings.clone());
        prop_assert_eq!(round_trip(&bools), bools.clone());
        let raw: Vec<ByteBuf> = raw.into_iter().map(ByteBuf::from).collect();
        prop_assert_eq!(round_trip(&raw), raw.clone());
        let floats: Vec<f64> = floats.into_iter().map(f64::from_bits).collect();
        let back: Vec<f64> = round_trip(&floats);
        prop_assert_eq!(back.len(), floats.len());
        for (a, b) in back.iter().zip(&floats) {
            prop_assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
        }
        prop_assert_eq!(round_trip(&times), times.clone());
        prop_assert_eq!(round_trip(&nested), nested.clone());
        // Each element is a length and its own wire form.
        let w = encode_value(&ints).unwrap();
        let mut expected = Vec::new();
        for i in &ints {
            let e = encode_value(i).unwrap();
            expected.extend_from_slice(&(e.len() as u16).to_be_bytes());
            expected.extend_from_slice(&e);
        }
        prop_assert_eq!(&w[..], &expected[..]);
    }

    #[test]
    fn amplists_nested(list in proptest::collection::vec(outer(), 0..4)) {
        let w = encode_value(&list).unwrap();
        check_amplist_wire(&w, list.len());
        prop_assert_eq!(decode_value::<Vec<Outer>>(&w).unwrap(), list.clone());
        // Absent optional fields are left out of the element boxes.
        let boxes = amp_core::codec::decode_all(w.clone(), &Limits::default()).unwrap();
        for (b, o) in boxes.iter().zip(&list) {
            prop_assert_eq!(b.contains_key("tag"), o.tag.is_some());
        }
    }

    #[test]
    fn whole_structs(
        outer in outer(),
        a in any::<i64>(),
        b in proptest::option::of(any::<u8>()),
        f in any::<f64>().prop_filter("not NaN", |f| !f.is_nan()),
        d in decimal_text(),
        when in datetime(),
    ) {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Args {
            a: i64,
            #[serde(rename = "b-value")]
            b: Option<u8>,
            f: f64,
            d: Decimal,
            when: DateTime,
            items: Vec<Outer>,
            first: Outer2,
        }
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Outer2(String);
        let args = Args {
            a,
            b,
            f,
            d: d.parse().unwrap(),
            when,
            items: vec![outer.clone(), outer.clone()],
            first: Outer2(outer.name.clone()),
        };
        let mut bx = to_box(&args).unwrap();
        prop_assert_eq!(bx.contains_key("b-value"), b.is_some());
        bx.insert("_ask", "1");
        bx.insert("_command", "Do");
        // Through the wire and back.
        let wire = bx.to_bytes().unwrap();
        let (decoded, _) = amp_core::codec::decode_one(&wire, &Limits::default()).unwrap().unwrap();
        prop_assert_eq!(from_box::<Args>(&decoded).unwrap(), args);
    }
}

#[test]
fn list_edge_cases() {
    assert_eq!(wire(&Vec::<i32>::new()), "");
    assert_eq!(decode_value::<Vec<i32>>(b"").unwrap(), Vec::<i32>::new());
    assert_eq!(
        decode_value::<Vec<Inner>>(b"").unwrap(),
        Vec::<Inner>::new()
    );
    // An element struct that ignores keys it does not know.
    #[derive(Deserialize, Debug, PartialEq)]
    struct OnlyN {
        n: u32,
    }
    let mut w = bytes::BytesMut::new();
    AmpBox::from_pairs([("n", "1"), ("zz", "ignored"), ("a", "x")])
        .encode(&mut w)
        .unwrap();
    assert_eq!(decode_value::<Vec<OnlyN>>(&w).unwrap(), [OnlyN { n: 1 }]);
    // Borrowed fields inside elements borrow from the value.
    #[derive(Deserialize)]
    struct Borrowing<'a> {
        #[serde(borrow)]
        s: &'a str,
    }
    let mut w = bytes::BytesMut::new();
    AmpBox::from_pairs([("s", "hello")]).encode(&mut w).unwrap();
    let v: Vec<Borrowing> = decode_value(&w).unwrap();
    assert_eq!(v[0].s, "hello");
    // Maps as AmpList elements, and keys sorted whatever the field order.
    let maps = vec![BTreeMap::from([("b".to_owned(), 2), ("a".to_owned(), 1)])];
    let w = encode_value(&maps).unwrap();
    assert_eq!(&w[..], b"\x00\x01a\x00\x011\x00\x01b\x00\x012\x00\x00");
    assert_eq!(
        decode_value::<Vec<BTreeMap<String, i32>>>(&w).unwrap(),
        maps
    );
    #[derive(Serialize)]
    struct Unsorted {
        z: u8,
        m: u8,
        a: u8,
    }
    let w = encode_value(&vec![Unsorted { z: 1, m: 2, a: 3 }]).unwrap();
    assert_eq!(
        &w[..],
        b"\x00\x01a\x00\x013\x00\x01m\x00\x012\x00\x01z\x00\x011\x00\x00"
    );
    // Unit enum variants as text.
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    enum Color {
        Red,
        #[serde(rename = "green")]
        Green,
    }
    assert_eq!(wire(&Color::Green), "green");
    assert_eq!(
        round_trip(&vec![Color::Red, Color::Green]),
        [Color::Red, Color::Green]
    );
    // A list is one value: its elements and their prefixes fit in 65535
    // bytes.
    let max = "x".repeat(65533);
    assert!(round_trip(&vec![max.clone()]) == [max]);
    let e = encode_value(&vec!["x".repeat(65534)]).unwrap_err();
    assert!(matches!(
        e.kind(),
        ValueErrorKind::Codec(CodecError::ValueTooLong { len: 65536, .. })
    ));
}

#[test]
fn maps_as_boxes() {
    let m = BTreeMap::from([("a".to_owned(), 1), ("b".to_owned(), 2)]);
    let b = to_box(&m).unwrap();
    assert_eq!(b, AmpBox::from_pairs([("a", "1"), ("b", "2")]));
    let all: HashMap<String, String> =
        from_box(&AmpBox::from_pairs([("_ask", "1"), ("a", "x")])).unwrap();
    assert_eq!(all.len(), 2);
    let raw: HashMap<ByteBuf, ByteBuf> =
        from_box(&AmpBox::from_pairs([("k", &b"\xff"[..])])).unwrap();
    assert_eq!(
        raw[&ByteBuf::from(b"k".to_vec())],
        ByteBuf::from(vec![0xff])
    );
    // Newtype structs are transparent, at the top and in fields.
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Wrapped(Plain);
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Plain {
        id: Id,
    }
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Id(u64);
    let w = Wrapped(Plain { id: Id(5) });
    let b = to_box(&w).unwrap();
    assert_eq!(b.get_str("id"), Some("5"));
    assert_eq!(from_box::<Wrapped>(&b).unwrap(), w);
}

// ---------------------------------------------------- arbitrary bytes: no panic

fn decode_everything(w: &[u8]) {
    let _ = decode_value::<i64>(w);
    let _ = decode_value::<u8>(w);
    let _ = decode_value::<i128>(w);
    let _ = decode_value::<u128>(w);
    let _ = decode_value::<f64>(w);
    let _ = decode_value::<f32>(w);
    let _ = decode_value::<bool>(w);
    let _ = decode_value::<String>(w);
    let _ = decode_value::<&str>(w);
    let _ = decode_value::<char>(w);
    let _ = decode_value::<ByteBuf>(w);
    let _ = decode_value::<Decimal>(w);
    let _ = decode_value::<DateTime>(w);
    let _ = decode_value::<Vec<i32>>(w);
    let _ = decode_value::<Vec<String>>(w);
    let _ = decode_value::<Vec<Vec<u8>>>(w);
    let _ = decode_value::<Vec<Inner>>(w);
    let _ = decode_value::<Vec<Outer>>(w);
    let _ = decode_value::<Vec<HashMap<String, String>>>(w);
    let _ = decode_value::<Vec<Decimal>>(w);
    let _ = decode_value::<Vec<DateTime>>(w);
    #[cfg(feature = "bigint")]
    let _ = decode_value::<amp_core::values::BigInteger>(w);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(w in proptest::collection::vec(any::<u8>(), 0..200)) {
        decode_everything(&w);
    }

    #[test]
    fn mangled_amplists_never_panic(
        list in proptest::collection::vec(outer(), 1..3),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        byte: u8,
    ) {
        let w = encode_value(&list).unwrap().to_vec();
        let mut flipped = w.clone();
        let i = flip.index(flipped.len());
        flipped[i] = byte;
        decode_everything(&flipped);
        decode_everything(&w[..cut.index(w.len())]);
    }

    #[test]
    fn arbitrary_boxes_never_panic(
        pairs in proptest::collection::vec(("[a-z_]{1,6}", proptest::collection::vec(any::<u8>(), 0..40)), 0..8),
    ) {
        let b: AmpBox = pairs.into_iter().collect();
        let _ = from_box::<Outer>(&b);
        let _ = from_box::<Inner>(&b);
        let _ = from_box::<HashMap<String, String>>(&b);
    }
}

// ---------------------------------------- empty boxes and lists of bytes

/// A command without arguments or without a response, as a unit struct.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Nothing;

/// The same as a tuple struct without fields.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct NothingTuple();

/// The same as a struct without fields, which always worked.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct NoFields {}

/// `()`, a unit struct, a tuple struct without fields and a struct without
/// fields all write an empty box: no pair, only the terminator.
#[test]
fn empty_types_write_an_empty_box() {
    fn check<T: Serialize + Debug>(v: &T) {
        let b = to_box(v).unwrap_or_else(|e| panic!("{v:?}: {e}"));
        assert!(b.is_empty(), "{v:?} writes {b:?}");
        assert_eq!(&b.to_bytes().unwrap()[..], b"\x00\x00", "{v:?}");
        assert!(amp_core::ser::to_wire(v).unwrap().is_empty(), "{v:?}");
    }
    check(&());
    check(&Nothing);
    check(&NothingTuple());
    check(&NoFields {});
    // A tuple struct with fields has no keys to put them under.
    #[derive(Serialize, Deserialize, Debug)]
    struct Pair(i64, i64);
    let e = to_box(&Pair(1, 2)).unwrap_err();
    assert!(
        matches!(e.kind(), ValueErrorKind::Unsupported { .. }),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "unsupported: to_box needs a struct, a map, () or a unit struct"
    );
    let e = from_box::<Pair>(&AmpBox::new()).unwrap_err();
    assert!(
        matches!(e.kind(), ValueErrorKind::Unsupported { .. }),
        "{e:?}"
    );
    // `()` as one value (not a whole box) still has no wire form.
    assert!(encode_value(&()).is_err());
}

/// Pairs for a box: keys and values of any bytes.
fn any_pairs() -> impl Strategy<Value = Vec<(Vec<u8>, Vec<u8>)>> {
    proptest::collection::vec(
        (
            proptest::collection::vec(any::<u8>(), 1..8),
            proptest::collection::vec(any::<u8>(), 0..40),
        ),
        0..8,
    )
}

/// A plain `Vec<u8>` field, and the same bytes as Twisted's `String`.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct PlainBytes {
    data: Vec<u8>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct WithSerdeBytes {
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct WithBytes {
    data: bytes::Bytes,
    buf: ByteBuf,
}

fn is_byte_list(e: &ValueError) -> bool {
    matches!(e.kind(), ValueErrorKind::ByteList)
}

proptest! {
    /// Any box, through the wire, reads as `()`, a unit struct or a tuple
    /// struct without fields exactly as it reads as a struct without
    /// fields: its keys (`_ask`, `_command` among them) are ignored. What
    /// they write back is the empty box, which reads as them again.
    #[test]
    fn empty_types_read_any_box_and_write_the_empty_one(pairs in any_pairs(), ask: u32) {
        let mut b: AmpBox = pairs.into_iter().collect();
        b.insert("_ask", ask.to_string());
        b.insert("_command", "Ping");
        let wire = b.to_bytes().unwrap();
        let (b, _) = amp_core::codec::decode_one(&wire, &Limits::default()).unwrap().unwrap();
        prop_assert_eq!(from_box::<NoFields>(&b).unwrap(), NoFields {});
        prop_assert!(from_box::<()>(&b).is_ok());
        prop_assert_eq!(from_box::<Nothing>(&b).unwrap(), Nothing);
        prop_assert_eq!(from_box::<NothingTuple>(&b).unwrap(), NothingTuple());
        prop_assert_eq!(from_box::<Option<Nothing>>(&b).unwrap(), Some(Nothing));
        let empty = to_box(&from_box::<Nothing>(&b).unwrap()).unwrap();
        prop_assert_eq!(&empty, &AmpBox::new());
        prop_assert_eq!(from_box::<Nothing>(&empty).unwrap(), Nothing);
        prop_assert_eq!(from_box::<NothingTuple>(&empty).unwrap(), NothingTuple());
        prop_assert!(from_box::<()>(&empty).is_ok());
    }

    /// A plain `Vec<u8>` is refused, written or read, with an error that
    /// names the fix, whatever it holds; only the empty value passes (an
    /// empty ListOf and empty bytes are the same bytes). The same bytes
    /// go as Twisted's `String` through `serde_bytes` or `bytes::Bytes`.
    #[test]
    fn plain_byte_vectors_are_refused_and_byte_types_are_strings(
        v in proptest::collection::vec(any::<u8>(), 0..60),
        w in proptest::collection::vec(any::<u8>(), 0..60),
    ) {
        match encode_value(&v) {
            Ok(e) => prop_assert!(v.is_empty() && e.is_empty(), "{:?} encodes as {:?}", v, e),
            Err(e) => prop_assert!(!v.is_empty() && is_byte_list(&e), "{:?}: {:?}", v, e),
        }
        let field = PlainBytes { data: v.clone() };
        for r in [to_box(&field).map(|_| ()), amp_core::ser::to_wire(&field).map(|_| ())] {
            match r {
                Ok(()) => prop_assert!(v.is_empty()),
                Err(e) => {
                    prop_assert!(!v.is_empty() && is_byte_list(&e), "{:?}", e);
                    prop_assert_eq!(e.path(), "data[0]");
                }
            }
        }
        match decode_value::<Vec<u8>>(&w) {
            Ok(d) => prop_assert!(w.is_empty() && d.is_empty(), "{:?} decodes as {:?}", w, d),
            Err(e) => prop_assert!(!w.is_empty() && is_byte_list(&e), "{:?}: {:?}", w, e),
        }
        let b = AmpBox::from_pairs([("data", w.clone())]);
        match from_box::<PlainBytes>(&b) {
            Ok(d) => prop_assert!(w.is_empty() && d.data.is_empty()),
            Err(e) => prop_assert!(!w.is_empty() && is_byte_list(&e), "{:?}", e),
        }
        // The supported forms: the bytes themselves, and back.
        let good = WithSerdeBytes { data: v.clone() };
        let b = to_box(&good).unwrap();
        prop_assert_eq!(b.get("data").map(|d| d.to_vec()), Some(v.clone()));
        prop_assert_eq!(from_box::<WithSerdeBytes>(&b).unwrap(), good);
        let good = WithBytes { data: v.clone().into(), buf: ByteBuf::from(w.clone()) };
        let b = to_box(&good).unwrap();
        prop_assert_eq!(b.get("data").map(|d| d.to_vec()), Some(v.clone()));
        prop_assert_eq!(b.get("buf").map(|d| d.to_vec()), Some(w.clone()));
        prop_assert_eq!(from_box::<WithBytes>(&b).unwrap(), good);
    }
}

/// The refusal says what to use instead, on both sides, and reaches a
/// `u8` list however deep it sits.
#[test]
fn a_plain_byte_vector_is_refused_with_the_fix() {
    let e = to_box(&PlainBytes { data: vec![1, 2] }).unwrap_err();
    assert_eq!(
        e.to_string(),
        "argument \"data[0]\": a list of u8 (a plain Vec<u8>) is refused as a \
         ListOf(Integer): for bytes (Twisted's String) use serde_bytes::ByteBuf, \
         bytes::Bytes or #[serde(with = \"serde_bytes\")]; for a list of integers \
         use a wider element type such as Vec<u16> or Vec<i64>"
    );
    let b = AmpBox::from_pairs([("data", "\x00\x011")]);
    assert_eq!(
        from_box::<PlainBytes>(&b).unwrap_err().to_string(),
        e.to_string()
    );
    // Bytes that are no ListOf at all get the same answer, not a complaint
    // about list lengths.
    let b = AmpBox::from_pairs([("data", "hello")]);
    assert_eq!(
        from_box::<PlainBytes>(&b).unwrap_err().to_string(),
        e.to_string()
    );
    // Nested in a list, and in an AmpList element.
    #[derive(Serialize, Deserialize, Debug)]
    struct Deep {
        lists: Vec<Vec<u8>>,
        items: Vec<PlainBytes>,
    }
    let e = to_box(&Deep {
        lists: vec![vec![], vec![7]],
        items: vec![],
    })
    .unwrap_err();
    assert!(is_byte_list(&e));
    assert_eq!(e.path(), "lists[1][0]");
    let e = to_box(&Deep {
        lists: vec![],
        items: vec![PlainBytes { data: vec![7] }],
    })
    .unwrap_err();
    assert!(is_byte_list(&e));
    assert_eq!(e.path(), "items[0].data[0]");
    let mut element = bytes::BytesMut::new();
    AmpBox::from_pairs([("data", "\x00\x017")])
        .encode(&mut element)
        .unwrap();
    let b = AmpBox::from_pairs([("lists", bytes::Bytes::new()), ("items", element.freeze())]);
    let e = from_box::<Deep>(&b).unwrap_err();
    assert!(is_byte_list(&e));
    assert_eq!(e.path(), "items[0].data[0]");
    // A lone u8 is still an Integer.
    assert_eq!(wire(&200u8), "200");
    assert_eq!(decode_value::<u8>(b"200").unwrap(), 200);
}

// ------------------------------------------------------------------ errors

fn err_in_box<T: for<'de> Deserialize<'de> + Debug>(
    pairs: &[(&'static str, &'static [u8])],
) -> ValueError {
    let b: AmpBox = pairs.iter().map(|(k, v)| (*k, *v)).collect();
    from_box::<T>(&b).unwrap_err()
}

#[derive(Debug, Deserialize, Serialize)]
#[allow(dead_code)]
struct AllTypes {
    i: Option<u8>,
    s: Option<String>,
    c: Option<char>,
    b: Option<bool>,
    f: Option<f64>,
    d: Option<Decimal>,
    t: Option<DateTime>,
    l: Option<Vec<i32>>,
    items: Option<Vec<Inner>>,
    e: Option<Color>,
    nz: Option<std::num::NonZeroU32>,
}

#[derive(Debug, Deserialize, Serialize)]
enum Color {
    Red,
}

#[test]
fn every_error_kind_names_its_key() {
    let check = |pairs: &[(&'static str, &'static [u8])],
                 path: &str,
                 matches: fn(&ValueErrorKind) -> bool| {
        let e = err_in_box::<AllTypes>(pairs);
        assert_eq!(e.path(), path, "{e}");
        assert!(matches(e.kind()), "{e:?}");
        assert!(
            e.to_string().starts_with(&format!("argument \"{path}\": ")),
            "{e}"
        );
    };
    check(&[("i", b"300")], "i", |k| {
        matches!(k, ValueErrorKind::IntegerOutOfRange { ty: "u8", .. })
    });
    assert_eq!(
        err_in_box::<AllTypes>(&[("i", b"300")]).to_string(),
        r#"argument "i": "300" does not fit in u8"#
    );
    check(&[("i", b"1x")], "i", |k| {
        matches!(k, ValueErrorKind::InvalidInteger { .. })
    });
    check(&[("s", b"\xff")], "s", |k| {
        matches!(k, ValueErrorKind::InvalidUtf8 { valid_up_to: 0 })
    });
    check(&[("c", b"ab")], "c", |k| {
        matches!(k, ValueErrorKind::InvalidChar { .. })
    });
    check(&[("c", b"")], "c", |k| {
        matches!(k, ValueErrorKind::InvalidChar { .. })
    });
    check(&[("b", b"true")], "b", |k| {
        matches!(k, ValueErrorKind::InvalidBoolean { .. })
    });
    check(&[("b", b"1")], "b", |k| {
        matches!(k, ValueErrorKind::InvalidBoolean { .. })
    });
    check(&[("f", b"1.0x")], "f", |k| {
        matches!(k, ValueErrorKind::InvalidFloat { .. })
    });
    check(&[("f", b"")], "f", |k| {
        matches!(k, ValueErrorKind::InvalidFloat { .. })
    });
    check(&[("d", b"1,5")], "d", |k| {
        matches!(k, ValueErrorKind::InvalidDecimal { .. })
    });
    check(&[("t", b"2012-01-23")], "t", |k| {
        matches!(
            k,
            ValueErrorKind::InvalidDateTime {
                reason: DateTimeError::Length { len: 10 },
                ..
            }
        )
    });
    check(&[("e", b"Blue")], "e", |k| {
        matches!(k, ValueErrorKind::UnknownVariant { .. })
    });
    check(&[("nz", b"0")], "nz", |k| {
        matches!(k, ValueErrorKind::Custom(_))
    });
    check(&[("l", b"\x00\x05ab")], "l[0]", |k| {
        matches!(
            k,
            ValueErrorKind::ListLengthLies {
                claimed: 5,
                remaining: 2
            }
        )
    });
    check(&[("l", b"\x00\x011\x00")], "l[1]", |k| {
        matches!(
            k,
            ValueErrorKind::ListLengthLies {
                claimed: 0,
                remaining: 1
            }
        )
    });
    check(&[("l", b"\x00\x02xx")], "l[0]", |k| {
        matches!(k, ValueErrorKind::InvalidInteger { .. })
    });
    // Inside AmpList elements: the path goes down to the nested key.
    check(
        &[("items", b"\x00\x01n\x00\x011\x00\x03raw\x00\x00\x00\x00\x00\x01n\x00\x01x\x00\x03raw\x00\x00\x00\x00")],
        "items[1].n",
        |k| matches!(k, ValueErrorKind::InvalidInteger { .. }),
    );
    check(
        &[("items", b"\x00\x01n\x00\x011\x00\x00")],
        "items[0].raw",
        |k| matches!(k, ValueErrorKind::MissingKey),
    );
    check(&[("items", b"\x00\x01n\x00\x011")], "items[0]", |k| {
        matches!(k, ValueErrorKind::AmpList(CodecError::Truncated { .. }))
    });
    check(&[("items", b"\x01\x01n")], "items[0]", |k| {
        matches!(
            k,
            ValueErrorKind::AmpList(CodecError::KeyLengthPrefix {
                high: 1,
                low: Some(1)
            })
        )
    });
    check(
        &[("items", b"\x00\x01x\x00\x00\x00\x01x\x00\x00\x00\x00")],
        "items[0]",
        |k| matches!(k, ValueErrorKind::AmpList(CodecError::DuplicateKey { .. })),
    );
    let many: Vec<u8> = (0..1025u32)
        .flat_map(|i| {
            let k = format!("k{i:04}");
            let mut p = vec![0, k.len() as u8];
            p.extend_from_slice(k.as_bytes());
            p.extend_from_slice(&[0, 0]);
            p
        })
        .chain([0, 0])
        .collect();
    let e = decode_value::<Vec<Inner>>(&many).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ValueErrorKind::AmpList(CodecError::TooManyKeys { limit: 1024 })
        ),
        "{e:?}"
    );
    assert_eq!(e.path(), "[0]");
    // Duplicate keys past the linear scan are found too.
    let mut dup: Vec<u8> = many[..many.len() - 2 - 9 * 1000].to_vec();
    dup.extend_from_slice(b"\x00\x05k0003\x00\x00\x00\x00");
    let e = decode_value::<Vec<HashMap<String, String>>>(&dup).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ValueErrorKind::AmpList(CodecError::DuplicateKey { .. })
        ),
        "{e:?}"
    );

    // A missing required key.
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Needs {
        a: i32,
        b: i32,
    }
    let e = err_in_box::<Needs>(&[("a", b"1")]);
    assert_eq!(e.kind(), &ValueErrorKind::MissingKey);
    assert_eq!(e.to_string(), r#"argument "b": missing"#);
}

#[test]
fn encoding_errors() {
    // A key too long, an empty key, a value too long: CodecError, named.
    let long_key = "k".repeat(256);
    let e = to_box(&BTreeMap::from([(long_key.clone(), 1)])).unwrap_err();
    assert!(matches!(
        e.kind(),
        ValueErrorKind::Codec(CodecError::KeyTooLong { len: 256 })
    ));
    assert_eq!(e.path(), long_key);
    let e = to_box(&BTreeMap::from([(String::new(), 1)])).unwrap_err();
    assert!(matches!(
        e.kind(),
        ValueErrorKind::Codec(CodecError::EmptyKey)
    ));
    #[derive(Serialize)]
    struct Big {
        text: String,
    }
    let e = to_box(&Big {
        text: "x".repeat(65536),
    })
    .unwrap_err();
    assert!(matches!(
        e.kind(),
        ValueErrorKind::Codec(CodecError::ValueTooLong { len: 65536, .. })
    ));
    assert!(e.to_string().starts_with("argument \"text\": "), "{e}");
    assert!(
        to_box(&Big {
            text: "x".repeat(65535)
        })
        .is_ok()
    );
    let e = encode_value(&"x".repeat(65536)).unwrap_err();
    assert!(matches!(
        e.kind(),
        ValueErrorKind::Codec(CodecError::ValueTooLong { len: 65536, .. })
    ));
    assert_eq!(
        e.to_string(),
        "value of 65536 bytes is longer than the 65535 AMP allows"
    );

    // A key written twice.
    struct Twice;
    impl Serialize for Twice {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeStruct;
            let mut st = s.serialize_struct("Twice", 2)?;
            st.serialize_field("a", &1)?;
            st.serialize_field("a", &2)?;
            st.end()
        }
    }
    let e = to_box(&Twice).unwrap_err();
    assert!(matches!(
        e.kind(),
        ValueErrorKind::Codec(CodecError::DuplicateKey { .. })
    ));
    let e = encode_value(&vec![Twice]).unwrap_err();
    assert!(matches!(
        e.kind(),
        ValueErrorKind::Codec(CodecError::DuplicateKey { .. })
    ));
    assert_eq!(e.path(), "[0].a");

    // A list element over 65535 bytes, inside a box: path to the element.
    #[derive(Serialize)]
    struct Items {
        items: Vec<String>,
    }
    let e = to_box(&Items {
        items: vec![String::new(), "x".repeat(65536)],
    })
    .unwrap_err();
    assert!(matches!(
        e.kind(),
        ValueErrorKind::ElementTooLong { len: 65536 }
    ));
    assert_eq!(e.path(), "items[1]");
    assert!(e.to_string().starts_with("argument \"items[1]\": "));
    // A value too long inside an AmpList element.
    let e = encode_value(&vec![Big {
        text: "x".repeat(65536),
    }])
    .unwrap_err();
    assert!(matches!(
        e.kind(),
        ValueErrorKind::Codec(CodecError::ValueTooLong { .. })
    ));
    assert_eq!(e.path(), "[0].text");
}

#[test]
fn unsupported_shapes() {
    let unsupported = |e: ValueError| matches!(e.kind(), ValueErrorKind::Unsupported { .. });
    #[derive(Serialize, Deserialize, Debug)]
    struct WithTuple {
        t: (i32, i32),
    }
    let e = to_box(&WithTuple { t: (1, 2) }).unwrap_err();
    assert_eq!(e.path(), "t");
    assert!(unsupported(e));
    assert!(unsupported(err_in_box::<WithTuple>(&[("t", b"1")])));
    #[derive(Serialize, Deserialize, Debug)]
    struct OptionsInList {
        l: Vec<Option<i32>>,
    }
    let e = to_box(&OptionsInList { l: vec![Some(1)] }).unwrap_err();
    assert_eq!(e.path(), "l[0]");
    assert!(unsupported(e));
    assert!(unsupported(
        to_box(&OptionsInList { l: vec![None] }).unwrap_err()
    ));
    assert!(unsupported(err_in_box::<OptionsInList>(&[(
        "l",
        b"\x00\x011"
    )])));
    #[derive(Serialize, Deserialize, Debug)]
    struct StructValue {
        inner: Inner,
    }
    let e = to_box(&StructValue {
        inner: Inner {
            n: 1,
            label: None,
            raw: ByteBuf::new(),
        },
    })
    .unwrap_err();
    assert!(unsupported(e));
    assert!(unsupported(err_in_box::<StructValue>(&[("inner", b"")])));
    assert!(unsupported(to_box(&5).unwrap_err()));
    assert!(unsupported(to_box(&vec![1]).unwrap_err()));
    assert!(unsupported(from_box::<i32>(&AmpBox::new()).unwrap_err()));
    assert!(unsupported(encode_value(&None::<i32>).unwrap_err()));
    assert!(unsupported(encode_value(&()).unwrap_err()));
    #[derive(Serialize, Deserialize, Debug)]
    enum Data {
        A(i32),
    }
    assert!(unsupported(encode_value(&Data::A(1)).unwrap_err()));
    let e = decode_value::<Data>(b"A").unwrap_err();
    assert!(!e.to_string().is_empty());
}

#[test]
fn some_inside_some_and_skips() {
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Opt {
        #[serde(skip_serializing_if = "Vec::is_empty", default)]
        v: Vec<u8>,
        o: Option<Option<i32>>,
    }
    let b = to_box(&Opt {
        v: vec![],
        o: Some(None),
    })
    .unwrap();
    assert!(b.is_empty());
    let back: Opt = from_box(&b).unwrap();
    assert_eq!(back, Opt { v: vec![], o: None });
}

/// Field names reach serde's derived visitors as bytes: renamed fields,
/// flattened structs, internally tagged enums and `deny_unknown_fields`
/// (whose error names the key) all still find their fields.
#[test]
fn field_names_are_matched_however_the_struct_is_derived() {
    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Strict {
        #[serde(rename = "first-name")]
        first: String,
        n: i64,
    }
    #[derive(Deserialize, Debug, PartialEq)]
    struct Inner {
        city: String,
    }
    #[derive(Deserialize, Debug, PartialEq)]
    struct Flat {
        name: String,
        #[serde(flatten)]
        inner: Inner,
    }
    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(tag = "kind")]
    enum Shape {
        Circle { r: String },
        Square { side: String },
    }

    let b = AmpBox::from_pairs([("first-name", "Ada"), ("n", "36")]);
    assert_eq!(
        amp_core::de::from_box::<Strict>(&b).unwrap(),
        Strict {
            first: "Ada".into(),
            n: 36
        }
    );
    let extra = AmpBox::from_pairs([("first-name", "Ada"), ("n", "36"), ("age", "1")]);
    let e = amp_core::de::from_box::<Strict>(&extra).unwrap_err();
    assert!(e.to_string().contains("age"), "{e}");

    let b = AmpBox::from_pairs([("name", "x"), ("city", "Paris")]);
    assert_eq!(
        amp_core::de::from_box::<Flat>(&b).unwrap(),
        Flat {
            name: "x".into(),
            inner: Inner {
                city: "Paris".into()
            }
        }
    );

    let b = AmpBox::from_pairs([("kind", "Square"), ("side", "2")]);
    assert_eq!(
        amp_core::de::from_box::<Shape>(&b).unwrap(),
        Shape::Square { side: "2".into() }
    );
    let b = AmpBox::from_pairs([("r", "1"), ("kind", "Circle")]);
    assert_eq!(
        amp_core::de::from_box::<Shape>(&b).unwrap(),
        Shape::Circle { r: "1".into() }
    );
}
