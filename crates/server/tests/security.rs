//! Security properties over real HTTP: every owner-only route refuses others (one table over the
//! server's own route list, so a new route cannot be forgotten), secrets never reach non-owners
//! or the logs, JWT checks, a single-user instance refuses other sites and foreign host names,
//! hostile query values, and room names that would collide with routes.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::sync::{Arc, Mutex};

use reflector_testing::fake_livekit::{
    FakeLiveKit, LIVEKIT_KEY, LIVEKIT_SECRET, livekit_event, livekit_webhook_auth,
};
use reflector_testing::fakes::JwtKeys;
use reflector_testing::{Db, TestApp, on_both_databases};
use reqwest::Method;
use serde_json::{Value, json};

on_both_databases!(
    every_owner_only_route_refuses_others_and_no_route_leaks_secrets,
    a_single_user_instance_serves_only_its_own_hosts_and_origins,
    a_huge_page_number_is_refused_not_overflowed,
    room_names_that_collide_with_routes_are_reserved,
    every_provider_webhook_refuses_unsigned_and_forged_deliveries,
);

/// Every provider's webhook receiver (not in the OpenAPI document: each provider names its own
/// path), by provider. A provider whose receiver is missing here fails the test below.
const PROVIDER_WEBHOOKS: &[(&str, &str)] = &[
    ("daily", "/v1/daily/webhook"),
    ("whereby", "/v1/whereby"),
    ("livekit", "/v1/livekit/webhook"),
];

/// Who may call a route, for the table below.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Access {
    /// Refused (401/403/404) to anonymous callers and to signed-in non-owners.
    OwnerOnly,
    /// Open to others (possibly needing sign-in); its answers must still hide owner secrets.
    Public,
    /// A transcript's routes: whoever may not see the transcript gets 404, as if it did not
    /// exist (visibility: owner, shared room, or public share mode). This scenario has no
    /// transcript, so only the refusals are checked here; `tests/transcripts.rs` and the store
    /// tests check who may see one.
    Hidden,
}

/// Every route of `reflector_server::api_routes()`, classified. A route missing here fails the
/// test: decide who may call it when adding it.
const ROUTES: &[(&str, &str, Access)] = &[
    ("GET", "/v1/rooms", Access::Public),
    ("POST", "/v1/rooms", Access::Public),
    ("GET", "/v1/rooms/{room_id}", Access::OwnerOnly), // unless shared
    ("PATCH", "/v1/rooms/{room_id}", Access::OwnerOnly),
    ("DELETE", "/v1/rooms/{room_id}", Access::OwnerOnly),
    ("GET", "/v1/rooms/name/{room_name}", Access::Public),
    ("POST", "/v1/rooms/{room_name}/meeting", Access::Public),
    (
        "GET",
        "/v1/rooms/{room_name}/meetings/active",
        Access::Public,
    ),
    (
        "GET",
        "/v1/rooms/{room_name}/meetings/{meeting_id}",
        Access::Public,
    ),
    (
        "POST",
        "/v1/rooms/{room_name}/meetings/{meeting_id}/join",
        Access::Public,
    ),
    ("POST", "/v1/meetings/{meeting_id}/consent", Access::Public),
    (
        "PATCH",
        "/v1/meetings/{meeting_id}/deactivate",
        Access::OwnerOnly,
    ),
    (
        "POST",
        "/v1/meetings/{meeting_id}/recordings/start",
        Access::Public, // only callers who may join; owner-only in locked rooms
    ),
    (
        "GET",
        "/v1/rooms/{room_id}/webhook/deliveries",
        Access::OwnerOnly,
    ),
    (
        "POST",
        "/v1/rooms/{room_id}/webhook/test",
        Access::OwnerOnly,
    ),
    (
        "GET",
        "/v1/meetings/{meeting_id}/recordings",
        Access::OwnerOnly,
    ),
    ("GET", "/v1/rooms/{room_name}/ics/status", Access::OwnerOnly),
    ("POST", "/v1/rooms/{room_name}/ics/sync", Access::OwnerOnly),
    ("GET", "/v1/rooms/{room_name}/meetings", Access::Public), // redacted for non-owners
    (
        "GET",
        "/v1/rooms/{room_name}/meetings/upcoming",
        Access::Public,
    ),
    ("GET", "/v1/transcripts", Access::Public), // only what the caller may see
    ("POST", "/v1/transcripts", Access::Public), // needs sign-in; the caller's own
    ("GET", "/v1/transcripts/search", Access::Public),
    ("GET", "/v1/transcripts/{transcript_id}", Access::Hidden),
    ("PATCH", "/v1/transcripts/{transcript_id}", Access::Hidden),
    ("DELETE", "/v1/transcripts/{transcript_id}", Access::Hidden),
    (
        "GET",
        "/v1/transcripts/{transcript_id}/audio/mp3",
        Access::Hidden,
    ),
    (
        "GET",
        "/v1/transcripts/{transcript_id}/participants",
        Access::Hidden,
    ),
    (
        "POST",
        "/v1/transcripts/{transcript_id}/process",
        Access::Hidden,
    ),
    (
        "GET",
        "/v1/transcripts/{transcript_id}/topics",
        Access::Hidden,
    ),
    (
        "POST",
        "/v1/transcripts/{transcript_id}/record/upload",
        Access::Hidden,
    ),
    ("GET", "/v1/user/api-keys", Access::Public), // the caller's own keys
    ("POST", "/v1/user/api-keys", Access::Public),
    ("DELETE", "/v1/user/api-keys/{key_id}", Access::OwnerOnly),
    ("GET", "/v1/me", Access::Public),
    ("GET", "/v1/platforms", Access::Public),
    ("GET", "/health", Access::Public),
];

