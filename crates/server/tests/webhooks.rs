//! Provider webhooks in, presence, the meeting lifecycle on an injected clock, and outgoing room
//! webhooks out — over real HTTP against fake providers and a signature-checking receiver.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use reflector_core::{Clock, ManualClock};
use reflector_testing::fakes::{
    DAILY_SECRET, FakeDaily, JwtKeys, Receiver, daily_delivery, daily_event, daily_signature,
    whereby_signature,
};
use reflector_testing::{Db, TestApp, on_both_databases};
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

on_both_databases!(
    daily_webhooks_are_verified_stored_once_and_applied,
    a_pruned_daily_event_cannot_be_replayed,
    whereby_num_clients_follows_the_newest_provider_count,
    a_burst_for_one_meeting_is_applied_once_by_one_job,
    whereby_webhooks_are_verified_and_too_old_ones_refused,
    meetings_are_extended_in_use_and_ended_after_the_grace_period,
    presence_lag_does_not_close_a_fresh_session,
    a_slow_presence_check_does_not_hold_back_the_meetings_events,
    the_mock_call_drives_presence_and_the_meeting_lifecycle,
    outgoing_webhooks_retry_on_schedule_and_stop_on_4xx,
    the_webhook_test_button_reports_what_happened,
);

const DAILY_ROOM: &str = "team-20260101000000-abcd";
const HOOK_SECRET: &str = "room-hook-secret";

