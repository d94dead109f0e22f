//! Recording ingestion (SPEC §9.1): every provider recording, however it is announced (a
//! webhook, the provider's listing polled as a fallback, a listing or a notification of its
//! bucket), becomes one `recording` row, and one download job brings its media into our storage.
//!
//! Exactly once: the row is unique per (platform, provider recording id) and its download job
//! is queued in the same transaction that inserts it, so a redelivery, a second announcement
//! path, a retry or a restart finds the row and queues nothing. The download job is idempotent:
//! a stored recording is left alone, a partial download resumes from its staging file, and the
//! `recording.ready` webhook is queued in the transaction that marks the recording stored.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use reflector_core::Meeting;
use reflector_platforms::{
    MeetingKey, PlatformError, RecordingBucket, RecordingMedia, RecordingReady, VideoPlatform,
};
use reflector_queue::Outcome;
use reflector_storage::download::{DownloadPolicy, Source, fetch};
use reflector_storage::probe::{ProbeError, probe_audio};
use reflector_storage::sqs::{SqsQueue, created_objects};
use reflector_storage::{BucketAccess, Buckets, S3Connection, Storage, StorageSettings};
use reflector_store::{Announced, Recording, RecordingStatus, StoredMedia};

use crate::jobs::Job;
use crate::{App, AppError, AppResult, notify};

/// How far back the provider listings are polled: longer than any recording takes to finish.
const POLL_WINDOW: chrono::Duration = chrono::Duration::hours(24);
/// A recording the provider still calls unfinished is asked about again after this.
const NOT_READY_DELAY: chrono::Duration = chrono::Duration::seconds(60);
/// ... until this long after it was announced; then it is an error.
const NOT_READY_LIMIT: chrono::Duration = chrono::Duration::hours(24);
/// Objects found by a bucket listing are announced once none has changed for this long.
const BUCKET_QUIET: chrono::Duration = chrono::Duration::minutes(2);
/// Queue messages are hidden from other readers this long while their work is queued.
const MESSAGE_VISIBILITY: Duration = Duration::from_secs(120);
/// Receive calls per queue poll at most (10 messages each): "all available" within reason.
const MAX_RECEIVES_PER_POLL: usize = 100;

/// What ingestion needs besides the database: our storage, read access to provider buckets,
/// a staging folder for partial downloads, and an HTTP client for download links.
#[derive(Clone)]
pub struct Recordings {
    pub storage: Storage,
    buckets: Buckets,
    s3: S3Connection,
    staging_dir: PathBuf,
    http: reqwest::Client,
    pub download_policy: DownloadPolicy,
}

impl Recordings {
    pub fn open(settings: &StorageSettings) -> Result<Self, reflector_storage::StorageError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| reflector_storage::StorageError::Io(std::io::Error::other(e)))?;
        Ok(Self {
            storage: Storage::open(settings)?,
            buckets: Buckets::new(settings.s3.clone()),
            s3: settings.s3.clone(),
            staging_dir: settings.staging_dir.clone(),
            http,
            download_policy: DownloadPolicy::default(),
        })
    }
}

impl Recordings {
    /// Where uploads are assembled from their chunks (`$DATA_DIR/tmp/uploads`, beside the
    /// recordings' staging folder).
    pub(crate) fn uploads_dir(&self) -> PathBuf {
        self.staging_dir.with_file_name("uploads")
    }
}

/// What an announcement came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announcement {
    New(String),
    Known(String),
    UnknownMeeting,
}

impl Announcement {
    /// For the inbox's note.
    pub fn note(&self) -> Option<String> {
        match self {
            Announcement::New(_) => None,
            Announcement::Known(id) => Some(format!("recording {id} was already announced")),
            Announcement::UnknownMeeting => Some("unknown meeting".into()),
        }
    }
}

async fn meeting_of(
    ctx: &App,
    provider: &str,
    ready: &RecordingReady,
) -> AppResult<Option<Meeting>> {
    Ok(match &ready.meeting {
        MeetingKey::RoomName(name) => {
            ctx.store
                .meeting_for_recording(provider, name, ready.started_at)
                .await?
        }
        MeetingKey::PlatformMeetingId(id) => ctx.store.meeting_by_platform_id(provider, id).await?,
    })
}

