//! Anonymous abuse and locked rooms over real HTTP: who gets past a locked room's lobby, who may
//! start more meetings and how many a room may have, consent answers that cannot be stuffed, and
//! the get-or-create lease against vanished clients and slow providers.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::sync::Arc;
use std::time::Duration;

use reflector_core::{Clock, ManualClock};
use reflector_testing::fakes::{JwtKeys, daily_room, whereby_meeting};
use reflector_testing::{Db, TestApp, on_both_databases};
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

on_both_databases!(
    a_locked_daily_room_gives_tokens_only_to_whom_the_owner_lets_in,
    only_the_owner_gets_a_locked_whereby_rooms_host_url,
    only_the_owner_starts_more_meetings_and_a_room_has_at_most_ten,
    consent_answers_cannot_be_stuffed,
    a_client_that_leaves_mid_creation_leaves_a_meeting_not_a_locked_room,
    a_slow_provider_call_keeps_its_creation_lease,
    waiters_get_a_clear_503_with_retry_after,
);

const DAILY_ROOM: &str = "vault-20260101000000-abcd";

async fn jwt_app(db: Db, keys: &JwtKeys, extra: &[(&str, &str)]) -> TestApp {
    let mut env = vec![
        ("AUTH_BACKEND", "jwt"),
        ("AUTH_JWT_PUBLIC_KEY", keys.public_key_path.as_str()),
    ];
    env.extend_from_slice(extra);
    TestApp::spawn(db, &env).await
}

async fn create_room(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, room) = app
        .call(Method::POST, "/v1/rooms", Some(token), Some(body))
        .await;
    assert_eq!(status, 200, "{room}");
    room
}

