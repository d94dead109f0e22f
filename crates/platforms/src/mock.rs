//! The `mock` provider: needs no account. Its calls are pages served by this server at
//! `/mock-video/{room_name}` (it declares [`PAGE_PREFIX`] as its page prefix) where people join
//! and leave under a name, and its "cloud" is this process's memory: it resets on restart, as a
//! real provider's room is gone once it expires. Joining and leaving go straight into the event
//! sink rather than through webhooks (it has none: that is the trait's default). When the last
//! person leaves a cloud-recorded call it "records" it: one short generated WAV track per
//! participant (a tone each), announced as a multitrack recording and downloadable from its
//! pages, so the whole recording chain runs without a vendor account. It cannot start recordings
//! on request (the trait's `Unsupported` default).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reflector_core::{ConfigError, RecordingType};

use crate::registry::EventSink;
use crate::registry::{Configured, Provider, ProviderSetup};
use crate::{
    CreateMeeting, EventKind, JoinRequest, MeetingHandle, PlatformError, PresentParticipant,
    ProviderEvent, ProviderMeeting, ProviderSession, RecordingMedia, VideoPlatform,
};

pub const NAME: &str = "mock";

/// The first path segment of the call pages (`/mock-video/{room_name}`).
pub const PAGE_PREFIX: &str = "mock-video";

pub const PROVIDER: Provider = Provider { name: NAME, setup };

fn setup(setup: &ProviderSetup<'_>) -> Result<Configured, ConfigError> {
    Ok(Configured::Ready {
        platform: Arc::new(MockPlatform::new(setup.base_url, setup.events.clone())),
        rollout_rooms: Vec::new(),
    })
}

/// Sessions kept per room, so a page left joining in a loop cannot grow memory without bound.
const MAX_SESSIONS_PER_ROOM: usize = 500;
/// Recordings kept in memory (the oldest go first); each is a few tracks of 64 KB.
const MAX_RECORDINGS: usize = 20;
/// Tracks per recording at most (one per participant session).
const MAX_TRACKS: usize = 8;

#[derive(Debug, Clone)]
struct MockRoom {
    expires_at: DateTime<Utc>,
    sessions: Vec<MockSession>,
    /// Cloud-recorded: the call is recorded when it ends.
    records: bool,
    /// Sessions before this index were in calls already recorded.
    recorded_until: usize,
}

/// A finished mock recording: one WAV file per participant.
#[derive(Debug, Clone)]
struct MockRecording {
    id: String,
    room_name: String,
    tracks: Vec<Vec<u8>>,
}

#[derive(Debug, Clone)]
struct MockSession {
    session: ProviderSession,
    name: String,
}

#[derive(Default)]
struct MockCloud {
    rooms: Mutex<HashMap<String, MockRoom>>,
    recordings: Mutex<std::collections::VecDeque<MockRecording>>,
    events: Option<EventSink>,
}

impl MockCloud {
    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<String, MockRoom>> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn recordings(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<MockRecording>> {
        self.recordings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a call that just ended: a tone per participant session, announced at once.
    fn record(&self, room_name: &str, sessions: &[MockSession]) {
        let Some(started_at) = sessions.iter().map(|s| s.session.started_at).min() else {
            return;
        };
        let ended_at = sessions
            .iter()
            .filter_map(|s| s.session.ended_at)
            .max()
            .unwrap_or(started_at);
        let tracks: Vec<Vec<u8>> = (0..sessions.len().min(MAX_TRACKS))
            .map(|n| tone_wav(220.0 * (n as f64 + 1.0)))
            .collect();
        let id = uuid::Uuid::new_v4().to_string();
        {
            let mut recordings = self.recordings();
            if recordings.len() >= MAX_RECORDINGS {
                recordings.pop_front();
            }
            recordings.push_back(MockRecording {
                id: id.clone(),
                room_name: room_name.to_owned(),
                tracks,
            });
        }
        let duration = (ended_at - started_at).num_milliseconds() as f64 / 1000.0;
        self.emit(
            EventKind::RecordingReady(crate::RecordingReady {
                meeting: crate::MeetingKey::RoomName(room_name.to_owned()),
                recording_id: id.clone(),
                multitrack: true,
                started_at: Some(started_at),
                duration_seconds: Some(duration),
                keys: Vec::new(),
            }),
            "recording.ready",
            serde_json::json!({ "room": room_name, "recording_id": id }),
        );
    }

    /// Delivers an event as a real provider's webhook would. A full channel drops it: presence
    /// reconciliation corrects the drift, as it does for a webhook a real provider fails to send.
    fn emit(&self, kind: EventKind, event_type: &str, payload: serde_json::Value) {
        let Some(events) = &self.events else { return };
        let event = ProviderEvent {
            event_id: uuid::Uuid::new_v4().to_string(),
            event_type: event_type.to_owned(),
            kind,
            payload: payload.to_string(),
        };
        if events.try_send((NAME, event)).is_err() {
            tracing::warn!("mock provider event dropped: the event channel is full or closed");
        }
    }
}

pub struct MockPlatform {
    base_url: String,
    cloud: Arc<MockCloud>,
}

impl MockPlatform {
    pub fn new(base_url: &str, events: Option<EventSink>) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            cloud: Arc::new(MockCloud {
                rooms: Mutex::default(),
                recordings: Mutex::default(),
                events,
            }),
        }
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<String, MockRoom>> {
        self.cloud.rooms()
    }
}

#[async_trait]
impl VideoPlatform for MockPlatform {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn create_meeting(
        &self,
        request: &CreateMeeting<'_>,
    ) -> Result<ProviderMeeting, PlatformError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let room_name = format!("{}-{}", request.room_name, &id[..8]);
        let room_url = format!("{}/{PAGE_PREFIX}/{room_name}", self.base_url);
        self.rooms().insert(
            room_name.clone(),
            MockRoom {
                expires_at: request.end_date,
                sessions: Vec::new(),
                records: request.recording_type == RecordingType::Cloud,
                recorded_until: 0,
            },
        );
        Ok(ProviderMeeting {
            platform_meeting_id: id,
            host_room_url: format!("{room_url}?host=1"),
            room_url,
            room_name,
        })
    }

