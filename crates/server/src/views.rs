//! The JSON shapes of the `/v1` API (kept from the original Reflector), and who sees what: the
//! webhook fields, the calendar URL and `host_room_url` are only ever shown to the room's owner.

use chrono::{DateTime, Utc};
use reflector_core::{Meeting, RecordingTrigger, RecordingType, Room, RoomMode};
use serde::Serialize;
use utoipa::ToSchema;

/// A room. `webhook_url`, `webhook_secret` and `ics_url` are null unless the caller owns it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomDetails {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub created_at: DateTime<Utc>,
    pub zulip_auto_post: bool,
    pub zulip_stream: String,
    pub zulip_topic: String,
    pub is_locked: bool,
    pub room_mode: RoomMode,
    pub recording_type: RecordingType,
    pub recording_trigger: RecordingTrigger,
    pub is_shared: bool,
    pub ics_url: Option<String>,
    pub ics_fetch_interval: i64,
    pub ics_enabled: bool,
    pub ics_last_sync: Option<DateTime<Utc>>,
    pub ics_last_etag: Option<String>,
    /// The room's video platform: the name of one of the providers this server registers.
    pub platform: String,
    pub skip_consent: bool,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
}

impl RoomDetails {
    pub fn new(room: Room, is_owner: bool) -> Self {
        let owner_only = |v: Option<String>| if is_owner { v } else { None };
        Self {
            ics_url: owner_only(room.ics_url),
            webhook_url: owner_only(room.webhook_url),
            webhook_secret: owner_only(room.webhook_secret),
            id: room.id,
            name: room.name,
            user_id: room.user_id,
            created_at: room.created_at,
            zulip_auto_post: room.zulip_auto_post,
            zulip_stream: room.zulip_stream,
            zulip_topic: room.zulip_topic,
            is_locked: room.is_locked,
            room_mode: room.room_mode,
            recording_type: room.recording_type,
            recording_trigger: room.recording_trigger,
            is_shared: room.is_shared,
            ics_fetch_interval: room.ics_fetch_interval,
            ics_enabled: room.ics_enabled,
            ics_last_sync: room.ics_last_sync,
            ics_last_etag: room.ics_last_etag,
            platform: room.platform.to_string(),
            skip_consent: room.skip_consent,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoomPage {
    pub items: Vec<RoomDetails>,
    pub total: i64,
    pub page: i64,
    pub size: i64,
    pub pages: i64,
}

/// A meeting. `host_room_url` is empty unless the caller owns the room, and so are the
/// description and attendees in `calendar_metadata`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeetingView {
    pub id: String,
    /// The provider's room name.
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
    #[schema(value_type = Option<Object>)]
    pub calendar_metadata: Option<serde_json::Value>,
    pub platform: String,
    /// Always null; kept for compatibility with the original API.
    #[schema(value_type = Option<String>)]
    pub user_id: Option<()>,
}

impl MeetingView {
    pub fn new(m: Meeting, is_owner: bool) -> Self {
        Self {
            id: m.id,
            room_name: m.room_name,
            room_url: m.room_url,
            host_room_url: if is_owner {
                m.host_room_url
            } else {
                String::new()
            },
            start_date: m.start_date,
            end_date: m.end_date,
            room_id: m.room_id,
            is_locked: m.is_locked,
            room_mode: m.room_mode,
            recording_type: m.recording_type,
            recording_trigger: m.recording_trigger,
            num_clients: m.num_clients,
            is_active: m.is_active,
            calendar_event_id: m.calendar_event_id,
            calendar_metadata: m
                .calendar_metadata
                .map(|metadata| calendar_metadata_for(metadata, is_owner)),
            platform: m.platform.to_string(),
            user_id: None,
        }
    }
}

/// A meeting's copy of its calendar event, as its room's calendar events are shown: others than
/// the owner get `description` and `attendees` as null (SPEC §4).
fn calendar_metadata_for(mut metadata: serde_json::Value, is_owner: bool) -> serde_json::Value {
    if !is_owner && let Some(fields) = metadata.as_object_mut() {
        for private in ["description", "attendees"] {
            if let Some(value) = fields.get_mut(private) {
                *value = serde_json::Value::Null;
            }
        }
    }
    metadata
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    pub status: &'static str,
}

/// A meeting's recording as the owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordingView {
    pub id: String,
    pub meeting_id: String,
    pub platform: String,
    /// The provider's id for the recording.
    pub platform_recording_id: String,
    /// `single` (one file) or `multitrack` (one audio file per participant).
    pub kind: String,
    /// `pending`, `downloading`, `stored` or `error`.
    pub status: String,
    /// Why it is in `error`.
    pub error: Option<String>,
    pub recorded_at: Option<DateTime<Utc>>,
    /// Seconds, from the media (or the provider) once stored.
    pub duration: Option<f64>,
    /// Files in our storage (tracks of a multitrack recording), once stored.
    pub tracks: usize,
    pub size_bytes: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl RecordingView {
    pub fn new(r: reflector_store::Recording) -> Self {
        Self {
            tracks: r.stored_keys().len(),
            kind: r.kind().to_owned(),
            status: r.status.as_str().to_owned(),
            id: r.id,
            meeting_id: r.meeting_id,
            platform: r.platform,
            platform_recording_id: r.platform_recording_id,
            error: r.error,
            recorded_at: r.recorded_at,
            duration: r.duration,
            size_bytes: r.size_bytes,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}
