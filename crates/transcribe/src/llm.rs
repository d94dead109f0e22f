//! The optional summariser: one OpenAI-compatible `POST {url}/v1/chat/completions` asking for a
//! title, a short and a long summary and topics as JSON. Not configured: the pipeline skips it.

use std::time::Duration;

use serde::Deserialize;

use crate::base_url;

pub struct Llm {
    endpoint: String,
    api_key: Option<String>,
    model: String,
    http: reqwest::Client,
}

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("the LLM is unavailable: {0}")]
    Unavailable(String),
    #[error("the LLM answered something unusable: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SummaryTopic {
    pub title: String,
    #[serde(default)]
    pub summary: String,
    /// Seconds from the start, as the model read it off the timestamped text.
    #[serde(default)]
    pub start: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Summary {
    pub title: String,
    #[serde(default)]
    pub short_summary: String,
    #[serde(default)]
    pub long_summary: String,
    #[serde(default)]
    pub topics: Vec<SummaryTopic>,
}

/// The most transcript text sent in one request.
const MAX_PROMPT_CHARS: usize = 48_000;

const INSTRUCTIONS: &str = "You summarise meeting transcripts. Each line is `[hh:mm:ss] Speaker: text`. \
Answer with one JSON object only: {\"title\": short title, \"short_summary\": one or two sentences, \
\"long_summary\": a few paragraphs, \"topics\": [{\"title\", \"summary\", \"start\": seconds from the start \
where the topic begins}]}.";

impl Llm {
    pub fn new(url: &str, api_key: Option<String>, model: String, timeout: Duration) -> Self {
        Self {
            endpoint: format!("{}/v1/chat/completions", base_url(url)),
            api_key,
            model,
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .unwrap_or_default(),
        }
    }

    pub async fn summarise(&self, timestamped_text: &str) -> Result<Summary, LlmError> {
        let text: String = timestamped_text.chars().take(MAX_PROMPT_CHARS).collect();
        let body = serde_json::json!({
            "model": self.model,
            "messages": [
                {"role": "system", "content": INSTRUCTIONS},
                {"role": "user", "content": text},
            ],
            "temperature": 0,
        });
        let mut request = self.http.post(&self.endpoint).json(&body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request
            .send()
            .await
            .map_err(|e| LlmError::Unavailable(e.to_string()))?;
        let status = response.status();
        let raw = response
            .text()
            .await
            .map_err(|e| LlmError::Unavailable(e.to_string()))?;
        if !status.is_success() {
            let head: String = raw.chars().take(300).collect();
            return Err(LlmError::Unavailable(format!("HTTP {status}: {head}")));
        }
        let answer: serde_json::Value =
            serde_json::from_str(&raw).map_err(|e| LlmError::Invalid(e.to_string()))?;
        let content = answer
            .pointer("/choices/0/message/content")
            .and_then(|c| c.as_str())
            .ok_or_else(|| LlmError::Invalid("no choices[0].message.content".into()))?;
        parse_summary(content)
    }
}

/// The JSON object in `content`, tolerating a fenced code block around it.
fn parse_summary(content: &str) -> Result<Summary, LlmError> {
    let start = content.find('{');
    let end = content.rfind('}');
    let (Some(start), Some(end)) = (start, end) else {
        return Err(LlmError::Invalid("no JSON object in the answer".into()));
    };
    serde_json::from_str(&content[start..=end]).map_err(|e| LlmError::Invalid(e.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_fenced_answer_is_read() {
        let s = parse_summary(
            "```json\n{\"title\": \"Budget\", \"topics\": [{\"title\": \"Q3\"}]}\n```",
        )
        .unwrap();
        assert_eq!(s.title, "Budget");
        assert_eq!(s.topics[0].start, 0.0);
        assert!(parse_summary("no").is_err());
    }
}
