//! Whether a media file has an audio stream, asked of `ffprobe` (from ffmpeg).
//!
//! `ffprobe` rather than a Rust decoder: recordings come as MP4/AAC and WebM/Opus, and the
//! pure-Rust `symphonia` has no Opus decoder and no WebM demuxer it calls stable, while ffmpeg
//! reads both and is what the transcription pipeline converts audio with anyway.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// What a readable file with audio holds.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioInfo {
    pub codec: String,
    pub duration_seconds: Option<f64>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProbeError {
    #[error("the file has no audio stream")]
    NoAudio,
    #[error("the file is not readable media: {0}")]
    Unreadable(String),
    /// The machine lacks ffprobe: the operator must install ffmpeg.
    #[error("cannot check the recording's audio: {0}")]
    Tool(String),
}

#[derive(Deserialize)]
struct Probed {
    #[serde(default)]
    streams: Vec<Stream>,
    #[serde(default)]
    format: Option<Format>,
}

#[derive(Deserialize)]
struct Stream {
    #[serde(default)]
    codec_type: Option<String>,
    #[serde(default)]
    codec_name: Option<String>,
    #[serde(default)]
    duration: Option<String>,
}

#[derive(Deserialize)]
struct Format {
    #[serde(default)]
    duration: Option<String>,
}

/// The `ffprobe` to run: `FFPROBE` if set, else the one on `PATH`.
fn ffprobe() -> String {
    std::env::var("FFPROBE").unwrap_or_else(|_| "ffprobe".to_owned())
}

pub async fn probe_audio(file: &Path) -> Result<AudioInfo, ProbeError> {
    let run = tokio::process::Command::new(ffprobe())
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name,duration:format=duration",
            "-of",
            "json",
        ])
        .arg(file)
        .kill_on_drop(true)
        .output();
    let output = match tokio::time::timeout(Duration::from_secs(120), run).await {
        Err(_) => return Err(ProbeError::Unreadable("ffprobe took over 2 minutes".into())),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ProbeError::Tool(
                "ffprobe is not installed (install ffmpeg)".into(),
            ));
        }
        Ok(Err(e)) => return Err(ProbeError::Tool(format!("cannot run ffprobe: {e}"))),
        Ok(Ok(output)) => output,
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr.lines().last().unwrap_or("ffprobe failed").trim();
        // ffprobe names the file by its path, which is ours, not the caller's: say "the file".
        let first = first.replace(&*file.to_string_lossy(), "the file");
        return Err(ProbeError::Unreadable(first.chars().take(300).collect()));
    }
    let probed: Probed = serde_json::from_slice(&output.stdout)
        .map_err(|e| ProbeError::Unreadable(format!("ffprobe output: {e}")))?;
    let audio = probed
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("audio"))
        .ok_or(ProbeError::NoAudio)?;
    let seconds = |s: &Option<String>| s.as_deref().and_then(|d| d.parse::<f64>().ok());
    Ok(AudioInfo {
        codec: audio.codec_name.clone().unwrap_or_default(),
        duration_seconds: seconds(&audio.duration)
            .or_else(|| probed.format.as_ref().and_then(|f| seconds(&f.duration))),
    })
}
