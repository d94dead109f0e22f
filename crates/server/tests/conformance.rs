//! Provider conformance: one scenario, run through the real server against every provider
//! module's fake — create a meeting, get a join URL, participants join and leave (through the
//! provider's own channel: signed webhooks, or the mock's pages), `num_clients` follows,
//! presence corrects a missed event where the provider has a presence API, and ending the
//! meeting deletes the provider's room.
//!
//! A new provider is done when it has a [`Fake`] here and [`every_provider_is_covered`] and
//! [`conformance`] pass for it: the scenario itself never names a provider.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::sync::Arc;

use chrono::{Duration, Utc};
use reflector_core::{Clock, ManualClock};
use reflector_testing::fake_livekit::{
    FakeLiveKit, LIVEKIT_KEY, LIVEKIT_SECRET, livekit_event, livekit_webhook_auth,
};
use reflector_testing::fakes::{DAILY_SECRET, whereby_signature};
use reflector_testing::{Db, TestApp, on_both_databases};
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Every provider module has a fake here.
const COVERED: &[&str] = &["daily", "whereby", "livekit", "mock"];

#[test]
fn every_provider_is_covered() {
    let mut known: Vec<&str> = reflector_platforms::PROVIDERS
        .iter()
        .map(|p| p.name)
        .collect();
    known.sort_unstable();
    let mut covered = COVERED.to_vec();
    covered.sort_unstable();
    assert_eq!(known, covered, "give the new provider a Fake in this test");
}

async fn mock(db: Db) {
    conformance(db, Fake::mock().await).await;
}
async fn daily(db: Db) {
    conformance(db, Fake::daily().await).await;
}
async fn whereby(db: Db) {
    conformance(db, Fake::whereby().await).await;
}
async fn livekit(db: Db) {
    conformance(db, Fake::livekit().await).await;
}

on_both_databases!(mock, daily, whereby, livekit);

/// A provider's stand-in and how participants reach it.
enum Fake {
    Mock,
    Daily {
        server: MockServer,
    },
    Whereby {
        server: MockServer,
        /// Whereby counts its clients itself; the fake keeps the count it reports.
        clients: std::sync::Mutex<i64>,
    },
    LiveKit(FakeLiveKit),
}

/// A participant as the scenario knows them: a display name, and the provider's id for their
/// session once they joined.
struct Joined {
    name: &'static str,
    session: String,
    /// What the provider's "left" event needs again (LiveKit's `ParticipantInfo`).
    info: Value,
}

impl Fake {
    async fn mock() -> Fake {
        Fake::Mock
    }

