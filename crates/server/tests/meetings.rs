//! Meetings over real HTTP: get-or-create and its reuse rule, the 50-way race, platform choice,
//! provider failures, joining, consent, ending meetings, recording start, the mock call page.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use reflector_testing::fakes::{daily_room, whereby_meeting};
use reflector_testing::{Db, TestApp, on_both_databases};
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

on_both_databases!(
    an_open_meeting_is_reused_until_the_room_changes,
    fifty_concurrent_calls_create_exactly_one_meeting,
    the_rollout_list_puts_new_meetings_on_daily,
    provider_failures_reach_the_user_as_clear_errors,
    joining_daily_meetings_carries_a_token,
    consent_answers_are_recorded_per_participant,
    recordings_start_only_where_allowed_and_not_too_often,
    the_mock_call_page_tracks_who_is_in_the_call,
);

async fn meeting(app: &TestApp, room: &str, body: Value) -> Value {
    let (status, m) = app.post(&format!("/v1/rooms/{room}/meeting"), body).await;
    assert_eq!(status, 200, "{m}");
    m
}

async fn an_open_meeting_is_reused_until_the_room_changes(db: Db) {
    let app = TestApp::spawn(db, &[]).await;
    let room = app.room(json!({"name": "team"})).await;
    let first = meeting(&app, "team", json!({})).await;
    assert_eq!(first["platform"], "mock");
    assert_eq!(first["room_id"], room["id"]);
    assert_eq!(first["is_active"], true);
    assert_eq!(first["user_id"], json!(null));
    let start =
        chrono::DateTime::parse_from_rfc3339(first["start_date"].as_str().unwrap()).unwrap();
    let end = chrono::DateTime::parse_from_rfc3339(first["end_date"].as_str().unwrap()).unwrap();
    assert_eq!(end - start, chrono::Duration::hours(8));

    let again = meeting(&app, "team", json!({})).await;
    assert_eq!(again["id"], first["id"], "reused");
    // No body at all is the same as an empty one.
    let (status, bare) = app
        .call(Method::POST, "/v1/rooms/team/meeting", None, None)
        .await;
    assert_eq!((status, &bare["id"]), (200, &first["id"]));

    let duplicated = meeting(&app, "team", json!({"allow_duplicated": true})).await;
    assert_ne!(duplicated["id"], first["id"]);
    let (_, active) = app.get("/v1/rooms/team/meetings/active").await;
    assert_eq!(active.as_array().unwrap().len(), 2);

    // A changed room setting means the next visitor gets a meeting with the new settings.
    let room_path = format!("/v1/rooms/{}", room["id"].as_str().unwrap());
    app.patch(&room_path, json!({"recording_trigger": "prompt"}))
        .await;
    let changed = meeting(&app, "team", json!({})).await;
    assert_ne!(changed["id"], first["id"]);
    assert_ne!(changed["id"], duplicated["id"]);
    assert_eq!(changed["recording_trigger"], "prompt");
    assert_eq!(meeting(&app, "team", json!({})).await["id"], changed["id"]);

    // An ended meeting is not reused, and cannot be joined.
    let mid = changed["id"].as_str().unwrap();
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/v1/meetings/{mid}/deactivate"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/v1/rooms/team/meetings/{mid}/join"),
            None,
            None,
        )
        .await;
    assert_eq!(
        (status, body),
        (400, json!({"detail": "Meeting is not active"}))
    );
    let next = meeting(&app, "team", json!({})).await;
    assert_ne!(next["id"], changed["id"]);

    // A meeting is only found through its own room.
    app.room(json!({"name": "elsewhere"})).await;
    let (status, _) = app
        .get(&format!("/v1/rooms/elsewhere/meetings/{mid}"))
        .await;
    assert_eq!(status, 404);
    let (status, found) = app.get(&format!("/v1/rooms/team/meetings/{mid}")).await;
    assert_eq!((status, found["is_active"].clone()), (200, json!(false)));
    let (status, _) = app.get("/v1/rooms/team/meetings/not-a-meeting").await;
    assert_eq!(status, 404);
    app.stop().await;
}

