//! Streaming a remote object (an S3 key) or a download link into a local staging file: chunk by
//! chunk (memory does not grow with the file), resumed from the bytes already on disk (after a
//! dropped connection, a failed attempt, or a worker that died and whose staging folder is still
//! there), retried a few times in place, and checked against the size the source announced.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use object_store::{GetOptions, GetRange, ObjectStore};
use tokio::io::AsyncWriteExt;

use crate::ObjectPath;

/// Where a file comes from.
#[derive(Clone)]
pub enum Source {
    Object {
        store: Arc<dyn ObjectStore>,
        key: String,
    },
    /// A (time-limited) link; never logged, it is a credential.
    Url(String),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Object { key, .. } => write!(f, "object {key}"),
            Source::Url(_) => write!(f, "download link"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct DownloadError {
    pub message: String,
    /// Worth another attempt later (the source was unavailable), not a file that can never come.
    pub retryable: bool,
}

impl DownloadError {
    fn retry(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
        }
    }

    fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
        }
    }
}

/// How hard one download tries before giving the error to its job (which retries later).
#[derive(Debug, Clone)]
pub struct DownloadPolicy {
    /// Attempts in a row that make no progress.
    pub attempts: u32,
    pub first_delay: Duration,
    /// Per request (connecting and each chunk): a stalled source is a failed attempt.
    pub idle_timeout: Duration,
}

impl Default for DownloadPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            first_delay: Duration::from_millis(500),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// Bytes buffered before each write to the staging file.
const WRITE_BUFFER: usize = 1024 * 1024;

/// What one pass of a download got.
enum Pass {
    /// The file is complete at this size.
    Complete(u64),
    /// The pass ended early (the connection dropped); try again from the new offset.
    Interrupted(DownloadError),
}

