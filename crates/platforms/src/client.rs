//! The HTTP client every provider module uses: a timeout on each call, bounded retries with
//! exponential backoff and jitter on 429, 5xx, timeouts and connection failures, `Retry-After`
//! honoured, and provider answers mapped to [`PlatformError`].
//!
//! Written here rather than taken from `reqwest-retry` because that crate does not honour
//! `Retry-After` and cannot turn the final answer into our typed errors.

use std::time::Duration;

use rand::Rng;
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::PlatformError;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    /// The longest wait between attempts; a `Retry-After` beyond it ends the retries.
    pub max_delay: Duration,
    /// Per attempt.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, retry: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(1 << retry.min(16));
        let capped = exp.min(self.max_delay);
        // Full jitter on the upper half keeps concurrent clients from retrying in lockstep.
        let half = capped / 2;
        half + half.mul_f64(rand::rng().random::<f64>())
    }
}

/// A provider's REST API: base URL, bearer key, and the setting that holds the key (for errors).
#[derive(Clone)]
pub struct ApiClient {
    platform: &'static str,
    base_url: String,
    api_key: String,
    key_setting: &'static str,
    policy: RetryPolicy,
    client: reqwest::Client,
}

/// Written by hand so that debug output never shows the API key.
impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("platform", &self.platform)
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("key_setting", &self.key_setting)
            .field("policy", &self.policy)
            .finish()
    }
}

/// One file to upload as a multipart form field.
#[derive(Debug, Clone, Copy)]
pub struct MultipartFile<'a> {
    pub field: &'a str,
    pub file_name: &'a str,
    pub mime: &'a str,
    pub bytes: &'a [u8],
}

/// A successful (2xx) answer.
#[derive(Debug)]
pub struct ApiResponse {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl ApiResponse {
    pub fn json<T: DeserializeOwned>(&self, platform: &'static str) -> Result<T, PlatformError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            metrics::counter!("reflector_provider_bad_responses_total", "provider" => platform)
                .increment(1);
            PlatformError::BadResponse {
                platform,
                detail: format!("invalid JSON: {e}"),
            }
        })
    }
}

impl ApiClient {
    pub fn new(
        platform: &'static str,
        base_url: &str,
        api_key: &str,
        key_setting: &'static str,
        policy: RetryPolicy,
    ) -> Self {
        let client = reqwest::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout)
            .user_agent(concat!("Reflector/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            platform,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            key_setting,
            policy,
            client,
        }
    }

    /// The same client (connections, retries) with another bearer credential, for providers
    /// whose credential is a short-lived token minted per call.
    pub fn with_bearer(&self, token: &str) -> Self {
        Self {
            api_key: token.to_owned(),
            ..self.clone()
        }
    }

