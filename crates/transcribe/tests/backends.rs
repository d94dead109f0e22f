//! Each backend against a fake service that checks the exact request, on real audio decoded by
//! ffmpeg from the formats recordings come in.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use reflector_testing::fakes::FileServer;
use reflector_testing::media;
use reflector_testing::transcription::{FakeLlm, FakeWhisper};
use reflector_transcribe::audio::cut_chunks;
use reflector_transcribe::{
    Llm, ModalTranscriber, NoTranscriber, OpenAiTranscriber, TranscribeError, Transcriber,
    transcribe_chunks,
};

const TIMEOUT: Duration = Duration::from_secs(30);

fn texts(words: &[reflector_core::transcript::Word]) -> Vec<&str> {
    words.iter().map(|w| w.text.trim()).collect()
}

#[tokio::test]
async fn openai_sends_the_documented_multipart_request_for_mp4_and_webm() {
    let dir = tempfile::tempdir().unwrap();
    let whisper = FakeWhisper::start().await;
    let said = "the budget is approved";
    whisper.learn(&media::speech(dir.path(), "learn", said), said);
    whisper.script(0.3, "noise");
    let backend = OpenAiTranscriber::new(
        &format!("{}/v1/", whisper.url),
        Some("sk-test".into()),
        "whisper-1".into(),
        TIMEOUT,
    );
    for (name, bytes) in [
        ("a.mp4", media::speech_mp4(dir.path(), "a", said)),
        ("b.webm", media::speech_webm(dir.path(), "b", said)),
    ] {
        let input = dir.path().join(name);
        std::fs::write(&input, bytes).unwrap();
        let out = tempfile::tempdir().unwrap();
        let chunks = cut_chunks(&input, out.path(), 3.0, backend.max_chunk_seconds())
            .await
            .unwrap();
        assert_eq!(chunks.len(), 1);
        let words = transcribe_chunks(&backend, &chunks, "en").await.unwrap();
        assert_eq!(
            texts(&words),
            vec!["the", "budget", "is", "approved"],
            "{name}"
        );
        assert!(words.windows(2).all(|w| w[0].end <= w[1].start + 1e-9));
    }
    let requests = whisper.requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert_eq!(r.path, "/v1/audio/transcriptions");
        assert_eq!(r.authorization.as_deref(), Some("Bearer sk-test"));
        assert_eq!(r.field("model"), Some("whisper-1"));
        assert_eq!(r.field("language"), Some("en"));
        assert_eq!(r.field("response_format"), Some("verbose_json"));
        assert_eq!(r.field("timestamp_granularities[]"), Some("word"));
        assert_eq!(r.file_name.as_deref(), Some("audio.wav"));
        assert!(r.audio_seconds > 1.0 && r.audio_seconds <= 3.01, "{r:?}");
    }
}

#[tokio::test]
async fn long_audio_goes_in_chunks_and_word_times_are_shifted_back() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("long.wav");
    std::fs::write(&input, media::tone_wav(dir.path(), "tone", 25)).unwrap();
    let whisper = FakeWhisper::start().await;
    whisper.script(10.0, "one two");
    let backend = OpenAiTranscriber::new(&whisper.url, None, "m".into(), TIMEOUT)
        .with_max_chunk_seconds(10.0);
    let chunks = cut_chunks(&input, dir.path(), 25.0, backend.max_chunk_seconds())
        .await
        .unwrap();
    let offsets: Vec<f64> = chunks.iter().map(|c| c.offset).collect();
    assert_eq!(offsets, vec![0.0, 10.0, 20.0]);
    let words = transcribe_chunks(&backend, &chunks, "de").await.unwrap();
    let starts: Vec<i64> = words.iter().map(|w| w.start.round() as i64).collect();
    assert_eq!(starts, vec![0, 5, 10, 15, 20, 23]);
    let requests = whisper.requests();
    assert_eq!(requests.len(), 3);
    assert!(requests.iter().all(|r| r.authorization.is_none()));
    assert!(requests[0].audio_seconds > 9.9 && requests[0].audio_seconds < 10.1);
    assert!(requests[2].audio_seconds > 4.9 && requests[2].audio_seconds < 5.1);
}

