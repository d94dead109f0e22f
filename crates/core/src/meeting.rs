//! Meetings and the rule that decides whether an existing meeting can be reused.

use chrono::{DateTime, Utc};

use crate::platform::PlatformName;
use crate::room::{RecordingTrigger, RecordingType, Room, RoomMode};

/// A meeting as stored: our id plus what the provider told us about its room.
#[derive(Debug, Clone, PartialEq)]
pub struct Meeting {
    pub id: String,
    pub platform: PlatformName,
    pub platform_meeting_id: String,
    pub room_name: String,
    pub room_url: String,
    pub host_room_url: String,
    pub start_date: DateTime<Utc>,
    pub end_date: DateTime<Utc>,
    pub room_id: String,
    pub is_locked: bool,
    pub room_mode: RoomMode,
    pub recording_type: RecordingType,
    pub recording_trigger: RecordingTrigger,
    pub num_clients: i64,
    pub is_active: bool,
    pub calendar_event_id: Option<String>,
    pub calendar_metadata: Option<serde_json::Value>,
    pub composed_video_key: Option<String>,
    pub composed_video_duration: Option<i64>,
}

/// What a meeting copies from its room at creation. A meeting whose settings differ from the room's
/// current ones is not reused, so changing a room takes effect at its next meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingSettings {
    pub platform: PlatformName,
    pub is_locked: bool,
    pub room_mode: RoomMode,
    pub recording_type: RecordingType,
    pub recording_trigger: RecordingTrigger,
}

impl MeetingSettings {
    pub fn for_room(room: &Room, platform: PlatformName) -> Self {
        Self {
            platform,
            is_locked: room.is_locked,
            room_mode: room.room_mode,
            recording_type: room.recording_type,
            recording_trigger: room.recording_trigger,
        }
    }
}

impl Meeting {
    pub fn settings(&self) -> MeetingSettings {
        MeetingSettings {
            platform: self.platform.clone(),
            is_locked: self.is_locked,
            room_mode: self.room_mode,
            recording_type: self.recording_type,
            recording_trigger: self.recording_trigger,
        }
    }

    /// Active and not yet past its end.
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.is_active && self.end_date > now
    }
}

/// Among a room's meetings, the open one with the latest end whose settings equal `wanted`.
pub fn reusable_meeting<'a>(
    meetings: &'a [Meeting],
    wanted: &MeetingSettings,
    now: DateTime<Utc>,
) -> Option<&'a Meeting> {
    meetings
        .iter()
        .filter(|m| m.is_open(now) && m.settings() == *wanted)
        .max_by_key(|m| m.end_date)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    pub(crate) fn room() -> Room {
        Room {
            id: "r1".into(),
            name: "team".into(),
            user_id: "u1".into(),
            created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            zulip_auto_post: false,
            zulip_stream: String::new(),
            zulip_topic: String::new(),
            is_locked: false,
            room_mode: RoomMode::Normal,
            recording_type: RecordingType::Cloud,
            recording_trigger: RecordingTrigger::AutomaticSecondParticipant,
            is_shared: false,
            webhook_url: None,
            webhook_secret: None,
            ics_url: None,
            ics_fetch_interval: 300,
            ics_enabled: false,
            ics_last_sync: None,
            ics_last_etag: None,
            platform: PlatformName::new("mock"),
            skip_consent: false,
        }
    }

    fn meeting(id: &str, end: DateTime<Utc>, settings: &MeetingSettings) -> Meeting {
        Meeting {
            id: id.into(),
            platform: settings.platform.clone(),
            platform_meeting_id: format!("p-{id}"),
            room_name: format!("team-{id}"),
            room_url: String::new(),
            host_room_url: String::new(),
            start_date: end - Duration::hours(8),
            end_date: end,
            room_id: "r1".into(),
            is_locked: settings.is_locked,
            room_mode: settings.room_mode,
            recording_type: settings.recording_type,
            recording_trigger: settings.recording_trigger,
            num_clients: 0,
            is_active: true,
            calendar_event_id: None,
            calendar_metadata: None,
            composed_video_key: None,
            composed_video_duration: None,
        }
    }

    #[test]
    fn reuses_the_matching_open_meeting_that_ends_last() {
        let now = Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap();
        let wanted = MeetingSettings::for_room(&room(), PlatformName::new("mock"));
        let early = meeting("early", now + Duration::hours(1), &wanted);
        let late = meeting("late", now + Duration::hours(5), &wanted);
        let past = meeting("past", now - Duration::seconds(1), &wanted);
        let mut inactive = meeting("inactive", now + Duration::hours(9), &wanted);
        inactive.is_active = false;
        let mut locked = meeting("locked", now + Duration::hours(10), &wanted);
        locked.is_locked = true;
        let mut other_platform = meeting("daily", now + Duration::hours(10), &wanted);
        other_platform.platform = PlatformName::new("daily");

        let all = vec![early, late, past, inactive, locked, other_platform];
        assert_eq!(reusable_meeting(&all, &wanted, now).unwrap().id, "late");
        assert!(reusable_meeting(&all[2..], &wanted, now).is_none());
    }

    #[test]
    fn a_changed_room_setting_prevents_reuse() {
        let now = Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap();
        let mut r = room();
        let before = MeetingSettings::for_room(&r, PlatformName::new("mock"));
        let m = vec![meeting("m", now + Duration::hours(1), &before)];
        r.recording_trigger = RecordingTrigger::Prompt;
        let after = MeetingSettings::for_room(&r, PlatformName::new("mock"));
        assert!(reusable_meeting(&m, &before, now).is_some());
        assert!(reusable_meeting(&m, &after, now).is_none());
    }
}
