//! Transcripts, and their full-text search: SQLite through an FTS5 table kept in step by every
//! write here, PostgreSQL through a GIN index on `to_tsvector('english', search_text)`.

use chrono::{DateTime, Utc};
use reflector_core::transcript::{
    Participant, Segment, ShareMode, SourceKind, Topic, TranscriptStatus,
};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::jobs::{NewJob, enqueue_on};
use crate::rooms::{flag, parse_enum};
use crate::time::{parse_ts, ts};
use crate::webhooks::{OutboxEvent, queue_outgoing_on};
use crate::{Backend, Result, Store, StoreError};

#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    pub id: String,
    pub user_id: Option<String>,
    pub name: String,
    pub title: Option<String>,
    pub status: TranscriptStatus,
    /// Milliseconds.
    pub duration: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub source_kind: SourceKind,
    pub source_language: String,
    pub target_language: String,
    pub short_summary: Option<String>,
    pub long_summary: Option<String>,
    pub topics: Vec<Topic>,
    pub participants: Vec<Participant>,
    pub segments: Vec<Segment>,
    pub webvtt: Option<String>,
    pub share_mode: ShareMode,
    pub audio_location: Option<String>,
    pub audio_deleted: bool,
    pub room_id: Option<String>,
    pub meeting_id: Option<String>,
    pub recording_id: Option<String>,
    pub error: Option<String>,
}

impl Transcript {
    /// The text searched: title, summaries, topics and what was said.
    pub fn search_text(&self) -> String {
        let mut parts: Vec<&str> = Vec::new();
        parts.extend(self.title.as_deref());
        parts.extend(self.short_summary.as_deref());
        parts.extend(self.long_summary.as_deref());
        parts.extend(self.topics.iter().map(|t| t.title.as_str()));
        parts.extend(self.segments.iter().map(|s| s.text.as_str()));
        parts.join("\n")
    }
}

/// What the pipeline writes when it finishes.
#[derive(Debug, Clone, Default)]
pub struct TranscriptResult {
    pub duration: Option<i64>,
    pub title: Option<String>,
    pub short_summary: Option<String>,
    pub long_summary: Option<String>,
    pub topics: Vec<Topic>,
    pub participants: Vec<Participant>,
    pub segments: Vec<Segment>,
    pub webvtt: String,
}

/// What the owner may change (`None`: unchanged).
#[derive(Debug, Clone, Default)]
pub struct TranscriptPatch {
    pub name: Option<String>,
    pub title: Option<String>,
    pub short_summary: Option<String>,
    pub long_summary: Option<String>,
    pub share_mode: Option<ShareMode>,
}

/// Which transcripts a caller sees: their own, those of shared rooms, and public ones.
#[derive(Debug, Clone, Default)]
pub struct TranscriptFilter {
    /// `None`: the anonymous caller (shared rooms and public transcripts only).
    pub user_id: Option<String>,
    pub room_id: Option<String>,
    pub source_kind: Option<SourceKind>,
}

#[derive(Debug, Clone)]
pub struct TranscriptPage {
    pub items: Vec<Transcript>,
    pub total: i64,
}

