//! Provider-neutral values exchanged with the [`crate::VideoPlatform`] trait.

use chrono::{DateTime, Utc};
use reflector_core::{RecordingTrigger, RecordingType, RoomMode};
use serde::{Deserialize, Serialize};

/// What a provider needs to create a meeting's room.
#[derive(Debug, Clone)]
pub struct CreateMeeting<'a> {
    /// Our room's name (validated `[a-z0-9-]{1,64}`).
    pub room_name: &'a str,
    pub start_date: DateTime<Utc>,
    pub end_date: DateTime<Utc>,
    pub is_locked: bool,
    pub room_mode: RoomMode,
    pub recording_type: RecordingType,
    pub recording_trigger: RecordingTrigger,
}

/// What a provider answered when it created a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderMeeting {
    pub platform_meeting_id: String,
    /// The provider's room name, in the provider's own form.
    pub room_name: String,
    pub room_url: String,
    pub host_room_url: String,
}

/// How to address an existing meeting at its provider.
#[derive(Debug, Clone, Copy)]
pub struct MeetingHandle<'a> {
    /// Our meeting id.
    pub meeting_id: &'a str,
    pub platform_meeting_id: &'a str,
    pub room_name: &'a str,
    pub room_url: &'a str,
    pub end_date: DateTime<Utc>,
}

impl<'a> From<&'a reflector_core::Meeting> for MeetingHandle<'a> {
    fn from(m: &'a reflector_core::Meeting) -> Self {
        Self {
            meeting_id: &m.id,
            platform_meeting_id: &m.platform_meeting_id,
            room_name: &m.room_name,
            room_url: &m.room_url,
            end_date: m.end_date,
        }
    }
}

/// One participant session as the provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSession {
    pub session_id: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// Someone in a meeting right now, as the provider's presence API reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentParticipant {
    pub session_id: String,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub joined_at: DateTime<Utc>,
}

/// Who spoke on one audio track of a multitrack recording, as the provider knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackSpeaker {
    /// The track's key in the provider's storage (as the recording's announcement or media
    /// names it).
    pub track: String,
    /// The participant's session id at the provider.
    pub session_id: String,
    pub user_id: Option<String>,
    /// The name they joined under.
    pub name: String,
}

/// Who is joining, for providers that mint per-user tokens.
#[derive(Debug, Clone)]
pub struct JoinRequest<'a> {
    pub user_id: Option<&'a str>,
    /// The person's display name when the sign-in gave one.
    pub user_name: Option<&'a str>,
    pub is_owner: bool,
    /// Let this person in without knocking. `false` only in a locked meeting, for someone the
    /// room's owner has not let in: they must get no credential that walks past the lobby.
    pub admit: bool,
    pub recording_type: RecordingType,
    pub skip_consent: bool,
}

/// A request from the browser to start a recording of a meeting.
#[derive(Debug, Clone)]
pub struct StartRecording<'a> {
    pub layout: RecordingLayout,
    /// The id the browser's call client started the recording instance with; the provider checks
    /// it belongs to this meeting, so two browsers cannot start two recordings of one layout.
    pub instance_id: &'a str,
}

/// What a recording captures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingLayout {
    /// One file of the whole call, composed by the provider.
    Composed,
    /// One file per participant track.
    Tracks,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordingStarted {
    Started,
    AlreadyActive,
}

/// Where a recording's media is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordingMedia {
    /// Objects in a bucket: one key for a single file, several for per-participant tracks.
    Bucket { bucket: String, keys: Vec<String> },
    /// A time-limited download link.
    Link {
        url: String,
        expires_at: DateTime<Utc>,
    },
    /// Download links that need no refreshing, one per file (the mock's tracks).
    Links { urls: Vec<String> },
    /// The provider has not finished the recording yet.
    NotReady { status: String },
}

/// The bucket a provider writes recordings into, with what reading it needs beyond our own S3
/// connection settings (which fill in what is `None`).
#[derive(Clone, PartialEq, Eq)]
pub struct RecordingBucket {
    pub bucket: String,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

impl std::fmt::Debug for RecordingBucket {
    // The keys are secrets: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingBucket")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// The result of a verified webhook delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookOutcome {
    /// A provider's endpoint check that carries no event; answer 200 and store nothing.
    Probe,
    Event(Box<ProviderEvent>),
}

/// A verified provider event, kept with its raw payload for the inbox.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderEvent {
    /// The provider's id for this delivery (stable across redeliveries).
    pub event_id: String,
    /// The provider's event type, as sent.
    pub event_type: String,
    pub kind: EventKind,
    /// The body's JSON text, as received.
    pub payload: String,
}

/// How an event names its meeting: providers use either their room name or their meeting id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MeetingKey {
    RoomName(String),
    PlatformMeetingId(String),
}

/// Provider-neutral meaning of an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EventKind {
    ParticipantJoined(Participant),
    ParticipantLeft(Participant),
    MeetingStarted {
        meeting: MeetingKey,
        at: DateTime<Utc>,
    },
    MeetingEnded {
        meeting: MeetingKey,
        at: DateTime<Utc>,
    },
    RecordingStarted {
        meeting: MeetingKey,
        recording_id: Option<String>,
        at: DateTime<Utc>,
    },
    RecordingReady(RecordingReady),
    RecordingError {
        meeting: MeetingKey,
        recording_id: Option<String>,
        error: String,
    },
    /// A type we do not act on; still stored and answered 200.
    Other,
}

impl EventKind {
    /// A join (`true`) or leave that changes nothing but the participant's session: one that
    /// carries no count of the provider's own (an event that does is applied on its own, so the
    /// newest count wins).
    pub fn session_change(&self) -> Option<(bool, &Participant)> {
        let (joined, p) = match self {
            Self::ParticipantJoined(p) => (true, p),
            Self::ParticipantLeft(p) => (false, p),
            _ => return None,
        };
        p.num_clients.is_none().then_some((joined, p))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Participant {
    pub meeting: MeetingKey,
    pub session_id: String,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub at: DateTime<Utc>,
    /// The provider's own count of clients after this event, where it sends one.
    pub num_clients: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingReady {
    pub meeting: MeetingKey,
    /// The provider's id for the recording, the same in every announcement of it (webhook,
    /// listing, bucket notification): it is what makes ingestion happen once.
    pub recording_id: String,
    /// `single` (one file) or `multitrack` (one file per participant).
    pub multitrack: bool,
    pub started_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<f64>,
    /// Object keys in the provider's bucket, when the event names them.
    pub keys: Vec<String>,
}

/// A queue of the provider bucket's object-created notifications (S3 event notifications over
/// SQS), read every `every`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingQueue {
    pub url: String,
    pub every: std::time::Duration,
}
