//! A recording made elsewhere (an in-person meeting, a phone) becomes a transcript through the
//! same pipeline as a room's recording, as in the original Reflector: `POST /v1/transcripts`
//! creates an `idle` transcript of source kind `file`, then the file arrives in chunks
//! (`chunk_number` 0 … `total_chunks` − 1, in order). Each chunk is streamed to the end of one
//! partial file under `$DATA_DIR/tmp/uploads/{transcript_id}` in bounded memory; a small state
//! file records how many chunks (and bytes) were received, so a chunk cut off half-way (a
//! dropped connection, a chunk over the limit) is truncated away and sent again. After the last
//! chunk the file is probed (ffprobe): without an audio stream it is refused and forgotten;
//! otherwise it goes to our storage and the transcript is set `uploaded` with its pipeline job
//! queued in one transaction, at most once.
//!
//! One chunk at a time per transcript: a second request while one is being received is refused.
//! The assembly is on this instance's disk, so one upload's chunks must reach the same instance
//! (one server, or sticky sessions).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};

use reflector_core::transcript::{ShareMode, SourceKind, TranscriptStatus};
use reflector_storage::probe::{ProbeError, probe_audio};
use reflector_store::Transcript;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use crate::access::Actor;
use crate::jobs::Job;
use crate::transcripts::owned;
use crate::{App, AppError, AppResult};

/// The most chunks one upload may have.
pub const MAX_CHUNKS: i64 = 100_000;

/// What `POST /v1/transcripts` takes.
#[derive(Debug, Clone)]
pub struct NewUpload {
    pub name: String,
    pub source_language: Option<String>,
    pub target_language: Option<String>,
}

fn language(field: &str, value: Option<String>) -> AppResult<String> {
    let value = value.unwrap_or_else(|| "en".into());
    let ok = (2..=16).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(value)
    } else {
        Err(AppError::invalid(
            field,
            format!("{value:?} is not a language code such as en or pt-BR"),
        ))
    }
}

/// Creates an empty transcript of source kind `file` owned by `actor`, waiting for its upload.
pub async fn create(ctx: &App, actor: &Actor, new: NewUpload) -> AppResult<Transcript> {
    let user = actor.require()?.to_owned();
    let name = new.name.trim().to_owned();
    if name.is_empty() {
        return Err(AppError::invalid("name", "must not be empty"));
    }
    if name.chars().count() > 300 {
        return Err(AppError::invalid("name", "must be at most 300 characters"));
    }
    let now = ctx.clock.now();
    let transcript = Transcript {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: Some(user),
        name,
        title: None,
        status: TranscriptStatus::Idle,
        duration: None,
        created_at: now,
        updated_at: now,
        source_kind: SourceKind::File,
        source_language: language("source_language", new.source_language)?,
        target_language: language("target_language", new.target_language)?,
        short_summary: None,
        long_summary: None,
        topics: vec![],
        participants: vec![],
        segments: vec![],
        webvtt: None,
        share_mode: ShareMode::Private,
        audio_location: None,
        audio_deleted: false,
        room_id: None,
        meeting_id: None,
        recording_id: None,
        error: None,
    };
    ctx.store.insert_transcript(&transcript).await?;
    // As stored, so that the answer is what `GET` answers.
    ctx.store
        .transcript(&transcript.id)
        .await?
        .ok_or(AppError::NotFound("Transcript"))
}

/// What is on disk of an upload in progress (`state.json` beside the partial file).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    total_chunks: i64,
    /// The chunks received so far (the next one expected).
    received: i64,
    /// The partial file's length after them.
    bytes: u64,
    /// The file's extension, from the first chunk's file name.
    extension: String,
}

/// The transcripts receiving a chunk in this process right now.
static RECEIVING: LazyLock<Mutex<HashSet<PathBuf>>> = LazyLock::new(Mutex::default);

/// Marks an upload as receiving a chunk until dropped.
struct Receiving(PathBuf);

impl Receiving {
    fn take(dir: &Path) -> Option<Self> {
        let mut set = RECEIVING.lock().unwrap_or_else(|e| e.into_inner());
        set.insert(dir.to_owned()).then(|| Self(dir.to_owned()))
    }
}

impl Drop for Receiving {
    fn drop(&mut self) {
        RECEIVING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.0);
    }
}

pub(crate) fn upload_dir(ctx: &App, transcript_id: &str) -> PathBuf {
    ctx.recordings.uploads_dir().join(transcript_id)
}

/// Forgets an upload in progress (the transcript is deleted, or its file was refused).
pub(crate) async fn discard(ctx: &App, transcript_id: &str) {
    let _ = tokio::fs::remove_dir_all(upload_dir(ctx, transcript_id)).await;
}

