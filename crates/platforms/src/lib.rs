//! The video-platform layer: one async trait ([`VideoPlatform`]) that every provider implements,
//! a [`Registry`] that builds the configured providers from the environment, and one module per
//! provider. Provider wire formats (endpoints, JSON fields, signature schemes) live only in their
//! provider's module; everything else sees provider-neutral types.
//!
//! Adding a provider means adding a module with a `PROVIDER` registration and one line in
//! [`registry::PROVIDERS`].

pub mod client;
pub mod daily;
mod error;
pub mod mock;
mod registry;
mod types;
pub mod whereby;
mod wire;

pub use client::RetryPolicy;
pub use error::{PlatformError, WebhookRejection};
pub use registry::{
    Configured, EventSink, PROVIDERS, PlatformStatus, Provider, ProviderSetup, Registry,
};
pub use types::*;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// What every video provider offers. Capabilities a provider lacks answer
/// [`PlatformError::Unsupported`], never a silent success.
#[async_trait]
pub trait VideoPlatform: Send + Sync + 'static {
    /// The registry key, also stored on rooms and meetings (`whereby`, `daily`, `mock`).
    fn name(&self) -> &'static str;

    /// Creates a provider room for a meeting that expires at `request.end_date`.
    async fn create_meeting(
        &self,
        request: &CreateMeeting<'_>,
    ) -> Result<ProviderMeeting, PlatformError>;

    /// The participant sessions the provider saw in a meeting's room, open and ended.
    async fn list_sessions(
        &self,
        meeting: &MeetingHandle<'_>,
    ) -> Result<Vec<ProviderSession>, PlatformError>;

    /// Who is in the meeting's room right now, for providers with a presence API.
    async fn presence(
        &self,
        meeting: &MeetingHandle<'_>,
    ) -> Result<Vec<PresentParticipant>, PlatformError>;

    /// Deletes or expires the provider room. "Already gone" is success.
    async fn delete_meeting(&self, meeting: &MeetingHandle<'_>) -> Result<(), PlatformError>;

    /// Moves the provider room's expiry to `new_end`.
    async fn extend_meeting(
        &self,
        meeting: &MeetingHandle<'_>,
        new_end: DateTime<Utc>,
    ) -> Result<(), PlatformError>;

    /// The URL this user should open to join (with a token where the provider uses them).
    async fn join_url(
        &self,
        meeting: &MeetingHandle<'_>,
        join: &JoinRequest<'_>,
    ) -> Result<String, PlatformError>;

    /// Verifies a webhook delivery (raw body and headers) and parses it into a neutral event.
    fn verify_webhook(
        &self,
        headers: &::http::HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<WebhookOutcome, WebhookRejection>;

    /// The path (under `/v1`) where this provider delivers webhooks, if it sends any.
    fn webhook_path(&self) -> Option<&'static str>;

    /// Where a finished recording's media can be read.
    async fn recording_media(&self, recording_id: &str) -> Result<RecordingMedia, PlatformError>;

    /// Starts a recording through the provider's API, for providers that need a REST call.
    async fn start_recording(
        &self,
        meeting: &MeetingHandle<'_>,
        start: &StartRecording<'_>,
    ) -> Result<RecordingStarted, PlatformError>;

    /// Pages this provider serves from our own server. Only a provider that runs inside Reflector
    /// (the `mock`, whose calls are our pages) has any; real providers host their calls themselves.
    fn pages(&self) -> Option<axum::Router> {
        None
    }
}
