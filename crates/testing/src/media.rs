//! Real short media for tests, made by espeak-ng and ffmpeg (`scripts/test` installs both):
//! spoken words as MP4/AAC (a composed recording) and WebM/Opus (a participant's track), and a
//! video without sound.

use std::path::{Path, PathBuf};
use std::process::Command;

fn run(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}): install espeak-ng and ffmpeg (scripts/test does)")
        });
    assert!(
        output.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn speech_wav(dir: &Path, name: &str, text: &str) -> PathBuf {
    let wav = dir.join(format!("{name}.wav"));
    run("espeak-ng", &["-w", wav.to_str().unwrap(), text]);
    wav
}

fn convert(dir: &Path, name: &str, text: &str, ext: &str, codec: &[&str]) -> Vec<u8> {
    let wav = speech_wav(dir, name, text);
    let out = dir.join(format!("{name}.{ext}"));
    let mut args = vec!["-y", "-loglevel", "error", "-i", wav.to_str().unwrap()];
    args.extend_from_slice(codec);
    args.push(out.to_str().unwrap());
    run("ffmpeg", &args);
    std::fs::read(out).unwrap()
}

/// `text` spoken, as MP4 with AAC audio (a few KB).
pub fn speech_mp4(dir: &Path, name: &str, text: &str) -> Vec<u8> {
    convert(dir, name, text, "mp4", &["-c:a", "aac", "-b:a", "32k"])
}

/// `text` spoken, as WebM with Opus audio (a few KB).
pub fn speech_webm(dir: &Path, name: &str, text: &str) -> Vec<u8> {
    convert(dir, name, text, "webm", &["-c:a", "libopus", "-b:a", "24k"])
}

/// `text` spoken, as WebM with Opus audio whose timestamps start at `offset` seconds (a
/// participant's track that began after the recording did: its `format.start_time`).
pub fn speech_webm_starting_at(dir: &Path, name: &str, text: &str, offset: f64) -> Vec<u8> {
    let offset = offset.to_string();
    convert(
        dir,
        name,
        text,
        "webm",
        &[
            "-c:a",
            "libopus",
            "-b:a",
            "24k",
            "-output_ts_offset",
            &offset,
        ],
    )
}

/// `text` spoken, as OGG with Opus audio: a LiveKit track egress's file.
pub fn speech_ogg(dir: &Path, name: &str, text: &str) -> Vec<u8> {
    convert(dir, name, text, "ogg", &["-c:a", "libopus", "-b:a", "24k"])
}

/// `seconds` of a tone as 16 kHz mono WAV (32 KB a second), for downloads that take a while.
pub fn tone_wav(dir: &Path, name: &str, seconds: u32) -> Vec<u8> {
    let out = dir.join(format!("{name}.wav"));
    let source = format!("sine=frequency=440:duration={seconds}");
    run(
        "ffmpeg",
        &[
            "-y",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            &source,
            "-ar",
            "16000",
            "-ac",
            "1",
            out.to_str().unwrap(),
        ],
    );
    std::fs::read(out).unwrap()
}

/// One second of black video with no audio stream, as MP4.
pub fn silent_video_mp4(dir: &Path, name: &str) -> Vec<u8> {
    let out = dir.join(format!("{name}.mp4"));
    run(
        "ffmpeg",
        &[
            "-y",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=black:s=64x64:d=1",
            "-c:v",
            "mpeg4",
            out.to_str().unwrap(),
        ],
    );
    std::fs::read(out).unwrap()
}

/// `text` spoken, as espeak-ng's WAV (16-bit PCM): what [`crate::transcription::FakeWhisper::learn`]
/// learns a script from.
pub fn speech(dir: &Path, name: &str, text: &str) -> Vec<u8> {
    std::fs::read(speech_wav(dir, name, text)).unwrap()
}