#[derive(Debug, Clone)]
pub struct SearchHit {
    pub transcript: Transcript,
    pub rank: f64,
    /// Fragments around the matches, the matched words wrapped in `<mark>`…`</mark>`.
    pub snippets: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct SearchPage {
    pub hits: Vec<SearchHit>,
    pub total: i64,
}

const COLUMNS: &str = "id, user_id, name, title, status, duration, created_at, updated_at, \
    source_kind, source_language, target_language, short_summary, long_summary, topics, \
    participants, segments, webvtt, share_mode, audio_location, audio_deleted, room_id, \
    meeting_id, recording_id, error, search_text";

fn select_columns(prefix: &str) -> String {
    COLUMNS
        .split(", ")
        .map(|c| {
            let c = c.trim();
            if c == "audio_deleted" {
                format!("CAST({prefix}audio_deleted AS INTEGER) AS audio_deleted")
            } else {
                format!("{prefix}{c}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn json<T: serde::de::DeserializeOwned>(row: &AnyRow, col: &str) -> Result<T> {
    let raw: String = row.try_get(col)?;
    serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn transcript_from_row(row: &AnyRow) -> Result<Transcript> {
    Ok(Transcript {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        title: row.try_get("title")?,
        status: parse_enum(row, "status")?,
        duration: row.try_get("duration")?,
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_ts(&row.try_get::<String, _>("updated_at")?)?,
        source_kind: parse_enum(row, "source_kind")?,
        source_language: row.try_get("source_language")?,
        target_language: row.try_get("target_language")?,
        short_summary: row.try_get("short_summary")?,
        long_summary: row.try_get("long_summary")?,
        topics: json(row, "topics")?,
        participants: json(row, "participants")?,
        segments: json(row, "segments")?,
        webvtt: row.try_get("webvtt")?,
        share_mode: parse_enum(row, "share_mode")?,
        audio_location: row.try_get("audio_location")?,
        audio_deleted: flag(row, "audio_deleted")?,
        room_id: row.try_get("room_id")?,
        meeting_id: row.try_get("meeting_id")?,
        recording_id: row.try_get("recording_id")?,
        error: row.try_get("error")?,
    })
}

/// The visibility and filter clause over `transcript t` (joined to `room r`), its binds from `$first`.
fn where_clause(filter: &TranscriptFilter, first: usize) -> (String, Vec<String>) {
    let mut binds = Vec::new();
    let mut n = first;
    let mut next = |v: String, binds: &mut Vec<String>| {
        binds.push(v);
        let p = format!("${n}");
        n += 1;
        p
    };
    let visible = match &filter.user_id {
        Some(user) => {
            let p = next(user.clone(), &mut binds);
            format!(
                "(t.user_id = {p} OR r.user_id = {p} OR r.is_shared = TRUE OR t.share_mode = 'public')"
            )
        }
        None => "(r.is_shared = TRUE OR t.share_mode = 'public')".to_owned(),
    };
    let mut clause = visible;
    if let Some(room) = &filter.room_id {
        let p = next(room.clone(), &mut binds);
        clause.push_str(&format!(" AND t.room_id = {p}"));
    }
    if let Some(kind) = filter.source_kind {
        let p = next(kind.as_str().to_owned(), &mut binds);
        clause.push_str(&format!(" AND t.source_kind = {p}"));
    }
    (clause, binds)
}

/// Words of a user's query as FTS5 string literals (so that no query syntax reaches FTS5), joined
/// by implicit AND.
fn fts5_query(q: &str) -> Option<String> {
    let terms: Vec<String> = q
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(|t| format!("\"{t}\""))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

impl Store {
    /// Sets up full-text search, which is engine-specific (idempotent; run after the migrations).
    pub(crate) async fn migrate_search(&self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => {
                sqlx::query(
                    "CREATE VIRTUAL TABLE IF NOT EXISTS transcript_fts USING fts5 \
                     (transcript_id UNINDEXED, body, tokenize = 'porter unicode61')",
                )
                .execute(&self.pool)
                .await?;
            }
            Backend::Postgres => {
                sqlx::query(
                    "CREATE INDEX IF NOT EXISTS transcript_search ON transcript \
                     USING GIN (to_tsvector('english', search_text))",
                )
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }

    pub async fn insert_transcript(&self, t: &Transcript) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        self.insert_on(&mut tx, t, "").await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates `t` (a stored recording's transcript) unless its recording has one, and then queues
    /// `job` (its pipeline) in the same transaction. Returns the recording's transcript id and
    /// whether it is new.
    pub async fn create_transcript_for_recording(
        &self,
        t: &Transcript,
        job: &NewJob,
    ) -> Result<(String, bool)> {
        let mut tx = self.pool.begin().await?;
        let inserted = self
            .insert_on(&mut tx, t, " ON CONFLICT (recording_id) DO NOTHING")
            .await?;
        if inserted {
            enqueue_on(&mut tx, job, t.created_at).await?;
            tx.commit().await?;
            return Ok((t.id.clone(), true));
        }
        let id: String = sqlx::query("SELECT id FROM transcript WHERE recording_id = $1")
            .bind(&t.recording_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("id")?;
        tx.commit().await?;
        Ok((id, false))
    }

    /// Queues `job` (a re-run of the pipeline) with the transcript back to `idle`, atomically.
    pub async fn reprocess_transcript(
        &self,
        id: &str,
        job: &NewJob,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE transcript SET status = 'idle', error = NULL, updated_at = $1 WHERE id = $2",
        )
        .bind(ts(now))
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n > 0 {
            enqueue_on(&mut tx, job, now).await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// An upload is complete: its file is at `key` in our storage. Sets the transcript
    /// `uploaded` with its audio and duration and queues `job` (its pipeline), in one
    /// transaction and only while the transcript is `idle` with no audio, so a file is queued at
    /// most once. Returns whether it was.
    pub async fn complete_upload(
        &self,
        id: &str,
        key: &str,
        duration: Option<i64>,
        job: &NewJob,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE transcript SET status = 'uploaded', audio_location = $1, \
             duration = COALESCE($2, duration), error = NULL, updated_at = $3 \
             WHERE id = $4 AND status = 'idle' AND audio_location IS NULL",
        )
        .bind(key)
        .bind(duration)
        .bind(ts(now))
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n > 0 {
            enqueue_on(&mut tx, job, now).await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn insert_on(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        t: &Transcript,
        on_conflict: &str,
    ) -> Result<bool> {
        let inserted = sqlx::query(&format!(
            "INSERT INTO transcript ({COLUMNS}) VALUES ({}){on_conflict}",
            crate::numbered_params(25)
        ))
        .bind(&t.id)
        .bind(&t.user_id)
        .bind(&t.name)
        .bind(&t.title)
        .bind(t.status.as_str())
        .bind(t.duration)
        .bind(ts(t.created_at))
        .bind(ts(t.updated_at))
        .bind(t.source_kind.as_str())
        .bind(&t.source_language)
        .bind(&t.target_language)
        .bind(&t.short_summary)
        .bind(&t.long_summary)
        .bind(to_json(&t.topics))
        .bind(to_json(&t.participants))
        .bind(to_json(&t.segments))
        .bind(&t.webvtt)
        .bind(t.share_mode.as_str())
        .bind(&t.audio_location)
        .bind(t.audio_deleted)
        .bind(&t.room_id)
        .bind(&t.meeting_id)
        .bind(&t.recording_id)
        .bind(&t.error)
        .bind(t.search_text())
        .execute(&mut **tx)
        .await
        .map_err(|e| {
            if crate::is_unique_violation(&e) {
                StoreError::Duplicate("the transcript (or one for this recording) exists already")
            } else {
                StoreError::from(e)
            }
        })?
        .rows_affected()
            > 0;
        if inserted {
            self.index_on(tx, &t.id, &t.search_text()).await?;
        }
        Ok(inserted)
    }

    async fn index_on(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        id: &str,
        text: &str,
    ) -> Result<()> {
        if self.backend == Backend::Sqlite {
            sqlx::query("DELETE FROM transcript_fts WHERE transcript_id = $1")
                .bind(id)
                .execute(&mut **tx)
                .await?;
            sqlx::query("INSERT INTO transcript_fts (transcript_id, body) VALUES ($1, $2)")
                .bind(id)
                .bind(text)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    pub async fn transcript(&self, id: &str) -> Result<Option<Transcript>> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM transcript WHERE id = $1",
            select_columns("")
        ))
        .bind(id)
        .fetch_optional(&self.reads)
        .await?;
        row.as_ref().map(transcript_from_row).transpose()
    }

    pub async fn transcript_for_recording(&self, recording_id: &str) -> Result<Option<Transcript>> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM transcript WHERE recording_id = $1",
            select_columns("")
        ))
        .bind(recording_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(transcript_from_row).transpose()
    }

    /// Moves a transcript to `status`, recording `error` (cleared when `None`).
    pub async fn set_transcript_status(
        &self,
        id: &str,
        status: TranscriptStatus,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE transcript SET status = $1, error = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(status.as_str())
        .bind(error)
        .bind(ts(now))
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    pub async fn set_transcript_audio(
        &self,
        id: &str,
        audio_location: Option<&str>,
        audio_deleted: bool,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE transcript SET audio_location = $1, audio_deleted = $2, updated_at = $3 \
             WHERE id = $4",
        )
        .bind(audio_location)
        .bind(audio_deleted)
        .bind(ts(now))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Stores what the pipeline produced and ends the transcript, re-indexing its text.
    pub async fn finish_transcript(
        &self,
        id: &str,
        result: &TranscriptResult,
        now: DateTime<Utc>,
    ) -> Result<Option<Transcript>> {
        self.finish_transcript_notifying(id, result, None, now)
            .await
    }

    /// As [`Store::finish_transcript`], queueing the outgoing `webhook` in the same transaction.
    pub async fn finish_transcript_notifying(
        &self,
        id: &str,
        result: &TranscriptResult,
        webhook: Option<(&OutboxEvent, &NewJob)>,
        now: DateTime<Utc>,
    ) -> Result<Option<Transcript>> {
        let mut tx = self.pool.begin().await?;
        if let Some((event, job)) = webhook {
            queue_outgoing_on(&mut tx, event, job).await?;
        }
        sqlx::query(
            "UPDATE transcript SET status = 'ended', error = NULL, duration = $1, title = $2, \
             short_summary = $3, long_summary = $4, topics = $5, participants = $6, \
             segments = $7, webvtt = $8, updated_at = $9 WHERE id = $10",
        )
        .bind(result.duration)
        .bind(&result.title)
        .bind(&result.short_summary)
        .bind(&result.long_summary)
        .bind(to_json(&result.topics))
        .bind(to_json(&result.participants))
        .bind(to_json(&result.segments))
        .bind(&result.webvtt)
        .bind(ts(now))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let updated = self.reindex_on(&mut tx, id).await?;
        tx.commit().await?;
        Ok(updated)
    }

    async fn reindex_on(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        id: &str,
    ) -> Result<Option<Transcript>> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM transcript WHERE id = $1",
            select_columns("")
        ))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
        let Some(t) = row.as_ref().map(transcript_from_row).transpose()? else {
            return Ok(None);
        };
        let text = t.search_text();
        sqlx::query("UPDATE transcript SET search_text = $1 WHERE id = $2")
            .bind(&text)
            .bind(id)
            .execute(&mut **tx)
            .await?;
        self.index_on(tx, id, &text).await?;
        Ok(Some(t))
    }

    pub async fn patch_transcript(
        &self,
        id: &str,
        patch: &TranscriptPatch,
        now: DateTime<Utc>,
    ) -> Result<Option<Transcript>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE transcript SET name = COALESCE($1, name), title = COALESCE($2, title), \
             short_summary = COALESCE($3, short_summary), \
             long_summary = COALESCE($4, long_summary), \
             share_mode = COALESCE($5, share_mode), updated_at = $6 WHERE id = $7",
        )
        .bind(&patch.name)
        .bind(&patch.title)
        .bind(&patch.short_summary)
        .bind(&patch.long_summary)
        .bind(patch.share_mode.map(|m| m.as_str()))
        .bind(ts(now))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let updated = self.reindex_on(&mut tx, id).await?;
        tx.commit().await?;
        Ok(updated)
    }

    pub async fn delete_transcript(&self, id: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Sqlite {
            sqlx::query("DELETE FROM transcript_fts WHERE transcript_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let n = sqlx::query("DELETE FROM transcript WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    /// The transcripts `filter` lets its caller see, newest first.
    pub async fn list_transcripts(
        &self,
        filter: &TranscriptFilter,
        limit: i64,
        offset: i64,
    ) -> Result<TranscriptPage> {
        let (clause, binds) = where_clause(filter, 1);
        let from = format!("FROM transcript t LEFT JOIN room r ON r.id = t.room_id WHERE {clause}");
        let count_sql = format!("SELECT COUNT(*) AS n {from}");
        let mut count = sqlx::query(&count_sql);
        for b in &binds {
            count = count.bind(b);
        }
        let total: i64 = count.fetch_one(&self.reads).await?.try_get("n")?;
        let n = binds.len();
        let sql = format!(
            "SELECT {} {from} ORDER BY t.created_at DESC, t.id LIMIT ${} OFFSET ${}",
            select_columns("t."),
            n + 1,
            n + 2
        );
        let mut query = sqlx::query(&sql);
        for b in &binds {
            query = query.bind(b);
        }
        let rows = query
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.reads)
            .await?;
        let items = rows
            .iter()
            .map(transcript_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(TranscriptPage { items, total })
    }

    /// Full-text search over title, summaries, topics and text, best match first.
    pub async fn search_transcripts(
        &self,
        q: &str,
        filter: &TranscriptFilter,
        limit: i64,
        offset: i64,
    ) -> Result<SearchPage> {
        let (clause, binds) = where_clause(filter, 2);
        let n = binds.len();
        let (from, rank, snippet, query_text) = match self.backend {
            Backend::Sqlite => {
                let Some(fts) = fts5_query(q) else {
                    return Ok(SearchPage {
                        hits: Vec::new(),
                        total: 0,
                    });
                };
                (
                    format!(
                        "FROM transcript_fts f JOIN transcript t ON t.id = f.transcript_id \
                         LEFT JOIN room r ON r.id = t.room_id \
                         WHERE transcript_fts MATCH $1 AND {clause}"
                    ),
                    // bm25 is lower for better matches.
                    "-bm25(transcript_fts)",
                    "snippet(transcript_fts, 1, '<mark>', '</mark>', '…', 12)",
                    fts,
                )
            }
            Backend::Postgres => (
                format!(
                    "FROM transcript t LEFT JOIN room r ON r.id = t.room_id \
                     WHERE to_tsvector('english', t.search_text) @@ websearch_to_tsquery('english', $1) \
                     AND {clause}"
                ),
                "CAST(ts_rank(to_tsvector('english', t.search_text), \
                 websearch_to_tsquery('english', $1)) AS DOUBLE PRECISION)",
                "ts_headline('english', t.search_text, websearch_to_tsquery('english', $1), \
                 'StartSel=<mark>, StopSel=</mark>, MaxFragments=3, MaxWords=20, MinWords=5, \
                 FragmentDelimiter=\u{1f}')",
                q.to_owned(),
            ),
        };
        let count_sql = format!("SELECT COUNT(*) AS n {from}");
        let mut count = sqlx::query(&count_sql).bind(&query_text);
        for b in &binds {
            count = count.bind(b);
        }
        let total: i64 = count.fetch_one(&self.reads).await?.try_get("n")?;
        let sql = format!(
            "SELECT {}, {rank} AS rank, {snippet} AS snippet {from} \
             ORDER BY rank DESC, t.created_at DESC LIMIT ${} OFFSET ${}",
            select_columns("t."),
            n + 2,
            n + 3
        );
        let mut query = sqlx::query(&sql).bind(&query_text);
        for b in &binds {
            query = query.bind(b);
        }
        let rows = query
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.reads)
            .await?;
        let hits = rows
            .iter()
            .map(|row| {
                let snippet: String = row.try_get("snippet")?;
                Ok(SearchHit {
                    transcript: transcript_from_row(row)?,
                    rank: row.try_get("rank")?,
                    snippets: snippet
                        .split('\u{1f}')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| s.contains("<mark>"))
                        .collect(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(SearchPage { hits, total })
    }
}
