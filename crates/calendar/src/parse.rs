//! A feed's text → its events and time zones. The content lines (folding, escapes, parameters)
//! are `icalendar`'s parser's; the meaning of VEVENT properties is ours.
//!
//! A document that is not a whole calendar (a web page, a truncated download, garbage) is an
//! [`IcsError`], so a sync of it changes nothing. Within a calendar, one broken event (no UID,
//! an unreadable DTSTART) is skipped and counted, so it does not block every other event.

use std::collections::HashSet;

use icalendar::parser::{Component, Property};

use crate::Attendee;
use crate::values::{IcsTime, parse_duration};
use crate::zones::ZoneTable;

/// Components nested deeper than this are refused: no real calendar nests more than four
/// (VCALENDAR › VEVENT › VALARM, VTIMEZONE › STANDARD), and the parser recurses per level.
const MAX_DEPTH: usize = 16;
/// The most of an event kept as its raw data.
const MAX_RAW: usize = 16 * 1024;

/// Why a feed could not be read. The messages say what to check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IcsError {
    #[error("the calendar feed is empty")]
    Empty,
    #[error(
        "the feed is not an iCalendar file (it does not start with BEGIN:VCALENDAR); check that \
         the URL is the calendar's ICS/iCal address, not a web page"
    )]
    NotCalendar,
    #[error(
        "the calendar feed ends before END:VCALENDAR (truncated or incomplete); try again later"
    )]
    Truncated,
    #[error("the calendar feed nests components more than {MAX_DEPTH} levels deep")]
    TooDeep,
    #[error("the calendar feed could not be parsed: {0}")]
    Malformed(String),
}

/// A parsed feed: its events (cancelled ones included, as they cancel occurrences) and zones.
#[derive(Debug)]
pub struct Feed {
    pub(crate) events: Vec<VEvent>,
    pub(crate) zones: ZoneTable,
    /// Events skipped as unreadable (no UID or no valid DTSTART, or not parseable).
    pub skipped: usize,
    total_events: usize,
}

impl Feed {
    /// The number of VEVENTs in the feed, cancelled and unreadable ones included.
    pub fn total_events(&self) -> usize {
        self.total_events
    }
}

/// One VEVENT as written.
#[derive(Debug, Clone)]
pub(crate) struct VEvent {
    pub uid: String,
    pub recurrence_id: Option<IcsTime>,
    pub cancelled: bool,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub location: Option<String>,
    pub start: IcsTime,
    pub end: Option<IcsTime>,
    pub duration: Option<chrono::Duration>,
    pub rrules: Vec<String>,
    pub rdates: Vec<IcsTime>,
    pub exdates: Vec<IcsTime>,
    pub attendees: Vec<Attendee>,
    pub raw: String,
}

/// Parses a feed, keeping every event. Never panics on any input.
pub fn parse_feed(text: &str) -> Result<Feed, IcsError> {
    parse(text, None)
}

/// Parses a feed, keeping only the events that may belong to the room at `room_url`: those
/// whose text mentions it, and every event sharing a UID with one (a series' overrides). Every
/// event is still parsed, one at a time, so a feed that is garbage is an error here too; but
/// only the room's are kept, so a 10 000-event feed costs little memory.
pub fn parse_feed_for_room(text: &str, room_url: &str) -> Result<Feed, IcsError> {
    parse(text, Some(room_url))
}

