//! Reflector's database: migrations and queries for SQLite (the default, for laptops) and
//! PostgreSQL (production), through one code path on `sqlx`'s `Any` driver.
//!
//! Portability choices: every statement uses `$n` placeholders and SQL both engines accept
//! (`INSERT … ON CONFLICT`, `RETURNING`-free), timestamps are stored as fixed-width RFC 3339 UTC
//! text (so text order is time order), and JSON is stored as text. The `Any` driver decodes only
//! portable types, which is what keeps the two engines on one path.

mod calendar;
mod consent;
mod jobs;
mod keys;
mod meetings;
mod presence;
mod recordings;
mod rooms;
mod scratch;
mod time;
mod transcripts;
mod webhooks;

pub use calendar::{CalendarEvent, EventChanges, FeedEvent, IcsRoom, IcsSyncState};
pub use consent::ConsentVote;
pub use jobs::{ClaimedJob, JobCounts, JobLease, KindBacklog, NewJob};
pub use keys::ApiKey;
pub use presence::{ParticipantSession, SessionChange};
pub use recordings::{Announced, Recording, RecordingStatus, StoredMedia};
pub use rooms::RoomPage;
pub use scratch::ScratchDatabase;
pub use transcripts::{
    SearchHit, SearchPage, Transcript, TranscriptFilter, TranscriptPage, TranscriptPatch,
    TranscriptResult,
};
pub use webhooks::{
    DeliveryAttempt, InboxEvent, IncomingWebhook, OutboxEvent, OutboxStatus, PendingEvent,
    SessionEvent,
};

use std::str::FromStr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Duplicate(&'static str),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// A value the database cannot hold (PostgreSQL's text cannot hold the NUL character); the
    /// caller's input is at fault.
    #[error("{0}")]
    Unstorable(&'static str),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// Whether the database answered and refused what it was given (a value it cannot hold, a
    /// constraint, a statement it rejects), as opposed to being unreachable or failing on its
    /// own: other input may then succeed.
    pub fn is_refusal(&self) -> bool {
        match self {
            Self::Unstorable(_) | Self::Duplicate(_) => true,
            Self::Database(e) => matches!(e, sqlx::Error::Database(_) | sqlx::Error::Encode(_)),
            Self::Corrupt(_) | Self::Migrate(_) => false,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        // SQLSTATE 22021 (character_not_in_repertoire): PostgreSQL's answer to a NUL in text,
        // which SQLite stores. Inputs are checked for it where they enter; this is the net.
        match &e {
            sqlx::Error::Database(db) if db.code().as_deref() == Some("22021") => {
                Self::Unstorable("Text must not contain the NUL character (\\u0000).")
            }
            _ => Self::Database(e),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The engine a database URL names: `sqlite:…`, or `postgres:…` / `postgresql:…`.
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

/// What a database URL must look like, for error messages.
pub const DATABASE_URL_FORMS: &str = "must start with sqlite:// or postgres://";

/// How SQLite commits reach the disk (`SQLITE_SYNCHRONOUS`); PostgreSQL ignores it (its commits
/// are always fsynced: `synchronous_commit` stays on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteSynchronous {
    /// `normal` (the default): in WAL mode a commit is in the log before it returns, so a crash
    /// of the process loses nothing, but the log is fsynced at checkpoints, not per commit: a
    /// power loss or kernel crash may lose the last commits.
    #[default]
    Normal,
    /// `full`: an fsync per commit, so a commit also survives a power loss; ingest is then as
    /// fast as the disk's fsync (a batch of events still shares one).
    Full,
}

impl SqliteSynchronous {
    fn pragma(self) -> &'static str {
        match self {
            Self::Normal => "PRAGMA synchronous = NORMAL",
            Self::Full => "PRAGMA synchronous = FULL",
        }
    }
}

impl std::str::FromStr for SqliteSynchronous {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "normal" => Ok(Self::Normal),
            "full" => Ok(Self::Full),
            _ => Err("must be normal or full".into()),
        }
    }
}

/// The database layer's own settings.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// `SQLITE_SYNCHRONOUS`: `normal` (default) or `full`.
    pub sqlite_synchronous: SqliteSynchronous,
    /// `DATABASE_POOL_SIZE`: connections this process opens to PostgreSQL, at most.
    pub postgres_connections: u32,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            sqlite_synchronous: SqliteSynchronous::Normal,
            postgres_connections: default_postgres_connections(),
        }
    }
}

/// PostgreSQL connections per process unless `DATABASE_POOL_SIZE` says otherwise: twice this
/// machine's cores, from 4 to 16 (16 was the fixed size before; PostgreSQL's own default limit
/// is 100 for all clients). See the README's decisions. No store call holds one connection
/// while it waits for another, so a small pool makes requests queue, never deadlock.
fn default_postgres_connections() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    u32::try_from(cores.saturating_mul(2))
        .unwrap_or(u32::MAX)
        .clamp(4, 16)
}

