//! Reflector's application layer: what the product does, called alike by the HTTP routes and the
//! background jobs. Getting or creating a room's meeting ([`meetings`]), ending one, ingesting a
//! provider's events ([`ingest`]), bringing recordings into our storage ([`recordings`]), notifying room owners through signed outgoing webhooks
//! ([`notify`], [`outgoing`]) and the jobs that carry the slow parts out ([`jobs`]) on the generic
//! durable queue of `reflector-queue`. Services answer domain errors ([`AppError`]); which HTTP
//! status they become is the server's one decision.

pub mod access;
pub mod calendar;
mod error;
mod ics_fetch;
pub mod ingest;
pub mod jobs;
pub mod meetings;
pub mod metrics;
pub mod notify;
pub mod outgoing;
pub mod recordings;
pub mod transcripts;
pub mod uploads;
pub mod url_guard;

use std::sync::Arc;
use std::time::Duration;

use reflector_core::{Clock, ConfigError, Env};
use reflector_platforms::Registry;
use reflector_queue::Queue;
use reflector_store::Store;

pub use error::{AppError, AppResult};
pub use jobs::{Job, Jobs};

/// The application's settings (SPEC §1, §6), read from the environment.
#[derive(Debug, Clone)]
pub struct AppSettings {
    /// How often every active meeting is checked (`MEETING_LIFECYCLE_INTERVAL_SECONDS`, 60).
    pub lifecycle_interval: Duration,
    /// How often presence is reconciled (`PRESENCE_RECONCILIATION_INTERVAL_SECONDS`, 30).
    pub presence_interval: Duration,
    /// How long a meeting everyone left stays open (`MEETING_EMPTY_GRACE_SECONDS`, 300).
    pub empty_grace: chrono::Duration,
    /// `ALLOW_PRIVATE_NETWORK_URLS`.
    pub allow_private_urls: bool,
    /// `UI_BASE_URL`, for links in outgoing webhooks and a room's URL in calendar events.
    pub ui_base_url: String,
    /// The most provider events a meeting's apply job applies in one transaction
    /// (`WEBHOOK_APPLY_BATCH`, 1000); it takes the next batch until none waits.
    pub apply_batch: i64,
    /// `TRANSCRIPT_*` and `LLM_*`: the transcription backend and the summariser.
    pub transcription: transcripts::TranscriptionSettings,
    /// How often rooms' calendar feeds are checked for being due (`ICS_SCHEDULER_INTERVAL_SECONDS`, 60).
    pub ics_scheduler_interval: Duration,
    /// How often meetings are prepared for upcoming events (`CALENDAR_PRECREATE_INTERVAL_SECONDS`, 30).
    pub calendar_precreate_interval: Duration,
}

impl AppSettings {
    /// `ui_base_url` is parsed with the other public URLs by the configuration.
    pub fn from_env(env: &Env, ui_base_url: &str) -> Result<Self, ConfigError> {
        let seconds = |name: &str, default: u64| -> Result<Duration, ConfigError> {
            let value: u64 = env.parse_or(name, default)?;
            if value == 0 {
                return Err(ConfigError::new(name, "must be at least 1"));
            }
            Ok(Duration::from_secs(value))
        };
        let grace: u64 = env.parse_or("MEETING_EMPTY_GRACE_SECONDS", 300)?;
        let apply_batch: i64 = env.parse_or("WEBHOOK_APPLY_BATCH", 1000)?;
        if !(1..=100_000).contains(&apply_batch) {
            return Err(ConfigError::new(
                "WEBHOOK_APPLY_BATCH",
                "must be between 1 and 100000",
            ));
        }
        Ok(Self {
            lifecycle_interval: seconds("MEETING_LIFECYCLE_INTERVAL_SECONDS", 60)?,
            presence_interval: seconds("PRESENCE_RECONCILIATION_INTERVAL_SECONDS", 30)?,
            empty_grace: chrono::Duration::seconds(i64::try_from(grace).unwrap_or(i64::MAX)),
            allow_private_urls: env.bool_or("ALLOW_PRIVATE_NETWORK_URLS", false)?,
            ui_base_url: ui_base_url.to_owned(),
            apply_batch,
            transcription: transcripts::TranscriptionSettings::from_env(env)?,
            ics_scheduler_interval: seconds("ICS_SCHEDULER_INTERVAL_SECONDS", 60)?,
            calendar_precreate_interval: seconds("CALENDAR_PRECREATE_INTERVAL_SECONDS", 30)?,
        })
    }
}

/// Everything the application's services share.
pub struct App {
    pub store: Store,
    pub platforms: Arc<Registry>,
    pub clock: Arc<dyn Clock>,
    pub settings: AppSettings,
    /// Where services hand slow work to the background jobs.
    pub queue: Queue,
    /// Object storage and what recording ingestion needs to fill it.
    pub recordings: recordings::Recordings,
    /// The transcription backend and summariser.
    pub transcription: transcripts::Transcription,
    pub(crate) sender: outgoing::WebhookSender,
    pub(crate) meetings: meetings::MeetingCreator,
    pub(crate) ingest: ingest::Ingest,
}

impl App {
    /// The store and clock are the queue's own, so services and jobs agree on them.
    pub fn new(
        queue: Queue,
        platforms: Arc<Registry>,
        settings: AppSettings,
        recordings: recordings::Recordings,
    ) -> Self {
        Self {
            transcription: transcripts::Transcription::new(&settings.transcription),
            recordings,
            store: queue.store.clone(),
            clock: queue.clock.clone(),
            sender: outgoing::WebhookSender::new(settings.allow_private_urls),
            platforms,
            settings,
            queue,
            meetings: meetings::MeetingCreator::default(),
            ingest: ingest::Ingest::default(),
        }
    }

    pub(crate) async fn enqueue(&self, job: Job) -> AppResult<()> {
        self.enqueue_in(job, chrono::Duration::zero()).await
    }

    /// Enqueues `job` to run `delay` from now.
    pub(crate) async fn enqueue_in(&self, job: Job, delay: chrono::Duration) -> AppResult<()> {
        self.queue
            .enqueue(&job.to_new(self.clock.now() + delay))
            .await?;
        Ok(())
    }
}
