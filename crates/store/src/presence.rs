//! Who is in a meeting, and the meeting changes the background jobs make.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use reflector_core::Meeting;
use sqlx::Row;

use crate::time::{parse_opt_ts, parse_ts, ts};
use crate::webhooks::RowStatements;
use crate::{Result, Store};

#[derive(Debug, Clone, PartialEq)]
pub struct ParticipantSession {
    pub platform_session_id: String,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub joined_at: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
}

/// A participant seen joining or leaving.
#[derive(Debug, Clone)]
pub struct SessionChange<'a> {
    pub meeting_id: &'a str,
    pub platform_session_id: &'a str,
    pub user_id: Option<&'a str>,
    pub user_name: Option<&'a str>,
    pub at: DateTime<Utc>,
}

impl Store {
    /// Records a join. A repeated join changes nothing, and neither does a late join of a
    /// session its leave event closed; a session closed only because presence did not list it
    /// (presence lags) is open again.
    pub async fn session_joined(&self, c: &SessionChange<'_>) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        session_joined_on(&mut conn, c).await
    }

    /// Records a leave. A leave that arrives before its join creates the closed session, so the
    /// late join cannot reopen it; a repeated leave keeps the first time, and the provider's time
    /// replaces the one a presence check guessed when it found the participant gone.
    pub async fn session_left(&self, c: &SessionChange<'_>) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        session_left_on(&mut conn, c).await
    }

