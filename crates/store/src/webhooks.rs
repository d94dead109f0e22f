//! The provider webhook inbox and the outgoing room webhook outbox with its delivery attempts.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::jobs::{NewJob, enqueue_on};
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
    /// Stores a verified webhook once per (provider, event id) and, for a new one, enqueues
    /// `job` in the same transaction. Returns whether the event was new.
    pub async fn ingest_webhook(
        &self,
        event: &InboxEvent,
        job: impl FnOnce(&str) -> NewJob,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO webhook_event (id, provider, event_id, type, payload, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (provider, event_id) DO NOTHING",
        )
        .bind(&event.id)
        .bind(&event.provider)
        .bind(&event.event_id)
        .bind(&event.event_type)
        .bind(&event.payload)
        .bind(ts(event.received_at))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if inserted {
            enqueue_on(&mut tx, &job(&event.id), event.received_at).await?;
        }
        tx.commit().await?;
        Ok(inserted)
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
