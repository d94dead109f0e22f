//! The Daily.co provider. It speaks Daily's REST API v1 with a bearer key (`/rooms`,
//! `/meeting-tokens`, `/meetings`, `/recordings`, `/rooms/{name}/recordings/start`) and verifies
//! Daily's signed webhooks (`X-Webhook-Signature`: base64 HMAC-SHA256 keyed with the base64-decoded
//! secret over `"{X-Webhook-Timestamp}." + body`).
//!
//! Each Reflector meeting gets its own Daily room, named `{room}-{YYYYMMDDHHMMSS UTC}-{4 hex}`;
//! the random suffix keeps two meetings of one room created in the same second apart.
//!
//! Recording (`enable_recording`, following Daily's recording guide): `local` rooms get `"local"`.
//! `cloud` rooms without the customer bucket get `"cloud"` (composed recordings kept by Daily and
//! downloaded through an access link). `cloud` rooms with the customer bucket get
//! `"raw-tracks"` plus `recordings_bucket`: Daily only writes raw tracks into a customer bucket,
//! the room-level value is the type the room allows by default, and the browser starts the
//! recordings through [`VideoPlatform::start_recording`] with an explicit layout (tracks, sent as
//! Daily's `raw-tracks`, and a composed one alongside, sent as `cloud`), both written into the
//! bucket. `none` rooms get no `enable_recording`, so nobody can record.
//!
//! Daily limits request rates (about 20/s in general, 2/s for recording reads and room deletion,
//! 1/s for starting recordings); this module waits on in-process limiters before each call so a
//! burst of work never trips them.

use std::num::NonZeroU32;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use hmac::{Hmac, Mac};
use reflector_core::webhook::signed_at_is_recent;
use reflector_core::{ConfigError, RecordingType};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use crate::client::ApiClient;
use crate::registry::{Configured, Provider, ProviderSetup};
use crate::wire;
use crate::wire::{
    Page, call_url, collect_pages, lenient_f64, lenient_string, lenient_vec, path_segment,
    rfc3339_time, unix_time,
};
use crate::{
    CreateMeeting, EventKind, JoinRequest, MeetingHandle, MeetingKey, Participant, PlatformError,
    PresentParticipant, ProviderEvent, ProviderMeeting, ProviderSession, RecordingLayout,
    RecordingMedia, RecordingReady, RecordingStarted, StartRecording, TrackSpeaker, VideoPlatform,
    WebhookOutcome, WebhookRejection,
};

pub const NAME: &str = "daily";

pub const PROVIDER: Provider = Provider { name: NAME, setup };

const API_KEY: &str = "DAILY_API_KEY";
const API_URL: &str = "DAILY_API_URL";
const DEFAULT_API_URL: &str = "https://api.daily.co/v1";
const WEBHOOK_SECRET: &str = "DAILY_WEBHOOK_SECRET";
const BUCKET_NAME: &str = "DAILYCO_STORAGE_AWS_BUCKET_NAME";
const BUCKET_REGION: &str = "DAILYCO_STORAGE_AWS_REGION";
const BUCKET_ROLE_ARN: &str = "DAILYCO_STORAGE_AWS_ROLE_ARN";
const RECORDING_POLL_INTERVAL: &str = "DAILY_RECORDING_POLL_INTERVAL_SECONDS";
const MIGRATION_ENABLED: &str = "DAILY_MIGRATION_ENABLED";
const MIGRATION_ROOM_IDS: &str = "DAILY_MIGRATION_ROOM_IDS";

const SIGNATURE_HEADER: &str = "X-Webhook-Signature";
/// Longer than Daily's endpoint probe `{"test":"test"}` with any whitespace it may carry.
const PROBE_MAX_BYTES: usize = 256;
const TIMESTAMP_HEADER: &str = "X-Webhook-Timestamp";

/// Daily room names: `[A-Za-z0-9_-]`, at most this long.
const ROOM_NAME_MAX: usize = 128;
/// Daily caps meeting-token `user_id` at 36 characters.
const USER_ID_MAX: usize = 36;
/// Access links live at most 12 hours; ask for all of it so slow downloads can finish.
const ACCESS_LINK_SECS: &str = "43200";
/// Daily's largest page size for list endpoints.
const PAGE_LIMIT: usize = 100;
/// A room's meeting sessions fit in a few pages; more means the API is looping.
const MAX_SESSION_PAGES: usize = 20;
/// Pages of `GET /recordings` one poll reads at most (newest first).
const MAX_RECORDING_PAGES: usize = 10;
/// Multitrack recordings: the per-participant audio tracks carry this in their key.
const AUDIO_TRACK_MARK: &str = "cam-audio";
/// Namespace of raw-tracks instance ids (shared with the web client, which derives the same id).
const RAW_TRACKS_NAMESPACE: Uuid = Uuid::from_u128(0xa1b2c3d4_e5f6_7890_abcd_ef1234567890);

