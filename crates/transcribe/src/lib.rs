//! Transcription backends behind one interface ([`Transcriber`]), chosen by `TRANSCRIPT_BACKEND`:
//! `openai` (any OpenAI-compatible `/v1/audio/transcriptions`, self-hosted whisper servers
//! included), `modal` (the original's GPU service, which fetches the audio by URL) and `none`.
//!
//! A backend transcribes one chunk of audio no longer than [`Transcriber::max_chunk_seconds`];
//! [`transcribe_chunks`] runs the chunks of a long recording in order and shifts each chunk's word
//! times back by its start. An embedded offline engine would be one more implementation of the
//! trait that reads [`Chunk::path`] and ignores [`Chunk::url`].

pub mod audio;
mod llm;
mod modal;
mod openai;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reflector_core::transcript::Word;

pub use llm::{Llm, LlmError, Summary, SummaryTopic};
pub use modal::ModalTranscriber;
pub use openai::OpenAiTranscriber;

/// One piece of audio to transcribe: a local 16 kHz mono WAV, and when the pipeline can offer one,
/// a URL from which a remote service may fetch the same bytes.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub path: PathBuf,
    pub url: Option<String>,
    /// Seconds from the start of the track.
    pub offset: f64,
    pub duration: f64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TranscribeError {
    #[error("no transcription backend is configured (set TRANSCRIPT_BACKEND to openai or modal)")]
    NotConfigured,
    /// Worth retrying: the service was unreachable, overloaded or failed.
    #[error("the transcription service is unavailable: {0}")]
    Unavailable(String),
    /// Not worth retrying: the service refused the request or answered nonsense.
    #[error("the transcription service refused the audio: {0}")]
    Rejected(String),
}

impl TranscribeError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

#[async_trait]
pub trait Transcriber: Send + Sync + 'static {
    /// `openai`, `modal`, …, as configured.
    fn name(&self) -> &'static str;

    /// The longest chunk (seconds) one request may carry.
    fn max_chunk_seconds(&self) -> f64 {
        600.0
    }

    /// Whether [`Chunk::url`] must be set (a service that fetches the audio itself).
    fn needs_url(&self) -> bool {
        false
    }

    /// The words of one chunk, times in seconds from the chunk's start.
    async fn transcribe(&self, chunk: &Chunk, language: &str)
    -> Result<Vec<Word>, TranscribeError>;
}

/// `TRANSCRIPT_BACKEND=none`: every transcription fails saying so.
#[derive(Debug, Default)]
pub struct NoTranscriber;

#[async_trait]
impl Transcriber for NoTranscriber {
    fn name(&self) -> &'static str {
        "none"
    }

    async fn transcribe(&self, _: &Chunk, _: &str) -> Result<Vec<Word>, TranscribeError> {
        Err(TranscribeError::NotConfigured)
    }
}

/// The words of a track cut into `chunks` (in order), times from the track's start.
pub async fn transcribe_chunks(
    backend: &dyn Transcriber,
    chunks: &[Chunk],
    language: &str,
) -> Result<Vec<Word>, TranscribeError> {
    let mut words = Vec::new();
    for chunk in chunks {
        let got = backend.transcribe(chunk, language).await?;
        words.extend(got.into_iter().map(|w| w.shifted(chunk.offset)));
    }
    Ok(words)
}

/// Which backend and how to reach it (from `TRANSCRIPT_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendSettings {
    None,
    OpenAi {
        url: String,
        api_key: Option<String>,
        model: String,
    },
    Modal {
        url: String,
        api_key: Option<String>,
    },
}

pub fn build(settings: &BackendSettings, timeout: Duration) -> Arc<dyn Transcriber> {
    match settings {
        BackendSettings::None => Arc::new(NoTranscriber),
        BackendSettings::OpenAi {
            url,
            api_key,
            model,
        } => Arc::new(OpenAiTranscriber::new(
            url,
            api_key.clone(),
            model.clone(),
            timeout,
        )),
        BackendSettings::Modal { url, api_key } => {
            Arc::new(ModalTranscriber::new(url, api_key.clone(), timeout))
        }
    }
}

/// Classifies a transport failure or a non-success answer.
pub(crate) fn http_error(status: reqwest::StatusCode, body: &str) -> TranscribeError {
    let body: String = body.chars().take(300).collect();
    let message = format!("HTTP {status}: {body}");
    if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
        TranscribeError::Unavailable(message)
    } else {
        TranscribeError::Rejected(message)
    }
}

pub(crate) fn transport_error(e: &reqwest::Error) -> TranscribeError {
    TranscribeError::Unavailable(format!("{e}"))
}

/// `base` without a trailing slash and without a trailing `/v1` (both forms are accepted).
pub(crate) fn base_url(base: &str) -> String {
    let trimmed = base.trim_end_matches('/');
    trimmed.strip_suffix("/v1").unwrap_or(trimmed).to_owned()
}
