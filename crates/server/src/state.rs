//! What every handler shares.

use std::ops::Deref;
use std::sync::Arc;

use reflector_core::Clock;
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
    pub meetings: MeetingCreator,
    pub recording_starts: RecordingStartLimiter,
}

impl AppState {
    pub fn new(
        settings: Settings,
        store: Store,
        platforms: Arc<Registry>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self(Arc::new(Inner {
            settings,
            store,
            platforms,
            clock,
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