/// The instance id a raw-tracks recording of our meeting `meeting_id` is started with:
/// UUIDv5 of the meeting id in a fixed namespace, so browser and server agree without talking.
pub fn raw_tracks_instance_id(meeting_id: &str) -> Uuid {
    Uuid::new_v5(&RAW_TRACKS_NAMESPACE, meeting_id.as_bytes())
}

fn setup(setup: &ProviderSetup<'_>) -> Result<Configured, ConfigError> {
    let env = setup.env;
    let Some(api_key) = env.get(API_KEY) else {
        return Ok(Configured::Missing { setting: API_KEY });
    };
    let api_url = env.url_or(API_URL, DEFAULT_API_URL)?;
    let webhook_secret = match env.get(WEBHOOK_SECRET) {
        Some(raw) => Some(BASE64.decode(raw).map_err(|e| {
            ConfigError::new(
                WEBHOOK_SECRET,
                format!("not valid base64 ({e}); copy it as Daily shows it"),
            )
        })?),
        None => None,
    };
    let bucket = match env.get(BUCKET_NAME) {
        Some(name) => Some(CustomerBucket {
            name: name.to_owned(),
            region: env.require(BUCKET_REGION)?.to_owned(),
            role_arn: env.require(BUCKET_ROLE_ARN)?.to_owned(),
        }),
        None => None,
    };
    let rollout_rooms = if env.bool_or(MIGRATION_ENABLED, false)? {
        env.list(MIGRATION_ROOM_IDS)?
    } else {
        Vec::new()
    };
    // The poll is the fallback for missed webhooks: rarely needed when Daily sends them.
    let poll_default = if webhook_secret.is_some() { 180 } else { 15 };
    let poll_seconds: u64 = env.parse_or(RECORDING_POLL_INTERVAL, poll_default)?;
    if poll_seconds == 0 {
        return Err(ConfigError::new(
            RECORDING_POLL_INTERVAL,
            "must be at least 1",
        ));
    }
    let platform = DailyPlatform {
        api: ApiClient::new(NAME, &api_url, api_key, API_KEY, setup.retry.clone()),
        recording_poll: std::time::Duration::from_secs(poll_seconds),
        webhook_secret,
        bucket,
        limits: Limits::new(),
    };
    Ok(Configured::Ready {
        platform: Arc::new(platform),
        rollout_rooms,
    })
}

/// The customer bucket Daily writes recordings into, by assuming `role_arn`.
struct CustomerBucket {
    name: String,
    region: String,
    role_arn: String,
}

/// Per-process limiters below Daily's published rates.
struct Limits {
    general: DefaultDirectRateLimiter,
    /// `GET /recordings…` and room deletion.
    recordings: DefaultDirectRateLimiter,
    /// `POST /rooms/{name}/recordings/start`.
    recording_start: DefaultDirectRateLimiter,
}

impl Limits {
    fn new() -> Self {
        let per_second = |n: u32| {
            RateLimiter::direct(Quota::per_second(
                NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN),
            ))
        };
        Self {
            general: per_second(20),
            recordings: per_second(2),
            recording_start: per_second(1),
        }
    }
}

#[derive(Clone, Copy)]
enum Limit {
    General,
    Recordings,
    RecordingStart,
}

/// Built only by [`PROVIDER`]'s setup. Deliberately not `Debug`: it holds secrets.
pub struct DailyPlatform {
    api: ApiClient,
    recording_poll: std::time::Duration,
    /// Already base64-decoded: Daily keys the HMAC with the decoded bytes.
    webhook_secret: Option<Vec<u8>>,
    bucket: Option<CustomerBucket>,
    limits: Limits,
}

// ---- wire types (Daily's JSON) ----

#[derive(Deserialize)]
struct PresenceWire {
    #[serde(default)]
    data: Vec<PresentWire>,
}

#[derive(Deserialize)]
struct PresentWire {
    #[serde(default, deserialize_with = "lenient_string")]
    id: Option<String>,
    #[serde(default, rename = "userId", deserialize_with = "lenient_string")]
    user_id: Option<String>,
    #[serde(default, rename = "userName", deserialize_with = "lenient_string")]
    user_name: Option<String>,
    #[serde(default, rename = "joinTime", deserialize_with = "lenient_string")]
    join_time: Option<String>,
}

#[derive(Serialize)]
struct CreateRoomBody<'a> {
    name: String,
    privacy: &'static str,
    properties: RoomProperties<'a>,
}

#[derive(Serialize)]
struct RoomProperties<'a> {
    exp: i64,
    enable_knocking: bool,
    enable_chat: bool,
    enable_screenshare: bool,
    start_video_off: bool,
    start_audio_off: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    enable_recording: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recordings_bucket: Option<RecordingsBucket<'a>>,
}

