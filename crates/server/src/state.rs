//! What every HTTP handler shares: the application, the HTTP layer's own settings, and its
//! per-endpoint rate limits.

use std::ops::Deref;
use std::sync::Arc;

use reflector_app::App;

use crate::config::HttpSettings;
use crate::ops::MetricsPage;
use crate::routes::meetings::MeetingLimiter;

#[derive(Clone)]
pub struct HttpState(Arc<Inner>);

pub struct Inner {
    pub settings: HttpSettings,
    pub app: Arc<App>,
    pub recording_starts: MeetingLimiter,
    pub consents: MeetingLimiter,
    /// `/metrics`, when the process collects metrics.
    pub metrics: Option<MetricsPage>,
}

impl HttpState {
    pub fn new(settings: HttpSettings, app: Arc<App>, metrics: Option<MetricsPage>) -> Self {
        Self(Arc::new(Inner {
            settings,
            app,
            recording_starts: MeetingLimiter::recording_starts(),
            consents: MeetingLimiter::consents(),
            metrics,
        }))
    }
}

impl Deref for HttpState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