    async fn list_sessions(
        &self,
        meeting: &MeetingHandle<'_>,
    ) -> Result<Vec<ProviderSession>, PlatformError> {
        Ok(self
            .rooms()
            .get(meeting.room_name)
            .map(|r| r.sessions.iter().map(|s| s.session.clone()).collect())
            .unwrap_or_default())
    }

    /// Only the serving process knows its mock calls: elsewhere (a separate `reflector worker`,
    /// or after a restart) presence is unknown, never "nobody", so no session is closed for it.
    async fn presence(
        &self,
        meeting: &MeetingHandle<'_>,
    ) -> Result<Vec<PresentParticipant>, PlatformError> {
        let rooms = self.rooms();
        let room = rooms.get(meeting.room_name).ok_or_else(|| {
            PlatformError::unsupported(NAME, "presence for calls served by another process")
        })?;
        Ok(room
            .sessions
            .iter()
            .filter(|s| s.session.ended_at.is_none())
            .map(|s| PresentParticipant {
                session_id: s.session.session_id.clone(),
                user_id: None,
                user_name: Some(s.name.clone()),
                joined_at: s.session.started_at,
            })
            .collect())
    }

    async fn delete_meeting(&self, meeting: &MeetingHandle<'_>) -> Result<(), PlatformError> {
        self.rooms().remove(meeting.room_name);
        Ok(())
    }

    async fn extend_meeting(
        &self,
        meeting: &MeetingHandle<'_>,
        new_end: DateTime<Utc>,
    ) -> Result<(), PlatformError> {
        if let Some(room) = self.rooms().get_mut(meeting.room_name) {
            room.expires_at = new_end;
        }
        Ok(())
    }

    async fn join_url(
        &self,
        meeting: &MeetingHandle<'_>,
        _join: &JoinRequest<'_>,
    ) -> Result<String, PlatformError> {
        Ok(meeting.room_url.to_owned())
    }

    /// The tracks of a recording this process made, as links to its pages. Another process (a
    /// separate worker, or after a restart) does not have them.
    async fn recording_media(&self, recording_id: &str) -> Result<RecordingMedia, PlatformError> {
        let recordings = self.cloud.recordings();
        let recording = recordings
            .iter()
            .find(|r| r.id == recording_id)
            .ok_or_else(|| PlatformError::NotFound {
                platform: NAME,
                what: format!("recording {recording_id} (made by another process, or forgotten)"),
            })?;
        Ok(RecordingMedia::Links {
            urls: (0..recording.tracks.len())
                .map(|n| {
                    format!(
                        "{}/{PAGE_PREFIX}/{}/recordings/{}/{n}.wav",
                        self.base_url, recording.room_name, recording.id
                    )
                })
                .collect(),
        })
    }

    fn page_prefix(&self) -> Option<&'static str> {
        Some(PAGE_PREFIX)
    }

    fn pages(&self) -> Option<axum::Router> {
        Some(pages::router(self.cloud.clone()))
    }
}

/// The mock's call page and the little API it uses to join and leave, relative to
/// [`PAGE_PREFIX`] (the registry mounts them there).
mod pages {
    use std::sync::Arc;