#[derive(Serialize)]
struct RecordingsBucket<'a> {
    bucket_name: &'a str,
    bucket_region: &'a str,
    assume_role_arn: &'a str,
    allow_api_access: bool,
}

#[derive(Serialize)]
struct ExtendBody {
    properties: ExtendProperties,
}

#[derive(Serialize)]
struct ExtendProperties {
    exp: i64,
}

#[derive(Serialize)]
struct TokenBody<'a> {
    properties: TokenProperties<'a>,
}

#[derive(Serialize)]
struct TokenProperties<'a> {
    room_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    is_owner: bool,
    enable_recording_ui: bool,
    exp: i64,
}

#[derive(Serialize)]
struct StartRecordingBody {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "instanceId")]
    instance_id: String,
}

#[derive(Deserialize)]
struct CreatedRoom {
    #[serde(default, deserialize_with = "lenient_string")]
    id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    url: Option<String>,
}

#[derive(Deserialize)]
struct Token {
    #[serde(default, deserialize_with = "lenient_string")]
    token: Option<String>,
}

#[derive(Deserialize)]
struct MeetingsPage {
    #[serde(default)]
    data: Vec<MeetingWire>,
}

#[derive(Deserialize)]
struct MeetingWire {
    #[serde(default, deserialize_with = "lenient_string")]
    id: Option<String>,
    #[serde(default, deserialize_with = "lenient_f64")]
    start_time: Option<f64>,
    #[serde(default, deserialize_with = "lenient_f64")]
    duration: Option<f64>,
    #[serde(default)]
    ongoing: bool,
}

#[derive(Deserialize)]
struct RecordingsPage {
    #[serde(default, deserialize_with = "lenient_vec")]
    data: Vec<ListedRecordingWire>,
}

/// One recording of `GET /recordings`. Everything is optional: an entry we cannot use is skipped,
/// never the whole page (statuses we do not know, null durations).
#[derive(Deserialize, Default)]
#[serde(default)]
struct ListedRecordingWire {
    #[serde(deserialize_with = "lenient_string")]
    id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    room_name: Option<String>,
    #[serde(deserialize_with = "lenient_f64")]
    start_ts: Option<f64>,
    #[serde(deserialize_with = "lenient_string")]
    status: Option<String>,
    #[serde(deserialize_with = "lenient_f64")]
    duration: Option<f64>,
    #[serde(deserialize_with = "lenient_string")]
    s3key: Option<String>,
    #[serde(deserialize_with = "lenient_vec")]
    tracks: Vec<TrackWire>,
}

#[derive(Deserialize)]
struct RecordingWire {
    #[serde(default, deserialize_with = "lenient_string")]
    status: Option<String>,
    /// The meeting session it recorded (for `GET /meetings/{id}/participants`).
    #[serde(default, rename = "mtgSessionId", deserialize_with = "lenient_string")]
    mtg_session_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    s3key: Option<String>,
    #[serde(default, deserialize_with = "lenient_vec")]
    tracks: Vec<TrackWire>,
}

#[derive(Deserialize)]
struct MeetingParticipantsPage {
    #[serde(default, deserialize_with = "lenient_vec")]
    data: Vec<MeetingParticipantWire>,
}

/// One participant of `GET /meetings/{id}/participants`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct MeetingParticipantWire {
    #[serde(deserialize_with = "lenient_string")]
    participant_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    user_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    user_name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TrackWire {
    #[serde(
        rename = "s3Key",
        alias = "s3_key",
        deserialize_with = "lenient_string"
    )]
    s3_key: Option<String>,
}

#[derive(Deserialize)]
struct AccessLink {
    #[serde(default, deserialize_with = "lenient_string")]
    download_link: Option<String>,
    #[serde(default, deserialize_with = "lenient_f64")]
    expires: Option<f64>,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default, deserialize_with = "lenient_string")]
    id: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "lenient_string")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "lenient_f64")]
    event_ts: Option<f64>,
    #[serde(default)]
    payload: serde_json::Value,
}

/// The fields of every event payload we read; each event uses a subset.
#[derive(Deserialize, Default)]
#[serde(default)]
struct EventPayload {
    #[serde(deserialize_with = "lenient_string")]
    room: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    room_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    session_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    user_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    user_name: Option<String>,
    #[serde(deserialize_with = "lenient_f64")]
    joined_at: Option<f64>,
    #[serde(deserialize_with = "lenient_f64")]
    duration: Option<f64>,
    #[serde(deserialize_with = "lenient_f64")]
    start_ts: Option<f64>,
    #[serde(deserialize_with = "lenient_f64")]
    end_ts: Option<f64>,
    #[serde(rename = "type", deserialize_with = "lenient_string")]
    recording_type: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    recording_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    s3_key: Option<String>,
    #[serde(deserialize_with = "lenient_vec")]
    tracks: Vec<TrackWire>,
    #[serde(deserialize_with = "lenient_string")]
    error_msg: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    error: Option<String>,
}