/// Records a provider's announcement of a finished recording and queues its download, once per
/// provider recording.
pub async fn announce(
    ctx: &App,
    provider: &str,
    ready: &RecordingReady,
) -> AppResult<Announcement> {
    let Some(meeting) = meeting_of(ctx, provider, ready).await? else {
        return Ok(Announcement::UnknownMeeting);
    };
    announce_for(ctx, provider, ready, &meeting).await
}

/// [`announce`] for the meeting the recording was found to be of.
async fn announce_for(
    ctx: &App,
    provider: &str,
    ready: &RecordingReady,
    meeting: &Meeting,
) -> AppResult<Announcement> {
    let platform = ctx.platforms.get(provider)?;
    // Keys are only readable where the provider writes into a bucket we can read.
    let bucket = platform
        .recording_bucket()
        .filter(|_| !ready.keys.is_empty());
    let now = ctx.clock.now();
    let recording = Recording {
        id: uuid::Uuid::new_v4().to_string(),
        platform: provider.to_owned(),
        platform_recording_id: ready.recording_id.clone(),
        meeting_id: meeting.id.clone(),
        multitrack: ready.multitrack,
        source_keys: if bucket.is_some() {
            ready.keys.clone()
        } else {
            Vec::new()
        },
        bucket_name: bucket.map(|b| b.bucket),
        object_key: None,
        track_keys: None,
        recorded_at: ready.started_at,
        duration: ready.duration_seconds,
        size_bytes: None,
        status: RecordingStatus::Pending,
        error: None,
        created_at: now,
        updated_at: now,
    };
    let announced = ctx
        .store
        .announce_recording(&recording, |id| {
            Job::IngestRecording {
                recording_id: id.to_owned(),
            }
            .to_new(now)
        })
        .await?;
    Ok(match announced {
        Announced::New(id) => {
            tracing::info!(recording = %id, provider, meeting = %meeting.id, "recording announced");
            ctx.queue.wake();
            Announcement::New(id)
        }
        Announced::Known(id) => Announcement::Known(id),
    })
}

/// A provider's report that a recording failed: recorded on the recording, when we know it.
pub(crate) async fn provider_error(
    ctx: &App,
    provider: &str,
    recording_id: Option<&str>,
    error: &str,
) -> AppResult<Option<String>> {
    let Some(id) = recording_id else {
        return Ok(Some(format!(
            "provider reported a recording error: {error}"
        )));
    };
    match ctx.store.recording_by_platform_id(provider, id).await? {
        Some(recording) => {
            let message = format!("the provider reported an error: {error}");
            ctx.store
                .set_recording_status(
                    &recording.id,
                    RecordingStatus::Error,
                    Some(&message),
                    ctx.clock.now(),
                )
                .await?;
            Ok(None)
        }
        None => Ok(Some(format!(
            "provider reported an error on an unknown recording: {error}"
        ))),
    }
}

/// Periodic: a provider's recent finished recordings, each announced (those already known
/// change nothing): those its API lists, then those a listing of its bucket finds.
pub(crate) async fn poll_provider(ctx: &App, provider: &str) -> AppResult<Outcome> {
    let platform = ctx.platforms.get(provider)?;
    let since = ctx.clock.now() - POLL_WINDOW;
    match platform.list_recordings(since).await {
        Ok(listed) => {
            let mut new = 0;
            for ready in &listed {
                if matches!(announce(ctx, provider, ready).await?, Announcement::New(_)) {
                    new += 1;
                }
            }
            if new > 0 {
                tracing::info!(
                    provider,
                    new,
                    listed = listed.len(),
                    "recording poll found recordings"
                );
            }
        }
        Err(PlatformError::Unsupported { .. }) => {}
        // The next period asks again; a failed poll is not a failed job for operators to clear.
        // The bucket, when the provider has one, is still listed.
        Err(e) => {
            tracing::warn!(provider, error = %e, "recording poll failed; trying again next period");
        }
    }
    poll_bucket(ctx, platform.as_ref(), provider).await?;
    Ok(Outcome::Done)
}