    /// Applies a batch of one meeting's participant events (`true` for a join) as
    /// [`Store::session_joined`] and [`Store::session_left`] do, refreshes its `num_clients` and
    /// marks the inbox events `processed` as applied, all in one transaction, so a crash leaves
    /// either all of it or none. Returns `num_clients`.
    pub async fn apply_session_events(
        &self,
        meeting_id: &str,
        events: &[(bool, SessionChange<'_>)],
        processed: &[&str],
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        lock_meeting_on(&mut tx, meeting_id).await?;
        apply_sessions_on(&mut tx, events).await?;
        let open = refresh_num_clients_on(&mut tx, meeting_id).await?;
        crate::webhooks::mark_processed_on(&mut tx, processed, now).await?;
        tx.commit().await?;
        Ok(open)
    }

    /// Closes an open session the provider's presence no longer lists; it reopens if the
    /// participant is listed (or reported joining) again.
    pub async fn session_absent(
        &self,
        meeting_id: &str,
        platform_session_id: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE participant_session SET left_at = $3, closed_by = 'presence' \
             WHERE meeting_id = $1 AND platform_session_id = $2 AND left_at IS NULL",
        )
        .bind(meeting_id)
        .bind(platform_session_id)
        .bind(ts(at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn participant_sessions(&self, meeting_id: &str) -> Result<Vec<ParticipantSession>> {
        let rows = sqlx::query(
            "SELECT platform_session_id, user_id, user_name, joined_at, left_at \
             FROM participant_session WHERE meeting_id = $1 ORDER BY joined_at, platform_session_id",
        )
        .bind(meeting_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ParticipantSession {
                    platform_session_id: r.try_get("platform_session_id")?,
                    user_id: r.try_get("user_id")?,
                    user_name: r.try_get("user_name")?,
                    joined_at: parse_ts(&r.try_get::<String, _>("joined_at")?)?,
                    left_at: parse_opt_ts(r.try_get("left_at")?)?,
                })
            })
            .collect()
    }

    /// The meeting's open sessions: each one's provider session id and when it joined. Read a
    /// row at a time (a crowded meeting's presence check holds these and the provider's list,
    /// not every session row as well).
    pub async fn open_sessions(&self, meeting_id: &str) -> Result<Vec<(String, DateTime<Utc>)>> {
        use futures::TryStreamExt;
        let mut rows = sqlx::query(
            "SELECT platform_session_id, joined_at FROM participant_session \
             WHERE meeting_id = $1 AND left_at IS NULL",
        )
        .bind(meeting_id)
        .fetch(&self.pool);
        let mut open = Vec::new();
        while let Some(r) = rows.try_next().await? {
            open.push((
                r.try_get("platform_session_id")?,
                parse_ts(&r.try_get::<String, _>("joined_at")?)?,
            ));
        }
        Ok(open)
    }

    /// Open meetings and the participants in them now (for the metrics page): the active
    /// meetings, and the sum of their `num_clients`.
    pub async fn open_meetings_and_participants(&self) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS meetings, CAST(COALESCE(SUM(num_clients), 0) AS BIGINT) AS participants \
             FROM meeting WHERE is_active = $1",
        )
        .bind(true)
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get("meetings")?, row.try_get("participants")?))
    }

    /// Sets `num_clients` to the number of open sessions and returns it. Derived, so duplicated
    /// or reordered events can never double-count; the row is written only when it changes.
    pub async fn refresh_num_clients(&self, meeting_id: &str) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        lock_meeting_on(&mut tx, meeting_id).await?;
        let open = refresh_num_clients_on(&mut tx, meeting_id).await?;
        tx.commit().await?;
        Ok(open)
    }

    /// Sets `num_clients` to the provider's own count, reported at `at`, unless a count reported
    /// later is already stored (events arrive out of order). Returns whether it was applied.
    pub async fn set_provider_num_clients(
        &self,
        meeting_id: &str,
        count: i64,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE meeting SET num_clients = $2, num_clients_at = $3 \
             WHERE id = $1 AND (num_clients_at IS NULL OR num_clients_at <= $3)",
        )
        .bind(meeting_id)
        .bind(count.max(0))
        .bind(ts(at))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The meeting on `platform` whose provider room is `room_name`.
    pub async fn meeting_by_provider_room(
        &self,
        platform: &str,
        room_name: &str,
    ) -> Result<Option<Meeting>> {
        self.meeting_where("platform = $1 AND room_name = $2", platform, room_name)
            .await
    }

    /// The meeting on `platform` whose provider meeting id is `id`.
    pub async fn meeting_by_platform_id(
        &self,
        platform: &str,
        id: &str,
    ) -> Result<Option<Meeting>> {
        self.meeting_where("platform = $1 AND platform_meeting_id = $2", platform, id)
            .await
    }

    /// The id of the meeting [`Store::meeting_by_provider_room`] finds, read alone.
    pub async fn meeting_id_by_provider_room(
        &self,
        platform: &str,
        room_name: &str,
    ) -> Result<Option<String>> {
        self.meeting_id_where("platform = $1 AND room_name = $2", platform, room_name)
            .await
    }

    /// The id of the meeting [`Store::meeting_by_platform_id`] finds, read alone.
    pub async fn meeting_id_by_platform_id(
        &self,
        platform: &str,
        id: &str,
    ) -> Result<Option<String>> {
        self.meeting_id_where("platform = $1 AND platform_meeting_id = $2", platform, id)
            .await
    }

    async fn meeting_where(&self, filter: &str, a: &str, b: &str) -> Result<Option<Meeting>> {
        match self.meeting_id_where(filter, a, b).await? {
            Some(id) => self.meeting(&id).await,
            None => Ok(None),
        }
    }

    async fn meeting_id_where(&self, filter: &str, a: &str, b: &str) -> Result<Option<String>> {
        // The newest, should a provider ever reuse a name.
        let id: Option<String> = sqlx::query(&format!(
            "SELECT id FROM meeting WHERE {filter} ORDER BY start_date DESC LIMIT 1"
        ))
        .bind(a)
        .bind(b)
        .fetch_optional(&self.reads)
        .await?
        .map(|r| r.try_get("id"))
        .transpose()?;
        Ok(id)
    }

    /// Ids of every active meeting.
    pub async fn active_meeting_ids(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT id FROM meeting WHERE is_active = $1 ORDER BY end_date")
            .bind(true)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
    }

    pub async fn set_meeting_end(&self, meeting_id: &str, end: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE meeting SET end_date = $2 WHERE id = $1")
            .bind(meeting_id)
            .bind(ts(end))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

async fn session_joined_on(conn: &mut sqlx::AnyConnection, c: &SessionChange<'_>) -> Result<()> {
    sessions_joined_on(conn, &[c]).await.map(drop)
}

async fn session_left_on(conn: &mut sqlx::AnyConnection, c: &SessionChange<'_>) -> Result<()> {
    sessions_left_on(conn, &[c]).await.map(drop)
}

/// The start of both session upserts, and what their rows are read from on PostgreSQL: one JSON
/// parameter of [`SessionRow`]s.
const INTO_SESSION: &str = "INSERT INTO participant_session (id, meeting_id, platform_session_id, \
    user_id, user_name, joined_at";
const SESSION_ROWS: &str = "json_to_recordset($1::json) AS r(id TEXT, meeting_id TEXT, \
    platform_session_id TEXT, user_id TEXT, user_name TEXT, at TEXT)";
const SESSION_COLUMNS: &str = "id, meeting_id, platform_session_id, user_id, user_name, at";

/// What a join does to a stored session: reopens it only if presence closed it.
const ON_JOIN: &str = "ON CONFLICT (meeting_id, platform_session_id) DO UPDATE SET left_at = NULL, \
    closed_by = NULL WHERE participant_session.closed_by = 'presence'";

/// What a leave does to a stored session: closes it for good, keeping the first leave's time.
const ON_LEAVE: &str = "ON CONFLICT (meeting_id, platform_session_id) DO UPDATE \
    SET left_at = CASE WHEN participant_session.closed_by = 'event' \
    THEN participant_session.left_at ELSE excluded.left_at END, closed_by = 'event'";

/// Joins of distinct sessions, in one statement (on SQLite at most
/// [`crate::webhooks::rows_for`] rows). Returns how many sessions it opened: a row is written
/// only for a new session or one that presence had closed.
async fn sessions_joined_on(
    conn: &mut sqlx::AnyConnection,
    changes: &[&SessionChange<'_>],
) -> Result<u64> {
    static JOIN: RowStatements = RowStatements::new(|rows| {
        let values = crate::webhooks::value_rows(rows, 6);
        format!("{INTO_SESSION}) VALUES {values} {ON_JOIN}")
    });
    static JOIN_JSON: LazyLock<String> = LazyLock::new(|| {
        format!("{INTO_SESSION}) SELECT {SESSION_COLUMNS} FROM {SESSION_ROWS} {ON_JOIN}")
    });
    upsert_sessions(conn, &JOIN, &JOIN_JSON, changes, false).await
}

/// Leaves of distinct sessions, in one statement (on SQLite at most
/// [`crate::webhooks::rows_for`] rows).
async fn sessions_left_on(
    conn: &mut sqlx::AnyConnection,
    changes: &[&SessionChange<'_>],
) -> Result<u64> {
    static LEAVE: RowStatements = RowStatements::new(|rows| {
        // The leave's time is also its join's: bound twice, as each `?` is bound once.
        let values = vec!["(?, ?, ?, ?, ?, ?, ?, 'event')"; rows].join(", ");
        format!("{INTO_SESSION}, left_at, closed_by) VALUES {values} {ON_LEAVE}")
    });
    // The leave's time is also its join's.
    static LEAVE_JSON: LazyLock<String> = LazyLock::new(|| {
        format!(
            "{INTO_SESSION}, left_at, closed_by) SELECT {SESSION_COLUMNS}, at, 'event' \
             FROM {SESSION_ROWS} {ON_LEAVE}"
        )
    });
    upsert_sessions(conn, &LEAVE, &LEAVE_JSON, changes, true).await
}

/// A session upsert's row, as PostgreSQL reads it from JSON.
#[derive(serde::Serialize)]
struct SessionRow<'a> {
    id: String,
    meeting_id: &'a str,
    platform_session_id: &'a str,
    user_id: Option<&'a str>,
    user_name: Option<&'a str>,
    at: String,
}

/// Runs a session upsert. On SQLite, `values` for the number of `changes`, whose rows take
/// (id, meeting, session, user id, user name, time), and the time once more when `time_twice`;
/// on PostgreSQL, `json` with every row in its one parameter (one round trip for any number).
async fn upsert_sessions(
    conn: &mut sqlx::AnyConnection,
    values: &RowStatements,
    json: &str,
    changes: &[&SessionChange<'_>],
    time_twice: bool,
) -> Result<u64> {
    // Time-ordered, so new sessions go to the end of the primary-key index.
    let id = || uuid::Uuid::now_v7().to_string();
    let query = if crate::webhooks::is_sqlite(conn) {
        let mut query = sqlx::query(values.get(changes.len()));
        for c in changes {
            query = query
                .bind(id())
                .bind(c.meeting_id)
                .bind(c.platform_session_id)
                .bind(c.user_id)
                .bind(c.user_name)
                .bind(ts(c.at));
            if time_twice {
                query = query.bind(ts(c.at));
            }
        }
        query
    } else {
        let rows: Vec<SessionRow<'_>> = changes
            .iter()
            .map(|c| SessionRow {
                id: id(),
                meeting_id: c.meeting_id,
                platform_session_id: c.platform_session_id,
                user_id: c.user_id,
                user_name: c.user_name,
                at: ts(c.at),
            })
            .collect();
        sqlx::query(json).bind(crate::webhooks::json_rows(&rows)?)
    };
    Ok(query.execute(&mut *conn).await?.rows_affected())
}

/// Applies joins and leaves (`true` for a join) in order, as [`Store::session_joined`] and
/// [`Store::session_left`] do. Returns how many more sessions are open than before (negative
/// for fewer).
pub(crate) async fn apply_sessions_on(
    conn: &mut sqlx::AnyConnection,
    events: &[(bool, SessionChange<'_>)],
) -> Result<i64> {
    let mut opened = 0;
    let mut rest = events;
    while let Some((joined, _)) = rest.first() {
        // A run of joins (or of leaves) of distinct sessions is one statement: within it the
        // order does not matter, and no row is touched twice (PostgreSQL refuses that).
        let mut sessions = std::collections::HashSet::new();
        let run = rest
            .iter()
            .take_while(|(j, c)| j == joined && sessions.insert(c.platform_session_id))
            .count();
        let (chunk, tail) = rest.split_at(crate::webhooks::rows_per_statement(conn, run));
        let changes: Vec<&SessionChange<'_>> = chunk.iter().map(|(_, c)| c).collect();
        if *joined {
            opened += i64::try_from(sessions_joined_on(conn, &changes).await?).unwrap_or(0);
        } else {
            opened -= open_among_on(conn, &changes).await?;
            sessions_left_on(conn, &changes).await?;
        }
        rest = tail;
    }
    Ok(opened)
}

/// How many of the sessions `changes` name (one meeting's, distinct; on SQLite a power of two of
/// them) are open.
async fn open_among_on(
    conn: &mut sqlx::AnyConnection,
    changes: &[&SessionChange<'_>],
) -> Result<i64> {
    let Some(first) = changes.first() else {
        return Ok(0);
    };
    static OPEN: RowStatements = RowStatements::new(|rows| {
        format!(
            "SELECT COUNT(*) AS n FROM participant_session WHERE meeting_id = ? \
             AND left_at IS NULL AND platform_session_id IN ({})",
            crate::webhooks::param_list(rows)
        )
    });
    let query = if crate::webhooks::is_sqlite(conn) {
        let mut query = sqlx::query(OPEN.get(changes.len())).bind(first.meeting_id);
        for c in changes {
            query = query.bind(c.platform_session_id);
        }
        query
    } else {
        let sessions: Vec<&str> = changes.iter().map(|c| c.platform_session_id).collect();
        sqlx::query(
            "SELECT COUNT(*) AS n FROM participant_session WHERE meeting_id = $1 \
             AND left_at IS NULL AND platform_session_id IN \
             (SELECT json_array_elements_text($2::json))",
        )
        .bind(first.meeting_id)
        .bind(crate::webhooks::json_rows(&sessions)?)
    };
    Ok(query.fetch_one(&mut *conn).await?.try_get("n")?)
}

/// Moves `num_clients` by `opened` sessions: for changes whose effect on the open sessions is
/// known exactly ([`apply_sessions_on`]), with the meeting locked, so no recount is needed.
pub(crate) async fn add_num_clients_on(
    conn: &mut sqlx::AnyConnection,
    meeting_id: &str,
    opened: i64,
) -> Result<()> {
    if opened != 0 {
        sqlx::query("UPDATE meeting SET num_clients = num_clients + $2 WHERE id = $1")
            .bind(meeting_id)
            .bind(opened)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// What a `SELECT … FROM meeting` ends with to lock the rows it reads until the transaction
/// ends: ` FOR NO KEY UPDATE` on PostgreSQL, so that transactions that change a meeting's
/// sessions and count them run one after another (each count then sees the sessions the one
/// before committed); nothing on SQLite, whose one writer connection already runs them so.
///
/// Not `FOR UPDATE`: that also blocks the foreign-key check (`FOR KEY SHARE` of the meeting)
/// of every session row another transaction writes. A presence check's insert of a session
/// then waited on the locking transaction, which waited on that same session's row: a deadlock,
/// which PostgreSQL breaks only after `deadlock_timeout` (1 s), by failing one of them.
pub(crate) fn meeting_row_lock(conn: &sqlx::AnyConnection) -> &'static str {
    if crate::webhooks::is_sqlite(conn) {
        ""
    } else {
        " FOR NO KEY UPDATE"
    }
}

/// Whether the meeting exists, its row locked as [`meeting_row_lock`] says.
pub(crate) async fn lock_meeting_on(
    conn: &mut sqlx::AnyConnection,
    meeting_id: &str,
) -> Result<bool> {
    let lock = meeting_row_lock(conn);
    Ok(
        sqlx::query(&format!("SELECT id FROM meeting WHERE id = $1{lock}"))
            .bind(meeting_id)
            .fetch_optional(&mut *conn)
            .await?
            .is_some(),
    )
}

async fn refresh_num_clients_on(conn: &mut sqlx::AnyConnection, meeting_id: &str) -> Result<i64> {
    let open: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM participant_session WHERE meeting_id = $1 AND left_at IS NULL",
    )
    .bind(meeting_id)
    .fetch_one(&mut *conn)
    .await?
    .try_get("n")?;
    sqlx::query("UPDATE meeting SET num_clients = $2 WHERE id = $1 AND num_clients <> $2")
        .bind(meeting_id)
        .bind(open)
        .execute(&mut *conn)
        .await?;
    Ok(open)
}
