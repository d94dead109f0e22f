//! The Whereby provider against a fake Whereby API: the exact requests we send, how answers and
//! failures map to typed results, and webhook verification and parsing.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue};
use reflector_core::{ConfigError, Env, RecordingTrigger, RecordingType, RoomMode};
use reflector_platforms::{
    Configured, CreateMeeting, EventKind, JoinRequest, MeetingHandle, MeetingKey, Participant,
    PlatformError, ProviderEvent, ProviderMeeting, ProviderSession, ProviderSetup, RecordingLayout,
    RecordingReady, RetryPolicy, StartRecording, VideoPlatform, WebhookOutcome, WebhookRejection,
    whereby,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const KEY: &str = "wb-key";
const SECRET: &str = "whsecret";

fn fast() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        timeout: Duration::from_secs(2),
    }
}

fn configure(pairs: &[(&str, &str)]) -> Result<Configured, ConfigError> {
    (whereby::PROVIDER.setup)(&ProviderSetup {
        env: &Env::from_pairs(pairs.iter().copied()),
        retry: fast(),
        base_url: "http://localhost:1250",
        events: None,
    })
}

fn build(pairs: &[(&str, &str)]) -> Arc<dyn VideoPlatform> {
    match configure(pairs).unwrap() {
        Configured::Ready {
            platform,
            rollout_rooms,
        } => {
            assert!(rollout_rooms.is_empty());
            platform
        }
        Configured::Missing { setting } => panic!("whereby not configured: {setting}"),
    }
}

/// A provider talking to `server` under `/v1`, with the given extra settings.
fn whereby_at(server: &MockServer, extra: &[(&str, &str)]) -> Arc<dyn VideoPlatform> {
    let api = format!("{}/v1", server.uri());
    let mut pairs = vec![
        ("WHEREBY_API_KEY", KEY),
        ("WHEREBY_API_URL", api.as_str()),
        ("WHEREBY_WEBHOOK_SECRET", SECRET),
    ];
    pairs.extend_from_slice(extra);
    build(&pairs)
}

const BUCKET: &[(&str, &str)] = &[
    ("WHEREBY_STORAGE_AWS_BUCKET_NAME", "wb-recordings"),
    ("WHEREBY_STORAGE_AWS_REGION", "eu-west-1"),
    ("WHEREBY_STORAGE_AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
    ("WHEREBY_STORAGE_AWS_SECRET_ACCESS_KEY", "s3cr3t"),
];

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, h, m, s).unwrap()
}

fn create_request(room_name: &str, recording_type: RecordingType) -> CreateMeeting<'_> {
    CreateMeeting {
        room_name,
        start_date: at(7, 0, 0),
        end_date: at(8, 0, 0),
        is_locked: false,
        room_mode: RoomMode::Normal,
        recording_type,
        recording_trigger: RecordingTrigger::AutomaticSecondParticipant,
    }
}

fn handle() -> MeetingHandle<'static> {
    MeetingHandle {
        meeting_id: "4ad503b6-8189-4910-a8f7-68cdd1b7f990",
        platform_meeting_id: "91011",
        room_name: "/team-standup-8b1c",
        room_url: "https://acme.whereby.com/team-standup-8b1c",
        end_date: at(8, 0, 0),
    }
}

fn created_answer() -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({
        "meetingId": "91011",
        "roomName": "/team-standup-8b1c",
        "roomUrl": "https://acme.whereby.com/team-standup-8b1c",
        "hostRoomUrl": "https://acme.whereby.com/team-standup-8b1c?roomKey=abc",
        "startDate": "2026-01-01T07:00:00.000Z",
        "endDate": "2026-01-01T08:00:00.000Z",
        "somethingNew": {"ignored": true}
    }))
}