/// One recording as a bucket listing found it: what it is, the keys of its objects (each with
/// when its object says it started) and when the newest of them changed.
struct Listed {
    ready: RecordingReady,
    keys: Vec<(Option<DateTime<Utc>>, String)>,
    newest: DateTime<Utc>,
}

/// The provider bucket's objects changed within the poll window (when the provider says its
/// bucket is the source of truth, [`VideoPlatform::recording_listing_prefix`]), grouped into
/// recordings by [`VideoPlatform::recording_for_object`], each announced with the keys found.
///
/// A recording is announced only when it is finished: its meeting has ended, and none of its
/// objects has changed for [`BUCKET_QUIET`] (a track still uploading when the meeting ends is
/// waited for). Until then the next poll looks again; once announced, it is known, and later
/// polls change nothing.
async fn poll_bucket(ctx: &App, platform: &dyn VideoPlatform, provider: &str) -> AppResult<()> {
    let (Some(bucket), Some(prefix)) = (
        platform.recording_bucket(),
        platform.recording_listing_prefix(),
    ) else {
        return Ok(());
    };
    let name = bucket.bucket.clone();
    let store = match open_bucket(ctx, Some(bucket), &name) {
        Ok(store) => store,
        Err(Failure::Permanent(e) | Failure::Retry(e)) => {
            tracing::warn!(provider, error = %e, "recording bucket listing failed; trying again next period");
            return Ok(());
        }
    };
    let now = ctx.clock.now();
    let since = now - POLL_WINDOW;
    let prefix = (!prefix.is_empty()).then(|| object_store::path::Path::from(prefix.as_str()));
    let mut objects = store.list(prefix.as_ref());
    let mut found: BTreeMap<String, Listed> = BTreeMap::new();
    while let Some(object) = objects.next().await {
        let object = match object {
            Ok(object) => object,
            Err(e) => {
                tracing::warn!(provider, bucket = %name, error = %e, "recording bucket listing failed; trying again next period");
                return Ok(());
            }
        };
        if object.last_modified < since {
            continue;
        }
        let key = object.location.to_string();
        let Some(ready) = platform.recording_for_object(&name, &key) else {
            continue;
        };
        let listed = found
            .entry(ready.recording_id.clone())
            .or_insert_with(|| Listed {
                ready: RecordingReady {
                    keys: Vec::new(),
                    ..ready.clone()
                },
                keys: Vec::new(),
                newest: object.last_modified,
            });
        listed.newest = listed.newest.max(object.last_modified);
        listed.ready.started_at = match (listed.ready.started_at, ready.started_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        for key in ready.keys {
            if !listed.keys.iter().any(|(_, k)| *k == key) {
                listed.keys.push((ready.started_at, key));
            }
        }
    }
    let mut new = 0;
    for Listed {
        mut ready,
        mut keys,
        newest,
    } in found.into_values()
    {
        if now - newest < BUCKET_QUIET {
            continue;
        }
        let Some(meeting) = meeting_of(ctx, provider, &ready).await? else {
            continue;
        };
        if meeting.is_active {
            continue;
        }
        // Tracks in the order they started.
        keys.sort();
        ready.keys = keys.into_iter().map(|(_, key)| key).collect();
        if matches!(
            announce_for(ctx, provider, &ready, &meeting).await?,
            Announcement::New(_)
        ) {
            new += 1;
        }
    }
    if new > 0 {
        tracing::info!(provider, new, bucket = %name, "recording bucket listing found recordings");
    }
    Ok(())
}

/// Periodic: every message available on the provider's bucket notification queue. A message is
/// deleted only after what it announces is stored with its download queued; one that fails stays,
/// and comes back after its visibility timeout.
pub(crate) async fn poll_queue(ctx: &App, provider: &str) -> AppResult<Outcome> {
    let platform = ctx.platforms.get(provider)?;
    let Some(config) = platform.recording_queue() else {
        return Ok(Outcome::Done);
    };
    let queue = SqsQueue::new(&config.url, &ctx.recordings.s3)
        .map_err(|e| AppError::Unavailable(e.to_string()))?;
    for _ in 0..MAX_RECEIVES_PER_POLL {
        let messages = match queue.receive(MESSAGE_VISIBILITY).await {
            Ok(messages) => messages,
            // Unread messages stay on the queue for the next period.
            Err(e) => {
                tracing::warn!(provider, error = %e, "recording queue poll failed; trying again next period");
                return Ok(Outcome::Done);
            }
        };
        if messages.is_empty() {
            break;
        }
        for message in messages {
            handle_message(ctx, platform.as_ref(), provider, &message.body).await?;
            queue
                .delete(&message.receipt_handle)
                .await
                .map_err(|e| AppError::Unavailable(e.to_string()))?;
        }
    }
    Ok(Outcome::Done)
}

async fn handle_message(
    ctx: &App,
    platform: &dyn VideoPlatform,
    provider: &str,
    body: &str,
) -> AppResult<()> {
    let objects = match created_objects(body) {
        Ok(objects) => objects,
        Err(e) => {
            // It will never parse; keeping it would only bring it back forever.
            tracing::warn!(provider, error = %e, "recording queue message is not an S3 notification; deleted");
            return Ok(());
        }
    };
    for object in objects {
        let Some(ready) = platform.recording_for_object(&object.bucket, &object.key) else {
            tracing::debug!(bucket = %object.bucket, key = %object.key, "not a recording; ignored");
            continue;
        };
        if announce(ctx, provider, &ready).await? == Announcement::UnknownMeeting {
            tracing::warn!(provider, key = %object.key, "recording of an unknown meeting; ignored");
        }
    }
    Ok(())
}

/// Why one download failed.
enum Failure {
    /// Try again later (the job's retries).
    Retry(String),
    /// Will not succeed: recorded on the recording.
    Permanent(String),
}

/// The download job: the recording's media into our storage, every file checked for audio.
pub(crate) async fn ingest(ctx: &App, recording_id: &str) -> AppResult<Outcome> {
    let Some(recording) = ctx.store.recording(recording_id).await? else {
        return Ok(Outcome::Done);
    };
    if recording.status == RecordingStatus::Stored {
        // Stored by an earlier run that may have stopped before queueing the transcript.
        crate::transcripts::recording_stored(ctx, &recording).await?;
        return Ok(Outcome::Done);
    }
    if recording.status == RecordingStatus::Error {
        return Ok(Outcome::Done);
    }
    let now = ctx.clock.now();
    let platform = ctx.platforms.get(&recording.platform)?;
    let sources = match sources(ctx, platform.as_ref(), &recording).await {
        Ok(Some(sources)) => sources,
        Ok(None) if now - recording.created_at > NOT_READY_LIMIT => {
            return fail(
                ctx,
                &recording,
                "the provider has not finished the recording after 24 hours",
            )
            .await;
        }
        Ok(None) => return Ok(Outcome::RunAgainAt(now + NOT_READY_DELAY)),
        Err(Failure::Permanent(e)) => return fail(ctx, &recording, &e).await,
        Err(Failure::Retry(e)) => return Err(AppError::Unavailable(e)),
    };
    ctx.store
        .set_recording_status(&recording.id, RecordingStatus::Downloading, None, now)
        .await?;
    match download(ctx, &recording, &sources).await {
        Ok(media) => {
            store(ctx, &recording, &media).await?;
            let _ = tokio::fs::remove_dir_all(staging(ctx, &recording)).await;
            Ok(Outcome::Done)
        }
        Err(Failure::Permanent(e)) => fail(ctx, &recording, &e).await,
        Err(Failure::Retry(e)) => Err(AppError::Unavailable(e)),
    }
}

fn staging(ctx: &App, recording: &Recording) -> PathBuf {
    ctx.recordings.staging_dir.join(&recording.id)
}

/// A recording whose download cannot succeed: marked `error`, and its staging files removed.
async fn fail(ctx: &App, recording: &Recording, error: &str) -> AppResult<Outcome> {
    tracing::warn!(recording = %recording.id, error, "recording could not be ingested");
    ctx.store
        .set_recording_status(
            &recording.id,
            RecordingStatus::Error,
            Some(error),
            ctx.clock.now(),
        )
        .await?;
    let _ = tokio::fs::remove_dir_all(staging(ctx, recording)).await;
    Ok(Outcome::Done)
}

/// The job gave up retrying: the recording says why.
pub(crate) async fn gave_up(ctx: &App, recording_id: &str, error: &str) -> AppResult<()> {
    ctx.store
        .set_recording_status(
            recording_id,
            RecordingStatus::Error,
            Some(&format!("gave up: {error}")),
            ctx.clock.now(),
        )
        .await?;
    Ok(())
}

fn open_bucket(
    ctx: &App,
    provider_bucket: Option<RecordingBucket>,
    name: &str,
) -> Result<Arc<dyn object_store::ObjectStore>, Failure> {
    // The provider's own credentials apply only to its own bucket.
    let access = match provider_bucket.filter(|b| b.bucket == name) {
        Some(b) => BucketAccess {
            bucket: b.bucket,
            region: b.region,
            access_key_id: b.access_key_id,
            secret_access_key: b.secret_access_key,
        },
        None => BucketAccess {
            bucket: name.to_owned(),
            ..BucketAccess::default()
        },
    };
    ctx.recordings
        .buckets
        .open(&access)
        .map_err(|e| Failure::Permanent(format!("cannot open bucket {name}: {e}")))
}

/// Where the recording's files are: the keys it was announced with, else what the provider's
/// API says now. `None` while the provider has not finished it.
async fn sources(
    ctx: &App,
    platform: &dyn VideoPlatform,
    recording: &Recording,
) -> Result<Option<Vec<(String, Source)>>, Failure> {
    if let (Some(bucket), false) = (&recording.bucket_name, recording.source_keys.is_empty()) {
        let store = open_bucket(ctx, platform.recording_bucket(), bucket)?;
        return Ok(Some(
            recording
                .source_keys
                .iter()
                .map(|key| {
                    (
                        key.clone(),
                        Source::Object {
                            store: store.clone(),
                            key: key.clone(),
                        },
                    )
                })
                .collect(),
        ));
    }
    let media = match platform
        .recording_media(&recording.platform_recording_id)
        .await
    {
        Ok(media) => media,
        Err(
            e @ (PlatformError::Unsupported { .. }
            | PlatformError::NotFound { .. }
            | PlatformError::NotConfigured { .. }),
        ) => {
            return Err(Failure::Permanent(e.to_string()));
        }
        Err(e) => return Err(Failure::Retry(e.to_string())),
    };
    Ok(match media {
        RecordingMedia::NotReady { status } => {
            tracing::info!(recording = %recording.id, status, "recording not finished at the provider yet");
            None
        }
        RecordingMedia::Bucket { bucket, keys } => {
            let store = open_bucket(ctx, platform.recording_bucket(), &bucket)?;
            Some(
                keys.into_iter()
                    .map(|key| {
                        let source = Source::Object {
                            store: store.clone(),
                            key: key.clone(),
                        };
                        (key, source)
                    })
                    .collect(),
            )
        }
        RecordingMedia::Link { url, .. } => Some(vec![(url_name(&url), Source::Url(url))]),
        RecordingMedia::Links { urls } => Some(
            urls.into_iter()
                .map(|url| (url_name(&url), Source::Url(url)))
                .collect(),
        ),
    })
}

/// A link's path (its query is a credential and is not kept).
fn url_name(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.path().to_owned())
        .unwrap_or_default()
}