/// `(method, path)` of every documented route.
fn documented_routes() -> Vec<(String, String)> {
    let document = serde_json::to_value(reflector_server::openapi_document()).unwrap();
    let mut routes = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "patch", "put", "delete"].contains(&method.as_str()) {
                routes.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

fn body_for(method: &str, path: &str) -> Option<Value> {
    match (method, path) {
        ("POST", "/v1/rooms") => Some(json!({"name": "bobs-room"})),
        ("PATCH", "/v1/rooms/{room_id}") => Some(json!({"webhook_url": "https://evil.example/x"})),
        ("POST", "/v1/meetings/{meeting_id}/consent") => {
            Some(json!({"consent_given": true, "participant_token": "t-1"}))
        }
        ("POST", "/v1/meetings/{meeting_id}/recordings/start") => {
            Some(json!({"type": "cloud", "instanceId": "x"}))
        }
        ("POST", "/v1/user/api-keys") => Some(json!({"name": "k"})),
        ("POST" | "PATCH", _) => Some(json!({})),
        _ => None,
    }
}

async fn every_owner_only_route_refuses_others_and_no_route_leaks_secrets(db: Db) {
    let documented = documented_routes();
    for (method, path) in &documented {
        assert!(
            ROUTES.iter().any(|(m, p, _)| m == method && p == path),
            "{method} {path} is in the route list but not in this test's table: decide who may call it"
        );
    }
    for (method, path, _) in ROUTES {
        assert!(
            documented.iter().any(|(m, p)| m == method && p == path),
            "{method} {path} is in the table but no longer a route"
        );
    }

    let keys = JwtKeys::generate();
    let app = TestApp::spawn(
        db,
        &[
            ("AUTH_BACKEND", "jwt"),
            ("AUTH_JWT_PUBLIC_KEY", &keys.public_key_path),
            ("ALLOW_PRIVATE_NETWORK_URLS", "true"),
        ],
    )
    .await;
    let (alice, bob) = (keys.token("alice"), keys.token("bob"));
    let (status, room) = app
        .call(
            Method::POST,
            "/v1/rooms",
            Some(&alice),
            Some(
                json!({"name": "alices", "webhook_url": "http://127.0.0.1:9/hook",
                        "ics_url": "https://cal.example.com/private-token-123.ics"}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{room}");
    let secret = room["webhook_secret"].as_str().unwrap().to_owned();
    let (_, meeting) = app
        .call(Method::POST, "/v1/rooms/alices/meeting", Some(&alice), None)
        .await;
    let host_url = meeting["host_room_url"].as_str().unwrap().to_owned();
    assert!(!host_url.is_empty());
    let (_, key) = app
        .call(
            Method::POST,
            "/v1/user/api-keys",
            Some(&alice),
            Some(json!({"name": "alices key"})),
        )
        .await;
    let secrets = [
        secret.as_str(),
        "http://127.0.0.1:9/hook",
        "private-token-123",
        host_url.as_str(),
        key["key"].as_str().unwrap(),
    ];
    let fill = |path: &str| {
        path.replace("{room_id}", room["id"].as_str().unwrap())
            .replace("{room_name}", "alices")
            .replace("{meeting_id}", meeting["id"].as_str().unwrap())
            .replace("{key_id}", key["id"].as_str().unwrap())
            .replace("{transcript_id}", "no-such-transcript")
    };

    for (method, path, access) in ROUTES {
        let url = fill(path);
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        for (who, token) in [("anonymous", None), ("bob", Some(bob.as_str()))] {
            let (status, body) = app
                .call(method.clone(), &url, token, body_for(method.as_str(), path))
                .await;
            let text = body.to_string();
            for secret in secrets {
                assert!(
                    !text.contains(secret),
                    "{method} {path} as {who} revealed {secret:?}: {text}"
                );
            }
            if *access == Access::Hidden {
                assert!(
                    [401, 404].contains(&status),
                    "{method} {path} as {who}: {status} {text}"
                );
            }
            if *access == Access::OwnerOnly {
                assert!(
                    [401, 403, 404].contains(&status),
                    "{method} {path} as {who}: {status} {text}"
                );
                if who == "anonymous" {
                    assert_ne!(
                        status, 404,
                        "{method} {path}: anonymous must be told to sign in or refused"
                    );
                }
            }
        }
    }
    // Nothing a refused caller sent changed the room.
    let (_, own) = app
        .call(
            Method::GET,
            &format!("/v1/rooms/{}", room["id"].as_str().unwrap()),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(own["webhook_url"], "http://127.0.0.1:9/hook");
    assert_eq!(own["webhook_secret"], secret.as_str());
    // The owner may do each owner-only thing (so the refusals above were not wrong paths);
    // the deletions go last.
    let mut owner_only: Vec<_> = ROUTES
        .iter()
        .filter(|(_, _, access)| *access == Access::OwnerOnly)
        .collect();
    owner_only.sort_by_key(|(method, _, _)| *method == "DELETE");
    for (method, path, _) in owner_only {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let body = body_for(method.as_str(), path).map(|b| {
            if path.ends_with("{room_id}") && method == Method::PATCH {
                json!({"zulip_topic": "t"})
            } else {
                b
            }
        });
        let (status, text) = app
            .call(method.clone(), &fill(path), Some(&alice), body)
            .await;
        // Only the owner learns that this room's calendar sync is off (400 naming it).
        let expected = if path.ends_with("/ics/sync") {
            400
        } else {
            200
        };
        assert_eq!(status, expected, "{method} {path} as the owner: {text}");
    }
    app.stop().await;
}

/// Collects every log line of the process (all levels), to look for secrets in them.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secrets_never_reach_the_logs() {
    use reflector_testing::fakes::{
        DAILY_SECRET, FakeDaily, Receiver, daily_event, daily_signature,
    };
    let captured = Captured::default();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::TRACE)
            .finish(),
    )
    .unwrap();
    let keys = JwtKeys::generate();
    let daily = FakeDaily::start("team-20260101000000-abcd").await;
    daily.present(&[("s1", "Ada")]).await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/meeting-tokens"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_json(json!({"token": "daily-meeting-token-xyz"})),
        )
        .mount(&daily)
        .await;
    let mut env: Vec<(&str, String)> = daily.env();
    env.retain(|(k, _)| *k != "DAILY_API_KEY");
    env.push(("DAILY_API_KEY", "daily-api-key-secret".into()));
    env.push(("AUTH_BACKEND", "jwt".into()));
    env.push(("AUTH_JWT_PUBLIC_KEY", keys.public_key_path.clone()));
    env.push(("ALLOW_PRIVATE_NETWORK_URLS", "true".into()));
    env.push(("WHEREBY_API_KEY", "whereby-api-key-secret".into()));
    env.push(("WHEREBY_WEBHOOK_SECRET", "whereby-webhook-secret".into()));
    let livekit = FakeLiveKit::start().await;
    env.extend(livekit.env());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn(Db::Sqlite, &env).await;
    let alice = keys.token("alice");
    let receiver = Receiver::start("room-webhook-secret-abc").await;
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/rooms",
            Some(&alice),
            Some(
                json!({"name": "team", "platform": "daily", "webhook_url": receiver.url,
                        "webhook_secret": "room-webhook-secret-abc"}),
            ),
        )
        .await;
    assert_eq!(status, 200);
    let (_, key) = app
        .call(
            Method::POST,
            "/v1/user/api-keys",
            Some(&alice),
            Some(json!({"name": "ci"})),
        )
        .await;
    let api_key = key["key"].as_str().unwrap().to_owned();
    let response = app
        .req(Method::POST, "/v1/rooms/team/meeting")
        .header("x-api-key", &api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (_, m) = app
        .call(Method::POST, "/v1/rooms/team/meeting", Some(&alice), None)
        .await;
    let mid = m["id"].as_str().unwrap();
    let (status, joined) = app
        .call(
            Method::POST,
            &format!("/v1/rooms/team/meetings/{mid}/join"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, 200, "{joined}");
    // Webhooks in (good and bad signatures), the test webhook and a bad token.
    let event =
        daily_event("e1", "participant.joined", "team-20260101000000-abcd", "s1").to_string();
    let ts = chrono::Utc::now().timestamp();
    let signature = daily_signature(DAILY_SECRET, ts, event.as_bytes());
    for sig in [signature.as_str(), "AAAA"] {
        app.req(Method::POST, "/v1/daily/webhook")
            .header("x-webhook-timestamp", ts.to_string())
            .header("x-webhook-signature", sig)
            .body(event.clone())
            .send()
            .await
            .unwrap();
    }
    app.req(Method::POST, "/v1/whereby")
        .header(
            "whereby-signature",
            format!("t={ts},v1={}", "ab".repeat(32)),
        )
        .body("{}")
        .send()
        .await
        .unwrap();
    // A LiveKit meeting: a participant token, and a signed webhook.
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/rooms",
            Some(&alice),
            Some(json!({"name": "lk", "platform": "livekit"})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, lk) = app
        .call(Method::POST, "/v1/rooms/lk/meeting", Some(&alice), None)
        .await;
    let (status, lk_joined) = app
        .call(
            Method::POST,
            &format!("/v1/rooms/lk/meetings/{}/join", lk["id"].as_str().unwrap()),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, 200, "{lk_joined}");
    let lk_token = lk_joined["room_url"]
        .as_str()
        .unwrap()
        .split_once("token=")
        .unwrap()
        .1
        .to_owned();
    let lk_event =
        livekit_event("EV_1", "room_started", lk["room_name"].as_str().unwrap()).to_string();
    let lk_auth = livekit_webhook_auth(LIVEKIT_KEY, LIVEKIT_SECRET, lk_event.as_bytes(), ts);
    let response = app
        .req(Method::POST, "/v1/livekit/webhook")
        .header("authorization", &lk_auth)
        .body(lk_event)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/v1/rooms/{}/webhook/test", m["room_id"].as_str().unwrap()),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, 200);
    app.call(Method::GET, "/v1/me", Some("not.a.jwt"), None)
        .await;
    app.req(Method::GET, "/v1/me")
        .header("x-api-key", "rfk_wrong-key-guess")
        .send()
        .await
        .unwrap();
    app.run_jobs().await;
    app.call(
        Method::PATCH,
        &format!("/v1/meetings/{mid}/deactivate"),
        Some(&alice),
        None,
    )
    .await;
    app.run_jobs().await;
    app.stop().await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("meeting created"),
        "the capture works: {logs}"
    );
    for secret in [
        "room-webhook-secret-abc",
        api_key.as_str(),
        "rfk_wrong-key-guess",
        alice.as_str(),
        "daily-api-key-secret",
        DAILY_SECRET,
        "whereby-api-key-secret",
        "whereby-webhook-secret",
        "daily-meeting-token-xyz",
        signature.as_str(),
        LIVEKIT_SECRET,
        lk_token.as_str(),
        lk_auth.as_str(),
    ] {
        assert!(!logs.contains(secret), "the logs contain {secret:?}");
    }
}

#[tokio::test]
async fn jwts_from_another_issuer_or_not_yet_valid_are_refused() {
    let keys = JwtKeys::generate();
    let issuer = "https://id.example.org/realms/team/";
    let app = TestApp::spawn(
        Db::Sqlite,
        &[
            ("AUTH_BACKEND", "jwt"),
            ("AUTH_JWT_PUBLIC_KEY", &keys.public_key_path),
            ("OIDC_ISSUER", issuer),
            ("OIDC_CLIENT_ID", "web"),
        ],
    )
    .await;
    let now = chrono::Utc::now().timestamp();
    let me = |claims: Value| {
        let token = keys.token_with(&claims);
        let app = &app;
        async move { app.call(Method::GET, "/v1/me", Some(&token), None).await }
    };
    let (status, body) = me(json!({"sub": "ada", "exp": now + 600, "iss": issuer})).await;
    assert_eq!((status, &body["sub"]), (200, &json!("ada")), "{body}");
    for claims in [
        json!({"sub": "ada", "exp": now + 600, "iss": "https://evil.example/"}),
        json!({"sub": "ada", "exp": now + 600, "iss": "https://id.example.org/realms/team"}),
        json!({"sub": "ada", "exp": now + 600}),
        json!({"sub": "ada", "exp": now + 600, "iss": issuer, "nbf": now + 600}),
    ] {
        let (status, body) = me(claims.clone()).await;
        assert_eq!(status, 401, "{claims}: {body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .starts_with("Invalid token"),
            "{body}"
        );
    }
    app.stop().await;

    // Without OIDC_ISSUER the issuer is not known, so not checked; nbf still is.
    let app = TestApp::spawn(
        Db::Sqlite,
        &[
            ("AUTH_BACKEND", "jwt"),
            ("AUTH_JWT_PUBLIC_KEY", &keys.public_key_path),
        ],
    )
    .await;
    let call = |claims: Value| {
        let token = keys.token_with(&claims);
        let app = &app;
        async move { app.call(Method::GET, "/v1/me", Some(&token), None).await.0 }
    };
    assert_eq!(
        call(json!({"sub": "ada", "exp": now + 600, "iss": "anyone"})).await,
        200
    );
    assert_eq!(
        call(json!({"sub": "ada", "exp": now + 600, "nbf": now + 600})).await,
        401
    );
    app.stop().await;
}

async fn a_single_user_instance_serves_only_its_own_hosts_and_origins(db: Db) {
    let app = TestApp::spawn(db, &[("UI_BASE_URL", "http://reflector.test:8080")]).await;
    app.room(json!({"name": "team", "webhook_url": "https://h.example.com/x"}))
        .await;
    let port = app.url.rsplit(':').next().unwrap().to_owned();
    let get = |host: String, origin: Option<&'static str>| {
        let mut r = app
            .req(Method::GET, "/v1/rooms/name/team")
            .header("host", host);
        if let Some(origin) = origin {
            r = r.header("origin", origin);
        }
        r.send()
    };
    // Its own names: BASE_URL's (127.0.0.1 here), UI_BASE_URL's, localhost.
    for host in [
        format!("127.0.0.1:{port}"),
        "reflector.test:8080".to_owned(),
        format!("localhost:{port}"),
    ] {
        let r = get(host.clone(), None).await.unwrap();
        assert_eq!(r.status(), 200, "{host}");
    }
    // DNS rebinding: a page's own name pointed at this machine.
    let r = get(format!("attacker.example:{port}"), None).await.unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("BASE_URL"),
        "{body}"
    );
    // Another site's page, through the user's browser: no CORS permission, and refused.
    let r = get(
        format!("127.0.0.1:{port}"),
        Some("https://attacker.example"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let preflight = app
        .req(Method::OPTIONS, "/v1/rooms/name/team")
        .header("origin", "https://attacker.example")
        .header("access-control-request-method", "PATCH")
        .send()
        .await
        .unwrap();
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "{:?}",
        preflight.headers()
    );
    let patch = app
        .req(Method::PATCH, "/v1/rooms/name/team")
        .header("origin", "https://attacker.example")
        .json(&json!({"webhook_url": "https://attacker.example/x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 403);
    // The web UI's own origin works, and gets no wildcard either.
    let r = get(
        format!("127.0.0.1:{port}"),
        Some("http://reflector.test:8080"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_ne!(
        r.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned()),
        Some("*".to_owned())
    );
    app.stop().await;
}

async fn a_huge_page_number_is_refused_not_overflowed(db: Db) {
    let app = TestApp::spawn(db, &[]).await;
    app.room(json!({"name": "team"})).await;
    let (status, body) = app.get("/v1/rooms?page=9223372036854775807").await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"].as_str().unwrap().starts_with("page:"),
        "{body}"
    );
    let (status, body) = app.get("/v1/rooms?page=9223372036854775807&size=1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"], json!([]));
    assert_eq!(body["total"], 1);
    let (status, _) = app.get("/v1/rooms?page=99999999999999999999").await;
    assert_eq!(status, 422);
    app.stop().await;
}

async fn room_names_that_collide_with_routes_are_reserved(db: Db) {
    // Every fixed segment where a room name goes (`/v1/rooms/{room_name}/…`) is reserved.
    let mut fixed = std::collections::BTreeSet::new();
    for (_, path) in documented_routes() {
        let segments: Vec<&str> = path.split('/').collect();
        if segments.len() > 3 && segments[1] == "v1" && segments[2] == "rooms" {
            let segment = segments[3];
            if !segment.starts_with('{') {
                fixed.insert(segment.to_owned());
            }
        }
    }
    assert!(fixed.contains("name"), "{fixed:?}");
    let app = TestApp::spawn(db, &[]).await;
    for name in &fixed {
        let (status, body) = app.post("/v1/rooms", json!({"name": name})).await;
        assert_eq!(status, 422, "{name}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains("reserved"),
            "{name}: {body}"
        );
    }
    app.stop().await;
}

/// Provider webhooks are public routes whose only credential is the provider's signature: a
/// delivery without one, or with a forged one, is refused (401) and stores nothing.
async fn every_provider_webhook_refuses_unsigned_and_forged_deliveries(db: Db) {
    let app = TestApp::spawn(
        db,
        &[
            ("DAILY_API_KEY", "d"),
            (
                "DAILY_WEBHOOK_SECRET",
                reflector_testing::fakes::DAILY_SECRET,
            ),
            ("WHEREBY_API_KEY", "w"),
            ("WHEREBY_WEBHOOK_SECRET", "whsecret"),
            ("LIVEKIT_URL", "http://127.0.0.1:9"),
            ("LIVEKIT_API_KEY", "lk"),
            ("LIVEKIT_API_SECRET", "lk-secret"),
        ],
    )
    .await;
    let mut mounted: Vec<(String, String)> = app
        .app
        .platforms
        .webhook_receivers()
        .into_iter()
        .map(|(path, p)| (p.name().to_owned(), format!("/v1{path}")))
        .collect();
    mounted.sort();
    let mut expected: Vec<(String, String)> = PROVIDER_WEBHOOKS
        .iter()
        .map(|(p, path)| ((*p).to_owned(), (*path).to_owned()))
        .collect();
    expected.sort();
    assert_eq!(
        mounted, expected,
        "add the provider's receiver to PROVIDER_WEBHOOKS"
    );
    let ts = chrono::Utc::now().timestamp().to_string();
    let body = r#"{"type":"participant.joined","event":"participant_joined","id":"x"}"#;
    for (provider, path) in PROVIDER_WEBHOOKS {
        let forged: [(&str, String); 4] = [
            ("authorization", "forged.jwt.token".to_owned()),
            ("x-webhook-signature", "AAAA".to_owned()),
            ("x-webhook-timestamp", ts.clone()),
            (
                "whereby-signature",
                format!("t={ts},v1={}", "ab".repeat(32)),
            ),
        ];
        for headers in [&forged[..0], &forged[..]] {
            let mut request = app
                .req(Method::POST, path)
                .header("content-type", "application/json")
                .body(body);
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401, "{provider} {path} with {headers:?}");
        }
    }
    assert_eq!(app.store.inbox_counts().await.unwrap(), (0, 0));
    app.stop().await;
}
