//! The Whereby Embedded provider. It speaks Whereby's REST API v1 with a bearer key
//! (`POST /meetings`, `DELETE /meetings/{id}`, `GET /insights/room-sessions`, and
//! `PUT /rooms/{roomName}/theme/logo` for the optional logo) and verifies Whereby's signed
//! webhooks (`Whereby-Signature: t=<unix>,v1=<hex HMAC-SHA256>`).
//!
//! Whereby has no API to fetch or start cloud recordings: it writes them into the operator's S3
//! bucket (configured per meeting at creation) and announces them through `recording.finished`
//! and the bucket's S3 notifications, which the recording ingestion reads: this provider names
//! the bucket ([`VideoPlatform::recording_bucket`]) and says which created objects are its
//! recordings ([`VideoPlatform::recording_for_object`]). A recording's id is its file's key,
//! the one name both announcements share. So this provider
//! leaves [`VideoPlatform::recording_media`] and [`VideoPlatform::start_recording`] to the
//! trait's `Unsupported` defaults, as it does [`VideoPlatform::extend_meeting`] (Whereby cannot
//! move a meeting's `endDate`) and [`VideoPlatform::presence`] (it has no presence API; its
//! webhooks and sessions API are the truth).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use reflector_core::{ConfigError, RecordingType};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::client::{ApiClient, MultipartFile};
use crate::registry::{Configured, Provider, ProviderSetup};
use crate::wire;
use crate::wire::{
    Page, call_url, collect_pages, compact_json, lenient_i64, lenient_string, path_segment,
    rfc3339_time,
};
use crate::{
    CreateMeeting, EventKind, JoinRequest, MeetingHandle, MeetingKey, Participant, PlatformError,
    ProviderEvent, ProviderMeeting, ProviderSession, RecordingReady, VideoPlatform, WebhookOutcome,
    WebhookRejection,
};

pub const NAME: &str = "whereby";

pub const PROVIDER: Provider = Provider { name: NAME, setup };

const API_KEY: &str = "WHEREBY_API_KEY";
const API_URL: &str = "WHEREBY_API_URL";
const DEFAULT_API_URL: &str = "https://api.whereby.dev/v1";
const WEBHOOK_SECRET: &str = "WHEREBY_WEBHOOK_SECRET";
const BUCKET_NAME: &str = "WHEREBY_STORAGE_AWS_BUCKET_NAME";
const BUCKET_ACCESS_KEY_ID: &str = "WHEREBY_STORAGE_AWS_ACCESS_KEY_ID";
const BUCKET_SECRET_ACCESS_KEY: &str = "WHEREBY_STORAGE_AWS_SECRET_ACCESS_KEY";
const BUCKET_REGION: &str = "WHEREBY_STORAGE_AWS_REGION";
/// Whereby names recording files `{room name without "/"}-{YYYY-MM-DDTHH:MM:SSZ}.mp4`.
const RECORDING_SUFFIX: &str = ".mp4";
const RECORDING_TIME_LEN: usize = "2026-01-01T00:00:00Z".len();
const LOGO_PATH: &str = "WHEREBY_LOGO_PATH";
/// The SQS queue that receives the Whereby bucket's ObjectCreated notifications.
const RECORDING_QUEUE_URL: &str = "AWS_PROCESS_RECORDING_QUEUE_URL";
const RECORDING_QUEUE_INTERVAL: &str = "WHEREBY_SQS_POLL_INTERVAL_SECONDS";

const SIGNATURE_HEADER: &str = "Whereby-Signature";
/// How far a signature's timestamp may be from our clock, either way, before we call it a replay.
const SIGNATURE_TOLERANCE_SECS: i64 = 60;
/// Whereby lists one `v1=` signature per active secret (rotation); a header with more than this
/// is not from Whereby and is refused without computing anything.
const MAX_SIGNATURES: usize = 4;
/// Whereby accepts at most this many characters in `roomNamePrefix`.
const ROOM_NAME_PREFIX_MAX: usize = 39;
/// A room has few sessions; a cursor chain longer than this means the API is looping.
const MAX_SESSION_PAGES: usize = 50;

