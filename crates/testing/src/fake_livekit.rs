//! A fake LiveKit server: the Twirp JSON endpoints Reflector calls (`RoomService/CreateRoom`,
//! `DeleteRoom`, `ListParticipants`, `Egress/ListEgress`), with rooms, participants and egresses
//! kept in memory. Every request is checked as LiveKit would (a server token signed with the API
//! secret, `iss` = the API key, not expired, the grant the call needs and, for one room's calls,
//! that room) plus what our client must send (exact body fields); a request that fails a check is
//! answered 401/400 and kept in [`FakeLiveKit::violations`], which tests assert empty. Webhooks
//! are signed with our own signer ([`reflector_platforms::livekit::sign`]) as LiveKit signs them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use reflector_platforms::livekit::{self, Claims};
use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub const LIVEKIT_KEY: &str = "lk-key";
pub const LIVEKIT_SECRET: &str = "lk-secret-that-is-long-enough-for-hs256";

#[derive(Debug, Clone)]
pub struct FakeRoom {
    pub sid: String,
    /// The `CreateRoom` body as sent.
    pub request: Value,
    pub participants: Vec<Value>,
}

#[derive(Default)]
struct State {
    rooms: BTreeMap<String, FakeRoom>,
    /// Rooms created, deleted and every call made, in order (`"CreateRoom team-…"`).
    calls: Vec<String>,
    egresses: Vec<Value>,
    violations: Vec<String>,
    next_sid: u32,
}

pub struct FakeLiveKit {
    pub server: MockServer,
    state: Arc<Mutex<State>>,
}

impl FakeLiveKit {
    pub async fn start() -> FakeLiveKit {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State::default()));
        Mock::given(method("POST"))
            .and(path_regex(
                r"^/twirp/livekit\.(RoomService|Egress)/[A-Za-z]+$",
            ))
            .respond_with(Twirp {
                state: state.clone(),
            })
            .mount(&server)
            .await;
        FakeLiveKit { server, state }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The server settings that point LiveKit here (the webhook secret is the API secret).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LIVEKIT_URL", self.server.uri()),
            ("LIVEKIT_PUBLIC_URL", "wss://livekit.example".to_owned()),
            ("LIVEKIT_API_KEY", LIVEKIT_KEY.to_owned()),
            ("LIVEKIT_API_SECRET", LIVEKIT_SECRET.to_owned()),
        ]
    }

    /// The settings of the egress bucket, as well.
    pub fn env_with_bucket(&self, bucket: &str) -> Vec<(&'static str, String)> {
        let mut env = self.env();
        env.extend([
            ("LIVEKIT_STORAGE_AWS_BUCKET_NAME", bucket.to_owned()),
            ("LIVEKIT_STORAGE_AWS_REGION", "us-east-1".to_owned()),
            ("LIVEKIT_STORAGE_AWS_ACCESS_KEY_ID", "lk-writer".to_owned()),
            (
                "LIVEKIT_STORAGE_AWS_SECRET_ACCESS_KEY",
                "lk-writer-secret".to_owned(),
            ),
        ]);
        env
    }

    pub fn rooms(&self) -> BTreeMap<String, FakeRoom> {
        self.state().rooms.clone()
    }

    pub fn room(&self, name: &str) -> Option<FakeRoom> {
        self.state().rooms.get(name).cloned()
    }

    /// The only room, panicking unless there is exactly one.
    pub fn only_room(&self) -> (String, FakeRoom) {
        let rooms = self.rooms();
        assert_eq!(rooms.len(), 1, "rooms: {:?}", rooms.keys());
        rooms.into_iter().next().unwrap()
    }

    pub fn calls(&self) -> Vec<String> {
        self.state().calls.clone()
    }

    /// Requests that LiveKit would have refused, or that were not what we must send.
    pub fn violations(&self) -> Vec<String> {
        self.state().violations.clone()
    }

    /// `identity` (with display name `name`) connects to `room`; returns LiveKit's
    /// `ParticipantInfo` for it, as webhooks carry it.
    pub fn join(&self, room: &str, identity: &str, name: &str, metadata: &str) -> Value {
        let mut state = self.state();
        state.next_sid += 1;
        let participant = json!({
            "sid": format!("PA_{}", state.next_sid), "identity": identity, "name": name,
            "metadata": metadata, "state": "ACTIVE", "joinedAt": "1767225600",
        });
        if let Some(r) = state.rooms.get_mut(room) {
            r.participants.push(participant.clone());
        }
        participant
    }

    /// `identity` disconnects from `room`.
    pub fn leave(&self, room: &str, identity: &str) {
        if let Some(r) = self.state().rooms.get_mut(room) {
            r.participants.retain(|p| p["identity"] != identity);
        }
    }

    /// LiveKit closes the room (its departure or empty timeout passed).
    pub fn close(&self, room: &str) {
        self.state().rooms.remove(room);
    }

    /// An egress of `room` that `ListEgress` reports from now on (`EgressInfo` in protobuf JSON).
    pub fn add_egress(&self, info: Value) {
        self.state().egresses.push(info);
    }

    /// Replaces the status of egress `id`.
    pub fn set_egress_status(&self, id: &str, status: &str) {
        for e in &mut self.state().egresses {
            if e["egressId"] == id {
                e["status"] = json!(status);
            }
        }
    }
}

/// A track egress of `room` that wrote `filename`, as LiveKit reports it, started a minute ago.
pub fn egress_info(id: &str, room: &str, filename: &str, status: &str) -> Value {
    let ended = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let (started, ended) = ((ended - 60_000_000_000).to_string(), ended.to_string());
    let file = json!({"filename": filename, "location": format!("s3://bucket/{filename}"),
                      "size": "1024", "duration": "60000000000",
                      "startedAt": started, "endedAt": ended});
    json!({
        "egressId": id, "roomId": "RM_1", "roomName": room, "status": status,
        "startedAt": started, "endedAt": ended,
        "track": {"roomName": room, "trackId": format!("TR_{id}")},
        "file": file, "fileResults": [file]
    })
}