    pub fn platform(&self) -> &'static str {
        self.platform
    }

    /// `GET path` with query parameters, decoded as JSON.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, PlatformError> {
        self.send(Method::GET, path, query, None::<&()>)
            .await?
            .json(self.platform)
    }

    /// `POST path` with a JSON body, decoded as JSON.
    pub async fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, PlatformError> {
        self.send(Method::POST, path, &[], Some(body))
            .await?
            .json(self.platform)
    }

    /// Sends a request with retries; 2xx answers come back, everything else becomes an error.
    pub async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&B>,
    ) -> Result<ApiResponse, PlatformError> {
        self.send_with(method, path, query, |request| match body {
            Some(body) => Ok(request.json(body)),
            None => Ok(request),
        })
        .await
    }

    /// Sends one file as a `multipart/form-data` field, with the same retries as [`Self::send`].
    /// The form is rebuilt for every attempt because a sent form cannot be reused.
    pub async fn send_file(
        &self,
        method: Method,
        path: &str,
        file: &MultipartFile<'_>,
    ) -> Result<ApiResponse, PlatformError> {
        self.send_with(method, path, &[], |request| {
            let part = reqwest::multipart::Part::bytes(file.bytes.to_vec())
                .file_name(file.file_name.to_owned())
                .mime_str(file.mime)
                .map_err(|e| PlatformError::InvalidRequest {
                    platform: self.platform,
                    detail: format!("invalid content type {:?}: {e}", file.mime),
                })?;
            let form = reqwest::multipart::Form::new().part(file.field.to_owned(), part);
            Ok(request.multipart(form))
        })
        .await
    }

    /// One provider call with its retries, counted in `reflector_provider_calls_total` and
    /// timed in `reflector_provider_call_duration_seconds` by provider, operation and outcome.
    async fn send_with(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        attach: impl Fn(reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder, PlatformError>,
    ) -> Result<ApiResponse, PlatformError> {
        let started = std::time::Instant::now();
        let result = self.attempts(&method, path, query, attach).await;
        let operation = operation(&method, path);
        let outcome = outcome(&result);
        metrics::counter!("reflector_provider_calls_total", "provider" => self.platform, "operation" => operation.clone(), "outcome" => outcome)
            .increment(1);
        metrics::histogram!("reflector_provider_call_duration_seconds", "provider" => self.platform, "operation" => operation, "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        result
    }

    /// The retry loop shared by every request; `attach` adds the body to each attempt.
    async fn attempts(
        &self,
        method: &Method,
        path: &str,
        query: &[(&str, &str)],
        attach: impl Fn(reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder, PlatformError>,
    ) -> Result<ApiResponse, PlatformError> {
        let method = method.clone();
        let url = format!("{}{}", self.base_url, path);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let request = attach(
                self.client
                    .request(method.clone(), &url)
                    .bearer_auth(&self.api_key)
                    .query(query),
            )?;
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let retry_after = retry_after(response.headers());
                    match response.bytes().await {
                        Ok(body) if status.is_success() => {
                            return Ok(ApiResponse {
                                status,
                                body: body.to_vec(),
                            });
                        }
                        Ok(body) => Attempt::Status {
                            status,
                            retry_after,
                            body: body.to_vec(),
                        },
                        Err(e) => Attempt::Transport(e.to_string()),
                    }
                }
                Err(e) => Attempt::Transport(describe(&e)),
            };
            let retryable = match &outcome {
                Attempt::Transport(_) => true,
                Attempt::Status { status, .. } => {
                    *status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
                }
            };
            if !retryable || attempt >= self.policy.max_attempts {
                return Err(self.error(outcome));
            }
            let wait = match &outcome {
                Attempt::Status {
                    retry_after: Some(after),
                    ..
                } => {
                    if *after > self.policy.max_delay {
                        return Err(self.error(outcome));
                    }
                    *after
                }
                _ => self.policy.backoff(attempt - 1),
            };
            tracing::warn!(
                platform = self.platform,
                %method,
                path,
                attempt,
                wait_ms = wait.as_millis() as u64,
                "provider call failed; retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }

    fn error(&self, outcome: Attempt) -> PlatformError {
        let platform = self.platform;
        match outcome {
            Attempt::Transport(detail) => PlatformError::Unavailable { platform, detail },
            Attempt::Status {
                status,
                retry_after,
                body,
            } => match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => PlatformError::Unauthorized {
                    platform,
                    status: status.as_u16(),
                    setting: self.key_setting,
                },
                StatusCode::TOO_MANY_REQUESTS => PlatformError::RateLimited {
                    platform,
                    retry_after,
                },
                StatusCode::NOT_FOUND => PlatformError::NotFound {
                    platform,
                    what: preview(&body),
                },
                s if s.is_server_error() => PlatformError::Unavailable {
                    platform,
                    detail: format!("HTTP {}", s.as_u16()),
                },
                s => PlatformError::Rejected {
                    platform,
                    status: s.as_u16(),
                    detail: preview(&body),
                },
            },
        }
    }
}

/// A call's operation for metrics: its method and its path with the identifiers taken out,
/// so that labels stay few. Provider APIs are REST paths of `/collection/{id}/…`, so every
/// second segment is an identifier: `DELETE /rooms/{}`, `GET /rooms/{}/presence`.
pub(crate) fn operation(method: &Method, path: &str) -> String {
    let template: Vec<&str> = path
        .trim_start_matches('/')
        .split('/')
        .enumerate()
        .map(|(i, segment)| if i % 2 == 1 { "{}" } else { segment })
        .collect();
    format!("{method} /{}", template.join("/"))
}

/// A call's outcome for metrics (a fixed few values).
fn outcome(result: &Result<ApiResponse, PlatformError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(PlatformError::Unauthorized { .. }) => "unauthorized",
        Err(PlatformError::RateLimited { .. }) => "rate_limited",
        Err(PlatformError::NotFound { .. }) => "not_found",
        Err(PlatformError::Unavailable { detail, .. }) if detail == TIMED_OUT => "timeout",
        Err(PlatformError::Unavailable { .. }) => "unavailable",
        Err(PlatformError::Rejected { .. }) => "rejected",
        Err(_) => "error",
    }
}

enum Attempt {
    Transport(String),
    Status {
        status: StatusCode,
        retry_after: Option<Duration>,
        body: Vec<u8>,
    },
}

const TIMED_OUT: &str = "request timed out";

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        TIMED_OUT.to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    }
}

