//! The Daily provider against a fake Daily API: the exact requests we send, how answers and
//! failures map to typed results, and webhook verification and parsing.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue};
use reflector_core::{ConfigError, Env, RecordingTrigger, RecordingType, RoomMode};
use reflector_platforms::{
    Configured, CreateMeeting, EventKind, JoinRequest, MeetingHandle, MeetingKey, Participant,
    PlatformError, PresentParticipant, ProviderEvent, ProviderSession, ProviderSetup,
    RecordingLayout, RecordingMedia, RecordingReady, RecordingStarted, RetryPolicy, StartRecording,
    TrackSpeaker, VideoPlatform, WebhookOutcome, WebhookRejection, daily,
};
use serde_json::{Value, json};
use sha2::Sha256;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const KEY: &str = "daily-key";
/// Decodes to 32 ASCII zeros.
const SECRET: &str = "MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA=";
const MEETING_ID: &str = "4ad503b6-8189-4910-a8f7-68cdd1b7f990";
const RAW_TRACKS_ID: &str = "784b3af3-c7dd-57f0-ac54-2ee91c6927cb";

fn fast() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        timeout: Duration::from_secs(2),
    }
}

fn configure(pairs: &[(&str, &str)]) -> Result<Configured, ConfigError> {
    (daily::PROVIDER.setup)(&ProviderSetup {
        env: &Env::from_pairs(pairs.iter().copied()),
        retry: fast(),
        base_url: "http://localhost:1250",
        events: None,
    })
}

fn build(pairs: &[(&str, &str)]) -> Arc<dyn VideoPlatform> {
    match configure(pairs).unwrap() {
        Configured::Ready { platform, .. } => platform,
        Configured::Missing { setting } => panic!("daily not configured: {setting}"),
    }
}

const BUCKET: &[(&str, &str)] = &[
    ("DAILYCO_STORAGE_AWS_BUCKET_NAME", "daily-recordings"),
    ("DAILYCO_STORAGE_AWS_REGION", "us-east-1"),
    (
        "DAILYCO_STORAGE_AWS_ROLE_ARN",
        "arn:aws:iam::123456789012:role/Daily",
    ),
];

/// A provider talking to `server` under `/v1`, with the given extra settings.
fn daily_at(server: &MockServer, extra: &[(&str, &str)]) -> Arc<dyn VideoPlatform> {
    let api = format!("{}/v1", server.uri());
    let mut pairs = vec![
        ("DAILY_API_KEY", KEY),
        ("DAILY_API_URL", api.as_str()),
        ("DAILY_WEBHOOK_SECRET", SECRET),
    ];
    pairs.extend_from_slice(extra);
    build(&pairs)
}

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, h, m, s).unwrap()
}

fn create_request(recording_type: RecordingType) -> CreateMeeting<'static> {
    CreateMeeting {
        room_name: "team-standup",
        start_date: at(7, 0, 5),
        end_date: at(8, 0, 0),
        is_locked: false,
        room_mode: RoomMode::Normal,
        recording_type,
        recording_trigger: RecordingTrigger::AutomaticSecondParticipant,
    }
}

fn handle() -> MeetingHandle<'static> {
    MeetingHandle {
        meeting_id: MEETING_ID,
        platform_meeting_id: "d1b2c3",
        room_name: "team-standup-20260101070005-1a2b",
        room_url: "https://acme.daily.co/team-standup-20260101070005-1a2b",
        end_date: at(8, 0, 0),
    }
}

fn assert_bearer(request: &Request) {
    assert_eq!(
        request.headers.get("authorization").unwrap(),
        &format!("Bearer {KEY}"),
        "{} {}",
        request.method,
        request.url
    );
}

fn body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap()
}

// ---- configuration ----

#[test]
fn setup_without_api_key_is_missing_that_key() {
    match configure(&[("DAILY_WEBHOOK_SECRET", SECRET)]).unwrap() {
        Configured::Missing { setting } => assert_eq!(setting, "DAILY_API_KEY"),
        Configured::Ready { .. } => panic!("ready without a key"),
    }
}

#[test]
fn setup_errors_name_the_variable_to_fix() {
    let err = configure(&[
        ("DAILY_API_KEY", "k"),
        ("DAILY_WEBHOOK_SECRET", "not base64!"),
    ])
    .err()
    .unwrap();
    assert_eq!(err.variable, "DAILY_WEBHOOK_SECRET");

    let err = configure(&[("DAILY_API_KEY", "k"), ("DAILY_API_URL", "api.daily.co")])
        .err()
        .unwrap();
    assert_eq!(err.variable, "DAILY_API_URL");

    let err = configure(&[
        ("DAILY_API_KEY", "k"),
        ("DAILYCO_STORAGE_AWS_BUCKET_NAME", "b"),
        ("DAILYCO_STORAGE_AWS_ROLE_ARN", "arn"),
    ])
    .err()
    .unwrap();
    assert_eq!(err.variable, "DAILYCO_STORAGE_AWS_REGION");

    let err = configure(&[
        ("DAILY_API_KEY", "k"),
        ("DAILYCO_STORAGE_AWS_BUCKET_NAME", "b"),
        ("DAILYCO_STORAGE_AWS_REGION", "us-east-1"),
    ])
    .err()
    .unwrap();
    assert_eq!(err.variable, "DAILYCO_STORAGE_AWS_ROLE_ARN");

    let err = configure(&[("DAILY_API_KEY", "k"), ("DAILY_MIGRATION_ENABLED", "maybe")])
        .err()
        .unwrap();
    assert_eq!(err.variable, "DAILY_MIGRATION_ENABLED");
}

