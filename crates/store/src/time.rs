//! Timestamps as fixed-width RFC 3339 UTC text with microseconds (`2026-01-02T03:04:05.000006Z`).

use chrono::{DateTime, SecondsFormat, Utc};

use crate::StoreError;

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(crate) fn opt_ts(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(ts)
}

pub(crate) fn parse_ts(raw: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp {raw:?}: {e}")))
}

pub(crate) fn parse_opt_ts(raw: Option<String>) -> Result<Option<DateTime<Utc>>, StoreError> {
    raw.as_deref().map(parse_ts).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn text_order_is_time_order() {
        let a = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let b = a + chrono::Duration::microseconds(1);
        assert_eq!(ts(a), "2026-01-02T03:04:05.000000Z");
        assert!(ts(a) < ts(b));
        assert_eq!(parse_ts(&ts(b)).unwrap(), b);
    }
}