fn setup(setup: &ProviderSetup<'_>) -> Result<Configured, ConfigError> {
    let env = setup.env;
    let Some(api_key) = env.get(API_KEY) else {
        return Ok(Configured::Missing { setting: API_KEY });
    };
    let api_url = env.url_or(API_URL, DEFAULT_API_URL)?;
    // The region is not part of what Whereby needs to write into the bucket; we read with it.
    let bucket = match env.get(BUCKET_NAME) {
        Some(name) => Some(RecordingBucket {
            name: name.to_owned(),
            region: env.get(BUCKET_REGION).map(str::to_owned),
            access_key_id: env.require(BUCKET_ACCESS_KEY_ID)?.to_owned(),
            secret_access_key: env.require(BUCKET_SECRET_ACCESS_KEY)?.to_owned(),
        }),
        None => None,
    };
    let recording_queue = match env.get(RECORDING_QUEUE_URL) {
        Some(_) => {
            let seconds: u64 = env.parse_or(RECORDING_QUEUE_INTERVAL, 60)?;
            if seconds == 0 {
                return Err(ConfigError::new(
                    RECORDING_QUEUE_INTERVAL,
                    "must be at least 1",
                ));
            }
            Some(crate::RecordingQueue {
                url: env.url_or(RECORDING_QUEUE_URL, "")?,
                every: std::time::Duration::from_secs(seconds),
            })
        }
        None => None,
    };
    let platform = WherebyPlatform {
        api: ApiClient::new(NAME, &api_url, api_key, API_KEY, setup.retry.clone()),
        recording_queue,
        webhook_secret: env.get(WEBHOOK_SECRET).map(str::to_owned),
        bucket,
        logo_path: env.get(LOGO_PATH).map(PathBuf::from),
    };
    Ok(Configured::Ready {
        platform: Arc::new(platform),
        rollout_rooms: Vec::new(),
    })
}

/// The bucket Whereby writes cloud recordings into; its credentials go into each meeting request.
struct RecordingBucket {
    name: String,
    region: Option<String>,
    access_key_id: String,
    secret_access_key: String,
}

/// Built only by [`PROVIDER`]'s setup. Deliberately not `Debug`: it holds secrets.
pub struct WherebyPlatform {
    api: ApiClient,
    recording_queue: Option<crate::RecordingQueue>,
    webhook_secret: Option<String>,
    bucket: Option<RecordingBucket>,
    logo_path: Option<PathBuf>,
}

// ---- wire types (Whereby's JSON) ----

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateMeetingBody<'a> {
    is_locked: bool,
    room_name_prefix: String,
    room_name_pattern: &'static str,
    room_mode: &'static str,
    end_date: String,
    fields: [&'static str; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    recording: Option<RecordingBody<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RecordingBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    destination: RecordingDestination<'a>,
    start_trigger: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RecordingDestination<'a> {
    provider: &'static str,
    bucket: &'a str,
    access_key_id: &'a str,
    access_key_secret: &'a str,
    file_format: &'static str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreatedMeeting {
    #[serde(default, deserialize_with = "lenient_string")]
    meeting_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    room_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    room_url: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    host_room_url: Option<String>,
}

#[derive(Deserialize)]
struct SessionsPage {
    #[serde(default)]
    results: Vec<SessionWire>,
    #[serde(default, deserialize_with = "lenient_string")]
    cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionWire {
    #[serde(default, deserialize_with = "lenient_string")]
    room_session_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    started_at: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    ended_at: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    #[serde(default, deserialize_with = "lenient_string")]
    id: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "lenient_string")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    created_at: Option<String>,
    #[serde(default)]
    data: serde_json::Value,
}

/// `data` of `room.client.*` and `room.session.*` events.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RoomEventData {
    #[serde(deserialize_with = "lenient_string")]
    meeting_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    participant_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    display_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    external_id: Option<String>,
    #[serde(deserialize_with = "lenient_i64")]
    num_clients: Option<i64>,
}

/// `data` of `recording.finished`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RecordingFinishedData {
    #[serde(deserialize_with = "lenient_string")]
    filename: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    recording_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    room_name: Option<String>,
}

