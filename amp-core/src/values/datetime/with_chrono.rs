//! Conversions between [`DateTime`](super::DateTime) and chrono's
//! date-times (feature `chrono`).

use chrono::{Datelike, FixedOffset, TimeZone, Timelike, Utc};

use super::{DateTime, DateTimeError};

impl From<DateTime> for chrono::DateTime<FixedOffset> {
    /// The same local date, time and offset.
    ///
    /// ```
    /// use amp_core::values::DateTime;
    /// let dt = DateTime::new(2000, 2, 29, 1, 2, 3, 4, -480).unwrap();
    /// let c = chrono::DateTime::<chrono::FixedOffset>::from(dt);
    /// assert_eq!(c.to_rfc3339(), "2000-02-29T01:02:03.000004-08:00");
    /// ```
    fn from(dt: DateTime) -> Self {
        // Every field was checked on construction, and chrono's range is
        // far wider than years 1 to 9999.
        let offset =
            FixedOffset::east_opt(i32::from(dt.offset_minutes) * 60).expect("offset within a day");
        let naive = chrono::NaiveDate::from_ymd_opt(dt.year.into(), dt.month.into(), dt.day.into())
            .and_then(|d| {
                d.and_hms_micro_opt(
                    dt.hour.into(),
                    dt.minute.into(),
                    dt.second.into(),
                    dt.microsecond,
                )
            })
            .expect("checked date-time");
        offset
            .from_local_datetime(&naive)
            .single()
            .expect("a fixed offset maps every local time once")
    }
}

impl TryFrom<chrono::DateTime<FixedOffset>> for DateTime {
    type Error = DateTimeError;

    /// The same local date, time and offset; fails for years outside 1
    /// to 9999 and offsets that are not whole minutes. Nanoseconds are
    /// truncated to microseconds (a leap second's extra second is
    /// dropped, giving `:59.999999`).
    ///
    /// ```
    /// use amp_core::values::DateTime;
    /// let c = chrono::DateTime::parse_from_rfc3339("2012-01-23T12:34:56.054321999+05:30").unwrap();
    /// let dt = DateTime::try_from(c).unwrap();
    /// assert_eq!(dt.to_string(), "2012-01-23T12:34:56.054321+05:30");
    /// ```
    fn try_from(c: chrono::DateTime<FixedOffset>) -> Result<DateTime, DateTimeError> {
        let seconds = c.offset().local_minus_utc();
        if seconds % 60 != 0 {
            return Err(DateTimeError::OffsetSeconds {
                seconds: seconds.into(),
            });
        }
        let local = c.naive_local();
        let year = local.year();
        let year = u16::try_from(year).map_err(|_| DateTimeError::Year { year: year.into() })?;
        let micro = (local.nanosecond() / 1000).min(999_999);
        DateTime::new(
            year,
            local.month() as u8,
            local.day() as u8,
            local.hour() as u8,
            local.minute() as u8,
            local.second() as u8,
            micro,
            (seconds / 60) as i16,
        )
    }
}

impl TryFrom<chrono::DateTime<Utc>> for DateTime {
    type Error = DateTimeError;

    /// The same instant at offset zero; fails for years outside 1 to
    /// 9999. Nanoseconds are truncated to microseconds.
    ///
    /// ```
    /// use chrono::TimeZone;
    /// let c = chrono::Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap();
    /// let dt = amp_core::values::DateTime::try_from(c).unwrap();
    /// assert_eq!(dt.to_string(), "2024-05-06T07:08:09.000000-00:00");
    /// ```
    fn try_from(c: chrono::DateTime<Utc>) -> Result<DateTime, DateTimeError> {
        DateTime::try_from(c.fixed_offset())
    }
}
