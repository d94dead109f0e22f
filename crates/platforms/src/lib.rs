//! The video-platform layer: one async trait ([`VideoPlatform`]) that every provider implements,
//! a [`Registry`] that builds the configured providers from the environment, and one module per
//! provider. Provider wire formats (endpoints, JSON fields, signature schemes, recording type
//! names) live only in their provider's module; everything else sees provider-neutral types
//! ([`StartRecording`] says [`RecordingLayout::Composed`] or [`RecordingLayout::Tracks`], not a
//! provider's word for them).
//!
//! A capability a provider lacks comes from the trait's default (`Unsupported`, or no webhooks
//! and no pages), never from a copy in the provider's module. What the providers' modules share
//! (paging through list endpoints, lenient decoding of ids, numbers and times, JSON re-serialised
//! in the order sent) is in `wire`, and the HTTP client in [`client`].
//! A provider that serves pages of its own (the mock) declares their path prefix
//! ([`VideoPlatform::page_prefix`]), so the server knows those paths without naming them.
//!
//! Adding a provider means adding a module with a `PROVIDER` registration and one line in
//! [`registry::PROVIDERS`].

pub mod client;
pub mod daily;
mod error;
pub mod livekit;
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

/// What every video provider offers.
///
/// **Required** (no default): [`name`](Self::name), [`create_meeting`](Self::create_meeting),
/// [`list_sessions`](Self::list_sessions), [`delete_meeting`](Self::delete_meeting) and
/// [`join_url`](Self::join_url).
///
/// **Optional capabilities**, which a provider overrides only if it has them:
///
/// | capability | default |
/// |---|---|
/// | [`presence`](Self::presence) | [`PlatformError::Unsupported`] |
/// | [`extend_meeting`](Self::extend_meeting) | [`PlatformError::Unsupported`] |
/// | [`recording_media`](Self::recording_media) | [`PlatformError::Unsupported`] |
/// | [`start_recording`](Self::start_recording) | [`PlatformError::Unsupported`] |
/// | [`list_recordings`](Self::list_recordings) | [`PlatformError::Unsupported`] |
/// | [`recording_speakers`](Self::recording_speakers) | [`PlatformError::Unsupported`] |
/// | [`recording_bucket`](Self::recording_bucket) | none |
/// | [`recording_for_object`](Self::recording_for_object) with [`recording_queue`](Self::recording_queue) | none |
/// | [`recording_listing_prefix`](Self::recording_listing_prefix) with [`recording_for_object`](Self::recording_for_object) | no bucket listing |
/// | [`recording_poll_interval`](Self::recording_poll_interval) | none (no polling) |
/// | [`webhook_path`](Self::webhook_path) with [`verify_webhook`](Self::verify_webhook) | no webhooks; [`WebhookRejection::Unsupported`] |
/// | [`page_prefix`](Self::page_prefix) with [`pages`](Self::pages) | no pages |
///
/// A capability a provider lacks answers `Unsupported` (built by [`PlatformError::unsupported`]),
/// never a silent success, so callers decide what lacking it means (the jobs skip presence
/// checks and extensions, the API answers 400).
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

    /// Deletes or expires the provider room. "Already gone" is success.
    async fn delete_meeting(&self, meeting: &MeetingHandle<'_>) -> Result<(), PlatformError>;

    /// The URL this user should open to join (with a token where the provider uses them).
    async fn join_url(
        &self,
        meeting: &MeetingHandle<'_>,
        join: &JoinRequest<'_>,
    ) -> Result<String, PlatformError>;

    /// Optional: who is in the meeting's room right now, for providers with a presence API.
    async fn presence(
        &self,
        _meeting: &MeetingHandle<'_>,
    ) -> Result<Vec<PresentParticipant>, PlatformError> {
        Err(PlatformError::unsupported(self.name(), "a presence API"))
    }

    /// Optional: moves the provider room's expiry to `new_end`.
    async fn extend_meeting(
        &self,
        _meeting: &MeetingHandle<'_>,
        _new_end: DateTime<Utc>,
    ) -> Result<(), PlatformError> {
        Err(PlatformError::unsupported(
            self.name(),
            "extending a meeting",
        ))
    }

    /// Optional: where a finished recording's media can be read, for providers with an API for it.
    async fn recording_media(&self, _recording_id: &str) -> Result<RecordingMedia, PlatformError> {
        Err(PlatformError::unsupported(
            self.name(),
            "fetching recordings through its API",
        ))
    }

    /// Optional: who spoke on each audio track of a finished multitrack recording (by the
    /// provider's track key), for providers that can tell; tracks it cannot name are left out.
    /// Transcripts name their speakers with it.
    async fn recording_speakers(
        &self,
        _recording_id: &str,
    ) -> Result<Vec<TrackSpeaker>, PlatformError> {
        Err(PlatformError::unsupported(
            self.name(),
            "naming a recording's speakers",
        ))
    }

    /// Optional: the provider's finished recordings that started after `since`, newest first
    /// (a fallback for missed webhooks). Recordings still in progress are left out.
    async fn list_recordings(
        &self,
        _since: DateTime<Utc>,
    ) -> Result<Vec<RecordingReady>, PlatformError> {
        Err(PlatformError::unsupported(
            self.name(),
            "listing recordings through its API",
        ))
    }

    /// Optional: the bucket this provider writes recordings into, when one is configured. Keys
    /// its announcements name are read from there.
    fn recording_bucket(&self) -> Option<RecordingBucket> {
        None
    }

    /// Optional: the recording that an object created in `bucket` (an S3 event notification)
    /// is, when the bucket is this provider's and the key one of its recordings.
    fn recording_for_object(&self, _bucket: &str, _key: &str) -> Option<RecordingReady> {
        None
    }

    /// Optional: the key prefix (possibly empty) under which this provider writes recordings into
    /// its [`recording_bucket`](Self::recording_bucket), when a listing of that bucket is the
    /// source of truth for its recordings. Each poll (at
    /// [`recording_poll_interval`](Self::recording_poll_interval)) then lists the objects under it
    /// modified recently, maps each with [`recording_for_object`](Self::recording_for_object), and
    /// announces each recording once its meeting has ended, with the keys of all its objects
    /// (the answers of one recording id are merged).
    fn recording_listing_prefix(&self) -> Option<String> {
        None
    }

    /// Optional: how often [`list_recordings`](Self::list_recordings) (and the bucket, with
    /// [`recording_listing_prefix`](Self::recording_listing_prefix)) is polled, for providers
    /// whose webhooks may be missed.
    fn recording_poll_interval(&self) -> Option<std::time::Duration> {
        None
    }

    /// Optional: the queue where the provider bucket's notifications arrive, when configured.
    fn recording_queue(&self) -> Option<RecordingQueue> {
        None
    }

    /// Optional: starts a recording through the provider's API, for providers that need a REST
    /// call for it.
    async fn start_recording(
        &self,
        _meeting: &MeetingHandle<'_>,
        _start: &StartRecording<'_>,
    ) -> Result<RecordingStarted, PlatformError> {
        Err(PlatformError::unsupported(
            self.name(),
            "starting recordings through an API",
        ))
    }

    /// Optional: the path (under `/v1`) where this provider delivers webhooks. A provider that
    /// returns one also implements [`verify_webhook`](Self::verify_webhook).
    fn webhook_path(&self) -> Option<&'static str> {
        None
    }

    /// Verifies a webhook delivery (raw body and headers) and parses it into a neutral event.
    fn verify_webhook(
        &self,
        _headers: &::http::HeaderMap,
        _body: &[u8],
        _now: DateTime<Utc>,
    ) -> Result<WebhookOutcome, WebhookRejection> {
        Err(WebhookRejection::Unsupported(PlatformError::unsupported(
            self.name(),
            "webhooks",
        )))
    }

    /// Optional: the first path segment of the pages this provider serves from our own server
    /// (the `mock`'s `mock-video`). Only a provider that runs inside Reflector has one; real
    /// providers host their calls themselves. Paths under it are never the web app's, and it must
    /// be a reserved room name (a room's page is `/{room name}`).
    fn page_prefix(&self) -> Option<&'static str> {
        None
    }

    /// The pages under [`page_prefix`](Self::page_prefix), with routes relative to it
    /// (`/{room_name}` for `/mock-video/{room_name}`): the registry mounts them there.
    fn pages(&self) -> Option<axum::Router> {
        None
    }
}