    use axum::Json;
    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    use axum::response::{Html, IntoResponse, Response};
    use axum::routing::{delete, get};
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Serialize};

    use super::{MAX_SESSIONS_PER_ROOM, MockCloud, MockSession};
    use crate::{EventKind, MeetingKey, Participant, ProviderSession};

    pub(super) fn router(cloud: Arc<MockCloud>) -> axum::Router {
        axum::Router::new()
            .route("/{room_name}", get(page))
            .route("/{room_name}/sessions", get(list_sessions).post(join))
            .route("/{room_name}/sessions/{session_id}", delete(leave))
            .route("/{room_name}/recordings/{recording_id}/{track}", get(track))
            .with_state(cloud)
    }

    fn problem(status: StatusCode, detail: &str) -> Response {
        (status, Json(serde_json::json!({ "detail": detail }))).into_response()
    }

    fn no_room() -> Response {
        problem(
            StatusCode::NOT_FOUND,
            "This mock room does not exist: it has ended, or the server restarted since it was created.",
        )
    }

    #[derive(Serialize)]
    struct SessionView {
        session_id: String,
        name: String,
        joined_at: String,
        left_at: Option<String>,
    }

    async fn list_sessions(
        State(cloud): State<Arc<MockCloud>>,
        Path(room_name): Path<String>,
    ) -> Response {
        let rooms = cloud.rooms();
        let Some(room) = rooms.get(&room_name) else {
            return no_room();
        };
        let views: Vec<SessionView> = room
            .sessions
            .iter()
            .map(|s| SessionView {
                session_id: s.session.session_id.clone(),
                name: s.name.clone(),
                joined_at: s.session.started_at.to_rfc3339(),
                left_at: s.session.ended_at.map(|t| t.to_rfc3339()),
            })
            .collect();
        Json(views).into_response()
    }

    #[derive(Deserialize)]
    struct JoinBody {
        #[serde(default)]
        name: String,
    }

    async fn join(
        State(cloud): State<Arc<MockCloud>>,
        Path(room_name): Path<String>,
        body: Option<Json<JoinBody>>,
    ) -> Response {
        let now = Utc::now();
        let mut rooms = cloud.rooms();
        let Some(room) = rooms.get_mut(&room_name) else {
            return no_room();
        };
        if room.expires_at <= now {
            return problem(StatusCode::GONE, "This mock room has expired.");
        }
        if room.sessions.len() >= MAX_SESSIONS_PER_ROOM {
            return problem(
                StatusCode::CONFLICT,
                "This mock room has reached its session limit.",
            );
        }
        let name: String = body
            .map(|Json(b)| b.name.trim().chars().take(80).collect())
            .unwrap_or_default();
        let session_id = uuid::Uuid::new_v4().to_string();
        let name = if name.is_empty() {
            "Guest".into()
        } else {
            name
        };
        let first = room.sessions.iter().all(|s| s.session.ended_at.is_some());
        room.sessions.push(MockSession {
            session: ProviderSession {
                session_id: session_id.clone(),
                started_at: now,
                ended_at: None,
            },
            name: name.clone(),
        });
        drop(rooms);
        if first {
            cloud.emit(
                EventKind::MeetingStarted {
                    meeting: MeetingKey::RoomName(room_name.clone()),
                    at: now,
                },
                "meeting.started",
                serde_json::json!({ "room": room_name }),
            );
        }
        cloud.emit(
            EventKind::ParticipantJoined(participant(&room_name, &session_id, &name, now)),
            "participant.joined",
            serde_json::json!({ "room": room_name, "session_id": session_id, "user_name": name }),
        );
        (
            StatusCode::CREATED,
            Json(serde_json::json!({ "session_id": session_id })),
        )
            .into_response()
    }

    async fn leave(
        State(cloud): State<Arc<MockCloud>>,
        Path((room_name, session_id)): Path<(String, String)>,
    ) -> Response {
        let mut rooms = cloud.rooms();
        let Some(room) = rooms.get_mut(&room_name) else {
            return no_room();
        };
        let now = Utc::now();
        let Some(session) = room
            .sessions
            .iter_mut()
            .find(|s| s.session.session_id == session_id)
        else {
            return problem(StatusCode::NOT_FOUND, "No such session in this room.");
        };
        if session.session.ended_at.is_some() {
            return StatusCode::NO_CONTENT.into_response();
        }
        session.session.ended_at = Some(now);
        let name = session.name.clone();
        let last = room.sessions.iter().all(|s| s.session.ended_at.is_some());
        // Each call (from the first join after an empty room to the last leave) is recorded once.
        let call: Vec<MockSession> = if last && room.records {
            let recorded = room.recorded_until;
            room.recorded_until = room.sessions.len();
            room.sessions[recorded.min(room.sessions.len())..].to_vec()
        } else {
            Vec::new()
        };
        drop(rooms);
        if !call.is_empty() {
            cloud.record(&room_name, &call);
        }
        cloud.emit(
            EventKind::ParticipantLeft(participant(&room_name, &session_id, &name, now)),
            "participant.left",
            serde_json::json!({ "room": room_name, "session_id": session_id, "user_name": name }),
        );
        if last {
            cloud.emit(
                EventKind::MeetingEnded {
                    meeting: MeetingKey::RoomName(room_name.clone()),
                    at: now,
                },
                "meeting.ended",
                serde_json::json!({ "room": room_name }),
            );
        }
        StatusCode::NO_CONTENT.into_response()
    }

    async fn page(State(cloud): State<Arc<MockCloud>>, Path(room_name): Path<String>) -> Response {
        let exists = cloud.rooms().contains_key(&room_name);
        let status = if exists {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        };
        let name = html_escape(&room_name);
        let body = PAGE
            .replace("{{PREFIX}}", super::PAGE_PREFIX)
            .replace("{{ROOM}}", &name)
            .replace("{{EXISTS}}", if exists { "true" } else { "false" });
        (status, Html(body)).into_response()
    }

    async fn track(
        State(cloud): State<Arc<MockCloud>>,
        Path((room_name, recording_id, track)): Path<(String, String, String)>,
    ) -> Response {
        let recordings = cloud.recordings();
        let file = recordings
            .iter()
            .find(|r| r.id == recording_id && r.room_name == room_name)
            .and_then(|r| {
                let n: usize = track.strip_suffix(".wav")?.parse().ok()?;
                r.tracks.get(n).cloned()
            });
        match file {
            Some(bytes) => {
                ([(axum::http::header::CONTENT_TYPE, "audio/wav")], bytes).into_response()
            }
            None => problem(StatusCode::NOT_FOUND, "No such mock recording track."),
        }
    }

    fn participant(room: &str, session_id: &str, name: &str, at: DateTime<Utc>) -> Participant {
        Participant {
            meeting: MeetingKey::RoomName(room.to_owned()),
            session_id: session_id.to_owned(),
            user_id: None,
            user_name: Some(name.to_owned()),
            at,
            num_clients: None,
        }
    }

    fn html_escape(s: &str) -> String {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&#39;")
    }

    const PAGE: &str = include_str!("mock_page.html");
}

