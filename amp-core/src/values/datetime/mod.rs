//! DateTime: Twisted's 32-character date-time with a UTC offset.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::{Serialize, Serializer};

use super::error::{ValueError, ValueErrorKind, snippet};

/// Name under which [`DateTime`] asks a deserializer for its text, so this
/// crate's deserializer can report a typed error.
pub(crate) const TOKEN: &str = "$amp_core::values::DateTime";

/// Length of the wire form.
const WIRE_LEN: usize = 32;

/// A date and time with a fixed UTC offset: Twisted's `DateTime` argument (a
/// Python `datetime.datetime` with a `tzinfo`).
///
/// Fields are the local date and time as written, years 1 to 9999, down to
/// the microsecond, and the offset from UTC in minutes (-1439 to 1439).
///
/// On the wire it is exactly 32 characters,
/// `YYYY-MM-DDTHH:MM:SS.ffffff±HH:MM`. Twisted writes `+` only for a
/// positive offset, so a zero offset is written `-00:00`; both `+00:00` and
/// `-00:00` are read. [`Display`](fmt::Display) gives the wire form and
/// [`FromStr`] reads it.
///
/// Equality compares fields: the same instant at two offsets gives two
/// different values (Python would call them equal).
///
/// Reading is stricter than Twisted, which only looks at the digits and the
/// offset sign: here every separator must be right, every field must be ASCII
/// digits and the offset minutes must be below 60.
///
/// [`DateTime::now`] reads the system clock, and it converts to and from
/// `std::time::SystemTime` (the instant) without any feature.
/// With the `chrono` feature it converts to and from
/// `chrono::DateTime<chrono::FixedOffset>`, with the `time` feature to and
/// from `time::OffsetDateTime`. Those hold nanoseconds: converting to a
/// `DateTime` truncates to the microsecond.
///
/// ```
/// use amp_core::values::DateTime;
///
/// let dt = DateTime::new(2012, 1, 23, 12, 34, 56, 54321, 0).unwrap();
/// assert_eq!(dt.to_string(), "2012-01-23T12:34:56.054321-00:00");
/// let ist: DateTime = "9999-12-31T23:59:59.999999+05:30".parse().unwrap();
/// assert_eq!(ist.offset_minutes(), 330);
/// assert!("2001-02-29T00:00:00.000000+00:00".parse::<DateTime>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateTime {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    microsecond: u32,
    offset_minutes: i16,
}

/// What was wrong with a date-time.
///
/// ```
/// use amp_core::values::{DateTime, DateTimeError};
/// assert_eq!(
///     DateTime::new(2023, 2, 29, 0, 0, 0, 0, 0),
///     Err(DateTimeError::Day { year: 2023, month: 2, day: 29 })
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DateTimeError {
    /// The text is not 32 bytes long.
    Length {
        /// Its length.
        len: usize,
    },
    /// A separator is missing or wrong.
    Separator {
        /// Byte position (0-based).
        at: usize,
        /// What belongs there (`'-'`, `'T'`, `':'`, `'.'`).
        expected: char,
    },
    /// A byte that should be an ASCII digit is not.
    Digit {
        /// Byte position (0-based).
        at: usize,
    },
    /// The offset sign (byte 26) is neither `+` nor `-`.
    Sign,
    /// A year outside 1 to 9999.
    Year {
        /// The year.
        year: i64,
    },
    /// A month outside 1 to 12.
    Month {
        /// The month.
        month: u32,
    },
    /// A day outside its month.
    Day {
        /// The year.
        year: u16,
        /// The month.
        month: u8,
        /// The day.
        day: u32,
    },
    /// An hour over 23.
    Hour {
        /// The hour.
        hour: u32,
    },
    /// A minute over 59.
    Minute {
        /// The minute.
        minute: u32,
    },
    /// A second over 59.
    Second {
        /// The second.
        second: u32,
    },
    /// A microsecond over 999999.
    Microsecond {
        /// The microsecond.
        microsecond: u32,
    },
    /// Offset hours over 23 or offset minutes over 59 (as written).
    OffsetField {
        /// The hours.
        hours: u32,
        /// The minutes.
        minutes: u32,
    },
    /// An offset of 24 hours or more either way (more than 1439 minutes).
    OffsetRange {
        /// The offset in minutes.
        minutes: i64,
    },
    /// An offset that is not a whole number of minutes (from another
    /// date-time type).
    OffsetSeconds {
        /// The offset in seconds.
        seconds: i64,
    },
}