async fn read_state(dir: &Path) -> AppResult<Option<State>> {
    match tokio::fs::read(dir.join("state.json")).await {
        Ok(raw) => serde_json::from_slice(&raw).map(Some).map_err(|e| {
            AppError::Unavailable(format!(
                "the upload's state is unreadable ({e}); delete the transcript and upload again"
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(e)),
    }
}

async fn write_state(dir: &Path, state: &State) -> AppResult<()> {
    let tmp = dir.join("state.json.tmp");
    let raw = serde_json::to_vec(state).unwrap_or_default();
    let mut file = tokio::fs::File::create(&tmp).await.map_err(io)?;
    file.write_all(&raw).await.map_err(io)?;
    file.sync_all().await.map_err(io)?;
    tokio::fs::rename(&tmp, dir.join("state.json"))
        .await
        .map_err(io)?;
    Ok(())
}

fn io(e: std::io::Error) -> AppError {
    AppError::Unavailable(format!("cannot write the upload to disk: {e}"))
}

/// The extensions kept from a chunk's file name (for the stored file's name and content type).
const EXTENSIONS: &[&str] = &[
    "mp3", "mp4", "m4a", "mpeg", "mpga", "wav", "webm", "ogg", "opus", "flac", "aac", "mkv", "mov",
];

fn extension(file_name: Option<&str>) -> String {
    file_name
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .filter(|ext| EXTENSIONS.contains(&ext.as_str()))
        .unwrap_or_else(|| "bin".into())
}

/// One chunk being received: [`begin`] checks it may be, [`Chunk::write`] appends its bytes,
/// [`Chunk::finish`] records it (and, for the last, completes the upload). Dropped unfinished,
/// the bytes it wrote are cut off again by the next chunk.
pub struct Chunk {
    _receiving: Receiving,
    dir: PathBuf,
    transcript_id: String,
    chunk_number: i64,
    total_chunks: i64,
    state: Option<State>,
    file: tokio::io::BufWriter<tokio::fs::File>,
    written: u64,
    /// The file's length before this chunk.
    committed: u64,
    limits: UploadLimits,
}

/// What a received chunk came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// More chunks are expected.
    Partial,
    /// That was the last: the file is stored and its pipeline queued.
    Complete,
}

/// How large an upload may be.
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    /// One chunk (`UPLOAD_CHUNK_MAX_BYTES`).
    pub chunk: u64,
    /// The whole file (`UPLOAD_MAX_BYTES`): what one upload may hold on this instance's disk.
    pub file: u64,
}

/// Checks that `actor` may send chunk `chunk_number` of `total_chunks` of transcript `id` now,
/// and opens the partial file for it. At most `limits` may be written.
pub async fn begin(
    ctx: &App,
    actor: &Actor,
    id: &str,
    chunk_number: i64,
    total_chunks: i64,
    limits: UploadLimits,
) -> AppResult<Chunk> {
    let t = owned(ctx, actor, id).await?;
    if !(1..=MAX_CHUNKS).contains(&total_chunks) {
        return Err(AppError::invalid(
            "total_chunks",
            format!("must be between 1 and {MAX_CHUNKS}"),
        ));
    }
    if !(0..total_chunks).contains(&chunk_number) {
        return Err(AppError::invalid(
            "chunk_number",
            format!(
                "must be between 0 and total_chunks - 1 ({})",
                total_chunks - 1
            ),
        ));
    }
    if t.source_kind != SourceKind::File {
        return Err(AppError::Conflict(
            "Only a transcript created by POST /v1/transcripts takes an upload; this one is a room's recording".into(),
        ));
    }
    match t.status {
        TranscriptStatus::Idle if t.audio_location.is_none() => {}
        TranscriptStatus::Processing => {
            return Err(AppError::Conflict(
                "The transcript is being processed; it takes no upload now".into(),
            ));
        }
        status => {
            return Err(AppError::Conflict(format!(
                "The transcript has its file already (status {status}); create a new transcript to upload another"
            )));
        }
    }
    let dir = upload_dir(ctx, id);
    let receiving = Receiving::take(&dir).ok_or_else(|| {
        AppError::Conflict(
            "There is already an upload in progress: another chunk of this transcript is being received; send chunks one after the other".into(),
        )
    })?;
    let state = read_state(&dir).await?;
    match &state {
        None if chunk_number != 0 => {
            return Err(AppError::Conflict(format!(
                "Chunk {chunk_number} came before chunk 0: send the chunks in order, from 0"
            )));
        }
        None => {}
        Some(s) if s.total_chunks != total_chunks => {
            return Err(AppError::invalid(
                "total_chunks",
                format!(
                    "this upload has {} chunks (as sent with chunk 0), not {total_chunks}",
                    s.total_chunks
                ),
            ));
        }
        Some(s) if chunk_number < s.received => {
            return Err(AppError::Conflict(format!(
                "Chunk {chunk_number} was received already; send chunk {} next",
                s.received
            )));
        }
        Some(s) if chunk_number > s.received => {
            return Err(AppError::Conflict(format!(
                "Chunk {chunk_number} is out of order: send chunk {} next (chunks go in order, from 0)",
                s.received
            )));
        }
        Some(_) => {}
    }
    tokio::fs::create_dir_all(&dir).await.map_err(io)?;
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(dir.join("partial"))
        .await
        .map_err(io)?;
    // Whatever an unfinished chunk left after the received ones goes.
    let committed = state.as_ref().map_or(0, |s| s.bytes);
    file.set_len(committed).await.map_err(io)?;
    file.seek(std::io::SeekFrom::Start(committed))
        .await
        .map_err(io)?;
    Ok(Chunk {
        _receiving: receiving,
        dir,
        transcript_id: id.to_owned(),
        chunk_number,
        total_chunks,
        state,
        file: tokio::io::BufWriter::with_capacity(256 * 1024, file),
        written: 0,
        committed,
        limits,
    })
}

impl Chunk {
    /// Appends the next bytes of the chunk; past a limit the chunk is refused (`TooLarge`).
    pub async fn write(&mut self, bytes: &[u8]) -> AppResult<()> {
        self.written += bytes.len() as u64;
        if self.written > self.limits.chunk {
            return Err(too_large(self.limits.chunk));
        }
        if self.committed + self.written > self.limits.file {
            return Err(AppError::TooLarge(format!(
                "The file may be at most {} bytes in all (UPLOAD_MAX_BYTES), and chunk {} goes past that: upload a smaller file (delete this transcript, or send this chunk again smaller if the file is within the limit)",
                self.limits.file, self.chunk_number
            )));
        }
        self.file.write_all(bytes).await.map_err(io)
    }

    /// Records the chunk; after the last one, probes the file, stores it and queues its
    /// pipeline. `file_name` is the chunk's file name (its extension names the stored file).
    pub async fn finish(mut self, ctx: &App, file_name: Option<&str>) -> AppResult<Received> {
        self.file.flush().await.map_err(io)?;
        self.file.get_ref().sync_all().await.map_err(io)?;
        let bytes = self.committed + self.written;
        let extension = self
            .state
            .as_ref()
            .map_or_else(|| extension(file_name), |s| s.extension.clone());
        if self.chunk_number + 1 < self.total_chunks {
            write_state(
                &self.dir,
                &State {
                    total_chunks: self.total_chunks,
                    received: self.chunk_number + 1,
                    bytes,
                    extension,
                },
            )
            .await?;
            return Ok(Received::Partial);
        }
        let partial = self.dir.join("partial");
        let info = match probe_audio(&partial).await {
            Ok(info) => info,
            Err(ProbeError::Tool(e)) => {
                // The state still expects this chunk: it can be sent again.
                return Err(AppError::Unavailable(format!(
                    "cannot check the file's audio now ({e}); send the last chunk again later"
                )));
            }
            Err(e) => {
                discard(ctx, &self.transcript_id).await;
                let why = match e {
                    ProbeError::NoAudio => "the file has no audio stream".to_owned(),
                    other => other.to_string(),
                };
                return Err(AppError::invalid(
                    "chunk",
                    format!(
                        "{why}: upload an audio or video file with sound (the upload starts again from chunk 0)"
                    ),
                ));
            }
        };
        let key = format!("uploads/{}/upload.{extension}", self.transcript_id);
        ctx.recordings
            .storage
            .put_file(&key, &partial)
            .await
            .map_err(|e| {
                AppError::Unavailable(format!(
                    "cannot store the file ({e}); send the last chunk again later"
                ))
            })?;
        let now = ctx.clock.now();
        let job = Job::ProcessTranscript {
            transcript_id: self.transcript_id.clone(),
        }
        .to_new(now);
        let duration = info.duration_seconds.map(|d| (d * 1000.0).round() as i64);
        let queued = ctx
            .store
            .complete_upload(&self.transcript_id, &key, duration, &job, now)
            .await?;
        discard(ctx, &self.transcript_id).await;
        if !queued {
            let _ = ctx.recordings.storage.delete(&key).await;
            return Err(AppError::Conflict(
                "The transcript has its file already, or was deleted during the upload".into(),
            ));
        }
        tracing::info!(transcript = %self.transcript_id, bytes, "upload complete, transcript queued");
        ctx.queue.wake();
        Ok(Received::Complete)
    }
}

pub fn too_large(max_bytes: u64) -> AppError {
    AppError::TooLarge(format!(
        "A chunk may be at most {max_bytes} bytes (UPLOAD_CHUNK_MAX_BYTES); split the file into smaller chunks and send this chunk again"
    ))
}
