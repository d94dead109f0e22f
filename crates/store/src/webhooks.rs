//! The provider webhook inbox and the outgoing room webhook outbox with its delivery attempts.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::jobs::{NewJob, enqueue_on};
use crate::presence::{SessionChange, add_num_clients_on, apply_sessions_on, meeting_row_lock};
use crate::time::{opt_ts, parse_opt_ts, parse_ts, ts};
use crate::{Result, Store, StoreError};

/// A verified provider webhook as received.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxEvent {
    pub id: String,
    pub provider: String,
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    pub received_at: DateTime<Utc>,
}

/// A verified webhook to store, with what applies it.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingWebhook {
    pub event: InboxEvent,
    /// The meeting it is about, when known at receipt: the event then waits in the inbox for
    /// that meeting's apply job (see [`Store::pending_meeting_events`]) instead of a job of its
    /// own.
    pub meeting_id: Option<String>,
    /// The stored form of the work that applies it (a job payload).
    pub work: String,
    /// Set for a participant's join or leave that needs nothing but its session changed. It is
    /// applied in the transaction that stores it, with no job, when its meeting is known, every
    /// event of that meeting in the batch is such a change, and none of the meeting's events is
    /// still waiting in the inbox (so the meeting's events keep their order). Otherwise it waits
    /// for the meeting's job like any other event.
    pub session: Option<SessionEvent>,
}

/// A participant's join or leave, as [`IncomingWebhook::session`].
#[derive(Debug, Clone, PartialEq)]
pub struct SessionEvent {
    pub joined: bool,
    pub platform_session_id: String,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub at: DateTime<Utc>,
}

/// An inbox event waiting for its meeting's apply job.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingEvent {
    pub id: String,
    /// `None` for a row stored before the inbox kept its work (it has a job of its own).
    pub work: Option<String>,
}

/// Rows written by one statement, two ways. SQLite binds each value, in statements built for
/// powers of two up to [`MAX_ROWS_PER_STATEMENT`] rows ([`RowStatements`]), so a connection
/// prepares (and caches) a handful of them, not one per batch size. PostgreSQL reads any number
/// of rows from one JSON parameter ([`json_rows`]), so a batch is one statement: the writer waits
/// for each statement's round trip, and a statement per power of two in the batch's size made
/// an ingest batch 11.7 statements instead of 7.3 (see the README's Benchmark).
const MAX_ROWS_PER_STATEMENT: usize = 128;

/// The largest power of two that is at most `n` (≥ 1) and [`MAX_ROWS_PER_STATEMENT`].
pub(crate) fn rows_for(n: usize) -> usize {
    let n = n.clamp(1, MAX_ROWS_PER_STATEMENT);
    1 << (usize::BITS - 1 - n.leading_zeros())
}

/// How many of `n` rows one statement on `conn` writes: [`rows_for`] on SQLite, all on
/// PostgreSQL.
pub(crate) fn rows_per_statement(conn: &sqlx::AnyConnection, n: usize) -> usize {
    if is_sqlite(conn) { rows_for(n) } else { n }
}

/// `rows` as the JSON array that PostgreSQL's `json_to_recordset` (of objects) or
/// `json_array_elements_text` (of strings) reads.
pub(crate) fn json_rows(rows: &(impl serde::Serialize + ?Sized)) -> Result<String> {
    serde_json::to_string(rows).map_err(|e| StoreError::Database(sqlx::Error::Encode(e.into())))
}

/// A multi-row SQLite statement, built once for each row count [`rows_for`] gives, not once per
/// batch (building them was 2 % of a webhook's instructions).
///
/// Its parameters are anonymous (`?`): SQLite resolves each named parameter by a linear search
/// of the statement's names, so binding hundreds of `$n` costs time quadratic in their number
/// (it was 6 % of the ingest writer's time); anonymous ones are found by position.
pub(crate) struct RowStatements {
    build: fn(rows: usize) -> String,
    built: std::sync::OnceLock<Vec<String>>,
}

impl RowStatements {
    pub(crate) const fn new(build: fn(rows: usize) -> String) -> Self {
        Self {
            build,
            built: std::sync::OnceLock::new(),
        }
    }