async fn daily_app(db: Db, daily: &FakeDaily, clock: Option<Arc<ManualClock>>) -> TestApp {
    let mut env = daily.env();
    env.push(("ALLOW_PRIVATE_NETWORK_URLS", "true".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    match clock {
        Some(clock) => TestApp::spawn_with_clock(db, &env, clock).await,
        None => TestApp::spawn(db, &env).await,
    }
}

async fn send_daily(app: &TestApp, body: &Value, secret: &str) -> (u16, Value) {
    send_daily_at(app, body, secret, app.app.clock.now().timestamp()).await
}

/// Signed at `ts` (unix seconds), as Daily signs a delivery (and its redeliveries).
async fn send_daily_at(app: &TestApp, body: &Value, secret: &str, ts: i64) -> (u16, Value) {
    app.daily_webhook(body, secret, ts).await
}

async fn meeting_json(app: &TestApp, room: &str) -> Value {
    let (status, m) = app
        .post(&format!("/v1/rooms/{room}/meeting"), json!({}))
        .await;
    assert_eq!(status, 200, "{m}");
    m
}

async fn num_clients(app: &TestApp, id: &str) -> i64 {
    app.store.meeting(id).await.unwrap().unwrap().num_clients
}

async fn daily_webhooks_are_verified_stored_once_and_applied(db: Db) {
    let clock = Arc::new(ManualClock::new(t0()));
    let daily = FakeDaily::start(DAILY_ROOM).await;
    daily.present(&[("s1", "Ada")]).await;
    let app = daily_app(db, &daily, Some(clock.clone())).await;
    app.room(json!({"name": "team"})).await;
    let m = meeting_json(&app, "team").await;
    let mid = m["id"].as_str().unwrap();

    let joined = daily_event("evt-1", "participant.joined", DAILY_ROOM, "s1");
    assert_eq!(
        send_daily(&app, &joined, DAILY_SECRET).await,
        (200, json!({"status": "ok"}))
    );
    assert_eq!(
        send_daily(&app, &joined, DAILY_SECRET).await,
        (200, json!({"status": "duplicate"})),
        "a redelivery is accepted and changes nothing"
    );
    assert_eq!(
        app.store.inbox_counts().await.unwrap(),
        (1, 1),
        "a join is applied as it is stored, with no job"
    );
    assert_eq!(num_clients(&app, mid).await, 1);
    assert_eq!(app.run_jobs().await, 0, "nothing is due yet");
    clock.set(t0() + Duration::seconds(6));
    assert_eq!(
        app.run_jobs().await,
        1,
        "the presence check the event asked for, 5 s later"
    );
    assert_eq!(num_clients(&app, mid).await, 1);
    let sessions = app.store.participant_sessions(mid).await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].user_name.as_deref(), Some("Ada"));
    assert_eq!(app.store.inbox_counts().await.unwrap(), (1, 1));

    // Refused: no signature, a signature by another secret, a tampered body.
    let raw = joined.to_string();
    let unsigned = app
        .req(Method::POST, "/v1/daily/webhook")
        .header("content-type", "application/json")
        .body(raw.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    let other_secret = "MTExMTExMTExMTExMTExMTExMTExMTExMTExMTExMTE=";
    assert_eq!(
        send_daily(
            &app,
            &daily_event("evt-x", "participant.joined", DAILY_ROOM, "s7"),
            other_secret
        )
        .await
        .0,
        401
    );
    let ts = Utc::now().timestamp();
    let tampered = app
        .req(Method::POST, "/v1/daily/webhook")
        .header("x-webhook-timestamp", ts.to_string())
        .header(
            "x-webhook-signature",
            daily_signature(DAILY_SECRET, ts, raw.as_bytes()),
        )
        .body(raw.replace("Ada", "Eve"))
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status(), 401);

    // Daily's endpoint probe, unknown types and unknown meetings are all answered 200.
    let probe = app
        .req(Method::POST, "/v1/daily/webhook")
        .header("content-type", "application/json")
        .body(r#"{"test":"test"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 200);
    let unknown_type = json!({"version": "1.0.0", "type": "waiting-participant.joined", "id": "evt-2", "payload": {"room": DAILY_ROOM}, "event_ts": 1});
    assert_eq!(send_daily(&app, &unknown_type, DAILY_SECRET).await.0, 200);
    let unknown_meeting = daily_event("evt-3", "participant.joined", "no-such-room", "s3");
    assert_eq!(
        send_daily(&app, &unknown_meeting, DAILY_SECRET).await.0,
        200
    );

    // Out of order: s2's leave arrives before its join; it never counts as present.
    let left = daily_event("evt-4", "participant.left", DAILY_ROOM, "s2");
    let late_join = daily_event("evt-5", "participant.joined", DAILY_ROOM, "s2");
    assert_eq!(send_daily(&app, &left, DAILY_SECRET).await.0, 200);
    assert_eq!(send_daily(&app, &late_join, DAILY_SECRET).await.0, 200);
    app.run_jobs().await;
    assert_eq!(
        app.store.inbox_counts().await.unwrap(),
        (5, 5),
        "every stored event was applied"
    );
    assert_eq!(num_clients(&app, mid).await, 1);

    // Drift: the provider says s1 left and s9 (whose webhook we never got) is in the call.
    daily.reset().await;
    daily.present(&[("s9", "Bo")]).await;
    let s1_left = daily_event("evt-6", "participant.left", DAILY_ROOM, "s1");
    send_daily(&app, &s1_left, DAILY_SECRET).await;
    clock.set(t0() + Duration::seconds(12));
    app.run_jobs().await;
    let open: Vec<String> = app
        .store
        .participant_sessions(mid)
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.left_at.is_none())
        .map(|s| s.platform_session_id)
        .collect();
    assert_eq!(open, ["s9"]);
    assert_eq!(num_clients(&app, mid).await, 1);

    // NUL in a signed event's strings (PostgreSQL's text cannot hold it) is stored as U+FFFD,
    // not refused (Daily would retry, then disable the webhook) and not failing its batch.
    let nul = daily_event("evt-\u{0}7", "participant.joined", DAILY_ROOM, "s\u{0}8");
    assert_eq!(
        send_daily(&app, &nul, DAILY_SECRET).await,
        (200, json!({"status": "ok"}))
    );
    assert_eq!(
        send_daily(&app, &nul, DAILY_SECRET).await,
        (200, json!({"status": "duplicate"}))
    );
    assert_eq!(num_clients(&app, mid).await, 2);
    let sessions = app.store.participant_sessions(mid).await.unwrap();
    assert!(
        sessions
            .iter()
            .any(|s| s.platform_session_id == "s\u{FFFD}8" && s.left_at.is_none()),
        "{sessions:?}"
    );
    app.stop().await;
}