async fn a_locked_daily_room_gives_tokens_only_to_whom_the_owner_lets_in(db: Db) {
    let daily = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rooms"))
        .respond_with(daily_room(DAILY_ROOM))
        .mount(&daily)
        .await;
    Mock::given(method("POST"))
        .and(path("/meeting-tokens"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"token": "tok"})))
        .mount(&daily)
        .await;
    let keys = JwtKeys::generate();
    let uri = daily.uri();
    let app = jwt_app(
        db,
        &keys,
        &[("DAILY_API_KEY", "d-key"), ("DAILY_API_URL", &uri)],
    )
    .await;
    let (alice, bob) = (keys.token("alice"), keys.token("bob"));
    let room = create_room(
        &app,
        &alice,
        json!({"name": "vault", "platform": "daily", "is_locked": true, "recording_type": "none"}),
    )
    .await;
    let (_, m) = app
        .call(Method::POST, "/v1/rooms/vault/meeting", None, None)
        .await;
    let mid = m["id"].as_str().unwrap().to_owned();
    let bare = format!("https://acme.daily.co/{DAILY_ROOM}");
    let join = |token: Option<String>| {
        let app = &app;
        let path = format!("/v1/rooms/vault/meetings/{mid}/join");
        async move {
            let (status, joined) = app.call(Method::POST, &path, token.as_deref(), None).await;
            assert_eq!(status, 200, "{joined}");
            joined["room_url"].as_str().unwrap().to_owned()
        }
    };
    // Anonymous visitors and other users knock: no token, which would walk past the lobby.
    assert_eq!(join(None).await, bare);
    assert_eq!(join(Some(bob.clone())).await, bare);
    let token_requests = || async {
        daily
            .received_requests()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.url.path() == "/meeting-tokens")
            .map(|r| r.body_json::<Value>().unwrap()["properties"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(token_requests().await.len(), 0);
    // The owner is let in.
    assert_eq!(join(Some(alice.clone())).await, format!("{bare}?t=tok"));
    let sent = token_requests().await;
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (&sent[0]["user_id"], &sent[0]["is_owner"]),
        (&json!("alice"), &json!(true))
    );
    // In a shared (team) room, signed-in users are let in too; anonymous visitors still knock.
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/v1/rooms/{}", room["id"].as_str().unwrap()),
            Some(&alice),
            Some(json!({"is_shared": true})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(join(Some(bob.clone())).await, format!("{bare}?t=tok"));
    assert_eq!(join(None).await, bare);
    let sent = token_requests().await;
    assert_eq!(
        (&sent[1]["user_id"], &sent[1]["is_owner"]),
        (&json!("bob"), &json!(false))
    );
    app.stop().await;
}

async fn only_the_owner_gets_a_locked_whereby_rooms_host_url(db: Db) {
    let whereby = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/meetings"))
        .respond_with(whereby_meeting())
        .mount(&whereby)
        .await;
    let keys = JwtKeys::generate();
    let uri = whereby.uri();
    let app = jwt_app(
        db,
        &keys,
        &[("WHEREBY_API_KEY", "w"), ("WHEREBY_API_URL", &uri)],
    )
    .await;
    let (alice, bob) = (keys.token("alice"), keys.token("bob"));
    create_room(
        &app,
        &alice,
        json!({"name": "team", "platform": "whereby", "is_locked": true, "is_shared": true,
               "recording_type": "none"}),
    )
    .await;
    let (_, m) = app
        .call(Method::POST, "/v1/rooms/team/meeting", None, None)
        .await;
    let mid = m["id"].as_str().unwrap();
    let join = format!("/v1/rooms/team/meetings/{mid}/join");
    for token in [None, Some(bob.as_str())] {
        let (_, joined) = app.call(Method::POST, &join, token, None).await;
        assert_eq!(joined["host_room_url"], "", "{joined}");
        assert_eq!(joined["room_url"], "https://acme.whereby.com/team-6b1f0f6e");
    }
    let (_, joined) = app.call(Method::POST, &join, Some(&alice), None).await;
    assert_eq!(
        joined["host_room_url"],
        "https://acme.whereby.com/team-6b1f0f6e?roomKey=host"
    );
    app.stop().await;
}

async fn only_the_owner_starts_more_meetings_and_a_room_has_at_most_ten(db: Db) {
    let keys = JwtKeys::generate();
    let app = jwt_app(db, &keys, &[]).await;
    let (alice, bob) = (keys.token("alice"), keys.token("bob"));
    create_room(&app, &alice, json!({"name": "team", "is_shared": true})).await;
    let more = |token: Option<String>, room: &'static str| {
        let app = &app;
        async move {
            app.call(
                Method::POST,
                &format!("/v1/rooms/{room}/meeting"),
                token.as_deref(),
                Some(json!({"allow_duplicated": true})),
            )
            .await
        }
    };
    let (status, first) = app
        .call(Method::POST, "/v1/rooms/team/meeting", None, None)
        .await;
    assert_eq!(status, 200, "{first}");
    // Anonymous visitors and other users cannot scatter people over new empty calls.
    let (status, body) = more(None, "team").await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = more(Some(bob.clone()), "team").await;
    assert_eq!(status, 403, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("owner"), "{body}");
    // … and the next visitor still gets the one meeting.
    let (_, again) = app
        .call(Method::POST, "/v1/rooms/team/meeting", None, None)
        .await;
    assert_eq!(again["id"], first["id"]);
    // The owner may, up to the room's limit.
    for _ in 1..10 {
        let (status, body) = more(Some(alice.clone()), "team").await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = more(Some(alice.clone()), "team").await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("10 open meetings"),
        "{body}"
    );
    let (_, active) = app.get("/v1/rooms/team/meetings/active").await;
    assert_eq!(active.as_array().unwrap().len(), 10);

    // In a shared calendar room, signed-in users may start one for an overlapping event.
    create_room(
        &app,
        &alice,
        json!({"name": "calendar", "is_shared": true, "ics_enabled": true,
               "ics_url": "https://cal.example.com/team.ics"}),
    )
    .await;
    let (status, body) = more(Some(bob.clone()), "calendar").await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = more(None, "calendar").await;
    assert_eq!(status, 401);
    app.stop().await;
}

async fn consent_answers_cannot_be_stuffed(db: Db) {
    let keys = JwtKeys::generate();
    let app = jwt_app(db, &keys, &[]).await;
    let alice = keys.token("alice");
    create_room(&app, &alice, json!({"name": "team"})).await;
    let (_, m) = app
        .call(Method::POST, "/v1/rooms/team/meeting", None, None)
        .await;
    let mid = m["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/meetings/{mid}/consent");
    // Anonymous answers need their participant token: one row per participant, never one per
    // request.
    for _ in 0..3 {
        let (status, body) = app.post(&path, json!({"consent_given": false})).await;
        assert_eq!(status, 422, "{body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .starts_with("participant_token:"),
            "{body}"
        );
    }
    let (status, _) = app
        .post(
            &path,
            json!({"consent_given": true, "participant_token": "browser-1"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(app.store.consent_count(&mid).await.unwrap(), 1);
    // A flood of made-up tokens is cut off, and only what was accepted is stored.
    let answers = (0..300).map(|i| {
        let app = &app;
        let path = path.clone();
        async move {
            app.post(
                &path,
                json!({"consent_given": true, "participant_token": format!("flood-{i}")}),
            )
            .await
            .0
        }
    });
    let statuses = join_all(answers).await;
    let accepted = statuses.iter().filter(|s| **s == 200).count();
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [200, 429].contains(s)),
        "{statuses:?}"
    );
    assert_eq!(
        app.store.consent_count(&mid).await.unwrap(),
        1 + accepted as i64
    );
    // Once the meeting has ended, nobody answers for it any more.
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/v1/meetings/{mid}/deactivate"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = app
        .post(
            &path,
            json!({"consent_given": false, "participant_token": "browser-1"}),
        )
        .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (400, Some("Meeting is not active"))
    );
    app.run_jobs().await;
    app.stop().await;
}