impl StoreSettings {
    pub fn from_env(
        env: &reflector_core::Env,
    ) -> std::result::Result<Self, reflector_core::ConfigError> {
        Ok(Self {
            sqlite_synchronous: env.parse_or("SQLITE_SYNCHRONOUS", SqliteSynchronous::Normal)?,
            postgres_connections: match env
                .parse_or("DATABASE_POOL_SIZE", default_postgres_connections())?
            {
                0 => {
                    return Err(reflector_core::ConfigError::new(
                        "DATABASE_POOL_SIZE",
                        "must be at least 1 (connections to PostgreSQL)",
                    ));
                }
                n => n,
            },
        })
    }
}

/// Connections of SQLite's reader pool (read-only, for the API's reads).
const SQLITE_READERS: u32 = 8;

/// A PostgreSQL connection idle at least this long is checked (a `ping` round trip) before it
/// is handed out, and replaced if the server has closed it meanwhile (a restart, an idle
/// timeout). One used more recently is not: sqlx already checked it as it came back to the
/// pool, and the check before each use was one round trip more per statement (a third of the
/// round trips of a read, and of the ingest writer's first step). If a connection dies within
/// that second, the statement on it fails (the request gets its 503) and the connection, failing
/// its check on the way back, is replaced.
const PG_CHECK_IDLE_AFTER: Duration = Duration::from_secs(1);

/// A handle on the database; cheap to clone.
///
/// On SQLite, every write of this process goes through one connection (`pool`, of size one),
/// so writers queue in this process (in order, without SQLite's sleeping busy handler) instead
/// of fighting over the database's write lock, and that connection's page cache stays warm (a
/// commit by another connection empties a connection's cache). The API's plain reads use
/// `reads`, a few read-only connections that WAL lets run beside the writer. On PostgreSQL both
/// are one pool.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    reads: AnyPool,
    backend: Backend,
    /// SQLite's background checkpointer runs while any clone of this store is alive.
    _alive: Option<Arc<()>>,
}

impl Store {
    /// Connects to `sqlite://path` (the file and its folder are created) or `postgres://…`,
    /// with the default settings.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, &StoreSettings::default()).await
    }

    /// Connects with `settings`.
    pub async fn connect_with(url: &str, settings: &StoreSettings) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let Some(backend) = Backend::of_url(url) else {
            return Err(StoreError::Database(sqlx::Error::Configuration(
                format!("DATABASE_URL {DATABASE_URL_FORMS}").into(),
            )));
        };
        let url = match backend {
            Backend::Sqlite => sqlite_url(url)?,
            Backend::Postgres => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)?.disable_statement_logging();
        if backend == Backend::Postgres {
            let pool = AnyPoolOptions::new()
                .max_connections(settings.postgres_connections)
                .acquire_timeout(Duration::from_secs(10))
                // See `PG_CHECK_IDLE_AFTER`.
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for >= PG_CHECK_IDLE_AFTER {
                            sqlx::Connection::ping(conn).await?;
                        }
                        Ok(true)
                    })
                })
                .connect_with(options)
                .await?;
            return Ok(Self {
                reads: pool.clone(),
                pool,
                backend,
                _alive: None,
            });
        }
        let synchronous = settings.sqlite_synchronous.pragma();
        let pool = sqlite_pool()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    // See the README's decisions (SQLITE_SYNCHRONOUS).
                    sqlx::Executor::execute(&mut *conn, synchronous).await?;
                    // A statement that changes many rows inside a transaction (the multi-row
                    // upserts) keeps a statement journal: in memory, not in a temporary file
                    // (writing it was 6 % of the server's time under webhook load).
                    sqlx::Executor::execute(&mut *conn, "PRAGMA temp_store = MEMORY").await?;
                    // The background checkpointer (below) copies the log into the database;
                    // the writer checkpoints itself only when the log has grown this long,
                    // which then also restarts the log from its beginning.
                    sqlx::Executor::execute(&mut *conn, "PRAGMA wal_autocheckpoint = 16384")
                        .await?;
                    Ok(())
                })
            })
            .connect_with(options.clone())
            .await?;
        // WAL lets readers proceed while one writer writes; the setting persists in the file.
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&pool)
            .await?;
        let reads = sqlite_pool()
            .max_connections(SQLITE_READERS)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::Executor::execute(&mut *conn, "PRAGMA query_only = ON").await?;
                    Ok(())
                })
            })
            .connect_lazy_with(options.clone());
        let alive = Arc::new(());
        tokio::spawn(checkpoint_wal(
            sqlite_pool().max_connections(1).connect_lazy_with(options),
            Arc::downgrade(&alive),
        ));
        Ok(Self {
            pool,
            reads,
            backend,
            _alive: Some(alive),
        })
    }

    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        self.migrate_search().await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.reads.close().await;
        self.pool.close().await;
    }
}