async fn a_burst_for_one_meeting_is_applied_once_by_one_job(db: Db) {
    let clock = Arc::new(ManualClock::new(t0()));
    let daily = FakeDaily::start(DAILY_ROOM).await;
    let app = daily_app(db, &daily, Some(clock.clone())).await;
    app.room(json!({"name": "team"})).await;
    let m = meeting_json(&app, "team").await;
    let mid = m["id"].as_str().unwrap();

    // The meeting's start needs its job, so what follows it waits for that job.
    let started = daily_event("evt-start", "meeting.started", DAILY_ROOM, "-");
    assert_eq!(send_daily(&app, &started, DAILY_SECRET).await.0, 200);
    // 60 joins and 20 redeliveries of them, all at once: the requests share transactions.
    let now = clock.now().timestamp();
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..80 {
        let event = daily_event(
            &format!("evt-{}", i % 60),
            "participant.joined",
            DAILY_ROOM,
            &format!("s{}", i % 60),
        );
        let (http, url) = (app.http.clone(), format!("{}/v1/daily/webhook", app.url));
        sends.spawn(async move {
            let answer = daily_delivery(http.post(url), DAILY_SECRET, now, event.to_string())
                .send()
                .await
                .unwrap();
            let code = answer.status().as_u16();
            (code, answer.json::<Value>().await.unwrap_or(Value::Null))
        });
    }
    let answers = sends.join_all().await;
    let count = |status: &str| {
        answers
            .iter()
            .filter(|(code, body)| *code == 200 && body["status"] == status)
            .count()
    };
    assert_eq!((count("ok"), count("duplicate")), (60, 20));
    assert_eq!(
        app.store.inbox_counts().await.unwrap(),
        (61, 0),
        "each stored once before its answer, none overtaking the start"
    );
    assert_eq!(
        app.run_jobs().await,
        1,
        "one job applies the meeting's events"
    );
    assert_eq!(num_clients(&app, mid).await, 60);
    assert_eq!(app.store.inbox_counts().await.unwrap(), (61, 61));

    // With nothing waiting, a leave is applied as it is stored (a redelivery changes nothing),
    // and so are joins sent at once.
    let left = daily_event("evt-60", "participant.left", DAILY_ROOM, "s0");
    assert_eq!(send_daily(&app, &left, DAILY_SECRET).await.0, 200);
    assert_eq!(send_daily(&app, &left, DAILY_SECRET).await.0, 200);
    assert_eq!(num_clients(&app, mid).await, 59);
    let mut sends = tokio::task::JoinSet::new();
    for i in 61..81 {
        let event = daily_event(
            &format!("evt-{i}"),
            "participant.joined",
            DAILY_ROOM,
            &format!("s{i}"),
        );
        let (http, url) = (app.http.clone(), format!("{}/v1/daily/webhook", app.url));
        sends.spawn(async move {
            daily_delivery(http.post(url), DAILY_SECRET, now, event.to_string())
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    assert!(sends.join_all().await.iter().all(|s| *s == 200));
    assert_eq!(num_clients(&app, mid).await, 79);
    assert_eq!(app.store.inbox_counts().await.unwrap(), (82, 82));
    assert_eq!(
        app.run_jobs().await,
        0,
        "no job, and the presence check is not due"
    );
    app.stop().await;
}

/// An app on a faked Whereby (webhook secret `whsecret`) with room `team` and its meeting
/// `wb-1`; the fake must be kept while the app runs.
async fn whereby_meeting(db: Db) -> (MockServer, TestApp, Value) {
    let whereby = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/meetings"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "meetingId": "wb-1", "roomName": "/team-1f2e", "roomUrl": "https://acme.whereby.com/team-1f2e",
            "hostRoomUrl": "https://acme.whereby.com/team-1f2e?roomKey=k"
        })))
        .mount(&whereby)
        .await;
    let uri = whereby.uri();
    let app = TestApp::spawn(
        db,
        &[
            ("WHEREBY_API_KEY", "w"),
            ("WHEREBY_API_URL", &uri),
            ("WHEREBY_WEBHOOK_SECRET", "whsecret"),
        ],
    )
    .await;
    app.room(json!({"name": "team", "recording_type": "none"}))
        .await;
    let m = meeting_json(&app, "team").await;
    (whereby, app, m)
}

async fn whereby_webhooks_are_verified_and_too_old_ones_refused(db: Db) {
    let (_whereby, app, m) = whereby_meeting(db).await;
    let body = |id: &str, kind: &str| {
        let count = if kind == "room.client.joined" { 1 } else { 0 };
        json!({"id": id, "type": kind, "createdAt": Utc::now().to_rfc3339(),
               "data": {"meetingId": "wb-1", "roomName": "/team-1f2e", "participantId": "p1",
                        "displayName": "Ada", "numClients": count, "roomSessionId": "rs1"}})
        .to_string()
    };
    let send = |raw: String, t: i64| {
        app.req(Method::POST, "/v1/whereby")
            .header("content-type", "application/json")
            .header(
                "whereby-signature",
                whereby_signature("whsecret", t, raw.as_bytes()),
            )
            .body(raw)
            .send()
    };
    let now = Utc::now().timestamp();
    assert_eq!(
        send(body("w1", "room.client.joined"), now)
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        send(body("w2", "room.client.joined"), now - 61)
            .await
            .unwrap()
            .status(),
        401,
        "older than 60 s"
    );
    let unsigned = app
        .req(Method::POST, "/v1/whereby")
        .body(body("w3", "room.client.joined"))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    app.run_jobs().await;
    assert_eq!(num_clients(&app, m["id"].as_str().unwrap()).await, 1);
    assert_eq!(
        send(body("w4", "room.client.left"), now)
            .await
            .unwrap()
            .status(),
        200
    );
    app.run_jobs().await;
    assert_eq!(num_clients(&app, m["id"].as_str().unwrap()).await, 0);
    app.stop().await;
}

