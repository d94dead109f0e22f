//! Throwaway PostgreSQL databases: one per test, and one per benchmark server, so that each
//! starts on empty tables whatever earlier runs left behind.

use sqlx::AnyPool;

use crate::Result;

/// A PostgreSQL database created under a random name on the server `admin_url` names, reached
/// by [`ScratchDatabase::url`] (the same user, host and options), and dropped with its
/// connections by [`ScratchDatabase::drop_database`] or, failing that, when dropped. Random
/// names mean a crashed run never breaks the next.
pub struct ScratchDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl ScratchDatabase {
    /// Creates `{prefix}_{random}` (the user needs `CREATEDB`). `prefix` is a plain identifier.
    pub async fn create(admin_url: &str, prefix: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let admin = AnyPool::connect(admin_url).await?;
        let created = sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await;
        admin.close().await;
        created?;
        Ok(Self {
            url: with_database(admin_url, &name)?,
            admin_url: admin_url.to_owned(),
            name,
        })
    }

    pub async fn drop_database(mut self) {
        drop_named(&self.admin_url, &std::mem::take(&mut self.name)).await;
    }
}

/// One not dropped yet (a test that panicked, a benchmark that failed) is dropped here, on a
/// thread and runtime of its own: this may run inside an async runtime, or while unwinding.
impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if self.name.is_empty() {
            return;
        }
        let (admin_url, name) = (self.admin_url.clone(), std::mem::take(&mut self.name));
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

/// `url` naming the database `name` instead of its own, its options (`?sslmode=…`) kept.
fn with_database(url: &str, name: &str) -> Result<String> {
    let mut url = url::Url::parse(url).map_err(|e| {
        sqlx::Error::Configuration(format!("the database URL is not a URL: {e}").into())
    })?;
    url.set_path(name);
    Ok(url.into())
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_is_replaced_and_the_options_kept() {
        for (url, expected) in [
            (
                "postgres://postgres@127.0.0.1:5432/test",
                "postgres://postgres@127.0.0.1:5432/x",
            ),
            (
                "postgres://u:p@h/test?sslmode=disable",
                "postgres://u:p@h/x?sslmode=disable",
            ),
            ("postgres://h:5432", "postgres://h:5432/x"),
            ("postgres://h?host=/run/pg", "postgres://h/x?host=/run/pg"),
        ] {
            assert_eq!(
                with_database(url, "x").ok().as_deref(),
                Some(expected),
                "{url}"
            );
        }
    }
}