    /// The statement for `rows` rows, a power of two up to [`MAX_ROWS_PER_STATEMENT`].
    pub(crate) fn get(&self, rows: usize) -> &str {
        debug_assert_eq!(rows, rows_for(rows), "a row count rows_for gives");
        let built = self.built.get_or_init(|| {
            (0..=MAX_ROWS_PER_STATEMENT.trailing_zeros())
                .map(|k| (self.build)(1 << k))
                .collect()
        });
        &built[rows.trailing_zeros() as usize]
    }
}

/// Whether `conn` is SQLite's (else PostgreSQL's).
pub(crate) fn is_sqlite(conn: &sqlx::AnyConnection) -> bool {
    conn.backend_name() == <sqlx::Sqlite as sqlx::Database>::NAME
}

/// `(?, …), (…)`: `rows` rows of `width` parameters.
pub(crate) fn value_rows(rows: usize, width: usize) -> String {
    let row = format!("({})", param_list(width));
    vec![row; rows].join(", ")
}

/// `?, …`: `n` parameters.
pub(crate) fn param_list(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// The meetings of `batch` whose events are all applied as they are stored (see
/// [`IncomingWebhook::session`]), in id order, each locked for the rest of the transaction so
/// that concurrent counts of its sessions follow one another (PostgreSQL).
async fn meetings_applied_here<'a>(
    conn: &mut sqlx::AnyConnection,
    batch: &[(usize, &'a IncomingWebhook)],
) -> Result<Vec<&'a str>> {
    let mut meetings: Vec<&str> = batch
        .iter()
        .filter_map(|(_, w)| w.meeting_id.as_deref())
        .collect();
    meetings.sort_unstable();
    meetings.dedup();
    let mut here = Vec::new();
    for meeting_id in meetings {
        let all_sessions = batch
            .iter()
            .filter(|(_, w)| w.meeting_id.as_deref() == Some(meeting_id))
            .all(|(_, w)| w.session.is_some());
        if !all_sessions {
            continue;
        }
        // The meeting's row lock and whether any of its events waits, in one round trip; no
        // row when the meeting is gone.
        let lock = meeting_row_lock(conn);
        let row = sqlx::query(&format!(
            "SELECT CAST(CASE WHEN EXISTS (SELECT 1 FROM webhook_event \
             WHERE meeting_id = $1 AND processed_at IS NULL) THEN 1 ELSE 0 END AS BIGINT) \
             AS waiting FROM meeting WHERE id = $1{lock}"
        ))
        .bind(meeting_id)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(row) = row
            && row.try_get::<i64, _>("waiting")? == 0
        {
            here.push(meeting_id);
        }
    }
    Ok(here)
}

/// Which of the inbox ids `ids` (a power of two of them) are stored.
async fn stored_ids_on(conn: &mut sqlx::AnyConnection, ids: &[&str]) -> Result<Vec<String>> {
    static STORED: RowStatements = RowStatements::new(|rows| {
        format!(
            "SELECT id FROM webhook_event WHERE id IN ({})",
            param_list(rows)
        )
    });
    let mut query = sqlx::query(STORED.get(ids.len()));
    for id in ids {
        query = query.bind(*id);
    }
    query
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| Ok(r.try_get("id")?))
        .collect()
}

/// One inbox row as [`Store::ingest_webhooks`] writes it.
#[derive(serde::Serialize)]
struct InboxRow<'a> {
    id: &'a str,
    provider: &'a str,
    event_id: &'a str,
    r#type: &'a str,
    payload: &'a str,
    received_at: String,
    meeting_id: Option<&'a str>,
    work: Option<&'a str>,
    processed_at: Option<String>,
}

