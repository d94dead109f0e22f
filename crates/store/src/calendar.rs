//! Calendar events and the ICS sync state of rooms (SPEC §7).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::rooms::flag;
use crate::time::{opt_ts, parse_opt_ts, parse_ts, ts};
use crate::{Result, Store, StoreError};

/// A stored calendar event.
#[derive(Debug, Clone, PartialEq)]
pub struct CalendarEvent {
    pub id: String,
    pub room_id: String,
    pub ics_uid: String,
    /// The occurrence's original start (`20260309T090000Z`) for occurrences of a series.
    pub recurrence_id: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    /// `[{email, name, status, role}]`.
    pub attendees: serde_json::Value,
    pub location: Option<String>,
    pub ics_raw_data: Option<String>,
    pub last_synced: DateTime<Utc>,
    pub is_deleted: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An event as the feed has it now.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEvent {
    pub ics_uid: String,
    pub recurrence_id: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    pub attendees: serde_json::Value,
    pub location: Option<String>,
    pub ics_raw_data: Option<String>,
}

/// What applying a feed changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EventChanges {
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    /// Events whose start or end moved (ids), for their meetings to follow.
    pub moved: Vec<String>,
    /// Events soft-deleted by this sync (ids).
    pub removed: Vec<String>,
}

/// The stored outcome of a room's last fetch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IcsSyncState {
    pub content_hash: Option<String>,
    pub last_modified: Option<String>,
    pub last_status: Option<String>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_applied_at: Option<DateTime<Utc>>,
}

/// A room whose feed the scheduler considers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcsRoom {
    pub room_id: String,
    pub fetch_interval: i64,
    pub last_sync: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, room_id, ics_uid, recurrence_id, title, description, start_time, \
    end_time, attendees, location, ics_raw_data, last_synced, CAST(is_deleted AS INTEGER) AS is_deleted, \
    created_at, updated_at";

fn event_from_row(row: &AnyRow) -> Result<CalendarEvent> {
    let recurrence_id: String = row.try_get("recurrence_id")?;
    let attendees: String = row.try_get("attendees")?;
    Ok(CalendarEvent {
        id: row.try_get("id")?,
        room_id: row.try_get("room_id")?,
        ics_uid: row.try_get("ics_uid")?,
        recurrence_id: (!recurrence_id.is_empty()).then_some(recurrence_id),
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        start_time: parse_ts(&row.try_get::<String, _>("start_time")?)?,
        end_time: parse_ts(&row.try_get::<String, _>("end_time")?)?,
        attendees: serde_json::from_str(&attendees)
            .map_err(|e| StoreError::Corrupt(format!("attendees: {e}")))?,
        location: row.try_get("location")?,
        ics_raw_data: row.try_get("ics_raw_data")?,
        last_synced: parse_ts(&row.try_get::<String, _>("last_synced")?)?,
        is_deleted: flag(row, "is_deleted")?,
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_ts(&row.try_get::<String, _>("updated_at")?)?,
    })
}

impl FeedEvent {
    fn key(&self) -> (&str, &str) {
        (&self.ics_uid, self.recurrence_id.as_deref().unwrap_or(""))
    }

    fn same_as(&self, e: &CalendarEvent) -> bool {
        self.title == e.title
            && self.description == e.description
            && self.start_time == e.start_time
            && self.end_time == e.end_time
            && self.attendees == e.attendees
            && self.location == e.location
    }
}