    async fn daily() -> Fake {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/rooms"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "d-room", "name": "team-20260101000000-abcd",
                "url": "https://acme.daily.co/team-20260101000000-abcd"
            })))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/meeting-tokens"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"token": "tok"})))
            .mount(&server)
            .await;
        daily_defaults(&server).await;
        Fake::Daily { server }
    }

    async fn whereby() -> Fake {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/meetings"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({
                "meetingId": "wb-1", "roomName": "/team-1f2e",
                "roomUrl": "https://acme.whereby.com/team-1f2e",
                "hostRoomUrl": "https://acme.whereby.com/team-1f2e?roomKey=k"
            })))
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(path("/meetings/wb-1"))
            .respond_with(ResponseTemplate::new(204))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/insights/room-sessions"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results": []})))
            .mount(&server)
            .await;
        Fake::Whereby {
            server,
            clients: std::sync::Mutex::new(0),
        }
    }

    async fn livekit() -> Fake {
        Fake::LiveKit(FakeLiveKit::start().await)
    }

    fn platform(&self) -> &'static str {
        match self {
            Fake::Mock => "mock",
            Fake::Daily { .. } => "daily",
            Fake::Whereby { .. } => "whereby",
            Fake::LiveKit(_) => "livekit",
        }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Fake::Mock => vec![],
            Fake::Daily { server } => vec![
                ("DAILY_API_KEY", "d-key".into()),
                ("DAILY_API_URL", server.uri()),
                ("DAILY_WEBHOOK_SECRET", DAILY_SECRET.into()),
            ],
            Fake::Whereby { server, .. } => vec![
                ("WHEREBY_API_KEY", "w-key".into()),
                ("WHEREBY_API_URL", server.uri()),
                ("WHEREBY_WEBHOOK_SECRET", "whsecret".into()),
            ],
            Fake::LiveKit(fake) => fake.env(),
        }
    }

    /// Whether a join URL carries a credential for this caller (providers with tokens), or is
    /// the meeting's room URL itself.
    fn join_url_ok(&self, meeting: &Value, url: &str) -> bool {
        let room_url = meeting["room_url"].as_str().unwrap();
        match self {
            Fake::Mock | Fake::Whereby { .. } => url == room_url,
            Fake::Daily { .. } => url == format!("{room_url}?t=tok"),
            Fake::LiveKit(_) => {
                url.starts_with(&format!("{room_url}&token="))
                    && reflector_platforms::livekit::verify(
                        url.split_once("&token=").unwrap().1,
                        LIVEKIT_SECRET,
                    )
                    .is_ok()
            }
        }
    }

    /// Whether the provider has a presence API the scenario can make disagree with the events.
    fn has_presence_api(&self) -> bool {
        matches!(self, Fake::Daily { .. } | Fake::LiveKit(_))
    }

    /// `name` joins the call through the provider.
    async fn join(&self, app: &TestApp, meeting: &Value, name: &'static str) -> Joined {
        let room = meeting["room_name"].as_str().unwrap();
        let now = app.app.clock.now();
        let session = format!("s-{name}");
        match self {
            Fake::Mock => {
                let r: Value = app
                    .http
                    .post(format!(
                        "{}/sessions",
                        meeting["room_url"].as_str().unwrap()
                    ))
                    .json(&json!({"name": name}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let session = r["session_id"].as_str().unwrap().to_owned();
                return Joined {
                    name,
                    session,
                    info: Value::Null,
                };
            }
            Fake::Daily { .. } => {
                let event = json!({"version": "1.0.0", "type": "participant.joined",
                    "id": format!("j-{name}"), "event_ts": now.timestamp(),
                    "payload": {"room": room, "session_id": session, "user_name": name,
                                "joined_at": now.timestamp()}});
                send_daily(app, &event).await;
            }
            Fake::Whereby { clients, .. } => {
                let count = {
                    let mut c = clients.lock().unwrap();
                    *c += 1;
                    *c
                };
                let event = json!({"id": format!("j-{name}"), "type": "room.client.joined",
                    "createdAt": now.to_rfc3339(),
                    "data": {"meetingId": "wb-1", "participantId": session, "displayName": name,
                             "numClients": count}});
                send_whereby(app, &event).await;
            }
            Fake::LiveKit(fake) => {
                let info = fake.join(room, &session, name, "");
                let mut event = livekit_event(&format!("j-{name}"), "participant_joined", room);
                event["participant"] = info.clone();
                send_livekit(app, &event).await;
                return Joined {
                    name,
                    session,
                    info,
                };
            }
        }
        Joined {
            name,
            session,
            info: Value::Null,
        }
    }

    /// `who` leaves the call; with `tell` false the provider's event about it is lost.
    async fn leave(&self, app: &TestApp, meeting: &Value, who: &Joined, tell: bool) {
        let room = meeting["room_name"].as_str().unwrap();
        let now = app.app.clock.now();
        match self {
            Fake::Mock => {
                let r = app
                    .http
                    .delete(format!(
                        "{}/sessions/{}",
                        meeting["room_url"].as_str().unwrap(),
                        who.session
                    ))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 204);
            }
            Fake::Daily { .. } if tell => {
                let event = json!({"version": "1.0.0", "type": "participant.left",
                    "id": format!("l-{}", who.name), "event_ts": now.timestamp(),
                    "payload": {"room": room, "session_id": who.session, "user_name": who.name,
                                "joined_at": now.timestamp() - 60, "duration": 60}});
                send_daily(app, &event).await;
            }
            Fake::Whereby { clients, .. } if tell => {
                let count = {
                    let mut c = clients.lock().unwrap();
                    *c -= 1;
                    *c
                };
                let event = json!({"id": format!("l-{}", who.name), "type": "room.client.left",
                    "createdAt": now.to_rfc3339(),
                    "data": {"meetingId": "wb-1", "participantId": who.session,
                             "displayName": who.name, "numClients": count}});
                send_whereby(app, &event).await;
            }
            Fake::LiveKit(fake) => {
                fake.leave(room, &who.session);
                if tell {
                    let mut event =
                        livekit_event(&format!("l-{}", who.name), "participant_left", room);
                    event["participant"] = who.info.clone();
                    send_livekit(app, &event).await;
                }
            }
            _ => {}
        }
    }

    /// The provider's presence API lists exactly `present` from now on.
    async fn present(&self, present: &[&Joined]) {
        if let Fake::Daily { server } = self {
            let data: Vec<Value> = present
                .iter()
                .map(|j| json!({"id": j.session, "userName": j.name, "joinTime": "2026-01-01T00:00:00Z"}))
                .collect();
            server.reset().await;
            Mock::given(method("GET"))
                .and(path_regex("^/rooms/.+/presence$"))
                .respond_with(
                    ResponseTemplate::new(200)
                        .set_body_json(json!({"total_count": data.len(), "data": data})),
                )
                .mount(server)
                .await;
            daily_defaults(server).await;
        }
        // LiveKit's fake lists whoever joined and has not left.
    }

    /// Whether the provider was asked to delete the meeting's room (and it is gone).
    async fn room_deleted(&self, app: &TestApp, meeting: &Value) -> bool {
        let room = meeting["room_name"].as_str().unwrap();
        match self {
            Fake::Mock => {
                let r = app
                    .http
                    .get(format!(
                        "{}/sessions",
                        meeting["room_url"].as_str().unwrap()
                    ))
                    .send()
                    .await
                    .unwrap();
                r.status() == 404
            }
            Fake::Daily { server } => deleted(server, &format!("/rooms/{room}")).await,
            Fake::Whereby { server, .. } => deleted(server, "/meetings/wb-1").await,
            Fake::LiveKit(fake) => {
                fake.room(room).is_none() && fake.calls().contains(&format!("DeleteRoom {room}"))
            }
        }
    }

    fn violations(&self) -> Vec<String> {
        match self {
            Fake::LiveKit(fake) => fake.violations(),
            _ => Vec::new(),
        }
    }
}

