//! Property tests ("fuzzing" on the stable toolchain) of every provider's webhook verification
//! and parsing: arbitrary headers and bodies, and validly signed bodies that are mutated or
//! arbitrary JSON, must never panic. A validly signed body is either an event or a clear
//! `Malformed` rejection; a mutated one never verifies.
//!
//! `PROPTEST_CASES` sets how many cases each property runs (64 by default, as in CI); for a
//! longer run: `PROPTEST_CASES=100000 cargo nextest run -p reflector-platforms --test fuzz_webhooks`.
//! A failing case is shrunk and printed; add it below as a regression test.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use reflector_core::Env;
use reflector_platforms::{
    Configured, ProviderSetup, RetryPolicy, VideoPlatform, WebhookOutcome, WebhookRejection, daily,
    livekit, whereby,
};
use sha2::Sha256;

const DAILY_SECRET: &str = "MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA=";
const WHEREBY_SECRET: &str = "whsecret";
const LIVEKIT_SECRET: &str = "lk-secret";
const NOW: i64 = 1_767_250_800;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn platform(
    provider: &reflector_platforms::Provider,
    pairs: &[(&str, &str)],
) -> Arc<dyn VideoPlatform> {
    let setup = ProviderSetup {
        env: &Env::from_pairs(pairs.iter().copied()),
        retry: RetryPolicy {
            max_attempts: 1,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
            timeout: Duration::from_millis(100),
        },
        base_url: "http://localhost:1250",
        events: None,
    };
    match (provider.setup)(&setup).unwrap() {
        Configured::Ready { platform, .. } => platform,
        Configured::Missing { setting } => panic!("not configured: {setting}"),
    }
}

fn daily() -> Arc<dyn VideoPlatform> {
    platform(
        &daily::PROVIDER,
        &[
            ("DAILY_API_KEY", "k"),
            ("DAILY_WEBHOOK_SECRET", DAILY_SECRET),
        ],
    )
}

fn whereby() -> Arc<dyn VideoPlatform> {
    platform(
        &whereby::PROVIDER,
        &[
            ("WHEREBY_API_KEY", "k"),
            ("WHEREBY_WEBHOOK_SECRET", WHEREBY_SECRET),
        ],
    )
}

fn livekit() -> Arc<dyn VideoPlatform> {
    platform(
        &livekit::PROVIDER,
        &[
            ("LIVEKIT_URL", "http://127.0.0.1:9"),
            ("LIVEKIT_API_KEY", "lk"),
            ("LIVEKIT_API_SECRET", LIVEKIT_SECRET),
        ],
    )
}

fn livekit_headers(body: &[u8]) -> HeaderMap {
    let token = livekit::sign(
        &livekit::Claims {
            iss: "lk".into(),
            nbf: Some(NOW),
            exp: NOW + 300,
            sha256: Some(livekit::body_hash(body)),
            ..livekit::Claims::default()
        },
        LIVEKIT_SECRET,
    )
    .unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("authorization", HeaderValue::from_str(&token).unwrap());
    headers
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(NOW, 0).unwrap()
}

fn daily_headers(body: &[u8]) -> HeaderMap {
    let key = BASE64.decode(DAILY_SECRET).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{NOW}.").as_bytes());
    mac.update(body);
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-webhook-signature",
        HeaderValue::from_str(&BASE64.encode(mac.finalize().into_bytes())).unwrap(),
    );
    headers.insert("x-webhook-timestamp", HeaderValue::from(NOW));
    headers
}

fn whereby_headers(body: &[u8]) -> HeaderMap {
    let mut mac = Hmac::<Sha256>::new_from_slice(WHEREBY_SECRET.as_bytes()).unwrap();
    mac.update(format!("{NOW}.").as_bytes());
    mac.update(body);
    let mut headers = HeaderMap::new();
    headers.insert(
        "whereby-signature",
        HeaderValue::from_str(&format!(
            "t={NOW},v1={}",
            hex::encode(mac.finalize().into_bytes())
        ))
        .unwrap(),
    );
    headers
}

