//! The pipeline from a stored recording (or an uploaded file) to a searchable transcript (SPEC
//! §9.2, §9.3), and the transcript services the HTTP routes call.
//!
//! One durable `ProcessTranscript` job per run: fetch the audio from our storage, probe it, cut it
//! into chunks the backend accepts (ffmpeg), transcribe every track, align the tracks on their
//! start offsets and merge them by time (speaker = track), name the speakers, build segments and
//! WebVTT, ask the LLM for a title, summaries and topics when one is configured, delete the media
//! if a participant declined consent, then store the result and queue `transcript.completed` in
//! one transaction.
//!
//! Exactly one transcript per recording: the transcript row is unique per recording and is
//! created, with its job, in one transaction; a redelivered or repeated job finds it finished and
//! does nothing, and `POST /v1/transcripts/{id}/process` re-runs the same row.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use reflector_core::transcript::{
    Participant, Segment, ShareMode, SourceKind, Topic, TranscriptStatus, merge_tracks, segments,
    timestamped_text, webvtt,
};
use reflector_core::{ConfigError, Env};
use reflector_queue::Outcome;
use reflector_storage::probe::{ProbeError, probe_audio};
use reflector_store::{NewJob, OutboxEvent, OutboxStatus, Recording, Transcript, TranscriptResult};
use reflector_transcribe::audio::{AudioError, cut_chunks, start_time};
use reflector_transcribe::{BackendSettings, Llm, TranscribeError, Transcriber, transcribe_chunks};
use tokio::io::AsyncWriteExt;

use crate::access::Actor;
use crate::jobs::Job;
use crate::{App, AppError, AppResult, notify};

/// `TRANSCRIPT_*` and `LLM_*` settings.
#[derive(Debug, Clone)]
pub struct TranscriptionSettings {
    pub backend: BackendSettings,
    /// `(LLM_URL, LLM_API_KEY, LLM_MODEL)`; `None`: no title, summaries or topics.
    pub llm: Option<(String, Option<String>, String)>,
    /// Per backend request (`TRANSCRIPT_TIMEOUT_SECONDS`, 900).
    pub timeout: Duration,
    /// Where the pipeline keeps its temporary audio.
    pub work_dir: PathBuf,
}

impl TranscriptionSettings {
    /// Whether the backend fetches the audio itself from a URL we give it (`modal`).
    pub fn fetches_audio_by_url(&self) -> bool {
        matches!(self.backend, BackendSettings::Modal { .. })
    }

    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let url = || -> Result<String, ConfigError> {
            Ok(env
                .require("TRANSCRIPT_URL")?
                .trim_end_matches('/')
                .to_owned())
        };
        let api_key = env.get("TRANSCRIPT_API_KEY").map(str::to_owned);
        let backend = match env.string_or("TRANSCRIPT_BACKEND", "none").as_str() {
            "none" => BackendSettings::None,
            "openai" | "whisper" => BackendSettings::OpenAi {
                url: url()?,
                api_key,
                model: env.string_or("TRANSCRIPT_MODEL", "whisper-1"),
            },
            "modal" => BackendSettings::Modal {
                url: url()?,
                api_key,
            },
            other => {
                return Err(ConfigError::new(
                    "TRANSCRIPT_BACKEND",
                    format!("{other:?} is not one of none, openai, modal"),
                ));
            }
        };
        let llm = env.get("LLM_URL").map(|url| {
            (
                url.trim_end_matches('/').to_owned(),
                env.get("LLM_API_KEY").map(str::to_owned),
                env.string_or("LLM_MODEL", "gpt-4o-mini"),
            )
        });
        let seconds: u64 = env.parse_or("TRANSCRIPT_TIMEOUT_SECONDS", 900)?;
        Ok(Self {
            backend,
            llm,
            timeout: Duration::from_secs(seconds.max(1)),
            // The binary's configuration puts it under DATA_DIR (`tmp/pipeline`).
            work_dir: std::env::temp_dir().join("reflector-pipeline"),
        })
    }
}

/// The configured backend and summariser.
#[derive(Clone)]
pub struct Transcription {
    pub backend: Arc<dyn Transcriber>,
    llm: Option<Arc<Llm>>,
    work_dir: PathBuf,
}