impl fmt::Display for DateTimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DateTimeError::*;
        match *self {
            Length { len } => write!(f, "{len} bytes long instead of 32"),
            Separator { at, expected } => write!(f, "expected {expected:?} at byte {at}"),
            Digit { at } => write!(f, "expected a digit at byte {at}"),
            Sign => f.write_str("expected '+' or '-' at byte 26"),
            Year { year } => write!(f, "year {year} is outside 1..=9999"),
            Month { month } => write!(f, "month {month} is outside 1..=12"),
            Day { year, month, day } => {
                write!(f, "day {day} is outside month {month} of year {year}")
            }
            Hour { hour } => write!(f, "hour {hour} is over 23"),
            Minute { minute } => write!(f, "minute {minute} is over 59"),
            Second { second } => write!(f, "second {second} is over 59"),
            Microsecond { microsecond } => {
                write!(f, "microsecond {microsecond} is over 999999")
            }
            OffsetField { hours, minutes } => {
                write!(f, "UTC offset {hours:02}:{minutes:02} is out of range")
            }
            OffsetRange { minutes } => {
                write!(f, "UTC offset of {minutes} minutes is 24 hours or more")
            }
            OffsetSeconds { seconds } => {
                write!(f, "UTC offset of {seconds} seconds is not whole minutes")
            }
        }
    }
}

impl std::error::Error for DateTimeError {}