/// Options for a pool of SQLite connections. A connection to a local file does not die while
/// idle, so it is not checked before each use (sqlx's default: a `ping` round trip to the
/// connection's thread, which under load costs as much as a statement).
fn sqlite_pool() -> AnyPoolOptions {
    AnyPoolOptions::new().test_before_acquire(false)
}

/// How often SQLite's log is copied into the database in the background.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// Copies SQLite's write-ahead log into the database every [`CHECKPOINT_EVERY`], on a
/// connection of its own (a passive checkpoint: it never blocks the writer or the readers), so
/// that this copying and its fsyncs are not done by the writer inside a commit, where they
/// would delay every request waiting for that commit. Ends when the store is gone.
async fn checkpoint_wal(pool: AnyPool, alive: Weak<()>) {
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if alive.strong_count() == 0 {
            break;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            // The writer checkpoints itself when the log grows long, so nothing is lost.
            if pool.is_closed() {
                break;
            }
            tracing::warn!(error = %e, "background WAL checkpoint failed");
        }
    }
    pool.close().await;
}

/// Adds `mode=rwc` so a new SQLite file is created, and creates its folder.
fn sqlite_url(url: &str) -> Result<String> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let file = path.split('?').next().unwrap_or_default();
    let dir = std::path::Path::new(file).parent();
    if let Some(dir) = dir.filter(|d| !d.as_os_str().is_empty() && file != ":memory:") {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Database(sqlx::Error::Configuration(
                format!("cannot create the database folder {}: {e}", dir.display()).into(),
            ))
        })?;
    }
    Ok(if url.contains('?') {
        url.to_owned()
    } else {
        format!("{url}?mode=rwc")
    })
}