async fn mount_create(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/v1/meetings"))
        .respond_with(created_answer())
        .mount(server)
        .await;
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

// ---- configuration ----

#[test]
fn setup_without_api_key_is_missing_that_key() {
    match configure(&[("WHEREBY_WEBHOOK_SECRET", "x")]).unwrap() {
        Configured::Missing { setting } => assert_eq!(setting, "WHEREBY_API_KEY"),
        Configured::Ready { .. } => panic!("ready without a key"),
    }
}

#[test]
fn setup_errors_name_the_variable_to_fix() {
    let err = configure(&[("WHEREBY_API_KEY", "k"), ("WHEREBY_API_URL", "ftp://x")])
        .err()
        .unwrap();
    assert_eq!(err.variable, "WHEREBY_API_URL");

    let err = configure(&[
        ("WHEREBY_API_KEY", "k"),
        ("WHEREBY_STORAGE_AWS_BUCKET_NAME", "b"),
    ])
    .err()
    .unwrap();
    assert_eq!(err.variable, "WHEREBY_STORAGE_AWS_ACCESS_KEY_ID");

    let err = configure(&[
        ("WHEREBY_API_KEY", "k"),
        ("WHEREBY_STORAGE_AWS_BUCKET_NAME", "b"),
        ("WHEREBY_STORAGE_AWS_ACCESS_KEY_ID", "id"),
    ])
    .err()
    .unwrap();
    assert_eq!(err.variable, "WHEREBY_STORAGE_AWS_SECRET_ACCESS_KEY");
}

#[test]
fn setup_defaults_and_webhook_path() {
    let platform = build(&[("WHEREBY_API_KEY", "k")]);
    assert_eq!(platform.name(), "whereby");
    assert_eq!(platform.webhook_path(), Some("/whereby"));
}

// ---- create ----

#[tokio::test]
async fn create_sends_the_exact_request_and_maps_the_answer() {
    let server = MockServer::start().await;
    mount_create(&server).await;
    let platform = whereby_at(&server, &[]);

    let meeting = platform
        .create_meeting(&create_request("team-standup", RecordingType::None))
        .await
        .unwrap();

    assert_eq!(
        meeting,
        ProviderMeeting {
            platform_meeting_id: "91011".into(),
            room_name: "/team-standup-8b1c".into(),
            room_url: "https://acme.whereby.com/team-standup-8b1c".into(),
            host_room_url: "https://acme.whereby.com/team-standup-8b1c?roomKey=abc".into(),
        }
    );
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(request.url.path(), "/v1/meetings");
    assert_eq!(request.url.query(), None);
    assert_bearer(request);
    assert_eq!(
        body(request),
        json!({
            "isLocked": false,
            "roomNamePrefix": "team-standup-",
            "roomNamePattern": "uuid",
            "roomMode": "normal",
            "endDate": "2026-01-01T08:00:00Z",
            "fields": ["hostRoomUrl"]
        })
    );
}

#[tokio::test]
async fn local_recording_sends_no_recording_block() {
    let server = MockServer::start().await;
    mount_create(&server).await;
    let platform = whereby_at(&server, &[]);
    platform
        .create_meeting(&create_request("team", RecordingType::Local))
        .await
        .unwrap();
    let requests = server.received_requests().await.unwrap();
    assert!(body(&requests[0]).get("recording").is_none());
}

#[tokio::test]
async fn cloud_recording_sends_the_bucket_destination_and_trigger() {
    let server = MockServer::start().await;
    mount_create(&server).await;
    let platform = whereby_at(&server, BUCKET);

    let mut request = create_request("team-standup", RecordingType::Cloud);
    request.is_locked = true;
    request.room_mode = RoomMode::Group;
    request.recording_trigger = RecordingTrigger::Prompt;
    platform.create_meeting(&request).await.unwrap();

    let requests = server.received_requests().await.unwrap();
    assert_eq!(
        body(&requests[0]),
        json!({
            "isLocked": true,
            "roomNamePrefix": "team-standup-",
            "roomNamePattern": "uuid",
            "roomMode": "group",
            "endDate": "2026-01-01T08:00:00Z",
            "fields": ["hostRoomUrl"],
            "recording": {
                "type": "cloud",
                "destination": {
                    "provider": "s3",
                    "bucket": "wb-recordings",
                    "accessKeyId": "AKIAEXAMPLE",
                    "accessKeySecret": "s3cr3t",
                    "fileFormat": "mp4"
                },
                "startTrigger": "prompt"
            }
        })
    );
}

#[tokio::test]
async fn long_room_names_are_cut_to_whereby_prefix_limit() {
    let server = MockServer::start().await;
    mount_create(&server).await;
    let platform = whereby_at(&server, &[]);
    let name = "a".repeat(40) + &"b".repeat(24); // 64 characters, the longest room name
    platform
        .create_meeting(&create_request(&name, RecordingType::None))
        .await
        .unwrap();
    let requests = server.received_requests().await.unwrap();
    let prefix = body(&requests[0])["roomNamePrefix"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(prefix, format!("{}-", "a".repeat(38)));
    assert_eq!(prefix.len(), 39);
}

#[tokio::test]
async fn cloud_recording_without_bucket_fails_before_calling_whereby() {
    let server = MockServer::start().await;
    mount_create(&server).await;
    let platform = whereby_at(&server, &[]);
    let err = platform
        .create_meeting(&create_request("team", RecordingType::Cloud))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        PlatformError::NotConfigured {
            platform: "whereby",
            setting: "WHEREBY_STORAGE_AWS_BUCKET_NAME"
        }
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn create_failures_are_typed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/meetings"))
        .respond_with(ResponseTemplate::new(401).set_body_string("bad key"))
        .expect(1)
        .mount(&server)
        .await;
    let err = whereby_at(&server, &[])
        .create_meeting(&create_request("team", RecordingType::None))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        PlatformError::Unauthorized {
            platform: "whereby",
            status: 401,
            setting: "WHEREBY_API_KEY"
        }
    );

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"roomUrl": "https://x"})))
        .mount(&server)
        .await;
    let err = whereby_at(&server, &[])
        .create_meeting(&create_request("team", RecordingType::None))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PlatformError::BadResponse { detail, .. } if detail.contains("meetingId")),
        "{err:?}"
    );
}