/// The `Authorization` value LiveKit sends with a webhook whose body is `body`, signed with
/// `secret` by `key`, valid from `now` for five minutes.
pub fn livekit_webhook_auth(key: &str, secret: &str, body: &[u8], now: i64) -> String {
    livekit::sign(
        &Claims {
            iss: key.to_owned(),
            nbf: Some(now),
            exp: now + 300,
            sha256: Some(livekit::body_hash(body)),
            ..Claims::default()
        },
        secret,
    )
    .unwrap()
}

/// A LiveKit webhook event body (`participant` or `egressInfo` added by the caller).
pub fn livekit_event(id: &str, event: &str, room: &str) -> Value {
    json!({
        "event": event, "id": id, "createdAt": chrono::Utc::now().timestamp().to_string(),
        "room": {"sid": "RM_1", "name": room},
    })
}

struct Twirp {
    state: Arc<Mutex<State>>,
}

fn twirp_error(status: u16, code: &str, msg: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"code": code, "msg": msg}))
}

/// Fields each call may carry; anything else is a violation.
fn allowed_fields(call: &str) -> &'static [&'static str] {
    match call {
        "CreateRoom" => &["name", "empty_timeout", "departure_timeout", "egress"],
        "DeleteRoom" | "ListParticipants" => &["room"],
        "ListEgress" => &["room_name"],
        _ => &[],
    }
}

impl wiremock::Respond for Twirp {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let call = request
            .url
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let violation = |state: &mut State, why: String| {
            state.violations.push(format!("{call}: {why}"));
        };
        let content_type = request
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !content_type.starts_with("application/json") {
            violation(&mut state, format!("content-type {content_type:?}"));
            return twirp_error(400, "malformed", "JSON expected");
        }
        let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
            violation(&mut state, "body is not JSON".into());
            return twirp_error(400, "malformed", "bad JSON");
        };
        if let Some(fields) = body.as_object() {
            for key in fields.keys() {
                if !allowed_fields(&call).contains(&key.as_str()) {
                    violation(&mut state, format!("unexpected field {key:?}"));
                }
            }
        }
        // The server token.
        let token = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let claims = match livekit::verify(token, LIVEKIT_SECRET) {
            Ok(claims) => claims,
            Err(e) => {
                violation(&mut state, format!("token does not verify: {e}"));
                return twirp_error(401, "unauthenticated", "invalid token");
            }
        };
        let now = chrono::Utc::now().timestamp();
        if claims.iss != LIVEKIT_KEY || claims.exp < now || claims.exp > now + 600 {
            violation(
                &mut state,
                format!("token iss {:?} exp {} (now {now})", claims.iss, claims.exp),
            );
            return twirp_error(401, "unauthenticated", "invalid token");
        }
        let grant = claims.video.clone().unwrap_or_default();
        let room_arg = body["room"].as_str().unwrap_or_default().to_owned();
        let granted = match call.as_str() {
            "CreateRoom" | "DeleteRoom" => grant.room_create,
            "ListParticipants" => grant.room_admin && grant.room.as_deref() == Some(&room_arg),
            "ListEgress" => grant.room_record,
            _ => false,
        };
        if !granted {
            violation(&mut state, format!("grant {grant:?} does not allow it"));
            return twirp_error(401, "permission_denied", "permissions denied");
        }
        state.calls.push(format!(
            "{call} {}",
            body["name"]
                .as_str()
                .or(body["room"].as_str())
                .or(body["room_name"].as_str())
                .unwrap_or("")
        ));
        match call.as_str() {
            "CreateRoom" => {
                let Some(name) = body["name"].as_str().map(str::to_owned) else {
                    violation(&mut state, "no name".into());
                    return twirp_error(400, "invalid_argument", "name required");
                };
                for timeout in ["empty_timeout", "departure_timeout"] {
                    if !body[timeout].is_u64() {
                        violation(&mut state, format!("{timeout} is {}", body[timeout]));
                    }
                }
                state.next_sid += 1;
                let sid = format!("RM_{}", state.next_sid);
                let room = state.rooms.entry(name.clone()).or_insert_with(|| FakeRoom {
                    sid,
                    request: body.clone(),
                    participants: Vec::new(),
                });
                ResponseTemplate::new(200).set_body_json(json!({
                    "sid": room.sid, "name": name, "emptyTimeout": body["empty_timeout"],
                    "creationTime": now.to_string(), "enabledCodecs": [],
                }))
            }
            "DeleteRoom" => match state.rooms.remove(&room_arg) {
                Some(_) => ResponseTemplate::new(200).set_body_json(json!({})),
                None => twirp_error(404, "not_found", "requested room does not exist"),
            },
            "ListParticipants" => match state.rooms.get(&room_arg) {
                Some(room) => ResponseTemplate::new(200)
                    .set_body_json(json!({"participants": room.participants})),
                None => twirp_error(404, "not_found", "requested room does not exist"),
            },
            "ListEgress" => {
                let wanted = body["room_name"].as_str();
                let items: Vec<&Value> = state
                    .egresses
                    .iter()
                    .filter(|e| wanted.is_none_or(|r| e["roomName"] == r))
                    .collect();
                ResponseTemplate::new(200).set_body_json(json!({ "items": items }))
            }
            _ => twirp_error(404, "bad_route", "no such method"),
        }
    }
}