async fn a_pruned_daily_event_cannot_be_replayed(db: Db) {
    let clock = Arc::new(ManualClock::new(t0()));
    let daily = FakeDaily::start(DAILY_ROOM).await;
    daily.present(&[("s1", "Ada")]).await;
    let app = daily_app(db, &daily, Some(clock.clone())).await;
    app.room(json!({"name": "team"})).await;
    meeting_json(&app, "team").await;
    let joined = daily_event("evt-replayed", "participant.joined", DAILY_ROOM, "s1");
    let signed_at = t0().timestamp();
    assert_eq!(
        send_daily_at(&app, &joined, DAILY_SECRET, signed_at)
            .await
            .0,
        200
    );
    app.run_jobs().await;
    // A redelivery within the inbox's memory is recognised.
    clock.advance(Duration::days(20));
    assert_eq!(
        send_daily_at(&app, &joined, DAILY_SECRET, signed_at).await,
        (200, json!({"status": "duplicate"}))
    );
    // The inbox forgets it after its retention …
    clock.advance(Duration::days(11));
    app.app
        .queue
        .enqueue(&reflector_app::Job::PruneJobs.to_new(clock.now()))
        .await
        .unwrap();
    app.run_jobs().await;
    assert_eq!(app.store.inbox_counts().await.unwrap(), (0, 0));
    // … and the captured delivery, replayed, is refused rather than applied as new.
    let (status, body) = send_daily_at(&app, &joined, DAILY_SECRET, signed_at).await;
    assert_eq!(status, 401, "{body}");
    app.stop().await;
}

async fn whereby_num_clients_follows_the_newest_provider_count(db: Db) {
    let (_whereby, app, m) = whereby_meeting(db).await;
    let mid = m["id"].as_str().unwrap();
    let send = |id: &str, kind: &str, participant: &str, count: i64, at: DateTime<Utc>| {
        let raw = json!({"id": id, "type": kind, "createdAt": at.to_rfc3339(),
            "data": {"meetingId": "wb-1", "participantId": participant, "numClients": count}})
        .to_string();
        let t = Utc::now().timestamp();
        app.req(Method::POST, "/v1/whereby")
            .header("content-type", "application/json")
            .header(
                "whereby-signature",
                whereby_signature("whsecret", t, raw.as_bytes()),
            )
            .body(raw)
            .send()
    };
    let now = Utc::now();
    // Whereby counts clients we never saw join (a missed webhook): its count is the truth.
    assert_eq!(
        send("w1", "room.client.joined", "p1", 3, now)
            .await
            .unwrap()
            .status(),
        200
    );
    app.run_jobs().await;
    assert_eq!(num_clients(&app, mid).await, 3);
    // A late, older event does not overwrite the newer count …
    let earlier = now - Duration::seconds(30);
    assert_eq!(
        send("w0", "room.client.joined", "p0", 1, earlier)
            .await
            .unwrap()
            .status(),
        200
    );
    app.run_jobs().await;
    assert_eq!(num_clients(&app, mid).await, 3);
    // … a newer one does, and a redelivery changes nothing.
    let later = now + Duration::seconds(5);
    assert_eq!(
        send("w2", "room.client.left", "p1", 2, later)
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        send("w2", "room.client.left", "p1", 2, later)
            .await
            .unwrap()
            .status(),
        200
    );
    app.run_jobs().await;
    assert_eq!(num_clients(&app, mid).await, 2);
    app.stop().await;
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).unwrap()
}

async fn hooked_room(app: &TestApp, name: &str, receiver: &Receiver, platform: &str) -> Value {
    app.room(json!({"name": name, "platform": platform, "webhook_url": receiver.url, "webhook_secret": HOOK_SECRET}))
        .await
}

