//! Delivery mechanics for outgoing room webhooks (SPEC §8): signing, making one HTTP attempt to a
//! URL the [`crate::url_guard`] vetted, classifying its outcome, and the retry schedule.
//!
//! Nothing here touches the database. The durable delivery job owns the event: it serialises the
//! body once, calls [`WebhookSender::send`] for each attempt, records every [`AttemptOutcome`], and
//! asks [`next_attempt_at`] when to try again. Keeping the mechanics pure makes every rule here
//! testable against a local HTTP server without a store, and lets the job decide what to persist.
//!
//! The sender connects only to the addresses the guard vetted ([`CheckedUrl::pin`]) and never
//! follows redirects, because a redirect could point anywhere.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use reqwest::header::{CONTENT_TYPE, HeaderValue, LOCATION, USER_AGENT as USER_AGENT_HEADER};
use sha2::Sha256;
use tokio::time::Instant;

use crate::url_guard::{CheckedUrl, UrlRefused, check_url};

/// The `User-Agent` of every delivery (SPEC §8), so receivers can recognise and allow-list us.
pub const USER_AGENT: &str = "Reflector-Webhook/1.0";

/// Names the event being delivered (`transcript.completed`, `test`, …).
pub const EVENT_HEADER: &str = "x-webhook-event";
/// The attempt number, 0 for the first, so receivers can tell a retry from a new event.
pub const RETRY_HEADER: &str = "x-webhook-retry";
/// `t=<unix>,v1=<hex>`; present only when the room has a webhook secret.
pub const SIGNATURE_HEADER: &str = "x-webhook-signature";

/// The most of a receiver's answer that is kept for the owner to read (characters).
pub const PREVIEW_CHARS: usize = 1000;

/// The most of a receiver's answer that is read at all (bytes). The preview needs at most
/// 4 × [`PREVIEW_CHARS`] bytes; the rest of the body is never read, so a receiver that streams
/// an endless answer cannot hold a worker or fill its memory.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// The wait after the first failed attempt; it doubles after each further failure.
pub const FIRST_RETRY_DELAY: TimeDelta = TimeDelta::minutes(1);
/// No single wait is longer than this, so a receiver that comes back is served within the hour.
pub const MAX_RETRY_DELAY: TimeDelta = TimeDelta::hours(1);
/// No attempt is scheduled later than this after the first one; the event then fails for good.
pub const RETRY_WINDOW: TimeDelta = TimeDelta::hours(24);

type HmacSha256 = Hmac<Sha256>;

/// The `X-Webhook-Signature` value for `body` sent at `timestamp` (unix seconds):
/// `t=<timestamp>,v1=<hex HMAC-SHA256 keyed with the secret's UTF-8 bytes over "{t}." + body>`.
///
/// The same scheme Whereby uses towards us (SPEC §3.2), so receivers can reuse one verifier.
/// Including the timestamp in the signed text lets receivers reject replays of old deliveries.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length (long keys are hashed), so this constructor cannot fail;
    // the fallback only keeps the function total without an unwrap.
    let hex = match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    };
    format!("t={timestamp},v1={hex}")
}

/// One delivery attempt, as the delivery job describes it.
#[derive(Debug, Clone, Copy)]
pub struct OutgoingRequest<'a> {
    pub url: &'a str,
    /// The room's webhook secret; `None` sends no signature header.
    pub secret: Option<&'a str>,
    /// The `X-Webhook-Event` value, e.g. `transcript.completed`.
    pub event: &'a str,
    /// The JSON exactly as serialised by the caller; these bytes are signed and sent unchanged.
    pub body: &'a [u8],
    /// 0 for the first attempt; sent as `X-Webhook-Retry`.
    pub attempt: i64,
    /// For the whole attempt: resolving, connecting, sending and reading the answer
    /// (SPEC §8: 30 s, 10 s for `test`).
    pub timeout: Duration,
    /// The signature timestamp (unix seconds), injected so tests and records agree on it.
    pub now_unix: i64,
}

/// What one attempt came to; the delivery job records it as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    /// The receiver answered 2xx.
    pub delivered: bool,
    /// The receiver's HTTP status, when it answered at all.
    pub status_code: Option<u16>,
    /// Why the attempt failed, for the owner to read; `None` when delivered.
    pub error: Option<String>,
    /// Whether a later attempt may succeed; `false` when delivered or failed for good.
    pub retry: bool,
    /// The start of the receiver's answer (at most [`PREVIEW_CHARS`] characters), if non-empty.
    pub response_preview: Option<String>,
}

impl AttemptOutcome {
    fn failed(error: String, retry: bool) -> Self {
        Self {
            delivered: false,
            status_code: None,
            error: Some(error),
            retry,
            response_preview: None,
        }
    }
}

