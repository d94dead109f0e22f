//! Reflector's domain: rooms, meetings, the settings a meeting copies from its room, and the pure
//! rules that decide which meeting a room should use and on which video platform. No I/O and no
//! framework types live here, so every rule is testable with plain values and an explicit `now`.

pub mod env;
pub mod lifecycle;
pub mod meeting;
pub mod platform;
pub mod room;
pub mod transcript;
pub mod webhook;

pub use env::{ConfigError, Env};
pub use meeting::{Meeting, MeetingSettings, reusable_meeting};
pub use platform::{PlatformName, Rollout};
pub use room::{RecordingTrigger, RecordingType, Room, RoomMode, RoomName, RoomNameError};

/// The time source, injected so that rules about time are testable without sleeping.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> chrono::DateTime<chrono::Utc>;
}

/// The real clock, to the microsecond: the precision both databases store, so a time handed
/// out at creation equals the one read back later.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        use chrono::SubsecRound;
        chrono::Utc::now().trunc_subsecs(6)
    }
}

/// A clock that stands still until told otherwise, for tests of time-dependent rules.
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<chrono::DateTime<chrono::Utc>>);

impl ManualClock {
    pub fn new(now: chrono::DateTime<chrono::Utc>) -> Self {
        Self(std::sync::Mutex::new(now))
    }

    pub fn set(&self, now: chrono::DateTime<chrono::Utc>) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = now;
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