impl Transcription {
    pub fn new(settings: &TranscriptionSettings) -> Self {
        Self {
            backend: reflector_transcribe::build(&settings.backend, settings.timeout),
            llm: settings.llm.as_ref().map(|(url, key, model)| {
                Arc::new(Llm::new(url, key.clone(), model.clone(), settings.timeout))
            }),
            work_dir: settings.work_dir.clone(),
        }
    }
}

/// Creates the transcript of a stored recording and queues its pipeline, once per recording.
pub(crate) async fn recording_stored(ctx: &App, recording: &Recording) -> AppResult<()> {
    let meeting = ctx.store.meeting(&recording.meeting_id).await?;
    let room = match &meeting {
        Some(m) => ctx.store.room(&m.room_id).await?,
        None => None,
    };
    let now = ctx.clock.now();
    let name = meeting
        .as_ref()
        .and_then(|m| m.calendar_metadata.as_ref())
        .and_then(|c| c.get("title"))
        .and_then(|t| t.as_str())
        .map(str::to_owned)
        .or_else(|| {
            room.as_ref()
                .map(|r| format!("{} {}", r.name, now.format("%Y-%m-%d")))
        })
        .unwrap_or_else(|| "Meeting".into());
    let transcript = Transcript {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: room.as_ref().map(|r| r.user_id.clone()),
        name,
        title: None,
        status: TranscriptStatus::Idle,
        duration: recording.duration.map(|d| (d * 1000.0).round() as i64),
        created_at: now,
        updated_at: now,
        source_kind: SourceKind::Room,
        source_language: "en".into(),
        target_language: "en".into(),
        short_summary: None,
        long_summary: None,
        topics: vec![],
        participants: vec![],
        segments: vec![],
        webvtt: None,
        share_mode: ShareMode::Private,
        audio_location: None,
        audio_deleted: false,
        room_id: room.as_ref().map(|r| r.id.clone()),
        meeting_id: meeting.as_ref().map(|m| m.id.clone()),
        recording_id: Some(recording.id.clone()),
        error: None,
    };
    let job = Job::ProcessTranscript {
        transcript_id: transcript.id.clone(),
    }
    .to_new(now);
    let (id, new) = ctx
        .store
        .create_transcript_for_recording(&transcript, &job)
        .await?;
    if new {
        tracing::info!(transcript = %id, recording = %recording.id, "transcript queued");
        ctx.queue.wake();
    }
    Ok(())
}

/// Queues a re-run of the pipeline on the same transcript.
pub(crate) async fn queue_reprocess(ctx: &App, id: &str) -> AppResult<bool> {
    let now = ctx.clock.now();
    let job: NewJob = Job::ProcessTranscript {
        transcript_id: id.to_owned(),
    }
    .to_new(now);
    let queued = ctx.store.reprocess_transcript(id, &job, now).await?;
    ctx.queue.wake();
    Ok(queued)
}

enum Failure {
    Retry(String),
    Permanent(String),
}

impl From<TranscribeError> for Failure {
    fn from(e: TranscribeError) -> Self {
        if e.is_retryable() {
            Failure::Retry(e.to_string())
        } else {
            Failure::Permanent(e.to_string())
        }
    }
}

impl From<AudioError> for Failure {
    fn from(e: AudioError) -> Self {
        match e {
            AudioError::Tool(_) => Failure::Retry(e.to_string()),
            AudioError::Decode(_) => Failure::Permanent(e.to_string()),
        }
    }
}

impl From<AppError> for Failure {
    fn from(e: AppError) -> Self {
        Failure::Retry(e.to_string())
    }
}

impl From<reflector_store::StoreError> for Failure {
    fn from(e: reflector_store::StoreError) -> Self {
        Failure::Retry(e.to_string())
    }
}

/// The pipeline job.
pub(crate) async fn process(ctx: &App, transcript_id: &str) -> AppResult<Outcome> {
    let Some(transcript) = ctx.store.transcript(transcript_id).await? else {
        return Ok(Outcome::Done);
    };
    if matches!(
        transcript.status,
        TranscriptStatus::Ended | TranscriptStatus::Error
    ) {
        // A redelivered job of a finished run; a re-run sets the status back to idle first.
        return Ok(Outcome::Done);
    }
    let started = ctx.clock.now();
    ctx.store
        .set_transcript_status(transcript_id, TranscriptStatus::Processing, None, started)
        .await?;
    let dir = ctx.transcription.work_dir.join(transcript_id);
    let _ = tokio::fs::remove_dir_all(&dir).await;
    let result = run(ctx, &transcript, &dir).await;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    match result {
        Ok(result) => {
            finish(ctx, &transcript, &result, started).await?;
            Ok(Outcome::Done)
        }
        Err(Failure::Permanent(e)) => {
            fail(ctx, transcript_id, &e).await?;
            Ok(Outcome::Done)
        }
        Err(Failure::Retry(e)) => Err(AppError::Unavailable(e)),
    }
}

