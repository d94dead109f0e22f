//! A feed's text → its events and time zones. The content lines (folding, escapes, parameters)
//! are `icalendar`'s parser's; the meaning of VEVENT properties is ours.
//!
//! A document that is not a whole calendar (a web page, a truncated download, garbage) is an
//! [`IcsError`], so a sync of it changes nothing. Within a calendar, one broken event (no UID,
//! an unreadable DTSTART) is skipped and counted, so it does not block every other event.

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
    /// Events skipped as unreadable (no UID or no valid DTSTART).
    pub skipped: usize,
}

impl Feed {
    /// The number of VEVENTs in the feed (readable ones, cancelled included).
    pub fn total_events(&self) -> usize {
        self.events.len()
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

/// Parses a feed. Never panics on any input.
pub fn parse_feed(text: &str) -> Result<Feed, IcsError> {
    let text = text.trim_start_matches('\u{feff}');
    if text.trim().is_empty() {
        return Err(IcsError::Empty);
    }
    let unfolded = icalendar::parser::unfold(text);
    let first = unfolded.lines().map(str::trim).find(|l| !l.is_empty());
    if !first.is_some_and(|l| l.eq_ignore_ascii_case("BEGIN:VCALENDAR")) {
        return Err(IcsError::NotCalendar);
    }
    check_nesting(&unfolded)?;
    let calendar = icalendar::parser::read_calendar(&unfolded).map_err(|e| {
        // The parser's message quotes the offending lines; the first few lines say enough.
        let short: String = e.lines().take(4).collect::<Vec<_>>().join(" | ");
        IcsError::Malformed(short.chars().take(300).collect())
    })?;
    let mut zones = ZoneTable::default();
    let mut events = Vec::new();
    let mut skipped = 0;
    for c in &calendar.components {
        let name = c.name.as_str();
        if name.eq_ignore_ascii_case("VTIMEZONE") {
            zones.add_vtimezone(c);
        } else if name.eq_ignore_ascii_case("VEVENT") {
            match vevent(c) {
                Some(e) => events.push(e),
                None => skipped += 1,
            }
        }
    }
    Ok(Feed {
        events,
        zones,
        skipped,
    })
}

/// Refuses unbalanced or too deep BEGIN/END nesting before the recursive parser sees it.
fn check_nesting(text: &str) -> Result<(), IcsError> {
    let mut depth = 0usize;
    let mut closed_calendar = false;
    for line in text.lines() {
        let starts = |prefix: &str| {
            line.get(..prefix.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
        };
        if starts("BEGIN:") {
            depth += 1;
            if depth > MAX_DEPTH {
                return Err(IcsError::TooDeep);
            }
        } else if starts("END:") {
            depth = depth.saturating_sub(1);
            closed_calendar |= depth == 0;
        }
    }
    if depth > 0 || !closed_calendar {
        return Err(IcsError::Truncated);
    }
    Ok(())
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