/// JSON values of the shapes providers send, with arbitrary leaves.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".{0,40}".prop_map(serde_json::Value::from),
        // Values the parsers look for, so that deep paths are reached.
        prop_oneof![
            Just("participant.joined"),
            Just("participant.left"),
            Just("meeting.started"),
            Just("meeting.ended"),
            Just("recording.ready-to-download"),
            Just("room.client.joined"),
            Just("room.client.left"),
            Just("room.session.started"),
            Just("recording.finished"),
        ]
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        let keys = prop_oneof![
            Just("type".to_owned()),
            Just("id".to_owned()),
            Just("version".to_owned()),
            Just("event_ts".to_owned()),
            Just("payload".to_owned()),
            Just("data".to_owned()),
            Just("room".to_owned()),
            Just("roomName".to_owned()),
            Just("meetingId".to_owned()),
            Just("session_id".to_owned()),
            Just("participantId".to_owned()),
            Just("joined_at".to_owned()),
            Just("start_ts".to_owned()),
            Just("recording_id".to_owned()),
            Just("tracks".to_owned()),
            "[a-zA-Z_]{1,12}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(keys, inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn header_pairs() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let name = prop_oneof![
        Just("x-webhook-signature".to_owned()),
        Just("x-webhook-timestamp".to_owned()),
        Just("whereby-signature".to_owned()),
        Just("content-type".to_owned()),
        "[a-z-]{1,20}",
    ];
    let value = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..80),
        "t=[0-9]{0,12},v1=[0-9a-f]{0,64}".prop_map(String::into_bytes),
        "[0-9]{0,20}".prop_map(String::into_bytes),
        "[A-Za-z0-9+/=]{0,60}".prop_map(String::into_bytes),
    ];
    prop::collection::vec((name, value), 0..5)
}

fn headers_of(pairs: &[(String, Vec<u8>)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            headers.append(name, value);
        }
    }
    headers
}

/// A signed body that is not an event is `Malformed` (400), never a credential problem.
fn signed_outcome_is_clear(result: &Result<WebhookOutcome, WebhookRejection>) -> bool {
    matches!(
        result,
        Ok(WebhookOutcome::Event(_) | WebhookOutcome::Probe) | Err(WebhookRejection::Malformed(_))
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_requests_never_panic(pairs in header_pairs(), body in prop::collection::vec(any::<u8>(), 0..512)) {
        let headers = headers_of(&pairs);
        let _ = daily().verify_webhook(&headers, &body, now());
        let _ = whereby().verify_webhook(&headers, &body, now());
        let _ = livekit().verify_webhook(&headers, &body, now());
    }

    #[test]
    fn signed_livekit_bodies_are_events_or_malformed(value in json_value()) {
        let body = value.to_string().into_bytes();
        let result = livekit().verify_webhook(&livekit_headers(&body), &body, now());
        prop_assert!(signed_outcome_is_clear(&result), "{result:?}");
    }

    #[test]
    fn signed_daily_bodies_are_events_or_malformed(value in json_value()) {
        let body = value.to_string().into_bytes();
        let result = daily().verify_webhook(&daily_headers(&body), &body, now());
        prop_assert!(signed_outcome_is_clear(&result), "{result:?}");
    }

    #[test]
    fn signed_whereby_bodies_are_events_or_malformed(value in json_value()) {
        let body = value.to_string().into_bytes();
        let result = whereby().verify_webhook(&whereby_headers(&body), &body, now());
        prop_assert!(signed_outcome_is_clear(&result), "{result:?}");
    }

    #[test]
    fn signed_arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let daily_result = daily().verify_webhook(&daily_headers(&body), &body, now());
        prop_assert!(signed_outcome_is_clear(&daily_result), "{daily_result:?}");
        let whereby_result = whereby().verify_webhook(&whereby_headers(&body), &body, now());
        prop_assert!(signed_outcome_is_clear(&whereby_result), "{whereby_result:?}");
        let livekit_result = livekit().verify_webhook(&livekit_headers(&body), &body, now());
        prop_assert!(signed_outcome_is_clear(&livekit_result), "{livekit_result:?}");
    }

    #[test]
    fn mutated_signed_bodies_never_verify(value in json_value(), at in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let body = value.to_string().into_bytes();
        let mut mutated = body.clone();
        let i = at.index(mutated.len());
        mutated[i] ^= flip;
        for (platform, headers) in [
            (daily(), daily_headers(&body)),
            (whereby(), whereby_headers(&body)),
            (livekit(), livekit_headers(&body)),
        ] {
            let result = platform.verify_webhook(&headers, &mutated, now());
            prop_assert!(
                matches!(result, Ok(WebhookOutcome::Probe))
                    || matches!(result, Err(ref r) if !matches!(r, WebhookRejection::Malformed(_))),
                "{}: a changed body must fail the signature: {result:?}", platform.name()
            );
        }
    }
}
