//! Crash safety: a `reflector worker` killed with SIGKILL in the middle of processing leaves
//! work that another worker completes, with nothing lost and nothing applied twice.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::time::Duration;

use reflector_store::Store;
use reflector_testing::fakes::{DAILY_SECRET, FakeDaily, daily_signature};
use reflector_testing::process::{free_port, spawn, wait_healthy, wait_until};
use reflector_testing::{Db, TestDatabase};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const BIN: &str = env!("CARGO_BIN_EXE_reflector");
const ROOM: &str = "team-20260101000000-abcd";
const EVENTS: usize = 150;
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
    let port = free_port();
    let mut env = daily.env();
    env.extend([
        ("DATABASE_URL", database.url.clone()),
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
    assert_eq!(
        http.post(format!("{base}/v1/rooms"))
            .json(&json!({"name": "team"}))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let meeting: Value = http
        .post(format!("{base}/v1/rooms/team/meeting"))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let meeting_id = meeting["id"].as_str().unwrap().to_owned();
    for i in 0..EVENTS {
        let body = json!({
            "version": "1.0.0", "type": "participant.joined", "id": format!("evt-{i}"), "event_ts": 1767225600,
            "payload": {"room": ROOM, "session_id": format!("s{i}"), "user_name": format!("P{i}"), "joined_at": 1767225600}
        })
        .to_string();
        let ts = chrono::Utc::now().timestamp();
        let r = http
            .post(format!("{base}/v1/daily/webhook"))
            .header("x-webhook-timestamp", ts.to_string())
            .header(
                "x-webhook-signature",
                daily_signature(DAILY_SECRET, ts, body.as_bytes()),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let store = Store::connect(&database.url).await.unwrap();
    assert_eq!(store.inbox_counts().await.unwrap(), (EVENTS as i64, 0));

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
        (at_kill as usize) < EVENTS,
        "the worker must be killed mid-way for this test to mean anything ({at_kill} applied)"
    );

    // Another worker finishes, including the jobs the dead one held (after their lease).
    let _second = spawn(BIN, &["worker"], &env, "error");
    wait_until("every event is applied", PATIENCE, || {
        let store = store.clone();
        async move { store.inbox_counts().await.unwrap() == (EVENTS as i64, EVENTS as i64) }
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
        "killed the first worker after {at_kill} of {EVENTS} events; the second finished the rest"
    );
    store.close().await;
    database.drop_database().await;
}
