//! The LiveKit provider (self-hosted SFU, SPEC §3.6). It speaks LiveKit's Twirp server API in
//! JSON (`POST {LIVEKIT_URL}/twirp/livekit.RoomService/{CreateRoom|DeleteRoom|ListParticipants}`,
//! `POST /twirp/livekit.Egress/ListEgress`), each call with a fresh short-lived HS256 server token
//! (`iss` = API key, a `video` grant naming exactly what the call needs), mints participant
//! tokens itself, and verifies LiveKit's webhooks (`Authorization`: a token signed like a server
//! token whose `sha256` claim is the base64 SHA-256 of the raw body).
//!
//! Why not the official `livekit-api` crate: its services speak Twirp in protobuf through its own
//! `reqwest` 0.13 (ours is 0.12) and `progenitor-client`, with `prost`, `pbjson` and a second
//! `base64`, and bypass our client's retries, `Retry-After`, typed errors and metrics; tokens and
//! webhook checks are a few lines over `jsonwebtoken` and `sha2`, which we already use.
//!
//! Rooms: one LiveKit room per meeting, `{room}-{YYYYMMDDHHMMSS UTC}-{4 hex}` (as for Daily),
//! `empty_timeout` from the meeting's end (5 min … 24 h), `departure_timeout` the lifecycle's
//! grace (`MEETING_EMPTY_GRACE_SECONDS`), so a room LiveKit has closed is a meeting everyone left
//! that long ago. Cloud-recorded rooms get auto track egress into the LiveKit bucket: each
//! published track becomes its own file `{room_name}/{publisher_identity}-{time}`, audio as
//! OGG/Opus.
//!
//! Participants: each join mints a token for a new identity `{user id or "guest"}-{8 hex}`, our
//! user id in its metadata. That identity is the participant session's id: unique per join (so
//! two tabs of one user are two participants, as LiveKit requires), and named by the track files
//! egress writes, which is how a transcript's speakers find their session and name. A locked
//! meeting gives a token only to whom the owner admits (LiveKit has no lobby): the others get
//! the bare room URL, which joins nothing.
//!
//! Recordings: one recording per meeting, its id the LiveKit room name. `egress_ended` announces
//! it; its media is what `ListEgress` reports for the room once no egress is active: the `.ogg`
//! audio file of every participant (video files are not needed). The periodic poll lists the
//! egresses of all rooms as the fallback for missed webhooks, and the bucket itself as the source
//! of truth when LiveKit has forgotten an egress (a restart) or the webhook was lost: each
//! `{room_name}/….ogg` object is a track of that room's recording
//! ([`VideoPlatform::recording_for_object`]), announced with the keys found once the meeting
//! has ended.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Duration, Utc};
use reflector_core::{ConfigError, RecordingType};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::client::ApiClient;
use crate::registry::{Configured, Provider, ProviderSetup};
use crate::wire;
use crate::wire::{lenient_f64, lenient_i64, lenient_string, lenient_vec, unix_time};
use crate::{
    CreateMeeting, EventKind, JoinRequest, MeetingHandle, MeetingKey, Participant, PlatformError,
    PresentParticipant, ProviderEvent, ProviderMeeting, ProviderSession, RecordingBucket,
    RecordingMedia, RecordingReady, VideoPlatform, WebhookOutcome, WebhookRejection,
};

pub const NAME: &str = "livekit";

pub const PROVIDER: Provider = Provider { name: NAME, setup };

const URL: &str = "LIVEKIT_URL";
const PUBLIC_URL: &str = "LIVEKIT_PUBLIC_URL";
const API_KEY: &str = "LIVEKIT_API_KEY";
const API_SECRET: &str = "LIVEKIT_API_SECRET";
const WEBHOOK_SECRET: &str = "LIVEKIT_WEBHOOK_SECRET";
const BUCKET_NAME: &str = "LIVEKIT_STORAGE_AWS_BUCKET_NAME";
const BUCKET_REGION: &str = "LIVEKIT_STORAGE_AWS_REGION";
const BUCKET_KEY_ID: &str = "LIVEKIT_STORAGE_AWS_ACCESS_KEY_ID";
const BUCKET_SECRET: &str = "LIVEKIT_STORAGE_AWS_SECRET_ACCESS_KEY";
const BUCKET_ENDPOINT: &str = "LIVEKIT_STORAGE_AWS_ENDPOINT_URL";
const RECORDING_POLL_INTERVAL: &str = "LIVEKIT_RECORDING_POLL_INTERVAL_SECONDS";
/// The lifecycle's grace after the last participant left; LiveKit keeps the room that long.
const EMPTY_GRACE: &str = "MEETING_EMPTY_GRACE_SECONDS";

/// The path (under `/v1`) LiveKit delivers webhooks to.
pub const WEBHOOK_PATH: &str = "/livekit/webhook";