async fn meetings_are_extended_in_use_and_ended_after_the_grace_period(db: Db) {
    let clock = Arc::new(ManualClock::new(t0()));
    let daily = FakeDaily::start(DAILY_ROOM).await;
    let app = daily_app(db, &daily, Some(clock.clone())).await;
    let receiver = Receiver::start(HOOK_SECRET).await;
    hooked_room(&app, "team", &receiver, "daily").await;
    let m = meeting_json(&app, "team").await;
    let mid = m["id"].as_str().unwrap().to_owned();
    let scheduler = app.app.scheduler();
    let sessions = |body: Value| {
        Mock::given(method("GET"))
            .and(path("/meetings"))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
    };
    let mount_defaults = || async {
        Mock::given(method("POST"))
            .and(path_regex("^/rooms/.+$"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
            .mount(&daily)
            .await;
        Mock::given(method("DELETE"))
            .and(path_regex("^/rooms/.+$"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"deleted": true})))
            .mount(&daily)
            .await;
        daily.present(&[]).await;
    };

    // In use half an hour before its end: extended by 8 hours, on the provider too.
    let in_use_at = t0() + Duration::minutes(7 * 60 + 30);
    clock.set(in_use_at);
    daily.reset().await;
    mount_defaults().await;
    sessions(json!({"data": [{"id": "ms1", "start_time": t0().timestamp() + 60, "duration": 0, "ongoing": true}]})).mount(&daily).await;
    assert!(
        scheduler.tick().await.unwrap() >= 1,
        "the lifecycle sweep is due"
    );
    app.run_jobs().await;
    let extended = app.store.meeting(&mid).await.unwrap().unwrap();
    assert_eq!(extended.end_date, in_use_at + Duration::hours(8));
    let exp_update = daily
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.method.as_str() == "POST" && r.url.path() == format!("/rooms/{DAILY_ROOM}"))
        .expect("the Daily room's expiry is updated");
    assert_eq!(
        exp_update.body_json::<Value>().unwrap(),
        json!({"properties": {"exp": (in_use_at + Duration::hours(8)).timestamp()}})
    );

    // Everyone left at `left`: kept during the grace period, ended after it.
    let left = in_use_at + Duration::minutes(10);
    daily.reset().await;
    mount_defaults().await;
    sessions(json!({"data": [{"id": "ms1", "start_time": t0().timestamp() + 60,
                              "duration": (left - t0() - Duration::seconds(60)).num_seconds(), "ongoing": false}]}))
        .mount(&daily)
        .await;
    clock.set(left + Duration::minutes(4));
    scheduler.tick().await.unwrap();
    app.run_jobs().await;
    assert!(
        app.store.meeting(&mid).await.unwrap().unwrap().is_active,
        "within the grace period"
    );
    clock.set(left + Duration::minutes(6));
    scheduler.tick().await.unwrap();
    app.run_jobs().await;
    assert!(
        !app.store.meeting(&mid).await.unwrap().unwrap().is_active,
        "ended after it"
    );
    let deletes = daily
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "DELETE" && r.url.path() == format!("/rooms/{DAILY_ROOM}"))
        .count();
    assert_eq!(deletes, 1, "the provider room is expired");

    let ended: Vec<_> = receiver
        .received()
        .into_iter()
        .filter(|r| r.body["event"] == "meeting.ended")
        .collect();
    assert_eq!(ended.len(), 1, "{:?}", receiver.received());
    assert!(ended[0].signature_valid);
    assert_eq!(ended[0].body["meeting"]["id"], mid.as_str());
    assert_eq!(ended[0].headers["x-webhook-event"], "meeting.ended");
    assert_eq!(ended[0].headers["user-agent"], "Reflector-Webhook/1.0");

    // Later sweeps change nothing more.
    clock.set(left + Duration::minutes(20));
    scheduler.tick().await.unwrap();
    app.run_jobs().await;
    assert_eq!(receiver.received().len(), 1);
    app.stop().await;
}

async fn presence_lag_does_not_close_a_fresh_session(db: Db) {
    let clock = Arc::new(ManualClock::new(t0()));
    let daily = FakeDaily::start(DAILY_ROOM).await;
    let app = daily_app(db, &daily, Some(clock.clone())).await;
    app.room(json!({"name": "team"})).await;
    let m = meeting_json(&app, "team").await;
    let mid = m["id"].as_str().unwrap().to_owned();
    let mount = |present_now: &'static [(&'static str, &'static str)]| {
        let daily = &daily;
        async move {
            daily.reset().await;
            daily.present(present_now).await;
            Mock::given(method("GET"))
                .and(path("/meetings"))
                .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": []})))
                .mount(daily)
                .await;
        }
    };
    let scheduler = app.app.scheduler();
    let open_sessions = || async {
        let sessions = app.store.participant_sessions(&mid).await.unwrap();
        sessions.iter().filter(|s| s.left_at.is_none()).count()
    };

    // Ada joins; Daily's presence API does not list her yet.
    mount(&[]).await;
    let mut joined = daily_event("evt-1", "participant.joined", DAILY_ROOM, "s1");
    joined["payload"]["joined_at"] = json!(t0().timestamp());
    assert_eq!(send_daily(&app, &joined, DAILY_SECRET).await.0, 200);
    app.run_jobs().await;
    assert_eq!(open_sessions().await, 1, "too young to be judged absent");
    assert_eq!(num_clients(&app, &mid).await, 1);

    // A minute later she is still not listed: she is taken as gone.
    clock.set(t0() + Duration::seconds(60));
    scheduler.tick().await.unwrap();
    app.run_jobs().await;
    assert_eq!(open_sessions().await, 0);
    assert_eq!(num_clients(&app, &mid).await, 0);

    // Presence lists her again (it had lagged): her session is open again, not a second one.
    mount(&[("s1", "Ada")]).await;
    clock.set(t0() + Duration::seconds(120));
    scheduler.tick().await.unwrap();
    app.run_jobs().await;
    let sessions = app.store.participant_sessions(&mid).await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert!(sessions[0].left_at.is_none());
    assert_eq!(num_clients(&app, &mid).await, 1);

    // A leave webhook is final: a lagging presence list that still shows her does not reopen it.
    let left = daily_event("evt-2", "participant.left", DAILY_ROOM, "s1");
    assert_eq!(send_daily(&app, &left, DAILY_SECRET).await.0, 200);
    app.run_jobs().await;
    assert_eq!(open_sessions().await, 0);
    assert_eq!(num_clients(&app, &mid).await, 0);
    app.stop().await;
}