#[tokio::test]
async fn modal_sends_the_audio_url_as_json_with_the_bearer_key() {
    let dir = tempfile::tempdir().unwrap();
    let said = "hello from the gpu";
    let wav = media::speech(dir.path(), "s", said);
    let whisper = FakeWhisper::start().await;
    whisper.learn(&wav, said);
    let input = dir.path().join("s.wav");
    std::fs::write(&input, &wav).unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut chunks = cut_chunks(&input, out.path(), 10.0, 600.0).await.unwrap();
    let files = FileServer::start(
        std::fs::read(&chunks[0].path).unwrap(),
        "wav",
        Duration::ZERO,
        0,
    )
    .await;
    let backend = ModalTranscriber::new(&whisper.url, Some("modal-key".into()), TIMEOUT);
    assert!(backend.needs_url());
    let err = transcribe_chunks(&backend, &chunks, "en")
        .await
        .unwrap_err();
    assert!(
        matches!(err, TranscribeError::Rejected(ref m) if m.contains("BASE_URL")),
        "{err}"
    );
    assert!(
        whisper.requests().is_empty(),
        "nothing is sent without a URL"
    );

    chunks[0].url = Some(files.url.clone());
    let words = transcribe_chunks(&backend, &chunks, "fr").await.unwrap();
    assert_eq!(texts(&words), vec!["hello", "from", "the", "gpu"]);
    let requests = whisper.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.path, "/v1/audio/transcriptions-from-url");
    assert_eq!(r.authorization.as_deref(), Some("Bearer modal-key"));
    assert_eq!(r.field("audio_file_url"), Some(files.url.as_str()));
    assert_eq!(r.field("language"), Some("fr"));
    assert_eq!(r.field("timestamp_offset"), Some("0.0"));
}

#[tokio::test]
async fn failures_say_whether_a_retry_can_help_and_none_says_it_is_not_configured() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("t.wav");
    std::fs::write(&input, media::tone_wav(dir.path(), "tone", 1)).unwrap();
    let chunks = cut_chunks(&input, dir.path(), 1.0, 600.0).await.unwrap();
    let whisper = FakeWhisper::start().await;
    whisper.answer_with(&[503, 400]);
    let backend = OpenAiTranscriber::new(&whisper.url, None, "m".into(), TIMEOUT);
    let first = transcribe_chunks(&backend, &chunks, "en")
        .await
        .unwrap_err();
    assert!(first.is_retryable(), "{first}");
    let second = transcribe_chunks(&backend, &chunks, "en")
        .await
        .unwrap_err();
    assert!(!second.is_retryable(), "{second}");
    assert!(second.to_string().contains("400"), "{second}");

    let none = transcribe_chunks(&NoTranscriber, &chunks, "en")
        .await
        .unwrap_err();
    assert_eq!(none, TranscribeError::NotConfigured);
    assert!(
        none.to_string()
            .contains("no transcription backend is configured")
    );

    let unreachable = OpenAiTranscriber::new("http://127.0.0.1:9", None, "m".into(), TIMEOUT);
    assert!(
        transcribe_chunks(&unreachable, &chunks, "en")
            .await
            .unwrap_err()
            .is_retryable()
    );
}

#[tokio::test]
async fn a_file_without_audio_fails_to_decode_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("v.mp4");
    std::fs::write(&input, media::silent_video_mp4(dir.path(), "v")).unwrap();
    let err = cut_chunks(&input, dir.path(), 1.0, 600.0)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot decode the audio"), "{err}");
}

#[tokio::test]
async fn the_llm_is_asked_once_with_the_timestamped_text_and_its_json_is_read() {
    let llm = FakeLlm::start(serde_json::json!({
        "title": "Budget review",
        "short_summary": "The budget was approved.",
        "long_summary": "Alice presented; Bob agreed.",
        "topics": [{"title": "Approval", "summary": "Approved.", "start": 1.5}]
    }))
    .await;
    let client = Llm::new(&llm.url, Some("llm-key".into()), "gpt-test".into(), TIMEOUT);
    let summary = client
        .summarise("[00:00:01] Alice: the budget is approved")
        .await
        .unwrap();
    assert_eq!(summary.title, "Budget review");
    assert_eq!(summary.topics[0].start, 1.5);
    let requests = llm.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["model"], "gpt-test");
    assert_eq!(requests[0]["messages"][0]["role"], "system");
    assert_eq!(
        requests[0]["messages"][1]["content"],
        "[00:00:01] Alice: the budget is approved"
    );
}