async fn fifty_concurrent_calls_create_exactly_one_meeting(db: Db) {
    let whereby = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/meetings"))
        .and(header("authorization", "Bearer wb-key"))
        // A slow provider widens the window in which the calls race.
        .respond_with(whereby_meeting().set_delay(std::time::Duration::from_millis(300)))
        .expect(1)
        .mount(&whereby)
        .await;
    let app = TestApp::spawn(
        db,
        &[
            ("WHEREBY_API_KEY", "wb-key"),
            ("WHEREBY_API_URL", &whereby.uri()),
        ],
    )
    .await;
    app.room(json!({"name": "team", "platform": "whereby", "recording_type": "none"}))
        .await;

    let calls = (0..50).map(|_| {
        let http = app.http.clone();
        let url = format!("{}/v1/rooms/team/meeting", app.url);
        tokio::spawn(async move {
            let response = http.post(url).json(&json!({})).send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        })
    });
    let results: Vec<(u16, Value)> = futures_join(calls).await;
    let ids: std::collections::HashSet<String> = results
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200, "{body}");
            body["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "all 50 callers got the same meeting");
    assert_eq!(results[0].1["platform"], "whereby");
    assert_eq!(
        results[0].1["room_url"],
        "https://acme.whereby.com/team-6b1f0f6e"
    );
    whereby.verify().await;
    app.stop().await;
}

async fn futures_join<T: Send + 'static>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles.collect::<Vec<_>>() {
        out.push(h.await.unwrap());
    }
    out
}