/// The file extension of a source name, for our key (`mp4`, `webm`, `wav`, …).
fn extension(name: &str) -> &str {
    let file = name.rsplit('/').next().unwrap_or(name);
    match file.rsplit_once('.') {
        Some((_, ext))
            if !ext.is_empty()
                && ext.len() <= 5
                && ext.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            ext
        }
        _ => "bin",
    }
}

async fn download(
    ctx: &App,
    recording: &Recording,
    sources: &[(String, Source)],
) -> Result<StoredMedia, Failure> {
    if sources.is_empty() {
        return Err(Failure::Permanent(if recording.multitrack {
            "the recording has no audio tracks (no key contains cam-audio)".into()
        } else {
            "the provider names no file for this recording".into()
        }));
    }
    let dir = staging(ctx, recording);
    let mut keys = Vec::with_capacity(sources.len());
    let mut total = 0u64;
    let mut duration: Option<f64> = None;
    for (n, (name, source)) in sources.iter().enumerate() {
        let which = if sources.len() > 1 {
            format!("track {} ({name})", n + 1)
        } else {
            format!("the file ({name})")
        };
        let ext = extension(name);
        let file = dir.join(format!("{n}.{ext}"));
        let key = format!("recordings/{}/{n}.{ext}", recording.id);
        // Already uploaded by an attempt that died before marking the recording stored.
        let size = match ctx.recordings.storage.size(&key).await {
            Ok(Some(size)) if !file.exists() => {
                keys.push(key);
                total += size;
                continue;
            }
            _ => fetch(
                &ctx.recordings.http,
                source,
                &file,
                &ctx.recordings.download_policy,
            )
            .await
            .map_err(|e| {
                let message = format!("downloading {which}: {}", e.message);
                if e.retryable {
                    Failure::Retry(message)
                } else {
                    Failure::Permanent(message)
                }
            })?,
        };
        let info = probe_audio(&file).await.map_err(|e| match e {
            ProbeError::NoAudio | ProbeError::Unreadable(_) | ProbeError::Tool(_) => {
                Failure::Permanent(format!("{which}: {e}"))
            }
        })?;
        duration = match (duration, info.duration_seconds) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        ctx.recordings
            .storage
            .put_file(&key, &file)
            .await
            .map_err(|e| Failure::Retry(format!("storing {which}: {e}")))?;
        let _ = tokio::fs::remove_file(&file).await;
        keys.push(key);
        total += size;
    }
    Ok(StoredMedia {
        object_key: (!recording.multitrack).then(|| keys[0].clone()),
        track_keys: recording.multitrack.then_some(keys),
        duration: duration.or(recording.duration),
        size_bytes: i64::try_from(total).unwrap_or(i64::MAX),
        source_keys: sources.iter().map(|(name, _)| name.clone()).collect(),
    })
}