impl Store {
    /// Applies a room's feed as it is now, in one transaction (SPEC §7): new events are
    /// inserted, changed ones updated, soft-deleted ones that reappear revived, and events
    /// starting after `now` that the feed no longer has are soft-deleted.
    pub async fn apply_feed(
        &self,
        room_id: &str,
        events: &[FeedEvent],
        now: DateTime<Utc>,
    ) -> Result<EventChanges> {
        let mut tx = self.pool.begin().await?;
        // Everything that can still change: events not long past. Older ones are history.
        let horizon = events
            .iter()
            .map(|e| e.start_time)
            .min()
            .map_or(now, |first| first.min(now))
            - chrono::Duration::days(1);
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM calendar_event WHERE room_id = $1 AND start_time >= $2"
        ))
        .bind(room_id)
        .bind(ts(horizon))
        .fetch_all(&mut *tx)
        .await?;
        let stored = rows
            .iter()
            .map(event_from_row)
            .collect::<Result<Vec<_>>>()?;
        let by_key: HashMap<(&str, &str), &CalendarEvent> = stored
            .iter()
            .map(|e| {
                (
                    (e.ics_uid.as_str(), e.recurrence_id.as_deref().unwrap_or("")),
                    e,
                )
            })
            .collect();
        let mut changes = EventChanges::default();
        let mut seen: HashSet<(&str, &str)> = HashSet::new();
        for event in events {
            if !seen.insert(event.key()) {
                continue;
            }
            match by_key.get(&event.key()) {
                None => {
                    self.insert_event(&mut tx, room_id, event, now).await?;
                    changes.created += 1;
                }
                Some(old) if old.is_deleted || !event.same_as(old) => {
                    sqlx::query(
                        "UPDATE calendar_event SET title = $2, description = $3, start_time = $4, \
                         end_time = $5, attendees = $6, location = $7, ics_raw_data = $8, \
                         last_synced = $9, updated_at = $9, is_deleted = $10 WHERE id = $1",
                    )
                    .bind(&old.id)
                    .bind(&event.title)
                    .bind(&event.description)
                    .bind(ts(event.start_time))
                    .bind(ts(event.end_time))
                    .bind(event.attendees.to_string())
                    .bind(&event.location)
                    .bind(&event.ics_raw_data)
                    .bind(ts(now))
                    .bind(false)
                    .execute(&mut *tx)
                    .await?;
                    changes.updated += 1;
                    if old.start_time != event.start_time || old.end_time != event.end_time {
                        changes.moved.push(old.id.clone());
                    }
                }
                Some(old) => {
                    sqlx::query("UPDATE calendar_event SET last_synced = $2 WHERE id = $1")
                        .bind(&old.id)
                        .bind(ts(now))
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        for old in &stored {
            let key = (
                old.ics_uid.as_str(),
                old.recurrence_id.as_deref().unwrap_or(""),
            );
            if !old.is_deleted && old.start_time > now && !seen.contains(&key) {
                sqlx::query(
                    "UPDATE calendar_event SET is_deleted = $2, updated_at = $3 WHERE id = $1",
                )
                .bind(&old.id)
                .bind(true)
                .bind(ts(now))
                .execute(&mut *tx)
                .await?;
                changes.deleted += 1;
                changes.removed.push(old.id.clone());
            }
        }
        tx.commit().await?;
        Ok(changes)
    }

    async fn insert_event(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        room_id: &str,
        e: &FeedEvent,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO calendar_event (id, room_id, ics_uid, recurrence_id, title, description, \
             start_time, end_time, attendees, location, ics_raw_data, last_synced, is_deleted, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
             $13, $12, $12)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(room_id)
        .bind(&e.ics_uid)
        .bind(e.recurrence_id.as_deref().unwrap_or(""))
        .bind(&e.title)
        .bind(&e.description)
        .bind(ts(e.start_time))
        .bind(ts(e.end_time))
        .bind(e.attendees.to_string())
        .bind(&e.location)
        .bind(&e.ics_raw_data)
        .bind(ts(now))
        .bind(false)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    pub async fn calendar_event(&self, id: &str) -> Result<Option<CalendarEvent>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM calendar_event WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(event_from_row).transpose()
    }

    /// A room's events that are not deleted, start ascending.
    pub async fn room_calendar_events(&self, room_id: &str) -> Result<Vec<CalendarEvent>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM calendar_event WHERE room_id = $1 AND is_deleted = $2 \
             ORDER BY start_time, ics_uid, recurrence_id"
        ))
        .bind(room_id)
        .bind(false)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// A room's events (not deleted) with `start_time <= until` and `end_time >= now`.
    pub async fn upcoming_calendar_events(
        &self,
        room_id: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<CalendarEvent>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM calendar_event WHERE room_id = $1 AND is_deleted = $2 \
             AND start_time <= $3 AND end_time >= $4 ORDER BY start_time, ics_uid, recurrence_id"
        ))
        .bind(room_id)
        .bind(false)
        .bind(ts(until))
        .bind(ts(now))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// Events (not deleted) of rooms that follow their calendar, starting in `(after, until]`,
    /// that have no meeting yet.
    pub async fn events_needing_meetings(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<CalendarEvent>> {
        let columns = COLUMNS
            .split(", ")
            .map(|c| {
                if c.starts_with("CAST(") {
                    c.replace("CAST(is_deleted", "CAST(e.is_deleted")
                } else {
                    format!("e.{c}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query(&format!(
            "SELECT {columns} FROM calendar_event e JOIN room r ON r.id = e.room_id \
             LEFT JOIN meeting m ON m.calendar_event_id = e.id \
             WHERE e.is_deleted = $1 AND e.start_time > $2 AND e.start_time <= $3 \
             AND r.ics_enabled = $4 AND m.id IS NULL ORDER BY e.start_time"
        ))
        .bind(false)
        .bind(ts(after))
        .bind(ts(until))
        .bind(true)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    pub async fn count_room_calendar_events(&self, room_id: &str) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM calendar_event WHERE room_id = $1 AND is_deleted = $2",
        )
        .bind(room_id)
        .bind(false)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }

    /// The meeting made for a calendar event, if any.
    pub async fn meeting_for_event(
        &self,
        event_id: &str,
    ) -> Result<Option<reflector_core::Meeting>> {
        let id: Option<String> = sqlx::query("SELECT id FROM meeting WHERE calendar_event_id = $1")
            .bind(event_id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get("id"))
            .transpose()?;
        match id {
            Some(id) => self.meeting(&id).await,
            None => Ok(None),
        }
    }

    /// Moves a meeting that has not started to its event's new times.
    pub async fn move_meeting(
        &self,
        meeting_id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        metadata: &serde_json::Value,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE meeting SET start_date = $2, end_date = $3, calendar_metadata = $4 WHERE id = $1",
        )
        .bind(meeting_id)
        .bind(ts(start))
        .bind(ts(end))
        .bind(metadata.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Rooms that follow a calendar (enabled, with a URL), for the scheduler.
    pub async fn ics_rooms(&self) -> Result<Vec<IcsRoom>> {
        let rows = sqlx::query(
            "SELECT r.id, r.ics_fetch_interval, r.ics_last_sync, s.last_attempt_at FROM room r \
             LEFT JOIN ics_sync_state s ON s.room_id = r.id \
             WHERE r.ics_enabled = $1 AND r.ics_url IS NOT NULL AND r.ics_url <> ''",
        )
        .bind(true)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(IcsRoom {
                    room_id: r.try_get("id")?,
                    fetch_interval: r.try_get("ics_fetch_interval")?,
                    last_sync: parse_opt_ts(r.try_get("ics_last_sync")?)?,
                    last_attempt_at: parse_opt_ts(r.try_get("last_attempt_at")?)?,
                })
            })
            .collect()
    }

    pub async fn ics_sync_state(&self, room_id: &str) -> Result<IcsSyncState> {
        let row = sqlx::query(
            "SELECT content_hash, last_modified, last_status, last_error, last_attempt_at, \
             last_applied_at FROM ics_sync_state WHERE room_id = $1",
        )
        .bind(room_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else {
            return Ok(IcsSyncState::default());
        };
        Ok(IcsSyncState {
            content_hash: r.try_get("content_hash")?,
            last_modified: r.try_get("last_modified")?,
            last_status: r.try_get("last_status")?,
            last_error: r.try_get("last_error")?,
            last_attempt_at: parse_opt_ts(r.try_get("last_attempt_at")?)?,
            last_applied_at: parse_opt_ts(r.try_get("last_applied_at")?)?,
        })
    }

    /// Records a fetch attempt's outcome. On success (`synced`), the room's `ics_last_sync`
    /// and `ics_last_etag` are set too, and the validators kept for the next fetch.
    pub async fn record_ics_sync(
        &self,
        room_id: &str,
        state: &IcsSyncState,
        synced: Option<(DateTime<Utc>, Option<&str>)>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO ics_sync_state (room_id, content_hash, last_modified, last_status, \
             last_error, last_attempt_at, last_applied_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (room_id) DO UPDATE SET content_hash = excluded.content_hash, \
             last_modified = excluded.last_modified, last_status = excluded.last_status, \
             last_error = excluded.last_error, last_attempt_at = excluded.last_attempt_at, \
             last_applied_at = excluded.last_applied_at",
        )
        .bind(room_id)
        .bind(&state.content_hash)
        .bind(&state.last_modified)
        .bind(&state.last_status)
        .bind(&state.last_error)
        .bind(opt_ts(state.last_attempt_at))
        .bind(opt_ts(state.last_applied_at))
        .execute(&mut *tx)
        .await?;
        if let Some((at, etag)) = synced {
            sqlx::query("UPDATE room SET ics_last_sync = $2, ics_last_etag = $3 WHERE id = $1")
                .bind(room_id)
                .bind(ts(at))
                .bind(etag)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