/// The presence check waits on the provider; the meeting's events do not wait for it.
async fn a_slow_presence_check_does_not_hold_back_the_meetings_events(db: Db) {
    let clock = Arc::new(ManualClock::new(t0()));
    let daily = FakeDaily::start(DAILY_ROOM).await;
    let app = daily_app(db, &daily, Some(clock.clone())).await;
    app.room(json!({"name": "team"})).await;
    let m = meeting_json(&app, "team").await;
    let mid = m["id"].as_str().unwrap();
    let slow = std::time::Duration::from_secs(4);
    daily.present_slowly(&[("s1", "Ada")], slow).await;

    // Ada joins (applied as it is stored); her presence check is due 5 s later.
    let joined = daily_event("evt-1", "participant.joined", DAILY_ROOM, "s1");
    assert_eq!(send_daily(&app, &joined, DAILY_SECRET).await.0, 200);
    clock.set(t0() + Duration::seconds(6));
    let checking = tokio::spawn({
        let runner = app.app.runner();
        async move { runner.run_until_idle().await }
    });
    for _ in 0..200 {
        if app.store.job_counts().await.unwrap().running == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(app.store.job_counts().await.unwrap().running, 1);

    // Meanwhile the meeting starts (which needs the meeting's job), and Bob's join waits with
    // it: that job runs now, beside the check still waiting on Daily.
    let started = daily_event("evt-2", "meeting.started", DAILY_ROOM, "-");
    assert_eq!(send_daily(&app, &started, DAILY_SECRET).await.0, 200);
    let bob = daily_event("evt-3", "participant.joined", DAILY_ROOM, "s2");
    assert_eq!(send_daily(&app, &bob, DAILY_SECRET).await.0, 200);
    assert_eq!(
        app.run_jobs().await,
        1,
        "the meeting's job is not held back"
    );
    assert_eq!(num_clients(&app, mid).await, 2);
    assert_eq!(checking.await.unwrap(), 1);
    // Bob is too new to be judged absent from presence.
    assert_eq!(num_clients(&app, mid).await, 2);
    app.stop().await;
}

async fn wait_for_inbox(app: &TestApp, received: i64) {
    for _ in 0..200 {
        if app.store.inbox_counts().await.unwrap().0 >= received {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the mock's events did not arrive");
}

async fn the_mock_call_drives_presence_and_the_meeting_lifecycle(db: Db) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app =
        TestApp::spawn_with_clock(db, &[("ALLOW_PRIVATE_NETWORK_URLS", "true")], clock.clone())
            .await;
    let receiver = Receiver::start(HOOK_SECRET).await;
    hooked_room(&app, "team", &receiver, "mock").await;
    let m = meeting_json(&app, "team").await;
    let mid = m["id"].as_str().unwrap().to_owned();
    let sessions = format!("{}/sessions", m["room_url"].as_str().unwrap());
    let join = |name: &'static str| {
        let (http, sessions) = (app.http.clone(), sessions.clone());
        async move {
            let r: Value = http
                .post(&sessions)
                .json(&json!({"name": name}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            r["session_id"].as_str().unwrap().to_owned()
        }
    };

    let ada = join("Ada").await;
    let bo = join("Bo").await;
    wait_for_inbox(&app, 3).await; // meeting.started + two joins
    app.run_jobs().await;
    assert_eq!(num_clients(&app, &mid).await, 2);
    let started: Vec<_> = receiver
        .received()
        .into_iter()
        .filter(|r| r.body["event"] == "meeting.started")
        .collect();
    assert_eq!(started.len(), 1);
    assert!(started[0].signature_valid);
    assert_eq!(started[0].body["room"]["name"], "team");

    for id in [&ada, &bo] {
        let r = app
            .http
            .delete(format!("{sessions}/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    wait_for_inbox(&app, 6).await; // two leaves + meeting.ended
    app.run_jobs().await;
    assert_eq!(num_clients(&app, &mid).await, 0);
    assert!(
        app.store.meeting(&mid).await.unwrap().unwrap().is_active,
        "within the grace period"
    );

    clock.set(Utc::now() + Duration::minutes(6));
    app.app.scheduler().tick().await.unwrap();
    app.run_jobs().await;
    assert!(!app.store.meeting(&mid).await.unwrap().unwrap().is_active);
    let ended = receiver
        .received()
        .into_iter()
        .filter(|r| r.body["event"] == "meeting.ended")
        .count();
    assert_eq!(ended, 1);
    app.stop().await;
}

async fn deliveries(app: &TestApp, room_id: &str) -> Vec<Value> {
    let (status, list) = app
        .get(&format!("/v1/rooms/{room_id}/webhook/deliveries"))
        .await;
    assert_eq!(status, 200, "{list}");
    list.as_array().unwrap().clone()
}

async fn outgoing_webhooks_retry_on_schedule_and_stop_on_4xx(db: Db) {
    let clock = Arc::new(ManualClock::new(t0()));
    let app =
        TestApp::spawn_with_clock(db, &[("ALLOW_PRIVATE_NETWORK_URLS", "true")], clock.clone())
            .await;
    let receiver = Receiver::start(HOOK_SECRET).await;
    let room = hooked_room(&app, "team", &receiver, "mock").await;
    let room_id = room["id"].as_str().unwrap();

    // The owner ends a meeting; the receiver fails once with 500.
    receiver.answer_with(&[500]);
    let first = meeting_json(&app, "team").await;
    let path = format!("/v1/meetings/{}/deactivate", first["id"].as_str().unwrap());
    assert_eq!(app.call(Method::PATCH, &path, None, None).await.0, 200);
    app.run_jobs().await;
    let attempts = deliveries(&app, room_id).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        (
            attempts[0]["attempt"].clone(),
            attempts[0]["status_code"].clone()
        ),
        (json!(0), json!(500))
    );
    let next: DateTime<Utc> = attempts[0]["next_attempt_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(next, t0() + Duration::minutes(1));
    assert_eq!(
        app.run_jobs().await,
        0,
        "nothing before the next attempt is due"
    );

    clock.advance(Duration::seconds(61));
    app.run_jobs().await;
    let attempts = deliveries(&app, room_id).await;
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["attempt"], 1);
    assert!(attempts[0]["delivered_at"].is_string());
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].body["event_id"], got[1].body["event_id"],
        "event_id is stable across retries"
    );
    assert_eq!(got[0].body, got[1].body, "the same body is redelivered");
    assert_eq!(
        (
            got[0].headers["x-webhook-retry"].to_str().unwrap(),
            got[1].headers["x-webhook-retry"].to_str().unwrap()
        ),
        ("0", "1")
    );
    assert!(got.iter().all(|r| r.signature_valid));

    // A 4xx other than 408/429 fails for good: one attempt, nothing scheduled.
    clock.advance(Duration::seconds(1));
    receiver.answer_with(&[404]);
    let second = meeting_json(&app, "team").await;
    let path = format!("/v1/meetings/{}/deactivate", second["id"].as_str().unwrap());
    assert_eq!(app.call(Method::PATCH, &path, None, None).await.0, 200);
    app.run_jobs().await;
    clock.advance(Duration::hours(2));
    assert_eq!(app.run_jobs().await, 0);
    let attempts = deliveries(&app, room_id).await;
    assert_eq!(attempts.len(), 3);
    assert_eq!(
        (
            attempts[0]["status_code"].clone(),
            attempts[0]["next_attempt_at"].clone()
        ),
        (json!(404), json!(null))
    );
    assert_eq!(receiver.received().len(), 3);
    app.stop().await;
}

async fn the_webhook_test_button_reports_what_happened(db: Db) {
    let receiver = Receiver::start(HOOK_SECRET).await;
    let app = TestApp::spawn(db, &[("ALLOW_PRIVATE_NETWORK_URLS", "true")]).await;
    let room = hooked_room(&app, "team", &receiver, "mock").await;
    let path = format!("/v1/rooms/{}/webhook/test", room["id"].as_str().unwrap());
    let (status, result) = app.post(&path, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        (result["success"].clone(), result["status_code"].clone()),
        (json!(true), json!(200)),
        "{result}"
    );
    let got = receiver.received();
    assert_eq!(got[0].body["event"], "test");
    assert_eq!(got[0].body["room"]["id"], room["id"]);
    assert!(got[0].signature_valid);
    assert_eq!(
        deliveries(&app, room["id"].as_str().unwrap()).await[0]["event"],
        "test"
    );

    receiver.answer_with(&[503]);
    let (_, result) = app.post(&path, json!({})).await;
    assert_eq!(
        (result["success"].clone(), result["status_code"].clone()),
        (json!(false), json!(503))
    );
    let bare = app.room(json!({"name": "bare"})).await;
    let (status, result) = app
        .post(
            &format!("/v1/rooms/{}/webhook/test", bare["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!((status, result["success"].clone()), (200, json!(false)));
    app.stop().await;

    // Without ALLOW_PRIVATE_NETWORK_URLS a loopback receiver is refused, and nothing is sent.
    let guarded = TestApp::spawn(db, &[]).await;
    let room = hooked_room(&guarded, "team", &receiver, "mock").await;
    let (status, result) = guarded
        .post(
            &format!("/v1/rooms/{}/webhook/test", room["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!((status, result["success"].clone()), (200, json!(false)));
    assert!(
        result["error"]
            .as_str()
            .unwrap()
            .contains("ALLOW_PRIVATE_NETWORK_URLS"),
        "{result}"
    );
    assert_eq!(receiver.received().len(), 2);
    guarded.stop().await;
}

#[tokio::test]
async fn only_the_owner_sees_deliveries_and_tests_the_webhook() {
    let keys = JwtKeys::generate();
    let app = TestApp::spawn(
        Db::Sqlite,
        &[
            ("AUTH_BACKEND", "jwt"),
            ("AUTH_JWT_PUBLIC_KEY", &keys.public_key_path),
        ],
    )
    .await;
    let alice = keys.token("alice");
    let (_, room) = app
        .call(Method::POST, "/v1/rooms", Some(&alice), Some(json!({"name": "team", "webhook_url": "https://hooks.example.com/x", "is_shared": true})))
        .await;
    let id = room["id"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, format!("/v1/rooms/{id}/webhook/deliveries")),
        (Method::POST, format!("/v1/rooms/{id}/webhook/test")),
    ] {
        assert_eq!(app.call(method.clone(), &path, None, None).await.0, 401);
        assert_eq!(
            app.call(method.clone(), &path, Some(&keys.token("bob")), None)
                .await
                .0,
            403
        );
    }
    let (status, list) = app
        .call(
            Method::GET,
            &format!("/v1/rooms/{id}/webhook/deliveries"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!((status, list), (200, json!([])));
    app.stop().await;
}

#[tokio::test]
async fn only_one_scheduler_enqueues_each_period() {
    let clock = Arc::new(ManualClock::new(t0()));
    let app = TestApp::spawn_with_clock(Db::Sqlite, &[], clock.clone()).await;
    let (a, b) = (app.app.scheduler(), app.app.scheduler());
    // Both tick as their loops do; `a` got there first and leads (its lease lasts 15 s).
    let enqueued_by = |at: i64| {
        clock.set(t0() + Duration::seconds(at));
        async {
            let counts = (a.tick().await.unwrap(), b.tick().await.unwrap());
            // A sweep still queued is not queued again; run them, as a worker would.
            app.run_jobs().await;
            counts
        }
    };
    assert_eq!(
        enqueued_by(0).await,
        (5, 0),
        "lifecycle, presence, pruning, calendar sync and calendar meetings are due at start"
    );
    assert_eq!(enqueued_by(10).await, (0, 0));
    assert_eq!(enqueued_by(20).await, (0, 0));
    assert_eq!(
        enqueued_by(30).await,
        (2, 0),
        "presence and calendar meetings every 30 s"
    );
    assert_eq!(enqueued_by(45).await, (0, 0));
    assert_eq!(
        enqueued_by(60).await,
        (4, 0),
        "lifecycle and calendar sync every 60 s, and the 30 s ones"
    );
    // `a` dies: after its lease runs out, `b` takes over the schedule where it was.
    clock.set(t0() + Duration::seconds(76));
    assert_eq!(
        b.tick().await.unwrap(),
        0,
        "nothing was due, but b leads now"
    );
    clock.set(t0() + Duration::seconds(90));
    assert_eq!(
        b.tick().await.unwrap(),
        2,
        "presence and calendar meetings, on time"
    );
    assert_eq!(a.tick().await.unwrap(), 0, "a came back, but b leads");
    app.stop().await;
}
