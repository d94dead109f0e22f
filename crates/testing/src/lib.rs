//! Shared test support: the application on a free port against a fresh database ([`TestApp`]),
//! both databases for every database test ([`on_both_databases!`]), the fake provider APIs and
//! signers ([`fakes`]), and the real binary as a process ([`process`]). One copy of each, used by
//! every crate's tests.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // test support fails loudly on purpose

mod app;
pub mod fake_livekit;
pub mod fakes;
pub mod ics;
pub mod media;
pub mod moto;
pub mod process;
pub mod proxy;
pub mod transcription;

pub use app::{TestApp, fast_retries};
pub use reflector_store::testing::TestDatabase;

/// Which database a test case runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

impl Db {
    /// A fresh, empty database of this kind.
    pub async fn fresh(self) -> TestDatabase {
        match self {
            Db::Sqlite => TestDatabase::sqlite().await,
            Db::Postgres => TestDatabase::postgres().await.unwrap_or_else(|| {
                panic!("the PostgreSQL case needs TEST_DATABASE_URL (postgres://…)")
            }),
        }
    }

    /// A migrated store on a fresh database; keep the database alive while using it.
    pub async fn store(self) -> (reflector_store::Store, TestDatabase) {
        let database = self.fresh().await;
        let store = reflector_store::Store::connect(&database.url)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        (store, database)
    }
}

/// Generates a `sqlite` and a `postgres` test for each async case `fn(Db)`. The PostgreSQL
/// case is `#[ignore]`d, so that without `TEST_DATABASE_URL` it is reported as skipped, not
/// passed; `scripts/test` runs ignored tests when the variable is set.
#[macro_export]
macro_rules! on_both_databases {
    ($($case:ident),+ $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$case($crate::Db::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            #[ignore = "PostgreSQL: runs when TEST_DATABASE_URL is set (scripts/test)"]
            async fn postgres() {
                super::$case($crate::Db::Postgres).await;
            }
        }
    )+};
}

/// As [`on_both_databases!`], for cases `fn(Store)` that need only a migrated store.
#[macro_export]
macro_rules! on_both_stores {
    ($($case:ident),+ $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let (store, db) = $crate::Db::Sqlite.store().await;
                super::$case(store.clone()).await;
                store.close().await;
                db.drop_database().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            #[ignore = "PostgreSQL: runs when TEST_DATABASE_URL is set (scripts/test)"]
            async fn postgres() {
                let (store, db) = $crate::Db::Postgres.store().await;
                super::$case(store.clone()).await;
                store.close().await;
                db.drop_database().await;
            }
        }
    )+};
}
