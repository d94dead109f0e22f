//! The LiveKit provider through the real server against a fake LiveKit server (Twirp JSON, every
//! request's server token and grant checked): rooms, participant tokens and the locked-room
//! rules, signed webhooks in, sessions, presence and the lifecycle.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use reflector_core::{Clock, ManualClock};
use reflector_platforms::livekit;
use reflector_testing::fake_livekit::{
    FakeLiveKit, LIVEKIT_KEY, LIVEKIT_SECRET, egress_info, livekit_event, livekit_webhook_auth,
};
use reflector_testing::fakes::JwtKeys;
use reflector_testing::media::{speech, speech_ogg};
use reflector_testing::moto::Moto;
use reflector_testing::transcription::FakeWhisper;
use reflector_testing::{Db, TestApp, on_both_databases};
use reqwest::Method;
use serde_json::{Value, json};

on_both_databases!(
    livekit_rooms_tokens_and_deletion,
    livekit_webhooks_are_verified_stored_once_and_drive_sessions,
    livekit_presence_and_lifecycle_end_the_meeting,
    a_livekit_meeting_in_use_near_its_end_is_extended,
    livekit_egress_brings_each_participant_track_into_one_transcript,
    livekit_bucket_listing_brings_tracks_livekit_forgot_in_once,
);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).unwrap()
}

async fn livekit_app(
    db: Db,
    fake: &FakeLiveKit,
    extra: &[(&str, &str)],
    clock: Option<Arc<ManualClock>>,
) -> TestApp {
    let mut env = fake.env_with_bucket("lk-recordings");
    env.push(("DEFAULT_VIDEO_PLATFORM", "livekit".into()));
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    match clock {
        Some(clock) => TestApp::spawn_with_clock(db, &env, clock).await,
        None => TestApp::spawn(db, &env).await,
    }
}

/// The participant token in a join URL, verified with the API secret.
fn token_of(url: &str) -> Option<livekit::Claims> {
    // JWTs are URL-safe base64 and dots: nothing in them is percent-encoded.
    let token = url.split_once("&token=")?.1;
    Some(livekit::verify(token, LIVEKIT_SECRET).unwrap())
}