// ---- logo ----

fn logo_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("reflector-whereby-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[tokio::test]
async fn logo_is_uploaded_to_the_new_room_as_multipart_image() {
    let server = MockServer::start().await;
    mount_create(&server).await;
    Mock::given(method("PUT"))
        .and(path("/v1/rooms/team-standup-8b1c/theme/logo"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let logo = logo_file("logo.png", b"\x89PNG fake image bytes");
    let platform = whereby_at(&server, &[("WHEREBY_LOGO_PATH", logo.to_str().unwrap())]);

    platform
        .create_meeting(&create_request("team-standup", RecordingType::None))
        .await
        .unwrap();

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    let upload = &requests[1];
    assert_eq!(upload.method.as_str(), "PUT");
    assert_bearer(upload);
    let content_type = upload
        .headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        content_type.starts_with("multipart/form-data; boundary="),
        "{content_type}"
    );
    let text = String::from_utf8_lossy(&upload.body);
    assert!(
        text.contains(r#"Content-Disposition: form-data; name="image"; filename="logo.png""#),
        "{text}"
    );
    assert!(text.contains("Content-Type: image/png"), "{text}");
    assert!(text.contains("PNG fake image bytes"), "{text}");
}

#[tokio::test]
async fn a_failed_logo_upload_never_fails_creation() {
    let server = MockServer::start().await;
    mount_create(&server).await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let logo = logo_file("logo.svg", b"<svg/>");
    let platform = whereby_at(&server, &[("WHEREBY_LOGO_PATH", logo.to_str().unwrap())]);
    let meeting = platform
        .create_meeting(&create_request("team-standup", RecordingType::None))
        .await
        .unwrap();
    assert_eq!(meeting.platform_meeting_id, "91011");
    let puts = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "PUT")
        .count();
    assert_eq!(
        puts, 2,
        "the upload is retried like any call, then given up"
    );
}

#[tokio::test]
async fn an_unreadable_logo_file_is_skipped() {
    let server = MockServer::start().await;
    mount_create(&server).await;
    let platform = whereby_at(&server, &[("WHEREBY_LOGO_PATH", "/nonexistent/logo.png")]);
    platform
        .create_meeting(&create_request("team-standup", RecordingType::None))
        .await
        .unwrap();
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

// ---- sessions ----

#[tokio::test]
async fn list_sessions_encodes_the_room_name_and_follows_the_cursor() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/insights/room-sessions"))
        .and(wiremock::matchers::query_param("cursor", "page-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "results": [
                {"roomSessionId": "s3", "startedAt": "2026-01-01T07:30:00Z", "endedAt": null}
            ],
            "cursor": null
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/insights/room-sessions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "results": [
                {"roomSessionId": "s1", "startedAt": "2026-01-01T07:00:00.000Z",
                 "endedAt": "2026-01-01T07:10:00.000Z", "totalParticipantMinutes": 12},
                {"roomSessionId": "s2", "startedAt": "2026-01-01T07:20:00Z"}
            ],
            "cursor": "page-2"
        })))
        .mount(&server)
        .await;

    let sessions = whereby_at(&server, &[])
        .list_sessions(&handle())
        .await
        .unwrap();

    assert_eq!(
        sessions,
        vec![
            ProviderSession {
                session_id: "s1".into(),
                started_at: at(7, 0, 0),
                ended_at: Some(at(7, 10, 0)),
            },
            ProviderSession {
                session_id: "s2".into(),
                started_at: at(7, 20, 0),
                ended_at: None,
            },
            ProviderSession {
                session_id: "s3".into(),
                started_at: at(7, 30, 0),
                ended_at: None,
            },
        ]
    );
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(request.method.as_str(), "GET");
        assert_eq!(request.url.path(), "/v1/insights/room-sessions");
        assert_bearer(request);
    }
    assert_eq!(
        requests[0].url.query(),
        Some("roomName=%2Fteam-standup-8b1c")
    );
    assert_eq!(
        requests[1].url.query(),
        Some("roomName=%2Fteam-standup-8b1c&cursor=page-2")
    );
}

