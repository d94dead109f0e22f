//! Crash safety: a `reflector worker` killed with SIGKILL in the middle of processing leaves
//! work that another worker completes, with nothing lost and nothing applied twice.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::time::Duration;

use reflector_store::Store;
use reflector_testing::fakes::{DAILY_SECRET, FakeDaily, daily_delivery};
use reflector_testing::process::{free_port, room_with_meeting, spawn, wait_healthy, wait_until};
use reflector_testing::{Db, TestDatabase};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const BIN: &str = env!("CARGO_BIN_EXE_reflector");
const ROOM: &str = "team-20260101000000-abcd";
/// Participants joining; the inbox also holds the meeting's start.
const EVENTS: usize = 150;
const INBOX: i64 = EVENTS as i64 + 1;
const PATIENCE: Duration = Duration::from_secs(90);

/// This test needs one database shared by processes; PostgreSQL when configured.
async fn database() -> TestDatabase {
    match TestDatabase::postgres().await {
        Some(db) => db,
        None => Db::Sqlite.fresh().await,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_worker_leaves_work_that_another_worker_completes() {
    // Daily's API: its presence agrees with the webhooks, slowly, so the work takes a while.
    let daily = FakeDaily::start(ROOM).await;
    Mock::given(method("GET"))
        .and(path("/meetings"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": []})))
        .mount(&daily)
        .await;
    let everyone: Vec<Value> = (0..EVENTS)
        .map(|i| json!({"id": format!("s{i}"), "userName": format!("P{i}"), "joinTime": "2026-01-01T00:00:00Z"}))
        .collect();
    Mock::given(method("GET"))
        .and(path(format!("/rooms/{ROOM}/presence")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"total_count": EVENTS, "data": everyone}))
                .set_delay(Duration::from_millis(40)),
        )
        .mount(&daily)
        .await;

    let database = database().await;
    let data_dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut env = daily.env();
    env.extend([
        ("DATABASE_URL", database.url.clone()),
        ("DATA_DIR", data_dir.path().display().to_string()),
        ("PORT", port.to_string()),
        ("JOB_LEASE_SECONDS", "2".to_owned()),
        ("JOB_POLL_MILLISECONDS", "50".to_owned()),
        // One event per transaction, so the work takes a while and the kill lands mid-way
        // (by default a meeting's 150 events are applied in one).
        ("WEBHOOK_APPLY_BATCH", "1".to_owned()),
    ]);

    // The API alone receives the webhooks; no jobs run yet.
    let _api = spawn(BIN, &["serve", "--no-jobs"], &env, "error");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_healthy(&base).await;
    let meeting = room_with_meeting(&base, &json!({"name": "team"})).await;
    let meeting_id = meeting["id"].as_str().unwrap().to_owned();
    // The meeting's first event needs its job, so the joins after it wait for that job too
    // (rather than being applied as they are stored), and the workers have them to apply.
    let started = json!({
        "version": "1.0.0", "type": "meeting.started", "id": "evt-started", "event_ts": 1767225600,
        "payload": {"room": ROOM, "meeting_id": "daily-meeting-1", "start_ts": 1767225600}
    });
    let joins = (0..EVENTS).map(|i| {
        json!({
            "version": "1.0.0", "type": "participant.joined", "id": format!("evt-{i}"), "event_ts": 1767225600,
            "payload": {"room": ROOM, "session_id": format!("s{i}"), "user_name": format!("P{i}"), "joined_at": 1767225600}
        })
    });
    for body in std::iter::once(started).chain(joins) {
        let body = body.to_string();
        let request = http.post(format!("{base}/v1/daily/webhook"));
        let ts = chrono::Utc::now().timestamp();
        let r = daily_delivery(request, DAILY_SECRET, ts, body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let store = Store::connect(&database.url).await.unwrap();
    assert_eq!(store.inbox_counts().await.unwrap(), (INBOX, 0));

    // A worker starts on them and is killed without warning part-way through.
    let mut first = spawn(BIN, &["worker"], &env, "error");
    wait_until("the first worker has applied some events", PATIENCE, || {
        let store = store.clone();
        async move { store.inbox_counts().await.unwrap().1 >= 10 }
    })
    .await;
    first.0.kill().unwrap(); // SIGKILL
    first.0.wait().unwrap();
    let at_kill = store.inbox_counts().await.unwrap().1;
    assert!(
        at_kill < INBOX,
        "the worker must be killed mid-way for this test to mean anything ({at_kill} applied)"
    );

    // Another worker finishes, including the jobs the dead one held (after their lease).
    let _second = spawn(BIN, &["worker"], &env, "error");
    wait_until("every event is applied", PATIENCE, || {
        let store = store.clone();
        async move { store.inbox_counts().await.unwrap() == (INBOX, INBOX) }
    })
    .await;
    wait_until("the queue has drained", PATIENCE, || {
        let store = store.clone();
        async move {
            let c = store.job_counts().await.unwrap();
            c.queued == 0 && c.running == 0
        }
    })
    .await;
    let counts = store.job_counts().await.unwrap();
    assert_eq!(counts.failed, 0, "{counts:?}");
    let sessions = store.participant_sessions(&meeting_id).await.unwrap();
    let distinct: std::collections::HashSet<_> =
        sessions.iter().map(|s| &s.platform_session_id).collect();
    assert_eq!(
        (sessions.len(), distinct.len()),
        (EVENTS, EVENTS),
        "each participant exactly once"
    );
    assert!(sessions.iter().all(|s| s.left_at.is_none()));
    assert_eq!(
        store
            .meeting(&meeting_id)
            .await
            .unwrap()
            .unwrap()
            .num_clients,
        EVENTS as i64
    );
    eprintln!(
        "killed the first worker after {at_kill} of {INBOX} events; the second finished the rest"
    );
    store.close().await;
    database.drop_database().await;
}

/// A `reflector worker` killed with SIGKILL halfway through downloading a recording: the next
/// worker resumes the download where the first stopped (a `Range` request from the bytes on
/// disk), and the stored file is the provider's, byte for byte, stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_download_leaves_a_download_the_next_worker_resumes() {
    let media_dir = tempfile::tempdir().unwrap();
    // 40 s of audio (1.3 MB), served at 64 KB per 100 ms: about 2 s to download.
    let media = reflector_testing::media::tone_wav(media_dir.path(), "long", 40);
    let link = reflector_testing::fakes::FileServer::start(
        media.clone(),
        "wav",
        Duration::from_millis(100),
        0,
    )
    .await;
    let daily = FakeDaily::start(ROOM).await;
    Mock::given(method("GET"))
        .and(path("/recordings/rec-long"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "rec-long", "status": "finished"})),
        )
        .mount(&daily)
        .await;
    Mock::given(method("GET"))
        .and(path("/recordings/rec-long/access-link"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "download_link": link.url, "expires": chrono::Utc::now().timestamp() + 3600
        })))
        .mount(&daily)
        .await;

    let database = database().await;
    let data_dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut env = daily.env();
    env.extend([
        ("DATABASE_URL", database.url.clone()),
        ("DATA_DIR", data_dir.path().display().to_string()),
        ("PORT", port.to_string()),
        ("JOB_LEASE_SECONDS", "2".to_owned()),
        ("JOB_POLL_MILLISECONDS", "50".to_owned()),
    ]);
    let _api = spawn(BIN, &["serve", "--no-jobs"], &env, "error");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_healthy(&base).await;
    let meeting = room_with_meeting(&base, &json!({"name": "team", "platform": "daily"})).await;
    let meeting_id = meeting["id"].as_str().unwrap().to_owned();
    let body = json!({"version": "1.0.0", "type": "recording.ready-to-download", "id": "evt-long",
        "payload": {"type": "cloud", "recording_id": "rec-long", "room_name": ROOM}})
    .to_string();
    let request = http.post(format!("{base}/v1/daily/webhook"));
    let r = daily_delivery(request, DAILY_SECRET, chrono::Utc::now().timestamp(), body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let staging = data_dir.path().join("tmp").join("recordings");
    let partial = || {
        std::fs::read_dir(&staging)
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
            .map(|f| f.metadata().map(|m| m.len()).unwrap_or(0))
            .sum::<u64>()
    };
    let mut first = spawn(BIN, &["worker"], &env, "error");
    wait_until(
        "the first worker has downloaded part of the file",
        PATIENCE,
        || async { partial() > 256 * 1024 },
    )
    .await;
    first.0.kill().unwrap(); // SIGKILL
    first.0.wait().unwrap();
    let at_kill = partial();
    assert!(
        (at_kill as usize) < media.len(),
        "the worker must be killed mid-download for this test to mean anything"
    );

    let _second = spawn(BIN, &["worker"], &env, "error");
    let api = format!("{base}/v1/meetings/{meeting_id}/recordings");
    wait_until("the second worker stores the recording", PATIENCE, || {
        let request = http.get(&api).send();
        async move {
            let list: Value = request.await.unwrap().json().await.unwrap();
            list[0]["status"] == "stored" || list[0]["status"] == "error"
        }
    })
    .await;
    let list: Value = http.get(&api).send().await.unwrap().json().await.unwrap();
    let recording = list[0].clone();
    assert_eq!(recording["status"], "stored", "{recording}");
    let id = recording["id"].as_str().unwrap();
    let stored = std::fs::read(
        data_dir
            .path()
            .join(format!("storage/recordings/{id}/0.wav")),
    )
    .unwrap();
    assert!(
        stored == media,
        "the stored file differs from the provider's"
    );
    let ranges = link.ranges();
    assert_eq!(ranges[0], None, "{ranges:?}");
    let resumed_from = ranges
        .iter()
        .flatten()
        .find_map(|r| {
            r.strip_prefix("bytes=")?
                .strip_suffix('-')?
                .parse::<u64>()
                .ok()
        })
        .unwrap_or_else(|| panic!("the second worker started over: {ranges:?}"));
    assert!(resumed_from >= 256 * 1024, "{ranges:?}");
    eprintln!(
        "killed the first worker at {at_kill} of {} bytes; the second resumed from {resumed_from}",
        media.len()
    );
    let store = Store::connect(&database.url).await.unwrap();
    let counts = store.job_counts().await.unwrap();
    assert_eq!(counts.failed, 0, "{counts:?}");
    store.close().await;
    database.drop_database().await;
}