/// The names of `columns` (name, and whether it is a flag), comma-separated.
/// `$1, $2, …, $n`: the numbered parameters of a statement binding `n` values.
pub(crate) fn numbered_params(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn column_names(columns: &[(&str, bool)]) -> String {
    columns
        .iter()
        .map(|(c, _)| *c)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A `SELECT` list of `columns` (name, and whether it is a flag), each read as `table.column`
/// (`table` empty for none) and named `{prefix}{column}`. Flags are cast to integers: the `Any`
/// driver cannot decode SQLite's BOOLEAN.
pub(crate) fn select_list(columns: &[(&str, bool)], table: &str, prefix: &str) -> String {
    let qualified = |c: &str| {
        if table.is_empty() {
            c.to_owned()
        } else {
            format!("{table}.{c}")
        }
    };
    columns
        .iter()
        .map(|(c, flag)| {
            let value = qualified(c);
            let value = if *flag {
                format!("CAST({value} AS INTEGER)")
            } else {
                value
            };
            format!("{value} AS {prefix}{c}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Fresh, isolated databases for tests: a new SQLite file, or on PostgreSQL (when
/// `TEST_DATABASE_URL` is set) a [`ScratchDatabase`].
#[cfg(feature = "testing")]
pub mod testing {
    use crate::ScratchDatabase;

    pub struct TestDatabase {
        pub url: String,
        postgres: Option<ScratchDatabase>,
        _dir: Option<tempfile::TempDir>,
    }

    impl TestDatabase {
        pub async fn sqlite() -> Self {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}/reflector.db", dir.path().display());
            Self {
                url,
                postgres: None,
                _dir: Some(dir),
            }
        }

        /// `None` when `TEST_DATABASE_URL` is not set.
        pub async fn postgres() -> Option<Self> {
            let admin_url = std::env::var("TEST_DATABASE_URL").ok()?;
            let database = ScratchDatabase::create(&admin_url, "reflector_test")
                .await
                .expect("create a test database on TEST_DATABASE_URL");
            Some(Self {
                url: database.url.clone(),
                postgres: Some(database),
                _dir: None,
            })
        }

        /// Drops the PostgreSQL database now (a test that panicked before this drops it when
        /// its `TestDatabase` is dropped).
        pub async fn drop_database(mut self) {
            if let Some(database) = self.postgres.take() {
                database.drop_database().await;
            }
        }
    }
}

#[cfg(all(test, feature = "testing"))]
#[allow(clippy::unwrap_used)] // tests fail loudly on purpose
mod tests {
    use super::*;
    use sqlx::Row;

    #[tokio::test]
    async fn sqlite_follows_the_synchronous_setting_and_its_readers_cannot_write() {
        for (setting, pragma) in [(SqliteSynchronous::Normal, 1), (SqliteSynchronous::Full, 2)] {
            let db = testing::TestDatabase::sqlite().await;
            let settings = StoreSettings {
                sqlite_synchronous: setting,
                ..StoreSettings::default()
            };
            let store = Store::connect_with(&db.url, &settings).await.unwrap();
            store.migrate().await.unwrap();
            let row = sqlx::query("PRAGMA synchronous")
                .fetch_one(&store.pool)
                .await
                .unwrap();
            assert_eq!(row.try_get::<i64, _>(0).unwrap(), pragma, "{setting:?}");
            let row = sqlx::query("PRAGMA temp_store")
                .fetch_one(&store.pool)
                .await
                .unwrap();
            assert_eq!(
                row.try_get::<i64, _>(0).unwrap(),
                2,
                "statement journals in memory"
            );
            let written = sqlx::query("CREATE TABLE reader_wrote (x TEXT)")
                .execute(&store.reads)
                .await;
            assert!(written.is_err(), "a reader connection wrote");
            store.close().await;
        }
    }

    /// A migrated store on a fresh database of `TEST_DATABASE_URL`'s PostgreSQL.
    async fn postgres_store() -> (Store, testing::TestDatabase) {
        let db = testing::TestDatabase::postgres()
            .await
            .expect("TEST_DATABASE_URL");
        let store = Store::connect(&db.url).await.unwrap();
        store.migrate().await.unwrap();
        (store, db)
    }

    #[tokio::test]
    #[ignore = "PostgreSQL: runs when TEST_DATABASE_URL is set (scripts/test)"]
    async fn postgres_connections_closed_by_the_server_while_idle_are_replaced_before_use() {
        let (store, db) = postgres_store().await;
        // Several connections open at once.
        let counts = || store.inbox_counts();
        tokio::try_join!(counts(), counts(), counts(), counts()).unwrap();
        // The server ends every connection of the store's pool, as a restart would.
        let admin = AnyPool::connect(&db.url).await.unwrap();
        let ended = sqlx::query(
            "SELECT COUNT(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_one(&admin)
        .await
        .unwrap()
        .try_get::<i64, _>("n")
        .unwrap();
        assert!(ended >= 1, "no connection of the store's pool was open");
        admin.close().await;
        tokio::time::sleep(PG_CHECK_IDLE_AFTER + Duration::from_millis(200)).await;
        // Each dead connection fails its check and another is opened: no statement fails.
        for _ in 0..8 {
            store.inbox_counts().await.unwrap();
        }
        tokio::try_join!(counts(), counts(), counts(), counts()).unwrap();
        store.close().await;
        db.drop_database().await;
    }

    /// While a transaction holds a meeting's lock (a batch of its events being stored), a
    /// session of that meeting can still be written elsewhere (a presence check): with the lock
    /// `FOR UPDATE`, its foreign-key check waited for the lock, and the two could deadlock.
    #[tokio::test]
    #[ignore = "PostgreSQL: runs when TEST_DATABASE_URL is set (scripts/test)"]
    async fn a_locked_meeting_still_takes_sessions_written_elsewhere() {
        let (store, db) = postgres_store().await;
        let at = "2026-03-01T10:00:00Z".parse().unwrap();
        sqlx::query(
            "INSERT INTO room (id, name, user_id, created_at, platform) \
             VALUES ('r1', 'team', 'alice', $1, 'daily')",
        )
        .bind(time::ts(at))
        .execute(&store.pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO meeting (id, platform, platform_meeting_id, room_name, room_url, \
             host_room_url, start_date, end_date, room_id, is_locked, room_mode, \
             recording_type, recording_trigger) VALUES ('m1', 'daily', 'p1', 'team-1', 'u', 'h', \
             $1, $1, 'r1', FALSE, 'normal', 'cloud', 'none')",
        )
        .bind(time::ts(at))
        .execute(&store.pool)
        .await
        .unwrap();
        let mut locking = store.pool.begin().await.unwrap();
        assert!(presence::lock_meeting_on(&mut locking, "m1").await.unwrap());
        let change = SessionChange {
            meeting_id: "m1",
            platform_session_id: "s1",
            user_id: None,
            user_name: Some("Ada"),
            at,
        };
        let joined = tokio::time::timeout(Duration::from_secs(3), store.session_joined(&change));
        assert!(
            matches!(joined.await, Ok(Ok(()))),
            "the session waited for the meeting's lock"
        );
        locking.commit().await.unwrap();
        assert_eq!(store.open_sessions("m1").await.unwrap().len(), 1);
        store.close().await;
        db.drop_database().await;
    }

    #[test]
    fn the_synchronous_setting_is_normal_or_full() {
        assert_eq!("FULL".parse(), Ok(SqliteSynchronous::Full));
        assert_eq!("normal".parse(), Ok(SqliteSynchronous::Normal));
        assert!("off".parse::<SqliteSynchronous>().is_err());
    }
}
