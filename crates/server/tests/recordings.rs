//! Recording ingestion end to end (SPEC §9.1): provider announcements over real HTTP, provider
//! buckets and our storage on a real S3-compatible server (moto), SQS on the same, and real
//! short media made by espeak-ng and ffmpeg.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::time::Duration;

use chrono::Utc;
use reflector_app::Job;
use reflector_testing::fakes::{
    DAILY_SECRET, FakeDaily, FileServer, FlakyS3, JwtKeys, Receiver, whereby_meeting,
    whereby_signature,
};
use reflector_testing::media::{silent_video_mp4, speech_mp4, speech_webm};
use reflector_testing::moto::{Moto, object_created};
use reflector_testing::{Db, TestApp, on_both_databases};
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

on_both_databases!(
    a_daily_raw_tracks_recording_is_stored_once_whatever_announces_it,
    a_daily_cloud_recording_without_a_bucket_comes_through_the_access_link,
    a_whereby_recording_from_the_queue_twice_and_the_webhook_is_stored_once,
    a_file_without_audio_fails_with_a_clear_error,
    a_provider_bucket_that_fails_then_recovers_is_read_to_the_end,
    a_mock_call_is_recorded_when_it_ends,
    only_the_owner_lists_a_meetings_recordings,
);

const ROOM: &str = "team-20260101070000-abcd";
const BUCKET: &str = "daily-recordings";
const HOOK_SECRET: &str = "room-hook-secret";

fn pairs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn send_daily(app: &TestApp, body: &Value) -> u16 {
    app.daily_webhook(body, DAILY_SECRET, Utc::now().timestamp())
        .await
        .0
}

async fn meeting(app: &TestApp, room: &str) -> Value {
    let (status, m) = app
        .post(&format!("/v1/rooms/{room}/meeting"), json!({}))
        .await;
    assert_eq!(status, 200, "{m}");
    m
}

async fn recordings(app: &TestApp, meeting_id: &str) -> Vec<Value> {
    let (status, list) = app
        .get(&format!("/v1/meetings/{meeting_id}/recordings"))
        .await;
    assert_eq!(status, 200, "{list}");
    list.as_array().unwrap().clone()
}