#[test]
fn rollout_rooms_come_from_the_migration_settings() {
    let rooms = |pairs: &[(&str, &str)]| match configure(pairs).unwrap() {
        Configured::Ready { rollout_rooms, .. } => rollout_rooms,
        Configured::Missing { setting } => panic!("missing {setting}"),
    };
    assert!(rooms(&[("DAILY_API_KEY", "k"), ("DAILY_MIGRATION_ROOM_IDS", "a,b")]).is_empty());
    assert_eq!(
        rooms(&[
            ("DAILY_API_KEY", "k"),
            ("DAILY_MIGRATION_ENABLED", "true"),
            ("DAILY_MIGRATION_ROOM_IDS", "team-a, 1234 ,"),
        ]),
        ["team-a", "1234"]
    );
    assert_eq!(
        rooms(&[
            ("DAILY_API_KEY", "k"),
            ("DAILY_MIGRATION_ENABLED", "true"),
            ("DAILY_MIGRATION_ROOM_IDS", r#"["x"]"#),
        ]),
        ["x"]
    );
}

#[test]
fn webhook_path_and_name() {
    let platform = build(&[("DAILY_API_KEY", "k")]);
    assert_eq!(platform.name(), "daily");
    assert_eq!(platform.webhook_path(), Some("/daily/webhook"));
}

#[test]
fn raw_tracks_instance_id_matches_the_vector() {
    assert_eq!(
        daily::raw_tracks_instance_id(MEETING_ID).to_string(),
        RAW_TRACKS_ID
    );
}

// ---- create ----

fn created_answer() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "d1b2c3",
        "name": "team-standup-20260101070005-1a2b",
        "api_created": true,
        "privacy": "public",
        "url": "https://acme.daily.co/team-standup-20260101070005-1a2b",
        "created_at": "2026-01-01T07:00:05.000Z",
        "config": {"exp": 1767254400}
    }))
}

async fn mount_create(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/v1/rooms"))
        .respond_with(created_answer())
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_created_room_whose_url_is_not_a_url_is_a_bad_response() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/rooms"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "d1", "name": "team-standup-20260101070005-1a2b", "url": "acme.daily.co/x"
        })))
        .mount(&server)
        .await;
    let err = daily_at(&server, &[])
        .create_meeting(&create_request(RecordingType::None))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PlatformError::BadResponse { detail, .. }
            if detail.contains("\"acme.daily.co/x\" is not an absolute http(s) URL")),
        "{err:?}"
    );
}

/// Creates a meeting and returns the one request Daily received, with its name checked and
/// removed so the rest can be compared exactly.
async fn create_and_capture(
    extra: &[(&str, &str)],
    request: CreateMeeting<'_>,
) -> (reflector_platforms::ProviderMeeting, Value) {
    let server = MockServer::start().await;
    mount_create(&server).await;
    let meeting = daily_at(&server, extra)
        .create_meeting(&request)
        .await
        .unwrap();
    let received = requests(&server).await;
    assert_eq!(received.len(), 1);
    let sent = &received[0];
    assert_eq!(sent.method.as_str(), "POST");
    assert_eq!(sent.url.path(), "/v1/rooms");
    assert_eq!(sent.url.query(), None);
    assert_bearer(sent);
    let mut json = body(sent);
    let name = json
        .as_object_mut()
        .unwrap()
        .remove("name")
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    assert_daily_name(&name);
    (meeting, json)
}

/// `team-standup-{UTC start as YYYYMMDDHHMMSS}-{4 lowercase hex}`.
fn assert_daily_name(name: &str) {
    let suffix = name
        .strip_prefix("team-standup-20260101070005-")
        .unwrap_or_else(|| panic!("unexpected room name {name}"));
    assert_eq!(suffix.len(), 4, "{name}");
    assert!(
        suffix
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "{name}"
    );
}

#[tokio::test]
async fn create_sends_the_exact_request_and_maps_the_answer() {
    let (meeting, sent) = create_and_capture(&[], create_request(RecordingType::None)).await;
    assert_eq!(
        sent,
        json!({
            "privacy": "public",
            "properties": {
                "exp": 1767254400,
                "enable_knocking": false,
                "enable_chat": true,
                "enable_screenshare": true,
                "start_video_off": false,
                "start_audio_off": false
            }
        })
    );
    assert_eq!(meeting.platform_meeting_id, "d1b2c3");
    assert_eq!(meeting.room_name, "team-standup-20260101070005-1a2b");
    assert_eq!(
        meeting.room_url,
        "https://acme.daily.co/team-standup-20260101070005-1a2b"
    );
    assert_eq!(meeting.host_room_url, meeting.room_url);
}

#[tokio::test]
async fn locked_rooms_are_private_with_knocking_and_local_recording_is_enabled() {
    let mut request = create_request(RecordingType::Local);
    request.is_locked = true;
    let (_, sent) = create_and_capture(BUCKET, request).await;
    assert_eq!(
        sent,
        json!({
            "privacy": "private",
            "properties": {
                "exp": 1767254400,
                "enable_knocking": true,
                "enable_chat": true,
                "enable_screenshare": true,
                "start_video_off": false,
                "start_audio_off": false,
                "enable_recording": "local"
            }
        })
    );
}

#[tokio::test]
async fn cloud_recording_without_customer_bucket_uses_daily_storage() {
    let (_, sent) = create_and_capture(&[], create_request(RecordingType::Cloud)).await;
    assert_eq!(
        sent["properties"],
        json!({
            "exp": 1767254400,
            "enable_knocking": false,
            "enable_chat": true,
            "enable_screenshare": true,
            "start_video_off": false,
            "start_audio_off": false,
            "enable_recording": "cloud"
        })
    );
}