#[async_trait]
impl VideoPlatform for WherebyPlatform {
    fn name(&self) -> &'static str {
        NAME
    }

    fn recording_bucket(&self) -> Option<crate::RecordingBucket> {
        self.bucket.as_ref().map(|b| crate::RecordingBucket {
            bucket: b.name.clone(),
            region: b.region.clone(),
            access_key_id: Some(b.access_key_id.clone()),
            secret_access_key: Some(b.secret_access_key.clone()),
        })
    }

    fn recording_queue(&self) -> Option<crate::RecordingQueue> {
        self.recording_queue.clone()
    }

    fn recording_for_object(&self, bucket: &str, key: &str) -> Option<RecordingReady> {
        if self.bucket.as_ref()?.name != bucket {
            return None;
        }
        recording_for_key(key)
    }

    async fn create_meeting(
        &self,
        request: &CreateMeeting<'_>,
    ) -> Result<ProviderMeeting, PlatformError> {
        let recording = match request.recording_type {
            RecordingType::Cloud => {
                // Fail before calling Whereby: a meeting without its recording destination would
                // silently never record.
                let bucket = self.bucket.as_ref().ok_or(PlatformError::NotConfigured {
                    platform: NAME,
                    setting: BUCKET_NAME,
                })?;
                Some(RecordingBody {
                    kind: "cloud",
                    destination: RecordingDestination {
                        provider: "s3",
                        bucket: &bucket.name,
                        access_key_id: &bucket.access_key_id,
                        access_key_secret: &bucket.secret_access_key,
                        file_format: "mp4",
                    },
                    start_trigger: request.recording_trigger.as_str(),
                })
            }
            RecordingType::None | RecordingType::Local => None,
        };
        let body = CreateMeetingBody {
            is_locked: request.is_locked,
            room_name_prefix: room_name_prefix(request.room_name),
            room_name_pattern: "uuid",
            room_mode: request.room_mode.as_str(),
            end_date: request.end_date.to_rfc3339_opts(SecondsFormat::Secs, true),
            fields: ["hostRoomUrl"],
            recording,
        };
        let created: CreatedMeeting = self.api.post_json("/meetings", &body).await?;
        let missing = |field: &str| PlatformError::BadResponse {
            platform: NAME,
            detail: format!("created meeting has no {field}"),
        };
        let platform_meeting_id = created.meeting_id.ok_or_else(|| missing("meetingId"))?;
        let room_name = created.room_name.ok_or_else(|| missing("roomName"))?;
        let room_url = call_url(
            NAME,
            "roomUrl",
            created.room_url.ok_or_else(|| missing("roomUrl"))?,
        )?;
        let host_room_url = match created.host_room_url {
            Some(url) => call_url(NAME, "hostRoomUrl", url)?,
            None => {
                tracing::warn!(
                    meeting_id = %platform_meeting_id,
                    "whereby returned no hostRoomUrl; hosts get the visitor URL"
                );
                room_url.clone()
            }
        };
        if let Some(logo) = &self.logo_path {
            self.upload_logo(&room_name, logo).await;
        }
        Ok(ProviderMeeting {
            platform_meeting_id,
            room_name,
            room_url,
            host_room_url,
        })
    }

    async fn list_sessions(
        &self,
        meeting: &MeetingHandle<'_>,
    ) -> Result<Vec<ProviderSession>, PlatformError> {
        // An empty page ends the list whatever its cursor says.
        collect_pages(
            NAME,
            "room sessions",
            MAX_SESSION_PAGES,
            |cursor| async move {
                let mut query = vec![("roomName", meeting.room_name)];
                if let Some(cursor) = &cursor {
                    query.push(("cursor", cursor.as_str()));
                }
                let page: SessionsPage =
                    self.api.get_json("/insights/room-sessions", &query).await?;
                Ok(Page {
                    next: page.cursor.filter(|_| !page.results.is_empty()),
                    items: page.results.into_iter().filter_map(session).collect(),
                })
            },
        )
        .await
    }

    async fn delete_meeting(&self, meeting: &MeetingHandle<'_>) -> Result<(), PlatformError> {
        let path = format!("/meetings/{}", path_segment(meeting.platform_meeting_id));
        match self.api.send(Method::DELETE, &path, &[], None::<&()>).await {
            Ok(_) | Err(PlatformError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
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
        headers: &::http::HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<WebhookOutcome, WebhookRejection> {
        let secret = self
            .webhook_secret
            .as_deref()
            .ok_or(WebhookRejection::NotConfigured {
                setting: WEBHOOK_SECRET,
            })?;
        let header = headers
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or(WebhookRejection::MissingSignature {
                header: SIGNATURE_HEADER,
            })?;
        let timestamp = verify_signature(secret.as_bytes(), header, body, now)?;
        let sent_at = DateTime::from_timestamp(timestamp, 0).unwrap_or(now);
        parse_event(body, sent_at).map(|e| WebhookOutcome::Event(Box::new(e)))
    }

    fn webhook_path(&self) -> Option<&'static str> {
        Some("/whereby")
    }
}

impl WherebyPlatform {
    /// Best effort: a missing file or a refused upload leaves the room with Whereby's default
    /// look, which is no reason to fail the meeting.
    async fn upload_logo(&self, room_name: &str, logo: &Path) {
        let bytes = match tokio::fs::read(logo).await {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::warn!(path = %logo.display(), error = %e, "cannot read {LOGO_PATH}; room keeps the default logo");
                return;
            }
        };
        let file_name = logo.file_name().and_then(|n| n.to_str()).unwrap_or("logo");
        let file = MultipartFile {
            field: "image",
            file_name,
            mime: image_mime(logo),
            bytes: &bytes,
        };
        let room = room_name.trim_start_matches('/');
        let path = format!("/rooms/{}/theme/logo", path_segment(room));
        if let Err(e) = self.api.send_file(Method::PUT, &path, &file).await {
            tracing::warn!(room = room_name, error = %e, "whereby logo upload failed; room keeps the default logo");
        }
    }
}

