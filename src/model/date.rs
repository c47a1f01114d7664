//! The one reader of dates: from sheets, reports and arguments ([`parse_date`]:
//! ISO `YYYY-MM-DD` or German `DD.MM.YYYY`) and from the database or a
//! timestamp ([`iso_date`]), the one message for what is not a date
//! ([`not_a_date`]), and today's date in Lower Saxony.

use chrono::{Datelike, NaiveDate};

/// Parses a date as written in reports: ISO `YYYY-MM-DD` or German `DD.MM.YYYY`,
/// with a four-digit year (1000 to 9999). A short year is refused, not guessed:
/// chrono reads the `24` of `01.05.24` (Excel's short German date) as the year 24,
/// which the store cannot hold (its dates are YYYYMMDD integers from 1000-01-01)
/// and which no report means.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    // `YYYY-MM-DD` read by hand: a report has millions of them, and chrono's format
    // parser is the slower way to the same answer for this shape.
    let b = s.as_bytes();
    let date = if b.len() == 10 && b.get(4) == Some(&b'-') && b.get(7) == Some(&b'-') {
        iso_date(b)
    } else {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .or_else(|_| NaiveDate::parse_from_str(s, "%d.%m.%Y"))
            .ok()
    };
    date.filter(|d| (1000..=9999).contains(&d.year()))
}

/// What every reader of a sheet, report, EfA file or argument says after the value
/// that [`parse_date`] refused: the forms it takes and, for a number that Excel
/// shows as a date (a date serial: a date column saved into a CSV as a number, or
/// a cell formatted as a number), what the number is and what to do.
pub fn not_a_date(s: &str) -> String {
    let mut text = String::from("not a date; write YYYY-MM-DD or DD.MM.YYYY (a four-digit year)");
    if let Some(why) = almost_a_date(s) {
        text.push_str("; ");
        text.push_str(&why);
    } else if let Some(date) = excel_serial(s) {
        text.push_str(&format!(
            "; {:?} looks like an Excel date serial (it stands for {date}): format the column \
             as text or as a date before saving, or write YYYY-MM-DD",
            s.trim()
        ));
    }
    text
}