#[tokio::test]
async fn cloud_recording_with_customer_bucket_records_raw_tracks_into_it() {
    let (_, sent) = create_and_capture(BUCKET, create_request(RecordingType::Cloud)).await;
    assert_eq!(
        sent,
        json!({
            "privacy": "public",
            "properties": {
                "exp": 1767254400,
                "enable_knocking": false,
                "enable_chat": true,
                "enable_screenshare": true,
                "start_video_off": false,
                "start_audio_off": false,
                "enable_recording": "raw-tracks",
                "recordings_bucket": {
                    "bucket_name": "daily-recordings",
                    "bucket_region": "us-east-1",
                    "assume_role_arn": "arn:aws:iam::123456789012:role/Daily",
                    "allow_api_access": true
                }
            }
        })
    );
}

#[tokio::test]
async fn two_meetings_created_in_the_same_second_get_distinct_names() {
    let server = MockServer::start().await;
    mount_create(&server).await;
    let platform = daily_at(&server, &[]);
    let request = create_request(RecordingType::None);
    platform.create_meeting(&request).await.unwrap();
    platform.create_meeting(&request).await.unwrap();
    let names: Vec<String> = requests(&server)
        .await
        .iter()
        .map(|r| body(r)["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 2);
    names.iter().for_each(|n| assert_daily_name(n));
    assert_ne!(names[0], names[1]);
}

#[tokio::test]
async fn create_rejections_are_typed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"error": "invalid-request-error", "info": "a room named x already exists"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let err = daily_at(&server, &[])
        .create_meeting(&create_request(RecordingType::None))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PlatformError::Rejected { platform: "daily", status: 400, detail } if detail.contains("already exists")),
        "{err:?}"
    );
}

// ---- join ----

async fn join_with(join: JoinRequest<'_>, room_url: &str) -> (String, Value) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/meeting-tokens"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"token": "eyJ.tok-en_1"})))
        .mount(&server)
        .await;
    let mut meeting = handle();
    meeting.room_url = room_url;
    let url = daily_at(&server, &[])
        .join_url(&meeting, &join)
        .await
        .unwrap();
    let received = requests(&server).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].method.as_str(), "POST");
    assert_bearer(&received[0]);
    (url, body(&received[0]))
}

#[tokio::test]
async fn join_url_mints_a_token_for_the_user() {
    let long_user = "u".repeat(40);
    let (url, sent) = join_with(
        JoinRequest {
            user_id: Some(&long_user),
            user_name: None,
            is_owner: true,
            admit: true,
            recording_type: RecordingType::Local,
            skip_consent: false,
        },
        "https://acme.daily.co/room",
    )
    .await;
    assert_eq!(url, "https://acme.daily.co/room?t=eyJ.tok-en_1");
    assert_eq!(
        sent,
        json!({
            "properties": {
                "room_name": "team-standup-20260101070005-1a2b",
                "user_id": "u".repeat(36),
                "is_owner": true,
                "enable_recording_ui": true,
                "exp": 1767254400
            }
        })
    );
}

#[tokio::test]
async fn anonymous_join_omits_user_id_and_appends_to_an_existing_query() {
    let (url, sent) = join_with(
        JoinRequest {
            user_id: None,
            user_name: None,
            is_owner: false,
            admit: true,
            recording_type: RecordingType::None,
            skip_consent: true,
        },
        "https://acme.daily.co/room?lang=fr",
    )
    .await;
    assert_eq!(url, "https://acme.daily.co/room?lang=fr&t=eyJ.tok-en_1");
    assert_eq!(
        sent,
        json!({
            "properties": {
                "room_name": "team-standup-20260101070005-1a2b",
                "is_owner": false,
                "enable_recording_ui": false,
                "exp": 1767254400
            }
        })
    );
}

#[tokio::test]
async fn cloud_recording_ui_only_when_consent_is_skipped() {
    for (skip_consent, expected) in [(false, false), (true, true)] {
        let (_, sent) = join_with(
            JoinRequest {
                user_id: Some("u1"),
                user_name: None,
                is_owner: false,
                admit: true,
                recording_type: RecordingType::Cloud,
                skip_consent,
            },
            "https://acme.daily.co/room",
        )
        .await;
        assert_eq!(sent["properties"]["enable_recording_ui"], expected);
    }
}

#[tokio::test]
async fn whoever_must_knock_gets_no_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"token": "t"})))
        .expect(0)
        .mount(&server)
        .await;
    let mut meeting = handle();
    meeting.room_url = "https://acme.daily.co/room";
    let url = daily_at(&server, &[])
        .join_url(
            &meeting,
            &JoinRequest {
                user_id: Some("visitor"),
                user_name: None,
                is_owner: false,
                admit: false,
                recording_type: RecordingType::Cloud,
                skip_consent: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(url, "https://acme.daily.co/room");
}

// ---- sessions ----

#[tokio::test]
async fn list_sessions_reads_daily_meeting_sessions() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/meetings"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "total_count": 2,
            "data": [
                {"id": "m2", "room": "r", "start_time": 1767250800, "duration": 0,
                 "ongoing": true, "max_participants": 2, "participants": []},
                {"id": "m1", "room": "r", "start_time": 1767250000.5, "duration": 600,
                 "ongoing": false}
            ]
        })))
        .mount(&server)
        .await;
    let sessions = daily_at(&server, &[])
        .list_sessions(&handle())
        .await
        .unwrap();
    assert_eq!(
        sessions,
        vec![
            ProviderSession {
                session_id: "m2".into(),
                started_at: at(7, 0, 0),
                ended_at: None,
            },
            ProviderSession {
                session_id: "m1".into(),
                started_at: DateTime::from_timestamp(1_767_250_000, 500_000_000).unwrap(),
                ended_at: Some(DateTime::from_timestamp(1_767_250_600, 500_000_000).unwrap()),
            },
        ]
    );
    let received = requests(&server).await;
    assert_eq!(received.len(), 1);
    assert_bearer(&received[0]);
    assert_eq!(
        received[0].url.query(),
        Some("room=team-standup-20260101070005-1a2b&limit=100")
    );
}