async fn fail(ctx: &App, id: &str, error: &str) -> AppResult<()> {
    tracing::warn!(transcript = %id, error, "transcript failed");
    ctx.store
        .set_transcript_status(id, TranscriptStatus::Error, Some(error), ctx.clock.now())
        .await?;
    Ok(())
}

/// The job gave up retrying: the transcript says why.
pub(crate) async fn gave_up(ctx: &App, id: &str, error: &str) -> AppResult<()> {
    fail(ctx, id, &format!("gave up: {error}")).await
}

/// The keys of a transcript's audio in our storage: the recording's tracks, or the upload.
async fn audio_keys(ctx: &App, t: &Transcript) -> AppResult<(Vec<String>, Option<Recording>)> {
    if let Some(recording_id) = &t.recording_id
        && let Some(recording) = ctx.store.recording(recording_id).await?
    {
        return Ok((recording.stored_keys(), Some(recording)));
    }
    Ok((t.audio_location.iter().cloned().collect(), None))
}

/// Streams `key` from our storage into `file`, in bounded memory.
async fn fetch(ctx: &App, key: &str, file: &Path) -> Result<(), Failure> {
    let store = ctx.recordings.storage.object_store();
    let got = store
        .get(&reflector_storage::ObjectPath::from(key))
        .await
        .map_err(|e| match e {
            object_store::Error::NotFound { .. } => {
                Failure::Permanent(format!("the audio {key} is no longer in storage"))
            }
            e => Failure::Retry(format!("cannot read {key}: {e}")),
        })?;
    let mut out = tokio::fs::File::create(file)
        .await
        .map_err(|e| Failure::Retry(format!("cannot write a temporary file: {e}")))?;
    let mut stream = got.into_stream();
    while let Some(part) = stream.next().await {
        let part = part.map_err(|e| Failure::Retry(format!("cannot read {key}: {e}")))?;
        out.write_all(&part)
            .await
            .map_err(|e| Failure::Retry(format!("cannot write a temporary file: {e}")))?;
    }
    out.flush()
        .await
        .map_err(|e| Failure::Retry(format!("cannot write a temporary file: {e}")))?;
    Ok(())
}

async fn run(ctx: &App, t: &Transcript, dir: &Path) -> Result<TranscriptResult, Failure> {
    let backend = ctx.transcription.backend.clone();
    if backend.name() == "none" {
        return Err(TranscribeError::NotConfigured.into());
    }
    let (keys, recording) = audio_keys(ctx, t).await?;
    if keys.is_empty() {
        return Err(Failure::Permanent(
            if t.audio_deleted {
                "the audio was deleted (a participant declined consent)"
            } else {
                "there is no audio to transcribe"
            }
            .into(),
        ));
    }
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| Failure::Retry(format!("cannot create {}: {e}", dir.display())))?;
    let mut tracks = Vec::new();
    let mut total: f64 = 0.0;
    for (index, key) in keys.iter().enumerate() {
        let track_dir = dir.join(format!("track-{index}"));
        tokio::fs::create_dir_all(&track_dir)
            .await
            .map_err(|e| Failure::Retry(e.to_string()))?;
        let input = track_dir.join("input");
        fetch(ctx, key, &input).await?;
        let info = probe_audio(&input).await.map_err(|e| match e {
            ProbeError::Tool(_) => Failure::Retry(e.to_string()),
            e => Failure::Permanent(format!("{key}: {e}")),
        })?;
        let duration = info.duration_seconds.unwrap_or(0.0);
        let start = start_time(&input).await.unwrap_or(0.0);
        let mut chunks =
            cut_chunks(&input, &track_dir, duration, backend.max_chunk_seconds()).await?;
        let shared = if backend.needs_url() {
            share_chunks(ctx, backend.name(), &t.id, index, &mut chunks).await?
        } else {
            Vec::new()
        };
        let words = transcribe_chunks(backend.as_ref(), &chunks, &t.source_language).await;
        for key in &shared {
            if let Err(e) = ctx.recordings.storage.delete(key).await {
                tracing::warn!(key, error = %e, "a shared chunk was not deleted");
            }
        }
        let words = words?;
        let _ = tokio::fs::remove_file(&input).await;
        total = total.max(start + duration);
        tracks.push((start, words));
    }
    // Tracks are aligned on their start offsets from the earliest track.
    let earliest = tracks.iter().map(|(s, _)| *s).fold(f64::INFINITY, f64::min);
    let tracks: Vec<_> = tracks
        .into_iter()
        .map(|(s, w)| (s - earliest.min(s), w))
        .collect();
    let words = merge_tracks(tracks);
    let segments = segments(&words);
    let participants = participants(ctx, t, recording.as_ref(), &keys).await?;
    let vtt = webvtt(&segments, &participants);
    let mut result = TranscriptResult {
        duration: Some((total.max(0.0) * 1000.0).round() as i64),
        participants,
        segments,
        webvtt: vtt,
        ..TranscriptResult::default()
    };
    summarise(ctx, &mut result).await;
    Ok(result)
}