/// Why `s`, written in one of the two forms, is still no date: a day its month
/// does not have (`29.02.2025`, `31.04.2025`), a time of day after it (how a
/// spreadsheet writes a date cell with a time), or a two-digit year.
fn almost_a_date(s: &str) -> Option<String> {
    let s = s.trim();
    let (day_part, time) = match s.split_once([' ', 'T']) {
        Some((d, t)) => (d, Some(t.trim())),
        None => (s, None),
    };
    let number = |t: &str, lens: std::ops::RangeInclusive<usize>| {
        (lens.contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse::<u32>().ok())
            .flatten()
    };
    let parts: Vec<&str> = day_part.split(['-', '.']).collect();
    let (year, month, day, year_digits) = match *parts.as_slice() {
        [y, m, d] if day_part.contains('-') => {
            (number(y, 4..=4)?, number(m, 1..=2)?, number(d, 1..=2)?, 4)
        }
        [d, m, y] if day_part.contains('.') => (
            number(y, 2..=4)?,
            number(m, 1..=2)?,
            number(d, 1..=2)?,
            y.len(),
        ),
        _ => return None,
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    if year_digits != 4 {
        return Some(format!(
            "the year has {year_digits} digits: write it with four (a spreadsheet's short date \
             format drops them; format the column as YYYY-MM-DD or TT.MM.JJJJ)"
        ));
    }
    let exists = i32::try_from(year)
        .ok()
        .and_then(|y| NaiveDate::from_ymd_opt(y, month, day))
        .is_some();
    if !exists {
        let last = (28..=31)
            .rev()
            .find(|&d| {
                i32::try_from(year)
                    .ok()
                    .and_then(|y| NaiveDate::from_ymd_opt(y, month, d))
                    .is_some()
            })
            .unwrap_or(28);
        return Some(format!(
            "there is no such day: month {month:02} of {year} has {last} days"
        ));
    }
    time.filter(|t| !t.is_empty()).map(|t| {
        format!(
            "it holds a time of day ({t}) after the date: write the date alone (a spreadsheet \
             writes a date cell with a time so; format the column as a date without time)"
        )
    })
}

/// The date an Excel date serial stands for (days since 1899-12-30), for a plain
/// number of five digits (10000 is 1927-05-18, 99999 is 2173-10-13), with or
/// without a time of day as a fraction (`46022.5`, `46022,5`). Four digits are
/// more likely a year than a date of the 1900s, so they get no hint.
fn excel_serial(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    let (whole, fraction) = s.split_once(['.', ',']).unwrap_or((s, "0"));
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if whole.len() != 5 || !digits(whole) || !digits(fraction) {
        return None;
    }
    NaiveDate::from_ymd_opt(1899, 12, 30)?.checked_add_days(chrono::Days::new(whole.parse().ok()?))
}

/// The date at the start of `b` if it begins `YYYY-MM-DD` (a stored date, or the date
/// part of a timestamp), read without chrono's format parser: exports and reports
/// read millions of them.
pub fn iso_date(b: &[u8]) -> Option<NaiveDate> {
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b.get(r)?.iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    NaiveDate::from_ymd_opt(
        i32::try_from(digits(0..4)?).ok()?,
        digits(5..7)?,
        digits(8..10)?,
    )
}

/// Today in Lower Saxony (dates in reports are local dates).
pub fn today() -> NaiveDate {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Berlin)
        .date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }

    #[test]
    fn an_excel_date_serial_is_named_with_its_date() {
        for (serial, date) in [
            ("46022", "2025-12-31"),
            (" 46023 ", "2026-01-01"),
            ("45658.5", "2025-01-01"),
            ("45658,75", "2025-01-01"),
        ] {
            assert!(parse_date(serial).is_none(), "{serial}");
            let text = not_a_date(serial);
            assert!(
                text.contains(&format!(
                    "looks like an Excel date serial (it stands for {date})"
                )),
                "{serial}: {text}"
            );
        }
        for plain in [
            "bald",
            "2026",
            "460221",
            "46022x",
            "46022.",
            "-46022",
            "2025-13-01",
        ] {
            assert_eq!(
                not_a_date(plain),
                "not a date; write YYYY-MM-DD or DD.MM.YYYY (a four-digit year)",
                "{plain}"
            );
        }
    }

    #[test]
    fn a_date_in_the_right_form_that_is_still_none_says_why() {
        for (value, why) in [
            (
                "29.02.2025",
                "there is no such day: month 02 of 2025 has 28 days",
            ),
            (
                "31.04.2025",
                "there is no such day: month 04 of 2025 has 30 days",
            ),
            (
                "2025-02-30",
                "there is no such day: month 02 of 2025 has 28 days",
            ),
            (
                "2025-03-01 13:00",
                "it holds a time of day (13:00) after the date",
            ),
            (
                "01.03.2025 00:00:00",
                "it holds a time of day (00:00:00) after the date",
            ),
            ("1.3.25", "the year has 2 digits: write it with four"),
        ] {
            assert!(parse_date(value).is_none(), "{value}");
            let text = not_a_date(value);
            assert!(text.contains(why), "{value}: {text}");
        }
        assert!(parse_date("29.02.2024").is_some());
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("2025-03-01"), Some(d("01.03.2025")));
        assert_eq!(parse_date("31.02.2025"), None);
        assert_eq!(parse_date("2025-3-1x"), None);
        // The hand-read ISO shape agrees with chrono's parser.
        for s in [
            "2024-02-29",
            "2025-02-29",
            "2025-13-01",
            "2025-00-10",
            "2025-01-+1",
            "2025-1a-01",
        ] {
            let chrono = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
            assert_eq!(parse_date(s), chrono, "{s}");
        }
        assert_eq!(parse_date("2025-3-1"), NaiveDate::from_ymd_opt(2025, 3, 1));
    }

    #[test]
    fn a_year_is_four_digits() {
        for s in [
            "01.05.24",
            "01.05.0024",
            "0000-01-01",
            "0999-12-31",
            "24-05-01",
            "01.05.20245",
        ] {
            assert_eq!(parse_date(s), None, "{s}");
        }
        assert_eq!(
            parse_date("01.01.1000"),
            NaiveDate::from_ymd_opt(1000, 1, 1)
        );
        assert_eq!(
            parse_date("9999-12-31"),
            NaiveDate::from_ymd_opt(9999, 12, 31)
        );
    }

    #[test]
    fn iso_date_reads_iso_dates_only() {
        let check = |s: &str, ok: Option<&str>| {
            assert_eq!(
                iso_date(s.as_bytes()),
                ok.map(|x| NaiveDate::parse_from_str(x, "%Y-%m-%d").unwrap()),
                "{s:?}"
            )
        };
        check("2026-03-01", Some("2026-03-01"));
        check("2026-03-01T06:00:00Z", Some("2026-03-01"));
        check("2026-02-30", None);
        check("2026-3-01", None);
        check("2026-03-0", None);
        check("２026-03-01", None);
        check("", None);
    }

    #[test]
    fn spreadsheet_dates() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 1);
        assert_eq!(parse_date("2026-03-01"), d);
        assert_eq!(parse_date(" 01.03.2026 "), d);
        assert_eq!(parse_date("1.3.2026"), d);
        assert_eq!(parse_date("31.02.2026"), None);
        assert_eq!(parse_date("März 2026"), None);
    }
}
