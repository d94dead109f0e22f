//! Decoding for the backends, with `ffmpeg`: any audio ffmpeg reads (MP4/AAC, WebM/Opus, WAV, MP3…)
//! is cut into chunks of 16 kHz mono 16-bit WAV no longer than the backend accepts. ffmpeg runs as
//! a process: it is the one tool that reads every format providers and phones produce (the
//! pure-Rust decoders lack Opus/WebM), it streams, and its memory stays outside ours.

use std::path::Path;
use std::time::Duration;

use reflector_core::transcript::chunk_plan;

use crate::Chunk;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AudioError {
    #[error("cannot decode the audio: {0}")]
    Decode(String),
    #[error("cannot run ffmpeg: {0} (install ffmpeg)")]
    Tool(String),
}

fn ffmpeg() -> String {
    std::env::var("FFMPEG").unwrap_or_else(|_| "ffmpeg".to_owned())
}

/// Cuts `input` (`duration` seconds long) into WAV chunks of at most `max` seconds in `dir`.
pub async fn cut_chunks(
    input: &Path,
    dir: &Path,
    duration: f64,
    max: f64,
) -> Result<Vec<Chunk>, AudioError> {
    let mut chunks = Vec::new();
    for (index, (start, length)) in chunk_plan(duration, max).into_iter().enumerate() {
        let out = dir.join(format!("chunk-{index:04}.wav"));
        let run = tokio::process::Command::new(ffmpeg())
            .args(["-nostdin", "-y", "-v", "error", "-ss"])
            .arg(format!("{start:.3}"))
            .arg("-t")
            .arg(format!("{length:.3}"))
            .arg("-i")
            .arg(input)
            .args([
                "-vn",
                "-ac",
                "1",
                "-ar",
                "16000",
                "-c:a",
                "pcm_s16le",
                "-f",
                "wav",
            ])
            .arg(&out)
            .kill_on_drop(true)
            .output();
        let output = match tokio::time::timeout(Duration::from_secs(600), run).await {
            Err(_) => return Err(AudioError::Decode("ffmpeg took over 10 minutes".into())),
            Ok(Err(e)) => return Err(AudioError::Tool(e.to_string())),
            Ok(Ok(output)) => output,
        };
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(AudioError::Decode(
                stderr.trim().chars().take(300).collect(),
            ));
        }
        chunks.push(Chunk {
            path: out,
            url: None,
            offset: start,
            duration: length,
        });
    }
    Ok(chunks)
}

/// When the file's first stream starts (seconds, `format.start_time`), for aligning tracks.
pub async fn start_time(input: &Path) -> Option<f64> {
    let ffprobe = std::env::var("FFPROBE").unwrap_or_else(|_| "ffprobe".to_owned());
    let run = tokio::process::Command::new(ffprobe)
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=start_time",
            "-of",
            "csv=p=0",
        ])
        .arg(input)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .ok()?
        .ok()?;
    String::from_utf8_lossy(&output.stdout).trim().parse().ok()
}
