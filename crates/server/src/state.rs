//! What every handler shares.

use std::ops::Deref;
use std::sync::Arc;

use reflector_core::Clock;
use reflector_jobs::JobContext;
use reflector_platforms::Registry;
use reflector_store::Store;

use crate::config::Settings;
use crate::meetings::MeetingCreator;
use crate::routes::meetings::RecordingStartLimiter;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub settings: Settings,
    pub store: Store,
    pub platforms: Arc<Registry>,
    pub clock: Arc<dyn Clock>,
    /// Where requests hand work to the background jobs.
    pub jobs: Arc<JobContext>,
    pub meetings: MeetingCreator,
    pub recording_starts: RecordingStartLimiter,
}

impl AppState {
    /// The store, platforms and clock are the jobs' own, so requests and jobs agree on them.
    pub fn new(settings: Settings, jobs: Arc<JobContext>) -> Self {
        Self(Arc::new(Inner {
            settings,
            store: jobs.store.clone(),
            platforms: jobs.platforms.clone(),
            clock: jobs.clock.clone(),
            jobs,
            meetings: MeetingCreator::default(),
            recording_starts: RecordingStartLimiter::new(),
        }))
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
