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
pub use transcripts::{
    SearchHit, SearchPage, Transcript, TranscriptFilter, TranscriptPage, TranscriptPatch,
    TranscriptResult,
};
pub use webhooks::{
    DeliveryAttempt, InboxEvent, IncomingWebhook, OutboxEvent, OutboxStatus, PendingEvent,
};

use std::str::FromStr;
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
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

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

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects to `sqlite://path` (the file and its folder are created) or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Self> {
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
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // In WAL mode a commit is then written to the log before it returns (a
                        // crash of the process loses nothing) but not fsynced each time (a
                        // power loss may lose the last commits). See the README's decisions.
                        sqlx::Executor::execute(&mut *conn, "PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        if backend == Backend::Sqlite {
            // WAL lets readers proceed while one writer writes; the setting persists in the file.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        Ok(Self { pool, backend })
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
        self.pool.close().await;
    }
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

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Fresh, isolated databases for tests: a new SQLite file, or on PostgreSQL (when
/// `TEST_DATABASE_URL` is set) a `CREATE DATABASE` with a random name, dropped by
/// [`TestDatabase::drop_database`] or, when a test fails before that, when it is dropped.
/// Random names mean a crashed run never breaks the next.
#[cfg(feature = "testing")]
pub mod testing {
    use super::*;

    pub struct TestDatabase {
        pub url: String,
        admin_url: Option<String>,
        name: String,
        _dir: Option<tempfile::TempDir>,
    }

    impl TestDatabase {
        pub async fn sqlite() -> Self {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}/reflector.db", dir.path().display());
            Self {
                url,
                admin_url: None,
                name: String::new(),
                _dir: Some(dir),
            }
        }

        /// `None` when `TEST_DATABASE_URL` is not set.
        pub async fn postgres() -> Option<Self> {
            let admin_url = std::env::var("TEST_DATABASE_URL").ok()?;
            sqlx::any::install_default_drivers();
            let name = format!("reflector_test_{}", uuid::Uuid::new_v4().simple());
            let admin = AnyPool::connect(&admin_url)
                .await
                .expect("connect TEST_DATABASE_URL");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&admin)
                .await
                .expect("create test database");
            admin.close().await;
            let base = admin_url
                .rsplit_once('/')
                .map(|(b, _)| b.to_owned())
                .unwrap_or(admin_url.clone());
            Some(Self {
                url: format!("{base}/{name}"),
                admin_url: Some(admin_url),
                name,
                _dir: None,
            })
        }

        pub async fn drop_database(mut self) {
            if let Some(admin_url) = self.admin_url.take() {
                drop_named(&admin_url, &self.name).await;
            }
        }
    }

    /// A test that panicked never reached `drop_database`: drop its database here, on a thread
    /// and runtime of its own (this may run inside the test's runtime, or while unwinding).
    impl Drop for TestDatabase {
        fn drop(&mut self) {
            let Some(admin_url) = self.admin_url.take() else {
                return;
            };
            let name = std::mem::take(&mut self.name);
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(drop_named(&admin_url, &name));
                }
            })
            .join();
        }
    }

    async fn drop_named(admin_url: &str, name: &str) {
        if let Ok(admin) = AnyPool::connect(admin_url).await {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&admin)
                .await;
            admin.close().await;
        }
    }
}
