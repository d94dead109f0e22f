//! Stand-ins for what we cannot run here, each checking what our code sends: the Daily and
//! Whereby APIs (wiremock servers answering as the providers do), a room owner's webhook endpoint,
//! an identity provider's signing keys, and the providers' signature schemes.

use std::sync::Arc;

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// SPEC §3.3's Daily webhook test secret (base64).
pub const DAILY_SECRET: &str = "MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA=";

/// A fake Daily API: answers room creation with `room` (see [`daily_room`]); tests add the
/// other endpoints they need, with the exact requests they expect.
pub struct FakeDaily {
    pub server: MockServer,
    /// The Daily room name every created meeting gets.
    pub room: String,
}

impl std::ops::Deref for FakeDaily {
    type Target = MockServer;
    fn deref(&self) -> &MockServer {
        &self.server
    }
}

impl FakeDaily {
    pub async fn start(room: &str) -> FakeDaily {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/rooms"))
            .respond_with(daily_room(room))
            .mount(&server)
            .await;
        FakeDaily {
            server,
            room: room.to_owned(),
        }
    }

    /// The server settings that point Daily here, with SPEC §3.3's webhook secret.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("DAILY_API_KEY", "d-key".to_owned()),
            ("DAILY_API_URL", self.server.uri()),
            ("DAILY_WEBHOOK_SECRET", DAILY_SECRET.to_owned()),
        ]
    }

    /// Daily's presence API lists these `(session id, user name)` pairs in the room from now on.
    pub async fn present(&self, sessions: &[(&str, &str)]) {
        let data: Vec<Value> = sessions
            .iter()
            .map(|(id, name)| json!({"id": id, "userName": name, "joinTime": "2026-01-01T00:00:00Z"}))
            .collect();
        Mock::given(method("GET"))
            .and(path(format!("/rooms/{}/presence", self.room)))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"total_count": data.len(), "data": data})),
            )
            .mount(&self.server)
            .await;
    }
}

/// A fake Daily API whose `POST /rooms` creates the room it is asked for (its name echoed), so
/// that many meetings each have their own Daily room.
pub async fn fake_daily_echoing_rooms() -> MockServer {
    struct Echo;
    impl wiremock::Respond for Echo {
        fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
            let name = serde_json::from_slice::<Value>(&request.body)
                .ok()
                .and_then(|b| b["name"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "unnamed".into());
            daily_room(&name)
        }
    }
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rooms"))
        .respond_with(Echo)
        .mount(&server)
        .await;
    server
}

/// Daily's answer to `POST /rooms` for a room called `name`.
pub fn daily_room(name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "d-room-id",
        "name": name,
        "url": format!("https://acme.daily.co/{name}"),
        "privacy": "public",
        "config": {}
    }))
}

/// Whereby's answer to `POST /meetings`.
pub fn whereby_meeting() -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({
        "meetingId": "wb-1",
        "roomName": "/team-6b1f0f6e-2f36-4b5c-9f9e-1d2d3c4b5a69",
        "roomUrl": "https://acme.whereby.com/team-6b1f0f6e",
        "hostRoomUrl": "https://acme.whereby.com/team-6b1f0f6e?roomKey=host",
        "startDate": "2026-01-01T00:00:00Z",
        "endDate": "2026-01-01T08:00:00Z"
    }))
}

/// A Daily participant event as Daily's webhooks send it.
pub fn daily_event(id: &str, kind: &str, room: &str, session: &str) -> Value {
    json!({
        "version": "1.0.0", "type": kind, "id": id, "event_ts": 1767225600.25,
        "payload": {"room": room, "session_id": session, "user_id": "u-1", "user_name": "Ada",
                    "joined_at": 1767225600.5, "duration": 30}
    })
}

/// RS256 keys made with the `openssl` command for one test: (public key path, signer).
pub struct JwtKeys {
    pub public_key_path: String,
    encoding: jsonwebtoken::EncodingKey,
    _dir: tempfile::TempDir,
}

impl JwtKeys {
    pub fn generate() -> JwtKeys {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("private.pem");
        let public = dir.path().join("public.pem");
        let ok = std::process::Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(&private)
            .arg("2048")
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "openssl genrsa");
        let ok = std::process::Command::new("openssl")
            .args(["rsa", "-pubout", "-in"])
            .arg(&private)
            .arg("-out")
            .arg(&public)
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "openssl rsa -pubout");
        let pem = std::fs::read(&private).unwrap();
        JwtKeys {
            public_key_path: public.display().to_string(),
            encoding: jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap(),
            _dir: dir,
        }
    }

    pub fn token(&self, sub: &str) -> String {
        let exp = chrono::Utc::now().timestamp() + 3600;
        self.token_with(&serde_json::json!({ "sub": sub, "exp": exp }))
    }

    /// A token carrying exactly `claims`.
    pub fn token_with(&self, claims: &Value) -> String {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            claims,
            &self.encoding,
        )
        .unwrap()
    }
}

/// A room owner's webhook endpoint on 127.0.0.1: records every request, checks its signature
/// against `secret`, and answers with the queued statuses (then 200).
pub struct Receiver {
    pub url: String,
    state: Arc<ReceiverState>,
}

#[derive(Default)]
struct ReceiverState {
    secret: std::sync::Mutex<Option<String>>,
    statuses: std::sync::Mutex<std::collections::VecDeque<u16>>,
    received: std::sync::Mutex<Vec<Received>>,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    /// Whether `X-Webhook-Signature` matched the body under the receiver's secret.
    pub signature_valid: bool,
}

impl Receiver {
    pub async fn start(secret: &str) -> Receiver {
        use axum::extract::State;
        let state = Arc::new(ReceiverState::default());
        *state.secret.lock().unwrap() = Some(secret.to_owned());
        async fn hook(
            State(state): State<Arc<ReceiverState>>,
            headers: axum::http::HeaderMap,
            body: axum::body::Bytes,
        ) -> axum::http::StatusCode {
            let secret = state.secret.lock().unwrap().clone().unwrap_or_default();
            let signature_valid = headers
                .get("x-webhook-signature")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| verify_signature(&secret, v, &body));
            let mut copy = reqwest::header::HeaderMap::new();
            for (name, value) in &headers {
                copy.insert(name.clone(), value.clone());
            }
            state.received.lock().unwrap().push(Received {
                headers: copy,
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                signature_valid,
            });
            let status = state.statuses.lock().unwrap().pop_front().unwrap_or(200);
            axum::http::StatusCode::from_u16(status).unwrap()
        }
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url, state }
    }

    /// The next answers, in order; 200 after they are used up.
    pub fn answer_with(&self, statuses: &[u16]) {
        self.state.statuses.lock().unwrap().extend(statuses);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }
}

/// Whether `header` is a valid `X-Webhook-Signature` (SPEC §8) of `body` under `secret`.
pub fn verify_signature(secret: &str, header: &str, body: &[u8]) -> bool {
    use hmac::Mac;
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value),
            Some(("v1", value)) => v1 = Some(value),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    hex_lower(&mac.finalize().into_bytes()) == v1
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Headers of a Daily webhook signed as Daily signs them (SPEC §3.3).
pub fn daily_signature(secret_b64: &str, timestamp: i64, body: &[u8]) -> String {
    use base64::Engine;
    use hmac::Mac;
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret_b64)
        .unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A Whereby signature header (SPEC §3.2).
pub fn whereby_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex_lower(&mac.finalize().into_bytes())
    )
}
