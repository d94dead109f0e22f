//! `cargo nextest run -p reflector-transcribe --test bench --run-ignored only --no-capture`:
//! the pipeline's media and transcription work on a 10-minute two-track recording (WebM/Opus
//! tracks, decoded and cut by ffmpeg, sent to the fake OpenAI-compatible server, merged, segmented
//! and rendered as WebVTT). Prints the wall time; run it under `/usr/bin/time -v` for peak memory.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use reflector_core::transcript::{merge_tracks, segments, webvtt};
use reflector_testing::transcription::FakeWhisper;
use reflector_transcribe::audio::cut_chunks;
use reflector_transcribe::{OpenAiTranscriber, Transcriber, transcribe_chunks};

#[tokio::test]
#[ignore = "benchmark: prints figures"]
async fn ten_minute_two_track_recording() {
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = Vec::new();
    for (i, freq) in [440, 660].iter().enumerate() {
        let out = dir.path().join(format!("track-{i}.webm"));
        let status = std::process::Command::new("ffmpeg")
            .args(["-y", "-loglevel", "error", "-f", "lavfi", "-i"])
            .arg(format!("sine=frequency={freq}:duration=600"))
            .args(["-c:a", "libopus", "-b:a", "24k"])
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success());
        inputs.push(out);
    }
    let whisper = FakeWhisper::start().await;
    whisper.script(600.0, "a long meeting about many things");
    let backend = OpenAiTranscriber::new(&whisper.url, None, "m".into(), Duration::from_secs(300));
    let started = Instant::now();
    let mut tracks = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let work = dir.path().join(format!("work-{i}"));
        std::fs::create_dir_all(&work).unwrap();
        let chunks = cut_chunks(input, &work, 600.0, backend.max_chunk_seconds())
            .await
            .unwrap();
        let words = transcribe_chunks(&backend, &chunks, "en").await.unwrap();
        tracks.push((0.0, words));
    }
    let words = merge_tracks(tracks);
    let segs = segments(&words);
    let vtt = webvtt(&segs, &[]);
    let elapsed = started.elapsed();
    println!(
        "pipeline (decode + chunk + transcribe + merge + WebVTT), 10-minute two-track WebM/Opus: \
         {:.2} s wall, {} requests, {} words, {} bytes of WebVTT",
        elapsed.as_secs_f64(),
        whisper.requests().len(),
        words.len(),
        vtt.len()
    );
    assert_eq!(whisper.requests().len(), 2);
}
