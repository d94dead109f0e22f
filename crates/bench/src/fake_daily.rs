//! A small fake of Daily's REST API, served from the benchmark's own process on 127.0.0.1, so
//! the server under test can create rooms and reconcile presence without the real Daily.
//!
//! Presence answers with every participant the benchmark has announced (before sending their
//! `participant.joined`), so the server's reconciliation agrees with the webhooks instead of
//! closing their sessions.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

/// A participant as Daily's presence endpoint lists it.
#[derive(Clone)]
pub struct Present {
    pub session_id: String,
    pub user_id: String,
    pub user_name: String,
    pub joined_at: DateTime<Utc>,
}

#[derive(Default)]
struct Inner {
    /// Present participants by Daily room name.
    present: HashMap<String, Vec<Present>>,
    /// Calls by `METHOD route`.
    calls: BTreeMap<String, u64>,
}

#[derive(Clone, Default)]
pub struct FakeDaily(Arc<Mutex<Inner>>);

impl FakeDaily {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave `Inner` half-updated in a way that matters.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// From now on, presence of `room` lists `participant`.
    pub fn join(&self, room: &str, participant: Present) {
        self.lock()
            .present
            .entry(room.to_owned())
            .or_default()
            .push(participant);
    }

    /// Calls received so far, by `METHOD route`.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.lock().calls.clone()
    }

    fn count(&self, call: &str) {
        *self.lock().calls.entry(call.to_owned()).or_default() += 1;
    }

    /// Serves the fake on an ephemeral loopback port; returns its base URL (with a trailing
    /// slash, as `DAILY_API_URL` may be written).
    pub async fn serve(&self) -> anyhow::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let app = Router::new()
            .route("/rooms", post(create_room))
            .route("/rooms/{name}", post(update_room).delete(delete_room))
            .route("/rooms/{name}/presence", get(presence))
            .route("/meeting-tokens", post(meeting_token))
            .route("/meetings", get(meetings))
            .fallback(unexpected)
            .with_state(self.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("reflector-bench: the fake Daily API stopped: {e}");
            }
        });
        Ok(format!("http://{address}/"))
    }
}

async fn create_room(State(fake): State<FakeDaily>, Json(body): Json<Value>) -> Json<Value> {
    fake.count("POST /rooms");
    let name = body["name"].as_str().unwrap_or("bench-room").to_owned();
    Json(json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "name": name,
        "url": format!("https://reflector-bench.daily.co/{name}"),
    }))
}

async fn update_room(State(fake): State<FakeDaily>, Path(name): Path<String>) -> Json<Value> {
    fake.count("POST /rooms/{name}");
    Json(json!({ "name": name }))
}

async fn delete_room(State(fake): State<FakeDaily>, Path(name): Path<String>) -> Json<Value> {
    fake.count("DELETE /rooms/{name}");
    Json(json!({ "deleted": true, "name": name }))
}

async fn presence(State(fake): State<FakeDaily>, Path(name): Path<String>) -> Json<Value> {
    fake.count("GET /rooms/{name}/presence");
    let present = fake.lock().present.get(&name).cloned().unwrap_or_default();
    let data: Vec<Value> = present
        .iter()
        .map(|p| {
            json!({
                "id": p.session_id,
                "userId": p.user_id,
                "userName": p.user_name,
                "joinTime": p.joined_at.to_rfc3339_opts(SecondsFormat::Millis, true),
                "duration": (Utc::now() - p.joined_at).num_seconds(),
            })
        })
        .collect();
    Json(json!({ "total_count": data.len(), "data": data }))
}

async fn meeting_token(State(fake): State<FakeDaily>) -> Json<Value> {
    fake.count("POST /meeting-tokens");
    Json(json!({ "token": "reflector-bench-token" }))
}

/// Daily's meeting sessions; none, so the lifecycle keeps the meeting until its end.
async fn meetings(State(fake): State<FakeDaily>) -> Json<Value> {
    fake.count("GET /meetings");
    Json(json!({ "total_count": 0, "data": [] }))
}

async fn unexpected(
    State(fake): State<FakeDaily>,
    method: Method,
    uri: Uri,
) -> (StatusCode, Json<Value>) {
    fake.count(&format!("unexpected {method} {}", uri.path()));
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": "not-found", "info": "not faked by reflector-bench" })),
    )
}