async fn livekit_rooms_tokens_and_deletion(db: Db) {
    let fake = FakeLiveKit::start().await;
    let keys = JwtKeys::generate();
    let app = livekit_app(
        db,
        &fake,
        &[
            ("AUTH_BACKEND", "jwt"),
            ("AUTH_JWT_PUBLIC_KEY", &keys.public_key_path),
        ],
        None,
    )
    .await;
    let (alice, bob) = (keys.token("alice"), keys.token("bob"));
    let (status, room) = app
        .call(
            Method::POST,
            "/v1/rooms",
            Some(&alice),
            Some(json!({"name": "team", "recording_type": "cloud"})),
        )
        .await;
    assert_eq!(status, 200, "{room}");
    assert_eq!(room["platform"], "livekit", "the default platform");
    let (status, m) = app
        .call(Method::POST, "/v1/rooms/team/meeting", Some(&alice), None)
        .await;
    assert_eq!(status, 200, "{m}");

    // One LiveKit room for the meeting, with what SPEC §3.6 asks.
    let (name, created) = fake.only_room();
    assert!(
        name.starts_with("team-") && name.len() == "team-20260101000000-abcd".len(),
        "{name}"
    );
    assert_eq!(m["platform"], "livekit");
    assert_eq!(m["room_name"], name);
    let stored = app
        .store
        .meeting(m["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.platform_meeting_id, created.sid);
    assert_eq!(m["room_url"], format!("wss://livekit.example?room={name}"));
    let start: DateTime<Utc> = m["start_date"].as_str().unwrap().parse().unwrap();
    let end: DateTime<Utc> = m["end_date"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        created.request,
        json!({
            "name": name,
            "empty_timeout": (end - start).num_seconds().clamp(300, 86_400),
            "departure_timeout": 300,
            "egress": {"tracks": {
                "filepath": "{room_name}/{publisher_identity}-{time}",
                "s3": {"access_key": "lk-writer", "secret": "lk-writer-secret",
                       "region": "us-east-1", "bucket": "lk-recordings", "force_path_style": false}
            }}
        })
    );

    // A second meeting of the room gets its own, distinct LiveKit room.
    let (status, second) = app
        .call(
            Method::POST,
            "/v1/rooms/team/meeting",
            Some(&alice),
            Some(json!({"allow_duplicated": true})),
        )
        .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(fake.rooms().len(), 2);
    assert_ne!(second["room_name"], m["room_name"]);

    let mid = m["id"].as_str().unwrap();
    let join = |token: Option<String>| {
        let app = &app;
        async move {
            let (status, joined) = app
                .call(
                    Method::POST,
                    &format!("/v1/rooms/team/meetings/{mid}/join"),
                    token.as_deref(),
                    None,
                )
                .await;
            assert_eq!(status, 200, "{joined}");
            joined["room_url"].as_str().unwrap().to_owned()
        }
    };
    // The owner's token: HS256 by the API key, the room's video grant with roomAdmin.
    let owner_url = join(Some(alice.clone())).await;
    assert!(owner_url.starts_with(&format!("wss://livekit.example?room={name}&token=")));
    let owner = token_of(&owner_url).unwrap();
    assert_eq!(owner.iss, LIVEKIT_KEY);
    assert!(
        owner.sub.as_deref().unwrap().starts_with("alice-"),
        "{owner:?}"
    );
    assert_eq!(owner.exp, end.timestamp(), "valid until the meeting's end");
    assert!(owner.nbf.unwrap() <= Utc::now().timestamp());
    assert_eq!(owner.metadata.as_deref(), Some(r#"{"user_id":"alice"}"#));
    let grant = owner.video.clone().unwrap();
    assert!(grant.room_join && grant.room_admin);
    assert_eq!(grant.room.as_deref(), Some(name.as_str()));
    assert_eq!(
        (grant.can_publish, grant.can_subscribe),
        (Some(true), Some(true))
    );
    assert!(!grant.room_create && !grant.room_record, "no server grants");
    // Two joins are two identities (LiveKit allows one connection per identity).
    let again = token_of(&join(Some(alice.clone())).await).unwrap();
    assert_ne!(again.sub, owner.sub);
    // Another signed-in user and an anonymous one: tokens without roomAdmin.
    let other = token_of(&join(Some(bob.clone())).await).unwrap();
    assert!(other.sub.as_deref().unwrap().starts_with("bob-"));
    assert!(!other.video.unwrap().room_admin);
    let guest = token_of(&join(None).await).unwrap();
    assert!(guest.sub.as_deref().unwrap().starts_with("guest-"));
    // The name others see (and transcripts name the speaker by): the sign-in's display name,
    // else the user id, else "Guest".
    assert_eq!(other.name.as_deref(), Some("bob"));
    assert_eq!(guest.name.as_deref(), Some("Guest"));
    let exp = Utc::now().timestamp() + 3600;
    let carol = keys.token_with(&json!({"sub": "carol", "name": "Carol Jones", "exp": exp}));
    let named = token_of(&join(Some(carol)).await).unwrap();
    assert_eq!(named.name.as_deref(), Some("Carol Jones"));
    assert!(named.sub.as_deref().unwrap().starts_with("carol-"));
    assert_eq!(guest.metadata.as_deref(), Some(r#"{"user_id":null}"#));

    // Locked: only whom the owner admits gets a token; the others get the bare room URL.
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/v1/rooms/{}", room["id"].as_str().unwrap()),
            Some(&alice),
            Some(json!({"is_locked": true})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, locked) = app
        .call(
            Method::POST,
            "/v1/rooms/team/meeting",
            Some(&alice),
            Some(json!({"allow_duplicated": true})),
        )
        .await;
    assert_eq!(status, 200, "{locked}");
    let lid = locked["id"].as_str().unwrap();
    for (token, admitted) in [(Some(&alice), true), (Some(&bob), false), (None, false)] {
        let (status, joined) = app
            .call(
                Method::POST,
                &format!("/v1/rooms/team/meetings/{lid}/join"),
                token.map(String::as_str),
                None,
            )
            .await;
        assert_eq!(status, 200, "{joined}");
        let url = joined["room_url"].as_str().unwrap();
        assert_eq!(token_of(url).is_some(), admitted, "{url}");
        if !admitted {
            assert_eq!(url, locked["room_url"].as_str().unwrap());
        }
    }

    // Ending the meeting deletes its LiveKit room (and "already gone" is success).
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/v1/meetings/{mid}/deactivate"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, 200);
    app.run_jobs().await;
    assert!(fake.room(&name).is_none(), "deleted");
    assert!(fake.calls().contains(&format!("DeleteRoom {name}")));
    let second_name = second["room_name"].as_str().unwrap();
    fake.close(second_name);
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/v1/meetings/{}/deactivate", second["id"].as_str().unwrap()),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, 200);
    app.run_jobs().await;
    assert!(fake.calls().contains(&format!("DeleteRoom {second_name}")));
    assert_eq!(fake.violations(), Vec::<String>::new());
    app.stop().await;
}

/// Posts `body` to the LiveKit webhook with `auth` as its `Authorization`.
async fn post_hook(app: &TestApp, body: &str, auth: Option<&str>) -> (u16, Value) {
    let mut request = app
        .req(Method::POST, "/v1/livekit/webhook")
        .header("content-type", "application/webhook+json")
        .body(body.to_owned());
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let response = request.send().await.unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

/// Posts `event` signed as LiveKit signs it, at the app's time.
async fn send_hook(app: &TestApp, event: &Value) -> (u16, Value) {
    let body = event.to_string();
    let auth = livekit_webhook_auth(
        LIVEKIT_KEY,
        LIVEKIT_SECRET,
        body.as_bytes(),
        app.app.clock.now().timestamp(),
    );
    post_hook(app, &body, Some(&auth)).await
}

fn participant_event(id: &str, kind: &str, room: &str, participant: &Value) -> Value {
    let mut event = livekit_event(id, kind, room);
    event["participant"] = participant.clone();
    event
}

async fn num_clients(app: &TestApp, id: &str) -> i64 {
    app.store.meeting(id).await.unwrap().unwrap().num_clients
}

async fn livekit_webhooks_are_verified_stored_once_and_drive_sessions(db: Db) {
    let clock = Arc::new(ManualClock::new(t0()));
    let fake = FakeLiveKit::start().await;
    let app = livekit_app(db, &fake, &[], Some(clock.clone())).await;
    app.room(json!({"name": "team"})).await;
    let (status, m) = app.post("/v1/rooms/team/meeting", json!({})).await;
    assert_eq!(status, 200, "{m}");
    let mid = m["id"].as_str().unwrap();
    let room = m["room_name"].as_str().unwrap();
    let ada = fake.join(room, "local-0000000a", "Ada", r#"{"user_id":"local"}"#);
    let joined = participant_event("EV_1", "participant_joined", room, &ada);

    // Refused (401): no token, another secret, another issuer, expired, a tampered body.
    let body = joined.to_string();
    let now = clock.now().timestamp();
    let good = livekit_webhook_auth(LIVEKIT_KEY, LIVEKIT_SECRET, body.as_bytes(), now);
    let refusals = [
        None,
        Some(livekit_webhook_auth(
            LIVEKIT_KEY,
            "another-secret-xxxxxxxxxxxxxxxxxxxx",
            body.as_bytes(),
            now,
        )),
        Some(livekit_webhook_auth(
            "other-key",
            LIVEKIT_SECRET,
            body.as_bytes(),
            now,
        )),
        Some(livekit_webhook_auth(
            LIVEKIT_KEY,
            LIVEKIT_SECRET,
            body.as_bytes(),
            now - 3600,
        )),
        Some(livekit_webhook_auth(
            LIVEKIT_KEY,
            LIVEKIT_SECRET,
            b"{}",
            now,
        )),
        Some("not-a-jwt".to_owned()),
    ];
    for auth in &refusals {
        let (status, answer) = post_hook(&app, &body, auth.as_deref()).await;
        assert_eq!(status, 401, "{auth:?}: {answer}");
        assert!(answer["detail"].is_string());
    }
    assert_eq!(app.store.inbox_counts().await.unwrap(), (0, 0));

    // Accepted once, with or without "Bearer "; a redelivery is a duplicate.
    assert_eq!(
        post_hook(&app, &body, Some(&good)).await,
        (200, json!({"status": "ok"}))
    );
    assert_eq!(
        post_hook(&app, &body, Some(&format!("Bearer {good}"))).await,
        (200, json!({"status": "duplicate"}))
    );
    // Unknown events are accepted and stored.
    let unknown = livekit_event("EV_2", "track_published", room);
    assert_eq!(send_hook(&app, &unknown).await.0, 200);
    app.run_jobs().await;
    assert_eq!(num_clients(&app, mid).await, 1);
    let sessions = app.store.participant_sessions(mid).await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].platform_session_id, "local-0000000a");
    assert_eq!(sessions[0].user_name.as_deref(), Some("Ada"));
    assert_eq!(sessions[0].user_id.as_deref(), Some("local"));

    // A second participant; then a reconnect of the first (LiveKit reports the old connection
    // left as a duplicate identity) does not make her leave.
    let bo = fake.join(room, "guest-0000000b", "Bo", r#"{"user_id":null}"#);
    send_hook(
        &app,
        &participant_event("EV_3", "participant_joined", room, &bo),
    )
    .await;
    let mut replaced = ada.clone();
    replaced["disconnectReason"] = json!("DUPLICATE_IDENTITY");
    send_hook(
        &app,
        &participant_event("EV_4", "participant_left", room, &replaced),
    )
    .await;
    app.run_jobs().await;
    assert_eq!(num_clients(&app, mid).await, 2);

    // Bo leaves.
    fake.leave(room, "guest-0000000b");
    send_hook(
        &app,
        &participant_event("EV_5", "participant_left", room, &bo),
    )
    .await;
    app.run_jobs().await;
    assert_eq!(num_clients(&app, mid).await, 1);
    let bo_session = app
        .store
        .participant_sessions(mid)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.platform_session_id == "guest-0000000b")
        .unwrap();
    assert!(bo_session.left_at.is_some());
    assert_eq!(bo_session.user_id, None);
    assert_eq!(fake.violations(), Vec::<String>::new());
    app.stop().await;
}

async fn livekit_presence_and_lifecycle_end_the_meeting(db: Db) {
    let clock = Arc::new(ManualClock::new(t0()));
    let fake = FakeLiveKit::start().await;
    let app = livekit_app(db, &fake, &[], Some(clock.clone())).await;
    app.room(json!({"name": "team"})).await;
    let (_, m) = app.post("/v1/rooms/team/meeting", json!({})).await;
    let mid = m["id"].as_str().unwrap().to_owned();
    let room = m["room_name"].as_str().unwrap().to_owned();
    let scheduler = app.app.scheduler();

    // Someone LiveKit lists but whose webhook never came: presence adds them.
    let ada = fake.join(&room, "local-0000000a", "Ada", r#"{"user_id":"local"}"#);
    let bo = fake.join(&room, "guest-0000000b", "Bo", "");
    send_hook(
        &app,
        &participant_event("EV_1", "participant_joined", &room, &ada),
    )
    .await;
    app.run_jobs().await;
    assert_eq!(num_clients(&app, &mid).await, 1, "from the webhook");
    clock.set(t0() + Duration::seconds(6));
    app.run_jobs().await;
    assert_eq!(num_clients(&app, &mid).await, 2, "ListParticipants adds Bo");
    assert!(fake.calls().contains(&format!("ListParticipants {room}")));

    // In use: the lifecycle keeps the meeting.
    clock.set(t0() + Duration::minutes(30));
    scheduler.tick().await.unwrap();
    app.run_jobs().await;
    assert!(app.store.meeting(&mid).await.unwrap().unwrap().is_active);

    // Both leave without webhooks; after the presence lag the check closes their sessions.
    fake.leave(&room, "local-0000000a");
    fake.leave(&room, "guest-0000000b");
    send_hook(
        &app,
        &participant_event("EV_2", "participant_left", &room, &bo),
    )
    .await;
    app.run_jobs().await;
    clock.set(t0() + Duration::minutes(31));
    app.run_jobs().await;
    assert_eq!(num_clients(&app, &mid).await, 0);
    // LiveKit keeps the room for the grace period: still active meanwhile.
    scheduler.tick().await.unwrap();
    app.run_jobs().await;
    assert!(app.store.meeting(&mid).await.unwrap().unwrap().is_active);

    // LiveKit closes the room and says so: the meeting ends, its room is expired.
    fake.close(&room);
    let finished = livekit_event("EV_3", "room_finished", &room);
    assert_eq!(send_hook(&app, &finished).await.0, 200);
    app.run_jobs().await;
    let ended = app.store.meeting(&mid).await.unwrap().unwrap();
    assert!(!ended.is_active, "ended when LiveKit closed its room");
    assert!(fake.calls().contains(&format!("DeleteRoom {room}")));
    assert_eq!(fake.violations(), Vec::<String>::new());
    app.stop().await;
}

async fn a_livekit_meeting_in_use_near_its_end_is_extended(db: Db) {
    let clock = Arc::new(ManualClock::new(t0()));
    let fake = FakeLiveKit::start().await;
    let app = livekit_app(db, &fake, &[], Some(clock.clone())).await;
    app.room(json!({"name": "team"})).await;
    let (_, m) = app.post("/v1/rooms/team/meeting", json!({})).await;
    let mid = m["id"].as_str().unwrap().to_owned();
    let room = m["room_name"].as_str().unwrap().to_owned();
    let ada = fake.join(&room, "local-0000000a", "Ada", r#"{"user_id":"local"}"#);
    send_hook(
        &app,
        &participant_event("EV_1", "participant_joined", &room, &ada),
    )
    .await;
    app.run_jobs().await;
    let end = app.store.meeting(&mid).await.unwrap().unwrap().end_date;
    clock.set(end - Duration::minutes(30));
    app.app.scheduler().tick().await.unwrap();
    app.run_jobs().await;
    let extended = app.store.meeting(&mid).await.unwrap().unwrap();
    assert!(extended.is_active);
    assert!(
        extended.end_date > end + Duration::hours(1),
        "still in use 30 min before {end}: extended to {}",
        extended.end_date
    );
    assert_eq!(fake.violations(), Vec::<String>::new());
    app.stop().await;
}

fn egress_event(id: &str, info: &Value) -> Value {
    let room = info["roomName"].as_str().unwrap();
    let mut event = livekit_event(id, "egress_ended", room);
    event["egressInfo"] = info.clone();
    event
}

/// Runs jobs until the meeting's transcript has finished, moving the clock past the pipeline's
/// "not ready yet" waits.
async fn finished_transcript(app: &TestApp, clock: &ManualClock) -> Value {
    for _ in 0..300 {
        app.run_jobs().await;
        let (status, page) = app.get("/v1/transcripts").await;
        assert_eq!(status, 200, "{page}");
        if let Some(t) = page["items"].as_array().unwrap().first()
            && (t["status"] == "ended" || t["status"] == "error")
        {
            return t.clone();
        }
        clock.set(clock.now() + Duration::seconds(61));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the transcript did not finish");
}

/// A recorded LiveKit meeting with Ada and Bo in it (their joins webhooked), its egress bucket
/// in moto and a transcription backend that knows what each says.
struct Recorded {
    moto: Moto,
    whisper: FakeWhisper,
    dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    fake: FakeLiveKit,
    app: TestApp,
    mid: String,
    room: String,
}

async fn recorded_meeting(db: Db) -> Recorded {
    let moto = Moto::start().await;
    moto.create_bucket("lk-recordings").await;
    let whisper = FakeWhisper::start().await;
    let dir = tempfile::tempdir().unwrap();
    whisper.learn(
        &speech(dir.path(), "ada-wav", "hello from ada"),
        "hello from ada",
    );
    whisper.learn(
        &speech(dir.path(), "bo-wav", "bob speaking here now"),
        "bob speaking here now",
    );
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let fake = FakeLiveKit::start().await;
    let mut env: Vec<(&str, String)> = moto.env();
    env.extend([
        ("TRANSCRIPT_BACKEND", "openai".into()),
        ("TRANSCRIPT_URL", whisper.url.clone()),
        ("TRANSCRIPT_API_KEY", "k".into()),
        ("TRANSCRIPT_MODEL", "whisper".into()),
    ]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = livekit_app(db, &fake, &env, Some(clock.clone())).await;
    app.room(json!({"name": "team", "recording_type": "cloud", "skip_consent": true}))
        .await;
    let (_, m) = app.post("/v1/rooms/team/meeting", json!({})).await;
    let mid = m["id"].as_str().unwrap().to_owned();
    let room = m["room_name"].as_str().unwrap().to_owned();
    for (n, (identity, name)) in [("local-0000000a", "Ada"), ("guest-0000000b", "Bo")]
        .into_iter()
        .enumerate()
    {
        let p = fake.join(&room, identity, name, "");
        send_hook(
            &app,
            &participant_event(&format!("EV_J{n}"), "participant_joined", &room, &p),
        )
        .await;
    }
    app.run_jobs().await;
    Recorded {
        moto,
        whisper,
        dir,
        clock,
        fake,
        app,
        mid,
        room,
    }
}

async fn poll_recordings(app: &TestApp, clock: &ManualClock) {
    app.app
        .queue
        .enqueue(
            &reflector_app::Job::PollRecordings {
                platform: "livekit".into(),
            }
            .to_new(clock.now()),
        )
        .await
        .unwrap();
    app.run_jobs().await;
}

/// The names of a transcript's speakers, and its text.
async fn speakers_and_text(app: &TestApp, transcript: &Value) -> (Vec<String>, String) {
    let id = transcript["id"].as_str().unwrap();
    let (_, participants) = app.get(&format!("/v1/transcripts/{id}/participants")).await;
    let names = participants
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    let (_, text) = app
        .get(&format!("/v1/transcripts/{id}?transcript_format=text"))
        .await;
    (names, text["transcript"].as_str().unwrap().to_owned())
}

async fn livekit_egress_brings_each_participant_track_into_one_transcript(db: Db) {
    let Recorded {
        moto,
        whisper,
        dir,
        clock,
        fake,
        app,
        mid,
        room,
    } = recorded_meeting(db).await;

    // Each participant's audio, and a video track, as egress wrote them.
    let ada_key = format!("{room}/local-0000000a-2026-06-01T100000.ogg");
    let bo_key = format!("{room}/guest-0000000b-2026-06-01T100001.ogg");
    let video_key = format!("{room}/local-0000000a-2026-06-01T100002.webm");
    let ada = speech_ogg(dir.path(), "ada", "hello from ada");
    let bo = speech_ogg(dir.path(), "bo", "bob speaking here now");
    moto.put("lk-recordings", &ada_key, ada.clone()).await;
    moto.put("lk-recordings", &bo_key, bo.clone()).await;
    let ada_egress = egress_info("EG_A", &room, &ada_key, "EGRESS_ACTIVE");
    let bo_egress = egress_info("EG_B", &room, &bo_key, "EGRESS_COMPLETE");
    fake.add_egress(ada_egress.clone());
    fake.add_egress(bo_egress.clone());
    fake.add_egress(egress_info("EG_V", &room, &video_key, "EGRESS_COMPLETE"));

    // Bo's egress ends first: the recording is announced, and waits for Ada's egress.
    assert_eq!(
        send_hook(&app, &egress_event("EV_E1", &bo_egress)).await.0,
        200
    );
    app.run_jobs().await;
    let (_, list) = app.get(&format!("/v1/meetings/{mid}/recordings")).await;
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["status"], "pending", "{list:?}");
    // Ada's ends (and is announced twice): the same recording, now with both tracks.
    fake.set_egress_status("EG_A", "EGRESS_COMPLETE");
    let mut ended = ada_egress.clone();
    ended["status"] = json!("EGRESS_COMPLETE");
    for id in ["EV_E2", "EV_E2", "EV_E3"] {
        assert_eq!(send_hook(&app, &egress_event(id, &ended)).await.0, 200);
    }
    // The poll (the fallback for missed webhooks) lists the same recording.
    app.app
        .queue
        .enqueue(
            &reflector_app::Job::PollRecordings {
                platform: "livekit".into(),
            }
            .to_new(clock.now()),
        )
        .await
        .unwrap();
    let t = finished_transcript(&app, &clock).await;
    assert_eq!(t["status"], "ended", "{t}");
    let (_, list) = app.get(&format!("/v1/meetings/{mid}/recordings")).await;
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 1, "one recording for the meeting: {list:?}");
    assert_eq!(list[0]["kind"], "multitrack");
    assert_eq!(list[0]["tracks"], 2, "audio only: {list:?}");
    assert_eq!(list[0]["platform_recording_id"], room);
    assert_eq!(list[0]["size_bytes"], (ada.len() + bo.len()) as i64);

    // Speakers are the participants, by name.
    let id = t["id"].as_str().unwrap();
    let (_, participants) = app.get(&format!("/v1/transcripts/{id}/participants")).await;
    let names: Vec<&str> = participants
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Ada", "Bo"], "{participants}");
    let (_, text) = app
        .get(&format!("/v1/transcripts/{id}?transcript_format=text"))
        .await;
    let text = text["transcript"].as_str().unwrap();
    assert!(
        text.contains("Ada: hello") && text.contains("Bo: bob"),
        "{text}"
    );
    assert_eq!(whisper.requests().len(), 2, "each track transcribed once");

    // Another meeting whose egress_ended webhook was lost: the poll of LiveKit's egress listing
    // finds its recording.
    let (status, m2) = app
        .post("/v1/rooms/team/meeting", json!({"allow_duplicated": true}))
        .await;
    assert_eq!(status, 200, "{m2}");
    let room2 = m2["room_name"].as_str().unwrap().to_owned();
    assert_ne!(room2, room);
    let cy_key = format!("{room2}/guest-0000000c-2026-06-01T110000.ogg");
    moto.put("lk-recordings", &cy_key, ada.clone()).await;
    fake.add_egress(egress_info("EG_C", &room2, &cy_key, "EGRESS_COMPLETE"));
    app.app
        .queue
        .enqueue(
            &reflector_app::Job::PollRecordings {
                platform: "livekit".into(),
            }
            .to_new(clock.now()),
        )
        .await
        .unwrap();
    let mid2 = m2["id"].as_str().unwrap();
    let mut found = Vec::new();
    for _ in 0..100 {
        app.run_jobs().await;
        let (_, list) = app.get(&format!("/v1/meetings/{mid2}/recordings")).await;
        found = list.as_array().unwrap().clone();
        if found.first().is_some_and(|r| r["status"] == "stored") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["status"], "stored", "{found:?}");
    assert_eq!(found[0]["platform_recording_id"], room2);
    assert_eq!(found[0]["tracks"], 1);
    let (_, list) = app.get(&format!("/v1/meetings/{mid}/recordings")).await;
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "the first meeting's is not repeated"
    );
    finished_transcript(&app, &clock).await;
    assert_eq!(fake.violations(), Vec::<String>::new());
    app.stop().await;
}

async fn recordings(app: &TestApp, mid: &str) -> Vec<Value> {
    let (status, list) = app.get(&format!("/v1/meetings/{mid}/recordings")).await;
    assert_eq!(status, 200, "{list}");
    list.as_array().unwrap().clone()
}

/// LiveKit forgot the egresses (a restart) and their webhooks never came: the listing of the
/// egress bucket brings the ended meeting's tracks in, exactly once, with its speakers' names.
async fn livekit_bucket_listing_brings_tracks_livekit_forgot_in_once(db: Db) {
    let Recorded {
        moto,
        whisper,
        dir,
        clock,
        fake,
        app,
        mid,
        room,
    } = recorded_meeting(db).await;
    let ada_key = format!("{room}/local-0000000a-2026-06-01T100000.ogg");
    let bo_key = format!("{room}/guest-0000000b-2026-06-01T100001.ogg");
    let ada = speech_ogg(dir.path(), "ada", "hello from ada");
    let bo = speech_ogg(dir.path(), "bo", "bob speaking here now");
    moto.put("lk-recordings", &bo_key, bo.clone()).await;
    let video_key = format!("{room}/local-0000000a-2026-06-01T100002.webm");
    moto.put("lk-recordings", &video_key, b"not audio".to_vec())
        .await;
    moto.put("lk-recordings", "elsewhere.ogg", ada.clone())
        .await;

    // Still in the meeting: not finished, not announced (nor when its files are quiet).
    clock.set(clock.now() + Duration::minutes(3));
    poll_recordings(&app, &clock).await;
    assert_eq!(recordings(&app, &mid).await, Vec::<Value>::new());

    // The meeting ends, and Ada's track is uploaded just now (the clock back at the bucket's
    // time): not yet.
    let (status, ended) = app
        .patch(&format!("/v1/meetings/{mid}/deactivate"), json!({}))
        .await;
    assert_eq!(status, 200, "{ended}");
    moto.put("lk-recordings", &ada_key, ada.clone()).await;
    clock.set(Utc::now());
    poll_recordings(&app, &clock).await;
    assert_eq!(recordings(&app, &mid).await, Vec::<Value>::new());

    // Quiet since: one recording with both audio tracks, read from the bucket (ListEgress is
    // empty), its speakers the participants by name, in the order their tracks started (Bo's
    // key lists first).
    clock.set(clock.now() + Duration::minutes(3));
    poll_recordings(&app, &clock).await;
    let t = finished_transcript(&app, &clock).await;
    assert_eq!(t["status"], "ended", "{t}");
    let list = recordings(&app, &mid).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["status"], "stored", "{list:?}");
    assert_eq!(list[0]["kind"], "multitrack");
    assert_eq!(list[0]["tracks"], 2, "audio only: {list:?}");
    assert_eq!(list[0]["platform_recording_id"], room);
    assert_eq!(list[0]["size_bytes"], (ada.len() + bo.len()) as i64);
    let (names, text) = speakers_and_text(&app, &t).await;
    assert_eq!(names, ["Ada", "Bo"]);
    assert!(
        text.contains("Ada: hello") && text.contains("Bo: bob"),
        "{text}"
    );
    assert_eq!(whisper.requests().len(), 2, "each track transcribed once");

    // Another poll, later: nothing new.
    clock.set(clock.now() + Duration::minutes(10));
    poll_recordings(&app, &clock).await;
    app.run_jobs().await;
    assert_eq!(recordings(&app, &mid).await.len(), 1);
    let (_, page) = app.get("/v1/transcripts").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(whisper.requests().len(), 2);
    let egress_lists = fake
        .calls()
        .iter()
        .filter(|c| c.starts_with("ListEgress"))
        .count();
    assert!(
        egress_lists >= 3,
        "ListEgress asked first: {:?}",
        fake.calls()
    );
    assert_eq!(fake.violations(), Vec::<String>::new());
    app.stop().await;
}