/// Inserts `rows` (SQLite), each unless its (provider, event id) is stored; returns the ids of
/// those it wrote.
async fn insert_inbox_rows_on(
    conn: &mut sqlx::AnyConnection,
    rows: &[InboxRow<'_>],
) -> Result<HashSet<String>> {
    static INSERT: RowStatements = RowStatements::new(|rows| {
        // `OR IGNORE`, so that no constraint can abort the statement, which then needs no
        // statement journal (copying each page it touches into one was 7 % of the instructions
        // under webhook load). The one conflict it can meet is a redelivery's (provider, event
        // id): the values bound are never NULL and the ids are fresh.
        format!(
            "INSERT OR IGNORE INTO webhook_event (id, provider, event_id, type, payload, \
             received_at, meeting_id, work, processed_at) VALUES {}",
            value_rows(rows, 9)
        )
    });
    let mut inserted = HashSet::new();
    let mut rest = rows;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(rows_for(rest.len()));
        let mut query = sqlx::query(INSERT.get(chunk.len()));
        for row in chunk {
            query = query
                .bind(row.id)
                .bind(row.provider)
                .bind(row.event_id)
                .bind(row.r#type)
                .bind(row.payload)
                .bind(&row.received_at)
                .bind(row.meeting_id)
                .bind(row.work)
                .bind(&row.processed_at);
        }
        // Usually every event is new, which the count of rows written says; only a batch with
        // redeliveries asks which rows are there now (fresh ids: those it wrote). A row returned
        // per event (`RETURNING`) cost a tenth of the one writer's time.
        let written = query.execute(&mut *conn).await?.rows_affected();
        if usize::try_from(written).is_ok_and(|w| w == chunk.len()) {
            inserted.extend(chunk.iter().map(|row| row.id.to_owned()));
        } else if written > 0 {
            let ids: Vec<&str> = chunk.iter().map(|row| row.id).collect();
            inserted.extend(stored_ids_on(conn, &ids).await?);
        }
        rest = tail;
    }
    Ok(inserted)
}

/// Inserts `rows` (PostgreSQL) in one statement that reads them from one JSON parameter, each
/// unless its (provider, event id) is stored; returns the ids of those it wrote (a redelivery's
/// row is not returned). One statement for the whole batch (see [`MAX_ROWS_PER_STATEMENT`]).
async fn insert_inbox_json_on(
    conn: &mut sqlx::AnyConnection,
    rows: &[InboxRow<'_>],
) -> Result<HashSet<String>> {
    const INSERT: &str = "INSERT INTO webhook_event (id, provider, event_id, type, payload, \
        received_at, meeting_id, work, processed_at) \
        SELECT id, provider, event_id, type, payload, received_at, meeting_id, work, processed_at \
        FROM json_to_recordset($1::json) AS r(id TEXT, provider TEXT, event_id TEXT, type TEXT, \
        payload TEXT, received_at TEXT, meeting_id TEXT, work TEXT, processed_at TEXT) \
        ON CONFLICT (provider, event_id) DO NOTHING RETURNING id";
    let rows = sqlx::query(INSERT)
        .bind(json_rows(rows)?)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
}

/// Marks the inbox events `ids` processed without a note, on the caller's connection.
pub(crate) async fn mark_processed_on(
    conn: &mut sqlx::AnyConnection,
    ids: &[&str],
    now: DateTime<Utc>,
) -> Result<()> {
    static MARK: RowStatements = RowStatements::new(|rows| {
        format!(
            "UPDATE webhook_event SET processed_at = ?, error = NULL \
             WHERE processed_at IS NULL AND id IN ({})",
            param_list(rows)
        )
    });
    let now = ts(now);
    if !is_sqlite(conn) {
        sqlx::query(
            "UPDATE webhook_event SET processed_at = $1, error = NULL \
             WHERE processed_at IS NULL AND id IN (SELECT json_array_elements_text($2::json))",
        )
        .bind(&now)
        .bind(json_rows(ids)?)
        .execute(&mut *conn)
        .await?;
        return Ok(());
    }
    let mut rest = ids;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(rows_for(rest.len()));
        let mut query = sqlx::query(MARK.get(chunk.len())).bind(&now);
        for id in chunk {
            query = query.bind(*id);
        }
        query.execute(&mut *conn).await?;
        rest = tail;
    }
    Ok(())
}

/// An outgoing room webhook event; its `event_id` is the same on every attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    pub event_id: String,
    pub room_id: String,
    pub event: String,
    pub payload: String,
    pub status: OutboxStatus,
    pub created_at: DateTime<Utc>,
}