/// Runs jobs until none is due (downloads retry after a few seconds at most here).
async fn settle(app: &TestApp) {
    for _ in 0..50 {
        if app.run_jobs().await == 0 {
            let counts = app.store.job_counts().await.unwrap();
            if counts.queued == 0 || !has_due_soon(app).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn has_due_soon(app: &TestApp) -> bool {
    // Failed attempts wait 5 s before their retry; delivery retries a minute: only the former.
    let counts = app.store.job_counts().await.unwrap();
    counts.queued > 0 && counts.running == 0
}

fn stored_file(app: &TestApp, key: &str) -> Vec<u8> {
    std::fs::read(app.data_dir.path().join("storage").join(key)).unwrap()
}

fn ready_events(receiver: &Receiver) -> Vec<Value> {
    receiver
        .received()
        .into_iter()
        .filter(|r| r.body["event"] == "recording.ready")
        .map(|r| {
            assert!(r.signature_valid);
            r.body
        })
        .collect()
}

fn raw_tracks_event(id: &str, keys: &[&str]) -> Value {
    let tracks: Vec<Value> = keys
        .iter()
        .map(|k| json!({"type": if k.contains("video") {"video"} else {"audio"}, "s3Key": k, "size": 1}))
        .collect();
    json!({
        "version": "1.0.0", "type": "recording.ready-to-download", "id": id,
        "payload": {"type": "raw-tracks", "recording_id": "rec-1", "room_name": ROOM,
                    "start_ts": Utc::now().timestamp(), "duration": null, "tracks": tracks},
        "event_ts": Utc::now().timestamp()
    })
}

async fn a_daily_raw_tracks_recording_is_stored_once_whatever_announces_it(db: Db) {
    let moto = Moto::start().await;
    moto.create_bucket(BUCKET).await;
    let dir = tempfile::tempdir().unwrap();
    let ada = speech_webm(dir.path(), "ada", "Hello from Ada");
    let bob = speech_webm(dir.path(), "bob", "Bob speaking here");
    let keys = [
        format!("acme/{ROOM}/1767250800000-a-cam-audio-1.webm"),
        format!("acme/{ROOM}/1767250800000-a-cam-video-1.webm"),
        format!("acme/{ROOM}/1767250800000-b-cam-audio-2.webm"),
    ];
    moto.put(BUCKET, &keys[0], ada.clone()).await;
    moto.put(BUCKET, &keys[2], bob.clone()).await;

    let daily = FakeDaily::start(ROOM).await;
    // The poller lists the same recording (and one still in progress, and one with an unknown
    // status and no duration).
    let tracks: Vec<Value> = keys
        .iter()
        .map(|k| json!({"type": "audio", "s3Key": k}))
        .collect();
    Mock::given(method("GET"))
        .and(path("/recordings"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"total_count": 3, "data": [
            {"id": "rec-2", "room_name": ROOM, "start_ts": Utc::now().timestamp(), "status": "in-progress", "duration": null},
            {"id": "rec-3", "room_name": ROOM, "start_ts": Utc::now().timestamp(), "status": "paused-forever", "duration": null},
            {"id": "rec-1", "room_name": ROOM, "start_ts": Utc::now().timestamp(), "status": "finished", "duration": 4, "tracks": tracks}
        ]})))
        .mount(&daily)
        .await;
    let receiver = Receiver::start(HOOK_SECRET).await;
    let mut env = daily.env();
    env.extend(moto.env());
    env.extend([
        ("DAILYCO_STORAGE_AWS_BUCKET_NAME", BUCKET.to_owned()),
        ("DAILYCO_STORAGE_AWS_REGION", "us-east-1".to_owned()),
        (
            "DAILYCO_STORAGE_AWS_ROLE_ARN",
            "arn:aws:iam::1:role/daily".to_owned(),
        ),
        ("ALLOW_PRIVATE_NETWORK_URLS", "true".to_owned()),
    ]);
    let app = TestApp::spawn(db, &pairs(&env)).await;
    app.room(json!({"name": "team", "platform": "daily", "webhook_url": receiver.url, "webhook_secret": HOOK_SECRET}))
        .await;
    let m = meeting(&app, "team").await;
    let mid = m["id"].as_str().unwrap();

    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    assert_eq!(
        send_daily(&app, &raw_tracks_event("evt-1", &key_refs)).await,
        200
    );
    // A redelivery (same event id), and another event about the same recording.
    assert_eq!(
        send_daily(&app, &raw_tracks_event("evt-1", &key_refs)).await,
        200
    );
    assert_eq!(
        send_daily(&app, &raw_tracks_event("evt-2", &key_refs)).await,
        200
    );
    settle(&app).await;
    // The poll finds the recording already ingested.
    app.app
        .queue
        .enqueue(
            &Job::PollRecordings {
                platform: "daily".into(),
            }
            .to_new(Utc::now()),
        )
        .await
        .unwrap();
    settle(&app).await;

    let list = recordings(&app, mid).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let r = &list[0];
    assert_eq!(r["status"], "stored", "{r}");
    assert_eq!(r["kind"], "multitrack");
    assert_eq!(r["platform_recording_id"], "rec-1");
    assert_eq!(r["tracks"], 2);
    assert_eq!(r["size_bytes"], (ada.len() + bob.len()) as i64);
    assert!(r["duration"].as_f64().unwrap() > 0.5, "{r}");
    let id = r["id"].as_str().unwrap();
    assert_eq!(stored_file(&app, &format!("recordings/{id}/0.webm")), ada);
    assert_eq!(stored_file(&app, &format!("recordings/{id}/1.webm")), bob);
    // Staging files are gone.
    assert!(
        std::fs::read_dir(app.data_dir.path().join("tmp/recordings"))
            .map_or(true, |mut d| d.next().is_none())
    );

    let ready = ready_events(&receiver);
    assert_eq!(ready.len(), 1, "{ready:?}");
    assert_eq!(ready[0]["recording"]["id"], id);
    assert_eq!(ready[0]["recording"]["tracks"], 2);
    assert_eq!(ready[0]["recording"]["kind"], "raw-tracks");
    assert_eq!(ready[0]["recording"]["meeting_id"], mid);
    assert_eq!(ready[0]["meeting"]["id"], mid);
    assert_eq!(ready[0]["room"]["name"], "team");
    app.stop().await;
}

async fn a_daily_cloud_recording_without_a_bucket_comes_through_the_access_link(db: Db) {
    // Our storage is S3 here (moto); Daily keeps the recording and gives an access link.
    let moto = Moto::start().await;
    moto.create_bucket("ours").await;
    let dir = tempfile::tempdir().unwrap();
    let media = speech_mp4(
        dir.path(),
        "call",
        "This is the composed recording of the call",
    );
    let link = FileServer::start(media.clone(), "mp4", Duration::ZERO, 0).await;
    let daily = FakeDaily::start(ROOM).await;
    Mock::given(method("GET"))
        .and(path("/recordings/rec-c"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "rec-c", "status": "finished", "duration": null, "s3key": "daily/internal.mp4", "tracks": []
        })))
        .mount(&daily)
        .await;
    Mock::given(method("GET"))
        .and(path("/recordings/rec-c/access-link"))
        .and(query_param("valid_for_secs", "43200"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "download_link": link.url, "expires": Utc::now().timestamp() + 3600
        })))
        .mount(&daily)
        .await;
    let mut env = daily.env();
    env.extend(moto.env());
    env.extend([
        ("TRANSCRIPT_STORAGE_BACKEND", "aws".to_owned()),
        ("TRANSCRIPT_STORAGE_AWS_BUCKET_NAME", "ours".to_owned()),
    ]);
    let app = TestApp::spawn(db, &pairs(&env)).await;
    app.room(json!({"name": "team", "platform": "daily"})).await;
    let mid = meeting(&app, "team").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let event = json!({
        "version": "1.0.0", "type": "recording.ready-to-download", "id": "evt-c",
        "payload": {"type": "cloud", "recording_id": "rec-c", "room_name": ROOM,
                    "start_ts": Utc::now().timestamp(), "duration": 3.5, "s3_key": "daily/internal.mp4"},
        "event_ts": Utc::now().timestamp()
    });
    assert_eq!(send_daily(&app, &event).await, 200);
    settle(&app).await;
    let list = recordings(&app, &mid).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["status"], "stored", "{}", list[0]);
    assert_eq!(list[0]["kind"], "single");
    let id = list[0]["id"].as_str().unwrap();
    let key = format!("recordings/{id}/0.mp4");
    assert_eq!(app.app.recordings.storage.location(), "s3://ours");
    assert_eq!(
        app.app.recordings.storage.get_bytes(&key).await.unwrap(),
        media
    );
    app.stop().await;
}

