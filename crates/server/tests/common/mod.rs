//! Test harness: the real router served over HTTP on a free port, against a fresh database
//! (SQLite, or PostgreSQL when `TEST_DATABASE_URL` is set), with providers configured from
//! environment pairs exactly as in production (fake provider servers stand in for the clouds).

#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use reflector_core::{Clock, Env, SystemClock};
use reflector_jobs::{JobContext, JobSettings, Runner};
use reflector_platforms::{Registry, RetryPolicy};
use reflector_server::{AppState, Settings};
use reflector_store::Store;
use reflector_store::testing::TestDatabase;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Generates `sqlite` and `postgres` tests for each async case `fn(Db)`.
#[macro_export]
macro_rules! on_both_databases {
    ($($case:ident),+ $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$case(super::common::Db::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                if std::env::var("TEST_DATABASE_URL").is_err() {
                    eprintln!("TEST_DATABASE_URL is not set: PostgreSQL case not run");
                    return;
                }
                super::$case(super::common::Db::Postgres).await;
            }
        }
    )+};
}

pub struct TestApp {
    pub url: String,
    pub store: Store,
    pub http: reqwest::Client,
    pub jobs: Arc<JobContext>,
    runner: Runner,
    db: Option<TestDatabase>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

pub fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(100),
        timeout: Duration::from_secs(2),
    }
}

impl TestApp {
    pub async fn spawn(db: Db, env: &[(&str, &str)]) -> TestApp {
        Self::spawn_with_clock(db, env, Arc::new(SystemClock)).await
    }

    /// The server with jobs that run only when the test calls [`TestApp::run_jobs`], on `clock`.
    pub async fn spawn_with_clock(db: Db, env: &[(&str, &str)], clock: Arc<dyn Clock>) -> TestApp {
        let database = match db {
            Db::Sqlite => TestDatabase::sqlite().await,
            Db::Postgres => TestDatabase::postgres().await.expect("TEST_DATABASE_URL"),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let env = Env::from_pairs(env.iter().copied())
            .with("BASE_URL", url.clone())
            .with("DATABASE_URL", database.url.clone());
        let settings = Settings::from_env(&env).expect("settings");
        let (events, mock_events) = tokio::sync::mpsc::channel(1024);
        let registry =
            Registry::from_env(&env, fast_retries(), &url, Some(events)).expect("registry");
        let store = Store::connect(&database.url).await.unwrap();
        store.migrate().await.unwrap();
        let job_settings = JobSettings::from_env(&env).expect("job settings");
        let jobs = Arc::new(JobContext::new(
            store.clone(),
            Arc::new(registry),
            clock,
            job_settings,
        ));
        tokio::spawn(reflector_jobs::consume_provider_events(
            jobs.clone(),
            mock_events,
        ));
        let state = AppState::new(settings, jobs.clone());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(async move {
            reflector_server::serve(listener, state, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        TestApp {
            url,
            store,
            http: reqwest::Client::new(),
            runner: Runner::new(jobs.clone()),
            jobs,
            db: Some(database),
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Stops the server and drops the PostgreSQL database (SQLite files go with their folder).
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        self.store.close().await;
        if let Some(db) = self.db.take() {
            db.drop_database().await;
        }
    }

    /// Runs every job that is due now; returns how many ran.
    pub async fn run_jobs(&self) -> usize {
        self.runner.run_until_idle().await
    }

    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.url))
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self.req(method, path);
        if let Some(token) = auth {
            r = r.bearer_auth(token);
        }
        if let Some(body) = body {
            r = r.json(&body);
        }
        let response = r.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, None, Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PATCH, path, None, Some(body))
            .await
    }

    /// Creates a room as the single local user; panics unless it succeeds.
    pub async fn room(&self, body: Value) -> Value {
        let (status, room) = self.post("/v1/rooms", body).await;
        assert_eq!(status, 200, "{room}");
        room
    }
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
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &serde_json::json!({ "sub": sub, "exp": exp }),
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

fn verify_signature(secret: &str, header: &str, body: &[u8]) -> bool {
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
