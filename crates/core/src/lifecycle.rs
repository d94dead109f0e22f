//! When a meeting is over, and when it should be extended (SPEC §6), as a pure function of the
//! provider's sessions and the time.

use chrono::{DateTime, Duration, Utc};

use crate::Meeting;

/// A participant session as the provider reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSpan {
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Keep,
    /// In use close to (or past) its end: move the end to `new_end`.
    Extend {
        new_end: DateTime<Utc>,
    },
    End {
        reason: &'static str,
    },
}

/// A meeting still in use within this long of its end is extended.
pub const EXTEND_WITHIN: Duration = Duration::hours(1);
/// How far an extension moves the end from now.
pub const EXTEND_BY: Duration = Duration::hours(8);

/// Open sessions keep a meeting (extending it near its end); sessions that all ended more than
/// `grace` ago end it; a meeting nobody ever joined ends at its `end_date`.
pub fn decide(
    meeting: &Meeting,
    sessions: &[SessionSpan],
    now: DateTime<Utc>,
    grace: Duration,
) -> Decision {
    if sessions.iter().any(|s| s.ended_at.is_none()) {
        return if meeting.end_date - now <= EXTEND_WITHIN {
            Decision::Extend {
                new_end: now + EXTEND_BY,
            }
        } else {
            Decision::Keep
        };
    }
    match sessions.iter().filter_map(|s| s.ended_at).max() {
        Some(last_left) if now - last_left > grace => Decision::End {
            reason: "everyone left",
        },
        Some(_) => Decision::Keep,
        None if now > meeting.end_date => Decision::End {
            reason: "nobody joined before its end",
        },
        None => Decision::Keep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meeting::tests::room;
    use crate::{MeetingSettings, PlatformName};
    use chrono::TimeZone;

    fn meeting(end: DateTime<Utc>) -> Meeting {
        let s = MeetingSettings::for_room(&room(), PlatformName::new("mock"));
        Meeting {
            id: "m".into(),
            platform: s.platform,
            platform_meeting_id: "p".into(),
            room_name: "team-1".into(),
            room_url: String::new(),
            host_room_url: String::new(),
            start_date: end - Duration::hours(8),
            end_date: end,
            room_id: "r1".into(),
            is_locked: s.is_locked,
            room_mode: s.room_mode,
            recording_type: s.recording_type,
            recording_trigger: s.recording_trigger,
            num_clients: 0,
            is_active: true,
            calendar_event_id: None,
            calendar_metadata: None,
            composed_video_key: None,
            composed_video_duration: None,
        }
    }

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, h, m, 0).unwrap()
    }

    const GRACE: Duration = Duration::minutes(5);

    #[test]
    fn open_sessions_keep_the_meeting_and_extend_it_near_its_end() {
        let m = meeting(t(18, 0));
        let open = [SessionSpan {
            started_at: t(10, 0),
            ended_at: None,
        }];
        assert_eq!(decide(&m, &open, t(12, 0), GRACE), Decision::Keep);
        assert_eq!(decide(&m, &open, t(16, 59), GRACE), Decision::Keep);
        assert_eq!(
            decide(&m, &open, t(17, 0), GRACE),
            Decision::Extend {
                new_end: t(17, 0) + EXTEND_BY
            }
        );
        // Still in use after its end (jobs were down): extended, not ended.
        assert_eq!(
            decide(&m, &open, t(19, 0), GRACE),
            Decision::Extend {
                new_end: t(19, 0) + EXTEND_BY
            }
        );
    }

    #[test]
    fn a_meeting_everyone_left_ends_after_the_grace_period() {
        let m = meeting(t(18, 0));
        let left = [
            SessionSpan {
                started_at: t(10, 0),
                ended_at: Some(t(10, 30)),
            },
            SessionSpan {
                started_at: t(10, 5),
                ended_at: Some(t(11, 0)),
            },
        ];
        assert_eq!(
            decide(&m, &left, t(11, 5), GRACE),
            Decision::Keep,
            "exactly the grace"
        );
        assert_eq!(
            decide(&m, &left, t(11, 6), GRACE),
            Decision::End {
                reason: "everyone left"
            }
        );
    }

    #[test]
    fn an_unused_meeting_ends_at_its_end_date() {
        let m = meeting(t(18, 0));
        assert_eq!(decide(&m, &[], t(17, 59), GRACE), Decision::Keep);
        assert_eq!(decide(&m, &[], t(18, 0), GRACE), Decision::Keep);
        assert_eq!(
            decide(&m, &[], t(18, 1), GRACE),
            Decision::End {
                reason: "nobody joined before its end"
            }
        );
    }
}
