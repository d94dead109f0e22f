//! Typed provider failures. Each message names the provider and, where the operator can fix it,
//! the setting to change.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    #[error("video platform '{platform}' is not configured: set {setting}")]
    NotConfigured {
        platform: &'static str,
        setting: &'static str,
    },
    #[error("{platform} rejected our credentials (HTTP {status}): check {setting}")]
    Unauthorized {
        platform: &'static str,
        status: u16,
        setting: &'static str,
    },
    #[error("{platform} is rate limiting requests; try again later")]
    RateLimited {
        platform: &'static str,
        retry_after: Option<Duration>,
    },
    #[error("{platform}: {what} not found")]
    NotFound {
        platform: &'static str,
        what: String,
    },
    #[error("{platform} is unavailable: {detail}")]
    Unavailable {
        platform: &'static str,
        detail: String,
    },
    #[error("{platform} sent an unexpected response: {detail}")]
    BadResponse {
        platform: &'static str,
        detail: String,
    },
    #[error("{platform} refused the request (HTTP {status}): {detail}")]
    Rejected {
        platform: &'static str,
        status: u16,
        detail: String,
    },
    #[error("{platform} does not support {capability}")]
    Unsupported {
        platform: &'static str,
        capability: &'static str,
    },
    #[error("{platform}: {detail}")]
    InvalidRequest {
        platform: &'static str,
        detail: String,
    },
}

impl PlatformError {
    /// The answer for a capability `platform` lacks. The trait's default methods are the only
    /// callers besides a provider that lacks a capability only sometimes (the mock's presence).
    pub fn unsupported(platform: &'static str, capability: &'static str) -> Self {
        Self::Unsupported {
            platform,
            capability,
        }
    }
}

/// Why a webhook delivery was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookRejection {
    #[error("webhooks are not configured: set {setting}")]
    NotConfigured { setting: &'static str },
    #[error("missing signature header {header}")]
    MissingSignature { header: &'static str },
    #[error("invalid signature")]
    BadSignature,
    #[error("signature timestamp is too old or in the future")]
    Stale,
    #[error("malformed webhook: {0}")]
    Malformed(String),
    /// The provider sends no webhooks: the trait's default for
    /// [`crate::VideoPlatform::verify_webhook`]. No route reaches it, because only providers with
    /// a [`crate::VideoPlatform::webhook_path`] get a receiver.
    #[error(transparent)]
    Unsupported(PlatformError),
}