const ROOM_SERVICE: &str = "/twirp/livekit.RoomService";
const EGRESS_SERVICE: &str = "/twirp/livekit.Egress";
/// Server tokens live this long: one call and its retries.
const SERVER_TOKEN_TTL: Duration = Duration::minutes(5);
/// Clock difference tolerated on webhook token times.
const WEBHOOK_LEEWAY_SECONDS: i64 = 60;
/// LiveKit room names we make stay well below any limit (and our own room names are ≤ 64).
const ROOM_NAME_MAX: usize = 100;
const EMPTY_TIMEOUT_MIN: i64 = 5 * 60;
const EMPTY_TIMEOUT_MAX: i64 = 24 * 60 * 60;
/// Egress writes each track here (LiveKit adds the extension: `.ogg` for Opus audio).
const TRACK_FILEPATH: &str = "{room_name}/{publisher_identity}-{time}";
/// How egress writes `{time}` (Go's `2006-01-02T150405`, UTC).
const TRACK_TIME_FORMAT: &str = "%Y-%m-%dT%H%M%S";
const TRACK_TIME_LEN: usize = "2026-01-01T080000".len();
const AUDIO_EXTENSION: &str = ".ogg";
/// LiveKit's `DisconnectReason.DUPLICATE_IDENTITY`: the same identity connected again (a
/// reconnect), so the participant did not leave.
const DUPLICATE_IDENTITY: (&str, i64) = ("DUPLICATE_IDENTITY", 2);
/// `EgressStatus` values at or past which an egress is over (`EGRESS_COMPLETE` = 3 …).
const EGRESS_OVER: &[&str] = &[
    "EGRESS_COMPLETE",
    "EGRESS_FAILED",
    "EGRESS_ABORTED",
    "EGRESS_LIMIT_REACHED",
];
/// Statuses of an egress that ended with its file written (a time limit stops it, keeping what it
/// wrote).
const EGRESS_WROTE: &[&str] = &["EGRESS_COMPLETE", "EGRESS_LIMIT_REACHED"];

fn setup(setup: &ProviderSetup<'_>) -> Result<Configured, ConfigError> {
    let env = setup.env;
    let Some(_) = env.get(URL) else {
        return Ok(Configured::Missing { setting: URL });
    };
    let api_url = env.url_or(URL, "")?;
    let Some(api_key) = env.get(API_KEY) else {
        return Ok(Configured::Missing { setting: API_KEY });
    };
    let Some(api_secret) = env.get(API_SECRET) else {
        return Ok(Configured::Missing {
            setting: API_SECRET,
        });
    };
    let public_url = env
        .get(PUBLIC_URL)
        .unwrap_or(&api_url)
        .trim_end_matches('/')
        .to_owned();
    match url::Url::parse(&public_url) {
        Ok(u) if matches!(u.scheme(), "ws" | "wss" | "http" | "https") && u.has_host() => {}
        _ => {
            return Err(ConfigError::new(
                PUBLIC_URL,
                format!("{public_url:?} is not a ws(s) or http(s) URL"),
            ));
        }
    }
    let bucket = match env.get(BUCKET_NAME) {
        Some(name) => Some(EgressBucket {
            name: name.to_owned(),
            region: env.get(BUCKET_REGION).map(str::to_owned),
            access_key_id: env.require(BUCKET_KEY_ID)?.to_owned(),
            secret_access_key: env.require(BUCKET_SECRET)?.to_owned(),
            endpoint: match env.get(BUCKET_ENDPOINT) {
                Some(_) => Some(env.url_or(BUCKET_ENDPOINT, "")?),
                None => None,
            },
        }),
        None => None,
    };
    let poll_seconds: u64 = env.parse_or(RECORDING_POLL_INTERVAL, 180)?;
    if poll_seconds == 0 {
        return Err(ConfigError::new(
            RECORDING_POLL_INTERVAL,
            "must be at least 1",
        ));
    }
    let departure_timeout: i64 = env.parse_or(EMPTY_GRACE, 300)?;
    let platform = LiveKitPlatform {
        // The bearer is replaced by a fresh server token on every call.
        api: ApiClient::new(NAME, &api_url, "", API_KEY, setup.retry.clone()),
        api_key: api_key.to_owned(),
        api_secret: api_secret.to_owned(),
        webhook_secret: env.get(WEBHOOK_SECRET).unwrap_or(api_secret).to_owned(),
        public_url,
        bucket,
        recording_poll: std::time::Duration::from_secs(poll_seconds),
        departure_timeout: departure_timeout.max(0),
    };
    Ok(Configured::Ready {
        platform: Arc::new(platform),
        rollout_rooms: Vec::new(),
    })
}

/// The bucket LiveKit's egress uploads into (it writes with these keys; we read with ours when
/// they are not given, see [`VideoPlatform::recording_bucket`]).
struct EgressBucket {
    name: String,
    region: Option<String>,
    access_key_id: String,
    secret_access_key: String,
    endpoint: Option<String>,
}