async fn whereby_app(db: Db, moto: &Moto, whereby: &MockServer, queue_url: &str) -> TestApp {
    let uri = whereby.uri();
    let mut env = moto.env();
    env.extend([
        ("WHEREBY_API_KEY", "w".to_owned()),
        ("WHEREBY_API_URL", uri),
        ("WHEREBY_WEBHOOK_SECRET", "whsecret".to_owned()),
        (
            "WHEREBY_STORAGE_AWS_BUCKET_NAME",
            "whereby-recordings".to_owned(),
        ),
        ("WHEREBY_STORAGE_AWS_ACCESS_KEY_ID", "wk".to_owned()),
        ("WHEREBY_STORAGE_AWS_SECRET_ACCESS_KEY", "ws".to_owned()),
        ("AWS_PROCESS_RECORDING_QUEUE_URL", queue_url.to_owned()),
    ]);
    TestApp::spawn(db, &pairs(&env)).await
}

async fn a_whereby_recording_from_the_queue_twice_and_the_webhook_is_stored_once(db: Db) {
    let moto = Moto::start().await;
    moto.create_bucket("whereby-recordings").await;
    let queue = moto.create_queue("recordings").await;
    let whereby = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/meetings"))
        .respond_with(whereby_meeting())
        .mount(&whereby)
        .await;
    let app = whereby_app(db, &moto, &whereby, &queue).await;
    app.room(json!({"name": "team", "platform": "whereby"}))
        .await;
    let mid = meeting(&app, "team").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let media = speech_mp4(dir.path(), "wb", "Recorded on Whereby");
    let key = format!(
        "team-6b1f0f6e-2f36-4b5c-9f9e-1d2d3c4b5a69-{}.mp4",
        Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
    );
    moto.put("whereby-recordings", &key, media.clone()).await;
    // S3 delivered the notification twice (SQS is at-least-once), plus a test event and noise.
    let note = object_created("whereby-recordings", &key, media.len());
    moto.send_message(&queue, &note).await;
    moto.send_message(&queue, &note).await;
    moto.send_message(&queue, r#"{"Event":"s3:TestEvent"}"#)
        .await;
    moto.send_message(
        &queue,
        &object_created("whereby-recordings", "notes.txt", 3),
    )
    .await;
    app.app
        .queue
        .enqueue(
            &Job::PollRecordingQueue {
                platform: "whereby".into(),
            }
            .to_new(Utc::now()),
        )
        .await
        .unwrap();
    settle(&app).await;
    assert_eq!(
        moto.visible_messages(&queue).await,
        0,
        "every message is deleted once its work is queued"
    );
    // And Whereby's webhook announces it too.
    let body = json!({"id": "wb-evt", "type": "recording.finished", "createdAt": Utc::now().to_rfc3339(),
        "data": {"filename": key, "recordingId": "wb-rec-1", "roomName": "team-6b1f0f6e-2f36-4b5c-9f9e-1d2d3c4b5a69"}})
    .to_string();
    let t = Utc::now().timestamp();
    let status = app
        .req(Method::POST, "/v1/whereby")
        .header("content-type", "application/json")
        .header(
            "whereby-signature",
            whereby_signature("whsecret", t, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    settle(&app).await;
    let list = recordings(&app, &mid).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["status"], "stored", "{}", list[0]);
    assert_eq!(list[0]["platform_recording_id"], key);
    let id = list[0]["id"].as_str().unwrap();
    assert_eq!(stored_file(&app, &format!("recordings/{id}/0.mp4")), media);
    app.stop().await;
}

async fn a_file_without_audio_fails_with_a_clear_error(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let video = silent_video_mp4(dir.path(), "silent");
    let link = FileServer::start(video, "mp4", Duration::ZERO, 0).await;
    let daily = FakeDaily::start(ROOM).await;
    Mock::given(method("GET"))
        .and(path("/recordings/rec-v"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": "rec-v", "status": "finished"})),
        )
        .mount(&daily)
        .await;
    Mock::given(method("GET"))
        .and(path("/recordings/rec-v/access-link"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "download_link": link.url, "expires": Utc::now().timestamp() + 3600
        })))
        .mount(&daily)
        .await;
    let app = TestApp::spawn(db, &pairs(&daily.env())).await;
    app.room(json!({"name": "team", "platform": "daily"})).await;
    let mid = meeting(&app, "team").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let event = json!({"version": "1.0.0", "type": "recording.ready-to-download", "id": "evt-v",
        "payload": {"type": "cloud", "recording_id": "rec-v", "room_name": ROOM}});
    assert_eq!(send_daily(&app, &event).await, 200);
    settle(&app).await;
    let list = recordings(&app, &mid).await;
    assert_eq!(list[0]["status"], "error");
    assert_eq!(
        list[0]["error"],
        "the file (/file.mp4): the file has no audio stream"
    );
    app.stop().await;
}

async fn a_provider_bucket_that_fails_then_recovers_is_read_to_the_end(db: Db) {
    let moto = Moto::start().await;
    moto.create_bucket(BUCKET).await;
    // More failures than one attempt of the job rides out (the storage client's retries within
    // the download's own): the job's next attempt finishes it.
    let flaky = FlakyS3::start(&moto.url, 25).await;
    let dir = tempfile::tempdir().unwrap();
    let ada = speech_webm(dir.path(), "ada", "Ada again");
    let key = format!("acme/{ROOM}/1-a-cam-audio-1.webm");
    moto.put(BUCKET, &key, ada.clone()).await;
    let daily = FakeDaily::start(ROOM).await;
    let mut env = daily.env();
    env.extend(moto.env());
    env.retain(|(k, _)| *k != "TRANSCRIPT_STORAGE_AWS_ENDPOINT_URL");
    env.extend([
        ("TRANSCRIPT_STORAGE_AWS_ENDPOINT_URL", flaky.url.clone()),
        ("DAILYCO_STORAGE_AWS_BUCKET_NAME", BUCKET.to_owned()),
        ("DAILYCO_STORAGE_AWS_REGION", "us-east-1".to_owned()),
        (
            "DAILYCO_STORAGE_AWS_ROLE_ARN",
            "arn:aws:iam::1:role/daily".to_owned(),
        ),
    ]);
    let mut app = TestApp::spawn(db, &pairs(&env)).await;
    app.expect_failed_jobs();
    app.room(json!({"name": "team", "platform": "daily"})).await;
    let mid = meeting(&app, "team").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        send_daily(&app, &raw_tracks_event("evt-f", &[&key])).await,
        200
    );
    app.run_jobs().await;
    // Still failing: the recording waits for its next attempt, not given up.
    let r = &recordings(&app, &mid).await[0];
    assert_ne!(r["status"], "error", "{r}");
    assert_ne!(r["status"], "stored", "{r}");
    reflector_testing::process::wait_until(
        "the retry stores the recording",
        Duration::from_secs(60),
        || async {
            app.run_jobs().await;
            recordings(&app, &mid).await[0]["status"] == "stored"
        },
    )
    .await;
    assert_eq!(flaky.failed(), 25);
    let id = recordings(&app, &mid).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(stored_file(&app, &format!("recordings/{id}/0.webm")), ada);
    app.stop().await;
}

