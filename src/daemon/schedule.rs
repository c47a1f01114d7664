//! When a cron schedule fires next, in a timezone with daylight saving time. Pure:
//! no clock, no I/O.
//!
//! A schedule names local wall-clock times; each one fires at most once:
//! - A time that does not exist (spring forward in Europe/Berlin: 02:00 → 03:00, so
//!   a daily 02:30 job) fires once, at the end of the gap (03:00 CEST). It is not
//!   lost, and several times inside the gap collapse into that one run.
//! - A time that occurs twice (fall back: 03:00 → 02:00, so 02:30 happens twice)
//!   fires once, at its first occurrence (02:30 CEST), and not again an hour later.
//!
//! The cron crate iterates candidate times; we feed it the local wall-clock time
//! dressed as UTC (which has no DST) and resolve each candidate in the real zone
//! ourselves, so the rules above do not depend on the crate's own DST handling.

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// How many candidate times to look at before giving up; only a schedule whose
/// every candidate resolves to an instant already passed (impossible outside a
/// repeated hour) gets near it.
const MAX_CANDIDATES: usize = 10_000;

/// The first instant strictly after `after` at which `schedule` fires in `tz`, or
/// `None` if it never fires again (e.g. a year field in the past).
pub fn next_after(
    schedule: &cron::Schedule,
    tz: Tz,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let local = after.with_timezone(&tz).naive_local();
    // Start one second before, so a candidate equal to `local` is seen: in a repeated
    // hour `local` may be its second occurrence, and the first must then be skipped
    // explicitly rather than by accident.
    let start = Utc.from_utc_datetime(&(local - Duration::seconds(1)));
    for candidate in schedule.after(&start).take(MAX_CANDIDATES) {
        let naive = candidate.naive_utc();
        let instant = match tz.from_local_datetime(&naive) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            // Repeated wall-clock time: only its first occurrence counts.
            LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
            LocalResult::None => match gap_end(tz, naive) {
                Some(t) => t,
                None => continue,
            },
        };
        if instant > after {
            return Some(instant);
        }
    }
    None
}

/// The instant a DST gap containing `naive` ends: the first local minute after it
/// that exists. Gaps are whole minutes and at most a day long in the tz database.
fn gap_end(tz: Tz, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    let minute = naive.with_second(0)?.with_nanosecond(0)?;
    (1..=26 * 60).find_map(|m| {
        tz.from_local_datetime(&(minute + Duration::minutes(m)))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Fires `expr` in Europe/Berlin from `from` until `until` (UTC), like the
    /// daemon does with its clock: each run asks for the next instant after itself.
    fn fires(expr: &str, from: &str, until: &str) -> Vec<String> {
        let schedule = cron::Schedule::from_str(expr).unwrap();
        let mut out = Vec::new();
        let mut now = utc(from);
        let end = utc(until);
        while let Some(next) = next_after(&schedule, chrono_tz::Europe::Berlin, now) {
            if next > end {
                break;
            }
            out.push(next.with_timezone(&chrono_tz::Europe::Berlin).to_rfc3339());
            now = next;
        }
        out
    }

    fn check(expr: &str, from: &str, until: &str, expected: &[&str]) {
        assert_eq!(fires(expr, from, until), expected, "{expr} from {from}");
    }

    #[test]
    fn daily_0230_across_spring_forward_runs_once_at_the_end_of_the_gap() {
        // 2026-03-29: 02:00 CET → 03:00 CEST; 02:30 does not exist that day.
        check(
            "0 30 2 * * *",
            "2026-03-27T12:00:00Z",
            "2026-03-31T12:00:00Z",
            &[
                "2026-03-28T02:30:00+01:00",
                "2026-03-29T03:00:00+02:00",
                "2026-03-30T02:30:00+02:00",
                "2026-03-31T02:30:00+02:00",
            ],
        );
    }

    #[test]
    fn daily_0230_across_fall_back_runs_once_at_the_first_occurrence() {
        // 2026-10-25: 03:00 CEST → 02:00 CET; 02:30 happens twice that day.
        check(
            "0 30 2 * * *",
            "2026-10-23T12:00:00Z",
            "2026-10-27T12:00:00Z",
            &[
                "2026-10-24T02:30:00+02:00",
                "2026-10-25T02:30:00+02:00",
                "2026-10-26T02:30:00+01:00",
                "2026-10-27T02:30:00+01:00",
            ],
        );
    }

    #[test]
    fn a_clock_inside_the_repeated_hour_does_not_rerun_it() {
        let s = cron::Schedule::from_str("0 30 2 * * *").unwrap();
        // 01:10Z is 02:10 CET, the second pass of the repeated hour: the 02:30 of
        // this day already ran at 00:30Z.
        assert_eq!(
            next_after(&s, chrono_tz::Europe::Berlin, utc("2026-10-25T01:10:00Z")),
            Some(utc("2026-10-26T01:30:00Z"))
        );
        // 00:10Z is 02:10 CEST, the first pass: 02:30 is still ahead.
        assert_eq!(
            next_after(&s, chrono_tz::Europe::Berlin, utc("2026-10-25T00:10:00Z")),
            Some(utc("2026-10-25T00:30:00Z"))
        );
    }

    #[test]
    fn hourly_jobs_keep_wall_clock_times_across_both_switches() {
        check(
            "0 0 * * * *",
            "2026-03-28T23:30:00Z",
            "2026-03-29T02:30:00Z",
            // 01:00 CET, then 02:00 does not exist → 03:00 CEST, then 04:00 CEST
            &[
                "2026-03-29T01:00:00+01:00",
                "2026-03-29T03:00:00+02:00",
                "2026-03-29T04:00:00+02:00",
            ],
        );
        check(
            "0 0 * * * *",
            "2026-10-24T23:30:00Z",
            "2026-10-25T02:30:00Z",
            // 02:00 fires once (CEST); the repeated 02:00 CET does not fire again
            &["2026-10-25T02:00:00+02:00", "2026-10-25T03:00:00+01:00"],
        );
    }

    #[test]
    fn several_times_inside_the_gap_collapse_into_one_run() {
        check(
            "0 0,20,40 2 * * *",
            "2026-03-29T00:00:00Z",
            "2026-03-29T12:00:00Z",
            &["2026-03-29T03:00:00+02:00"],
        );
    }

    #[test]
    fn seconds_schedules_fire_every_tick_and_year_fields_end() {
        check(
            "*/2 * * * * *",
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:05Z",
            &["2026-01-01T01:00:02+01:00", "2026-01-01T01:00:04+01:00"],
        );
        let s = cron::Schedule::from_str("0 0 0 1 1 * 2020").unwrap();
        assert_eq!(
            next_after(&s, chrono_tz::Europe::Berlin, utc("2026-01-01T00:00:00Z")),
            None
        );
    }
}
