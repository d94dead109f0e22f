//! The `mock` provider: needs no account. Its rooms are pages served by this server at
//! `/mock-video/{room_name}`, and its "cloud" is this process's memory, so it resets on restart
//! just as a meeting on a real provider would be gone after it expires.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reflector_core::ConfigError;

use crate::registry::{Configured, Provider, ProviderSetup};
use crate::{
    CreateMeeting, JoinRequest, MeetingHandle, PlatformError, ProviderMeeting, ProviderSession,
    RecordingMedia, RecordingStarted, StartRecording, VideoPlatform, WebhookOutcome,
    WebhookRejection,
};

pub const NAME: &str = "mock";

pub const PROVIDER: Provider = Provider {
    name: NAME,
    setup,
};

fn setup(setup: &ProviderSetup<'_>) -> Result<Configured, ConfigError> {
    Ok(Configured::Ready {
        platform: Arc::new(MockPlatform::new(setup.base_url)),
        rollout_rooms: Vec::new(),
    })
}

#[derive(Debug, Clone)]
struct MockRoom {
    expires_at: DateTime<Utc>,
    sessions: Vec<ProviderSession>,
}

pub struct MockPlatform {
    base_url: String,
    rooms: Mutex<HashMap<String, MockRoom>>,
}

impl MockPlatform {
    pub fn new(base_url: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            rooms: Mutex::new(HashMap::new()),
        }
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<String, MockRoom>> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
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
        let room_url = format!("{}/mock-video/{room_name}", self.base_url);
        self.rooms().insert(
            room_name.clone(),
            MockRoom {
                expires_at: request.end_date,
                sessions: Vec::new(),
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
            .map(|r| r.sessions.clone())
            .unwrap_or_default())
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

    fn verify_webhook(
        &self,
        _headers: &::http::HeaderMap,
        _body: &[u8],
        _now: DateTime<Utc>,
    ) -> Result<WebhookOutcome, WebhookRejection> {
        Err(WebhookRejection::Malformed(
            "the mock provider does not send webhooks".into(),
        ))
    }

    fn webhook_path(&self) -> Option<&'static str> {
        None
    }

    async fn recording_media(&self, _recording_id: &str) -> Result<RecordingMedia, PlatformError> {
        Err(PlatformError::Unsupported {
            platform: NAME,
            capability: "cloud recordings",
        })
    }

    async fn start_recording(
        &self,
        _meeting: &MeetingHandle<'_>,
        _start: &StartRecording<'_>,
    ) -> Result<RecordingStarted, PlatformError> {
        Err(PlatformError::Unsupported {
            platform: NAME,
            capability: "starting recordings through an API",
        })
    }
}