/// Built only by [`PROVIDER`]'s setup. Deliberately not `Debug`: it holds secrets.
pub struct LiveKitPlatform {
    api: ApiClient,
    api_key: String,
    api_secret: String,
    webhook_secret: String,
    public_url: String,
    bucket: Option<EgressBucket>,
    recording_poll: std::time::Duration,
    departure_timeout: i64,
}

// ---- tokens ----

/// LiveKit's `video` grant (the fields we use).
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct VideoGrant {
    #[serde(default, skip_serializing_if = "is_false")]
    pub room_create: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub room_list: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub room_record: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub room_admin: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub room_join: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_publish: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_subscribe: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_publish_data: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_update_own_metadata: Option<bool>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The claims of every LiveKit token: server tokens, participant tokens and webhook signatures.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<VideoGrant>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// Signs `claims` as LiveKit expects (HS256 with the API secret). Public so tests and tools sign
/// webhooks and check tokens with the same code.
pub fn sign(claims: &Claims, secret: &str) -> Result<String, PlatformError> {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| PlatformError::InvalidRequest {
        platform: NAME,
        detail: format!("cannot sign a token: {e}"),
    })
}

/// The claims of an HS256 token signed with `secret`; times are checked by the caller (against
/// its own clock).
pub fn verify(token: &str, secret: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Claims>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map(|t| t.claims)
}

/// Standard base64 of the SHA-256 of `body`: the `sha256` claim of a webhook's token.
pub fn body_hash(body: &[u8]) -> String {
    BASE64.encode(Sha256::digest(body))
}

// ---- wire types (LiveKit's protobuf JSON) ----

#[derive(Serialize)]
struct CreateRoomBody<'a> {
    name: &'a str,
    empty_timeout: i64,
    departure_timeout: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    egress: Option<RoomEgress<'a>>,
}

#[derive(Serialize)]
struct RoomEgress<'a> {
    tracks: AutoTrackEgress<'a>,
}

#[derive(Serialize)]
struct AutoTrackEgress<'a> {
    filepath: &'static str,
    s3: S3Upload<'a>,
}

#[derive(Serialize)]
struct S3Upload<'a> {
    access_key: &'a str,
    secret: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint: Option<&'a str>,
    bucket: &'a str,
    force_path_style: bool,
}

#[derive(Serialize)]
struct RoomBody<'a> {
    room: &'a str,
}

#[derive(Serialize)]
struct ListEgressBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    room_name: Option<&'a str>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RoomWire {
    #[serde(deserialize_with = "lenient_string")]
    sid: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ParticipantsWire {
    #[serde(deserialize_with = "lenient_vec")]
    participants: Vec<ParticipantWire>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default, rename_all = "camelCase")]
struct ParticipantWire {
    #[serde(deserialize_with = "lenient_string")]
    sid: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    identity: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    metadata: Option<String>,
    #[serde(alias = "joined_at", deserialize_with = "lenient_i64")]
    joined_at: Option<i64>,
    #[serde(alias = "disconnect_reason")]
    disconnect_reason: serde_json::Value,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EgressList {
    #[serde(deserialize_with = "lenient_vec")]
    items: Vec<EgressInfo>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default, rename_all = "camelCase")]