/// `{room name}-`, cut so that the whole prefix fits Whereby's limit.
fn room_name_prefix(room_name: &str) -> String {
    let keep: String = room_name
        .to_ascii_lowercase()
        .chars()
        .take(ROOM_NAME_PREFIX_MAX - 1)
        .collect();
    format!("{keep}-")
}

fn image_mime(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        Some("webp") => "image/webp",
        _ => "application/octet-stream",
    }
}

fn session(wire: SessionWire) -> Option<ProviderSession> {
    let (Some(session_id), Some(started)) = (wire.room_session_id, wire.started_at) else {
        tracing::warn!("whereby room session without id or startedAt; ignored");
        return None;
    };
    let Some(started_at) = rfc3339_time(&started) else {
        tracing::warn!(
            session_id,
            started,
            "whereby room session with unreadable startedAt; ignored"
        );
        return None;
    };
    Some(ProviderSession {
        session_id,
        started_at,
        ended_at: wire.ended_at.as_deref().and_then(rfc3339_time),
    })
}

/// Checks `t=<unix>,v1=<hex>` against the body and returns the signed timestamp.
///
/// Whereby signs `"{t}." + body`. We check the body exactly as received first; if that fails we
/// also accept a signature over the body's compact JSON form (`JSON.stringify`: no whitespace,
/// keys in the order sent), because the original implementation verified that form and a proxy
/// that re-indents JSON would otherwise break every delivery.
///
/// Whatever the header holds, this costs at most two MACs over the body: the timestamp is
/// checked first (a stale one costs none), each form's MAC is computed once, and it is compared
/// with at most [`MAX_SIGNATURES`] candidates (a header with more is refused).
fn verify_signature(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<i64, WebhookRejection> {
    verify_signature_with(header, body, now, |timestamp, payload| {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
            return [0; 32];
        };
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(payload);
        mac.finalize().into_bytes().into()
    })
}

/// [`verify_signature`] with the MAC as a parameter, so tests can count how often it runs.
fn verify_signature_with(
    header: &str,
    body: &[u8],
    now: DateTime<Utc>,
    mut mac: impl FnMut(&str, &[u8]) -> [u8; 32],
) -> Result<i64, WebhookRejection> {
    let signed = SignatureHeader::parse(header)?;
    let age = now.timestamp().saturating_sub(signed.timestamp);
    if !(-SIGNATURE_TOLERANCE_SECS..=SIGNATURE_TOLERANCE_SECS).contains(&age) {
        return Err(WebhookRejection::Stale);
    }
    if signed.candidates.is_empty() {
        return Err(WebhookRejection::BadSignature);
    }
    let matches = |expected: [u8; 32]| {
        // Every candidate is compared, in constant time, so timing tells nothing.
        signed
            .candidates
            .iter()
            .fold(subtle::Choice::from(0), |found, candidate| {
                found | candidate.ct_eq(&expected)
            })
            .into()
    };
    if matches(mac(signed.raw_timestamp, body)) {
        return Ok(signed.timestamp);
    }
    match compact_json(body) {
        Some(compact) if compact != body && matches(mac(signed.raw_timestamp, &compact)) => {
            Ok(signed.timestamp)
        }
        _ => Err(WebhookRejection::BadSignature),
    }
}

/// A `Whereby-Signature` header, read without trusting its size.
struct SignatureHeader<'a> {
    /// As sent: the MAC covers these exact characters.
    raw_timestamp: &'a str,
    timestamp: i64,
    /// The `v1=` values that can be an HMAC-SHA256 at all (64 hex digits).
    candidates: Vec<[u8; 32]>,
}

