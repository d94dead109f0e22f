//! Fake transcription and LLM services on 127.0.0.1 that record and check every request.
//!
//! [`FakeWhisper`] speaks both backends' wire formats (OpenAI-compatible multipart
//! `/v1/audio/transcriptions` and Modal's JSON `/v1/audio/transcriptions-from-url`, fetching the
//! audio from the URL it is given) and "transcribes" deterministically: it reads the 16 kHz mono
//! WAV it receives, finds the stretch of it that is not silent, picks the script whose spoken
//! length is nearest, and spreads that script's words evenly over the voiced stretch. Different
//! generated sentences have different lengths, so each track comes back with its own words at
//! the times they were spoken.

use std::sync::{Arc, Mutex};

use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct WhisperRequest {
    pub path: String,
    pub authorization: Option<String>,
    /// Multipart text fields, or the JSON body's fields, as text.
    pub fields: Vec<(String, String)>,
    /// The audio it was sent (or fetched).
    pub audio_len: usize,
    /// The audio's duration, as the WAV header says.
    pub audio_seconds: f64,
    pub file_name: Option<String>,
}

impl WhisperRequest {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct WhisperState {
    /// (spoken seconds, text) of each script; empty: answer "hello world".
    scripts: Mutex<Vec<(f64, String)>>,
    statuses: Mutex<std::collections::VecDeque<u16>>,
    requests: Mutex<Vec<WhisperRequest>>,
}

pub struct FakeWhisper {
    pub url: String,
    state: Arc<WhisperState>,
}

/// The first and last non-silent instants of 16-bit PCM WAV `bytes` and its duration (seconds).
pub fn voiced_span(bytes: &[u8]) -> Option<(f64, f64, f64)> {
    let (rate, channels, data) = wav_data(bytes)?;
    let frame = 2 * usize::from(channels.max(1));
    let frames = data.len() / frame;
    let sample = |i: usize| -> i32 {
        let at = i * frame;
        i32::from(i16::from_le_bytes([data[at], data[at + 1]]))
    };
    const THRESHOLD: i32 = 800;
    let first = (0..frames).find(|&i| sample(i).abs() > THRESHOLD);
    let last = (0..frames).rev().find(|&i| sample(i).abs() > THRESHOLD);
    let rate = f64::from(rate.max(1));
    let total = frames as f64 / rate;
    match (first, last) {
        (Some(a), Some(b)) => Some((a as f64 / rate, b as f64 / rate, total)),
        _ => Some((0.0, 0.0, total)),
    }
}

fn wav_data(bytes: &[u8]) -> Option<(u32, u16, &[u8])> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let mut at = 12;
    let (mut rate, mut channels) = (16_000, 1);
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().ok()?) as usize;
        let body = at + 8;
        if id == b"fmt " && body + 8 <= bytes.len() {
            channels = u16::from_le_bytes([bytes[body + 2], bytes[body + 3]]);
            rate = u32::from_le_bytes(bytes[body + 4..body + 8].try_into().ok()?);
        }
        if id == b"data" {
            // ffmpeg writing to a pipe leaves the length unset (0 or 0xFFFFFFFF).
            let end = if len == 0 || body + len > bytes.len() {
                bytes.len()
            } else {
                body + len
            };
            return Some((rate, channels, &bytes[body..end]));
        }
        at = body + len + (len & 1);
    }
    None
}

impl WhisperState {
    fn words_for(&self, audio: &[u8]) -> Vec<Value> {
        let Some((start, end, _)) = voiced_span(audio) else {
            return Vec::new();
        };
        if end <= start {
            return Vec::new();
        }
        let scripts = self.scripts.lock().unwrap().clone();
        let text = scripts
            .iter()
            .min_by(|a, b| ((a.0 - (end - start)).abs()).total_cmp(&(b.0 - (end - start)).abs()))
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| "hello world".to_owned());
        let words: Vec<&str> = text.split_whitespace().collect();
        let step = (end - start) / words.len().max(1) as f64;
        words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let s = start + step * i as f64;
                json!({"word": format!(" {w}"), "start": round(s), "end": round(s + step)})
            })
            .collect()
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn seconds(audio: &[u8]) -> f64 {
    voiced_span(audio).map(|(_, _, t)| t).unwrap_or(0.0)
}

