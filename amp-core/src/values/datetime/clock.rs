//! [`DateTime`] and the system clock: `now`, and conversions from and to
//! `std::time::SystemTime`, without any feature.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{DateTime, DateTimeError};

const SECONDS_PER_DAY: i64 = 86_400;

/// Days since 1970-01-01 of a civil date (proleptic Gregorian; Howard
/// Hinnant's `days_from_civil`). Years 1 to 9999 keep every step small.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The civil date of a day counted from 1970-01-01 (Hinnant's
/// `civil_from_days`): year, month, day.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl DateTime {
    /// The current time by the system clock, at offset zero, to the
    /// microsecond: what Twisted's users write as
    /// `datetime.now(timezone.utc)`.
    ///
    /// A clock set outside years 1 to 9999 (which no real clock is) gives
    /// the nearest end of that range.
    ///
    /// ```
    /// use amp_core::values::DateTime;
    /// let now = DateTime::now();
    /// assert_eq!(now.offset_minutes(), 0);
    /// assert!(now.year() >= 2024);
    /// ```
    pub fn now() -> DateTime {
        DateTime::try_from(SystemTime::now()).unwrap_or_else(|_| {
            if SystemTime::now() < UNIX_EPOCH {
                DateTime::MIN
            } else {
                DateTime::MAX
            }
        })
    }

    /// The earliest value: 0001-01-01T00:00:00.000000+00:00.
    pub const MIN: DateTime = DateTime {
        year: 1,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
        microsecond: 0,
        offset_minutes: 0,
    };

    /// The latest value at offset zero: 9999-12-31T23:59:59.999999+00:00.
    pub const MAX: DateTime = DateTime {
        year: 9999,
        month: 12,
        day: 31,
        hour: 23,
        minute: 59,
        second: 59,
        microsecond: 999_999,
        offset_minutes: 0,
    };

    /// Seconds and microseconds of this instant since 1970-01-01 UTC (the
    /// offset taken away).
    fn since_epoch(&self) -> (i64, u32) {
        let days = days_from_civil(self.year.into(), self.month.into(), self.day.into());
        let seconds = days * SECONDS_PER_DAY
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(self.offset_minutes) * 60;
        (seconds, self.microsecond)
    }

    /// The same instant as a `SystemTime`, or `None` where the platform's
    /// clock cannot hold it (some cannot go back to year 1).
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use amp_core::values::DateTime;
    /// let dt: DateTime = "1970-01-01T01:00:01.000002+01:00".parse().unwrap();
    /// assert_eq!(dt.to_system_time(), Some(UNIX_EPOCH + Duration::new(1, 2_000)));
    /// ```
    pub fn to_system_time(&self) -> Option<SystemTime> {
        let (seconds, micros) = self.since_epoch();
        let whole = Duration::from_secs(seconds.unsigned_abs());
        let since = if seconds >= 0 {
            UNIX_EPOCH.checked_add(whole)?
        } else {
            UNIX_EPOCH.checked_sub(whole)?
        };
        since.checked_add(Duration::from_micros(micros.into()))
    }
}

impl TryFrom<SystemTime> for DateTime {
    type Error = DateTimeError;

    /// The same instant at offset zero; nanoseconds are truncated to
    /// microseconds. Fails for instants outside years 1 to 9999.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use amp_core::values::DateTime;
    /// let t = UNIX_EPOCH + Duration::new(1_327_322_096, 54_321_999);
    /// let dt = DateTime::try_from(t).unwrap();
    /// assert_eq!(dt.to_string(), "2012-01-23T12:34:56.054321-00:00");
    /// let before = UNIX_EPOCH - Duration::from_micros(1);
    /// assert_eq!(DateTime::try_from(before).unwrap().to_string(), "1969-12-31T23:59:59.999999-00:00");
    /// ```
    fn try_from(t: SystemTime) -> Result<DateTime, DateTimeError> {
        // Whole microseconds since the epoch, rounded toward the past.
        let micros: i128 = match t.duration_since(UNIX_EPOCH) {
            Ok(after) => after.as_micros() as i128,
            Err(before) => {
                let before = before.duration();
                let whole = before.as_micros() as i128;
                let partial = before.as_nanos() % 1000 != 0;
                -(whole + i128::from(partial))
            }
        };
        let seconds = micros.div_euclid(1_000_000);
        let micro = micros.rem_euclid(1_000_000) as u32;
        // Years 1 to 9999 lie well inside i64 seconds; anything else is
        // refused as a year out of range.
        let out_of_range = || DateTimeError::Year {
            year: if seconds < 0 { 0 } else { 10_000 },
        };
        let seconds = i64::try_from(seconds).map_err(|_| out_of_range())?;
        let days = seconds.div_euclid(SECONDS_PER_DAY);
        let in_day = seconds.rem_euclid(SECONDS_PER_DAY);
        if !(days_from_civil(1, 1, 1)..=days_from_civil(9999, 12, 31)).contains(&days) {
            return Err(out_of_range());
        }
        let (year, month, day) = civil_from_days(days);
        DateTime::new(
            year as u16,
            month as u8,
            day as u8,
            (in_day / 3600) as u8,
            (in_day % 3600 / 60) as u8,
            (in_day % 60) as u8,
            micro,
            0,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_round_trip_over_the_whole_range() {
        let first = days_from_civil(1, 1, 1);
        let last = days_from_civil(9999, 12, 31);
        // Every 97th day, and both ends.
        for days in (first..=last).step_by(97).chain([first, last, 0, -1]) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(
            days_from_civil(2000, 3, 1) - days_from_civil(2000, 2, 28),
            2
        );
    }

    #[test]
    fn system_time_round_trips_at_offset_zero_and_with_offsets() {
        for text in [
            "0001-01-01T00:00:00.000000+00:00",
            "1969-12-31T23:59:59.999999+00:00",
            "2000-02-29T12:00:00.000001+00:00",
            "9999-12-31T23:59:59.999999+00:00",
        ] {
            let dt: DateTime = text.parse().unwrap();
            let Some(t) = dt.to_system_time() else {
                continue; // a platform that cannot hold it
            };
            assert_eq!(DateTime::try_from(t).unwrap(), dt, "{text}");
        }
        // The same instant at another offset: the same SystemTime.
        let here: DateTime = "2012-01-23T18:04:56.054321+05:30".parse().unwrap();
        let utc: DateTime = "2012-01-23T12:34:56.054321+00:00".parse().unwrap();
        assert_eq!(here.to_system_time(), utc.to_system_time());
    }

    #[test]
    fn instants_outside_the_years_are_refused() {
        let last = DateTime::MAX.to_system_time().unwrap();
        let after = last + Duration::from_micros(1);
        assert!(matches!(
            DateTime::try_from(after),
            Err(DateTimeError::Year { .. })
        ));
        let now = DateTime::now();
        let by_clock = DateTime::try_from(SystemTime::now()).unwrap();
        assert_eq!((now.year(), now.offset_minutes()), (by_clock.year(), 0));
    }
}
