//! A room's occurrences within a window: single events, recurring series expanded (RRULE, RDATE,
//! EXDATE), and RECURRENCE-ID overrides replacing (or cancelling) the occurrence they name.
//!
//! Series are expanded by `rrule` in the event's *local* time (carried as UTC), and each
//! occurrence is then placed in its zone: a weekly 10:00 Berlin meeting stays at 10:00 local
//! across daylight saving changes, and zones defined only by the feed's VTIMEZONE work the same
//! way as IANA ones.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDateTime, NaiveTime, Utc};

use crate::Attendee;
use crate::matching::mentions_room;
use crate::parse::{Feed, VEvent};
use crate::values::IcsTime;
use crate::zones::{Zone, ZoneTable, rrule_time};

/// The most occurrences one series yields within a window (a SECONDLY rule could yield 90 000
/// in a day); more are cut off.
const MAX_PER_SERIES: u16 = 1000;

/// Occurrences starting in `[start, end]` are wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Window {
    /// SPEC §7: starting within [now − 1 h, now + 24 h].
    pub fn around(now: DateTime<Utc>) -> Self {
        Self {
            start: now - Duration::hours(1),
            end: now + Duration::hours(24),
        }
    }

    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t <= self.end
    }
}

/// One occurrence of an event that belongs to the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    pub uid: String,
    /// For occurrences of a recurring series: the original start of this occurrence in UTC
    /// (`20260309T090000Z`), as its RECURRENCE-ID names it. `None` for single events.
    pub recurrence_id: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub location: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub attendees: Vec<Attendee>,
    pub raw: String,
}

/// The occurrences of `feed` that mention `room_url` (see [`mentions_room`]) and start within
/// `window`, sorted by start. Cancelled events and occurrences are left out.
pub fn room_events(feed: &Feed, room_url: &str, window: Window) -> Vec<Occurrence> {
    let zones = &feed.zones;
    let mut overrides: HashMap<&str, Vec<&VEvent>> = HashMap::new();
    let mut masters: HashSet<&str> = HashSet::new();
    for e in &feed.events {
        if e.recurrence_id.is_some() {
            overrides.entry(e.uid.as_str()).or_default().push(e);
        } else {
            masters.insert(e.uid.as_str());
        }
    }
    let mentions = |e: &VEvent| {
        [&e.location, &e.description]
            .into_iter()
            .flatten()
            .any(|t| mentions_room(t, room_url))
    };
    let mut out = Vec::new();
    for e in &feed.events {
        if e.recurrence_id.is_some() {
            // An override is taken with its series; one whose series is not in the feed stands alone.
            if !masters.contains(e.uid.as_str()) && !e.cancelled && mentions(e) {
                push_override(&mut out, e, zones, window);
            }
            continue;
        }
        let its_overrides = overrides.get(e.uid.as_str()).map_or(&[][..], Vec::as_slice);
        if e.cancelled || !(mentions(e) || its_overrides.iter().any(|o| mentions(o))) {
            continue;
        }
        let start = utc(&e.start, zones);
        let length = length(e, start, zones);
        if e.rrules.is_empty() && e.rdates.is_empty() {
            if mentions(e) && window.contains(start) {
                out.push(occurrence(e, None, start, start + length));
            }
            continue;
        }
        let replaced: HashSet<DateTime<Utc>> = its_overrides
            .iter()
            .filter_map(|o| o.recurrence_id.as_ref())
            .map(|r| utc(r, zones))
            .chain(e.exdates.iter().map(|x| utc(x, zones)))
            .collect();
        if mentions(e) {
            for s in series_starts(e, zones, window) {
                if !replaced.contains(&s) {
                    out.push(occurrence(e, Some(recurrence_id(s)), s, s + length));
                }
            }
        }
        for o in its_overrides {
            if !o.cancelled && mentions(o) {
                push_override(&mut out, o, zones, window);
            }
        }
    }
    out.sort_by(|a, b| {
        (a.start, &a.uid, &a.recurrence_id).cmp(&(b.start, &b.uid, &b.recurrence_id))
    });
    out
}

fn push_override(out: &mut Vec<Occurrence>, o: &VEvent, zones: &ZoneTable, window: Window) {
    let Some(rid) = &o.recurrence_id else { return };
    let start = utc(&o.start, zones);
    if window.contains(start) {
        let end = start + length(o, start, zones);
        out.push(occurrence(
            o,
            Some(recurrence_id(utc(rid, zones))),
            start,
            end,
        ));
    }
}