#[tokio::test]
async fn list_sessions_pages_through_full_pages() {
    let server = MockServer::start().await;
    let full: Vec<Value> = (0..100)
        .map(|i| json!({"id": format!("m{i}"), "start_time": 1767250800 + i, "duration": 60, "ongoing": false}))
        .collect();
    Mock::given(method("GET"))
        .and(path("/v1/meetings"))
        .and(query_param("starting_after", "m99"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [{"id": "m100", "start_time": 1767250900, "duration": null, "ongoing": false}]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/meetings"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": full})))
        .mount(&server)
        .await;
    let sessions = daily_at(&server, &[])
        .list_sessions(&handle())
        .await
        .unwrap();
    assert_eq!(sessions.len(), 101);
    assert_eq!(sessions[100].session_id, "m100");
    let received = requests(&server).await;
    assert_eq!(received.len(), 2);
    assert_eq!(
        received[1].url.query(),
        Some("room=team-standup-20260101070005-1a2b&limit=100&starting_after=m99")
    );
}

// ---- delete and extend ----

#[tokio::test]
async fn delete_is_idempotent() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/v1/rooms/team-standup-20260101070005-1a2b"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"deleted": true})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v1/rooms/team-standup-20260101070005-1a2b"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"error": "not-found", "info": "room not found"})),
        )
        .mount(&server)
        .await;
    let platform = daily_at(&server, &[]);
    platform.delete_meeting(&handle()).await.unwrap();
    platform.delete_meeting(&handle()).await.unwrap();
    let received = requests(&server).await;
    assert_eq!(received.len(), 2);
    assert_bearer(&received[0]);
    assert!(received[0].body.is_empty());
}

#[tokio::test]
async fn room_deletions_are_paced_below_daily_limit() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"deleted": true})))
        .mount(&server)
        .await;
    let platform = daily_at(&server, &[]);
    let started = Instant::now();
    for _ in 0..3 {
        platform.delete_meeting(&handle()).await.unwrap();
    }
    // Two per second: the third deletion has to wait for the limiter.
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn extend_sends_only_the_new_expiry() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/rooms/team-standup-20260101070005-1a2b"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"name": "x"})))
        .expect(1)
        .mount(&server)
        .await;
    daily_at(&server, &[])
        .extend_meeting(&handle(), at(9, 30, 0))
        .await
        .unwrap();
    let received = requests(&server).await;
    assert_bearer(&received[0]);
    assert_eq!(
        body(&received[0]),
        json!({"properties": {"exp": at(9, 30, 0).timestamp()}})
    );
}

// ---- recording media ----

async fn mount_recording(server: &MockServer, recording: Value) {
    Mock::given(method("GET"))
        .and(path("/v1/recordings/rec-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(recording))
        .mount(server)
        .await;
}

#[tokio::test]
async fn unfinished_recordings_are_not_ready() {
    for status in ["in-progress", "canceled", "some-new-status"] {
        let server = MockServer::start().await;
        mount_recording(
            &server,
            json!({"id": "rec-1", "status": status, "duration": null, "tracks": null}),
        )
        .await;
        let media = daily_at(&server, BUCKET)
            .recording_media("rec-1")
            .await
            .unwrap();
        assert_eq!(
            media,
            RecordingMedia::NotReady {
                status: status.into()
            }
        );
        let received = requests(&server).await;
        assert_eq!(received.len(), 1);
        assert_bearer(&received[0]);
    }
}

#[tokio::test]
async fn raw_tracks_in_the_customer_bucket_are_the_audio_tracks() {
    let server = MockServer::start().await;
    mount_recording(
        &server,
        json!({
            "id": "rec-1", "status": "finished", "duration": null, "mtgSessionId": "mtg-1",
            "s3key": "acme/room/1767250800000",
            "tracks": [
                {"type": "audio", "s3Key": "acme/room/1767250800000-p1-cam-audio-1", "size": 10},
                {"type": "video", "s3Key": "acme/room/1767250800000-p1-cam-video-1", "size": 90},
                {"type": "audio", "s3Key": "acme/room/1767250800000-p2-cam-audio-2", "size": 12},
                {"type": "audio", "s3Key": "acme/room/1767250800000-p2-screen-audio-3", "size": 3}
            ]
        }),
    )
    .await;
    let media = daily_at(&server, BUCKET)
        .recording_media("rec-1")
        .await
        .unwrap();
    assert_eq!(
        media,
        RecordingMedia::Bucket {
            bucket: "daily-recordings".into(),
            keys: vec![
                "acme/room/1767250800000-p1-cam-audio-1".into(),
                "acme/room/1767250800000-p2-cam-audio-2".into(),
            ],
        }
    );
}

#[tokio::test]
async fn a_composed_recording_in_the_customer_bucket_is_its_s3key() {
    let server = MockServer::start().await;
    mount_recording(
        &server,
        json!({"id": "rec-1", "status": "finished", "duration": 61.5, "s3key": "acme/room/1767250800000", "tracks": []}),
    )
    .await;
    let media = daily_at(&server, BUCKET)
        .recording_media("rec-1")
        .await
        .unwrap();
    assert_eq!(
        media,
        RecordingMedia::Bucket {
            bucket: "daily-recordings".into(),
            keys: vec!["acme/room/1767250800000".into()],
        }
    );
    assert_eq!(requests(&server).await.len(), 1);
}

#[tokio::test]
async fn without_a_customer_bucket_recordings_download_through_an_access_link() {
    let server = MockServer::start().await;
    mount_recording(
        &server,
        json!({"id": "rec-1", "status": "finished", "duration": 61, "s3key": "daily/room/1"}),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/v1/recordings/rec-1/access-link"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "download_link": "https://daily-recordings.example/rec-1.mp4?sig=abc",
            "expires": 1767297600
        })))
        .mount(&server)
        .await;
    let media = daily_at(&server, &[])
        .recording_media("rec-1")
        .await
        .unwrap();
    assert_eq!(
        media,
        RecordingMedia::Link {
            url: "https://daily-recordings.example/rec-1.mp4?sig=abc".into(),
            expires_at: at(20, 0, 0),
        }
    );
    let received = requests(&server).await;
    assert_eq!(received.len(), 2);
    assert_eq!(received[1].method.as_str(), "GET");
    assert_eq!(received[1].url.path(), "/v1/recordings/rec-1/access-link");
    assert_eq!(received[1].url.query(), Some("valid_for_secs=43200"));
    assert_bearer(&received[1]);
}