/// How long a chunk's URL lets a service fetch it.
const SHARED_CHUNK_TTL: Duration = Duration::from_secs(3600);

/// For a backend that fetches audio itself: puts each chunk in our storage under
/// `tmp/transcripts/{id}/` and gives it a time-limited URL (S3 presigned). Returns the keys, to
/// delete once transcribed. Storage that cannot sign (a local directory) is a configuration
/// error, which start-up refuses already; this says so on the transcript too.
async fn share_chunks(
    ctx: &App,
    backend: &str,
    transcript_id: &str,
    track: usize,
    chunks: &mut [reflector_transcribe::Chunk],
) -> Result<Vec<String>, Failure> {
    let storage = &ctx.recordings.storage;
    if !storage.can_presign() {
        return Err(Failure::Permanent(format!(
            "the {backend} backend fetches audio by URL, which needs S3 storage \
             (TRANSCRIPT_STORAGE_BACKEND=aws) to sign one; use TRANSCRIPT_BACKEND=openai with local storage"
        )));
    }
    let mut keys = Vec::with_capacity(chunks.len());
    for (n, chunk) in chunks.iter_mut().enumerate() {
        let key = format!("tmp/transcripts/{transcript_id}/track-{track}-chunk-{n:04}.wav");
        storage.put_file(&key, &chunk.path).await.map_err(|e| {
            Failure::Retry(format!(
                "cannot share a chunk with the {backend} backend: {e}"
            ))
        })?;
        keys.push(key.clone());
        let url = storage
            .presigned_get(&key, SHARED_CHUNK_TTL)
            .await
            .map_err(|e| Failure::Retry(format!("cannot sign a chunk's URL: {e}")))?;
        chunk.url = url;
    }
    Ok(keys)
}

/// Speakers: one per track. A multitrack recording's track is named by the provider when it
/// can tell who spoke on it ([`VideoPlatform::recording_speakers`]), else from the meeting's
/// participant sessions when the provider's track key names the session, else "Speaker N".
///
/// [`VideoPlatform::recording_speakers`]: reflector_platforms::VideoPlatform::recording_speakers
async fn participants(
    ctx: &App,
    t: &Transcript,
    recording: Option<&Recording>,
    keys: &[String],
) -> Result<Vec<Participant>, Failure> {
    let sessions = match &t.meeting_id {
        Some(m) => ctx.store.participant_sessions(m).await?,
        None => Vec::new(),
    };
    let multitrack = recording.filter(|r| r.multitrack);
    let speakers = match multitrack {
        Some(r) => provider_speakers(ctx, r).await,
        None => Vec::new(),
    };
    Ok(keys
        .iter()
        .enumerate()
        .map(|(index, key)| {
            let speaker = u32::try_from(index).unwrap_or(u32::MAX);
            // The provider's name for this track: the key it was announced with, else ours.
            let track = multitrack
                .and_then(|r| r.source_keys.get(index))
                .unwrap_or(key);
            let named = multitrack.and_then(|r| {
                speakers
                    .iter()
                    .find(|s| s.track == *track)
                    // Announced without keys, the tracks were taken in the provider's order.
                    .or_else(|| {
                        r.source_keys
                            .is_empty()
                            .then(|| speakers.get(index))
                            .flatten()
                    })
            });
            let session = multitrack.and_then(|_| {
                sessions.iter().find(|s| {
                    !s.platform_session_id.is_empty() && track.contains(&s.platform_session_id)
                })
            });
            let (name, user_id) = match (named, session) {
                (Some(n), _) => (n.name.clone(), n.user_id.clone()),
                (None, Some(s)) => (
                    s.user_name
                        .clone()
                        .unwrap_or_else(|| format!("Speaker {speaker}")),
                    s.user_id.clone(),
                ),
                (None, None) => (format!("Speaker {speaker}"), None),
            };
            Participant {
                id: format!("speaker-{speaker}"),
                speaker: Some(speaker),
                name,
                user_id,
            }
        })
        .collect())
}