fn is_leap(year: u16) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl DateTime {
    /// A date-time, checked: year 1 to 9999, a real calendar day (leap years
    /// included), hour 0 to 23, minute and second 0 to 59, microsecond 0 to
    /// 999999, offset -1439 to 1439 minutes.
    ///
    /// ```
    /// use amp_core::values::DateTime;
    /// let dt = DateTime::new(2000, 2, 29, 1, 2, 3, 0, -480).unwrap();
    /// assert_eq!(dt.to_string(), "2000-02-29T01:02:03.000000-08:00");
    /// assert!(DateTime::new(0, 1, 1, 0, 0, 0, 0, 0).is_err());
    /// assert!(DateTime::new(1, 1, 1, 0, 0, 0, 0, 1440).is_err());
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        year: u16,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
        microsecond: u32,
        offset_minutes: i16,
    ) -> Result<DateTime, DateTimeError> {
        if !(1..=9999).contains(&year) {
            return Err(DateTimeError::Year { year: year.into() });
        }
        if !(1..=12).contains(&month) {
            return Err(DateTimeError::Month {
                month: month.into(),
            });
        }
        if day == 0 || day > days_in_month(year, month) {
            return Err(DateTimeError::Day {
                year,
                month,
                day: day.into(),
            });
        }
        if hour > 23 {
            return Err(DateTimeError::Hour { hour: hour.into() });
        }
        if minute > 59 {
            return Err(DateTimeError::Minute {
                minute: minute.into(),
            });
        }
        if second > 59 {
            return Err(DateTimeError::Second {
                second: second.into(),
            });
        }
        if microsecond > 999_999 {
            return Err(DateTimeError::Microsecond { microsecond });
        }
        if !(-1439..=1439).contains(&offset_minutes) {
            return Err(DateTimeError::OffsetRange {
                minutes: offset_minutes.into(),
            });
        }
        Ok(DateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
            microsecond,
            offset_minutes,
        })
    }

    /// The year, 1 to 9999.
    ///
    /// ```
    /// let dt: amp_core::values::DateTime = "0001-01-01T00:00:00.000000-00:00".parse().unwrap();
    /// assert_eq!(dt.year(), 1);
    /// ```
    pub fn year(&self) -> u16 {
        self.year
    }

    /// The month, 1 to 12.
    ///
    /// ```
    /// let dt = amp_core::values::DateTime::new(2024, 7, 1, 0, 0, 0, 0, 0).unwrap();
    /// assert_eq!(dt.month(), 7);
    /// ```
    pub fn month(&self) -> u8 {
        self.month
    }

    /// The day of the month, from 1.
    ///
    /// ```
    /// let dt = amp_core::values::DateTime::new(2024, 7, 9, 0, 0, 0, 0, 0).unwrap();
    /// assert_eq!(dt.day(), 9);
    /// ```
    pub fn day(&self) -> u8 {
        self.day
    }

    /// The hour, 0 to 23.
    ///
    /// ```
    /// let dt = amp_core::values::DateTime::new(2024, 7, 9, 13, 0, 0, 0, 0).unwrap();
    /// assert_eq!(dt.hour(), 13);
    /// ```
    pub fn hour(&self) -> u8 {
        self.hour
    }

    /// The minute, 0 to 59.
    ///
    /// ```
    /// let dt = amp_core::values::DateTime::new(2024, 7, 9, 13, 14, 0, 0, 0).unwrap();
    /// assert_eq!(dt.minute(), 14);
    /// ```
    pub fn minute(&self) -> u8 {
        self.minute
    }

    /// The second, 0 to 59.
    ///
    /// ```
    /// let dt = amp_core::values::DateTime::new(2024, 7, 9, 13, 14, 15, 0, 0).unwrap();
    /// assert_eq!(dt.second(), 15);
    /// ```
    pub fn second(&self) -> u8 {
        self.second
    }

    /// The microsecond, 0 to 999999.
    ///
    /// ```
    /// let dt = amp_core::values::DateTime::new(2024, 7, 9, 13, 14, 15, 16, 0).unwrap();
    /// assert_eq!(dt.microsecond(), 16);
    /// ```
    pub fn microsecond(&self) -> u32 {
        self.microsecond
    }

    /// The offset from UTC in minutes, east positive (-1439 to 1439).
    ///
    /// ```
    /// let dt: amp_core::values::DateTime = "2000-02-29T01:02:03.000000-08:00".parse().unwrap();
    /// assert_eq!(dt.offset_minutes(), -480);
    /// ```
    pub fn offset_minutes(&self) -> i16 {
        self.offset_minutes
    }

    /// The 32-byte wire form.
    ///
    /// ```
    /// let dt = amp_core::values::DateTime::new(2024, 7, 9, 13, 14, 15, 16, 90).unwrap();
    /// assert_eq!(&dt.to_wire(), b"2024-07-09T13:14:15.000016+01:30");
    /// ```
    pub fn to_wire(&self) -> [u8; WIRE_LEN] {
        fn put(buf: &mut [u8], mut v: u32) {
            for slot in buf.iter_mut().rev() {
                *slot = b'0' + (v % 10) as u8;
                v /= 10;
            }
        }
        let mut w = *b"0000-00-00T00:00:00.000000-00:00";
        put(&mut w[0..4], self.year.into());
        put(&mut w[5..7], self.month.into());
        put(&mut w[8..10], self.day.into());
        put(&mut w[11..13], self.hour.into());
        put(&mut w[14..16], self.minute.into());
        put(&mut w[17..19], self.second.into());
        put(&mut w[20..26], self.microsecond);
        if self.offset_minutes > 0 {
            w[26] = b'+';
        }
        let off = u32::from(self.offset_minutes.unsigned_abs());
        put(&mut w[27..29], off / 60);
        put(&mut w[30..32], off % 60);
        w
    }

    /// Reads the wire form; see [`FromStr`].
    pub(crate) fn parse_wire(text: &[u8]) -> Result<DateTime, ValueError> {
        parse(text).map_err(|reason| {
            ValueError::new(ValueErrorKind::InvalidDateTime {
                text: snippet(text),
                reason,
            })
        })
    }
}

/// Separators of the wire form, by position.
const SEPARATORS: [(usize, u8); 7] = [
    (4, b'-'),
    (7, b'-'),
    (10, b'T'),
    (13, b':'),
    (16, b':'),
    (19, b'.'),
    (29, b':'),
];