/// Makes delivery attempts of outgoing room webhooks.
#[derive(Debug, Clone, Copy)]
pub struct WebhookSender {
    allow_private: bool,
}

impl WebhookSender {
    /// `allow_private` is `ALLOW_PRIVATE_NETWORK_URLS`.
    pub fn new(allow_private: bool) -> Self {
        Self { allow_private }
    }

    /// Makes one attempt: vets the URL, POSTs the body to the vetted addresses, and classifies
    /// the answer (SPEC §8): 2xx is delivered; 3xx (never followed) and 4xx other than 408/429
    /// fail for good, as does a refused URL; 408, 429, 5xx, timeouts, connection and DNS failures
    /// may be retried. Never panics and never returns early without an outcome.
    pub async fn send(&self, request: &OutgoingRequest<'_>) -> AttemptOutcome {
        // A timeout too large to add is as good as none; a year stands in for it.
        let deadline = Instant::now()
            .checked_add(request.timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(365 * 24 * 3600));
        let checked =
            match tokio::time::timeout_at(deadline, check_url(request.url, self.allow_private))
                .await
            {
                Ok(Ok(checked)) => checked,
                Ok(Err(refused)) => return refused_outcome(&refused),
                Err(_) => {
                    return AttemptOutcome::failed(
                        format!("DNS lookup timed out after {}", human(request.timeout)),
                        true,
                    );
                }
            };
        self.deliver(&checked, request, deadline).await
    }

    /// The attempt proper, to an already vetted URL, finishing by `deadline`.
    async fn deliver(
        &self,
        checked: &CheckedUrl,
        request: &OutgoingRequest<'_>,
        deadline: Instant,
    ) -> AttemptOutcome {
        let Ok(event) = HeaderValue::from_str(request.event) else {
            // The same event name will never make a valid header; retrying cannot help.
            return AttemptOutcome::failed(
                format!("event name {:?} cannot be sent as a header", request.event),
                false,
            );
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return timed_out(request.timeout);
        }
        // A client per attempt: the pinned addresses belong to this attempt's check, and
        // webhook rates make the cost irrelevant. No proxy, because a proxy would resolve the
        // host itself and undo the pinning.
        let client = checked
            .pin(reqwest::Client::builder())
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(remaining)
            .connect_timeout(remaining)
            .build();
        let client = match client {
            Ok(client) => client,
            // A local fault (e.g. the TLS backend failed to initialise), not the receiver's.
            Err(e) => {
                return AttemptOutcome::failed(format!("could not create HTTP client: {e}"), true);
            }
        };
        let mut builder = client
            .post(checked.url().clone())
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT_HEADER, USER_AGENT)
            .header(EVENT_HEADER, event)
            .header(RETRY_HEADER, request.attempt.to_string())
            .body(request.body.to_vec());
        if let Some(secret) = request.secret {
            builder = builder.header(
                SIGNATURE_HEADER,
                sign(secret, request.now_unix, request.body),
            );
        }
        let response = match builder.send().await {
            Ok(response) => response,
            Err(e) => return transport_failure(&e, request.timeout),
        };
        let status = response.status();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(200).collect::<String>());
        // Once the status is in, the verdict is made; the body only feeds the preview, so a
        // body that stalls or never ends cuts the preview short but does not change the outcome.
        let preview = read_preview(response, deadline).await;
        let code = status.as_u16();
        let (delivered, retry, error) = if status.is_success() {
            (true, false, None)
        } else if status.is_redirection() {
            let target = location.map(|l| format!(" to {l}")).unwrap_or_default();
            let error = format!(
                "HTTP {code}: redirect{target} not followed; set the webhook URL to the final address"
            );
            (false, false, Some(error))
        } else if status.is_client_error() && code != 408 && code != 429 {
            (false, false, Some(format!("HTTP {code}")))
        } else {
            (false, true, Some(format!("HTTP {code}")))
        };
        AttemptOutcome {
            delivered,
            status_code: Some(code),
            error,
            retry,
            response_preview: preview,
        }
    }
}

/// Reads at most [`MAX_RESPONSE_BYTES`] of the answer, stopping at `deadline`, and returns its
/// start as text (lossy UTF-8, at most [`PREVIEW_CHARS`] characters), or `None` when empty.
async fn read_preview(mut response: reqwest::Response, deadline: Instant) -> Option<String> {
    let mut bytes = Vec::new();
    while bytes.len() < MAX_RESPONSE_BYTES {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => {
                let room = MAX_RESPONSE_BYTES - bytes.len();
                bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            // The end, a broken body or the deadline: keep what arrived.
            Ok(Ok(None)) | Ok(Err(_)) | Err(_) => break,
        }
    }
    // Dropping the response here closes the connection instead of draining the rest.
    let text: String = String::from_utf8_lossy(&bytes)
        .chars()
        .take(PREVIEW_CHARS)
        .collect();
    (!text.is_empty()).then_some(text)
}