#[async_trait]
impl VideoPlatform for DailyPlatform {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn create_meeting(
        &self,
        request: &CreateMeeting<'_>,
    ) -> Result<ProviderMeeting, PlatformError> {
        let (enable_recording, recordings_bucket) = match request.recording_type {
            RecordingType::None => (None, None),
            RecordingType::Local => (Some("local"), None),
            RecordingType::Cloud => match &self.bucket {
                Some(bucket) => (
                    Some("raw-tracks"),
                    Some(RecordingsBucket {
                        bucket_name: &bucket.name,
                        bucket_region: &bucket.region,
                        assume_role_arn: &bucket.role_arn,
                        allow_api_access: true,
                    }),
                ),
                None => (Some("cloud"), None),
            },
        };
        let body = CreateRoomBody {
            name: daily_room_name(request.room_name, request.start_date, rand::random()),
            privacy: if request.is_locked {
                "private"
            } else {
                "public"
            },
            properties: RoomProperties {
                exp: request.end_date.timestamp(),
                enable_knocking: request.is_locked,
                enable_chat: true,
                enable_screenshare: true,
                start_video_off: false,
                start_audio_off: false,
                enable_recording,
                recordings_bucket,
            },
        };
        self.wait(Limit::General).await;
        let created: CreatedRoom = self.api.post_json("/rooms", &body).await?;
        let missing = |field: &str| PlatformError::BadResponse {
            platform: NAME,
            detail: format!("created room has no {field}"),
        };
        let url = call_url(NAME, "url", created.url.ok_or_else(|| missing("url"))?)?;
        Ok(ProviderMeeting {
            platform_meeting_id: created.id.ok_or_else(|| missing("id"))?,
            room_name: created.name.ok_or_else(|| missing("name"))?,
            host_room_url: url.clone(),
            room_url: url,
        })
    }

    async fn list_sessions(
        &self,
        meeting: &MeetingHandle<'_>,
    ) -> Result<Vec<ProviderSession>, PlatformError> {
        let limit = PAGE_LIMIT.to_string();
        let limit = limit.as_str();
        // A full page may have more after it: the next starts after its last meeting.
        collect_pages(NAME, "meetings", MAX_SESSION_PAGES, |after| async move {
            let mut query = vec![("room", meeting.room_name), ("limit", limit)];
            if let Some(after) = &after {
                query.push(("starting_after", after.as_str()));
            }
            self.wait(Limit::General).await;
            let page: MeetingsPage = self.api.get_json("/meetings", &query).await?;
            let next = match page.data.last() {
                Some(last) if page.data.len() >= PAGE_LIMIT => last.id.clone(),
                _ => None,
            };
            Ok(Page {
                next,
                items: page.data.into_iter().filter_map(session).collect(),
            })
        })
        .await
    }

    /// `GET /rooms/{name}/presence`: the participants in the room now.
    async fn presence(
        &self,
        meeting: &MeetingHandle<'_>,
    ) -> Result<Vec<PresentParticipant>, PlatformError> {
        self.wait(Limit::General).await;
        let path = format!("/rooms/{}/presence", path_segment(meeting.room_name));
        let presence: PresenceWire = self.api.get_json(&path, &[]).await?;
        Ok(presence
            .data
            .into_iter()
            .filter_map(|p| {
                Some(PresentParticipant {
                    session_id: p.id?,
                    user_id: p.user_id,
                    user_name: p.user_name,
                    joined_at: p.join_time.as_deref().and_then(rfc3339_time)?,
                })
            })
            .collect())
    }