impl FakeWhisper {
    pub async fn start() -> FakeWhisper {
        let state = Arc::new(WhisperState::default());
        let app = axum::Router::new()
            .route("/v1/audio/transcriptions", axum::routing::post(openai))
            .route(
                "/v1/audio/transcriptions-from-url",
                axum::routing::post(modal),
            )
            .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeWhisper { url, state }
    }

    /// What the fake answers for speech about `seconds` long (see the module docs).
    pub fn script(&self, seconds: f64, text: &str) {
        self.state
            .scripts
            .lock()
            .unwrap()
            .push((seconds, text.to_owned()));
    }

    /// Learns `text` from `wav` (16-bit PCM), the speech a test generated.
    pub fn learn(&self, wav: &[u8], text: &str) {
        let (start, end, _) = voiced_span(wav).expect("a WAV file");
        self.script(end - start, text);
    }

    /// The next answers' statuses, in order (then 200).
    pub fn answer_with(&self, statuses: &[u16]) {
        self.state.statuses.lock().unwrap().extend(statuses);
    }

    pub fn requests(&self) -> Vec<WhisperRequest> {
        self.state.requests.lock().unwrap().clone()
    }
}

fn next_status(state: &WhisperState) -> Option<Response> {
    let status = state.statuses.lock().unwrap().pop_front()?;
    (status != 200).then(|| {
        (
            StatusCode::from_u16(status).unwrap(),
            "the fake was told to fail",
        )
            .into_response()
    })
}

fn auth(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn openai(
    State(state): State<Arc<WhisperState>>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    let mut fields = Vec::new();
    let mut audio = Vec::new();
    let mut file_name = None;
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            file_name = field.file_name().map(str::to_owned);
            audio = field.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        } else {
            fields.push((name, field.text().await.unwrap_or_default()));
        }
    }
    state.requests.lock().unwrap().push(WhisperRequest {
        path: "/v1/audio/transcriptions".into(),
        authorization: auth(&headers),
        fields,
        audio_len: audio.len(),
        audio_seconds: seconds(&audio),
        file_name,
    });
    if let Some(failed) = next_status(&state) {
        return failed;
    }
    let words = state.words_for(&audio);
    let text: String = words
        .iter()
        .filter_map(|w| w["word"].as_str())
        .collect::<String>();
    axum::Json(json!({"task": "transcribe", "text": text.trim(), "words": words})).into_response()
}

async fn modal(
    State(state): State<Arc<WhisperState>>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let fields = body
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let url = body["audio_file_url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let audio = match reqwest::get(&url).await {
        Ok(r) if r.status().is_success() => r.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
        _ => Vec::new(),
    };
    state.requests.lock().unwrap().push(WhisperRequest {
        path: "/v1/audio/transcriptions-from-url".into(),
        authorization: auth(&headers),
        fields,
        audio_len: audio.len(),
        audio_seconds: seconds(&audio),
        file_name: None,
    });
    if let Some(failed) = next_status(&state) {
        return failed;
    }
    if audio.is_empty() {
        return (StatusCode::BAD_REQUEST, "cannot fetch audio_file_url").into_response();
    }
    let words = state.words_for(&audio);
    let text: String = words
        .iter()
        .filter_map(|w| w["word"].as_str())
        .collect::<String>();
    axum::Json(json!({"text": text.trim(), "words": words})).into_response()
}

/// A fake OpenAI-compatible chat endpoint: records each request body and answers `content`.
pub struct FakeLlm {
    pub url: String,
    requests: Arc<Mutex<Vec<Value>>>,
}

impl FakeLlm {
    pub async fn start(content: Value) -> FakeLlm {
        let requests: Arc<Mutex<Vec<Value>>> = Arc::default();
        let seen = requests.clone();
        let answer = content.to_string();
        let app = axum::Router::new().route(
            "/v1/chat/completions",
            axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
                let seen = seen.clone();
                let answer = answer.clone();
                async move {
                    seen.lock().unwrap().push(body);
                    axum::Json(json!({
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}}]
                    }))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeLlm { url, requests }
    }

    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }
}
