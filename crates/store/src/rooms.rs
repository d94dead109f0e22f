//! Rooms.

use std::sync::LazyLock;

use reflector_core::{PlatformName, Room};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::time::{opt_ts, parse_opt_ts, parse_ts, ts};
use crate::{Result, Store, StoreError, column_names, is_unique_violation, select_list};

/// The room's columns, and which are flags.
pub(crate) const FIELDS: [(&str, bool); 21] = [
    ("id", false),
    ("name", false),
    ("user_id", false),
    ("created_at", false),
    ("zulip_auto_post", true),
    ("zulip_stream", false),
    ("zulip_topic", false),
    ("is_locked", true),
    ("room_mode", false),
    ("recording_type", false),
    ("recording_trigger", false),
    ("is_shared", true),
    ("webhook_url", false),
    ("webhook_secret", false),
    ("ics_url", false),
    ("ics_fetch_interval", false),
    ("ics_enabled", true),
    ("ics_last_sync", false),
    ("ics_last_etag", false),
    ("platform", false),
    ("skip_consent", true),
];

static COLUMNS: LazyLock<String> = LazyLock::new(|| column_names(&FIELDS));
static SELECT_COLUMNS: LazyLock<String> = LazyLock::new(|| select_list(&FIELDS, "", ""));

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
    room_from_columns(row, "")
}

/// The room in `row`, whose columns are named `{prefix}{column}` (see [`FIELDS`]).
pub(crate) fn room_from_columns(row: &AnyRow, prefix: &str) -> Result<Room> {
    let col = |name: &str| format!("{prefix}{name}");
    Ok(Room {
        id: row.try_get(col("id").as_str())?,
        name: row.try_get(col("name").as_str())?,
        user_id: row.try_get(col("user_id").as_str())?,
        created_at: parse_ts(&row.try_get::<String, _>(col("created_at").as_str())?)?,
        zulip_auto_post: flag(row, &col("zulip_auto_post"))?,
        zulip_stream: row.try_get(col("zulip_stream").as_str())?,
        zulip_topic: row.try_get(col("zulip_topic").as_str())?,
        is_locked: flag(row, &col("is_locked"))?,
        room_mode: parse_enum(row, &col("room_mode"))?,
        recording_type: parse_enum(row, &col("recording_type"))?,
        recording_trigger: parse_enum(row, &col("recording_trigger"))?,
        is_shared: flag(row, &col("is_shared"))?,
        webhook_url: row.try_get(col("webhook_url").as_str())?,
        webhook_secret: row.try_get(col("webhook_secret").as_str())?,
        ics_url: row.try_get(col("ics_url").as_str())?,
        ics_fetch_interval: row.try_get(col("ics_fetch_interval").as_str())?,
        ics_enabled: flag(row, &col("ics_enabled"))?,
        ics_last_sync: parse_opt_ts(row.try_get(col("ics_last_sync").as_str())?)?,
        ics_last_etag: row.try_get(col("ics_last_etag").as_str())?,
        platform: PlatformName::new(row.try_get::<String, _>(col("platform").as_str())?),
        skip_consent: flag(row, &col("skip_consent"))?,
    })
}

impl Store {
    /// Inserts a room; a taken name is [`StoreError::Duplicate`].
    pub async fn insert_room(&self, room: &Room) -> Result<()> {
        let sql = format!(
            "INSERT INTO room ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
             $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)",
            *COLUMNS
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
        let sql = format!("SELECT {} FROM room WHERE id = $1", *SELECT_COLUMNS);
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.reads)
            .await?;
        row.as_ref().map(room_from_row).transpose()
    }

    pub async fn room_by_name(&self, name: &str) -> Result<Option<Room>> {
        let sql = format!("SELECT {} FROM room WHERE name = $1", *SELECT_COLUMNS);
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
            "SELECT {} {filter} ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4",
            *SELECT_COLUMNS
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