/// Runs the futures concurrently (all requests in flight at once); their outputs in order.
async fn join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

/// A Daily API whose room creation takes `delay`; `expected` creations in all.
async fn slow_daily(delay: Duration, expected: u64) -> MockServer {
    let daily = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rooms"))
        .respond_with(daily_room(DAILY_ROOM).set_delay(delay))
        .expect(expected)
        .mount(&daily)
        .await;
    daily
}

async fn a_client_that_leaves_mid_creation_leaves_a_meeting_not_a_locked_room(db: Db) {
    let daily = slow_daily(Duration::from_millis(1500), 1).await;
    let uri = daily.uri();
    let app = TestApp::spawn(db, &[("DAILY_API_KEY", "d-key"), ("DAILY_API_URL", &uri)]).await;
    let room = app
        .room(json!({"name": "vault", "platform": "daily"}))
        .await;
    // The first visitor gives up while the provider is still creating the room.
    let impatient = app
        .req(Method::POST, "/v1/rooms/vault/meeting")
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(impatient.is_err(), "the client went away");
    // The creation finished without it: the next visitor gets that meeting, soon.
    let next = app
        .req(Method::POST, "/v1/rooms/vault/meeting")
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("answered well before the old 45 s wait");
    assert_eq!(next.status(), 200);
    let m: Value = next.json().await.unwrap();
    assert_eq!(m["room_url"], format!("https://acme.daily.co/{DAILY_ROOM}"));
    let room_id = room["id"].as_str().unwrap();
    assert_eq!(
        app.store.room_lock(room_id).await.unwrap(),
        None,
        "lease released"
    );
    let (_, active) = app.get("/v1/rooms/vault/meetings/active").await;
    assert_eq!(
        active.as_array().unwrap().len(),
        1,
        "one meeting, no leaked provider room"
    );
    daily.verify().await;
    app.stop().await;
}

async fn a_slow_provider_call_keeps_its_creation_lease(db: Db) {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    // Slower than each attempt's timeout (2 s in tests): the creation retries for about 6 s.
    let daily = slow_daily(Duration::from_secs(10), 3).await;
    let uri = daily.uri();
    let app = Arc::new(
        TestApp::spawn_with_clock(
            db,
            &[("DAILY_API_KEY", "d-key"), ("DAILY_API_URL", &uri)],
            clock.clone(),
        )
        .await,
    );
    let room = app
        .room(json!({"name": "vault", "platform": "daily"}))
        .await;
    let room_id = room["id"].as_str().unwrap().to_owned();
    let creating = tokio::spawn({
        let app = app.clone();
        async move { app.post("/v1/rooms/vault/meeting", json!({})).await }
    });
    let lease = || async { app.store.room_lock(&room_id).await.unwrap() };
    while lease().await.is_none() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The provider is slower than the lease: by our clock it has run out.
    clock.advance(chrono::Duration::seconds(60));
    let renewed = async {
        loop {
            if let Some((_, until)) = lease().await
                && until > clock.now()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(4), renewed)
        .await
        .expect("the running creation renews its lease");
    // So another process cannot take it and create a second meeting.
    let now = clock.now();
    assert!(
        !app.store
            .try_lock_room(
                &room_id,
                "another-process",
                now,
                now + chrono::Duration::seconds(30)
            )
            .await
            .unwrap()
    );
    let (status, body) = creating.await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(lease().await, None, "released when the creation gave up");
    daily.verify().await;
    Arc::into_inner(app).unwrap().stop().await;
}

async fn waiters_get_a_clear_503_with_retry_after(db: Db) {
    let app = TestApp::spawn(db, &[]).await;
    let room = app.room(json!({"name": "team"})).await;
    let room_id = room["id"].as_str().unwrap();
    // Another process holds the creation lease (and is slow about it).
    let now = chrono::Utc::now();
    assert!(
        app.store
            .try_lock_room(
                room_id,
                "another-process",
                now,
                now + chrono::Duration::hours(1)
            )
            .await
            .unwrap()
    );
    let response = app
        .req(Method::POST, "/v1/rooms/team/meeting")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    let body: Value = response.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("try again"),
        "{body}"
    );
    app.stop().await;
}