/// Where an outgoing event stands. `Delivered` and `Failed` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxStatus {
    /// Queued, not attempted yet.
    Pending,
    /// Attempted and failed; another attempt is scheduled.
    Retrying,
    Delivered,
    /// Given up: a permanent refusal, or the retry window ran out.
    Failed,
}

impl OutboxStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Retrying => "retrying",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub const fn is_final(self) -> bool {
        matches!(self, Self::Delivered | Self::Failed)
    }

    fn parse(raw: &str) -> Result<Self> {
        [Self::Pending, Self::Retrying, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown outbox status {raw:?}")))
    }
}

/// One delivery attempt of an outgoing webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryAttempt {
    pub id: String,
    pub event_id: String,
    pub room_id: String,
    pub event: String,
    pub url: String,
    /// 0 for the first attempt.
    pub attempt: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub attempted_at: DateTime<Utc>,
}

impl Store {
    /// Stores a batch of verified webhooks in one transaction (durable when this returns), each
    /// once per (provider, event id). A new event with a meeting waits for that meeting's job,
    /// `meeting_job(meeting_id)`, enqueued once per meeting (its dedupe key makes that a no-op
    /// while one is queued), unless it is a session change applied here (see
    /// [`IncomingWebhook::session`]; the meeting then gets `presence_job(meeting_id)`); a new
    /// event without one gets its own job, `event_job(index)` (its index in `batch`).
    /// Returns, in order, whether each event was new (of several deliveries of one event in the
    /// batch, the first is the one stored).
    pub async fn ingest_webhooks<W: std::borrow::Borrow<IncomingWebhook>>(
        &self,
        batch: &[W],
        meeting_job: impl Fn(&str) -> NewJob,
        event_job: impl Fn(usize) -> NewJob,
        presence_job: impl Fn(&str) -> NewJob,
    ) -> Result<Vec<bool>> {
        let mut seen = HashSet::new();
        let firsts: Vec<(usize, &IncomingWebhook)> = batch
            .iter()
            .map(W::borrow)
            .enumerate()
            .filter(|(_, w)| seen.insert((&w.event.provider, &w.event.event_id)))
            .collect();
        let mut tx = self.pool.begin().await?;
        let applied_here = meetings_applied_here(&mut tx, &firsts).await?;
        let here = |w: &IncomingWebhook| {
            w.meeting_id
                .as_deref()
                .is_some_and(|m| applied_here.contains(&m))
        };
        // An event applied here is stored processed (as it is received), without the work
        // nothing will read.
        let rows: Vec<InboxRow<'_>> = firsts
            .iter()
            .map(|(_, w)| {
                let (work, processed_at) = if here(w) {
                    (None, Some(ts(w.event.received_at)))
                } else {
                    (Some(w.work.as_str()), None)
                };
                InboxRow {
                    id: &w.event.id,
                    provider: &w.event.provider,
                    event_id: &w.event.event_id,
                    r#type: &w.event.event_type,
                    payload: &w.event.payload,
                    received_at: ts(w.event.received_at),
                    meeting_id: w.meeting_id.as_deref(),
                    work,
                    processed_at,
                }
            })
            .collect();
        let inserted = if is_sqlite(&tx) {
            insert_inbox_rows_on(&mut tx, &rows).await?
        } else {
            insert_inbox_json_on(&mut tx, &rows).await?
        };
        let new: Vec<&(usize, &IncomingWebhook)> = firsts
            .iter()
            .filter(|(_, w)| inserted.contains(&w.event.id))
            .collect();
        for meeting_id in &applied_here {
            let events: Vec<&IncomingWebhook> = new
                .iter()
                .map(|(_, w)| *w)
                .filter(|w| w.meeting_id.as_deref() == Some(meeting_id))
                .collect();
            let changes: Vec<(bool, SessionChange<'_>)> = events
                .iter()
                .filter_map(|w| w.session.as_ref())
                .map(|s| {
                    let change = SessionChange {
                        meeting_id,
                        platform_session_id: &s.platform_session_id,
                        user_id: s.user_id.as_deref(),
                        user_name: s.user_name.as_deref(),
                        at: s.at,
                    };
                    (s.joined, change)
                })
                .collect();
            if let Some(last) = events.last() {
                let opened = apply_sessions_on(&mut tx, &changes).await?;
                add_num_clients_on(&mut tx, meeting_id, opened).await?;
                enqueue_on(&mut tx, &presence_job(meeting_id), last.event.received_at).await?;
            }
        }
        let mut waiting: Vec<&str> = Vec::new();
        for (i, w) in new.iter().filter(|(_, w)| !here(w)) {
            match &w.meeting_id {
                Some(m) if !waiting.contains(&m.as_str()) => waiting.push(m),
                Some(_) => {}
                None => {
                    enqueue_on(&mut tx, &event_job(*i), w.event.received_at).await?;
                }
            }
        }
        for meeting_id in waiting {
            let job = meeting_job(meeting_id);
            enqueue_on(&mut tx, &job, job.run_at).await?;
        }
        tx.commit().await?;
        Ok(batch
            .iter()
            .map(|w| inserted.contains(&w.borrow().event.id))
            .collect())
    }

    /// Up to `limit` of the meeting's inbox events that wait for its apply job, oldest first.
    pub async fn pending_meeting_events(
        &self,
        meeting_id: &str,
        limit: i64,
    ) -> Result<Vec<PendingEvent>> {
        let rows = sqlx::query(
            "SELECT id, work FROM webhook_event WHERE meeting_id = $1 AND processed_at IS NULL \
             ORDER BY received_at, id LIMIT $2",
        )
        .bind(meeting_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PendingEvent {
                    id: r.try_get("id")?,
                    work: r.try_get("work")?,
                })
            })
            .collect()
    }

    /// Marks every inbox event still waiting for the meeting's apply job as processed with
    /// `error` (when that job gave up).
    pub async fn fail_pending_meeting_events(
        &self,
        meeting_id: &str,
        now: DateTime<Utc>,
        error: &str,
    ) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE webhook_event SET processed_at = $2, error = $3 \
             WHERE meeting_id = $1 AND processed_at IS NULL",
        )
        .bind(meeting_id)
        .bind(ts(now))
        .bind(error)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// The provider event ids in the inbox (diagnostics and tests).
    pub async fn inbox_event_ids(&self, provider: &str) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT event_id FROM webhook_event WHERE provider = $1")
            .bind(provider)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("event_id")?)).collect()
    }

    pub async fn inbox_event(&self, id: &str) -> Result<Option<InboxEvent>> {
        let row = sqlx::query(
            "SELECT id, provider, event_id, type, payload, received_at FROM webhook_event WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(InboxEvent {
                id: r.try_get("id")?,
                provider: r.try_get("provider")?,
                event_id: r.try_get("event_id")?,
                event_type: r.try_get("type")?,
                payload: r.try_get("payload")?,
                received_at: parse_ts(&r.try_get::<String, _>("received_at")?)?,
            })
        })
        .transpose()
    }

    pub async fn mark_inbox_processed(
        &self,
        id: &str,
        now: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE webhook_event SET processed_at = $2, error = $3 \
             WHERE id = $1 AND processed_at IS NULL",
        )
        .bind(id)
        .bind(ts(now))
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// (received, processed) counts of the inbox.
    pub async fn inbox_counts(&self) -> Result<(i64, i64)> {
        let row = sqlx::query("SELECT COUNT(*) AS n, COUNT(processed_at) AS p FROM webhook_event")
            .fetch_one(&self.pool)
            .await?;
        Ok((row.try_get("n")?, row.try_get("p")?))
    }

    /// Stores an outgoing event once per event id and, when new, enqueues its delivery job in the
    /// same transaction. Returns whether it was new.
    pub async fn queue_outgoing_webhook(&self, event: &OutboxEvent, job: &NewJob) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let inserted = queue_outgoing_on(&mut tx, event, job).await?;
        tx.commit().await?;
        Ok(inserted)
    }

    /// Deletes webhook history older than `before`: attempts, finished outgoing events, and
    /// processed incoming events. Returns how many rows went.
    pub async fn prune_webhooks(&self, before: DateTime<Utc>) -> Result<u64> {
        let before = ts(before);
        let mut pruned = 0;
        for sql in [
            "DELETE FROM webhook_delivery WHERE attempted_at < $1",
            "DELETE FROM webhook_outbox WHERE status IN ('delivered', 'failed') AND created_at < $1",
            "DELETE FROM webhook_event WHERE processed_at IS NOT NULL AND received_at < $1",
        ] {
            pruned += sqlx::query(sql)
                .bind(&before)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(pruned)
    }

    pub async fn outbox_event(&self, event_id: &str) -> Result<Option<OutboxEvent>> {
        let row = sqlx::query(
            "SELECT event_id, room_id, event, payload, status, created_at FROM webhook_outbox \
             WHERE event_id = $1",
        )
        .bind(event_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(OutboxEvent {
                event_id: r.try_get("event_id")?,
                room_id: r.try_get("room_id")?,
                event: r.try_get("event")?,
                payload: r.try_get("payload")?,
                status: OutboxStatus::parse(&r.try_get::<String, _>("status")?)?,
                created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
            })
        })
        .transpose()
    }

    pub async fn set_outbox_status(&self, event_id: &str, status: OutboxStatus) -> Result<()> {
        // 'delivered' and 'failed' are final.
        sqlx::query(
            "UPDATE webhook_outbox SET status = $2 \
             WHERE event_id = $1 AND status NOT IN ('delivered', 'failed')",
        )
        .bind(event_id)
        .bind(status.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn record_delivery(&self, d: &DeliveryAttempt) -> Result<()> {
        sqlx::query(
            "INSERT INTO webhook_delivery (id, event_id, room_id, event, url, attempt, status_code, \
             error, next_attempt_at, delivered_at, attempted_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&d.id)
        .bind(&d.event_id)
        .bind(&d.room_id)
        .bind(&d.event)
        .bind(&d.url)
        .bind(d.attempt)
        .bind(d.status_code)
        .bind(&d.error)
        .bind(opt_ts(d.next_attempt_at))
        .bind(opt_ts(d.delivered_at))
        .bind(ts(d.attempted_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The number of attempts recorded for an event (the next attempt's number).
    pub async fn delivery_count(&self, event_id: &str) -> Result<i64> {
        Ok(
            sqlx::query("SELECT COUNT(*) AS n FROM webhook_delivery WHERE event_id = $1")
                .bind(event_id)
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?,
        )
    }

    /// A room's delivery attempts, newest first.
    pub async fn deliveries(&self, room_id: &str, limit: i64) -> Result<Vec<DeliveryAttempt>> {
        let rows = sqlx::query(
            "SELECT id, event_id, room_id, event, url, attempt, status_code, error, \
             next_attempt_at, delivered_at, attempted_at FROM webhook_delivery WHERE room_id = $1 \
             ORDER BY attempted_at DESC, attempt DESC LIMIT $2",
        )
        .bind(room_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(delivery_from_row).collect()
    }
}

/// Stores an outgoing event once per event id and, when new, enqueues its delivery `job` on
/// the same connection (the caller's transaction). Returns whether it was new.
pub(crate) async fn queue_outgoing_on(
    conn: &mut sqlx::AnyConnection,
    event: &OutboxEvent,
    job: &NewJob,
) -> Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO webhook_outbox (event_id, room_id, event, payload, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(&event.event_id)
    .bind(&event.room_id)
    .bind(&event.event)
    .bind(&event.payload)
    .bind(event.status.as_str())
    .bind(ts(event.created_at))
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0;
    if inserted {
        enqueue_on(conn, job, event.created_at).await?;
    }
    Ok(inserted)
}

fn delivery_from_row(r: &AnyRow) -> Result<DeliveryAttempt> {
    Ok(DeliveryAttempt {
        id: r.try_get("id")?,
        event_id: r.try_get("event_id")?,
        room_id: r.try_get("room_id")?,
        event: r.try_get("event")?,
        url: r.try_get("url")?,
        attempt: r.try_get("attempt")?,
        status_code: r.try_get("status_code")?,
        error: r.try_get("error")?,
        next_attempt_at: parse_opt_ts(r.try_get("next_attempt_at")?)?,
        delivered_at: parse_opt_ts(r.try_get("delivered_at")?)?,
        attempted_at: parse_ts(&r.try_get::<String, _>("attempted_at")?)?,
    })
}
