//! Rooms: their names, the settings meetings copy from them, and the string enums of the API.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::platform::PlatformName;

/// Defines a string enum with its wire names, parsing and an OpenAPI schema, so the database, the
/// API and the providers all agree on one spelling.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? } default $default:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        // Written by hand: utoipa's derive does not see `serde(rename)` values that come from a
        // macro argument, and documented the Rust variant names instead of the wire values.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl $name {
            pub const ALL: &'static [&'static str] = &[$($text),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl Default for $name {
            fn default() -> Self { Self::$default }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(format!(
                        "unknown value {other:?}; expected one of: {}",
                        Self::ALL.join(", ")
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// `normal` rooms are small meetings; `group` rooms are the provider's large-meeting mode.
    RoomMode { Normal = "normal", Group = "group" } default Normal
);
string_enum!(
    /// Where a meeting is recorded: nowhere, in the participant's browser, or in the provider's cloud.
    RecordingType { None = "none", Local = "local", Cloud = "cloud" } default Cloud
);
string_enum!(
    /// When a cloud recording starts.
    RecordingTrigger {
        None = "none",
        Prompt = "prompt",
        Automatic = "automatic",
        AutomaticSecondParticipant = "automatic-2nd-participant",
    } default AutomaticSecondParticipant
);

/// First path segments the server answers itself (the API and service endpoints): never pages
/// of the web app. Each is also a reserved room name. Providers that serve pages of their own
/// declare their prefixes themselves (the platforms registry's `page_prefixes`).
pub const SERVER_PATHS: &[&str] = &["api", "v1", "health", "metrics", "openapi.json"];

/// Paths of the web UI and API that a room name must not shadow (a room's URL is `/{name}`).
pub const RESERVED_ROOM_NAMES: &[&str] = &[
    "rooms",
    "transcripts",
    "browse",
    "api",
    "v1",
    "health",
    "settings",
    "mock-video",
    "metrics",
    "openapi.json",
    "assets",
    "login",
    "logout",
    "auth",
    // `/v1/rooms/name/{room_name}`: a room called `name` would have its `/v1/rooms/{room_name}/…`
    // routes shadowed by it.
    "name",
];

pub const ROOM_NAME_MAX_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomNameError {
    #[error("room name must not be empty")]
    Empty,
    #[error("room name must be at most {ROOM_NAME_MAX_LEN} characters (got {0})")]
    TooLong(usize),
    #[error("room name may contain only lowercase letters a-z, digits 0-9 and '-' (found {0:?})")]
    InvalidChar(char),
    #[error("room name {0:?} is reserved; choose another")]
    Reserved(String),
}

/// A validated room name: 1–64 characters of `[a-z0-9-]`, not a reserved word.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct RoomName(String);

impl RoomName {
    pub fn parse(raw: &str) -> Result<Self, RoomNameError> {
        if raw.is_empty() {
            return Err(RoomNameError::Empty);
        }
        let len = raw.chars().count();
        if len > ROOM_NAME_MAX_LEN {
            return Err(RoomNameError::TooLong(len));
        }
        if let Some(bad) = raw
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(RoomNameError::InvalidChar(bad));
        }
        if RESERVED_ROOM_NAMES.contains(&raw) {
            return Err(RoomNameError::Reserved(raw.to_owned()));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RoomName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A room as stored. Visibility rules (who may see the webhook fields) belong to the API layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Room {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub created_at: DateTime<Utc>,
    pub zulip_auto_post: bool,
    pub zulip_stream: String,
    pub zulip_topic: String,
    pub is_locked: bool,
    pub room_mode: RoomMode,
    pub recording_type: RecordingType,
    pub recording_trigger: RecordingTrigger,
    pub is_shared: bool,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
    pub ics_url: Option<String>,
    pub ics_fetch_interval: i64,
    pub ics_enabled: bool,
    pub ics_last_sync: Option<DateTime<Utc>>,
    pub ics_last_etag: Option<String>,
    pub platform: PlatformName,
    pub skip_consent: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_paths_are_reserved_room_names() {
        for path in SERVER_PATHS {
            assert!(RESERVED_ROOM_NAMES.contains(path), "{path}");
        }
    }

    #[test]
    fn room_names_follow_the_rules() {
        assert!(RoomName::parse("team-standup").is_ok());
        assert!(RoomName::parse("a").is_ok());
        assert!(RoomName::parse(&"x".repeat(64)).is_ok());
        assert_eq!(RoomName::parse(""), Err(RoomNameError::Empty));
        assert_eq!(
            RoomName::parse(&"x".repeat(65)),
            Err(RoomNameError::TooLong(65))
        );
        assert_eq!(
            RoomName::parse("Team"),
            Err(RoomNameError::InvalidChar('T'))
        );
        assert_eq!(RoomName::parse("a b"), Err(RoomNameError::InvalidChar(' ')));
        assert_eq!(
            RoomName::parse("café"),
            Err(RoomNameError::InvalidChar('é'))
        );
        assert!(matches!(
            RoomName::parse("mock-video"),
            Err(RoomNameError::Reserved(_))
        ));
        assert!(matches!(
            RoomName::parse("v1"),
            Err(RoomNameError::Reserved(_))
        ));
    }

    #[test]
    fn enums_round_trip_their_wire_names() {
        for raw in RecordingTrigger::ALL {
            let parsed: RecordingTrigger = raw.parse().unwrap();
            assert_eq!(parsed.as_str(), *raw);
            assert_eq!(serde_json::to_value(parsed).unwrap(), *raw);
        }
        let err = "sometimes".parse::<RecordingType>().unwrap_err();
        assert!(err.contains("none, local, cloud"), "{err}");
        assert_eq!(
            RecordingTrigger::default().as_str(),
            "automatic-2nd-participant"
        );
        assert_eq!(RecordingType::default(), RecordingType::Cloud);
    }
}
