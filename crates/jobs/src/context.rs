//! What every job needs, and the job settings read from the environment (SPEC §1, §6).

use std::sync::Arc;
use std::time::Duration;

use reflector_core::{Clock, ConfigError, Env};
use reflector_platforms::Registry;
use reflector_store::Store;
use tokio::sync::Notify;

use crate::outgoing::WebhookSender;

#[derive(Debug, Clone)]
pub struct JobSettings {
    /// How often every active meeting is checked (`MEETING_LIFECYCLE_INTERVAL_SECONDS`, 60).
    pub lifecycle_interval: Duration,
    /// How often presence is reconciled (`PRESENCE_RECONCILIATION_INTERVAL_SECONDS`, 30).
    pub presence_interval: Duration,
    /// How long a meeting everyone left stays open (`MEETING_EMPTY_GRACE_SECONDS`, 300).
    pub empty_grace: chrono::Duration,
    /// How long a claimed job is ours without a heartbeat (`JOB_LEASE_SECONDS`, 30); a crashed
    /// worker's jobs are taken over after this.
    pub lease: Duration,
    /// Jobs one worker process runs at once (`WORKER_CONCURRENCY`, 4).
    pub concurrency: usize,
    /// How often an idle worker looks for jobs enqueued by other processes.
    pub poll: Duration,
    /// `ALLOW_PRIVATE_NETWORK_URLS`.
    pub allow_private_urls: bool,
    /// `UI_BASE_URL`, for links in outgoing webhooks.
    pub ui_base_url: String,
}

impl JobSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let seconds = |name: &str, default: u64| -> Result<Duration, ConfigError> {
            let value: u64 = env.parse_or(name, default)?;
            if value == 0 {
                return Err(ConfigError::new(name, "must be at least 1"));
            }
            Ok(Duration::from_secs(value))
        };
        let base_url = env.url_or("BASE_URL", "http://localhost:1250")?;
        let concurrency: usize = env.parse_or("WORKER_CONCURRENCY", 4)?;
        if concurrency == 0 {
            return Err(ConfigError::new("WORKER_CONCURRENCY", "must be at least 1"));
        }
        let grace: u64 = env.parse_or("MEETING_EMPTY_GRACE_SECONDS", 300)?;
        Ok(Self {
            lifecycle_interval: seconds("MEETING_LIFECYCLE_INTERVAL_SECONDS", 60)?,
            presence_interval: seconds("PRESENCE_RECONCILIATION_INTERVAL_SECONDS", 30)?,
            empty_grace: chrono::Duration::seconds(i64::try_from(grace).unwrap_or(i64::MAX)),
            lease: seconds("JOB_LEASE_SECONDS", 30)?,
            concurrency,
            // Bounded below so a typo cannot turn idle workers into a busy loop on the database.
            poll: Duration::from_millis(env.parse_or::<u64>("JOB_POLL_MILLISECONDS", 500)?.max(10)),
            allow_private_urls: env.bool_or("ALLOW_PRIVATE_NETWORK_URLS", false)?,
            ui_base_url: env.url_or("UI_BASE_URL", &base_url)?,
        })
    }
}

/// Shared by the job runner, the scheduler, and the HTTP handlers that enqueue work.
pub struct JobContext {
    pub store: Store,
    pub platforms: Arc<Registry>,
    pub clock: Arc<dyn Clock>,
    pub settings: JobSettings,
    pub sender: WebhookSender,
    /// Wakes this process's idle runner when work is enqueued here.
    pub wake: Arc<Notify>,
}

impl JobContext {
    pub fn new(
        store: Store,
        platforms: Arc<Registry>,
        clock: Arc<dyn Clock>,
        settings: JobSettings,
    ) -> Self {
        let sender = WebhookSender::new(settings.allow_private_urls);
        Self {
            store,
            platforms,
            clock,
            settings,
            sender,
            wake: Arc::new(Notify::new()),
        }
    }
}
