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
        self.present_slowly(sessions, std::time::Duration::ZERO)
            .await;
    }

    /// As [`FakeDaily::present`], each answer sent `delay` after the request (a slow provider).
    pub async fn present_slowly(&self, sessions: &[(&str, &str)], delay: std::time::Duration) {
        let data: Vec<Value> = sessions
            .iter()
            .map(|(id, name)| json!({"id": id, "userName": name, "joinTime": "2026-01-01T00:00:00Z"}))
            .collect();
        Mock::given(method("GET"))
            .and(path(format!("/rooms/{}/presence", self.room)))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"total_count": data.len(), "data": data}))
                    .set_delay(delay),
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

/// `request` carrying `body` as Daily delivers a webhook signed at `timestamp` (unix seconds)
/// with `secret_b64`: the JSON content type and both signature headers.
pub fn daily_delivery(
    request: reqwest::RequestBuilder,
    secret_b64: &str,
    timestamp: i64,
    body: String,
) -> reqwest::RequestBuilder {
    let signature = daily_signature(secret_b64, timestamp, body.as_bytes());
    request
        .header("content-type", "application/json")
        .header("x-webhook-timestamp", timestamp.to_string())
        .header("x-webhook-signature", signature)
        .body(body)
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

/// A download link's server on 127.0.0.1: serves one file at `/file.{ext}`, honouring `Range`,
/// optionally slowly (a delay per 64 KB chunk) and after failing its first requests with 500.
/// It records every `Range` header it was sent.
pub struct FileServer {
    pub url: String,
    state: Arc<FileState>,
}

struct FileState {
    body: Vec<u8>,
    chunk_delay: std::time::Duration,
    failures: std::sync::atomic::AtomicUsize,
    ranges: std::sync::Mutex<Vec<Option<String>>>,
}

impl FileServer {
    pub async fn start(
        body: Vec<u8>,
        ext: &str,
        chunk_delay: std::time::Duration,
        failures: usize,
    ) -> FileServer {
        use axum::extract::State;
        use axum::response::IntoResponse;
        let state = Arc::new(FileState {
            body,
            chunk_delay,
            failures: std::sync::atomic::AtomicUsize::new(failures),
            ranges: std::sync::Mutex::default(),
        });
        async fn file(
            State(state): State<Arc<FileState>>,
            headers: axum::http::HeaderMap,
        ) -> axum::response::Response {
            let range = headers
                .get("range")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            state.ranges.lock().unwrap().push(range.clone());
            let failing = state
                .failures
                .fetch_update(
                    std::sync::atomic::Ordering::SeqCst,
                    std::sync::atomic::Ordering::SeqCst,
                    |n| n.checked_sub(1),
                )
                .is_ok();
            if failing {
                return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            let total = state.body.len();
            let start = range
                .as_deref()
                .and_then(|r| r.strip_prefix("bytes="))
                .and_then(|r| r.strip_suffix('-'))
                .and_then(|r| r.parse::<usize>().ok())
                .unwrap_or(0)
                .min(total);
            let delay = state.chunk_delay;
            let body: Vec<Vec<u8>> = state.body[start..]
                .chunks(64 * 1024)
                .map(<[u8]>::to_vec)
                .collect();
            let stream = futures_stream(body, delay);
            let mut response = axum::response::Response::new(axum::body::Body::from_stream(stream));
            let headers = response.headers_mut();
            headers.insert(
                "content-length",
                (total - start).to_string().parse().unwrap(),
            );
            if range.is_some() {
                *response.status_mut() = axum::http::StatusCode::PARTIAL_CONTENT;
                response.headers_mut().insert(
                    "content-range",
                    format!("bytes {start}-{}/{total}", total.saturating_sub(1))
                        .parse()
                        .unwrap(),
                );
            }
            response
        }
        let app = axum::Router::new()
            .route(&format!("/file.{ext}"), axum::routing::get(file))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/file.{ext}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FileServer { url, state }
    }

    /// The `Range` header of every request, in order (`None`: the whole file).
    pub fn ranges(&self) -> Vec<Option<String>> {
        self.state.ranges.lock().unwrap().clone()
    }
}

fn futures_stream(
    chunks: Vec<Vec<u8>>,
    delay: std::time::Duration,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::unfold(chunks.into_iter(), move |mut chunks| async move {
        let chunk = chunks.next()?;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Some((Ok(chunk), chunks))
    })
}

/// An S3 endpoint in front of a real one (moto) that answers its first `failures` object reads
/// (GET and HEAD of a key) with 500, then forwards everything: a bucket that fails, then recovers.
pub struct FlakyS3 {
    pub url: String,
    failed: Arc<std::sync::atomic::AtomicUsize>,
}

impl FlakyS3 {
    pub async fn start(upstream: &str, failures: usize) -> FlakyS3 {
        use axum::extract::{Request, State};
        use axum::response::IntoResponse;
        #[derive(Clone)]
        struct Proxy {
            upstream: String,
            left: Arc<std::sync::atomic::AtomicUsize>,
            failed: Arc<std::sync::atomic::AtomicUsize>,
            http: reqwest::Client,
        }
        async fn forward(State(p): State<Proxy>, request: Request) -> axum::response::Response {
            let (parts, body) = request.into_parts();
            let is_read = matches!(parts.method.as_str(), "GET" | "HEAD")
                && parts.uri.path().matches('/').count() >= 2;
            if is_read
                && p.left
                    .fetch_update(
                        std::sync::atomic::Ordering::SeqCst,
                        std::sync::atomic::Ordering::SeqCst,
                        |n| n.checked_sub(1),
                    )
                    .is_ok()
            {
                p.failed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                return (
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "<Error><Code>InternalError</Code></Error>",
                )
                    .into_response();
            }
            let url = format!(
                "{}{}",
                p.upstream,
                parts.uri.path_and_query().map_or("/", |pq| pq.as_str())
            );
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let mut upstream = p
                .http
                .request(parts.method.clone(), url)
                .body(body.to_vec());
            for (name, value) in &parts.headers {
                if name != "host" {
                    upstream = upstream.header(name, value);
                }
            }
            let answer = upstream.send().await.unwrap();
            let mut response = axum::response::Response::builder().status(answer.status().as_u16());
            for (name, value) in answer.headers() {
                response = response.header(name, value);
            }
            let bytes = answer.bytes().await.unwrap();
            response.body(axum::body::Body::from(bytes)).unwrap()
        }
        let failed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let proxy = Proxy {
            upstream: upstream.trim_end_matches('/').to_owned(),
            left: Arc::new(std::sync::atomic::AtomicUsize::new(failures)),
            failed: failed.clone(),
            http: reqwest::Client::new(),
        };
        let app = axum::Router::new().fallback(forward).with_state(proxy);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FlakyS3 { url, failed }
    }

    /// How many reads it failed.
    pub fn failed(&self) -> usize {
        self.failed.load(std::sync::atomic::Ordering::SeqCst)
    }
}
