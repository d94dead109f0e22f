//! Rooms.

use std::borrow::Cow;
use std::sync::LazyLock;

use reflector_core::{PlatformName, Room};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::time::{opt_ts, parse_opt_ts, parse_ts, ts};
use crate::{
    Result, Store, StoreError, column_names, is_unique_violation, numbered_params, select_list,
};

/// The room's columns, and which are flags.
pub(crate) const FIELDS: [(&str, bool); 21] = [
    ("id", false),
    ("created_at", false),
    ("name", false),
    ("user_id", false),
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

/// Where the fields an update writes start in [`FIELDS`] (after the id and creation time).
const SETTABLE: usize = 2;

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

type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds the fields of `room` an update writes, in the order of [`FIELDS`]`[SETTABLE..]`.
fn bind_settable<'q>(query: Query<'q>, room: &'q Room) -> Query<'q> {
    query
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
}

/// A taken name as [`StoreError::Duplicate`], other errors as they are.
fn name_taken(e: sqlx::Error) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::Duplicate("Room name is not unique")
    } else {
        e.into()
    }
}

fn room_from_row(row: &AnyRow) -> Result<Room> {
    room_from_columns(row, "")
}

/// The room in `row`, whose columns are named `{prefix}{column}` (see [`FIELDS`]).
pub(crate) fn room_from_columns(row: &AnyRow, prefix: &str) -> Result<Room> {
    // Unprefixed (every read but get-or-create's join) without an allocation per column.
    let col = |name: &'static str| -> Cow<'static, str> {
        if prefix.is_empty() {
            Cow::Borrowed(name)
        } else {
            Cow::Owned(format!("{prefix}{name}"))
        }
    };
    Ok(Room {
        id: row.try_get(&*col("id"))?,
        name: row.try_get(&*col("name"))?,
        user_id: row.try_get(&*col("user_id"))?,
        created_at: parse_ts(&row.try_get::<String, _>(&*col("created_at"))?)?,
        zulip_auto_post: flag(row, &col("zulip_auto_post"))?,
        zulip_stream: row.try_get(&*col("zulip_stream"))?,
        zulip_topic: row.try_get(&*col("zulip_topic"))?,
        is_locked: flag(row, &col("is_locked"))?,
        room_mode: parse_enum(row, &col("room_mode"))?,
        recording_type: parse_enum(row, &col("recording_type"))?,
        recording_trigger: parse_enum(row, &col("recording_trigger"))?,
        is_shared: flag(row, &col("is_shared"))?,
        webhook_url: row.try_get(&*col("webhook_url"))?,
        webhook_secret: row.try_get(&*col("webhook_secret"))?,
        ics_url: row.try_get(&*col("ics_url"))?,
        ics_fetch_interval: row.try_get(&*col("ics_fetch_interval"))?,
        ics_enabled: flag(row, &col("ics_enabled"))?,
        ics_last_sync: parse_opt_ts(row.try_get(&*col("ics_last_sync"))?)?,
        ics_last_etag: row.try_get(&*col("ics_last_etag"))?,
        platform: PlatformName::new(row.try_get::<String, _>(&*col("platform"))?),
        skip_consent: flag(row, &col("skip_consent"))?,
    })
}

impl Store {
    /// Inserts a room; a taken name is [`StoreError::Duplicate`].
    pub async fn insert_room(&self, room: &Room) -> Result<()> {
        static INSERT: LazyLock<String> = LazyLock::new(|| {
            format!(
                "INSERT INTO room (id, created_at, {}) VALUES ({})",
                column_names(&FIELDS[SETTABLE..]),
                numbered_params(FIELDS.len())
            )
        });
        let query = sqlx::query(&INSERT)
            .bind(&room.id)
            .bind(ts(room.created_at));
        bind_settable(query, room)
            .execute(&self.pool)
            .await
            .map_err(name_taken)?;
        Ok(())
    }

    /// Writes every field of `room` except its id and creation time.
    pub async fn update_room(&self, room: &Room) -> Result<()> {
        static UPDATE: LazyLock<String> = LazyLock::new(|| {
            let set: Vec<String> = FIELDS[SETTABLE..]
                .iter()
                .zip(2..)
                .map(|((column, _), i)| format!("{column} = ${i}"))
                .collect();
            format!("UPDATE room SET {} WHERE id = $1", set.join(", "))
        });
        bind_settable(sqlx::query(&UPDATE).bind(&room.id), room)
            .execute(&self.pool)
            .await
            .map_err(name_taken)?;
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
