//! How long provider webhooks are remembered, and which signed timestamps are still believed.
//!
//! The inbox recognises a redelivered event by its id for [`WEBHOOK_INBOX_RETENTION`]; after
//! that the row is pruned. A captured delivery replayed later would then look new, so a
//! verifier that has a signed timestamp refuses deliveries older than the inbox remembers
//! ([`signed_at_is_recent`]).

use chrono::{DateTime, Duration, Utc};

/// How long verified provider webhooks stay in the inbox (longer than any provider redelivers).
pub const WEBHOOK_INBOX_RETENTION: Duration = Duration::days(30);

/// How far ahead of our clock a provider's signed timestamp may be (clock skew).
pub const WEBHOOK_CLOCK_SKEW: Duration = Duration::minutes(5);

/// Whether a delivery signed at `signed_at` may still be accepted at `now`.
///
/// Accepted means `signed_at` lies in `[now - (retention - skew), now + skew]`. A delivery
/// accepted at `t` is stored with `received_at = t >= signed_at - skew`, and pruned only once
/// `received_at < now - retention`. A replay at `now` is accepted only if
/// `now <= signed_at + retention - skew <= received_at + retention`, so while its row is still
/// there: the inbox then recognises it as a duplicate.
pub fn signed_at_is_recent(signed_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    signed_at <= now + WEBHOOK_CLOCK_SKEW
        && signed_at >= now - (WEBHOOK_INBOX_RETENTION - WEBHOOK_CLOCK_SKEW)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_timestamps_the_inbox_still_remembers_are_recent() {
        let now = DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default();
        assert!(signed_at_is_recent(now, now));
        assert!(signed_at_is_recent(now - Duration::days(29), now));
        assert!(signed_at_is_recent(now + Duration::minutes(4), now));
        assert!(!signed_at_is_recent(now + Duration::minutes(6), now));
        assert!(!signed_at_is_recent(now - WEBHOOK_INBOX_RETENTION, now));
        assert!(!signed_at_is_recent(now - Duration::days(31), now));
    }
}
