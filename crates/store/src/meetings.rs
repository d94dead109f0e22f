//! Meetings and the per-room creation lease.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use reflector_core::{Meeting, PlatformName, Room};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::jobs::{NewJob, enqueue_on};
use crate::rooms::{self, flag, parse_enum};
use crate::time::{parse_ts, ts};
use crate::webhooks::{OutboxEvent, queue_outgoing_on};
use crate::{Result, Store, StoreError, column_names, select_list};

/// The meeting's columns, and which are flags.
const FIELDS: [(&str, bool); 19] = [
    ("id", false),
    ("platform", false),
    ("platform_meeting_id", false),
    ("room_name", false),
    ("room_url", false),
    ("host_room_url", false),
    ("start_date", false),
    ("end_date", false),
    ("room_id", false),
    ("is_locked", true),
    ("room_mode", false),
    ("recording_type", false),
    ("recording_trigger", false),
    ("num_clients", false),
    ("is_active", true),
    ("calendar_event_id", false),
    ("calendar_metadata", false),
    ("composed_video_key", false),
    ("composed_video_duration", false),
];

static COLUMNS: LazyLock<String> = LazyLock::new(|| column_names(&FIELDS));
static SELECT_COLUMNS: LazyLock<String> = LazyLock::new(|| select_list(&FIELDS, "", ""));

fn meeting_from_row(row: &AnyRow) -> Result<Meeting> {
    let metadata: Option<String> = row.try_get("calendar_metadata")?;
    Ok(Meeting {
        id: row.try_get("id")?,
        platform: PlatformName::new(row.try_get::<String, _>("platform")?),
        platform_meeting_id: row.try_get("platform_meeting_id")?,
        room_name: row.try_get("room_name")?,
        room_url: row.try_get("room_url")?,
        host_room_url: row.try_get("host_room_url")?,
        start_date: parse_ts(&row.try_get::<String, _>("start_date")?)?,
        end_date: parse_ts(&row.try_get::<String, _>("end_date")?)?,
        room_id: row.try_get("room_id")?,
        is_locked: flag(row, "is_locked")?,
        room_mode: parse_enum(row, "room_mode")?,
        recording_type: parse_enum(row, "recording_type")?,
        recording_trigger: parse_enum(row, "recording_trigger")?,
        num_clients: row.try_get("num_clients")?,
        is_active: flag(row, "is_active")?,
        calendar_event_id: row.try_get("calendar_event_id")?,
        calendar_metadata: metadata
            .map(|m| serde_json::from_str(&m))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("calendar_metadata: {e}")))?,
        composed_video_key: row.try_get("composed_video_key")?,
        composed_video_duration: row.try_get("composed_video_duration")?,
    })
}

impl Store {
    pub async fn insert_meeting(&self, m: &Meeting) -> Result<()> {
        let sql = format!(
            "INSERT INTO meeting ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14, $15, $16, $17, $18, $19)",
            *COLUMNS
        );
        sqlx::query(&sql)
            .bind(&m.id)
            .bind(m.platform.as_str())
            .bind(&m.platform_meeting_id)
            .bind(&m.room_name)
            .bind(&m.room_url)
            .bind(&m.host_room_url)
            .bind(ts(m.start_date))
            .bind(ts(m.end_date))
            .bind(&m.room_id)
            .bind(m.is_locked)
            .bind(m.room_mode.as_str())
            .bind(m.recording_type.as_str())
            .bind(m.recording_trigger.as_str())
            .bind(m.num_clients)
            .bind(m.is_active)
            .bind(&m.calendar_event_id)
            .bind(m.calendar_metadata.as_ref().map(|v| v.to_string()))
            .bind(&m.composed_video_key)
            .bind(m.composed_video_duration)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn meeting(&self, id: &str) -> Result<Option<Meeting>> {
        let sql = format!("SELECT {} FROM meeting WHERE id = $1", *SELECT_COLUMNS);
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.reads)
            .await?;
        row.as_ref().map(meeting_from_row).transpose()
    }