async fn the_rollout_list_puts_new_meetings_on_daily(db: Db) {
    let daily = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rooms"))
        .and(header("authorization", "Bearer d-key"))
        .respond_with(daily_room("migrating-20260101000000-abcd"))
        .expect(1)
        .mount(&daily)
        .await;
    let app = TestApp::spawn(
        db,
        &[
            ("DAILY_API_KEY", "d-key"),
            ("DAILY_API_URL", &daily.uri()),
            ("DEFAULT_VIDEO_PLATFORM", "mock"),
            ("DAILY_MIGRATION_ENABLED", "true"),
            ("DAILY_MIGRATION_ROOM_IDS", r#"["migrating"]"#),
        ],
    )
    .await;
    let listed = app.room(json!({"name": "migrating"})).await;
    assert_eq!(
        listed["platform"], "mock",
        "the room's own setting is unchanged"
    );
    app.room(json!({"name": "staying"})).await;
    let m = meeting(&app, "migrating", json!({})).await;
    assert_eq!(m["platform"], "daily");
    assert_eq!(meeting(&app, "migrating", json!({})).await["id"], m["id"]);
    assert_eq!(
        meeting(&app, "staying", json!({})).await["platform"],
        "mock"
    );
    daily.verify().await;
    app.stop().await;
}

async fn provider_failures_reach_the_user_as_clear_errors(db: Db) {
    let daily = MockServer::start().await;
    let app = TestApp::spawn(
        db,
        &[("DAILY_API_KEY", "d-key"), ("DAILY_API_URL", &daily.uri())],
    )
    .await;
    let room = app.room(json!({"name": "team"})).await;
    assert_eq!(
        room["platform"], "daily",
        "the first configured provider is the default"
    );

    let bad_key = Mock::given(method("POST"))
        .and(path("/rooms"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"error": "authorization-header-error"})),
        )
        .expect(1)
        .named("401 is not retried")
        .mount_as_scoped(&daily)
        .await;
    let (status, body) = app.post("/v1/rooms/team/meeting", json!({})).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(
        body["detail"],
        "daily rejected our credentials (HTTP 401): check DAILY_API_KEY"
    );
    drop(bad_key);

    let down = Mock::given(method("POST"))
        .and(path("/rooms"))
        .respond_with(ResponseTemplate::new(503))
        .expect(3)
        .named("5xx is retried up to the attempt limit")
        .mount_as_scoped(&daily)
        .await;
    let (status, body) = app.post("/v1/rooms/team/meeting", json!({})).await;
    assert_eq!(
        (status, body),
        (503, json!({"detail": "daily is unavailable: HTTP 503"}))
    );
    drop(down);

    let limited = Mock::given(method("POST"))
        .and(path("/rooms"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "30"))
        .mount_as_scoped(&daily)
        .await;
    let response = app
        .req(Method::POST, "/v1/rooms/team/meeting")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "30");
    drop(limited);

    // Slower than the per-attempt timeout: retried up to the limit, then "unavailable".
    let slow = Mock::given(method("POST"))
        .and(path("/rooms"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"name": "x", "url": "https://acme.daily.co/x"}))
                .set_delay(std::time::Duration::from_secs(5)),
        )
        .expect(3)
        .named("a slow provider is retried up to the attempt limit")
        .mount_as_scoped(&daily)
        .await;
    let (status, body) = app.post("/v1/rooms/team/meeting", json!({})).await;
    assert_eq!(
        (status, body),
        (
            503,
            json!({"detail": "daily is unavailable: request timed out"})
        )
    );
    drop(slow);

    // Garbage: not JSON, or JSON of another shape. Not retried (the provider answered), 502.
    for garbage in [
        ResponseTemplate::new(200).set_body_string("<html>oops</html>"),
        ResponseTemplate::new(200).set_body_json(json!({"unexpected": true})),
        ResponseTemplate::new(200).set_body_json(json!({"name": "x", "url": "not a url"})),
    ] {
        let mock = Mock::given(method("POST"))
            .and(path("/rooms"))
            .respond_with(garbage)
            .expect(1)
            .mount_as_scoped(&daily)
            .await;
        let (status, body) = app.post("/v1/rooms/team/meeting", json!({})).await;
        assert_eq!(status, 502, "{body}");
        assert!(
            body["detail"].as_str().unwrap().starts_with("daily"),
            "the error names the provider: {body}"
        );
        drop(mock);
    }

    let (_, active) = app.get("/v1/rooms/team/meetings/active").await;
    assert_eq!(
        active,
        json!([]),
        "failed provider calls leave no meeting behind"
    );

    // A room whose platform is no longer configured says which setting is missing.
    let mut orphan = app.store.room_by_name("team").await.unwrap().unwrap();
    orphan.platform = reflector_core::PlatformName::new("whereby");
    app.store.update_room(&orphan).await.unwrap();
    let (status, body) = app.post("/v1/rooms/team/meeting", json!({})).await;
    assert_eq!(
        (status, body),
        (
            503,
            json!({"detail": "video platform 'whereby' is not configured: set WHEREBY_API_KEY"})
        )
    );
    app.stop().await;
}