async fn a_mock_call_is_recorded_when_it_ends(db: Db) {
    let app = TestApp::spawn(db, &[]).await;
    app.room(json!({"name": "team"})).await;
    let m = meeting(&app, "team").await;
    let mid = m["id"].as_str().unwrap();
    let page = m["room_url"].as_str().unwrap();
    let mut sessions = Vec::new();
    for name in ["Ada", "Bob"] {
        let (status, s) = app
            .call(
                Method::POST,
                &format!("{}/sessions", page.trim_start_matches(&app.url)),
                None,
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(status, 201, "{s}");
        sessions.push(s["session_id"].as_str().unwrap().to_owned());
    }
    for s in &sessions {
        let (status, _) = app
            .call(
                Method::DELETE,
                &format!("{}/sessions/{s}", page.trim_start_matches(&app.url)),
                None,
                None,
            )
            .await;
        assert_eq!(status, 204);
    }
    reflector_testing::process::wait_until(
        "the mock's recording is stored",
        Duration::from_secs(30),
        || async {
            app.run_jobs().await;
            recordings(&app, mid)
                .await
                .first()
                .is_some_and(|r| r["status"] == "stored")
        },
    )
    .await;
    let r = &recordings(&app, mid).await[0];
    assert_eq!(r["tracks"], 2, "{r}");
    assert_eq!(r["kind"], "multitrack");
    assert!((r["duration"].as_f64().unwrap() - 2.0).abs() < 0.1, "{r}");
    app.stop().await;
}

async fn only_the_owner_lists_a_meetings_recordings(db: Db) {
    let keys = JwtKeys::generate();
    let app = TestApp::spawn(
        db,
        &[
            ("AUTH_BACKEND", "jwt"),
            ("AUTH_JWT_PUBLIC_KEY", &keys.public_key_path),
        ],
    )
    .await;
    let owner = keys.token("owner");
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/rooms",
            Some(&owner),
            Some(json!({"name": "team", "is_shared": true})),
        )
        .await;
    assert_eq!(status, 200);
    let mid = meeting(&app, "team").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/meetings/{mid}/recordings");
    assert_eq!(
        app.call(Method::GET, &path, Some(&owner), None).await,
        (200, json!([]))
    );
    let (status, body) = app
        .call(Method::GET, &path, Some(&keys.token("other")), None)
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["detail"],
        "Only the room's owner may list its recordings"
    );
    assert_eq!(app.get(&path).await.0, 401);
    assert_eq!(
        app.call(
            Method::GET,
            "/v1/meetings/nope/recordings",
            Some(&owner),
            None
        )
        .await
        .0,
        404
    );
    app.stop().await;
}