struct EgressInfo {
    #[serde(alias = "egress_id", deserialize_with = "lenient_string")]
    egress_id: Option<String>,
    #[serde(alias = "room_name", deserialize_with = "lenient_string")]
    room_name: Option<String>,
    status: serde_json::Value,
    /// Nanoseconds.
    #[serde(alias = "started_at", deserialize_with = "lenient_f64")]
    started_at: Option<f64>,
    #[serde(alias = "ended_at", deserialize_with = "lenient_f64")]
    ended_at: Option<f64>,
    #[serde(alias = "file_results", deserialize_with = "lenient_vec")]
    file_results: Vec<FileInfo>,
    file: Option<FileInfo>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct FileInfo {
    #[serde(deserialize_with = "lenient_string")]
    filename: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    location: Option<String>,
    /// Nanoseconds.
    #[serde(deserialize_with = "lenient_f64")]
    duration: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct WebhookEvent {
    #[serde(deserialize_with = "lenient_string")]
    event: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    id: Option<String>,
    #[serde(alias = "created_at", deserialize_with = "lenient_f64")]
    created_at: Option<f64>,
    room: Option<RoomWire>,
    participant: Option<ParticipantWire>,
    #[serde(alias = "egress_info")]
    egress_info: Option<EgressInfo>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Metadata {
    #[serde(deserialize_with = "lenient_string")]
    user_id: Option<String>,
}

#[async_trait]
impl VideoPlatform for LiveKitPlatform {
    fn name(&self) -> &'static str {
        NAME
    }

    /// `CreateRoom`: a room named for this meeting, with egress when it records to the cloud.
    async fn create_meeting(
        &self,
        request: &CreateMeeting<'_>,
    ) -> Result<ProviderMeeting, PlatformError> {
        let name = room_name(request.room_name, request.start_date, rand::random());
        let egress = match (request.recording_type, &self.bucket) {
            (RecordingType::Cloud, Some(bucket)) => Some(RoomEgress {
                tracks: AutoTrackEgress {
                    filepath: TRACK_FILEPATH,
                    s3: S3Upload {
                        access_key: &bucket.access_key_id,
                        secret: &bucket.secret_access_key,
                        region: bucket.region.as_deref(),
                        endpoint: bucket.endpoint.as_deref(),
                        bucket: &bucket.name,
                        // S3-compatible stores (MinIO) behind an endpoint want path-style URLs.
                        force_path_style: bucket.endpoint.is_some(),
                    },
                },
            }),
            _ => None,
        };
        // A meeting prepared ahead of its start (calendar events) waits from now.
        let until_end = (request.end_date - request.start_date.min(Utc::now())).num_seconds();
        let body = CreateRoomBody {
            name: &name,
            empty_timeout: until_end.clamp(EMPTY_TIMEOUT_MIN, EMPTY_TIMEOUT_MAX),
            departure_timeout: self.departure_timeout,
            egress,
        };
        let created: RoomWire = self
            .call(ROOM_SERVICE, "CreateRoom", create_grant(), &body)
            .await?;
        let bad = |detail: &str| PlatformError::BadResponse {
            platform: NAME,
            detail: format!("created room {detail}"),
        };
        let sid = created.sid.ok_or_else(|| bad("has no sid"))?;
        if created.name.as_deref() != Some(name.as_str()) {
            return Err(bad(&format!("is named {:?}, not {name:?}", created.name)));
        }
        let room_url = format!(
            "{}?room={}",
            self.public_url,
            url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>()
        );
        Ok(ProviderMeeting {
            platform_meeting_id: sid,
            room_name: name,
            host_room_url: room_url.clone(),
            room_url,
        })
    }

    /// LiveKit keeps no history of a room's sessions: the participants in it now are its open
    /// sessions. A room LiveKit has closed (it does so `departure_timeout`, the lifecycle's grace,
    /// after the last participant left, or at `empty_timeout` when nobody came) is reported as
    /// one session that ended long ago, so the lifecycle ends the meeting.
    async fn list_sessions(
        &self,
        meeting: &MeetingHandle<'_>,
    ) -> Result<Vec<ProviderSession>, PlatformError> {
        match self.participants(meeting.room_name).await? {
            Some(present) => Ok(present
                .into_iter()
                .map(|p| ProviderSession {
                    session_id: p.session_id,
                    started_at: p.joined_at,
                    ended_at: None,
                })
                .collect()),
            None => Ok(vec![ProviderSession {
                session_id: format!("{}-closed", meeting.room_name),
                started_at: DateTime::UNIX_EPOCH,
                ended_at: Some(DateTime::UNIX_EPOCH),
            }]),
        }
    }

    /// `ListParticipants {room}`; a closed room has nobody in it.
    async fn presence(
        &self,
        meeting: &MeetingHandle<'_>,
    ) -> Result<Vec<PresentParticipant>, PlatformError> {
        Ok(self
            .participants(meeting.room_name)
            .await?
            .unwrap_or_default())
    }

    /// Nothing to move: LiveKit rooms have no expiry (tokens are minted per join with the
    /// meeting's current end), so extending is our `end_date` alone.
    async fn extend_meeting(
        &self,
        _meeting: &MeetingHandle<'_>,
        _new_end: DateTime<Utc>,
    ) -> Result<(), PlatformError> {
        Ok(())
    }

    /// `DeleteRoom {room}`; a room already gone is success.
    async fn delete_meeting(&self, meeting: &MeetingHandle<'_>) -> Result<(), PlatformError> {
        let body = RoomBody {
            room: meeting.room_name,
        };
        match self
            .call::<_, serde_json::Value>(ROOM_SERVICE, "DeleteRoom", create_grant(), &body)
            .await
        {
            Ok(_) | Err(PlatformError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The room URL with a participant token for a new identity (see the module's notes); the
    /// owner's token also carries `roomAdmin`. Whoever a locked meeting does not admit gets the
    /// bare URL, which joins nothing.
    async fn join_url(
        &self,
        meeting: &MeetingHandle<'_>,
        join: &JoinRequest<'_>,
    ) -> Result<String, PlatformError> {
        if !join.admit {
            return Ok(meeting.room_url.to_owned());
        }
        let token = self.participant_token(meeting, join, Utc::now(), rand::random())?;
        let separator = if meeting.room_url.contains('?') {
            '&'
        } else {
            '?'
        };
        let token: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
        Ok(format!("{}{separator}token={token}", meeting.room_url))
    }

    fn webhook_path(&self) -> Option<&'static str> {
        Some(WEBHOOK_PATH)
    }

    fn verify_webhook(
        &self,
        headers: &::http::HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<WebhookOutcome, WebhookRejection> {
        let header = headers
            .get(::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or(WebhookRejection::MissingSignature {
                header: "Authorization",
            })?;
        let token = header
            .strip_prefix("Bearer ")
            .unwrap_or(header)
            .trim_start();
        let claims =
            verify(token, &self.webhook_secret).map_err(|_| WebhookRejection::BadSignature)?;
        if claims.iss != self.api_key {
            return Err(WebhookRejection::BadSignature);
        }
        let now_s = now.timestamp();
        if claims.exp + WEBHOOK_LEEWAY_SECONDS < now_s
            || claims
                .nbf
                .is_some_and(|nbf| nbf - WEBHOOK_LEEWAY_SECONDS > now_s)
        {
            return Err(WebhookRejection::Stale);
        }
        let given = claims.sha256.as_deref().unwrap_or("");
        let expected = body_hash(body);
        if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
            return Err(WebhookRejection::BadSignature);
        }
        parse_event(body, now).map(|e| WebhookOutcome::Event(Box::new(e)))
    }

    /// The meeting's recording (its id is the LiveKit room name): once no egress of the room is
    /// active, the `.ogg` audio file of each participant that egress completed.
    async fn recording_media(&self, recording_id: &str) -> Result<RecordingMedia, PlatformError> {
        let bucket = self.bucket.as_ref().ok_or(PlatformError::NotConfigured {
            platform: NAME,
            setting: BUCKET_NAME,
        })?;
        let egresses = self.egresses(Some(recording_id)).await?;
        if egresses.is_empty() {
            return Err(PlatformError::NotFound {
                platform: NAME,
                what: format!("egress of room {recording_id}"),
            });
        }
        if let Some(active) = egresses.iter().find(|e| !egress_over(e)) {
            return Ok(RecordingMedia::NotReady {
                status: format!(
                    "egress {} is {}",
                    active.egress_id.as_deref().unwrap_or("?"),
                    status_name(&active.status)
                ),
            });
        }
        let keys = audio_keys(&egresses);
        if keys.is_empty() {
            return Err(PlatformError::NotFound {
                platform: NAME,
                what: format!(
                    "an audio ({AUDIO_EXTENSION}) file among room {recording_id}'s egress files"
                ),
            });
        }
        Ok(RecordingMedia::Bucket {
            bucket: bucket.name.clone(),
            keys,
        })
    }

    /// `ListEgress` of every room: each room whose egresses all ended since `since`, with audio.
    async fn list_recordings(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<RecordingReady>, PlatformError> {
        if self.bucket.is_none() {
            return Err(PlatformError::NotConfigured {
                platform: NAME,
                setting: BUCKET_NAME,
            });
        }
        let mut rooms: BTreeMap<String, Vec<EgressInfo>> = BTreeMap::new();
        for egress in self.egresses(None).await? {
            if let Some(room) = egress.room_name.clone() {
                rooms.entry(room).or_default().push(egress);
            }
        }
        let mut found: Vec<RecordingReady> = rooms
            .into_iter()
            .filter(|(_, egresses)| egresses.iter().all(egress_over))
            .filter_map(|(room, egresses)| {
                let started_at = egresses
                    .iter()
                    .filter_map(|e| e.started_at.and_then(nanos_time))
                    .min();
                if started_at.is_some_and(|t| t < since) || audio_keys(&egresses).is_empty() {
                    return None;
                }
                Some(recording_of_room(room, started_at))
            })
            .collect();
        found.sort_by_key(|r| std::cmp::Reverse(r.started_at));
        Ok(found)
    }

    fn recording_poll_interval(&self) -> Option<std::time::Duration> {
        self.bucket.as_ref().map(|_| self.recording_poll)
    }

    /// The whole egress bucket: tracks are written at `{room_name}/…` (see [`TRACK_FILEPATH`]).
    fn recording_listing_prefix(&self) -> Option<String> {
        self.bucket.as_ref().map(|_| String::new())
    }

    /// A `{room_name}/{identity}-{time}.ogg` object in the egress bucket: one audio track of
    /// that room's recording (its id the room name, as for `egress_ended`), with this key.
    fn recording_for_object(&self, bucket: &str, key: &str) -> Option<RecordingReady> {
        if self.bucket.as_ref()?.name != bucket {
            return None;
        }
        let (room, file) = key.split_once('/')?;
        let stem = file.strip_suffix(AUDIO_EXTENSION)?;
        if room.is_empty() || stem.is_empty() || stem.contains('/') {
            return None;
        }
        Some(RecordingReady {
            keys: vec![key.to_owned()],
            ..recording_of_room(room.to_owned(), track_time(stem))
        })
    }

    fn recording_bucket(&self) -> Option<RecordingBucket> {
        self.bucket.as_ref().map(|b| RecordingBucket {
            bucket: b.name.clone(),
            region: b.region.clone(),
            access_key_id: Some(b.access_key_id.clone()),
            secret_access_key: Some(b.secret_access_key.clone()),
        })
    }
}

impl LiveKitPlatform {
    /// One Twirp call with a fresh server token carrying `grant`.
    async fn call<B: Serialize, T: serde::de::DeserializeOwned>(
        &self,
        service: &str,
        method: &str,
        grant: VideoGrant,
        body: &B,
    ) -> Result<T, PlatformError> {
        let now = Utc::now();
        let token = sign(
            &Claims {
                iss: self.api_key.clone(),
                nbf: Some(now.timestamp()),
                exp: (now + SERVER_TOKEN_TTL).timestamp(),
                video: Some(grant),
                ..Claims::default()
            },
            &self.api_secret,
        )?;
        self.api
            .with_bearer(&token)
            .post_json(&format!("{service}/{method}"), body)
            .await
    }

    /// Who is in the room now, or `None` when LiveKit has no such room (closed or deleted).
    async fn participants(
        &self,
        room: &str,
    ) -> Result<Option<Vec<PresentParticipant>>, PlatformError> {
        let grant = VideoGrant {
            room_admin: true,
            room: Some(room.to_owned()),
            ..VideoGrant::default()
        };
        let listed: ParticipantsWire = match self
            .call(ROOM_SERVICE, "ListParticipants", grant, &RoomBody { room })
            .await
        {
            Ok(listed) => listed,
            Err(PlatformError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(
            listed
                .participants
                .into_iter()
                .filter_map(|p| {
                    Some(PresentParticipant {
                        user_id: user_id(&p),
                        joined_at: p
                            .joined_at
                            .and_then(|s| DateTime::from_timestamp(s, 0))
                            .unwrap_or_else(Utc::now),
                        user_name: p.name,
                        session_id: p.identity?,
                    })
                })
                .collect(),
        ))
    }

    async fn egresses(&self, room: Option<&str>) -> Result<Vec<EgressInfo>, PlatformError> {
        let grant = VideoGrant {
            room_record: true,
            ..VideoGrant::default()
        };
        let listed: EgressList = self
            .call(
                EGRESS_SERVICE,
                "ListEgress",
                grant,
                &ListEgressBody { room_name: room },
            )
            .await?;
        Ok(listed.items)
    }

    /// A participant token for `join` in `meeting`'s room; `suffix` makes the identity unique.
    fn participant_token(
        &self,
        meeting: &MeetingHandle<'_>,
        join: &JoinRequest<'_>,
        now: DateTime<Utc>,
        suffix: u32,
    ) -> Result<String, PlatformError> {
        let identity = identity(join.user_id, suffix);
        let metadata = serde_json::json!({ "user_id": join.user_id }).to_string();
        let claims = Claims {
            iss: self.api_key.clone(),
            sub: Some(identity.clone()),
            // The name others see and transcripts name the speaker by.
            name: Some(
                join.user_name
                    .or(join.user_id)
                    .map_or_else(|| "Guest".to_owned(), str::to_owned),
            ),
            nbf: Some(now.timestamp()),
            exp: meeting.end_date.timestamp(),
            metadata: Some(metadata),
            video: Some(VideoGrant {
                room_join: true,
                room: Some(meeting.room_name.to_owned()),
                can_publish: Some(true),
                can_subscribe: Some(true),
                can_publish_data: Some(true),
                // The person may change the name they show (their client's setName).
                can_update_own_metadata: Some(true),
                room_admin: join.is_owner,
                ..VideoGrant::default()
            }),
            sha256: None,
        };
        sign(&claims, &self.api_secret)
    }
}

fn create_grant() -> VideoGrant {
    VideoGrant {
        room_create: true,
        ..VideoGrant::default()
    }
}

/// `{user id or "guest"}-{8 hex}`, the user id cut to characters safe in a file path (egress
/// writes the identity into each track's file name).
fn identity(user_id: Option<&str>, suffix: u32) -> String {
    let base: String = user_id
        .unwrap_or("guest")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(40)
        .collect();
    let base = if base.is_empty() { "user" } else { &base };
    format!("{base}-{suffix:08x}")
}

/// Our user id, from the metadata our token gave the participant.
fn user_id(p: &ParticipantWire) -> Option<String> {
    p.metadata
        .as_deref()
        .and_then(|m| serde_json::from_str::<Metadata>(m).ok())
        .and_then(|m| m.user_id)
}

/// `{room}-{YYYYMMDDHHMMSS}-{suffix as 4 hex}`.
fn room_name(room_name: &str, start: DateTime<Utc>, suffix: u16) -> String {
    let tail = format!("-{}-{suffix:04x}", start.format("%Y%m%d%H%M%S"));
    let base: String = room_name.chars().take(ROOM_NAME_MAX - tail.len()).collect();
    format!("{base}{tail}")
}

/// When egress started a track, from the `{time}` that ends its file name.
fn track_time(stem: &str) -> Option<DateTime<Utc>> {
    let at = stem.get(stem.len().checked_sub(TRACK_TIME_LEN)?..)?;
    chrono::NaiveDateTime::parse_from_str(at, TRACK_TIME_FORMAT)
        .ok()
        .map(|t| t.and_utc())
}

fn nanos_time(nanos: f64) -> Option<DateTime<Utc>> {
    if nanos <= 0.0 {
        return None;
    }
    unix_time(nanos / 1e9)
}

/// An enum as protobuf JSON sends it: its name, or its number.
fn enum_is(value: &serde_json::Value, (name, number): (&str, i64)) -> bool {
    match value {
        serde_json::Value::String(s) => s == name || s.parse::<i64>().ok() == Some(number),
        serde_json::Value::Number(n) => n.as_i64() == Some(number),
        _ => false,
    }
}

const EGRESS_STATUSES: &[&str] = &[
    "EGRESS_STARTING",
    "EGRESS_ACTIVE",
    "EGRESS_ENDING",
    "EGRESS_COMPLETE",
    "EGRESS_FAILED",
    "EGRESS_ABORTED",
    "EGRESS_LIMIT_REACHED",
];

fn status_name(value: &serde_json::Value) -> &str {
    match value {
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) => n
            .as_u64()
            .and_then(|i| EGRESS_STATUSES.get(usize::try_from(i).ok()?).copied())
            .unwrap_or("unknown"),
        // An unset enum is its zero value in protobuf JSON.
        _ => EGRESS_STATUSES[0],
    }
}

fn egress_over(egress: &EgressInfo) -> bool {
    EGRESS_OVER.contains(&status_name(&egress.status))
}

/// The audio files completed egresses wrote, once each, in the order LiveKit lists them.
fn audio_keys(egresses: &[EgressInfo]) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for egress in egresses
        .iter()
        .filter(|e| EGRESS_WROTE.contains(&status_name(&e.status)))
    {
        for file in egress.file_results.iter().chain(egress.file.iter()) {
            if let Some(name) = &file.filename
                && name.ends_with(AUDIO_EXTENSION)
                && !keys.contains(name)
            {
                keys.push(name.clone());
            }
        }
    }
    keys
}

/// The meeting's recording: one per LiveKit room, its files found when it is ingested.
fn recording_of_room(room: String, started_at: Option<DateTime<Utc>>) -> RecordingReady {
    RecordingReady {
        meeting: MeetingKey::RoomName(room.clone()),
        recording_id: room,
        multitrack: true,
        started_at,
        duration_seconds: None,
        keys: Vec::new(),
    }
}

/// Turns a verified body into a neutral event. Only a body that is not a JSON object is
/// rejected; a known event lacking what we need is stored as [`EventKind::Other`] (logged).
fn parse_event(body: &[u8], now: DateTime<Utc>) -> Result<ProviderEvent, WebhookRejection> {
    let payload = wire::json_body(body)?;
    let event: WebhookEvent = wire::webhook_envelope(&payload)?;
    let event_id = wire::event_id(event.id.as_deref(), body);
    let event_type = event.event.clone().unwrap_or_default();
    let kind = event_kind(&event_type, event, now).unwrap_or_else(|missing| {
        tracing::warn!(
            event_type,
            event_id,
            missing,
            "livekit event lacks a field we need; stored without acting on it"
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

fn event_kind(
    event_type: &str,
    event: WebhookEvent,
    now: DateTime<Utc>,
) -> Result<EventKind, &'static str> {
    let sent_at = event.created_at.and_then(unix_time).unwrap_or(now);
    let room = || {
        event
            .room
            .as_ref()
            .and_then(|r| r.name.clone())
            .map(MeetingKey::RoomName)
            .ok_or("room.name")
    };
    Ok(match event_type {
        "participant_joined" | "participant_left" => {
            let p = event.participant.clone().ok_or("participant")?;
            let joined = event_type == "participant_joined";
            if !joined && enum_is(&p.disconnect_reason, DUPLICATE_IDENTITY) {
                // The same identity connected again: still in the call.
                return Ok(EventKind::Other);
            }
            let at = if joined {
                p.joined_at
                    .and_then(|s| DateTime::from_timestamp(s, 0))
                    .unwrap_or(sent_at)
            } else {
                sent_at
            };
            let participant = Participant {
                meeting: room()?,
                user_id: user_id(&p),
                user_name: p.name.clone(),
                session_id: p.identity.clone().ok_or("participant.identity")?,
                at,
                num_clients: None,
            };
            if joined {
                EventKind::ParticipantJoined(participant)
            } else {
                EventKind::ParticipantLeft(participant)
            }
        }
        "room_started" => EventKind::MeetingStarted {
            meeting: room()?,
            at: sent_at,
        },
        "room_finished" => EventKind::MeetingEnded {
            meeting: room()?,
            at: sent_at,
        },
        "egress_ended" => {
            let info = event.egress_info.ok_or("egressInfo")?;
            let room = info.room_name.clone().ok_or("egressInfo.roomName")?;
            match status_name(&info.status) {
                status if EGRESS_WROTE.contains(&status) => EventKind::RecordingReady(
                    recording_of_room(room, info.started_at.and_then(nanos_time)),
                ),
                status => EventKind::RecordingError {
                    meeting: MeetingKey::RoomName(room.clone()),
                    // One participant's egress failing leaves the others' tracks: the meeting's
                    // recording is not failed for it.
                    recording_id: None,
                    error: format!(
                        "egress {} ended {status}",
                        info.egress_id.as_deref().unwrap_or("?")
                    ),
                },
            }
        }
        "egress_started" => {
            let info = event.egress_info.ok_or("egressInfo")?;
            let room = info.room_name.ok_or("egressInfo.roomName")?;
            EventKind::RecordingStarted {
                meeting: MeetingKey::RoomName(room.clone()),
                recording_id: Some(room),
                at: sent_at,
            }
        }
        _ => EventKind::Other,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn room_names_and_identities() {
        let start = DateTime::from_timestamp(1_767_254_400, 0).unwrap(); // 2026-01-01T08:00:00Z
        assert_eq!(room_name("team", start, 0xab), "team-20260101080000-00ab");
        assert_eq!(room_name(&"x".repeat(200), start, 1).len(), ROOM_NAME_MAX);
        assert_eq!(
            identity(Some("auth0|ada@x.org"), 0x1f),
            "auth0adaxorg-0000001f"
        );
        assert_eq!(identity(None, 0xdeadbeef), "guest-deadbeef");
        assert_eq!(identity(Some("|"), 1), "user-00000001");
    }

    #[test]
    fn track_times_come_from_egress_file_names() {
        assert_eq!(
            track_time("local-0000000a-2026-06-01T100002"),
            DateTime::from_timestamp(1_780_308_002, 0)
        );
        assert_eq!(track_time("local-0000000a"), None);
        assert_eq!(track_time("x"), None);
    }

    #[test]
    fn body_hash_is_base64_sha256() {
        // echo -n '{"a":1}' | openssl dgst -sha256 -binary | base64
        assert_eq!(
            body_hash(br#"{"a":1}"#),
            "AVq9f1zFei3ZS3WQ8ErYCEJzkF7jPsXOvq5iJ2qX+GI="
        );
    }

    fn kind(body: serde_json::Value) -> EventKind {
        parse_event(body.to_string().as_bytes(), Utc::now())
            .unwrap()
            .kind
    }

    #[test]
    fn events_become_neutral_kinds() {
        let room = serde_json::json!({"sid": "RM_1", "name": "team-1"});
        let p = serde_json::json!({"sid": "PA_1", "identity": "ada-1", "name": "Ada",
            "metadata": "{\"user_id\":\"u1\"}", "joinedAt": "1767225600"});
        let EventKind::ParticipantJoined(joined) = kind(
            serde_json::json!({"event": "participant_joined", "id": "E1", "room": room, "participant": p}),
        ) else {
            panic!("not a join");
        };
        assert_eq!(joined.meeting, MeetingKey::RoomName("team-1".into()));
        assert_eq!(joined.session_id, "ada-1");
        assert_eq!(joined.user_id.as_deref(), Some("u1"));
        assert_eq!(joined.user_name.as_deref(), Some("Ada"));
        assert_eq!(joined.at.timestamp(), 1_767_225_600);
        // Lacking what we need, or unknown: stored, not acted on.
        assert_eq!(
            kind(
                serde_json::json!({"event": "participant_left", "room": room, "participant": {"sid": "PA_1"}})
            ),
            EventKind::Other
        );
        assert_eq!(
            kind(serde_json::json!({"event": "ingress_started"})),
            EventKind::Other
        );
        // A failed egress is an error on the meeting, not on its recording.
        let EventKind::RecordingError {
            recording_id,
            error,
            ..
        } = kind(serde_json::json!({
            "event": "egress_ended",
            "egressInfo": {"egressId": "EG_1", "roomName": "team-1", "status": "EGRESS_FAILED"}
        }))
        else {
            panic!("not an error");
        };
        assert_eq!(recording_id, None);
        assert!(
            error.contains("EG_1") && error.contains("EGRESS_FAILED"),
            "{error}"
        );
        assert!(parse_event(b"[1]", Utc::now()).is_err());
    }

    #[test]
    fn egress_statuses_read_as_names_or_numbers() {
        let e = |status: serde_json::Value| EgressInfo {
            status,
            ..EgressInfo::default()
        };
        assert!(egress_over(&e(serde_json::json!("EGRESS_COMPLETE"))));
        assert!(egress_over(&e(serde_json::json!(4))));
        assert!(!egress_over(&e(serde_json::json!(1))));
        assert!(!egress_over(&e(serde_json::Value::Null)));
        assert!(enum_is(
            &serde_json::json!("DUPLICATE_IDENTITY"),
            DUPLICATE_IDENTITY
        ));
        assert!(enum_is(&serde_json::json!(2), DUPLICATE_IDENTITY));
        assert!(!enum_is(
            &serde_json::json!("CLIENT_INITIATED"),
            DUPLICATE_IDENTITY
        ));
    }
}
