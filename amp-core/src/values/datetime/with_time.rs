//! Conversions between [`DateTime`](super::DateTime) and
//! `time::OffsetDateTime` (feature `time`).

use super::{DateTime, DateTimeError};

impl From<DateTime> for time::OffsetDateTime {
    /// The same local date, time and offset.
    ///
    /// ```
    /// use amp_core::values::DateTime;
    /// let dt = DateTime::new(2000, 2, 29, 1, 2, 3, 4, -480).unwrap();
    /// let t = time::OffsetDateTime::from(dt);
    /// assert_eq!(t.offset().whole_minutes(), -480);
    /// assert_eq!(t.microsecond(), 4);
    /// ```
    fn from(dt: DateTime) -> Self {
        // Every field was checked on construction and fits time's ranges.
        let month = time::Month::try_from(dt.month).expect("checked month");
        let date =
            time::Date::from_calendar_date(dt.year.into(), month, dt.day).expect("checked date");
        let clock = time::Time::from_hms_micro(dt.hour, dt.minute, dt.second, dt.microsecond)
            .expect("checked time");
        let offset = time::UtcOffset::from_whole_seconds(i32::from(dt.offset_minutes) * 60)
            .expect("offset within a day");
        time::PrimitiveDateTime::new(date, clock).assume_offset(offset)
    }
}

impl TryFrom<time::OffsetDateTime> for DateTime {
    type Error = DateTimeError;

    /// The same local date, time and offset; fails for years outside 1
    /// to 9999 and offsets that are not whole minutes or reach 24 hours.
    /// Nanoseconds are truncated to microseconds.
    ///
    /// ```
    /// use amp_core::values::DateTime;
    /// let t = time::OffsetDateTime::from_unix_timestamp_nanos(1_000_000_999).unwrap();
    /// let dt = DateTime::try_from(t).unwrap();
    /// assert_eq!(dt.to_string(), "1970-01-01T00:00:01.000000-00:00");
    /// ```
    fn try_from(t: time::OffsetDateTime) -> Result<DateTime, DateTimeError> {
        let seconds = t.offset().whole_seconds();
        if seconds % 60 != 0 {
            return Err(DateTimeError::OffsetSeconds {
                seconds: seconds.into(),
            });
        }
        let minutes = seconds / 60;
        let minutes = i16::try_from(minutes)
            .ok()
            .filter(|m| (-1439..=1439).contains(m))
            .ok_or(DateTimeError::OffsetRange {
                minutes: minutes.into(),
            })?;
        let year = t.year();
        let year = u16::try_from(year).map_err(|_| DateTimeError::Year { year: year.into() })?;
        DateTime::new(
            year,
            t.month().into(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond(),
            minutes,
        )
    }
}