    async fn delete_meeting(&self, meeting: &MeetingHandle<'_>) -> Result<(), PlatformError> {
        let path = format!("/rooms/{}", path_segment(meeting.room_name));
        self.wait(Limit::Recordings).await;
        match self.api.send(Method::DELETE, &path, &[], None::<&()>).await {
            Ok(_) | Err(PlatformError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn extend_meeting(
        &self,
        meeting: &MeetingHandle<'_>,
        new_end: DateTime<Utc>,
    ) -> Result<(), PlatformError> {
        let path = format!("/rooms/{}", path_segment(meeting.room_name));
        let body = ExtendBody {
            properties: ExtendProperties {
                exp: new_end.timestamp(),
            },
        };
        self.wait(Limit::General).await;
        self.api.send(Method::POST, &path, &[], Some(&body)).await?;
        Ok(())
    }

    async fn join_url(
        &self,
        meeting: &MeetingHandle<'_>,
        join: &JoinRequest<'_>,
    ) -> Result<String, PlatformError> {
        // Any meeting token opens a private room without knocking, so whoever must knock gets
        // the bare room URL: Daily's lobby then asks them to knock.
        if !join.admit {
            return Ok(meeting.room_url.to_owned());
        }
        let enable_recording_ui = match join.recording_type {
            RecordingType::Local => true,
            RecordingType::Cloud => join.skip_consent,
            RecordingType::None => false,
        };
        let body = TokenBody {
            properties: TokenProperties {
                room_name: meeting.room_name,
                user_id: join
                    .user_id
                    .map(|id| id.chars().take(USER_ID_MAX).collect()),
                is_owner: join.is_owner,
                enable_recording_ui,
                exp: meeting.end_date.timestamp(),
            },
        };
        self.wait(Limit::General).await;
        let token: Token = self.api.post_json("/meeting-tokens", &body).await?;
        let token = token.token.ok_or(PlatformError::BadResponse {
            platform: NAME,
            detail: "meeting token answer has no token".into(),
        })?;
        let separator = if meeting.room_url.contains('?') {
            '&'
        } else {
            '?'
        };
        let token: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
        Ok(format!("{}{separator}t={token}", meeting.room_url))
    }

    fn verify_webhook(
        &self,
        headers: &::http::HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<WebhookOutcome, WebhookRejection> {
        // Daily checks a new endpoint with an unsigned probe and disables endpoints that fail it.
        // Only a short body can be the probe, so an unsigned large one is not parsed for it.
        // A short body is parsed once, here, and the parse kept for the event.
        let parsed = (body.len() <= PROBE_MAX_BYTES)
            .then(|| serde_json::from_slice::<serde_json::Value>(body));
        if let Some(Ok(v)) = &parsed
            && v.as_object().is_some_and(|o| {
                o.len() == 1 && o.get("test").and_then(|t| t.as_str()) == Some("test")
            })
        {
            return Ok(WebhookOutcome::Probe);
        }
        let secret = self
            .webhook_secret
            .as_deref()
            .ok_or(WebhookRejection::NotConfigured {
                setting: WEBHOOK_SECRET,
            })?;
        let header = |name: &'static str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .ok_or(WebhookRejection::MissingSignature { header: name })
        };
        let signature = header(SIGNATURE_HEADER)?;
        let timestamp = header(TIMESTAMP_HEADER)?;
        // Daily redelivers failed events later with their original signature, so the window is
        // as long as the inbox remembers event ids: a replay within it is a recognised duplicate,
        // and one after it is refused here. Checked before the MAC, which costs a pass over the body.
        let signed_at = signed_time(timestamp).ok_or(WebhookRejection::BadSignature)?;
        if !signed_at_is_recent(signed_at, now) {
            return Err(WebhookRejection::Stale);
        }
        verify_signature(secret, timestamp, signature, body)?;
        let payload = match parsed {
            Some(parsed) => parsed,
            None => serde_json::from_slice(body),
        }
        .map_err(|e| WebhookRejection::Malformed(format!("body is not JSON: {e}")))?;
        event_from(payload, body, now).map(|e| WebhookOutcome::Event(Box::new(e)))
    }

    fn webhook_path(&self) -> Option<&'static str> {
        Some("/daily/webhook")
    }

    async fn recording_media(&self, recording_id: &str) -> Result<RecordingMedia, PlatformError> {
        let path = format!("/recordings/{}", path_segment(recording_id));
        self.wait(Limit::Recordings).await;
        let recording: RecordingWire = self.api.get_json(&path, &[]).await?;
        let status = recording.status.unwrap_or_else(|| "unknown".to_owned());
        if status != "finished" {
            return Ok(RecordingMedia::NotReady { status });
        }
        if let Some(bucket) = &self.bucket {
            let audio_tracks = audio_track_keys(&recording.tracks);
            let keys = if !audio_tracks.is_empty() {
                audio_tracks
            } else if let Some(key) = recording.s3key {
                vec![key]
            } else {
                return Err(PlatformError::BadResponse {
                    platform: NAME,
                    detail: format!(
                        "finished recording {recording_id} names no s3key or audio tracks"
                    ),
                });
            };
            return Ok(RecordingMedia::Bucket {
                bucket: bucket.name.clone(),
                keys,
            });
        }
        self.wait(Limit::Recordings).await;
        let link: AccessLink = self
            .api
            .get_json(
                &format!("{path}/access-link"),
                &[("valid_for_secs", ACCESS_LINK_SECS)],
            )
            .await?;
        let bad = |detail: &str| PlatformError::BadResponse {
            platform: NAME,
            detail: format!("access link for {recording_id}: {detail}"),
        };
        Ok(RecordingMedia::Link {
            url: link.download_link.ok_or_else(|| bad("no download_link"))?,
            expires_at: link
                .expires
                .and_then(unix_time)
                .ok_or_else(|| bad("no expires"))?,
        })
    }

    /// `GET /recordings/{id}` for its meeting session and audio tracks, then that session's
    /// `GET /meetings/{mtgSessionId}/participants?limit=100` (paged with `joined_after`, the
    /// last participant's id; Daily answers 404 once none is left). A raw track's key holds its
    /// participant's session id (`…-{participant_id}-cam-audio-…`).
    async fn recording_speakers(
        &self,
        recording_id: &str,
    ) -> Result<Vec<TrackSpeaker>, PlatformError> {
        let path = format!("/recordings/{}", path_segment(recording_id));
        self.wait(Limit::Recordings).await;
        let recording: RecordingWire = self.api.get_json(&path, &[]).await?;
        let tracks = audio_track_keys(&recording.tracks);
        let Some(session) = recording.mtg_session_id.filter(|_| !tracks.is_empty()) else {
            return Ok(Vec::new());
        };
        let path = format!("/meetings/{}/participants", path_segment(&session));
        let limit = PAGE_LIMIT.to_string();
        let (path, limit) = (path.as_str(), limit.as_str());
        let people = collect_pages(
            NAME,
            "participants",
            MAX_SESSION_PAGES,
            |after| async move {
                let mut query = vec![("limit", limit)];
                if let Some(after) = &after {
                    query.push(("joined_after", after.as_str()));
                }
                self.wait(Limit::General).await;
                let page: MeetingParticipantsPage = match self.api.get_json(path, &query).await {
                    Ok(page) => page,
                    // Past the last participant.
                    Err(PlatformError::NotFound { .. }) => {
                        MeetingParticipantsPage { data: Vec::new() }
                    }
                    Err(e) => return Err(e),
                };
                let next = match page.data.last() {
                    Some(last) if page.data.len() >= PAGE_LIMIT => last.participant_id.clone(),
                    _ => None,
                };
                Ok(Page {
                    next,
                    items: page.data,
                })
            },
        )
        .await?;
        Ok(tracks
            .into_iter()
            .filter_map(|track| {
                let person = people.iter().find(|p| {
                    p.participant_id
                        .as_deref()
                        .is_some_and(|id| !id.is_empty() && track.contains(id))
                })?;
                Some(TrackSpeaker {
                    session_id: person.participant_id.clone()?,
                    user_id: person.user_id.clone(),
                    name: person.user_name.clone().filter(|n| !n.trim().is_empty())?,
                    track,
                })
            })
            .collect())
    }

    /// `GET /recordings?limit=100&starting_after=…`, newest first, until a page reaches
    /// recordings older than `since` (or [`MAX_RECORDING_PAGES`]). Paced at Daily's 2 req/s.
    async fn list_recordings(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<RecordingReady>, PlatformError> {
        let limit = PAGE_LIMIT.to_string();
        let mut after: Option<String> = None;
        let mut found = Vec::new();
        for _ in 0..MAX_RECORDING_PAGES {
            let mut query = vec![("limit", limit.as_str())];
            if let Some(after) = &after {
                query.push(("starting_after", after.as_str()));
            }
            self.wait(Limit::Recordings).await;
            let page: RecordingsPage = self.api.get_json("/recordings", &query).await?;
            let full = page.data.len() >= PAGE_LIMIT;
            let next = page.data.last().and_then(|r| r.id.clone());
            let mut older = false;
            for wire in page.data {
                let started_at = wire.start_ts.and_then(unix_time);
                if started_at.is_some_and(|t| t < since) {
                    older = true;
                    continue;
                }
                if let Some(ready) = listed_recording(wire) {
                    found.push(ready);
                }
            }
            if older || !full || next.is_none() || next == after {
                return Ok(found);
            }
            after = next;
        }
        tracing::warn!(
            pages = MAX_RECORDING_PAGES,
            "daily recordings poll stopped at its page limit"
        );
        Ok(found)
    }

    fn recording_poll_interval(&self) -> Option<std::time::Duration> {
        Some(self.recording_poll)
    }

    fn recording_bucket(&self) -> Option<crate::RecordingBucket> {
        self.bucket.as_ref().map(|b| crate::RecordingBucket {
            bucket: b.name.clone(),
            region: Some(b.region.clone()),
            // Daily writes with the role it assumes; we read with our own storage keys.
            access_key_id: None,
            secret_access_key: None,
        })
    }

    async fn start_recording(
        &self,
        meeting: &MeetingHandle<'_>,
        start: &StartRecording<'_>,
    ) -> Result<RecordingStarted, PlatformError> {
        let invalid = |detail: String| PlatformError::InvalidRequest {
            platform: NAME,
            detail,
        };
        let kind = recording_kind(start.layout);
        let expected = match start.layout {
            RecordingLayout::Composed => meeting.meeting_id.to_owned(),
            RecordingLayout::Tracks => {
                if self.bucket.is_none() {
                    return Err(PlatformError::NotConfigured {
                        platform: NAME,
                        setting: BUCKET_NAME,
                    });
                }
                raw_tracks_instance_id(meeting.meeting_id).to_string()
            }
        };
        // The instance id is what keeps two browsers from starting two recordings of one kind,
        // so only the one derived from the meeting is accepted.
        if !same_id(start.instance_id, &expected) {
            return Err(invalid(format!(
                "instanceId {:?} does not belong to this meeting's {kind} recording",
                start.instance_id
            )));
        }
        let path = format!(
            "/rooms/{}/recordings/start",
            path_segment(meeting.room_name)
        );
        let body = StartRecordingBody {
            kind,
            instance_id: expected,
        };
        self.wait(Limit::RecordingStart).await;
        match self.api.send(Method::POST, &path, &[], Some(&body)).await {
            Ok(_) => Ok(RecordingStarted::Started),
            Err(e) if already_active(&e) => Ok(RecordingStarted::AlreadyActive),
            Err(e) => Err(e),
        }
    }
}

impl DailyPlatform {
    async fn wait(&self, limit: Limit) {
        self.limits.general.until_ready().await;
        match limit {
            Limit::General => {}
            Limit::Recordings => self.limits.recordings.until_ready().await,
            Limit::RecordingStart => self.limits.recording_start.until_ready().await,
        }
    }
}

/// `{room}-{YYYYMMDDHHMMSS}-{suffix as 4 hex}`, restricted to Daily's name alphabet and length.
fn daily_room_name(room_name: &str, start: DateTime<Utc>, suffix: u16) -> String {
    let tail = format!("-{}-{suffix:04x}", start.format("%Y%m%d%H%M%S"));
    let base: String = room_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(ROOM_NAME_MAX - tail.len())
        .collect();
    format!("{base}{tail}")
}

fn session(wire: MeetingWire) -> Option<ProviderSession> {
    let (Some(session_id), Some(start)) = (wire.id, wire.start_time) else {
        tracing::warn!("daily meeting session without id or start_time; ignored");
        return None;
    };
    let started_at = unix_time(start)?;
    let ended_at = if wire.ongoing {
        None
    } else {
        unix_time(start + wire.duration.unwrap_or(0.0))
    };
    Some(ProviderSession {
        session_id,
        started_at,
        ended_at,
    })
}

/// A finished recording of the listing, or `None` (in progress, or lacking what we need).
fn listed_recording(wire: ListedRecordingWire) -> Option<RecordingReady> {
    let status = wire.status.as_deref().unwrap_or("unknown");
    if status != "finished" {
        tracing::debug!(status, id = ?wire.id, "daily recording not finished; not ingested yet");
        return None;
    }
    let (Some(recording_id), Some(room_name)) = (wire.id, wire.room_name) else {
        tracing::warn!("daily recording without id or room_name; skipped");
        return None;
    };
    let audio_tracks = audio_track_keys(&wire.tracks);
    let multitrack = !wire.tracks.is_empty();
    Some(RecordingReady {
        meeting: MeetingKey::RoomName(room_name),
        recording_id,
        multitrack,
        started_at: wire.start_ts.and_then(unix_time),
        duration_seconds: wire.duration,
        keys: if multitrack {
            audio_tracks
        } else {
            wire.s3key.into_iter().collect()
        },
    })
}

fn audio_track_keys(tracks: &[TrackWire]) -> Vec<String> {
    tracks
        .iter()
        .filter_map(|t| t.s3_key.as_deref())
        .filter(|key| key.contains(AUDIO_TRACK_MARK))
        .map(str::to_owned)
        .collect()
}

/// Daily's `type` for a recording of this layout: a composed `cloud` recording, or `raw-tracks`.
fn recording_kind(layout: RecordingLayout) -> &'static str {
    match layout {
        RecordingLayout::Composed => "cloud",
        RecordingLayout::Tracks => "raw-tracks",
    }
}

/// Daily answers a second start of a running instance with this phrase in its error.
fn already_active(error: &PlatformError) -> bool {
    match error {
        PlatformError::Rejected { detail, .. } => detail.contains("has an active stream"),
        _ => false,
    }
}

/// Ids compare as UUIDs when both parse (case and hyphens do not matter), else as text.
fn same_id(given: &str, expected: &str) -> bool {
    match (Uuid::parse_str(given.trim()), Uuid::parse_str(expected)) {
        (Ok(a), Ok(b)) => a == b,
        _ => given.trim() == expected,
    }
}

/// `X-Webhook-Timestamp`: unix seconds, whole or fractional. A value too large to be seconds
/// (after the year 5000) is read as milliseconds, in case a delivery sends those.
fn signed_time(raw: &str) -> Option<DateTime<Utc>> {
    let value: f64 = raw.parse().ok()?;
    unix_time(if value > 1e11 { value / 1000.0 } else { value })
}

/// One MAC over the body, compared in constant time with the one signature Daily sends.
fn verify_signature(
    secret: &[u8],
    timestamp: &str,
    signature: &str,
    body: &[u8],
) -> Result<(), WebhookRejection> {
    let given = BASE64
        .decode(signature)
        .map_err(|_| WebhookRejection::BadSignature)?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret).map_err(|_| WebhookRejection::BadSignature)?;
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&given)
        .map_err(|_| WebhookRejection::BadSignature)
}