#[tokio::test]
async fn an_unknown_recording_is_not_found() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_string("not-found"))
        .mount(&server)
        .await;
    let err = daily_at(&server, &[])
        .recording_media("nope")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PlatformError::NotFound {
                platform: "daily",
                ..
            }
        ),
        "{err:?}"
    );
}

// ---- start recording ----

async fn mount_start(server: &MockServer, answer: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(
            "/v1/rooms/team-standup-20260101070005-1a2b/recordings/start",
        ))
        .respond_with(answer)
        .mount(server)
        .await;
}

#[tokio::test]
async fn start_recording_sends_type_and_instance_id() {
    let server = MockServer::start().await;
    mount_start(
        &server,
        ResponseTemplate::new(200).set_body_json(json!({"status": "sent"})),
    )
    .await;
    let platform = daily_at(&server, BUCKET);
    let started = platform
        .start_recording(
            &handle(),
            &StartRecording {
                layout: RecordingLayout::Composed,
                instance_id: MEETING_ID,
            },
        )
        .await
        .unwrap();
    assert_eq!(started, RecordingStarted::Started);
    let started = platform
        .start_recording(
            &handle(),
            &StartRecording {
                layout: RecordingLayout::Tracks,
                instance_id: RAW_TRACKS_ID,
            },
        )
        .await
        .unwrap();
    assert_eq!(started, RecordingStarted::Started);
    let received = requests(&server).await;
    assert_eq!(received.len(), 2);
    assert_bearer(&received[0]);
    assert_eq!(
        body(&received[0]),
        json!({"type": "cloud", "instanceId": MEETING_ID})
    );
    assert_eq!(
        body(&received[1]),
        json!({"type": "raw-tracks", "instanceId": RAW_TRACKS_ID})
    );
}

#[tokio::test]
async fn an_active_stream_means_already_started() {
    let server = MockServer::start().await;
    mount_start(
        &server,
        ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid-request-error",
            "info": "room team-standup has an active stream"
        })),
    )
    .await;
    let started = daily_at(&server, &[])
        .start_recording(
            &handle(),
            &StartRecording {
                layout: RecordingLayout::Composed,
                instance_id: MEETING_ID,
            },
        )
        .await
        .unwrap();
    assert_eq!(started, RecordingStarted::AlreadyActive);
}

#[tokio::test]
async fn invalid_start_requests_never_reach_daily() {
    let server = MockServer::start().await;
    mount_start(&server, ResponseTemplate::new(200)).await;
    let with_bucket = daily_at(&server, BUCKET);
    let without_bucket = daily_at(&server, &[]);
    let start = |layout, instance_id| StartRecording {
        layout,
        instance_id,
    };

    let err = with_bucket
        .start_recording(&handle(), &start(RecordingLayout::Composed, RAW_TRACKS_ID))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PlatformError::InvalidRequest { .. }),
        "{err:?}"
    );

    let err = with_bucket
        .start_recording(&handle(), &start(RecordingLayout::Tracks, MEETING_ID))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PlatformError::InvalidRequest { .. }),
        "{err:?}"
    );

    let err = without_bucket
        .start_recording(&handle(), &start(RecordingLayout::Tracks, RAW_TRACKS_ID))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        PlatformError::NotConfigured {
            platform: "daily",
            setting: "DAILYCO_STORAGE_AWS_BUCKET_NAME"
        }
    );
    assert!(requests(&server).await.is_empty());
}

// ---- webhooks ----

fn sign(secret_b64: &str, timestamp: &str, body: &[u8]) -> String {
    let key = BASE64.decode(secret_b64).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    BASE64.encode(mac.finalize().into_bytes())
}

fn signed_headers(timestamp: &str, signature: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-webhook-signature",
        HeaderValue::from_str(signature).unwrap(),
    );
    headers.insert(
        "x-webhook-timestamp",
        HeaderValue::from_str(timestamp).unwrap(),
    );
    headers
}

/// Our clock when the test deliveries (signed at 1767250800) arrive.
fn signed_now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_250_860, 0).unwrap()
}

fn verify(platform: &dyn VideoPlatform, body: &Value) -> Result<WebhookOutcome, WebhookRejection> {
    let raw = body.to_string();
    let headers = signed_headers("1767250800", &sign(SECRET, "1767250800", raw.as_bytes()));
    platform.verify_webhook(&headers, raw.as_bytes(), signed_now())
}

fn event(outcome: WebhookOutcome) -> ProviderEvent {
    match outcome {
        WebhookOutcome::Event(event) => *event,
        WebhookOutcome::Probe => panic!("unexpected probe"),
    }
}

fn webhook_platform() -> Arc<dyn VideoPlatform> {
    build(&[("DAILY_API_KEY", "k"), ("DAILY_WEBHOOK_SECRET", SECRET)])
}