/// Two seconds of a sine tone at `frequency` Hz: 16 kHz mono 16-bit PCM WAV (64 KB).
fn tone_wav(frequency: f64) -> Vec<u8> {
    const RATE: u32 = 16_000;
    let samples = RATE * 2;
    let data_len = samples * 2;
    let mut wav = Vec::with_capacity(44 + data_len as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&RATE.to_le_bytes());
    wav.extend_from_slice(&(RATE * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..samples {
        let t = f64::from(i) / f64::from(RATE);
        let sample = (t * frequency * std::f64::consts::TAU).sin() * 8000.0;
        wav.extend_from_slice(&(sample as i16).to_le_bytes());
    }
    wav
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RecordingLayout, StartRecording, WebhookRejection};

    #[tokio::test]
    async fn the_mock_cannot_start_recordings_and_sends_no_webhooks() {
        let mock = MockPlatform::new("http://localhost:1250/", None);
        let meeting = MeetingHandle {
            meeting_id: "m1",
            platform_meeting_id: "p1",
            room_name: "team-1",
            room_url: "http://localhost:1250/mock-video/team-1",
            end_date: Utc::now(),
        };
        let start = StartRecording {
            layout: RecordingLayout::Composed,
            instance_id: "m1",
        };
        assert_eq!(
            mock.start_recording(&meeting, &start)
                .await
                .unwrap_err()
                .to_string(),
            "mock does not support starting recordings through an API"
        );
        assert!(matches!(
            mock.recording_media("r1").await,
            Err(PlatformError::NotFound { platform: NAME, .. })
        ));
        assert_eq!(mock.webhook_path(), None);
        let rejection = mock
            .verify_webhook(&::http::HeaderMap::new(), b"{}", Utc::now())
            .unwrap_err();
        assert!(
            matches!(rejection, WebhookRejection::Unsupported(_)),
            "{rejection:?}"
        );
        assert_eq!(rejection.to_string(), "mock does not support webhooks");
        // Presence of a room this process does not serve is unknown, not empty.
        assert!(matches!(
            mock.presence(&meeting).await,
            Err(PlatformError::Unsupported { platform: NAME, .. })
        ));
    }
}