/// The longest `Retry-After` we pass on: a provider's (or a proxy's) absurd value must neither
/// overflow a `Duration` nor tell our callers to wait for days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// `Retry-After` in seconds (the form providers send; an HTTP date falls back to our backoff),
/// capped at [`MAX_RETRY_AFTER`].
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let seconds = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)?;
    Some(Duration::try_from_secs_f64(seconds).map_or(MAX_RETRY_AFTER, |d| d.min(MAX_RETRY_AFTER)))
}

/// The start of a provider's error body, for messages (bounded, one line).
fn preview(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut cut: String = one_line.chars().take(300).collect();
    if cut.is_empty() {
        cut.push_str("(empty body)");
    }
    cut
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn fast() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(200),
            timeout: Duration::from_millis(300),
        }
    }

    fn client(server: &MockServer) -> ApiClient {
        ApiClient::new("daily", &server.uri(), "k", "DAILY_API_KEY", fast())
    }

    #[test]
    fn operations_leave_identifiers_out_of_metric_labels() {
        for (method, path, expected) in [
            (Method::POST, "/rooms", "POST /rooms"),
            (
                Method::DELETE,
                "/rooms/team-20260101-ab12",
                "DELETE /rooms/{}",
            ),
            (
                Method::GET,
                "/rooms/team-1/presence",
                "GET /rooms/{}/presence",
            ),
            (
                Method::GET,
                "/recordings/r-1/access-link",
                "GET /recordings/{}/access-link",
            ),
            (Method::DELETE, "/meetings/123", "DELETE /meetings/{}"),
        ] {
            assert_eq!(operation(&method, path), expected);
        }
    }

    #[test]
    fn debug_output_hides_the_api_key() {
        let c = ApiClient::new("daily", "http://x", "sekrit-key", "DAILY_API_KEY", fast());
        let shown = format!("{c:?}");
        assert!(!shown.contains("sekrit-key"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[tokio::test]
    async fn retries_5xx_then_succeeds() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/x"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(2)
            .expect(2)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/x"))
            .and(header("authorization", "Bearer k"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"ok": 1})))
            .expect(1)
            .mount(&server)
            .await;
        let v: serde_json::Value = client(&server).get_json("/x", &[]).await.unwrap();
        assert_eq!(v["ok"], 1);
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts_naming_the_provider() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(502))
            .expect(3)
            .mount(&server)
            .await;
        let err = client(&server)
            .get_json::<serde_json::Value>("/x", &[])
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                PlatformError::Unavailable {
                    platform: "daily",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn honours_retry_after_and_stops_when_it_is_too_long() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/short"))
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0.05"))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/short"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/long"))
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "120"))
            .expect(1)
            .mount(&server)
            .await;
        let c = client(&server);
        c.get_json::<serde_json::Value>("/short", &[])
            .await
            .unwrap();
        let err = c
            .get_json::<serde_json::Value>("/long", &[])
            .await
            .unwrap_err();
        assert_eq!(
            err,
            PlatformError::RateLimited {
                platform: "daily",
                retry_after: Some(Duration::from_secs(120))
            }
        );
    }

    #[tokio::test]
    async fn a_huge_retry_after_is_capped_not_a_panic() {
        let server = MockServer::start().await;
        for (p, value) in [
            ("/e30", "1e30"),
            ("/digits", "99999999999999999999999"),
            ("/day", "86400"),
        ] {
            Mock::given(method("GET"))
                .and(path(p))
                .respond_with(ResponseTemplate::new(429).insert_header("retry-after", value))
                .expect(1)
                .mount(&server)
                .await;
        }
        let c = client(&server);
        for p in ["/e30", "/digits", "/day"] {
            let err = c.get_json::<serde_json::Value>(p, &[]).await.unwrap_err();
            assert_eq!(
                err,
                PlatformError::RateLimited {
                    platform: "daily",
                    retry_after: Some(MAX_RETRY_AFTER)
                },
                "{p}"
            );
        }
    }

    #[tokio::test]
    async fn unauthorized_names_the_key_setting_and_is_not_retried() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(401))
            .expect(1)
            .mount(&server)
            .await;
        let err = client(&server)
            .post_json::<_, serde_json::Value>("/x", &serde_json::json!({}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("DAILY_API_KEY"), "{err}");
    }

    #[tokio::test]
    async fn timeouts_are_retried_and_reported() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
            .expect(3)
            .mount(&server)
            .await;
        let err = client(&server)
            .get_json::<serde_json::Value>("/slow", &[])
            .await
            .unwrap_err();
        assert_eq!(
            err,
            PlatformError::Unavailable {
                platform: "daily",
                detail: "request timed out".into()
            }
        );
    }
}
