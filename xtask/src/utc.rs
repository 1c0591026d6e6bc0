//! Now as a UTC date and time, for the "Run: ..." lines of generated reports: no date crate and no
//! `date` process. A file with no dependencies on the rest of xtask, so that the unpublished
//! `corio-bench` and `corio-stress` can share it (`#[path = "../../../xtask/src/utc.rs"] mod utc;`)
//! instead of keeping copies of the calendar arithmetic.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now as `YYYY-MM-DD HH:MM`, in UTC.
pub(crate) fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_utc(secs)
}

/// `secs` seconds after the Unix epoch as `YYYY-MM-DD HH:MM`, in UTC. std has no calendar; this is
/// Howard Hinnant's `civil_from_days`.
pub(crate) fn format_utc(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = i64::try_from(days).unwrap_or(i64::MAX - 719_468) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(format_utc(0), "1970-01-01 00:00");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00", "a leap day");
        assert_eq!(format_utc(951_868_799), "2000-02-29 23:59");
        assert_eq!(format_utc(1_767_225_540), "2025-12-31 23:59");
        assert_eq!(format_utc(4_102_448_461), "2100-01-01 01:01");
        let march_first_2100 = 4_107_542_400;
        assert_eq!(
            format_utc(march_first_2100 - 60),
            "2100-02-28 23:59",
            "no leap day in 2100"
        );
        assert_eq!(format_utc(march_first_2100), "2100-03-01 00:00");
        assert_eq!(format_utc(1_796_371_200), "2026-12-04 08:00");
    }

    #[test]
    fn now_has_the_shape() {
        let now = utc_now();
        assert_eq!(now.len(), "2026-01-01 00:00".len(), "{now}");
        assert!(now.starts_with("20"), "{now}");
    }
}