fn parse(text: &str, room_url: Option<&str>) -> Result<Feed, IcsError> {
    let text = text.trim_start_matches('\u{feff}');
    if text.trim().is_empty() {
        return Err(IcsError::Empty);
    }
    let unfolded = icalendar::parser::unfold(text);
    let first = unfolded.lines().map(str::trim).find(|l| !l.is_empty());
    if !first.is_some_and(|l| l.eq_ignore_ascii_case("BEGIN:VCALENDAR")) {
        return Err(IcsError::NotCalendar);
    }
    let blocks = blocks(&unfolded)?;
    // The UIDs of the events that mention the room (a superset: any property counts here;
    // `room_events` then looks at LOCATION and DESCRIPTION only).
    let wanted: Option<HashSet<&str>> = room_url.map(|url| {
        blocks
            .iter()
            .filter(|b| b.event && crate::matching::mentions_room(&unfolded[b.range.clone()], url))
            .filter_map(|b| textual_uid(&unfolded[b.range.clone()]))
            .collect()
    });
    let mut zones = ZoneTable::default();
    let mut events = Vec::new();
    let (mut skipped, mut parsed, mut first_error) = (0, 0, None);
    for block in &blocks {
        // Each component is parsed on its own, so the whole feed's tree never exists at once.
        let component = match icalendar::parser::read_calendar(&unfolded[block.range.clone()]) {
            Ok(mut calendar) if !calendar.components.is_empty() => {
                calendar.components.swap_remove(0)
            }
            Ok(_) => continue,
            Err(e) => {
                first_error.get_or_insert(e);
                skipped += usize::from(block.event);
                continue;
            }
        };
        parsed += 1;
        if !block.event {
            zones.add_vtimezone(&component);
            continue;
        }
        match vevent(&component) {
            Some(e) if wanted.as_ref().is_none_or(|w| w.contains(e.uid.as_str())) => events.push(e),
            Some(_) => {}
            None => skipped += 1,
        }
    }
    if parsed == 0
        && let Some(e) = first_error
    {
        // The parser's message quotes the offending lines; the first few lines say enough.
        let short: String = e.lines().take(4).collect::<Vec<_>>().join(" | ");
        return Err(IcsError::Malformed(short.chars().take(300).collect()));
    }
    let total_events = blocks.iter().filter(|b| b.event).count();
    Ok(Feed {
        events,
        zones,
        skipped,
        total_events,
    })
}

/// A top-level component of the calendar (a VEVENT or a VTIMEZONE), as a byte range.
struct Block {
    range: std::ops::Range<usize>,
    event: bool,
}

/// Finds the calendar's VEVENTs and VTIMEZONEs, refusing unbalanced or too deep BEGIN/END
/// nesting before the recursive parser sees any of it.
fn blocks(text: &str) -> Result<Vec<Block>, IcsError> {
    let mut depth = 0usize;
    let mut closed_calendar = false;
    let mut open: Option<(usize, bool)> = None;
    let mut found = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let at = offset;
        offset += line.len();
        let starts = |prefix: &str| {
            line.get(..prefix.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
        };
        if starts("BEGIN:") {
            depth += 1;
            if depth > MAX_DEPTH {
                return Err(IcsError::TooDeep);
            }
            if depth == 2 {
                let name = line[6..].trim();
                if name.eq_ignore_ascii_case("VEVENT") {
                    open = Some((at, true));
                } else if name.eq_ignore_ascii_case("VTIMEZONE") {
                    open = Some((at, false));
                }
            }
        } else if starts("END:") {
            if depth == 2
                && let Some((start, event)) = open.take()
            {
                found.push(Block {
                    range: start..offset,
                    event,
                });
            }
            depth = depth.saturating_sub(1);
            closed_calendar |= depth == 0;
        }
    }
    if depth > 0 || !closed_calendar {
        return Err(IcsError::Truncated);
    }
    Ok(found)
}

/// The UID of an event's text, read without parsing it.
fn textual_uid(block: &str) -> Option<&str> {
    block.lines().find_map(|line| {
        let after = line
            .get(..3)
            .filter(|k| k.eq_ignore_ascii_case("UID"))
            .map(|_| &line[3..])?;
        if !(after.starts_with(':') || after.starts_with(';')) {
            return None;
        }
        after.split_once(':').map(|(_, v)| v.trim())
    })
}

pub(crate) fn props<'a, 'b>(
    c: &'b Component<'a>,
    name: &'b str,
) -> impl Iterator<Item = &'b Property<'a>> + 'b {
    c.properties
        .iter()
        .filter(move |p| p.name.as_str().eq_ignore_ascii_case(name))
}

