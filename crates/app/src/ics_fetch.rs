//! Fetching a room's calendar feed (SPEC §7): GET with a 30 s deadline for the whole fetch,
//! redirects followed by hand (at most 5, each target vetted by the [`crate::url_guard`] and
//! connected to only at the addresses it vetted), `If-None-Match` / `If-Modified-Since`, and
//! bodies over 10 MiB refused. Every failure is a sentence for the room's owner.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT, CONTENT_LENGTH, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, LOCATION,
    USER_AGENT,
};
use tokio::time::Instant;

use crate::url_guard::check_url;

pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
pub const MAX_REDIRECTS: usize = 5;
pub const MAX_FEED_BYTES: usize = 10 * 1024 * 1024;
const AGENT: &str = "Reflector-Calendar/1.0";

/// The validators of the last fetch, sent to get a 304 when nothing changed.
#[derive(Debug, Default, Clone)]
pub struct Validators<'a> {
    pub etag: Option<&'a str>,
    pub last_modified: Option<&'a str>,
}

#[derive(Debug)]
pub enum Fetched {
    /// 304: the feed is as it was.
    NotModified,
    Body {
        text: String,
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

/// Fetches `url`; `Err` is the reason, in words for the room's owner.
pub async fn fetch(
    url: &str,
    validators: &Validators<'_>,
    allow_private: bool,
    timeout: Duration,
) -> Result<Fetched, String> {
    let deadline = Instant::now() + timeout;
    let timed_out = || {
        format!(
            "the calendar feed did not answer within {} s",
            timeout.as_secs()
        )
    };
    let mut current = url.to_owned();
    for hop in 0..=MAX_REDIRECTS {
        let checked = match tokio::time::timeout_at(deadline, check_url(&current, allow_private))
            .await
        {
            Ok(Ok(checked)) => checked,
            Ok(Err(refused)) if hop == 0 => return Err(format!("calendar URL refused: {refused}")),
            Ok(Err(refused)) => {
                return Err(format!(
                    "calendar feed redirected to {current}, which is refused: {refused}"
                ));
            }
            Err(_) => return Err(timed_out()),
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        // No proxy and no automatic redirects: either would connect somewhere unvetted.
        let client = checked
            .pin(reqwest::Client::builder())
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(remaining)
            .connect_timeout(remaining)
            .build()
            .map_err(|e| format!("could not create an HTTP client: {e}"))?;
        let mut request = client
            .get(checked.url().clone())
            .header(USER_AGENT, AGENT)
            .header(ACCEPT, "text/calendar, text/plain;q=0.9, */*;q=0.5");
        if let Some(etag) = validators.etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        if let Some(lm) = validators.last_modified {
            request = request.header(IF_MODIFIED_SINCE, lm);
        }
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                timed_out()
            } else {
                format!("could not reach the calendar feed: {}", cause(&e))
            }
        })?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        if status.is_redirection() {
            let Some(location) = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
            else {
                return Err(format!(
                    "the calendar server answered HTTP {} without a Location",
                    status.as_u16()
                ));
            };
            let next = checked
                .url()
                .join(location)
                .map_err(|e| format!("the calendar feed redirected to an invalid URL ({e})"))?;
            current = next.to_string();
            continue;
        }
        if !status.is_success() {
            return Err(format!(
                "the calendar server answered HTTP {}{}",
                status.as_u16(),
                match status.as_u16() {
                    401 | 403 => ": the feed is private; use its secret (private) address",
                    404 | 410 => ": check the calendar URL",
                    _ => "",
                }
            ));
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let etag = header(ETAG);
        let last_modified = header(LAST_MODIFIED);
        if header(CONTENT_LENGTH)
            .and_then(|l| l.parse::<u64>().ok())
            .is_some_and(|l| l > MAX_FEED_BYTES as u64)
        {
            return Err(too_large());
        }
        let expected = header(CONTENT_LENGTH).and_then(|l| l.parse::<usize>().ok());
        let bytes = read_limited(response, expected, deadline)
            .await
            .map_err(|e| match e {
                ReadError::TooLarge => too_large(),
                ReadError::Timeout => timed_out(),
                ReadError::Broken(e) => format!("the calendar feed's answer broke off: {e}"),
            })?;
        return Ok(Fetched::Body {
            // Valid UTF-8 (nearly every feed) is taken as is, without a copy.
            text: String::from_utf8(bytes)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            etag,
            last_modified,
        });
    }
    Err(format!(
        "the calendar feed redirected more than {MAX_REDIRECTS} times; use its final address"
    ))
}

fn too_large() -> String {
    format!(
        "the calendar feed is larger than {} MiB",
        MAX_FEED_BYTES / (1024 * 1024)
    )
}

enum ReadError {
    TooLarge,
    Timeout,
    Broken(String),
}

async fn read_limited(
    mut response: reqwest::Response,
    expected: Option<usize>,
    deadline: Instant,
) -> Result<Vec<u8>, ReadError> {
    // Sized once when the length is announced, rather than doubling up to twice the body.
    let mut bytes = Vec::with_capacity(expected.unwrap_or(0).min(MAX_FEED_BYTES));
    loop {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Err(_) => return Err(ReadError::Timeout),
            Ok(Err(e)) if e.is_timeout() => return Err(ReadError::Timeout),
            Ok(Err(e)) => return Err(ReadError::Broken(cause(&e))),
            Ok(Ok(None)) => return Ok(bytes),
            Ok(Ok(Some(chunk))) => {
                if bytes.len() + chunk.len() > MAX_FEED_BYTES {
                    return Err(ReadError::TooLarge);
                }
                bytes.extend_from_slice(&chunk);
            }
        }
    }
}

/// The innermost cause ("connection refused"), which says more than reqwest's outer message.
fn cause(e: &reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    last.unwrap_or_else(|| e.to_string())
}