async fn joining_daily_meetings_carries_a_token(db: Db) {
    let daily = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rooms"))
        .respond_with(daily_room("team-20260101000000-abcd"))
        .mount(&daily)
        .await;
    Mock::given(method("POST"))
        .and(path("/meeting-tokens"))
        .and(header("authorization", "Bearer d-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"token": "tok123"})))
        .expect(1)
        .mount(&daily)
        .await;
    let app = TestApp::spawn(
        db,
        &[("DAILY_API_KEY", "d-key"), ("DAILY_API_URL", &daily.uri())],
    )
    .await;
    app.room(json!({"name": "team", "recording_type": "local"}))
        .await;
    let m = meeting(&app, "team", json!({})).await;
    assert_eq!(
        m["room_url"],
        "https://acme.daily.co/team-20260101000000-abcd"
    );
    let mid = m["id"].as_str().unwrap();
    let (status, joined) = app
        .call(
            Method::POST,
            &format!("/v1/rooms/team/meetings/{mid}/join"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{joined}");
    assert_eq!(
        joined["room_url"],
        "https://acme.daily.co/team-20260101000000-abcd?t=tok123"
    );
    assert_eq!(joined["id"], m["id"]);

    let requests = daily.received_requests().await.unwrap();
    let token_request = requests
        .iter()
        .find(|r| r.url.path() == "/meeting-tokens")
        .unwrap();
    let props = &token_request.body_json::<Value>().unwrap()["properties"];
    assert_eq!(props["room_name"], "team-20260101000000-abcd");
    assert_eq!(props["user_id"], "local");
    assert_eq!(props["is_owner"], true);
    assert_eq!(
        props["enable_recording_ui"], true,
        "local recording shows the recording UI"
    );
    let end = chrono::DateTime::parse_from_rfc3339(m["end_date"].as_str().unwrap()).unwrap();
    assert_eq!(props["exp"], end.timestamp());
    app.stop().await;
}

async fn consent_answers_are_recorded_per_participant(db: Db) {
    let app = TestApp::spawn(db, &[]).await;
    app.room(json!({"name": "team"})).await;
    let m = meeting(&app, "team", json!({})).await;
    let path = format!("/v1/meetings/{}/consent", m["id"].as_str().unwrap());
    let (status, first) = app
        .post(
            &path,
            json!({"consent_given": false, "participant_token": "browser-1"}),
        )
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["status"], "success");
    let (_, again) = app
        .post(
            &path,
            json!({"consent_given": true, "participant_token": "browser-1"}),
        )
        .await;
    assert_eq!(
        again["consent_id"], first["consent_id"],
        "the same participant changed their answer"
    );
    let (_, other) = app
        .post(
            &path,
            json!({"consent_given": true, "participant_token": "browser-2"}),
        )
        .await;
    assert_ne!(other["consent_id"], first["consent_id"]);
    assert!(
        !app.store
            .anyone_declined(m["id"].as_str().unwrap())
            .await
            .unwrap()
    );

    let (status, _) = app
        .post("/v1/meetings/nope/consent", json!({"consent_given": true}))
        .await;
    assert_eq!(status, 404);
    let (status, body) = app.post(&path, json!({"consent_given": "yes"})).await;
    assert_eq!(status, 422);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("consent_given:"),
        "{body}"
    );
    app.stop().await;
}

async fn recordings_start_only_where_allowed_and_not_too_often(db: Db) {
    let daily = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rooms"))
        .respond_with(daily_room("team-20260101000000-abcd"))
        .mount(&daily)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(
            "^/rooms/team-20260101000000-abcd/recordings/start$",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"recordingId": "rec-1"})))
        .expect(2)
        .mount(&daily)
        .await;
    let app = TestApp::spawn(
        db,
        &[
            ("DAILY_API_KEY", "d-key"),
            ("DAILY_API_URL", &daily.uri()),
            ("DAILYCO_STORAGE_AWS_BUCKET_NAME", "recordings"),
            ("DAILYCO_STORAGE_AWS_REGION", "eu-west-1"),
            ("DAILYCO_STORAGE_AWS_ROLE_ARN", "arn:aws:iam::1:role/daily"),
        ],
    )
    .await;
    app.room(json!({"name": "team"})).await;
    let m = meeting(&app, "team", json!({})).await;
    let mid = m["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/meetings/{mid}/recordings/start");

    // Three starts at once: the page's two kinds pass, the third is refused without waiting.
    let raw = reflector_platforms::daily::raw_tracks_instance_id(&mid).to_string();
    let (cloud, tracks, third) = tokio::join!(
        app.post(&path, json!({"type": "cloud", "instanceId": mid})),
        app.post(&path, json!({"type": "raw-tracks", "instanceId": raw})),
        app.post(&path, json!({"type": "cloud", "instanceId": mid})),
    );
    let mut statuses = vec![cloud.0, tracks.0, third.0];
    statuses.sort();
    assert_eq!(statuses, [200, 200, 429], "{cloud:?} {tracks:?} {third:?}");
    for (status, body) in [cloud, tracks, third] {
        if status == 200 {
            assert_eq!(body, json!({"status": "started"}));
        }
    }

    let (status, _) = app
        .post(
            "/v1/meetings/unknown/recordings/start",
            json!({"type": "cloud", "instanceId": "x"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, body) = app.post(&path, json!({"type": "cloud"})).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = app
        .post(&path, json!({"type": "local", "instanceId": mid}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("type: unknown recording type"),
        "{body}"
    );

    // Every attempt counts against the limit, so a wrong instance id is tried on another meeting.
    let other = meeting(&app, "team", json!({"allow_duplicated": true})).await;
    let other_path = format!(
        "/v1/meetings/{}/recordings/start",
        other["id"].as_str().unwrap()
    );
    let (status, body) = app
        .post(&other_path, json!({"type": "cloud", "instanceId": mid}))
        .await;
    assert_eq!(
        status, 400,
        "another meeting's instance id is refused: {body}"
    );

    // Mock meetings and rooms that do not record to the cloud have nothing to start.
    app.room(json!({"name": "quiet", "platform": "mock"})).await;
    let mock = meeting(&app, "quiet", json!({})).await;
    let mock_id = mock["id"].as_str().unwrap();
    let (status, body) = app
        .post(
            &format!("/v1/meetings/{mock_id}/recordings/start"),
            json!({"type": "cloud", "instanceId": mock_id}),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"detail": "mock does not support starting recordings through an API"})
        )
    );
    app.room(json!({"name": "unrecorded", "recording_type": "none"}))
        .await;
    let none = meeting(&app, "unrecorded", json!({})).await;
    let none_id = none["id"].as_str().unwrap();
    let (status, body) = app
        .post(
            &format!("/v1/meetings/{none_id}/recordings/start"),
            json!({"type": "cloud", "instanceId": none_id}),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"detail": "This meeting is not recorded to the cloud"})
        )
    );
    daily.verify().await;
    app.stop().await;
}