    /// A room's active meetings that end after `now`, latest end first.
    pub async fn open_meetings(&self, room_id: &str, now: DateTime<Utc>) -> Result<Vec<Meeting>> {
        let sql = format!(
            "SELECT {} FROM meeting WHERE room_id = $1 AND is_active = $2 AND end_date > $3 \
             ORDER BY end_date DESC",
            *SELECT_COLUMNS
        );
        let rows = sqlx::query(&sql)
            .bind(room_id)
            .bind(true)
            .bind(ts(now))
            .fetch_all(&self.reads)
            .await?;
        rows.iter().map(meeting_from_row).collect()
    }

    /// The room named `name` and its open meetings (as [`Store::open_meetings`] lists them), in
    /// one query: a visitor's get-or-create reads nothing else when a meeting is open.
    pub async fn room_by_name_with_open_meetings(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(Room, Vec<Meeting>)>> {
        // The room's columns are prefixed, as both tables have an `id`, a `platform`, ….
        const ROOM: &str = "r_";
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {}, {} FROM room r LEFT JOIN meeting m ON m.room_id = r.id \
                 AND m.is_active = $2 AND m.end_date > $3 WHERE r.name = $1 \
                 ORDER BY m.end_date DESC",
                select_list(&rooms::FIELDS, "r", ROOM),
                select_list(&FIELDS, "m", "")
            )
        });
        let rows = sqlx::query(&SQL)
            .bind(name)
            .bind(true)
            .bind(ts(now))
            .fetch_all(&self.reads)
            .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let room = rooms::room_from_columns(first, ROOM)?;
        let mut meetings = Vec::new();
        for row in &rows {
            // A room without open meetings is one row, whose meeting columns are NULL.
            if row.try_get::<Option<String>, _>("id")?.is_some() {
                meetings.push(meeting_from_row(row)?);
            }
        }
        Ok(Some((room, meetings)))
    }

    /// Ends a meeting and queues what must follow, in one transaction: its outgoing webhook
    /// event with its delivery job (when given) and the `follow_up` jobs. `false`, and nothing
    /// queued, when the meeting had already ended.
    pub async fn end_meeting(
        &self,
        meeting_id: &str,
        webhook: Option<(&OutboxEvent, &NewJob)>,
        follow_up: &[NewJob],
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let ended =
            sqlx::query("UPDATE meeting SET is_active = $2 WHERE id = $1 AND is_active = $3")
                .bind(meeting_id)
                .bind(false)
                .bind(true)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
        if !ended {
            return Ok(false);
        }
        if let Some((event, delivery)) = webhook {
            queue_outgoing_on(&mut tx, event, delivery).await?;
        }
        for job in follow_up {
            enqueue_on(&mut tx, job, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Takes the room's meeting-creation lease for `holder` until `until`, if nobody holds an
    /// unexpired one. Works across processes on both engines (an upsert that only replaces an
    /// expired lease).
    pub async fn try_lock_room(
        &self,
        room_id: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO room_meeting_lock (room_id, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (room_id) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at WHERE room_meeting_lock.expires_at < $4",
        )
        .bind(room_id)
        .bind(holder)
        .bind(ts(until))
        .bind(ts(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Extends `holder`'s lease on the room to `until`; `false` if it no longer holds it.
    pub async fn renew_room_lock(
        &self,
        room_id: &str,
        holder: &str,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE room_meeting_lock SET expires_at = $3 WHERE room_id = $1 AND holder = $2",
        )
        .bind(room_id)
        .bind(holder)
        .bind(ts(until))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Who holds the room's creation lease, and until when (expired leases included).
    pub async fn room_lock(&self, room_id: &str) -> Result<Option<(String, DateTime<Utc>)>> {
        let row =
            sqlx::query("SELECT holder, expires_at FROM room_meeting_lock WHERE room_id = $1")
                .bind(room_id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| {
            Ok((
                r.try_get("holder")?,
                parse_ts(&r.try_get::<String, _>("expires_at")?)?,
            ))
        })
        .transpose()
    }

    pub async fn unlock_room(&self, room_id: &str, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM room_meeting_lock WHERE room_id = $1 AND holder = $2")
            .bind(room_id)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
