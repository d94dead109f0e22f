//! Rooms.

use reflector_core::{PlatformName, Room};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::time::{opt_ts, parse_opt_ts, parse_ts, ts};
use crate::{Result, Store, StoreError, is_unique_violation};

const COLUMNS: &str = "id, name, user_id, created_at, zulip_auto_post, zulip_stream, zulip_topic, \
    is_locked, room_mode, recording_type, recording_trigger, is_shared, webhook_url, \
    webhook_secret, ics_url, ics_fetch_interval, ics_enabled, ics_last_sync, ics_last_etag, \
    platform, skip_consent";

/// Flags are read as integers: the `Any` driver cannot decode SQLite's BOOLEAN.
const SELECT_COLUMNS: &str = "id, name, user_id, created_at, CAST(zulip_auto_post AS INTEGER) AS zulip_auto_post, zulip_stream, zulip_topic, \
    CAST(is_locked AS INTEGER) AS is_locked, room_mode, recording_type, recording_trigger, CAST(is_shared AS INTEGER) AS is_shared, webhook_url, \
    webhook_secret, ics_url, ics_fetch_interval, CAST(ics_enabled AS INTEGER) AS ics_enabled, ics_last_sync, ics_last_etag, \
    platform, CAST(skip_consent AS INTEGER) AS skip_consent";

/// One page of rooms and the count of all rooms the query matches.
#[derive(Debug)]
pub struct RoomPage {
    pub items: Vec<Room>,
    pub total: i64,
}

pub(crate) fn flag(row: &AnyRow, col: &str) -> Result<bool> {
    Ok(row.try_get::<i64, _>(col)? != 0)
}

pub(crate) fn parse_enum<T: std::str::FromStr<Err = String>>(row: &AnyRow, col: &str) -> Result<T> {
    let raw: String = row.try_get(col)?;
    raw.parse()
        .map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

fn room_from_row(row: &AnyRow) -> Result<Room> {
    Ok(Room {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        user_id: row.try_get("user_id")?,
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        zulip_auto_post: flag(row, "zulip_auto_post")?,
        zulip_stream: row.try_get("zulip_stream")?,
        zulip_topic: row.try_get("zulip_topic")?,
        is_locked: flag(row, "is_locked")?,
        room_mode: parse_enum(row, "room_mode")?,
        recording_type: parse_enum(row, "recording_type")?,
        recording_trigger: parse_enum(row, "recording_trigger")?,
        is_shared: flag(row, "is_shared")?,
        webhook_url: row.try_get("webhook_url")?,
        webhook_secret: row.try_get("webhook_secret")?,
        ics_url: row.try_get("ics_url")?,
        ics_fetch_interval: row.try_get("ics_fetch_interval")?,
        ics_enabled: flag(row, "ics_enabled")?,
        ics_last_sync: parse_opt_ts(row.try_get("ics_last_sync")?)?,
        ics_last_etag: row.try_get("ics_last_etag")?,
        platform: PlatformName::new(row.try_get::<String, _>("platform")?),
        skip_consent: flag(row, "skip_consent")?,
    })
}

impl Store {
    /// Inserts a room; a taken name is [`StoreError::Duplicate`].
    pub async fn insert_room(&self, room: &Room) -> Result<()> {
        let sql = format!(
            "INSERT INTO room ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
             $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
        );
        sqlx::query(&sql)
            .bind(&room.id)
            .bind(&room.name)
            .bind(&room.user_id)
            .bind(ts(room.created_at))
            .bind(room.zulip_auto_post)
            .bind(&room.zulip_stream)
            .bind(&room.zulip_topic)
            .bind(room.is_locked)
            .bind(room.room_mode.as_str())
            .bind(room.recording_type.as_str())
            .bind(room.recording_trigger.as_str())
            .bind(room.is_shared)
            .bind(&room.webhook_url)
            .bind(&room.webhook_secret)
            .bind(&room.ics_url)
            .bind(room.ics_fetch_interval)
            .bind(room.ics_enabled)
            .bind(opt_ts(room.ics_last_sync))
            .bind(&room.ics_last_etag)
            .bind(room.platform.as_str())
            .bind(room.skip_consent)
            .execute(&self.pool)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Duplicate("Room name is not unique")
                } else {
                    e.into()
                }
            })?;
        Ok(())
    }

    /// Writes every field of `room` except its id and creation time.
    pub async fn update_room(&self, room: &Room) -> Result<()> {
        sqlx::query(
            "UPDATE room SET name = $2, user_id = $3, zulip_auto_post = $4, zulip_stream = $5, \
             zulip_topic = $6, is_locked = $7, room_mode = $8, recording_type = $9, \
             recording_trigger = $10, is_shared = $11, webhook_url = $12, webhook_secret = $13, \
             ics_url = $14, ics_fetch_interval = $15, ics_enabled = $16, ics_last_sync = $17, \
             ics_last_etag = $18, platform = $19, skip_consent = $20 WHERE id = $1",
        )
        .bind(&room.id)
        .bind(&room.name)
        .bind(&room.user_id)
        .bind(room.zulip_auto_post)
        .bind(&room.zulip_stream)
        .bind(&room.zulip_topic)
        .bind(room.is_locked)
        .bind(room.room_mode.as_str())
        .bind(room.recording_type.as_str())
        .bind(room.recording_trigger.as_str())
        .bind(room.is_shared)
        .bind(&room.webhook_url)
        .bind(&room.webhook_secret)
        .bind(&room.ics_url)
        .bind(room.ics_fetch_interval)
        .bind(room.ics_enabled)
        .bind(opt_ts(room.ics_last_sync))
        .bind(&room.ics_last_etag)
        .bind(room.platform.as_str())
        .bind(room.skip_consent)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Duplicate("Room name is not unique")
            } else {
                e.into()
            }
        })?;
        Ok(())
    }

    pub async fn room(&self, id: &str) -> Result<Option<Room>> {
        let sql = format!("SELECT {SELECT_COLUMNS} FROM room WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.reads)
            .await?;
        row.as_ref().map(room_from_row).transpose()
    }

    pub async fn room_by_name(&self, name: &str) -> Result<Option<Room>> {
        let sql = format!("SELECT {SELECT_COLUMNS} FROM room WHERE name = $1");
        let row = sqlx::query(&sql)
            .bind(name)
            .fetch_optional(&self.reads)
            .await?;
        row.as_ref().map(room_from_row).transpose()
    }

    /// Deletes a room and, by cascade, its meetings and everything under them.
    pub async fn delete_room(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM room WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Rooms visible to `user` (their own plus shared ones; shared only for `None`), newest first.
    pub async fn list_rooms(
        &self,
        user: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<RoomPage> {
        // An empty owner never matches: user ids are never empty.
        let owner = user.unwrap_or("");
        let filter = "FROM room WHERE user_id = $1 OR is_shared = $2";
        let total: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n {filter}"))
            .bind(owner)
            .bind(true)
            .fetch_one(&self.reads)
            .await?
            .try_get("n")?;
        let rows = sqlx::query(&format!(
            "SELECT {SELECT_COLUMNS} {filter} ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4"
        ))
        .bind(owner)
        .bind(true)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.reads)
        .await?;
        let items = rows.iter().map(room_from_row).collect::<Result<_>>()?;
        Ok(RoomPage { items, total })
    }
}