#[test]
fn signature_test_vector_is_accepted() {
    const VECTOR: &str = "6b6G16GuqjAZDNS3w7dU/oFIIy6aodRnlR/ckgC7dII=";
    assert_eq!(sign(SECRET, "1700000000", br#"{"a":1}"#), VECTOR);
    let got = event(
        webhook_platform()
            .verify_webhook(
                &signed_headers("1700000000", VECTOR),
                br#"{"a":1}"#,
                DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            )
            .unwrap(),
    );
    assert_eq!(got.kind, EventKind::Other);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&got.payload).unwrap(),
        json!({"a": 1})
    );
}

#[test]
fn the_endpoint_probe_is_answered_without_a_signature() {
    let body = br#"{"test":"test"}"#;
    let unconfigured = build(&[("DAILY_API_KEY", "k")]);
    for platform in [webhook_platform(), unconfigured] {
        assert_eq!(
            platform.verify_webhook(&HeaderMap::new(), body, signed_now()),
            Ok(WebhookOutcome::Probe)
        );
    }
    // Anything more than the probe is an event and must be signed.
    assert_eq!(
        webhook_platform().verify_webhook(
            &HeaderMap::new(),
            br#"{"test":"test","type":"meeting.ended"}"#,
            signed_now()
        ),
        Err(WebhookRejection::MissingSignature {
            header: "X-Webhook-Signature"
        })
    );
}

#[test]
fn webhook_rejections_are_typed() {
    let body = br#"{"version":"1.0.0","type":"meeting.started","id":"e1","payload":{"room":"r"},"event_ts":1767250800}"#;
    let good = sign(SECRET, "1767250800", body);

    let unconfigured = build(&[("DAILY_API_KEY", "k")]);
    assert_eq!(
        unconfigured.verify_webhook(&signed_headers("1767250800", &good), body, signed_now()),
        Err(WebhookRejection::NotConfigured {
            setting: "DAILY_WEBHOOK_SECRET"
        })
    );

    let platform = webhook_platform();
    let mut only_signature = HeaderMap::new();
    only_signature.insert("x-webhook-signature", HeaderValue::from_str(&good).unwrap());
    assert_eq!(
        platform.verify_webhook(&only_signature, body, signed_now()),
        Err(WebhookRejection::MissingSignature {
            header: "X-Webhook-Timestamp"
        })
    );
    assert_eq!(
        platform.verify_webhook(&HeaderMap::new(), body, signed_now()),
        Err(WebhookRejection::MissingSignature {
            header: "X-Webhook-Signature"
        })
    );
    // Signed with the secret's base64 text instead of its decoded bytes.
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(b"1767250800.");
    mac.update(body);
    let undecoded = BASE64.encode(mac.finalize().into_bytes());
    for (timestamp, signature) in [
        ("1767250800", undecoded.as_str()),
        ("1767250801", good.as_str()),
        ("1767250800", "not base64 at all"),
    ] {
        assert_eq!(
            platform.verify_webhook(&signed_headers(timestamp, signature), body, signed_now()),
            Err(WebhookRejection::BadSignature),
            "{timestamp} {signature}"
        );
    }
    let tampered = br#"{"version":"1.0.0","type":"meeting.ended","id":"e1","payload":{"room":"r"},"event_ts":1767250800}"#;
    assert_eq!(
        platform.verify_webhook(&signed_headers("1767250800", &good), tampered, signed_now()),
        Err(WebhookRejection::BadSignature)
    );
}

#[test]
fn deliveries_older_than_the_inbox_remembers_are_refused() {
    let platform = webhook_platform();
    let body = br#"{"version":"1.0.0","type":"meeting.started","id":"e1","payload":{"room":"r"},"event_ts":1767250800}"#;
    let headers = signed_headers("1767250800", &sign(SECRET, "1767250800", body));
    let signed = DateTime::from_timestamp(1_767_250_800, 0).unwrap();
    // Daily redelivers with the original signature: days later is still fine.
    assert!(
        platform
            .verify_webhook(&headers, body, signed + chrono::Duration::days(29))
            .is_ok()
    );
    // Once the inbox may have forgotten the event id, a replay would look new: refused.
    for later in [
        reflector_core::webhook::WEBHOOK_INBOX_RETENTION,
        chrono::Duration::days(31),
    ] {
        assert_eq!(
            platform.verify_webhook(&headers, body, signed + later),
            Err(WebhookRejection::Stale),
            "{later}"
        );
    }
    // So is a timestamp far ahead of our clock.
    assert_eq!(
        platform.verify_webhook(&headers, body, signed - chrono::Duration::hours(1)),
        Err(WebhookRejection::Stale)
    );
    // Milliseconds are read as such.
    let headers = signed_headers("1767250800000", &sign(SECRET, "1767250800000", body));
    assert!(platform.verify_webhook(&headers, body, signed).is_ok());
    // A timestamp that is no time is refused before any MAC.
    let headers = signed_headers("soon", &sign(SECRET, "soon", body));
    assert_eq!(
        platform.verify_webhook(&headers, body, signed),
        Err(WebhookRejection::BadSignature)
    );
}

#[test]
fn a_signed_body_that_is_not_json_is_malformed() {
    let platform = webhook_platform();
    for body in [&b"{not json"[..], b"\"text\""] {
        let headers = signed_headers("1767250800", &sign(SECRET, "1767250800", body));
        let result = platform.verify_webhook(&headers, body, signed_now());
        assert!(
            matches!(result, Err(WebhookRejection::Malformed(_))),
            "{result:?}"
        );
    }
}