/// Who spoke on each track, as the recording's provider says; nothing when it cannot tell or
/// fails (names are a nicety: the transcript goes on with the other sources).
async fn provider_speakers(
    ctx: &App,
    recording: &Recording,
) -> Vec<reflector_platforms::TrackSpeaker> {
    let platform = match ctx.platforms.get(&recording.platform) {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(recording = %recording.id, error = %e, "speaker names: provider not available");
            return Vec::new();
        }
    };
    match platform
        .recording_speakers(&recording.platform_recording_id)
        .await
    {
        Ok(speakers) => speakers,
        Err(reflector_platforms::PlatformError::Unsupported { .. }) => Vec::new(),
        Err(e) => {
            tracing::warn!(recording = %recording.id, error = %e, "speaker names from the provider skipped");
            Vec::new()
        }
    }
}

/// Title, summaries and topics from the LLM when one is configured; a failing LLM leaves them
/// empty (the transcript itself is what matters) and is logged.
async fn summarise(ctx: &App, result: &mut TranscriptResult) {
    let Some(llm) = &ctx.transcription.llm else {
        return;
    };
    if result.segments.is_empty() {
        return;
    }
    let text = timestamped_text(&result.segments, &result.participants);
    match llm.summarise(&text).await {
        Ok(summary) => {
            result.title = Some(summary.title).filter(|t| !t.trim().is_empty());
            result.short_summary = Some(summary.short_summary).filter(|t| !t.trim().is_empty());
            result.long_summary = Some(summary.long_summary).filter(|t| !t.trim().is_empty());
            let end = result.segments.last().map_or(0.0, |s| s.end);
            let mut starts: Vec<f64> = summary.topics.iter().map(|t| t.start.max(0.0)).collect();
            starts.push(end);
            result.topics = summary
                .topics
                .iter()
                .enumerate()
                .map(|(i, topic)| {
                    let from = topic.start.max(0.0);
                    let to = starts.get(i + 1).copied().unwrap_or(end).max(from);
                    let said: Vec<&str> = result
                        .segments
                        .iter()
                        .filter(|s| in_topic(s, from, to))
                        .map(|s| s.text.as_str())
                        .collect();
                    Topic {
                        id: format!("topic-{i}"),
                        title: topic.title.clone(),
                        summary: topic.summary.clone(),
                        timestamp: from,
                        duration: to - from,
                        transcript: said.join(" "),
                    }
                })
                .collect();
        }
        Err(e) => tracing::warn!(error = %e, "LLM summary skipped"),
    }
}

/// Whether segment `s` belongs to the topic from `from` to `to` (seconds): it starts there (a
/// topic of no length still takes what starts at its start).
fn in_topic(s: &Segment, from: f64, to: f64) -> bool {
    s.start >= from && s.start < to.max(from + 1e-9)
}

/// The WebVTT of what was said in `topic`, speakers named as in the whole transcript's.
fn topic_webvtt(result: &TranscriptResult, topic: &Topic) -> String {
    let said: Vec<Segment> = result
        .segments
        .iter()
        .filter(|s| in_topic(s, topic.timestamp, topic.timestamp + topic.duration))
        .cloned()
        .collect();
    webvtt(&said, &result.participants)
}