impl<'a> SignatureHeader<'a> {
    fn parse(header: &'a str) -> Result<Self, WebhookRejection> {
        let mut raw_timestamp = None;
        let mut candidates = Vec::new();
        let mut entries = 0;
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", value)) => raw_timestamp = Some(value.trim()),
                Some(("v1", value)) => {
                    entries += 1;
                    if entries > MAX_SIGNATURES {
                        return Err(WebhookRejection::BadSignature);
                    }
                    let mut candidate = [0u8; 32];
                    if hex::decode_to_slice(value.trim(), &mut candidate).is_ok() {
                        candidates.push(candidate);
                    }
                }
                _ => {}
            }
        }
        let raw_timestamp = raw_timestamp.ok_or(WebhookRejection::BadSignature)?;
        let timestamp = raw_timestamp
            .parse()
            .map_err(|_| WebhookRejection::BadSignature)?;
        Ok(Self {
            raw_timestamp,
            timestamp,
            candidates,
        })
    }
}

/// Turns a verified body into a neutral event. Only a body that is not a JSON object is
/// rejected; a known type that lacks what we need becomes [`EventKind::Other`] (logged), so that
/// Whereby never sees an error for an event it will only send again.
fn parse_event(body: &[u8], sent_at: DateTime<Utc>) -> Result<ProviderEvent, WebhookRejection> {
    let payload = wire::json_body(body)?;
    let envelope: Envelope = wire::webhook_envelope(&payload)?;
    let event_id = wire::event_id(envelope.id.as_deref(), body);
    let event_type = envelope.kind.clone().unwrap_or_default();
    let at = envelope
        .created_at
        .as_deref()
        .and_then(rfc3339_time)
        .unwrap_or(sent_at);
    let kind = event_kind(&event_type, envelope.data, at).unwrap_or_else(|missing| {
        tracing::warn!(
            event_type,
            event_id,
            missing,
            "whereby event lacks a field we need; stored without acting on it"
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
    data: serde_json::Value,
    at: DateTime<Utc>,
) -> Result<EventKind, &'static str> {
    match event_type {
        "room.client.joined" | "room.client.left" => {
            let data: RoomEventData = serde_json::from_value(data).unwrap_or_default();
            let participant = Participant {
                meeting: MeetingKey::PlatformMeetingId(data.meeting_id.ok_or("data.meetingId")?),
                session_id: data.participant_id.ok_or("data.participantId")?,
                user_id: data.external_id,
                user_name: data.display_name,
                at,
                num_clients: data.num_clients,
            };
            Ok(if event_type == "room.client.joined" {
                EventKind::ParticipantJoined(participant)
            } else {
                EventKind::ParticipantLeft(participant)
            })
        }
        "room.session.started" | "room.session.ended" => {
            let data: RoomEventData = serde_json::from_value(data).unwrap_or_default();
            let meeting = MeetingKey::PlatformMeetingId(data.meeting_id.ok_or("data.meetingId")?);
            Ok(if event_type == "room.session.started" {
                EventKind::MeetingStarted { meeting, at }
            } else {
                EventKind::MeetingEnded { meeting, at }
            })
        }
        "recording.finished" => {
            let data: RecordingFinishedData = serde_json::from_value(data).unwrap_or_default();
            let room_name = data.room_name.ok_or("data.roomName")?;
            // Meetings store Whereby's room name as created, with its leading "/".
            let room_name = if room_name.starts_with('/') {
                room_name
            } else {
                format!("/{room_name}")
            };
            // The file's key is the recording's id, because the bucket's notifications (the
            // other announcement of the same recording) know only the key.
            data.recording_id.ok_or("data.recordingId")?;
            let key = data.filename.ok_or("data.filename")?;
            Ok(EventKind::RecordingReady(RecordingReady {
                meeting: MeetingKey::RoomName(room_name),
                recording_id: key.clone(),
                multitrack: false,
                started_at: recording_time(&key),
                duration_seconds: None,
                keys: vec![key],
            }))
        }
        _ => Ok(EventKind::Other),
    }
}

/// The start time in a recording file's name (`…-2026-01-01T07:00:00Z.mp4`).
fn recording_time(key: &str) -> Option<DateTime<Utc>> {
    let stem = key.rsplit('/').next()?.strip_suffix(RECORDING_SUFFIX)?;
    let at = stem.get(stem.len().checked_sub(RECORDING_TIME_LEN)?..)?;
    rfc3339_time(at)
}

/// The recording a file created in our Whereby bucket is: `{room}-{time}.mp4`.
fn recording_for_key(key: &str) -> Option<RecordingReady> {
    let started_at = recording_time(key)?;
    let stem = key.rsplit('/').next()?.strip_suffix(RECORDING_SUFFIX)?;
    let room = stem
        .get(..stem.len() - RECORDING_TIME_LEN)?
        .strip_suffix('-')?;
    if room.is_empty() {
        return None;
    }
    Some(RecordingReady {
        meeting: MeetingKey::RoomName(format!("/{room}")),
        recording_id: key.to_owned(),
        multitrack: false,
        started_at: Some(started_at),
        duration_seconds: None,
        keys: vec![key.to_owned()],
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn at(t: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(t, 0).unwrap()
    }

    /// Runs the verifier with a MAC that counts its calls (and never matches).
    fn macs_computed(
        header: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> (usize, Result<i64, WebhookRejection>) {
        let mut calls = 0;
        let result = verify_signature_with(header, body, now, |_, _| {
            calls += 1;
            [0xee; 32]
        });
        (calls, result)
    }

    #[test]
    fn an_oversized_signature_header_costs_no_mac() {
        let t = 1_767_225_600;
        let body = br#"{"type":"room.client.joined","data":{"a":1}}"#;
        for entry in ["v1=00", &format!("v1={}", "ab".repeat(32))] {
            let header = format!("t={t}{}", format!(",{entry}").repeat(10_000));
            let (calls, result) = macs_computed(&header, body, at(t));
            assert_eq!(result, Err(WebhookRejection::BadSignature));
            assert_eq!(calls, 0, "{entry}");
        }
    }

    #[test]
    fn a_stale_timestamp_costs_no_mac() {
        let t = 1_767_225_600;
        let header = format!("t={t},v1={}", "ab".repeat(32));
        let (calls, result) = macs_computed(&header, b"{}", at(t + 3600));
        assert_eq!(result, Err(WebhookRejection::Stale));
        assert_eq!(calls, 0);
    }

    #[test]
    fn each_body_form_is_macd_once_whatever_the_candidates() {
        let t = 1_767_225_600;
        let header = format!(
            "t={t}{}",
            format!(",v1={}", "ab".repeat(32)).repeat(MAX_SIGNATURES)
        );
        // Raw and compact forms differ: one MAC each, however many candidates.
        let (calls, result) = macs_computed(&header, br#"{ "a": 1 }"#, at(t));
        assert_eq!(result, Err(WebhookRejection::BadSignature));
        assert_eq!(calls, 2);
        // A compact body has one form.
        let (calls, _) = macs_computed(&header, br#"{"a":1}"#, at(t));
        assert_eq!(calls, 1);
    }

    #[test]
    fn a_rotated_secret_signature_among_a_few_is_accepted() {
        let body = br#"{"a":1}"#;
        let good = "15d410d1cdb353b5e77d15b79f2cf9b142f784abbc3bbf7654676b96d67b9494";
        let header = format!("t=1700000000,v1={},v1={good}", "ab".repeat(32));
        assert_eq!(
            verify_signature(b"whsecret", &header, body, at(1_700_000_000)),
            Ok(1_700_000_000)
        );
    }

    #[test]
    fn recording_files_name_their_room_and_start() {
        let r = recording_for_key("team-3f2a9c-2026-01-01T07:00:00Z.mp4").unwrap();
        assert_eq!(r.meeting, MeetingKey::RoomName("/team-3f2a9c".into()));
        assert_eq!(r.recording_id, "team-3f2a9c-2026-01-01T07:00:00Z.mp4");
        assert_eq!(
            r.started_at.unwrap().to_rfc3339(),
            "2026-01-01T07:00:00+00:00"
        );
        for other in [
            "notes.txt",
            "x.mp4",
            "-2026-01-01T07:00:00Z.mp4",
            "a-2026-13-01T07:00:00Z.mp4",
        ] {
            assert_eq!(recording_for_key(other), None, "{other}");
        }
    }

    #[test]
    fn prefix_fits_whereby_limit() {
        assert_eq!(room_name_prefix("team"), "team-");
        let long = "a".repeat(64);
        let prefix = room_name_prefix(&long);
        assert_eq!(prefix.len(), ROOM_NAME_PREFIX_MAX);
        assert!(prefix.ends_with('-'));
    }
}
