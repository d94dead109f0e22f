//! `modal` (the original's GPU service): `POST {url}/v1/audio/transcriptions-from-url` with JSON
//! `{audio_file_url, language, timestamp_offset}` and `Authorization: Bearer <key>`; it answers
//! `{text, words: [{word, start, end}]}`. The service fetches the audio itself, so every chunk
//! must carry a URL it can reach.

use std::time::Duration;

use async_trait::async_trait;
use reflector_core::transcript::Word;
use serde::Deserialize;

use crate::{Chunk, TranscribeError, Transcriber, base_url, http_error, transport_error};

pub struct ModalTranscriber {
    endpoint: String,
    api_key: Option<String>,
    http: reqwest::Client,
}

impl ModalTranscriber {
    pub fn new(url: &str, api_key: Option<String>, timeout: Duration) -> Self {
        Self {
            endpoint: format!("{}/v1/audio/transcriptions-from-url", base_url(url)),
            api_key,
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .unwrap_or_default(),
        }
    }
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    words: Vec<AnswerWord>,
}

#[derive(Deserialize)]
struct AnswerWord {
    word: String,
    start: f64,
    end: f64,
}

#[async_trait]
impl Transcriber for ModalTranscriber {
    fn name(&self) -> &'static str {
        "modal"
    }

    fn needs_url(&self) -> bool {
        true
    }

    async fn transcribe(
        &self,
        chunk: &Chunk,
        language: &str,
    ) -> Result<Vec<Word>, TranscribeError> {
        let Some(url) = &chunk.url else {
            return Err(TranscribeError::Rejected(
                "the modal backend fetches audio by URL: set BASE_URL to an address the service \
                 can reach"
                    .into(),
            ));
        };
        // The offset is ours to add (transcribe_chunks does), so the service is asked for 0.
        let body = serde_json::json!({
            "audio_file_url": url,
            "language": language,
            "timestamp_offset": 0.0,
        });
        let mut request = self.http.post(&self.endpoint).json(&body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| transport_error(&e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| transport_error(&e))?;
        if !status.is_success() {
            return Err(http_error(status, &text));
        }
        let answer: Answer = serde_json::from_str(&text).map_err(|e| {
            TranscribeError::Rejected(format!("the answer is not {{text, words}}: {e}"))
        })?;
        Ok(answer
            .words
            .into_iter()
            .map(|w| Word {
                text: w.word,
                start: w.start,
                end: w.end,
                speaker: 0,
            })
            .collect())
    }
}
