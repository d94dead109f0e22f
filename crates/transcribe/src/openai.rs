//! `openai`: multipart `POST {url}/v1/audio/transcriptions` with `file`, `model`, `language`,
//! `response_format=verbose_json` and `timestamp_granularities[]=word`.

use std::time::Duration;

use async_trait::async_trait;
use reflector_core::transcript::Word;
use serde::Deserialize;

use crate::{Chunk, TranscribeError, Transcriber, base_url, http_error, transport_error};

pub struct OpenAiTranscriber {
    endpoint: String,
    api_key: Option<String>,
    model: String,
    max_chunk_seconds: f64,
    http: reqwest::Client,
}

impl OpenAiTranscriber {
    pub fn new(url: &str, api_key: Option<String>, model: String, timeout: Duration) -> Self {
        Self {
            endpoint: format!("{}/v1/audio/transcriptions", base_url(url)),
            api_key,
            model,
            max_chunk_seconds: 600.0,
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .unwrap_or_default(),
        }
    }

    /// Chunks of at most `seconds` (600 by default: 19 MB of 16 kHz WAV, under OpenAI's 25 MB).
    pub fn with_max_chunk_seconds(mut self, seconds: f64) -> Self {
        self.max_chunk_seconds = seconds;
        self
    }
}

#[derive(Deserialize)]
struct Verbose {
    #[serde(default)]
    words: Option<Vec<VerboseWord>>,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct VerboseWord {
    word: String,
    start: f64,
    end: f64,
}

#[async_trait]
impl Transcriber for OpenAiTranscriber {
    fn name(&self) -> &'static str {
        "openai"
    }

    fn max_chunk_seconds(&self) -> f64 {
        self.max_chunk_seconds
    }

    async fn transcribe(
        &self,
        chunk: &Chunk,
        language: &str,
    ) -> Result<Vec<Word>, TranscribeError> {
        let bytes = tokio::fs::read(&chunk.path).await.map_err(|e| {
            TranscribeError::Unavailable(format!("cannot read the audio chunk: {e}"))
        })?;
        let file = reqwest::multipart::Part::bytes(bytes)
            .file_name("audio.wav")
            .mime_str("audio/wav")
            .map_err(|e| TranscribeError::Rejected(e.to_string()))?;
        let form = reqwest::multipart::Form::new()
            .part("file", file)
            .text("model", self.model.clone())
            .text("language", language.to_owned())
            .text("response_format", "verbose_json")
            .text("timestamp_granularities[]", "word");
        let mut request = self.http.post(&self.endpoint).multipart(form);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| transport_error(&e))?;
        let status = response.status();
        let body = response.text().await.map_err(|e| transport_error(&e))?;
        if !status.is_success() {
            return Err(http_error(status, &body));
        }
        let parsed: Verbose = serde_json::from_str(&body).map_err(|e| {
            TranscribeError::Rejected(format!("the answer is not verbose_json: {e}"))
        })?;
        match parsed.words {
            Some(words) => Ok(words
                .into_iter()
                .map(|w| Word {
                    text: w.word,
                    start: w.start,
                    end: w.end,
                    speaker: 0,
                })
                .collect()),
            // Silence: no words and no text.
            None if parsed.text.as_deref().is_none_or(|t| t.trim().is_empty()) => Ok(Vec::new()),
            None => Err(TranscribeError::Rejected(
                "the answer has text but no word timestamps (does the server support \
                 timestamp_granularities[]=word?)"
                    .into(),
            )),
        }
    }
}
