//! Property tests of the webhook endpoints over real HTTP: whatever a caller sends to a
//! provider's webhook path (arbitrary headers and bodies, or arbitrary JSON validly signed),
//! the answer is never a 5xx: 2xx for a stored event or a probe, 4xx saying what is wrong.
//!
//! `PROPTEST_CASES` sets the cases per property (64 by default); see the README's Operations.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use proptest::prelude::*;
use reflector_testing::fake_livekit::{
    FakeLiveKit, LIVEKIT_KEY, LIVEKIT_SECRET, livekit_webhook_auth,
};
use reflector_testing::fakes::{DAILY_SECRET, FakeDaily, daily_signature, whereby_signature};
use reflector_testing::{Db, TestApp};

const WHEREBY_SECRET: &str = "whsecret";

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(64),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

struct Harness {
    runtime: tokio::runtime::Runtime,
    app: TestApp,
    _daily: FakeDaily,
    _livekit: FakeLiveKit,
}

fn harness() -> Harness {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (app, daily, livekit) = runtime.block_on(async {
        let daily = FakeDaily::start("team-20260101000000-abcd").await;
        let livekit = FakeLiveKit::start().await;
        let mut env = daily.env();
        env.extend(livekit.env());
        env.push(("WHEREBY_API_KEY", "k".into()));
        env.push(("WHEREBY_WEBHOOK_SECRET", WHEREBY_SECRET.into()));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        (TestApp::spawn(Db::Sqlite, &env).await, daily, livekit)
    });
    Harness {
        runtime,
        app,
        _daily: daily,
        _livekit: livekit,
    }
}

impl Harness {
    fn post(&self, path: &str, headers: &[(String, Vec<u8>)], body: Vec<u8>) -> u16 {
        self.runtime.block_on(async {
            let mut request = self.app.req(reqwest::Method::POST, path).body(body);
            for (name, value) in headers {
                if let (Ok(name), Ok(value)) = (
                    reqwest::header::HeaderName::from_bytes(name.as_bytes()),
                    reqwest::header::HeaderValue::from_bytes(value),
                ) {
                    request = request.header(name, value);
                }
            }
            request.send().await.unwrap().status().as_u16()
        })
    }
}

fn header_pairs() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let name = prop_oneof![
        Just("x-webhook-signature".to_owned()),
        Just("x-webhook-timestamp".to_owned()),
        Just("whereby-signature".to_owned()),
        Just("content-type".to_owned()),
        "[a-z-]{1,16}",
    ];
    let value = prop_oneof![
        "[ -~]{0,80}".prop_map(String::into_bytes),
        "t=[0-9]{0,12},v1=[0-9a-f]{0,64}".prop_map(String::into_bytes),
        "[0-9]{0,20}".prop_map(String::into_bytes),
    ];
    prop::collection::vec((name, value), 0..5)
}

/// Bodies shaped like provider events, with arbitrary values.
fn event_body() -> impl Strategy<Value = String> {
    let text = prop_oneof![
        Just("participant.joined".to_owned()),
        Just("participant.left".to_owned()),
        Just("room.client.joined".to_owned()),
        Just("meeting.ended".to_owned()),
        ".{0,20}",
    ];
    (text.clone(), text.clone(), text, any::<i64>(), any::<f64>()).prop_map(
        |(kind, id, room, n, f)| {
            serde_json::json!({
                "version": "1.0.0", "type": kind, "id": id, "event_ts": f,
                "payload": {"room": room, "session_id": id, "joined_at": n, "duration": f},
                "data": {"roomName": room, "meetingId": n, "participantId": id}
            })
            .to_string()
        },
    )
}

#[test]
fn webhook_endpoints_never_answer_5xx() {
    let h = harness();
    proptest!(config(), |(pairs in header_pairs(), body in prop::collection::vec(any::<u8>(), 0..400))| {
        for path in ["/v1/daily/webhook", "/v1/whereby", "/v1/livekit/webhook"] {
            let status = h.post(path, &pairs, body.clone());
            prop_assert!(status < 500, "{path} answered {status}");
        }
    });
    h.runtime.block_on(h.app.stop());
}

#[test]
fn signed_webhooks_of_any_shape_never_answer_5xx() {
    let h = harness();
    proptest!(config(), |(body in event_body())| {
        let ts = chrono::Utc::now().timestamp();
        let daily = vec![
            ("x-webhook-timestamp".to_owned(), ts.to_string().into_bytes()),
            ("x-webhook-signature".to_owned(), daily_signature(DAILY_SECRET, ts, body.as_bytes()).into_bytes()),
        ];
        let status = h.post("/v1/daily/webhook", &daily, body.clone().into_bytes());
        prop_assert!(status == 200 || status == 400, "daily answered {status} to {body}");
        let whereby = vec![(
            "whereby-signature".to_owned(),
            whereby_signature(WHEREBY_SECRET, ts, body.as_bytes()).into_bytes(),
        )];
        let status = h.post("/v1/whereby", &whereby, body.clone().into_bytes());
        prop_assert!(status == 200 || status == 400, "whereby answered {status} to {body}");
        let livekit = vec![(
            "authorization".to_owned(),
            livekit_webhook_auth(LIVEKIT_KEY, LIVEKIT_SECRET, body.as_bytes(), ts).into_bytes(),
        )];
        let status = h.post("/v1/livekit/webhook", &livekit, body.clone().into_bytes());
        prop_assert!(status == 200 || status == 400, "livekit answered {status} to {body}");
    });
    h.runtime.block_on(h.app.stop());
}