async fn the_mock_call_page_tracks_who_is_in_the_call(db: Db) {
    let app = TestApp::spawn(db, &[]).await;
    app.room(json!({"name": "team"})).await;
    let m = meeting(&app, "team", json!({})).await;
    let room_url = m["room_url"].as_str().unwrap();
    assert!(
        room_url.starts_with(&format!("{}/mock-video/team-", app.url)),
        "{room_url}"
    );

    let page = app.http.get(room_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!(
        "data-room=\"{}\"",
        m["room_name"].as_str().unwrap()
    )));

    let sessions = format!("{room_url}/sessions");
    let joined: Value = app
        .http
        .post(&sessions)
        .json(&json!({"name": "Ada"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session_id = joined["session_id"].as_str().unwrap();
    let list: Value = app
        .http
        .get(&sessions)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["name"], "Ada");
    assert_eq!(list[0]["left_at"], json!(null));
    let left = app
        .http
        .delete(format!("{sessions}/{session_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(left.status(), 204);
    let list: Value = app
        .http
        .get(&sessions)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(list[0]["left_at"].is_string());

    let missing = app
        .http
        .get(format!("{}/mock-video/no-such-room", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let (status, _) = app.get("/mock-video/no-such-room/sessions").await;
    assert_eq!(status, 404);

    let (status, doc) = app.get("/openapi.json").await;
    assert_eq!(status, 200);
    for p in [
        "/v1/rooms",
        "/v1/rooms/{room_name}/meeting",
        "/v1/meetings/{meeting_id}/deactivate",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} is documented");
    }
    assert_eq!(
        app.get("/health").await,
        (200, json!({"status": "healthy"}))
    );
    app.stop().await;
}
