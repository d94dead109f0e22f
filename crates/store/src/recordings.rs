//! Provider recordings in our storage: announced once per provider recording, then downloaded.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::jobs::{NewJob, enqueue_on};
use crate::time::{opt_ts, parse_opt_ts, parse_ts, ts};
use crate::webhooks::{OutboxEvent, queue_outgoing_on};
use crate::{Result, Store, StoreError};

/// Where a recording stands. `Stored` and `Error` are final (until someone retries it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingStatus {
    /// Announced; its download is queued.
    Pending,
    Downloading,
    /// In our storage, every track checked for audio.
    Stored,
    /// Given up; `error` says why.
    Error,
}

impl RecordingStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Downloading => "downloading",
            Self::Stored => "stored",
            Self::Error => "error",
        }
    }

    fn parse(raw: &str) -> Result<Self> {
        [Self::Pending, Self::Downloading, Self::Stored, Self::Error]
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown recording status {raw:?}")))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    pub id: String,
    pub platform: String,
    pub platform_recording_id: String,
    pub meeting_id: String,
    /// One file per participant track (`true`) or one file.
    pub multitrack: bool,
    /// The provider bucket the announcement named, if any.
    pub bucket_name: Option<String>,
    /// The keys the announcement named there (empty: ask the provider when downloading).
    pub source_keys: Vec<String>,
    /// Our storage key of a single-file recording.
    pub object_key: Option<String>,
    /// Our storage keys of a multitrack recording's tracks.
    pub track_keys: Option<Vec<String>>,
    pub recorded_at: Option<DateTime<Utc>>,
    pub duration: Option<f64>,
    pub size_bytes: Option<i64>,
    pub status: RecordingStatus,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Recording {
    /// `multitrack` or `single`, as stored.
    pub fn kind(&self) -> &'static str {
        if self.multitrack {
            "multitrack"
        } else {
            "single"
        }
    }

    /// Every key of this recording in our storage.
    pub fn stored_keys(&self) -> Vec<String> {
        match (&self.track_keys, &self.object_key) {
            (Some(tracks), _) => tracks.clone(),
            (None, Some(key)) => vec![key.clone()],
            (None, None) => Vec::new(),
        }
    }
}

/// Whether an announcement found the recording new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announced {
    /// Stored now, its download job queued in the same transaction.
    New(String),
    /// Known already (this id); nothing was queued.
    Known(String),
}

/// What a finished download stores on its recording.
#[derive(Debug, Clone)]
pub struct StoredMedia {
    pub object_key: Option<String>,
    pub track_keys: Option<Vec<String>>,
    pub duration: Option<f64>,
    pub size_bytes: i64,
    /// The provider's names of the files, in order, kept where the announcement named none.
    pub source_keys: Vec<String>,
}

const COLUMNS: &str = "id, platform, platform_recording_id, meeting_id, kind, bucket_name, \
    source_keys, object_key, track_keys, recorded_at, duration, size_bytes, status, error, \
    created_at, updated_at";