/// Consent cleanup (SPEC §9.3), then the result and `transcript.completed` in one transaction.
async fn finish(
    ctx: &App,
    t: &Transcript,
    result: &TranscriptResult,
    started: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    let declined = match &t.meeting_id {
        Some(m) => ctx.store.anyone_declined(m).await?,
        None => false,
    };
    if declined {
        let (keys, _) = audio_keys(ctx, t).await?;
        for key in &keys {
            ctx.recordings
                .storage
                .delete(key)
                .await
                .map_err(|e| AppError::Unavailable(format!("cannot delete {key}: {e}")))?;
        }
        ctx.store
            .set_transcript_audio(&t.id, None, true, ctx.clock.now())
            .await?;
    }
    let room = match &t.room_id {
        Some(r) => ctx.store.room(r).await?,
        None => None,
    };
    let calendar_event = match (&room, &t.meeting_id) {
        (Some(room), Some(meeting_id)) if room.webhook_url.is_some() => {
            match ctx.store.meeting(meeting_id).await? {
                Some(reflector_core::Meeting {
                    calendar_event_id: Some(event_id),
                    ..
                }) => ctx.store.calendar_event(&event_id).await?,
                _ => None,
            }
        }
        _ => None,
    };
    let webhook = room
        .as_ref()
        .and_then(|room| completed_event(ctx, t, result, room, calendar_event.as_ref(), started));
    ctx.store
        .finish_transcript_notifying(
            &t.id,
            result,
            webhook.as_ref().map(|(e, j)| (e, j)),
            ctx.clock.now(),
        )
        .await?;
    tracing::info!(transcript = %t.id, "transcript ended");
    ctx.queue.wake();
    Ok(())
}

/// `transcript.completed` (SPEC §8) for a finished run, with the calendar event its meeting was
/// prepared for; its id derives from the transcript and the run, so a run is announced once and
/// a re-run again.
fn completed_event(
    ctx: &App,
    t: &Transcript,
    result: &TranscriptResult,
    room: &reflector_core::Room,
    calendar_event: Option<&reflector_store::CalendarEvent>,
    started: chrono::DateTime<chrono::Utc>,
) -> Option<(OutboxEvent, NewJob)> {
    room.webhook_url.as_ref()?;
    let event = "transcript.completed";
    let event_id = notify::event_id(&format!("{event}:{}:{}", t.id, started.timestamp_micros()));
    let now = ctx.clock.now();
    let body = serde_json::json!({
        "event": event,
        "event_id": event_id,
        "timestamp": notify::iso(now),
        "transcript": {
            "id": t.id,
            "room_id": t.room_id,
            "created_at": notify::iso(t.created_at),
            "duration": result.duration,
            "title": result.title,
            "short_summary": result.short_summary,
            "long_summary": result.long_summary,
            "webvtt": result.webvtt,
            "topics": result.topics.iter().map(|topic| serde_json::json!({
                "title": topic.title,
                "summary": topic.summary,
                "timestamp": topic.timestamp,
                "duration": topic.duration,
                "webvtt": topic_webvtt(result, topic),
            })).collect::<Vec<_>>(),
            "participants": result.participants.iter().map(|p| serde_json::json!({
                "id": p.id, "name": p.name, "speaker": p.speaker,
            })).collect::<Vec<_>>(),
            "source_language": t.source_language,
            "target_language": t.target_language,
            "status": "ended",
            "frontend_url": format!("{}/transcripts/{}", ctx.settings.ui_base_url, t.id),
        },
        "room": {"id": room.id, "name": room.name},
        // The room owner's endpoint gets the event whole, description and attendees included.
        "calendar_event": calendar_event.map(|e| serde_json::json!({
            "id": e.id,
            "ics_uid": e.ics_uid,
            "title": e.title,
            "start_time": notify::iso(e.start_time),
            "end_time": notify::iso(e.end_time),
            "description": e.description,
            "location": e.location,
            "attendees": e.attendees,
        })),
    });
    let job = Job::DeliverWebhook {
        event_id: event_id.clone(),
    }
    .to_new(now);
    Some((
        OutboxEvent {
            event_id,
            room_id: room.id.clone(),
            event: event.to_owned(),
            payload: body.to_string(),
            status: OutboxStatus::Pending,
            created_at: now,
        },
        job,
    ))
}

/// Whether `actor` owns `t`: its creator, or the owner of its room.
pub async fn owns(ctx: &App, actor: &Actor, t: &Transcript) -> AppResult<bool> {
    let Some(user) = actor.user_id.as_deref() else {
        return Ok(false);
    };
    if t.user_id.as_deref() == Some(user) {
        return Ok(true);
    }
    Ok(match &t.room_id {
        Some(r) => ctx.store.room(r).await?.is_some_and(|r| r.user_id == user),
        None => false,
    })
}