fn occurrence(
    e: &VEvent,
    recurrence_id: Option<String>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Occurrence {
    Occurrence {
        uid: e.uid.clone(),
        recurrence_id,
        title: e.summary.clone(),
        description: e.description.clone(),
        location: e.location.clone(),
        start,
        end,
        attendees: e.attendees.clone(),
        raw: e.raw.clone(),
    }
}

fn recurrence_id(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// DTEND − DTSTART, else DURATION, else 1 h (SPEC §7); never negative.
fn length(e: &VEvent, start: DateTime<Utc>, zones: &ZoneTable) -> Duration {
    let length = match (&e.end, e.duration) {
        (Some(end), _) => utc(end, zones) - start,
        (None, Some(d)) => d,
        (None, None) => Duration::hours(1),
    };
    length.max(Duration::zero())
}

/// The zone a time is written in: date-only and floating times count as UTC (SPEC §7), and so
/// does a TZID neither we nor the feed define.
fn zone_of(t: &IcsTime, zones: &ZoneTable) -> Zone {
    match t {
        IcsTime::Zoned(_, tzid) => zones.resolve(tzid).unwrap_or(Zone::Utc),
        _ => Zone::Utc,
    }
}

fn local_of(t: &IcsTime) -> NaiveDateTime {
    match t {
        IcsTime::Date(d) => d.and_time(NaiveTime::MIN),
        IcsTime::Floating(n) | IcsTime::Utc(n) | IcsTime::Zoned(n, _) => *n,
    }
}

pub(crate) fn utc(t: &IcsTime, zones: &ZoneTable) -> DateTime<Utc> {
    zone_of(t, zones).to_utc(local_of(t))
}

/// The starts (UTC) of a series' occurrences within `window`: DTSTART, the RRULEs' and the
/// RDATEs'. EXDATEs and overrides are the caller's.
fn series_starts(e: &VEvent, zones: &ZoneTable, window: Window) -> BTreeSet<DateTime<Utc>> {
    let zone = zone_of(&e.start, zones);
    let local_start = local_of(&e.start);
    let mut starts = BTreeSet::new();
    starts.insert(zone.to_utc(local_start));
    // A day's margin either side in local time covers every zone offset.
    let lo = zone.to_local(window.start) - Duration::days(1);
    let hi = zone.to_local(window.end) + Duration::days(1);
    for rule in &e.rrules {
        let Some(set) = rule_set(rule, local_start, &zone, Some(lo)) else {
            continue;
        };
        let found = set
            .after(rrule_time(lo))
            .before(rrule_time(hi))
            .all(MAX_PER_SERIES);
        starts.extend(found.dates.iter().map(|d| zone.to_utc(d.naive_utc())));
    }
    starts.extend(e.rdates.iter().map(|r| match r {
        // A floating RDATE of a zoned series is in the series' zone.
        IcsTime::Floating(n) => zone.to_utc(*n),
        other => utc(other, zones),
    }));
    starts.retain(|s| window.contains(*s));
    starts
}

/// An RRULE for a series starting at `local_start` (local time in `zone`), expanded in local
/// time. UNTIL is converted to that local time first (`rrule` would read a UNTIL without `Z` in
/// the machine's own zone). `None` for a rule `rrule` refuses: the series then has its DTSTART
/// and RDATEs only.
///
/// `near` (a local time) lets a series of fixed-length periods (SECONDLY … WEEKLY, without
/// COUNT) start expanding from its last period before `near` instead of its DTSTART: `rrule`
/// walks every period from the start, and a minutely rule from years ago would otherwise take
/// seconds, a secondly one minutes. Whole periods keep the phase, so the occurrences after
/// `near` are the same.
pub(crate) fn rule_set(
    rule: &str,
    local_start: NaiveDateTime,
    zone: &Zone,
    near: Option<NaiveDateTime>,
) -> Option<rrule::RRuleSet> {
    let rule = rule.trim();
    // RRULEs are ASCII by definition; `rrule` 0.14 slices BYDAY values by bytes and panics on
    // other text (found by tests/fuzz.rs).
    if !rule.is_ascii() {
        return None;
    }
    let rule = rule
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("RRULE:"))
        .map_or(rule, |_| &rule[6..]);
    let mut until = None;
    let mut parts = Vec::new();
    for part in rule.split(';').filter(|p| !p.trim().is_empty()) {
        match part.split_once('=') {
            Some((key, value)) if key.trim().eq_ignore_ascii_case("UNTIL") => {
                until = Some(match IcsTime::parse(value, None)? {
                    IcsTime::Utc(n) => zone.to_local(n.and_utc()),
                    // A date-only UNTIL includes that whole day.
                    IcsTime::Date(d) => d.and_hms_opt(23, 59, 59)?,
                    IcsTime::Floating(n) | IcsTime::Zoned(n, _) => n,
                });
            }
            _ => parts.push(part),
        }
    }
    let mut parsed: rrule::RRule<rrule::Unvalidated> = parts.join(";").parse().ok()?;
    if let Some(until) = until {
        parsed = parsed.until(rrule_time(until));
    }
    let dt_start = rrule_time(skip_ahead(&parsed, local_start, near));
    match parsed.validate(dt_start) {
        Ok(valid) => Some(rrule::RRuleSet::new(dt_start).rrule(valid)),
        Err(_) => None,
    }
}

fn skip_ahead(
    rule: &rrule::RRule<rrule::Unvalidated>,
    start: NaiveDateTime,
    near: Option<NaiveDateTime>,
) -> NaiveDateTime {
    use rrule::Frequency as F;
    let Some(near) = near else { return start };
    let unit: i64 = match rule.get_freq() {
        F::Secondly => 1,
        F::Minutely => 60,
        F::Hourly => 3600,
        F::Daily => 86_400,
        F::Weekly => 604_800,
        F::Monthly | F::Yearly => return start,
    };
    if rule.get_count().is_some() || near <= start {
        return start;
    }
    let period = unit * i64::from(rule.get_interval().max(1));
    let periods = (near - start).num_seconds() / period;
    // One period short of `near`, so `near` itself is still expanded.
    let skip = (periods - 1).max(0);
    skip.checked_mul(period)
        .and_then(Duration::try_seconds)
        .and_then(|d| start.checked_add_signed(d))
        .unwrap_or(start)
}