#[test]
fn participant_events_name_the_room() {
    let platform = webhook_platform();
    let joined = json!({
        "version": "1.0.0",
        "type": "participant.joined",
        "id": "ptcpt-join-1",
        "payload": {
            "room": "team-standup-20260101070005-1a2b",
            "user_id": "user-1",
            "user_name": "Ada",
            "session_id": "sess-1",
            "joined_at": 1767250800.25,
            "will_eject_at": null,
            "owner": false,
            "permissions": {"hasPresence": true}
        },
        "event_ts": 1767250800.3
    });
    let got = event(verify(&*platform, &joined).unwrap());
    assert_eq!(got.event_id, "ptcpt-join-1");
    assert_eq!(got.event_type, "participant.joined");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&got.payload).unwrap(),
        joined
    );
    assert_eq!(
        got.kind,
        EventKind::ParticipantJoined(Participant {
            meeting: MeetingKey::RoomName("team-standup-20260101070005-1a2b".into()),
            session_id: "sess-1".into(),
            user_id: Some("user-1".into()),
            user_name: Some("Ada".into()),
            at: DateTime::from_timestamp(1_767_250_800, 250_000_000).unwrap(),
            num_clients: None,
        })
    );

    let left = json!({
        "version": "1.0.0",
        "type": "participant.left",
        "id": "ptcpt-left-1",
        "payload": {"room": "r", "session_id": "sess-2", "joined_at": 1767250800, "duration": 125},
        "event_ts": 1767251000
    });
    assert_eq!(
        event(verify(&*platform, &left).unwrap()).kind,
        EventKind::ParticipantLeft(Participant {
            meeting: MeetingKey::RoomName("r".into()),
            session_id: "sess-2".into(),
            user_id: None,
            user_name: None,
            at: at(7, 2, 5),
            num_clients: None,
        })
    );
}

#[test]
fn meeting_events_become_started_and_ended() {
    let platform = webhook_platform();
    let started = json!({
        "version": "1.0.0", "type": "meeting.started", "id": "m-s",
        "payload": {"room": "r", "start_ts": 1767250800, "meeting_id": "mtg"},
        "event_ts": 1767250801.5
    });
    assert_eq!(
        event(verify(&*platform, &started).unwrap()).kind,
        EventKind::MeetingStarted {
            meeting: MeetingKey::RoomName("r".into()),
            at: at(7, 0, 0)
        }
    );
    let ended = json!({
        "version": "1.0.0", "type": "meeting.ended", "id": "m-e",
        "payload": {"room": "r", "start_ts": 1767250800, "end_ts": 1767254400},
        "event_ts": 1767254401
    });
    assert_eq!(
        event(verify(&*platform, &ended).unwrap()).kind,
        EventKind::MeetingEnded {
            meeting: MeetingKey::RoomName("r".into()),
            at: at(8, 0, 0)
        }
    );
}

#[test]
fn recording_events_are_parsed() {
    let platform = webhook_platform();
    let started = json!({
        "version": "1.0.0", "type": "recording.started", "id": "r-s",
        "payload": {"action": "recording-started", "recording_id": "rec-1",
                    "room_name": "r", "start_ts": 1767250800, "type": "cloud"},
        "event_ts": 1767250800
    });
    assert_eq!(
        event(verify(&*platform, &started).unwrap()).kind,
        EventKind::RecordingStarted {
            meeting: MeetingKey::RoomName("r".into()),
            recording_id: Some("rec-1".into()),
            at: at(7, 0, 0)
        }
    );

    let raw_tracks = json!({
        "version": "1.0.0", "type": "recording.ready-to-download", "id": "r-rt",
        "payload": {
            "type": "raw-tracks", "recording_id": "rec-2", "room_name": "r",
            "start_ts": 1767250800, "status": "finished", "max_participants": 2,
            "duration": 300.5, "s3_key": "acme/r/1767250800000",
            "tracks": [
                {"type": "audio", "s3Key": "acme/r/1767250800000-a-cam-audio-1", "size": 1},
                {"type": "video", "s3Key": "acme/r/1767250800000-a-cam-video-1", "size": 2},
                {"type": "audio", "s3Key": "acme/r/1767250800000-b-cam-audio-2", "size": 3}
            ]
        },
        "event_ts": 1767251200
    });
    assert_eq!(
        event(verify(&*platform, &raw_tracks).unwrap()).kind,
        EventKind::RecordingReady(RecordingReady {
            meeting: MeetingKey::RoomName("r".into()),
            recording_id: "rec-2".into(),
            multitrack: true,
            started_at: Some(at(7, 0, 0)),
            duration_seconds: Some(300.5),
            keys: vec![
                "acme/r/1767250800000-a-cam-audio-1".into(),
                "acme/r/1767250800000-b-cam-audio-2".into()
            ],
        })
    );

    let cloud = json!({
        "version": "1.0.0", "type": "recording.ready-to-download", "id": "r-c",
        "payload": {"type": "cloud-audio-only", "recording_id": "rec-3", "room_name": "r",
                    "start_ts": 1767250800, "duration": null, "s3_key": "daily/r/1767250800000.m4a"},
        "event_ts": 1767251200
    });
    assert_eq!(
        event(verify(&*platform, &cloud).unwrap()).kind,
        EventKind::RecordingReady(RecordingReady {
            meeting: MeetingKey::RoomName("r".into()),
            recording_id: "rec-3".into(),
            multitrack: false,
            started_at: Some(at(7, 0, 0)),
            duration_seconds: None,
            keys: vec!["daily/r/1767250800000.m4a".into()],
        })
    );

    let failed = json!({
        "version": "1.0.0", "type": "recording.error", "id": "r-e",
        "payload": {"action": "clourd-recording-err", "error_msg": "bucket access denied",
                    "instance_id": "i", "room_name": "r", "timestamp": 1767250900},
        "event_ts": 1767250900
    });
    assert_eq!(
        event(verify(&*platform, &failed).unwrap()).kind,
        EventKind::RecordingError {
            meeting: MeetingKey::RoomName("r".into()),
            recording_id: None,
            error: "bucket access denied".into()
        }
    );
}