/// Daily's room deletion, and its sessions API (no ended sessions: the lifecycle keeps the
/// meeting while the scenario runs).
async fn daily_defaults(server: &MockServer) {
    Mock::given(method("DELETE"))
        .and(path_regex("^/rooms/.+$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"deleted": true})))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/meetings"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": []})))
        .mount(server)
        .await;
}

async fn send_daily(app: &TestApp, event: &Value) {
    let ts = app.app.clock.now().timestamp();
    let (status, body) = app.daily_webhook(event, DAILY_SECRET, ts).await;
    assert_eq!(status, 200, "{body}");
}

async fn send_whereby(app: &TestApp, event: &Value) {
    let raw = event.to_string();
    let ts = app.app.clock.now().timestamp();
    let r = app
        .req(Method::POST, "/v1/whereby")
        .header(
            "whereby-signature",
            whereby_signature("whsecret", ts, raw.as_bytes()),
        )
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

async fn send_livekit(app: &TestApp, event: &Value) {
    let raw = event.to_string();
    let auth = livekit_webhook_auth(
        LIVEKIT_KEY,
        LIVEKIT_SECRET,
        raw.as_bytes(),
        app.app.clock.now().timestamp(),
    );
    let r = app
        .req(Method::POST, "/v1/livekit/webhook")
        .header("authorization", auth)
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// Whether `server` received `DELETE {wanted}`.
async fn deleted(server: &MockServer, wanted: &str) -> bool {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .any(|r| r.method.as_str() == "DELETE" && r.url.path() == wanted)
}

async fn num_clients(app: &TestApp, id: &str) -> i64 {
    app.store.meeting(id).await.unwrap().unwrap().num_clients
}

/// Runs jobs until `num_clients` is `want` (the mock's events arrive asynchronously).
async fn settle(app: &TestApp, id: &str, want: i64, what: &str) {
    for _ in 0..100 {
        app.run_jobs().await;
        if num_clients(app, id).await == want {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!(
        "{what}: num_clients is {}, not {want}",
        num_clients(app, id).await
    );
}

/// The scenario every provider passes.
async fn conformance(db: Db, fake: Fake) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let env = fake.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn_with_clock(db, &env, clock.clone()).await;
    let provider = fake.platform();
    app.room(json!({"name": "team", "platform": provider, "recording_type": "none"}))
        .await;

    // A meeting on the provider.
    let (status, meeting) = app.post("/v1/rooms/team/meeting", json!({})).await;
    assert_eq!(status, 200, "{provider}: {meeting}");
    assert_eq!(meeting["platform"], provider);
    assert!(!meeting["room_url"].as_str().unwrap().is_empty());
    let mid = meeting["id"].as_str().unwrap().to_owned();

    // A join URL for this caller.
    let (status, joined) = app
        .post(&format!("/v1/rooms/team/meetings/{mid}/join"), json!({}))
        .await;
    assert_eq!(status, 200, "{provider}: {joined}");
    let url = joined["room_url"].as_str().unwrap();
    assert!(
        fake.join_url_ok(&meeting, url),
        "{provider}: join URL {url}"
    );

    // Two join, one leaves: num_clients follows, sessions are kept with names.
    let ada = fake.join(&app, &meeting, "Ada").await;
    settle(&app, &mid, 1, provider).await;
    let bo = fake.join(&app, &meeting, "Bo").await;
    settle(&app, &mid, 2, provider).await;
    fake.leave(&app, &meeting, &bo, true).await;
    fake.present(&[&ada]).await;
    settle(&app, &mid, 1, provider).await;
    let sessions = app.store.participant_sessions(&mid).await.unwrap();
    let names: Vec<_> = sessions
        .iter()
        .filter_map(|s| s.user_name.clone())
        .collect();
    assert_eq!(names.len(), 2, "{provider}: {sessions:?}");
    assert!(names.contains(&"Ada".to_owned()) && names.contains(&"Bo".to_owned()));

    // Presence: a departure whose event was lost is corrected from the provider's presence.
    if fake.has_presence_api() {
        fake.present(&[]).await;
        fake.leave(&app, &meeting, &ada, false).await;
        clock.set(clock.now() + Duration::minutes(2));
        app.app.scheduler().tick().await.unwrap();
        settle(&app, &mid, 0, provider).await;
    } else {
        fake.leave(&app, &meeting, &ada, true).await;
        settle(&app, &mid, 0, provider).await;
    }

    // The owner ends the meeting: inactive, and the provider's room is deleted.
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/v1/meetings/{mid}/deactivate"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{provider}");
    app.run_jobs().await;
    assert!(!app.store.meeting(&mid).await.unwrap().unwrap().is_active);
    assert!(
        fake.room_deleted(&app, &meeting).await,
        "{provider}: room not deleted"
    );
    assert_eq!(fake.violations(), Vec::<String>::new(), "{provider}");
    app.stop().await;
}