/// Downloads `source` into `dest`, resuming from `dest`'s current length. Returns the size.
pub async fn fetch(
    http: &reqwest::Client,
    source: &Source,
    dest: &Path,
    policy: &DownloadPolicy,
) -> Result<u64, DownloadError> {
    if let Some(dir) = dest.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| DownloadError::retry(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut failures = 0;
    let mut delay = policy.first_delay;
    loop {
        let before = file_len(dest).await;
        let pass = match source {
            Source::Object { store, key } => object_pass(store.as_ref(), key, dest, policy).await,
            Source::Url(url) => url_pass(http, url, dest, policy).await,
        };
        let error = match pass {
            Ok(Pass::Complete(size)) => return Ok(size),
            Ok(Pass::Interrupted(e)) => e,
            Err(e) if !e.retryable => return Err(e),
            Err(e) => e,
        };
        // Progress resets the count: a long file on a flaky link still finishes.
        if file_len(dest).await > before {
            failures = 0;
            delay = policy.first_delay;
        } else {
            failures += 1;
        }
        if failures >= policy.attempts {
            return Err(error);
        }
        tracing::warn!(?source, error = %error.message, "download interrupted; resuming");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

async fn file_len(path: &Path) -> u64 {
    tokio::fs::metadata(path)
        .await
        .map(|m| m.len())
        .unwrap_or(0)
}

async fn open_append(dest: &Path, truncate: bool) -> Result<tokio::fs::File, DownloadError> {
    tokio::fs::OpenOptions::new()
        .create(true)
        .append(!truncate)
        .write(true)
        .truncate(truncate)
        .open(dest)
        .await
        .map_err(|e| DownloadError::retry(format!("cannot write {}: {e}", dest.display())))
}

/// Appends `chunks` to `file`; `Interrupted` when the stream fails midway.
async fn write_stream<S, E>(
    file: tokio::fs::File,
    mut chunks: S,
    mut written: u64,
    expected: Option<u64>,
    idle: Duration,
) -> Result<Pass, DownloadError>
where
    S: futures::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let io = |e: std::io::Error| DownloadError::retry(format!("cannot write the download: {e}"));
    // Network chunks are small; one write per MiB keeps file writes off the hot path.
    let mut file = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
    loop {
        let next = match tokio::time::timeout(idle, chunks.next()).await {
            Ok(next) => next,
            Err(_) => {
                file.flush().await.map_err(io)?;
                return Ok(Pass::Interrupted(DownloadError::retry(format!(
                    "no data for {} s",
                    idle.as_secs()
                ))));
            }
        };
        match next {
            Some(Ok(chunk)) => {
                written += chunk.len() as u64;
                if let Some(expected) = expected
                    && written > expected
                {
                    drop(file);
                    return Err(DownloadError::retry(format!(
                        "the source sent more than the {expected} bytes it announced"
                    )));
                }
                file.write_all(&chunk).await.map_err(io)?;
            }
            Some(Err(e)) => {
                file.flush().await.map_err(io)?;
                return Ok(Pass::Interrupted(DownloadError::retry(format!(
                    "the download broke off after {written} bytes: {e}"
                ))));
            }
            None => break,
        }
    }
    file.flush().await.map_err(io)?;
    file.get_ref().sync_all().await.map_err(io)?;
    match expected {
        Some(expected) if written != expected => Ok(Pass::Interrupted(DownloadError::retry(
            format!("the download ended at {written} of {expected} bytes"),
        ))),
        _ => Ok(Pass::Complete(written)),
    }
}

async fn object_pass(
    store: &dyn ObjectStore,
    key: &str,
    dest: &Path,
    policy: &DownloadPolicy,
) -> Result<Pass, DownloadError> {
    let path = ObjectPath::from(key);
    let classify = |e: object_store::Error| match e {
        object_store::Error::NotFound { .. } => {
            DownloadError::permanent(format!("{key} is not in the bucket"))
        }
        e => DownloadError::retry(format!("cannot read {key}: {e}")),
    };
    let size = store.head(&path).await.map_err(classify)?.size;
    let mut offset = file_len(dest).await;
    if offset > size {
        offset = 0;
    }
    if offset == size && size > 0 {
        return Ok(Pass::Complete(size));
    }
    let file = open_append(dest, offset == 0).await?;
    if size == 0 {
        return write_stream(
            file,
            futures::stream::empty::<Result<bytes::Bytes, String>>(),
            0,
            Some(0),
            policy.idle_timeout,
        )
        .await;
    }
    let result = store
        .get_opts(
            &path,
            GetOptions {
                range: (offset > 0).then_some(GetRange::Offset(offset)),
                ..GetOptions::default()
            },
        )
        .await
        .map_err(classify)?;
    write_stream(
        file,
        result.into_stream(),
        offset,
        Some(size),
        policy.idle_timeout,
    )
    .await
}

async fn url_pass(
    http: &reqwest::Client,
    url: &str,
    dest: &Path,
    policy: &DownloadPolicy,
) -> Result<Pass, DownloadError> {
    let offset = file_len(dest).await;
    let mut request = http.get(url).timeout(Duration::from_secs(12 * 3600));
    if offset > 0 {
        request = request.header(reqwest::header::RANGE, format!("bytes={offset}-"));
    }
    let response = tokio::time::timeout(policy.idle_timeout, request.send())
        .await
        .map_err(|_| DownloadError::retry("the download link did not answer"))?
        .map_err(|e| DownloadError::retry(format!("cannot reach the download link: {e}")))?;
    let status = response.status();
    let header = |name: reqwest::header::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    // `Content-Range: bytes a-b/total` (or `bytes */total` with 416).
    let total_of_range = header(reqwest::header::CONTENT_RANGE).and_then(|r| {
        r.rsplit_once('/')
            .and_then(|(_, t)| t.trim().parse::<u64>().ok())
    });
    match status.as_u16() {
        206 => {
            let file = open_append(dest, false).await?;
            write_stream(
                file,
                response.bytes_stream(),
                offset,
                total_of_range,
                policy.idle_timeout,
            )
            .await
        }
        200 => {
            // The server ignored the range (or there was none): start over.
            let total = response.content_length();
            let file = open_append(dest, true).await?;
            write_stream(file, response.bytes_stream(), 0, total, policy.idle_timeout).await
        }
        416 if total_of_range == Some(offset) => Ok(Pass::Complete(offset)),
        416 => {
            // What we have does not fit the file any more: start over next pass.
            let _ = tokio::fs::remove_file(dest).await;
            Err(DownloadError::retry(
                "the partial download no longer matches the file; starting over",
            ))
        }
        code @ (403 | 408 | 429 | 500..=599) => Err(DownloadError::retry(format!(
            "the download link answered HTTP {code}"
        ))),
        code => Err(DownloadError::permanent(format!(
            "the download link answered HTTP {code}"
        ))),
    }
}