fn parse(text: &[u8]) -> Result<DateTime, DateTimeError> {
    let w: &[u8; WIRE_LEN] = text
        .try_into()
        .map_err(|_| DateTimeError::Length { len: text.len() })?;
    for (at, &c) in w.iter().enumerate() {
        if at == 26 {
            if c != b'+' && c != b'-' {
                return Err(DateTimeError::Sign);
            }
        } else if let Some(&(_, sep)) = SEPARATORS.iter().find(|(p, _)| *p == at) {
            if c != sep {
                return Err(DateTimeError::Separator {
                    at,
                    expected: sep as char,
                });
            }
        } else if !c.is_ascii_digit() {
            return Err(DateTimeError::Digit { at });
        }
    }
    // Each field is at most 6 ASCII digits (checked above), below 10^6:
    // it fits a `u32` and the fold cannot overflow.
    let num = |r: std::ops::Range<usize>| {
        w[r].iter()
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'))
    };
    let year = num(0..4);
    let month = num(5..7);
    let day = num(8..10);
    let hour = num(11..13);
    let minute = num(14..16);
    let second = num(17..19);
    let microsecond = num(20..26);
    let off_hours = num(27..29);
    let off_minutes = num(30..32);
    if year == 0 {
        return Err(DateTimeError::Year { year: 0 });
    }
    if !(1..=12).contains(&month) {
        return Err(DateTimeError::Month { month });
    }
    // Exact: the year has 4 digits, the month is 1 to 12.
    let (year, month) = (year as u16, month as u8);
    if day == 0 || day > u32::from(days_in_month(year, month)) {
        return Err(DateTimeError::Day { year, month, day });
    }
    if hour > 23 {
        return Err(DateTimeError::Hour { hour });
    }
    if minute > 59 {
        return Err(DateTimeError::Minute { minute });
    }
    if second > 59 {
        return Err(DateTimeError::Second { second });
    }
    if off_hours > 23 || off_minutes > 59 {
        return Err(DateTimeError::OffsetField {
            hours: off_hours,
            minutes: off_minutes,
        });
    }
    // At most 23 × 60 + 59 = 1439 (checked above): fits an `i16`, and the
    // casts below are of fields checked against their ranges.
    let magnitude = (off_hours * 60 + off_minutes) as i16;
    Ok(DateTime {
        year,
        month,
        day: day as u8,
        hour: hour as u8,
        minute: minute as u8,
        second: second as u8,
        microsecond,
        offset_minutes: if w[26] == b'-' { -magnitude } else { magnitude },
    })
}

impl fmt::Display for DateTime {
    /// The wire form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self.to_wire();
        // The wire form is ASCII.
        f.write_str(std::str::from_utf8(&w).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DateTime({self})")
    }
}

impl FromStr for DateTime {
    type Err = ValueError;

    /// Reads the 32-character wire form. Fails with
    /// [`ValueErrorKind::InvalidDateTime`], whose
    /// [`DateTimeError`] says what was wrong.
    ///
    /// ```
    /// use amp_core::values::{DateTime, DateTimeError, ValueErrorKind};
    /// let e = "2012-01-23 12:34:56.054321-00:00".parse::<DateTime>().unwrap_err();
    /// assert!(matches!(
    ///     e.kind(),
    ///     ValueErrorKind::InvalidDateTime { reason: DateTimeError::Separator { at: 10, .. }, .. }
    /// ));
    /// ```
    fn from_str(s: &str) -> Result<DateTime, ValueError> {
        DateTime::parse_wire(s.as_bytes())
    }
}

impl Serialize for DateTime {
    /// Serializes as its wire form, a string.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let w = self.to_wire();
        s.serialize_str(std::str::from_utf8(&w).map_err(serde::ser::Error::custom)?)
    }
}

impl<'de> Deserialize<'de> for DateTime {
    /// Deserializes from its wire form, checked.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<DateTime, D::Error> {
        d.deserialize_newtype_struct(TOKEN, DateTimeVisitor)
    }
}

struct DateTimeVisitor;

impl<'de> Visitor<'de> for DateTimeVisitor {
    type Value = DateTime;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a date-time YYYY-MM-DDTHH:MM:SS.ffffff+HH:MM")
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<DateTime, D::Error> {
        d.deserialize_str(self)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<DateTime, E> {
        DateTime::parse_wire(v.as_bytes()).map_err(E::custom)
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<DateTime, E> {
        DateTime::parse_wire(v).map_err(E::custom)
    }
}

mod clock;
#[cfg(feature = "chrono")]
mod with_chrono;
#[cfg(feature = "time")]
mod with_time;
