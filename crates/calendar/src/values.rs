//! ICS value types: DATE / DATE-TIME (RFC 5545 §3.3.4–5), DURATION (§3.3.6) and UTC-OFFSET
//! (§3.3.14). Hand-written because `icalendar`'s parser hands out property values as text.

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};

/// A DATE or DATE-TIME as written, before its time zone is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IcsTime {
    /// `VALUE=DATE`: an all-day date (SPEC §7: taken as 00:00 UTC).
    Date(NaiveDate),
    /// No `Z` and no TZID: "floating" local time (SPEC §7: taken as UTC).
    Floating(NaiveDateTime),
    /// Ends in `Z`.
    Utc(NaiveDateTime),
    /// With a TZID parameter, resolved later against the feed's zones.
    Zoned(NaiveDateTime, String),
}

impl IcsTime {
    /// Parses one value; `tzid` is the property's TZID parameter, if any.
    pub(crate) fn parse(raw: &str, tzid: Option<&str>) -> Option<Self> {
        let raw = raw.trim();
        if let Some(date) = parse_date(raw) {
            return Some(Self::Date(date));
        }
        let (body, utc) = match raw.strip_suffix(['Z', 'z']) {
            Some(body) => (body, true),
            None => (raw, false),
        };
        let (date, time) = body.split_once(['T', 't'])?;
        let date = parse_date(date)?;
        let time = parse_time(time)?;
        let local = date.and_time(time);
        Some(if utc {
            Self::Utc(local)
        } else {
            match tzid.map(str::trim).filter(|t| !t.is_empty()) {
                Some(tz) => Self::Zoned(local, tz.to_owned()),
                None => Self::Floating(local),
            }
        })
    }
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    if s.len() != 8 || !digits(s) {
        return None;
    }
    let year = s[..4].parse().ok()?;
    let month = s[4..6].parse().ok()?;
    let day = s[6..8].parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

fn parse_time(s: &str) -> Option<NaiveTime> {
    if s.len() != 6 || !digits(s) {
        return None;
    }
    let h = s[..2].parse().ok()?;
    let m = s[2..4].parse().ok()?;
    // A leap second (60) is read as 59: no calendar needs it, and chrono would refuse it.
    let sec: u32 = s[4..6].parse().ok()?;
    NaiveTime::from_hms_opt(h, m, sec.min(59))
}

/// A DURATION such as `PT1H30M`, `P1D`, `P2W` or `-PT15M`.
pub(crate) fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let (negative, rest) = match raw.as_bytes().first()? {
        b'-' => (true, &raw[1..]),
        b'+' => (false, &raw[1..]),
        _ => (false, raw),
    };
    let rest = rest.strip_prefix(['P', 'p'])?;
    let mut total = Duration::zero();
    let mut number = String::new();
    let mut in_time = false;
    let mut any = false;
    for c in rest.chars() {
        match c.to_ascii_uppercase() {
            '0'..='9' => number.push(c),
            'T' if number.is_empty() => in_time = true,
            unit => {
                let n: i64 = number.parse().ok()?;
                number.clear();
                let part = match (unit, in_time) {
                    ('W', false) => Duration::try_weeks(n)?,
                    ('D', false) => Duration::try_days(n)?,
                    ('H', true) => Duration::try_hours(n)?,
                    ('M', true) => Duration::try_minutes(n)?,
                    ('S', true) => Duration::try_seconds(n)?,
                    _ => return None,
                };
                total = total.checked_add(&part)?;
                any = true;
            }
        }
    }
    if !number.is_empty() || !any {
        return None;
    }
    Some(if negative { -total } else { total })
}

/// A UTC-OFFSET such as `+0100`, `-0500` or `+053000`, in seconds east of UTC.
pub(crate) fn parse_offset(raw: &str) -> Option<i32> {
    let raw = raw.trim();
    let sign = match raw.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let d = &raw[1..];
    if !(d.len() == 4 || d.len() == 6) || !digits(d) {
        return None;
    }
    let h: i32 = d[..2].parse().ok()?;
    let m: i32 = d[2..4].parse().ok()?;
    let s: i32 = if d.len() == 6 {
        d[4..].parse().ok()?
    } else {
        0
    };
    if h > 23 || m > 59 || s > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60 + s))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times_in_every_form() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 9).unwrap();
        assert_eq!(IcsTime::parse("20260309", None), Some(IcsTime::Date(d)));
        let t = d.and_hms_opt(10, 30, 0).unwrap();
        assert_eq!(
            IcsTime::parse("20260309T103000Z", None),
            Some(IcsTime::Utc(t))
        );
        assert_eq!(
            IcsTime::parse("20260309T103000", None),
            Some(IcsTime::Floating(t))
        );
        assert_eq!(
            IcsTime::parse("20260309T103000", Some("Europe/Berlin")),
            Some(IcsTime::Zoned(t, "Europe/Berlin".into()))
        );
        for bad in [
            "",
            "2026-03-09",
            "20261309",
            "20260309T1030",
            "20260309T253000Z",
            "x",
        ] {
            assert_eq!(IcsTime::parse(bad, None), None, "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("PT1H30M"), Some(Duration::minutes(90)));
        assert_eq!(parse_duration("P1D"), Some(Duration::days(1)));
        assert_eq!(parse_duration("P2W"), Some(Duration::weeks(2)));
        assert_eq!(parse_duration("P1DT2H"), Some(Duration::hours(26)));
        assert_eq!(parse_duration("-PT15M"), Some(Duration::minutes(-15)));
        for bad in [
            "",
            "P",
            "PT",
            "1H",
            "PT1X",
            "P1H",
            "PT99999999999999999999H",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("+0100"), Some(3600));
        assert_eq!(parse_offset("-0500"), Some(-18000));
        assert_eq!(parse_offset("+053000"), Some(19800));
        assert_eq!(parse_offset("0100"), None);
        assert_eq!(parse_offset("+2500"), None);
    }
}