#[tokio::test]
async fn list_sessions_stops_when_the_cursor_does_not_advance() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "results": [{"roomSessionId": "s1", "startedAt": "2026-01-01T07:00:00Z"}],
            "cursor": "same"
        })))
        .mount(&server)
        .await;
    let err = whereby_at(&server, &[])
        .list_sessions(&handle())
        .await
        .unwrap_err();
    assert!(matches!(err, PlatformError::BadResponse { .. }), "{err:?}");
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

// ---- delete, extend, join, recordings ----

#[tokio::test]
async fn delete_is_idempotent() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/v1/meetings/91011"))
        .respond_with(ResponseTemplate::new(204))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v1/meetings/91011"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": "gone"})))
        .mount(&server)
        .await;
    let platform = whereby_at(&server, &[]);
    platform.delete_meeting(&handle()).await.unwrap();
    platform.delete_meeting(&handle()).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    assert_bearer(&requests[0]);
    assert!(requests[0].body.is_empty());
}

#[tokio::test]
async fn delete_reports_provider_failures() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let err = whereby_at(&server, &[])
        .delete_meeting(&handle())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PlatformError::Unavailable {
                platform: "whereby",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn join_url_is_the_room_url_and_unsupported_capabilities_say_so() {
    let server = MockServer::start().await;
    let platform = whereby_at(&server, &[]);
    let join = JoinRequest {
        user_id: Some("u1"),
        user_name: None,
        is_owner: true,
        admit: true,
        recording_type: RecordingType::Cloud,
        skip_consent: false,
    };
    assert_eq!(
        platform.join_url(&handle(), &join).await.unwrap(),
        "https://acme.whereby.com/team-standup-8b1c"
    );
    for err in [
        platform.presence(&handle()).await.unwrap_err(),
        platform
            .extend_meeting(&handle(), at(9, 0, 0))
            .await
            .unwrap_err(),
        platform.recording_media("rec-1").await.unwrap_err(),
        platform
            .start_recording(
                &handle(),
                &StartRecording {
                    layout: RecordingLayout::Composed,
                    instance_id: "x",
                },
            )
            .await
            .unwrap_err(),
    ] {
        assert!(
            matches!(
                err,
                PlatformError::Unsupported {
                    platform: "whereby",
                    ..
                }
            ),
            "{err:?}"
        );
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

// ---- webhooks ----

fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn signed_headers(t: i64, v1: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "whereby-signature",
        HeaderValue::from_str(&format!("t={t},v1={v1}")).unwrap(),
    );
    headers
}

fn verify_now(
    platform: &dyn VideoPlatform,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<WebhookOutcome, WebhookRejection> {
    let t = now.timestamp();
    platform.verify_webhook(&signed_headers(t, &sign(SECRET, t, body)), body, now)
}

fn event(outcome: WebhookOutcome) -> ProviderEvent {
    match outcome {
        WebhookOutcome::Event(event) => *event,
        WebhookOutcome::Probe => panic!("whereby sends no probes"),
    }
}

#[test]
fn signature_test_vector_is_accepted() {
    const VECTOR: &str = "15d410d1cdb353b5e77d15b79f2cf9b142f784abbc3bbf7654676b96d67b9494";
    assert_eq!(sign("whsecret", 1_700_000_000, br#"{"a":1}"#), VECTOR);

    let platform = build(&[
        ("WHEREBY_API_KEY", "k"),
        ("WHEREBY_WEBHOOK_SECRET", "whsecret"),
    ]);
    let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let body = br#"{"a":1}"#;
    let got = event(
        platform
            .verify_webhook(&signed_headers(1_700_000_000, VECTOR), body, now)
            .unwrap(),
    );
    assert_eq!(got.kind, EventKind::Other);
    assert_eq!(got.event_type, "");
    // No `id` in the payload: the id is the body's SHA-256, stable across redeliveries.
    assert_eq!(got.event_id, hex::encode(Sha256::digest(body)));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&got.payload).unwrap(),
        json!({"a": 1})
    );
}

#[test]
fn webhook_rejections_are_typed() {
    let body = br#"{"id":"e1","type":"room.session.started","data":{"meetingId":"1"}}"#;
    let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let t = now.timestamp();

    let unconfigured = build(&[("WHEREBY_API_KEY", "k")]);
    assert_eq!(
        unconfigured.verify_webhook(&signed_headers(t, &sign(SECRET, t, body)), body, now),
        Err(WebhookRejection::NotConfigured {
            setting: "WHEREBY_WEBHOOK_SECRET"
        })
    );

    let platform = build(&[("WHEREBY_API_KEY", "k"), ("WHEREBY_WEBHOOK_SECRET", SECRET)]);
    assert_eq!(
        platform.verify_webhook(&HeaderMap::new(), body, now),
        Err(WebhookRejection::MissingSignature {
            header: "Whereby-Signature"
        })
    );
    let wrong_secret = sign("other", t, body);
    assert_eq!(
        platform.verify_webhook(&signed_headers(t, &wrong_secret), body, now),
        Err(WebhookRejection::BadSignature)
    );
    let tampered = br#"{"id":"e1","type":"room.session.ended","data":{"meetingId":"1"}}"#;
    assert_eq!(
        platform.verify_webhook(&signed_headers(t, &sign(SECRET, t, body)), tampered, now),
        Err(WebhookRejection::BadSignature)
    );
    let mut garbage = HeaderMap::new();
    garbage.insert("whereby-signature", HeaderValue::from_static("nonsense"));
    assert_eq!(
        platform.verify_webhook(&garbage, body, now),
        Err(WebhookRejection::BadSignature)
    );

    for (offset, accepted) in [(-61, false), (-60, true), (60, true), (61, false)] {
        let signed_at = t + offset;
        let result = platform.verify_webhook(
            &signed_headers(signed_at, &sign(SECRET, signed_at, body)),
            body,
            now,
        );
        if accepted {
            assert!(result.is_ok(), "offset {offset}: {result:?}");
        } else {
            assert_eq!(result, Err(WebhookRejection::Stale), "offset {offset}");
        }
    }
}

#[test]
fn a_header_with_thousands_of_signatures_is_refused_even_with_the_right_one() {
    let platform = build(&[("WHEREBY_API_KEY", "k"), ("WHEREBY_WEBHOOK_SECRET", SECRET)]);
    let now = Utc::now();
    let t = now.timestamp();
    let body = br#"{"id":"e1","type":"room.session.started","data":{"meetingId":"1"}}"#;
    let good = sign(SECRET, t, body);
    let header = |n: usize| {
        let mut value = format!("t={t}");
        for _ in 0..n {
            value.push_str(",v1=00");
        }
        value.push_str(&format!(",v1={good}"));
        let mut headers = HeaderMap::new();
        headers.insert("whereby-signature", HeaderValue::from_str(&value).unwrap());
        headers
    };
    // A rotation's few signatures are fine; thousands are not Whereby's.
    assert!(platform.verify_webhook(&header(2), body, now).is_ok());
    assert_eq!(
        platform.verify_webhook(&header(5_000), body, now),
        Err(WebhookRejection::BadSignature)
    );
}

#[test]
fn a_signature_over_the_compact_json_is_accepted() {
    let platform = build(&[("WHEREBY_API_KEY", "k"), ("WHEREBY_WEBHOOK_SECRET", SECRET)]);
    let now = Utc::now();
    let t = now.timestamp();
    let pretty = "{\n  \"type\": \"room.session.started\",\n  \"id\": \"e-9\",\n  \"data\": { \"meetingId\": \"77\", \"roomName\": \"/r-1\" }\n}";
    // Keys stay in the order sent (not sorted), as JSON.stringify would produce them.
    let compact =
        r#"{"type":"room.session.started","id":"e-9","data":{"meetingId":"77","roomName":"/r-1"}}"#;
    let got = event(
        platform
            .verify_webhook(
                &signed_headers(t, &sign(SECRET, t, compact.as_bytes())),
                pretty.as_bytes(),
                now,
            )
            .unwrap(),
    );
    assert_eq!(got.event_id, "e-9");
    let sorted =
        r#"{"data":{"meetingId":"77","roomName":"/r-1"},"id":"e-9","type":"room.session.started"}"#;
    assert_eq!(
        platform.verify_webhook(
            &signed_headers(t, &sign(SECRET, t, sorted.as_bytes())),
            pretty.as_bytes(),
            now
        ),
        Err(WebhookRejection::BadSignature)
    );
}

#[test]
fn client_joined_and_left_become_participant_events() {
    let platform = build(&[("WHEREBY_API_KEY", "k"), ("WHEREBY_WEBHOOK_SECRET", SECRET)]);
    let now = Utc::now();
    let joined = json!({
        "id": "d7c4df48",
        "apiVersion": "1.0",
        "createdAt": "2026-01-01T07:05:00.681Z",
        "type": "room.client.joined",
        "data": {
            "roleName": "host",
            "displayName": "Joe Bloggs",
            "meetingId": "134",
            "roomName": "/af0b7b66",
            "roomSessionId": "rs-1",
            "participantId": "p-1",
            "numClients": 8,
            "numClientsByRoleName": {"host": 1, "visitor": 7},
            "metadata": "m",
            "externalId": "user-42"
        }
    });
    let got = event(verify_now(&*platform, joined.to_string().as_bytes(), now).unwrap());
    assert_eq!(got.event_id, "d7c4df48");
    assert_eq!(got.event_type, "room.client.joined");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&got.payload).unwrap(),
        joined
    );
    assert_eq!(
        got.kind,
        EventKind::ParticipantJoined(Participant {
            meeting: MeetingKey::PlatformMeetingId("134".into()),
            session_id: "p-1".into(),
            user_id: Some("user-42".into()),
            user_name: Some("Joe Bloggs".into()),
            at: "2026-01-01T07:05:00.681Z".parse().unwrap(),
            num_clients: Some(8),
        })
    );

    // Optional fields omitted, a numeric meeting id, and no createdAt (the signed time is used).
    let left = json!({
        "id": "e2",
        "type": "room.client.left",
        "data": {"meetingId": 134, "participantId": "p-1", "numClients": 0}
    });
    let got = event(verify_now(&*platform, left.to_string().as_bytes(), now).unwrap());
    assert_eq!(
        got.kind,
        EventKind::ParticipantLeft(Participant {
            meeting: MeetingKey::PlatformMeetingId("134".into()),
            session_id: "p-1".into(),
            user_id: None,
            user_name: None,
            at: DateTime::from_timestamp(now.timestamp(), 0).unwrap(),
            num_clients: Some(0),
        })
    );
}

#[test]
fn session_events_become_meeting_started_and_ended() {
    let platform = build(&[("WHEREBY_API_KEY", "k"), ("WHEREBY_WEBHOOK_SECRET", SECRET)]);
    let now = Utc::now();
    for (kind, started) in [
        ("room.session.started", true),
        ("room.session.ended", false),
    ] {
        let body = json!({
            "id": format!("id-{kind}"),
            "createdAt": "2026-01-01T07:00:00Z",
            "type": kind,
            "data": {"meetingId": "134", "roomName": "/r", "roomSessionId": "rs"}
        });
        let got = event(verify_now(&*platform, body.to_string().as_bytes(), now).unwrap());
        let meeting = MeetingKey::PlatformMeetingId("134".into());
        let expected = if started {
            EventKind::MeetingStarted {
                meeting,
                at: at(7, 0, 0),
            }
        } else {
            EventKind::MeetingEnded {
                meeting,
                at: at(7, 0, 0),
            }
        };
        assert_eq!(got.kind, expected);
    }
}

#[test]
fn recording_finished_becomes_a_single_file_recording() {
    let platform = build(&[("WHEREBY_API_KEY", "k"), ("WHEREBY_WEBHOOK_SECRET", SECRET)]);
    let now = Utc::now();
    for room_name in ["/team-standup-8b1c", "team-standup-8b1c"] {
        let body = json!({
            "id": "rec-evt",
            "type": "recording.finished",
            "createdAt": "2026-01-01T08:01:00Z",
            "data": {
                "filename": "team-standup-8b1c-2026-01-01T07:00:00Z.mp4",
                "recordingId": "rec-1",
                "roomName": room_name,
                "status": "completed"
            }
        });
        let got = event(verify_now(&*platform, body.to_string().as_bytes(), now).unwrap());
        assert_eq!(
            got.kind,
            EventKind::RecordingReady(RecordingReady {
                meeting: MeetingKey::RoomName("/team-standup-8b1c".into()),
                recording_id: "team-standup-8b1c-2026-01-01T07:00:00Z.mp4".into(),
                multitrack: false,
                started_at: Some("2026-01-01T07:00:00Z".parse().unwrap()),
                duration_seconds: None,
                keys: vec!["team-standup-8b1c-2026-01-01T07:00:00Z.mp4".into()],
            })
        );
    }
}

#[test]
fn unknown_or_incomplete_events_are_accepted_as_other() {
    let platform = build(&[("WHEREBY_API_KEY", "k"), ("WHEREBY_WEBHOOK_SECRET", SECRET)]);
    let now = Utc::now();
    for body in [
        json!({"id": "1", "type": "room.client.knocked", "data": {"meetingId": "1"}}),
        json!({"id": "2", "type": "transcription.finished", "data": {}}),
        json!({"id": "3", "type": "room.client.joined", "data": {"participantId": "p"}}),
        json!({"id": "4", "type": "room.session.ended"}),
        json!({"id": "5", "type": "recording.finished", "data": {"recordingId": "r"}}),
        json!({"id": "6", "type": "room.client.left", "data": "not an object"}),
    ] {
        let got = event(verify_now(&*platform, body.to_string().as_bytes(), now).unwrap());
        assert_eq!(got.kind, EventKind::Other, "{body}");
        assert_eq!(got.event_id, body["id"]);
    }
}

#[test]
fn a_signed_body_that_is_not_json_is_malformed() {
    let platform = build(&[("WHEREBY_API_KEY", "k"), ("WHEREBY_WEBHOOK_SECRET", SECRET)]);
    let now = Utc::now();
    for body in [&b"not json"[..], b"[1,2]"] {
        let result = verify_now(&*platform, body, now);
        assert!(
            matches!(result, Err(WebhookRejection::Malformed(_))),
            "{result:?}"
        );
    }
}