/// A URL that did not pass the guard: retried only when DNS failed, which may recover; any
/// other refusal needs the owner to change the URL (or the operator the setting).
fn refused_outcome(refused: &UrlRefused) -> AttemptOutcome {
    if refused.is_retryable() {
        AttemptOutcome::failed(format!("DNS lookup failed: {refused}"), true)
    } else {
        AttemptOutcome::failed(format!("URL refused: {refused}"), false)
    }
}

fn timed_out(timeout: Duration) -> AttemptOutcome {
    AttemptOutcome::failed(format!("timed out after {}", human(timeout)), true)
}

/// Describes a failure before any answer arrived. All of them may be retried: the receiver
/// may be restarting, overloaded or briefly unreachable.
fn transport_failure(e: &reqwest::Error, timeout: Duration) -> AttemptOutcome {
    if e.is_timeout() {
        return timed_out(timeout);
    }
    let io_kind = source_chain(e)
        .find_map(|s| s.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind);
    let message = match io_kind {
        Some(std::io::ErrorKind::ConnectionRefused) => "connection refused".to_owned(),
        Some(std::io::ErrorKind::ConnectionReset) => "connection reset by the receiver".to_owned(),
        Some(std::io::ErrorKind::TimedOut) => return timed_out(timeout),
        _ => {
            let cause = source_chain(e)
                .last()
                .map(ToString::to_string)
                .unwrap_or_else(|| e.to_string());
            if e.is_connect() {
                format!("could not connect: {cause}")
            } else {
                format!("request failed: {cause}")
            }
        }
    };
    AttemptOutcome::failed(message, true)
}

fn source_chain<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(e.source(), |s| s.source())
}