/// Turns a verified body (`payload`, as parsed) into a neutral event. Only a body that is not a JSON object is
/// rejected; a known type that lacks what we need becomes [`EventKind::Other`] (logged), because
/// Daily disables an endpoint after repeated failures.
fn event_from(
    payload: serde_json::Value,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<ProviderEvent, WebhookRejection> {
    let envelope: Envelope = wire::webhook_envelope(&payload)?;
    let event_id = wire::event_id(envelope.id.as_deref(), body);
    let event_type = envelope.kind.clone().unwrap_or_default();
    let sent_at = envelope.event_ts.and_then(unix_time).unwrap_or(now);
    let kind = event_kind(&event_type, envelope.payload, sent_at).unwrap_or_else(|missing| {
        tracing::warn!(
            event_type,
            event_id,
            missing,
            "daily event lacks a field we need; stored without acting on it"
        );
        EventKind::Other
    });
    Ok(ProviderEvent {
        event_id,
        event_type,
        kind,
        payload: wire::body_text(body),
    })
}

/// The neutral meaning of a known event, or the name of the field it lacks.
fn event_kind(
    event_type: &str,
    payload: serde_json::Value,
    sent_at: DateTime<Utc>,
) -> Result<EventKind, &'static str> {
    let known = matches!(
        event_type,
        "participant.joined"
            | "participant.left"
            | "meeting.started"
            | "meeting.ended"
            | "recording.started"
            | "recording.ready-to-download"
            | "recording.error"
    );
    if !known {
        return Ok(EventKind::Other);
    }
    let p: EventPayload = serde_json::from_value(payload).unwrap_or_default();
    let time = |ts: Option<f64>| ts.and_then(unix_time).unwrap_or(sent_at);
    // Participant and meeting events say `room`, recording events `room_name`; accept either.
    let room = |p: &EventPayload| {
        p.room
            .clone()
            .or_else(|| p.room_name.clone())
            .map(MeetingKey::RoomName)
            .ok_or("payload.room")
    };
    Ok(match event_type {
        "participant.joined" | "participant.left" => {
            let joined = event_type == "participant.joined";
            let at = if joined {
                time(p.joined_at)
            } else {
                p.joined_at
                    .zip(p.duration)
                    .and_then(|(start, duration)| unix_time(start + duration))
                    .unwrap_or(sent_at)
            };
            let participant = Participant {
                meeting: room(&p)?,
                session_id: p.session_id.ok_or("payload.session_id")?,
                user_id: p.user_id,
                user_name: p.user_name,
                at,
                num_clients: None,
            };
            if joined {
                EventKind::ParticipantJoined(participant)
            } else {
                EventKind::ParticipantLeft(participant)
            }
        }
        "meeting.started" => EventKind::MeetingStarted {
            meeting: room(&p)?,
            at: time(p.start_ts),
        },
        "meeting.ended" => EventKind::MeetingEnded {
            meeting: room(&p)?,
            at: time(p.end_ts),
        },
        "recording.started" => EventKind::RecordingStarted {
            meeting: room(&p)?,
            recording_id: p.recording_id,
            at: time(p.start_ts),
        },
        "recording.ready-to-download" => {
            let multitrack = p.recording_type.as_deref() == Some("raw-tracks");
            let keys = if multitrack {
                audio_track_keys(&p.tracks)
            } else {
                p.s3_key.clone().into_iter().collect()
            };
            EventKind::RecordingReady(RecordingReady {
                meeting: room(&p)?,
                recording_id: p.recording_id.clone().ok_or("payload.recording_id")?,
                multitrack,
                started_at: p.start_ts.and_then(unix_time),
                duration_seconds: p.duration,
                keys,
            })
        }
        _ => EventKind::RecordingError {
            meeting: room(&p)?,
            recording_id: p.recording_id.clone(),
            error: p
                .error_msg
                .clone()
                .or_else(|| p.error.clone())
                .unwrap_or_else(|| "unknown recording error".to_owned()),
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn room_names_fit_daily_rules() {
        let start = DateTime::from_timestamp(1_767_254_400, 0).unwrap(); // 2026-01-01T08:00:00Z
        assert_eq!(
            daily_room_name("team-standup", start, 0xab),
            "team-standup-20260101080000-00ab"
        );
        let long = daily_room_name(&"x".repeat(200), start, 1);
        assert_eq!(long.len(), ROOM_NAME_MAX);
        assert!(long.ends_with("-20260101080000-0001"));
        assert_eq!(daily_room_name("a b", start, 2), "a-b-20260101080000-0002");
    }
}
