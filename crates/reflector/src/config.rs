//! The one typed configuration (SPEC §1), read once from the environment: the process-wide
//! values parsed here (listen address, public URLs, database), and each layer's own settings
//! parsed by that layer. Invalid values stop start-up with one line naming the variable.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use reflector_app::AppSettings;
use reflector_core::{ConfigError, Env};
use reflector_platforms::RetryPolicy;
use reflector_queue::{DEFAULT_SHUTDOWN_GRACE, QueueSettings};
use reflector_server::HttpSettings;
use reflector_storage::StorageSettings;
use reflector_store::{Backend, DATABASE_URL_FORMS, StoreSettings};

#[derive(Clone)]
pub struct Config {
    /// `DATA_DIR`: the SQLite file, local object storage, temp files.
    pub data_dir: PathBuf,
    /// `DATABASE_URL`, default `sqlite://$DATA_DIR/reflector.db`.
    pub database_url: String,
    /// The database layer's settings (`SQLITE_SYNCHRONOUS`, `DATABASE_POOL_SIZE`).
    pub store: StoreSettings,
    /// `HOST` / `PORT`.
    pub listen: SocketAddr,
    /// Public URL of the API (`BASE_URL`), without a trailing slash.
    pub base_url: String,
    /// Public URL of the web UI (`UI_BASE_URL`, default `BASE_URL`).
    pub ui_base_url: String,
    pub http: HttpSettings,
    pub app: AppSettings,
    pub queue: QueueSettings,
    /// Object storage (`TRANSCRIPT_STORAGE_*`) and the staging folder for downloads.
    pub storage: StorageSettings,
    /// How provider API calls are retried.
    pub provider_retries: RetryPolicy,
    /// Each provider module reads its own settings (`DAILY_API_KEY`, …) from this, so that no
    /// code outside a provider's module knows them.
    pub provider_env: Env,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let data_dir = PathBuf::from(env.string_or("DATA_DIR", "./data"));
        let database_url = env
            .get("DATABASE_URL")
            .map(str::to_owned)
            .unwrap_or_else(|| format!("sqlite://{}/reflector.db", data_dir.display()));
        if Backend::of_url(&database_url).is_none() {
            return Err(ConfigError::new("DATABASE_URL", DATABASE_URL_FORMS));
        }
        let base_url = env.url_or("BASE_URL", "http://localhost:1250")?;
        let ui_base_url = env.url_or("UI_BASE_URL", &base_url)?;
        let host: IpAddr = env.parse_or("HOST", IpAddr::from([127, 0, 0, 1]))?;
        let port: u16 = env.parse_or("PORT", 1250)?;
        // One deadline for both halves of a graceful stop: in-flight requests, running jobs.
        let grace = std::time::Duration::from_secs(
            env.parse_or("SHUTDOWN_GRACE_SECONDS", DEFAULT_SHUTDOWN_GRACE.as_secs())?,
        );
        let mut http = HttpSettings::from_env(env, &[&base_url, &ui_base_url])?;
        http.limits.shutdown_grace = grace;
        let mut queue = QueueSettings::from_env(env)?;
        queue.shutdown_grace = grace;
        let storage = StorageSettings::from_env(env, &data_dir)?;
        let mut app = AppSettings::from_env(env, &ui_base_url)?;
        // The pipeline's downloads and audio chunks are temporary files of ours (SPEC §1:
        // DATA_DIR holds them), beside the recordings' and uploads' staging.
        app.transcription.work_dir = data_dir.join("tmp").join("pipeline");
        // The modal service fetches audio by URL: only S3 storage can sign one.
        if app.transcription.fetches_audio_by_url()
            && matches!(storage.backend, reflector_storage::Backend::Local(_))
        {
            return Err(ConfigError::new(
                "TRANSCRIPT_BACKEND",
                "modal fetches the audio by URL, which needs S3 storage to sign one: set \
                 TRANSCRIPT_STORAGE_BACKEND=aws, or use TRANSCRIPT_BACKEND=openai",
            ));
        }
        Ok(Self {
            storage,
            data_dir,
            database_url,
            store: StoreSettings::from_env(env)?,
            listen: SocketAddr::new(host, port),
            http,
            app,
            queue,
            provider_retries: RetryPolicy::default(),
            provider_env: env.clone(),
            base_url,
            ui_base_url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_env(&Env::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn sqlite_synchronous_is_normal_or_full() {
        let Ok(c) = config(&[("SQLITE_SYNCHRONOUS", "full")]) else {
            panic!("full is valid")
        };
        assert_eq!(
            c.store.sqlite_synchronous,
            reflector_store::SqliteSynchronous::Full
        );
        let Err(e) = config(&[("SQLITE_SYNCHRONOUS", "off")]) else {
            panic!("off is not a setting")
        };
        assert!(e.to_string().contains("SQLITE_SYNCHRONOUS"), "{e}");
    }

    #[test]
    fn the_postgres_pool_is_at_least_one_connection() {
        let Ok(c) = config(&[("DATABASE_POOL_SIZE", "2")]) else {
            panic!("2 is valid")
        };
        assert_eq!(c.store.postgres_connections, 2);
        assert!(config(&[]).is_ok_and(|c| c.store.postgres_connections >= 4));
        for bad in ["0", "-1", "many"] {
            let Err(e) = config(&[("DATABASE_POOL_SIZE", bad)]) else {
                panic!("{bad} is not a pool size")
            };
            assert!(e.to_string().contains("DATABASE_POOL_SIZE"), "{e}");
        }
    }

    #[test]
    fn defaults_run_on_a_laptop() {
        let Ok(c) = config(&[]) else {
            panic!("defaults must be valid")
        };
        assert_eq!(c.database_url, "sqlite://./data/reflector.db");
        assert_eq!(c.listen.to_string(), "127.0.0.1:1250");
        assert_eq!(c.base_url, "http://localhost:1250");
        assert_eq!(c.ui_base_url, "http://localhost:1250");
        assert_eq!(c.app.ui_base_url, c.ui_base_url);
        assert_eq!(
            c.store.sqlite_synchronous,
            reflector_store::SqliteSynchronous::Normal
        );
        let Ok(c) = config(&[
            ("DATA_DIR", "/tmp/x"),
            ("BASE_URL", "https://r.example.org/"),
        ]) else {
            panic!("valid")
        };
        assert_eq!(c.database_url, "sqlite:///tmp/x/reflector.db");
        assert_eq!(c.ui_base_url, "https://r.example.org");
        // Temporary files too live under DATA_DIR (SPEC §1).
        assert_eq!(
            c.app.transcription.work_dir,
            std::path::Path::new("/tmp/x/tmp/pipeline")
        );
    }

    #[test]
    fn the_modal_backend_needs_storage_that_signs_urls() {
        let modal = [
            ("TRANSCRIPT_BACKEND", "modal"),
            ("TRANSCRIPT_URL", "https://gpu.example.org"),
        ];
        match config(&modal) {
            Err(err) => {
                assert_eq!(err.variable, "TRANSCRIPT_BACKEND");
                assert!(
                    err.to_string().contains("TRANSCRIPT_STORAGE_BACKEND=aws"),
                    "{err}"
                );
            }
            Ok(_) => panic!("modal with local storage must be refused"),
        }
        let mut on_s3 = modal.to_vec();
        on_s3.extend([
            ("TRANSCRIPT_STORAGE_BACKEND", "aws"),
            ("TRANSCRIPT_STORAGE_AWS_BUCKET_NAME", "ours"),
        ]);
        assert!(config(&on_s3).is_ok());
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("PORT", "http"),
            ("HOST", "localhost:80"),
            ("AUTH_BACKEND", "ldap"),
            ("PUBLIC_MODE", "sometimes"),
            ("BASE_URL", "localhost"),
            ("UI_BASE_URL", "ftp://x"),
            ("DATABASE_URL", "mysql://x"),
            ("WORKER_CONCURRENCY", "0"),
            ("MEETING_LIFECYCLE_INTERVAL_SECONDS", "0"),
            ("SHUTDOWN_GRACE_SECONDS", "-1"),
            ("MAX_CONNECTIONS", "many"),
            ("TRANSCRIPT_STORAGE_BACKEND", "ftp"),
            ("UPLOAD_CHUNK_MAX_BYTES", "10"),
            ("UPLOAD_CHUNK_MAX_BYTES", "big"),
        ] {
            match config(&[(var, value)]) {
                Err(err) => assert_eq!(err.variable, var, "{err}"),
                Ok(_) => panic!("{var}={value} must be refused"),
            }
        }
        for url in ["postgres://h/db", "postgresql://h/db", "sqlite::memory:"] {
            assert!(config(&[("DATABASE_URL", url)]).is_ok(), "{url}");
        }
    }
}
