//! The real service over HTTP on a free port, against a fresh database, built by the same
//! [`Application::build`] as the binary; providers are configured from environment pairs exactly
//! as in production (fake provider servers stand in for the clouds).

use std::sync::Arc;
use std::time::Duration;

use reflector::{Application, Config, Role};
use reflector_app::{App, Jobs};
use reflector_core::{Clock, Env, SystemClock};
use reflector_platforms::RetryPolicy;
use reflector_store::Store;
use reflector_store::testing::TestDatabase;
use serde_json::Value;

use crate::Db;
use crate::proxy::TcpProxy;

pub struct TestApp {
    pub url: String,
    pub store: Store,
    pub http: reqwest::Client,
    /// The application layer the server and its jobs share.
    pub app: Arc<App>,
    runner: reflector_queue::Runner<Jobs>,
    expect_failed_jobs: bool,
    db: Option<TestDatabase>,
    /// `DATA_DIR` (local storage and staging files), unless the test gave one.
    pub data_dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// Provider calls retried quickly, so tests of retries take milliseconds.
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
        Self::spawn_on(db.fresh().await, env, clock, |url| url.to_owned()).await
    }

    /// The server reaching its (PostgreSQL) database through a [`TcpProxy`] the test can cut.
    pub async fn spawn_behind_proxy(db: Db, env: &[(&str, &str)]) -> (TestApp, TcpProxy) {
        let database = db.fresh().await;
        let (proxy, url) = TcpProxy::for_database(&database.url).await;
        let app = Self::spawn_on(database, env, Arc::new(SystemClock), move |_| url.clone()).await;
        (app, proxy)
    }

    /// The database's own URL (not through a proxy), for checks from outside the service.
    pub fn database_url(&self) -> &str {
        self.db.as_ref().map_or("", |db| db.url.as_str())
    }

    async fn spawn_on(
        database: TestDatabase,
        env: &[(&str, &str)],
        clock: Arc<dyn Clock>,
        service_url: impl Fn(&str) -> String,
    ) -> TestApp {
        let data_dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut env = Env::from_pairs(env.iter().copied());
        if env.get("DATA_DIR").is_none() {
            env = env.with("DATA_DIR", data_dir.path().display().to_string());
        }
        let env = env
            .with("BASE_URL", url.clone())
            .with("DATABASE_URL", service_url(&database.url));
        let mut config = Config::from_env(&env).expect("configuration");
        config.provider_retries = fast_retries();
        let application = Application::build(config, clock, Role::Server)
            .await
            .expect("application");
        let app = application.app.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(async move {
            application
                .serve(listener, false, async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        TestApp {
            url,
            store: app.store.clone(),
            http: reqwest::Client::new(),
            runner: app.runner(),
            app,
            expect_failed_jobs: false,
            db: Some(database),
            data_dir,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// This test leaves jobs failed on purpose; [`TestApp::stop`] does not complain of them.
    pub fn expect_failed_jobs(&mut self) {
        self.expect_failed_jobs = true;
    }

    /// Stops the server, checks that no job was left failed (unless expected) or stuck in
    /// `running`, and drops the PostgreSQL database (SQLite files go with their folder).
    pub async fn stop(mut self) {
        let counts = self.store.job_counts().await.unwrap();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        if let Some(db) = self.db.take() {
            db.drop_database().await;
        }
        assert_eq!(counts.running, 0, "jobs were left running: {counts:?}");
        if !self.expect_failed_jobs {
            assert_eq!(counts.failed, 0, "jobs failed: {counts:?}");
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

    /// Delivers `body` to `/v1/daily/webhook` signed with `secret` at `timestamp` (unix
    /// seconds), as Daily does; the answer's status and JSON body.
    pub async fn daily_webhook(&self, body: &Value, secret: &str, timestamp: i64) -> (u16, Value) {
        let request = self.req(reqwest::Method::POST, "/v1/daily/webhook");
        let response = crate::fakes::daily_delivery(request, secret, timestamp, body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Creates a room as the single local user; panics unless it succeeds.
    pub async fn room(&self, body: Value) -> Value {
        let (status, room) = self.post("/v1/rooms", body).await;
        assert_eq!(status, 200, "{room}");
        room
    }
}