/// The value of the first property `name`, if any.
pub(crate) fn prop(c: &Component<'_>, name: &str) -> Option<String> {
    props(c, name).next().map(|p| p.val.as_str().to_owned())
}

fn param<'a>(p: &'a Property<'_>, key: &str) -> Option<&'a str> {
    p.params
        .iter()
        .find(|param| param.key.as_str().eq_ignore_ascii_case(key))
        .and_then(|param| param.val.as_ref())
        .map(|v| v.as_str().trim_matches('"'))
}

fn time_of(p: &Property<'_>) -> Option<IcsTime> {
    let value = p.val.as_str();
    // A PERIOD (RDATE;VALUE=PERIOD:start/end) starts at its first part.
    let value = value.split('/').next().unwrap_or(value);
    IcsTime::parse(value, param(p, "TZID"))
}

fn times_of(p: &Property<'_>) -> Vec<IcsTime> {
    let tzid = param(p, "TZID");
    p.val
        .as_str()
        .split(',')
        .filter_map(|v| IcsTime::parse(v.split('/').next().unwrap_or(v), tzid))
        .collect()
}

fn text(c: &Component<'_>, name: &str) -> Option<String> {
    prop(c, name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn person(p: &Property<'_>, role: Option<&str>) -> Attendee {
    let value = p.val.as_str().trim();
    let email = value
        .get(..7)
        .filter(|prefix| prefix.eq_ignore_ascii_case("mailto:"))
        .map_or(value, |_| &value[7..])
        .trim();
    let some = |v: Option<&str>| {
        v.map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    Attendee {
        email: some(Some(email)),
        name: some(param(p, "CN")),
        status: some(param(p, "PARTSTAT")),
        role: some(role.or_else(|| param(p, "ROLE"))),
    }
}

fn vevent(c: &Component<'_>) -> Option<VEvent> {
    let uid = text(c, "UID")?;
    let start = props(c, "DTSTART").next().and_then(time_of)?;
    let mut attendees: Vec<Attendee> = props(c, "ORGANIZER")
        .map(|p| person(p, Some("ORGANIZER")))
        .collect();
    attendees.extend(props(c, "ATTENDEE").map(|p| person(p, None)));
    Some(VEvent {
        recurrence_id: props(c, "RECURRENCE-ID").next().and_then(time_of),
        cancelled: prop(c, "STATUS").is_some_and(|s| s.trim().eq_ignore_ascii_case("CANCELLED")),
        summary: text(c, "SUMMARY"),
        description: text(c, "DESCRIPTION"),
        location: text(c, "LOCATION"),
        end: props(c, "DTEND").next().and_then(time_of),
        duration: prop(c, "DURATION").and_then(|d| parse_duration(&d)),
        rrules: props(c, "RRULE")
            .map(|p| p.val.as_str().trim().to_owned())
            .collect(),
        rdates: props(c, "RDATE").flat_map(times_of).collect(),
        exdates: props(c, "EXDATE").flat_map(times_of).collect(),
        attendees,
        raw: raw(c),
        start,
        uid,
    })
}

/// The event's content lines as parsed (unfolded, values unescaped), for reference.
fn raw(c: &Component<'_>) -> String {
    let mut out = String::from("BEGIN:VEVENT\r\n");
    for p in &c.properties {
        if out.len() > MAX_RAW {
            break;
        }
        out.push_str(p.name.as_str());
        for param in &p.params {
            out.push(';');
            out.push_str(param.key.as_str());
            if let Some(v) = &param.val {
                out.push('=');
                out.push_str(v.as_str());
            }
        }
        out.push(':');
        out.push_str(p.val.as_str());
        out.push_str("\r\n");
    }
    out.push_str("END:VEVENT\r\n");
    if out.len() > MAX_RAW {
        let mut cut = MAX_RAW;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}