/// "30 s" for whole seconds, "300 ms" otherwise — the form owners read in delivery records.
fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// When to make the next attempt after a retryable failure, or `None` to give up.
///
/// `attempt` is the 0-based number of the attempt that just failed at `now`. The wait is
/// 1 min after attempt 0 and doubles with each attempt (2, 4, 8, … min), capped at 1 h; no
/// attempt is scheduled more than 24 h after `first_attempt_at` (SPEC §8). Measuring from `now`
/// rather than from a fixed grid keeps the gaps real when a queue runs late. No jitter: each
/// event has its own schedule starting at its own time, so retries do not arrive in lockstep.
pub fn next_attempt_at(
    first_attempt_at: DateTime<Utc>,
    attempt: i64,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    // 2^6 min already exceeds the 1 h cap; clamping also keeps the shift from overflowing.
    let doublings = attempt.clamp(0, 6) as i32;
    let wait = (FIRST_RETRY_DELAY * 2_i32.pow(doublings as u32)).min(MAX_RETRY_DELAY);
    let next = now.checked_add_signed(wait)?;
    let give_up_after = first_attempt_at.checked_add_signed(RETRY_WINDOW)?;
    (next <= give_up_after).then_some(next)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use crate::url_guard::NonPublic;
    use chrono::TimeZone;
    use url::Url;

    #[test]
    fn signature_matches_the_spec_test_vector() {
        assert_eq!(
            sign("whsecret", 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=15d410d1cdb353b5e77d15b79f2cf9b142f784abbc3bbf7654676b96d67b9494"
        );
    }

    #[test]
    fn signature_depends_on_secret_time_and_every_body_byte() {
        let base = sign("whsecret", 1_700_000_000, br#"{"a":1}"#);
        assert_ne!(base, sign("other", 1_700_000_000, br#"{"a":1}"#));
        assert_ne!(base, sign("whsecret", 1_700_000_001, br#"{"a":1}"#));
        assert_ne!(base, sign("whsecret", 1_700_000_000, br#"{"a": 1}"#));
    }

    fn at(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap() + TimeDelta::minutes(minutes)
    }

    /// Runs the schedule as a job would if every attempt failed at once when due: returns the
    /// waits in minutes and the number of attempts made.
    fn run_schedule(first: DateTime<Utc>) -> (Vec<i64>, i64) {
        let mut waits = Vec::new();
        let mut now = first;
        let mut attempt = 0;
        while let Some(next) = next_attempt_at(first, attempt, now) {
            waits.push((next - now).num_minutes());
            now = next;
            attempt += 1;
            assert!(attempt < 100, "the schedule never ends");
        }
        (waits, attempt + 1)
    }

    #[test]
    fn waits_double_from_one_minute_up_to_an_hour() {
        let (waits, _) = run_schedule(at(0));
        assert_eq!(waits[..8], [1, 2, 4, 8, 16, 32, 60, 60]);
        assert!(waits.iter().all(|w| (1..=60).contains(w)), "{waits:?}");
    }

    #[test]
    fn retries_stop_within_24_hours_of_the_first_attempt() {
        let first = at(0);
        let (waits, attempts) = run_schedule(first);
        let total: i64 = waits.iter().sum();
        // 1+2+4+8+16+32 = 63 min, then 22 hourly waits = 1383 min; one more would be 1443.
        assert_eq!(total, 1383);
        assert_eq!(attempts, 29);
        assert!(total <= 24 * 60);
        assert!(
            total + 60 > 24 * 60,
            "gave up while another attempt would fit"
        );
    }

    #[test]
    fn the_last_attempt_may_land_exactly_at_24_hours_but_not_after() {
        let first = at(0);
        assert_eq!(next_attempt_at(first, 10, at(23 * 60)), Some(at(24 * 60)));
        assert_eq!(next_attempt_at(first, 10, at(23 * 60 + 1)), None);
        assert_eq!(next_attempt_at(first, 0, at(24 * 60)), None);
    }

    #[test]
    fn a_late_queue_waits_from_when_the_attempt_actually_ran() {
        // Attempt 2 ran 10 minutes late; the next wait (4 min) counts from then.
        assert_eq!(next_attempt_at(at(0), 2, at(13)), Some(at(17)));
    }

    #[test]
    fn absurd_attempt_numbers_neither_panic_nor_exceed_the_cap() {
        assert_eq!(next_attempt_at(at(0), i64::MAX, at(5)), Some(at(65)));
        assert_eq!(next_attempt_at(at(0), -3, at(0)), Some(at(1)));
        assert_eq!(
            next_attempt_at(DateTime::<Utc>::MAX_UTC, 0, DateTime::<Utc>::MAX_UTC),
            None
        );
    }

    #[test]
    fn refusals_say_what_to_change() {
        let private = UrlRefused::NonPublicAddress {
            host: "localhost".into(),
            kind: NonPublic::Loopback,
        };
        let text = private.to_string();
        assert!(
            text.contains("localhost") && text.contains("loopback"),
            "{text}"
        );
        assert!(text.contains("ALLOW_PRIVATE_NETWORK_URLS=true"), "{text}");
        assert!(!private.is_retryable());
        let scheme = UrlRefused::UnsupportedScheme {
            scheme: "ftp".into(),
        };
        assert!(scheme.to_string().contains("http://"), "{scheme}");
        assert!(
            UrlRefused::Unresolvable {
                host: "x".into(),
                detail: "d".into()
            }
            .is_retryable()
        );
    }

    /// Checked here rather than against a real resolver: tests must not send DNS queries
    /// off this machine.
    #[test]
    fn a_dns_failure_is_retried_but_a_refusal_is_not() {
        let dns = refused_outcome(&UrlRefused::Unresolvable {
            host: "hooks.example.com".into(),
            detail: "failed to lookup address information".into(),
        });
        assert!(dns.retry && !dns.delivered, "{dns:?}");
        let error = dns.error.unwrap();
        assert!(error.starts_with("DNS lookup failed: "), "{error}");
        assert!(error.contains("hooks.example.com"), "{error}");

        let refused = refused_outcome(&UrlRefused::Credentials);
        assert!(!refused.retry && !refused.delivered, "{refused:?}");
        assert!(refused.error.unwrap().starts_with("URL refused: "));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human(Duration::from_secs(30)), "30 s");
        assert_eq!(human(Duration::from_millis(300)), "300 ms");
        assert_eq!(human(Duration::from_millis(1500)), "1500 ms");
    }

    /// The client must connect to the vetted addresses and never ask DNS again: a `.invalid`
    /// host (which no resolver answers) still reaches the local server it was pinned to.
    #[tokio::test]
    async fn pinned_addresses_are_used_instead_of_dns() {
        use wiremock::matchers::{header, method};
        use wiremock::{Mock, MockServer, ResponseTemplate};

        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(header(
                "host",
                format!("rebind.invalid:{}", server.address().port()),
            ))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;
        let checked = CheckedUrl {
            url: Url::parse(&format!(
                "http://rebind.invalid:{}/hook",
                server.address().port()
            ))
            .unwrap(),
            addrs: vec![*server.address()],
        };
        let request = OutgoingRequest {
            url: checked.url.as_str(),
            secret: None,
            event: "test",
            body: b"{}",
            attempt: 0,
            timeout: Duration::from_secs(5),
            now_unix: 0,
        };
        let deadline = Instant::now() + request.timeout;
        let outcome = WebhookSender::new(false)
            .deliver(&checked, &request, deadline)
            .await;
        assert!(outcome.delivered, "{outcome:?}");
        assert_eq!(outcome.status_code, Some(204));
    }
}
