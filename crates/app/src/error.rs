//! The application's errors, in the product's words. The server turns each into an HTTP status
//! in one place; jobs turn them into retry-or-give-up.

use reflector_platforms::PlatformError;
use reflector_queue::JobError;
use reflector_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// `what` ("Room", "Meeting") does not exist, or the caller may not know it does.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// It existed and is gone for a reason the detail gives ("Audio unavailable due to privacy
    /// settings").
    #[error("{0}")]
    Gone(&'static str),
    /// The action needs a signed-in user.
    #[error("Not authenticated")]
    Unauthenticated,
    /// A credential or signature was presented and is wrong (not the same as none at all).
    #[error("{0}")]
    BadCredentials(String),
    /// The caller is known but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// A value the caller sent does not fit; names the field.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The request is well-formed but the product's rules refuse it now ("Meeting has ended").
    #[error("{0}")]
    Refused(String),
    /// The request conflicts with what exists now (a limit is reached); says what to do first.
    #[error("{0}")]
    Conflict(String),
    /// The request's body is larger than the limit the detail names.
    #[error("{0}")]
    TooLarge(String),
    /// Too many requests of this kind; try again after `retry_after` seconds.
    #[error("{detail}")]
    RateLimited { detail: String, retry_after: u64 },
    /// Another request holds what this one needs; try again after `retry_after` seconds.
    #[error("{detail}")]
    Busy { detail: String, retry_after: u64 },
    #[error(transparent)]
    Platform(#[from] PlatformError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something we depend on is down; try again later (says what to do).
    #[error("{0}")]
    Unavailable(String),
    /// Background work could not be recorded.
    #[error("{0}")]
    Job(#[from] JobError),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn refused(detail: impl Into<String>) -> Self {
        Self::Refused(detail.into())
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::Forbidden(detail.into())
    }

    pub fn invalid(field: &str, message: impl std::fmt::Display) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            message: message.to_string(),
        }
    }
}

/// Whether a job that failed with this error is worth running again.
impl From<AppError> for JobError {
    fn from(e: AppError) -> Self {
        use PlatformError as P;
        match e {
            AppError::Job(e) => e,
            AppError::Platform(
                P::NotConfigured { .. } | P::Unsupported { .. } | P::InvalidRequest { .. },
            )
            | AppError::NotFound(_)
            | AppError::Gone(_)
            | AppError::Unauthenticated
            | AppError::BadCredentials(_)
            | AppError::Forbidden(_)
            | AppError::Invalid { .. }
            | AppError::Refused(_)
            | AppError::Conflict(_)
            | AppError::TooLarge(_) => JobError::Permanent(e.to_string()),
            AppError::Platform(_)
            | AppError::Store(_)
            | AppError::RateLimited { .. }
            | AppError::Busy { .. }
            | AppError::Unavailable(_) => JobError::Retry(e.to_string()),
        }
    }
}
