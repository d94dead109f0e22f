//! ICS calendar feeds for rooms that follow a calendar (SPEC §7), as pure functions: a feed's
//! text becomes a [`Feed`] ([`parse_feed`]), and [`room_events`] gives the occurrences that
//! belong to one room within a time window, with recurring series expanded, overrides applied
//! and time zones resolved to UTC. No I/O: fetching and storing are the application's.
//!
//! The content lines are parsed by the `icalendar` crate (unfolding, escapes, parameters) and
//! recurrence rules are expanded by `rrule`; time zones come from `chrono-tz` (the IANA database),
//! from a table of the Windows zone names Outlook writes ([`zones::windows_to_iana`]), or from
//! the feed's own VTIMEZONE definitions.

mod expand;
mod matching;
mod parse;
mod values;
pub mod zones;

pub use expand::{Occurrence, Window, room_events};
pub use matching::mentions_room;
pub use parse::{Feed, IcsError, parse_feed, parse_feed_for_room};

use serde::{Deserialize, Serialize};

/// Someone invited to an event (ATTENDEE), or its organizer (ORGANIZER, role `ORGANIZER`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attendee {
    /// The address without `mailto:`.
    pub email: Option<String>,
    /// CN.
    pub name: Option<String>,
    /// PARTSTAT: `ACCEPTED`, `DECLINED`, `TENTATIVE`, `NEEDS-ACTION`, …
    pub status: Option<String>,
    /// ROLE: `REQ-PARTICIPANT`, `OPT-PARTICIPANT`, `CHAIR`, …, or `ORGANIZER`.
    pub role: Option<String>,
}
