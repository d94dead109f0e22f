//! Rooms over real HTTP: defaults, validation, uniqueness, webhook secrets, and who sees what.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use reflector_testing::fakes::JwtKeys;
use reflector_testing::{Db, TestApp, on_both_databases};
use reqwest::Method;
use serde_json::json;

on_both_databases!(
    rooms_are_created_read_changed_and_deleted,
    bad_input_gets_a_clear_4xx,
    duplicate_names_are_refused_with_400,
    webhook_secrets_are_generated_and_kept,
    non_owners_never_see_secrets_or_host_urls,
    api_keys_authenticate_as_their_owner,
);

async fn rooms_are_created_read_changed_and_deleted(db: Db) {
    let app = TestApp::spawn(db, &[]).await;
    let room = app.room(json!({"name": "team-standup"})).await;
    assert_eq!(room["user_id"], "local");
    assert_eq!(room["platform"], "mock");
    assert_eq!(room["recording_type"], "cloud");
    assert_eq!(room["recording_trigger"], "automatic-2nd-participant");
    assert_eq!(room["room_mode"], "normal");
    assert_eq!(room["ics_fetch_interval"], 300);
    assert_eq!(room["is_locked"], false);
    let id = room["id"].as_str().unwrap();

    let (status, by_id) = app.get(&format!("/v1/rooms/{id}")).await;
    assert_eq!((status, &by_id), (200, &room));
    let (status, by_name) = app.get("/v1/rooms/name/team-standup").await;
    assert_eq!((status, &by_name), (200, &room));

    let (status, changed) = app
        .patch(
            &format!("/v1/rooms/{id}"),
            json!({"is_locked": true, "recording_type": "local"}),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["is_locked"], true);
    assert_eq!(changed["recording_type"], "local");
    assert_eq!(
        changed["recording_trigger"], room["recording_trigger"],
        "unsent fields stay"
    );
    assert_eq!(changed["name"], "team-standup");

    let (status, list) = app.get("/v1/rooms?page=1&size=10").await;
    assert_eq!(status, 200);
    assert_eq!(
        (list["total"].as_i64(), list["pages"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(list["items"][0]["id"], room["id"]);

    let (status, body) = app
        .call(Method::DELETE, &format!("/v1/rooms/{id}"), None, None)
        .await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    let (status, body) = app.get(&format!("/v1/rooms/{id}")).await;
    assert_eq!((status, body), (404, json!({"detail": "Room not found"})));
    let (status, _) = app.get("/v1/rooms/name/team-standup").await;
    assert_eq!(status, 404);
    app.stop().await;
}

async fn bad_input_gets_a_clear_4xx(db: Db) {
    let app = TestApp::spawn(db, &[]).await;
    let detail = |body: &serde_json::Value| body["detail"].as_str().unwrap_or_default().to_owned();
    for (body, field) in [
        (
            json!({"name": "Team Standup"}),
            "name: room name may contain only",
        ),
        (json!({"name": ""}), "name: room name must not be empty"),
        (
            json!({"name": "x".repeat(65)}),
            "name: room name must be at most 64",
        ),
        (json!({"name": "v1"}), "name: room name \"v1\" is reserved"),
        (
            json!({"name": "ok", "recording_type": "sometimes"}),
            "recording_type: unknown variant",
        ),
        (
            json!({"name": "ok", "room_mode": 3}),
            "room_mode: invalid type",
        ),
        (
            json!({"name": "ok", "platform": "zoom"}),
            "platform: unknown value \"zoom\"",
        ),
        (
            json!({"name": "ok", "webhook_url": "ftp://x"}),
            "webhook_url: must be an absolute http(s) URL",
        ),
        (
            json!({"name": "ok", "ics_fetch_interval": 1}),
            "ics_fetch_interval: must be between",
        ),
        (
            json!({"name": "ok", "colour": "red"}),
            "colour: unknown field `colour`",
        ),
        (json!({}), "body: missing field `name`"),
        // A JSON array would otherwise fill the fields in order.
        (json!(["ok", false]), "body: expected a JSON object"),
        // PostgreSQL's text cannot hold NUL, so neither engine takes it.
        (
            json!({"name": "ok", "zulip_stream": "a\u{0}b"}),
            "zulip_stream: must not contain the NUL character",
        ),
        (
            json!({"name": "ok", "webhook_url": "https://example.com/\u{0}"}),
            "webhook_url: must not contain the NUL character",
        ),
    ] {
        let (status, response) = app.post("/v1/rooms", body.clone()).await;
        assert_eq!(status, 422, "{body} → {response}");
        assert!(detail(&response).starts_with(field), "{body} → {response}");
    }

    let (status, response) = app
        .post("/v1/rooms", json!({"name": "ok", "platform": "daily"}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        detail(&response),
        "video platform 'daily' is not configured: set DAILY_API_KEY"
    );

    let malformed = app
        .req(Method::POST, "/v1/rooms")
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 422, "as the original (FastAPI) answers");
    let body: serde_json::Value = malformed.json().await.unwrap();
    assert!(detail(&body).starts_with("Malformed JSON"), "{body}");

    // An encoded NUL in the address is refused before any route (and database) reads it.
    for path in [
        "/v1/rooms/a%00b",
        "/v1/rooms/name/a%00b",
        "/v1/transcripts/search?q=a%00b",
    ] {
        let (status, response) = app.get(path).await;
        assert_eq!(
            (status, detail(&response).as_str()),
            (422, "The address must not contain the NUL character (%00)."),
            "{path}"
        );
    }

    let no_type = app
        .req(Method::POST, "/v1/rooms")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(no_type.status(), 415);

    // Just over the limit: a much larger body would still be on its way when the server answers
    // and closes, and the connection reset could reach the client before the answer.
    let huge = json!({"name": "big", "zulip_topic": "x".repeat(reflector_server::MAX_BODY_BYTES)});
    let (status, response) = app.post("/v1/rooms", huge).await;
    assert_eq!(status, 413, "{response}");
    assert_eq!(detail(&response), "Request body is too large");

    let (status, response) = app.get("/v1/rooms?page=0").await;
    assert_eq!(
        (status, detail(&response).as_str()),
        (422, "page: must be at least 1")
    );
    let (status, _) = app.get("/v1/rooms?size=abc").await;
    assert_eq!(status, 422);
    // The get-or-create body is optional: a JSON content type with nothing after it is none.
    let (status, _) = app.post("/v1/rooms", json!({"name": "empty-body"})).await;
    assert_eq!(status, 200);
    let empty = app
        .req(Method::POST, "/v1/rooms/empty-body/meeting")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 200);
    let (status, response) = app.post("/v1/rooms/no-such-room/meeting", json!({})).await;
    assert_eq!(
        (status, response),
        (404, json!({"detail": "Room not found"}))
    );
    let (status, response) = app.get("/v1/nothing-here").await;
    assert_eq!((status, response), (404, json!({"detail": "Not Found"})));
    let (status, _) = app
        .patch("/v1/rooms/does-not-exist", json!({"is_locked": true}))
        .await;
    assert_eq!(status, 404);
    app.stop().await;
}

async fn duplicate_names_are_refused_with_400(db: Db) {
    let app = TestApp::spawn(db, &[]).await;
    app.room(json!({"name": "team"})).await;
    let (status, body) = app.post("/v1/rooms", json!({"name": "team"})).await;
    assert_eq!(
        (status, body),
        (400, json!({"detail": "Room name is not unique"}))
    );

    let other = app.room(json!({"name": "other"})).await;
    let path = format!("/v1/rooms/{}", other["id"].as_str().unwrap());
    let (status, body) = app.patch(&path, json!({"name": "team"})).await;
    assert_eq!(
        (status, body),
        (400, json!({"detail": "Room name is not unique"}))
    );
    app.stop().await;
}

async fn webhook_secrets_are_generated_and_kept(db: Db) {
    let app = TestApp::spawn(db, &[]).await;
    let room = app
        .room(json!({"name": "hooks", "webhook_url": "https://hooks.example.com/r"}))
        .await;
    let secret = room["webhook_secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 32, "a random secret is generated: {secret}");
    let path = format!("/v1/rooms/{}", room["id"].as_str().unwrap());

    // Re-sending the same URL without a secret (as the original UI does) keeps the secret.
    for resend in [
        json!({"webhook_url": "https://hooks.example.com/r"}),
        json!({"webhook_url": "https://hooks.example.com/r", "webhook_secret": ""}),
        json!({"webhook_url": "https://hooks.example.com/r", "webhook_secret": null}),
    ] {
        let (status, body) = app.patch(&path, resend).await;
        assert_eq!(status, 200);
        assert_eq!(body["webhook_secret"], secret.as_str());
    }
    let (_, body) = app.patch(&path, json!({"webhook_secret": "chosen"})).await;
    assert_eq!(body["webhook_secret"], "chosen");
    let (_, body) = app.patch(&path, json!({"webhook_url": ""})).await;
    assert_eq!(
        (body["webhook_url"].clone(), body["webhook_secret"].clone()),
        (json!(null), json!(null))
    );
    let given = app
        .room(json!({"name": "given", "webhook_url": "https://h.example.com", "webhook_secret": "s3cret"}))
        .await;
    assert_eq!(given["webhook_secret"], "s3cret");
    app.stop().await;
}

async fn jwt_app(db: Db, keys: &JwtKeys) -> TestApp {
    TestApp::spawn(
        db,
        &[
            ("AUTH_BACKEND", "jwt"),
            ("AUTH_JWT_PUBLIC_KEY", &keys.public_key_path),
        ],
    )
    .await
}

async fn non_owners_never_see_secrets_or_host_urls(db: Db) {
    let keys = JwtKeys::generate();
    let app = jwt_app(db, &keys).await;
    let (alice, bob) = (keys.token("alice"), keys.token("bob"));
    let call = |method, path: String, token: Option<String>, body| {
        let app = &app;
        async move { app.call(method, &path, token.as_deref(), body).await }
    };

    let (status, _) = call(
        Method::POST,
        "/v1/rooms".into(),
        None,
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(status, 401, "creating a room needs a user");
    let (status, room) = call(
        Method::POST,
        "/v1/rooms".into(),
        Some(alice.clone()),
        Some(json!({"name": "alices", "webhook_url": "https://h.example.com/x", "ics_url": "https://cal.example.com/private-token.ics"})),
    )
    .await;
    assert_eq!(status, 200, "{room}");
    assert_eq!(room["user_id"], "alice");
    assert!(room["webhook_secret"].is_string());
    let id = room["id"].as_str().unwrap().to_owned();

    let (status, _) = call(
        Method::GET,
        format!("/v1/rooms/{id}"),
        Some(bob.clone()),
        None,
    )
    .await;
    assert_eq!(status, 403, "not shared yet");
    let (status, _) = call(
        Method::PATCH,
        format!("/v1/rooms/{id}"),
        Some(alice.clone()),
        Some(json!({"is_shared": true})),
    )
    .await;
    assert_eq!(status, 200);

    let hidden = |r: &serde_json::Value| {
        assert_eq!(r["webhook_url"], json!(null), "{r}");
        assert_eq!(r["webhook_secret"], json!(null), "{r}");
        assert_eq!(r["ics_url"], json!(null), "{r}");
    };
    let (status, seen) = call(
        Method::GET,
        format!("/v1/rooms/{id}"),
        Some(bob.clone()),
        None,
    )
    .await;
    assert_eq!(status, 200);
    hidden(&seen);
    let (_, seen) = call(
        Method::GET,
        "/v1/rooms/name/alices".into(),
        Some(bob.clone()),
        None,
    )
    .await;
    hidden(&seen);
    let (_, seen) = call(Method::GET, "/v1/rooms/name/alices".into(), None, None).await;
    hidden(&seen);
    let (_, list) = call(Method::GET, "/v1/rooms".into(), Some(bob.clone()), None).await;
    assert_eq!(list["total"], 1);
    hidden(&list["items"][0]);
    let (_, own) = call(
        Method::GET,
        "/v1/rooms/name/alices".into(),
        Some(alice.clone()),
        None,
    )
    .await;
    assert_eq!(own["webhook_secret"], room["webhook_secret"]);

    let (status, _) = call(
        Method::PATCH,
        format!("/v1/rooms/{id}"),
        Some(bob.clone()),
        Some(json!({"is_locked": true})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(
        Method::DELETE,
        format!("/v1/rooms/{id}"),
        Some(bob.clone()),
        None,
    )
    .await;
    assert_eq!(status, 403);

    // Meetings: only the owner gets the host URL, on every endpoint.
    let (status, m) = call(
        Method::POST,
        "/v1/rooms/alices/meeting".into(),
        None,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "anyone may open a room: {m}");
    assert_eq!(m["host_room_url"], "");
    let mid = m["id"].as_str().unwrap().to_owned();
    let (_, m) = call(
        Method::POST,
        "/v1/rooms/alices/meeting".into(),
        Some(bob.clone()),
        None,
    )
    .await;
    assert_eq!(
        (m["id"].as_str(), m["host_room_url"].as_str()),
        (Some(mid.as_str()), Some(""))
    );
    let (_, m) = call(
        Method::POST,
        "/v1/rooms/alices/meeting".into(),
        Some(alice.clone()),
        None,
    )
    .await;
    assert!(
        m["host_room_url"].as_str().unwrap().contains("host=1"),
        "{m}"
    );
    let (_, active) = call(
        Method::GET,
        "/v1/rooms/alices/meetings/active".into(),
        Some(bob.clone()),
        None,
    )
    .await;
    assert_eq!(active[0]["host_room_url"], "");
    let (_, one) = call(
        Method::GET,
        format!("/v1/rooms/alices/meetings/{mid}"),
        None,
        None,
    )
    .await;
    assert_eq!(one["host_room_url"], "");
    let (_, joined) = call(
        Method::POST,
        format!("/v1/rooms/alices/meetings/{mid}/join"),
        Some(bob.clone()),
        None,
    )
    .await;
    assert_eq!(joined["host_room_url"], "");

    // Ending a meeting: 401 anonymous, 403 for others, 200 for the owner.
    let path = format!("/v1/meetings/{mid}/deactivate");
    assert_eq!(call(Method::PATCH, path.clone(), None, None).await.0, 401);
    assert_eq!(
        call(Method::PATCH, path.clone(), Some(bob.clone()), None)
            .await
            .0,
        403
    );
    let (status, body) = call(Method::PATCH, path, Some(alice.clone()), None).await;
    assert_eq!(
        (status, body),
        (200, json!({"status": "success", "meeting_id": mid}))
    );

    // Anonymous listing is refused outside PUBLIC_MODE; a bad token is refused, not anonymous.
    assert_eq!(
        call(Method::GET, "/v1/rooms".into(), None, None).await.0,
        401
    );
    let (status, body) = call(
        Method::GET,
        "/v1/rooms/name/alices".into(),
        Some("not-a-jwt".into()),
        None,
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("Invalid token"),
        "{body}"
    );
    let (_, me) = call(Method::GET, "/v1/me".into(), Some(bob.clone()), None).await;
    assert_eq!(
        me,
        json!({"sub": "bob", "auth_backend": "jwt", "oidc": null})
    );
    app.stop().await;
}

async fn api_keys_authenticate_as_their_owner(db: Db) {
    let keys = JwtKeys::generate();
    let app = jwt_app(db, &keys).await;
    let alice = keys.token("alice");
    let (status, created) = app
        .call(
            Method::POST,
            "/v1/user/api-keys",
            Some(&alice),
            Some(json!({"name": "ci"})),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(
        (&created["user_id"], &created["name"]),
        (&json!("alice"), &json!("ci")),
        "the original's ApiKeyResponse fields, and the key: {created}"
    );
    let key = created["key"].as_str().unwrap().to_owned();
    // The name is optional (null for none) but not empty.
    let (status, unnamed) = app
        .call(
            Method::POST,
            "/v1/user/api-keys",
            Some(&alice),
            Some(json!({"name": null})),
        )
        .await;
    assert_eq!((status, &unnamed["name"]), (200, &json!(null)), "{unnamed}");
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/user/api-keys",
            Some(&alice),
            Some(json!({"name": ""})),
        )
        .await;
    assert_eq!(status, 422);
    let unnamed_path = format!("/v1/user/api-keys/{}", unnamed["id"].as_str().unwrap());
    let (status, _) = app
        .call(Method::DELETE, &unnamed_path, Some(&alice), None)
        .await;
    assert_eq!(status, 200);

    let with_key = |key: &str| {
        app.req(Method::POST, "/v1/rooms")
            .header("x-api-key", key.to_owned())
            .json(&json!({"name": "by-key"}))
            .send()
    };
    let response = with_key(&key).await.unwrap();
    assert_eq!(response.status(), 200);
    let room: serde_json::Value = response.json().await.unwrap();
    assert_eq!(room["user_id"], "alice");
    assert_eq!(with_key("rfk_wrong").await.unwrap().status(), 401);
    // Every credential sent is checked, and they must name one user.
    let both = |token: &str, key: &str| {
        app.req(Method::GET, "/v1/me")
            .bearer_auth(token)
            .header("x-api-key", key.to_owned())
            .send()
    };
    assert_eq!(both(&alice, "rfk_wrong").await.unwrap().status(), 401);
    assert_eq!(both(&alice, &key).await.unwrap().status(), 200);
    let mixed = both(&keys.token("bob"), &key).await.unwrap();
    assert_eq!(mixed.status(), 401);
    let body: serde_json::Value = mixed.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("different users"),
        "{body}"
    );
    let twice = app
        .req(Method::GET, "/v1/me")
        .header("authorization", format!("Bearer {alice}"))
        .header("authorization", "Bearer not-a-jwt")
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), 401);

    let (_, list) = app
        .call(Method::GET, "/v1/user/api-keys", Some(&alice), None)
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(
        list[0].get("key").is_none(),
        "the key itself is never shown again"
    );
    let path = format!("/v1/user/api-keys/{}", created["id"].as_str().unwrap());
    let (status, _) = app
        .call(Method::DELETE, &path, Some(&keys.token("bob")), None)
        .await;
    assert_eq!(status, 404, "others cannot delete it");
    let (status, _) = app.call(Method::DELETE, &path, Some(&alice), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        with_key(&key).await.unwrap().status(),
        401,
        "a deleted key stops working"
    );
    app.stop().await;
}

/// The page learns where to sign in before anyone has: anonymous `/v1/me` names the provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_callers_learn_where_the_web_ui_signs_in() {
    let keys = JwtKeys::generate();
    let app = TestApp::spawn(
        Db::Sqlite,
        &[
            ("AUTH_BACKEND", "jwt"),
            ("AUTH_JWT_PUBLIC_KEY", &keys.public_key_path),
            ("OIDC_ISSUER", "https://id.example.org/realms/team"),
            ("OIDC_CLIENT_ID", "reflector-web"),
        ],
    )
    .await;
    let (status, me) = app.get("/v1/me").await;
    assert_eq!(status, 200);
    assert_eq!(
        me,
        json!({
            "sub": null,
            "auth_backend": "jwt",
            "oidc": {"issuer": "https://id.example.org/realms/team", "client_id": "reflector-web"},
        })
    );
    // Its tokens carry the issuer the web UI signs in with.
    let token = keys.token_with(&json!({
        "sub": "ada", "exp": chrono::Utc::now().timestamp() + 600,
        "iss": "https://id.example.org/realms/team",
    }));
    let (_, me) = app.call(Method::GET, "/v1/me", Some(&token), None).await;
    assert_eq!(me["sub"], "ada");
    app.stop().await;

    // Single-user mode has no sign-in, whatever OIDC settings are lying around.
    let app = TestApp::spawn(
        Db::Sqlite,
        &[
            ("OIDC_ISSUER", "https://id.example.org"),
            ("OIDC_CLIENT_ID", "web"),
        ],
    )
    .await;
    let (_, me) = app.get("/v1/me").await;
    assert_eq!(
        me,
        json!({"sub": "local", "auth_backend": "none", "oidc": null})
    );
    app.stop().await;
}