fn json_list(row: &AnyRow, col: &str) -> Result<Option<Vec<String>>> {
    let raw: Option<String> = row.try_get(col)?;
    raw.map(|r| serde_json::from_str(&r))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

fn recording_from_row(row: &AnyRow) -> Result<Recording> {
    Ok(Recording {
        id: row.try_get("id")?,
        platform: row.try_get("platform")?,
        platform_recording_id: row.try_get("platform_recording_id")?,
        meeting_id: row.try_get("meeting_id")?,
        multitrack: row.try_get::<String, _>("kind")? == "multitrack",
        bucket_name: row.try_get("bucket_name")?,
        source_keys: json_list(row, "source_keys")?.unwrap_or_default(),
        object_key: row.try_get("object_key")?,
        track_keys: json_list(row, "track_keys")?,
        recorded_at: parse_opt_ts(row.try_get("recorded_at")?)?,
        duration: row.try_get("duration")?,
        size_bytes: row.try_get("size_bytes")?,
        status: RecordingStatus::parse(&row.try_get::<String, _>("status")?)?,
        error: row.try_get("error")?,
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_ts(&row.try_get::<String, _>("updated_at")?)?,
    })
}

impl Store {
    /// Stores `recording` once per (platform, platform recording id) and, when it is new, queues
    /// `job` (its download) in the same transaction.
    pub async fn announce_recording(
        &self,
        recording: &Recording,
        job: impl FnOnce(&str) -> NewJob,
    ) -> Result<Announced> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(&format!(
            "INSERT INTO recording ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14, $15, $16) ON CONFLICT (platform, platform_recording_id) DO NOTHING"
        ))
        .bind(&recording.id)
        .bind(&recording.platform)
        .bind(&recording.platform_recording_id)
        .bind(&recording.meeting_id)
        .bind(recording.kind())
        .bind(&recording.bucket_name)
        .bind(
            (!recording.source_keys.is_empty())
                .then(|| serde_json::json!(recording.source_keys).to_string()),
        )
        .bind(&recording.object_key)
        .bind(
            recording
                .track_keys
                .as_ref()
                .map(|k| serde_json::json!(k).to_string()),
        )
        .bind(opt_ts(recording.recorded_at))
        .bind(recording.duration)
        .bind(recording.size_bytes)
        .bind(recording.status.as_str())
        .bind(&recording.error)
        .bind(ts(recording.created_at))
        .bind(ts(recording.updated_at))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if inserted {
            enqueue_on(&mut tx, &job(&recording.id), recording.created_at).await?;
            tx.commit().await?;
            return Ok(Announced::New(recording.id.clone()));
        }
        let id: String = sqlx::query(
            "SELECT id FROM recording WHERE platform = $1 AND platform_recording_id = $2",
        )
        .bind(&recording.platform)
        .bind(&recording.platform_recording_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        tx.commit().await?;
        Ok(Announced::Known(id))
    }

    pub async fn recording(&self, id: &str) -> Result<Option<Recording>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM recording WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(recording_from_row).transpose()
    }

    pub async fn recording_by_platform_id(
        &self,
        platform: &str,
        platform_recording_id: &str,
    ) -> Result<Option<Recording>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM recording WHERE platform = $1 AND platform_recording_id = $2"
        ))
        .bind(platform)
        .bind(platform_recording_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(recording_from_row).transpose()
    }

    /// A meeting's recordings, oldest first.
    pub async fn meeting_recordings(&self, meeting_id: &str) -> Result<Vec<Recording>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM recording WHERE meeting_id = $1 ORDER BY created_at, id"
        ))
        .bind(meeting_id)
        .fetch_all(&self.reads)
        .await?;
        rows.iter().map(recording_from_row).collect()
    }

    /// Moves a recording that is not stored yet to `status` (with `error` for `Error`).
    /// `false` when it was stored already.
    pub async fn set_recording_status(
        &self,
        id: &str,
        status: RecordingStatus,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let changed = sqlx::query(
            "UPDATE recording SET status = $2, error = $3, updated_at = $4 \
             WHERE id = $1 AND status <> 'stored'",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(error)
        .bind(ts(now))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed > 0)
    }

    /// Marks a recording stored with its media and, in the same transaction, queues its
    /// outgoing webhook (when given). `false`, and nothing queued, when it was stored already.
    pub async fn recording_stored(
        &self,
        id: &str,
        media: &StoredMedia,
        webhook: Option<(&OutboxEvent, &NewJob)>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let stored = sqlx::query(
            "UPDATE recording SET status = 'stored', error = NULL, object_key = $2, \
             track_keys = $3, duration = $4, size_bytes = $5, updated_at = $6, \
             source_keys = COALESCE(source_keys, $7) WHERE id = $1 AND status <> 'stored'",
        )
        .bind(id)
        .bind(&media.object_key)
        .bind(
            media
                .track_keys
                .as_ref()
                .map(|k| serde_json::json!(k).to_string()),
        )
        .bind(media.duration)
        .bind(media.size_bytes)
        .bind(ts(now))
        .bind(
            (!media.source_keys.is_empty())
                .then(|| serde_json::json!(media.source_keys).to_string()),
        )
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if !stored {
            return Ok(false);
        }
        if let Some((event, delivery)) = webhook {
            queue_outgoing_on(&mut tx, event, delivery).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The meeting on `platform` in provider room `room_name` that a recording started at
    /// `started_at` belongs to: the latest one that had started by then (with a minute's slack
    /// for clocks), else the latest of that room.
    pub async fn meeting_for_recording(
        &self,
        platform: &str,
        room_name: &str,
        started_at: Option<DateTime<Utc>>,
    ) -> Result<Option<reflector_core::Meeting>> {
        if let Some(at) = started_at {
            let id: Option<String> = sqlx::query(
                "SELECT id FROM meeting WHERE platform = $1 AND room_name = $2 AND start_date <= $3 \
                 ORDER BY start_date DESC LIMIT 1",
            )
            .bind(platform)
            .bind(room_name)
            .bind(ts(at + chrono::Duration::minutes(1)))
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get("id"))
            .transpose()?;
            if let Some(id) = id {
                return self.meeting(&id).await;
            }
        }
        self.meeting_by_provider_room(platform, room_name).await
    }
}