/// Marks the recording stored and queues its `recording.ready` webhook, in one transaction.
async fn store(ctx: &App, recording: &Recording, media: &StoredMedia) -> AppResult<()> {
    let meeting = ctx.store.meeting(&recording.meeting_id).await?;
    let room = match &meeting {
        Some(m) => ctx.store.room(&m.room_id).await?,
        None => None,
    };
    let webhook = meeting
        .as_ref()
        .zip(room.as_ref())
        .and_then(|(m, r)| notify::recording_ready(ctx, recording, media, m, r));
    let stored = ctx
        .store
        .recording_stored(
            &recording.id,
            media,
            webhook.as_ref().map(|(e, j)| (e, j)),
            ctx.clock.now(),
        )
        .await?;
    if stored {
        tracing::info!(recording = %recording.id, bytes = media.size_bytes, "recording stored");
        ctx.queue.wake();
    }
    // Its transcript, once per recording (also when this run is a repeat).
    if let Some(stored) = ctx.store.recording(&recording.id).await? {
        crate::transcripts::recording_stored(ctx, &stored).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_the_source_extension() {
        assert_eq!(extension("acme/r/1-cam-audio-1.webm"), "webm");
        assert_eq!(extension("/mock-video/r/recordings/x/0.wav"), "wav");
        assert_eq!(extension("daily/r/1767250800000"), "bin");
        assert_eq!(url_name("https://x.example/a/b.mp4?sig=secret"), "/a/b.mp4");
    }
}