#[test]
fn unknown_or_incomplete_events_are_accepted_as_other() {
    let platform = webhook_platform();
    for body in [
        json!({"version": "1.0.0", "type": "transcript.ready-to-download", "id": "1", "payload": {}, "event_ts": 1}),
        json!({"version": "1.0.0", "type": "participant.joined", "id": "2", "payload": {"session_id": "s"}}),
        json!({"version": "1.0.0", "type": "recording.ready-to-download", "id": "3", "payload": {"room_name": "r"}}),
        json!({"version": "1.0.0", "type": "meeting.ended", "id": "4", "payload": "odd"}),
        json!({"type": "future.thing", "id": "5", "new_top_level": [1, 2]}),
    ] {
        let got = event(verify(&*platform, &body).unwrap());
        assert_eq!(got.kind, EventKind::Other, "{body}");
        assert_eq!(got.event_id, body["id"]);
    }
}

#[tokio::test]
async fn presence_lists_who_is_in_the_room_now() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/rooms/team-standup-20260101070005-1a2b/presence"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "total_count": 3,
            "data": [
                {"room": "team-standup-20260101070005-1a2b", "id": "s1", "userId": "u1",
                 "userName": "Ada", "joinTime": "2026-01-01T07:01:00.000Z", "duration": 60},
                {"id": "s2", "userName": "Guest", "joinTime": "2026-01-01T07:02:00Z"},
                {"id": "s3-without-join-time"}
            ]
        })))
        .mount(&server)
        .await;
    let present = daily_at(&server, &[]).presence(&handle()).await.unwrap();
    assert_eq!(
        present,
        vec![
            PresentParticipant {
                session_id: "s1".into(),
                user_id: Some("u1".into()),
                user_name: Some("Ada".into()),
                joined_at: at(7, 1, 0),
            },
            PresentParticipant {
                session_id: "s2".into(),
                user_id: None,
                user_name: Some("Guest".into()),
                joined_at: at(7, 2, 0),
            },
        ],
        "an entry without a join time is skipped"
    );
    let received = requests(&server).await;
    assert_bearer(&received[0]);
}

#[tokio::test]
async fn a_raw_tracks_recordings_speakers_are_its_meeting_participants() {
    let server = MockServer::start().await;
    mount_recording(
        &server,
        json!({
            "id": "rec-1", "status": "finished", "duration": 30, "mtgSessionId": "mtg-1",
            "tracks": [
                {"type": "audio", "s3Key": "acme/room/1767250800000-p1-cam-audio-1", "size": 10},
                {"type": "video", "s3Key": "acme/room/1767250800000-p1-cam-video-1", "size": 90},
                {"type": "audio", "s3Key": "acme/room/1767250800000-p2-cam-audio-2", "size": 12},
                {"type": "audio", "s3Key": "acme/room/1767250800000-p3-cam-audio-3", "size": 12}
            ]
        }),
    )
    .await;
    // A full first page (Ada, then 98 who never spoke, then Bob), and 404 past the last one.
    let mut first: Vec<Value> = vec![json!({"participant_id": "p1", "user_id": "u-ada",
        "user_name": "Ada", "join_time": 1767250800, "duration": 30})];
    first.extend((0..98).map(|n| {
        json!({"participant_id": format!("x{n}"), "user_id": null,
        "user_name": format!("Listener {n}"), "join_time": 1767250801, "duration": 3})
    }));
    first.push(
        json!({"participant_id": "p2", "user_id": null, "user_name": "Bob",
        "join_time": 1767250802, "duration": 28}),
    );
    Mock::given(method("GET"))
        .and(path("/v1/meetings/mtg-1/participants"))
        .and(query_param("joined_after", "p2"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": "not-found"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/meetings/mtg-1/participants"))
        .and(query_param("limit", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": first})))
        .mount(&server)
        .await;
    let speakers = daily_at(&server, BUCKET)
        .recording_speakers("rec-1")
        .await
        .unwrap();
    assert_eq!(
        speakers,
        vec![
            TrackSpeaker {
                track: "acme/room/1767250800000-p1-cam-audio-1".into(),
                session_id: "p1".into(),
                user_id: Some("u-ada".into()),
                name: "Ada".into(),
            },
            TrackSpeaker {
                track: "acme/room/1767250800000-p2-cam-audio-2".into(),
                session_id: "p2".into(),
                user_id: None,
                name: "Bob".into(),
            },
        ],
        "p3 is not among the participants, so its track is left out"
    );
    let received = requests(&server).await;
    let asked: Vec<String> = received
        .iter()
        .map(|r| {
            assert_bearer(r);
            assert_eq!(r.method, http::Method::GET);
            match r.url.query() {
                Some(q) => format!("{}?{q}", r.url.path()),
                None => r.url.path().to_owned(),
            }
        })
        .collect();
    assert_eq!(
        asked,
        [
            "/v1/recordings/rec-1",
            "/v1/meetings/mtg-1/participants?limit=100",
            "/v1/meetings/mtg-1/participants?limit=100&joined_after=p2",
        ]
    );
}

#[tokio::test]
async fn a_recording_without_a_meeting_session_names_no_speakers() {
    let server = MockServer::start().await;
    mount_recording(
        &server,
        json!({"id": "rec-1", "status": "finished", "tracks": [
            {"type": "audio", "s3Key": "acme/room/1-p1-cam-audio-1"}]}),
    )
    .await;
    let speakers = daily_at(&server, BUCKET)
        .recording_speakers("rec-1")
        .await
        .unwrap();
    assert!(speakers.is_empty());
    assert_eq!(requests(&server).await.len(), 1);
}