/// The transcript, when `actor` may read it (owner, shared room, or public); otherwise
/// `NotFound`, so private transcripts are not revealed.
pub async fn visible(ctx: &App, actor: &Actor, id: &str) -> AppResult<Transcript> {
    let t = ctx
        .store
        .transcript(id)
        .await?
        .ok_or(AppError::NotFound("Transcript"))?;
    if t.share_mode == ShareMode::Public || owns(ctx, actor, &t).await? {
        return Ok(t);
    }
    if let Some(r) = &t.room_id
        && ctx.store.room(r).await?.is_some_and(|r| r.is_shared)
    {
        return Ok(t);
    }
    Err(AppError::NotFound("Transcript"))
}

/// The transcript, when `actor` owns it (readable but not owned: `Forbidden`).
pub async fn owned(ctx: &App, actor: &Actor, id: &str) -> AppResult<Transcript> {
    actor.require()?;
    let t = visible(ctx, actor, id).await?;
    if owns(ctx, actor, &t).await? {
        Ok(t)
    } else {
        Err(AppError::forbidden(
            "Only the transcript's owner may do this",
        ))
    }
}

/// Re-runs the pipeline (owner only); refused while a run is in progress.
pub async fn reprocess(ctx: &App, actor: &Actor, id: &str) -> AppResult<()> {
    let t = owned(ctx, actor, id).await?;
    if t.status == TranscriptStatus::Processing {
        return Err(AppError::refused(
            "The transcript is being processed already",
        ));
    }
    if t.audio_deleted {
        return Err(AppError::refused(
            "Audio unavailable due to privacy settings: the transcript cannot be processed again",
        ));
    }
    queue_reprocess(ctx, id).await?;
    Ok(())
}

/// Deletes the transcript (owner only) and the audio only it refers to (an upload).
pub async fn delete(ctx: &App, actor: &Actor, id: &str) -> AppResult<()> {
    let t = owned(ctx, actor, id).await?;
    if t.recording_id.is_none()
        && let Some(key) = &t.audio_location
    {
        ctx.recordings
            .storage
            .delete(key)
            .await
            .map_err(|e| AppError::Unavailable(format!("cannot delete the audio: {e}")))?;
    }
    ctx.store.delete_transcript(id).await?;
    crate::uploads::discard(ctx, id).await;
    Ok(())
}

/// The storage key of the transcript's audio to play, or the privacy refusal.
pub async fn audio_key(ctx: &App, actor: &Actor, id: &str) -> AppResult<String> {
    let t = visible(ctx, actor, id).await?;
    if t.audio_deleted {
        return Err(AppError::Gone("Audio unavailable due to privacy settings"));
    }
    let (keys, _) = audio_keys(ctx, &t).await?;
    keys.into_iter().next().ok_or(AppError::NotFound("Audio"))
}

/// The transcript's audio as stored: a byte stream, its length and its content type.
pub struct AudioStream {
    pub body: futures::stream::BoxStream<'static, Result<bytes::Bytes, std::io::Error>>,
    pub size: u64,
    pub content_type: &'static str,
}

pub async fn audio(ctx: &App, actor: &Actor, id: &str) -> AppResult<AudioStream> {
    let key = audio_key(ctx, actor, id).await?;
    let got = ctx
        .recordings
        .storage
        .object_store()
        .get(&reflector_storage::ObjectPath::from(key.as_str()))
        .await
        .map_err(|e| match e {
            object_store::Error::NotFound { .. } => AppError::NotFound("Audio"),
            e => AppError::Unavailable(format!("cannot read the audio: {e}")),
        })?;
    let size = got.meta.size;
    let content_type = match key.rsplit('.').next().unwrap_or_default() {
        "mp3" => "audio/mpeg",
        "mp4" | "m4a" => "audio/mp4",
        "webm" => "audio/webm",
        "wav" => "audio/wav",
        "ogg" | "opus" => "audio/ogg",
        _ => "application/octet-stream",
    };
    let body = got
        .into_stream()
        .map(|r| r.map_err(std::io::Error::other))
        .boxed();
    Ok(AudioStream {
        body,
        size,
        content_type,
    })
}
