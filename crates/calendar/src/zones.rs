//! Time zones: the TZID of a DATE-TIME resolved to a zone that turns local times into UTC.
//!
//! In order: an IANA name (`Europe/Berlin`, from `chrono-tz`); a Windows zone name as Outlook and
//! Exchange write them (`W. Europe Standard Time`, [`windows_to_iana`]); then the feed's own
//! VTIMEZONE — its `X-LIC-LOCATION`, an IANA name at the end of a path-like TZID
//! (`/mozilla.org/20050126_1/Europe/Berlin`), or else its STANDARD/DAYLIGHT rules themselves
//! (Outlook's "Customized Time Zone" and display names such as
//! `(UTC+01:00) Amsterdam, Berlin, …`).

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};

use crate::values::{IcsTime, parse_offset};

/// The CLDR `windowsZones` mapping (territory "001") of Windows zone ids to IANA zones.
///
/// A table of our own: no maintained crate on crates.io carries the mapping without pulling in
/// an ICU data set. The ids change rarely (the last additions were in 2021); a new one is
/// caught by the VTIMEZONE fallback, which Outlook always sends alongside.
const WINDOWS_ZONES: &[(&str, &str)] = &[
    ("Dateline Standard Time", "Etc/GMT+12"),
    ("UTC-11", "Etc/GMT+11"),
    ("Aleutian Standard Time", "America/Adak"),
    ("Hawaiian Standard Time", "Pacific/Honolulu"),
    ("Marquesas Standard Time", "Pacific/Marquesas"),
    ("Alaskan Standard Time", "America/Anchorage"),
    ("UTC-09", "Etc/GMT+9"),
    ("Pacific Standard Time (Mexico)", "America/Tijuana"),
    ("UTC-08", "Etc/GMT+8"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("US Mountain Standard Time", "America/Phoenix"),
    ("Mountain Standard Time (Mexico)", "America/Mazatlan"),
    ("Mountain Standard Time", "America/Denver"),
    ("Yukon Standard Time", "America/Whitehorse"),
    ("Central America Standard Time", "America/Guatemala"),
    ("Central Standard Time", "America/Chicago"),
    ("Easter Island Standard Time", "Pacific/Easter"),
    ("Central Standard Time (Mexico)", "America/Mexico_City"),
    ("Canada Central Standard Time", "America/Regina"),
    ("SA Pacific Standard Time", "America/Bogota"),
    ("Eastern Standard Time (Mexico)", "America/Cancun"),
    ("Eastern Standard Time", "America/New_York"),
    ("Haiti Standard Time", "America/Port-au-Prince"),
    ("Cuba Standard Time", "America/Havana"),
    ("US Eastern Standard Time", "America/Indiana/Indianapolis"),
    ("Turks And Caicos Standard Time", "America/Grand_Turk"),
    ("Paraguay Standard Time", "America/Asuncion"),
    ("Atlantic Standard Time", "America/Halifax"),
    ("Venezuela Standard Time", "America/Caracas"),
    ("Central Brazilian Standard Time", "America/Cuiaba"),
    ("SA Western Standard Time", "America/La_Paz"),
    ("Pacific SA Standard Time", "America/Santiago"),
    ("Newfoundland Standard Time", "America/St_Johns"),
    ("Tocantins Standard Time", "America/Araguaina"),
    ("E. South America Standard Time", "America/Sao_Paulo"),
    ("SA Eastern Standard Time", "America/Cayenne"),
    ("Argentina Standard Time", "America/Argentina/Buenos_Aires"),
    ("Greenland Standard Time", "America/Nuuk"),
    ("Montevideo Standard Time", "America/Montevideo"),
    ("Magallanes Standard Time", "America/Punta_Arenas"),
    ("Saint Pierre Standard Time", "America/Miquelon"),
    ("Bahia Standard Time", "America/Bahia"),
    ("UTC-02", "Etc/GMT+2"),
    ("Azores Standard Time", "Atlantic/Azores"),
    ("Cape Verde Standard Time", "Atlantic/Cape_Verde"),
    ("UTC", "Etc/UTC"),
    ("Coordinated Universal Time", "Etc/UTC"),
    ("GMT Standard Time", "Europe/London"),
    ("Greenwich Standard Time", "Atlantic/Reykjavik"),
    ("Sao Tome Standard Time", "Africa/Sao_Tome"),
    ("Morocco Standard Time", "Africa/Casablanca"),
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Central Europe Standard Time", "Europe/Budapest"),
    ("Romance Standard Time", "Europe/Paris"),
    ("Central European Standard Time", "Europe/Warsaw"),
    ("W. Central Africa Standard Time", "Africa/Lagos"),
    ("Jordan Standard Time", "Asia/Amman"),
    ("GTB Standard Time", "Europe/Bucharest"),
    ("Middle East Standard Time", "Asia/Beirut"),
    ("Egypt Standard Time", "Africa/Cairo"),
    ("E. Europe Standard Time", "Europe/Chisinau"),
    ("Syria Standard Time", "Asia/Damascus"),
    ("West Bank Standard Time", "Asia/Hebron"),
    ("South Africa Standard Time", "Africa/Johannesburg"),
    ("FLE Standard Time", "Europe/Kyiv"),
    ("Israel Standard Time", "Asia/Jerusalem"),
    ("South Sudan Standard Time", "Africa/Juba"),
    ("Kaliningrad Standard Time", "Europe/Kaliningrad"),
    ("Sudan Standard Time", "Africa/Khartoum"),
    ("Libya Standard Time", "Africa/Tripoli"),
    ("Namibia Standard Time", "Africa/Windhoek"),
    ("Arabic Standard Time", "Asia/Baghdad"),
    ("Turkey Standard Time", "Europe/Istanbul"),
    ("Arab Standard Time", "Asia/Riyadh"),
    ("Belarus Standard Time", "Europe/Minsk"),
    ("Russian Standard Time", "Europe/Moscow"),
    ("E. Africa Standard Time", "Africa/Nairobi"),
    ("Volgograd Standard Time", "Europe/Volgograd"),
    ("Iran Standard Time", "Asia/Tehran"),
    ("Arabian Standard Time", "Asia/Dubai"),
    ("Astrakhan Standard Time", "Europe/Astrakhan"),
    ("Azerbaijan Standard Time", "Asia/Baku"),
    ("Russia Time Zone 3", "Europe/Samara"),
    ("Mauritius Standard Time", "Indian/Mauritius"),
    ("Saratov Standard Time", "Europe/Saratov"),
    ("Georgian Standard Time", "Asia/Tbilisi"),
    ("Caucasus Standard Time", "Asia/Yerevan"),
    ("Afghanistan Standard Time", "Asia/Kabul"),
    ("West Asia Standard Time", "Asia/Tashkent"),
    ("Ekaterinburg Standard Time", "Asia/Yekaterinburg"),
    ("Pakistan Standard Time", "Asia/Karachi"),
    ("Qyzylorda Standard Time", "Asia/Qyzylorda"),
    ("India Standard Time", "Asia/Kolkata"),
    ("Sri Lanka Standard Time", "Asia/Colombo"),
    ("Nepal Standard Time", "Asia/Kathmandu"),
    ("Central Asia Standard Time", "Asia/Bishkek"),
    ("Bangladesh Standard Time", "Asia/Dhaka"),
    ("Omsk Standard Time", "Asia/Omsk"),
    ("Myanmar Standard Time", "Asia/Yangon"),
    ("SE Asia Standard Time", "Asia/Bangkok"),
    ("Altai Standard Time", "Asia/Barnaul"),
    ("W. Mongolia Standard Time", "Asia/Hovd"),
    ("North Asia Standard Time", "Asia/Krasnoyarsk"),
    ("N. Central Asia Standard Time", "Asia/Novosibirsk"),
    ("Tomsk Standard Time", "Asia/Tomsk"),
    ("China Standard Time", "Asia/Shanghai"),
    ("North Asia East Standard Time", "Asia/Irkutsk"),
    ("Singapore Standard Time", "Asia/Singapore"),
    ("W. Australia Standard Time", "Australia/Perth"),
    ("Taipei Standard Time", "Asia/Taipei"),
    ("Ulaanbaatar Standard Time", "Asia/Ulaanbaatar"),
    ("Aus Central W. Standard Time", "Australia/Eucla"),
    ("Transbaikal Standard Time", "Asia/Chita"),
    ("Tokyo Standard Time", "Asia/Tokyo"),
    ("North Korea Standard Time", "Asia/Pyongyang"),
    ("Korea Standard Time", "Asia/Seoul"),
    ("Yakutsk Standard Time", "Asia/Yakutsk"),
    ("Cen. Australia Standard Time", "Australia/Adelaide"),
    ("AUS Central Standard Time", "Australia/Darwin"),
    ("E. Australia Standard Time", "Australia/Brisbane"),
    ("AUS Eastern Standard Time", "Australia/Sydney"),
    ("West Pacific Standard Time", "Pacific/Port_Moresby"),
    ("Tasmania Standard Time", "Australia/Hobart"),
    ("Vladivostok Standard Time", "Asia/Vladivostok"),
    ("Lord Howe Standard Time", "Australia/Lord_Howe"),
    ("Bougainville Standard Time", "Pacific/Bougainville"),
    ("Russia Time Zone 10", "Asia/Srednekolymsk"),
    ("Magadan Standard Time", "Asia/Magadan"),
    ("Norfolk Standard Time", "Pacific/Norfolk"),
    ("Sakhalin Standard Time", "Asia/Sakhalin"),
    ("Central Pacific Standard Time", "Pacific/Guadalcanal"),
    ("Russia Time Zone 11", "Asia/Kamchatka"),
    ("New Zealand Standard Time", "Pacific/Auckland"),
    ("UTC+12", "Etc/GMT-12"),
    ("Fiji Standard Time", "Pacific/Fiji"),
    ("Chatham Islands Standard Time", "Pacific/Chatham"),
    ("UTC+13", "Etc/GMT-13"),
    ("Tonga Standard Time", "Pacific/Tongatapu"),
    ("Samoa Standard Time", "Pacific/Apia"),
    ("Line Islands Standard Time", "Pacific/Kiritimati"),
];

/// The IANA zone for a Windows zone id (`W. Europe Standard Time` → `Europe/Berlin`),
/// compared without regard to case.
pub fn windows_to_iana(name: &str) -> Option<&'static str> {
    let name = name.trim();
    WINDOWS_ZONES
        .iter()
        .find(|(windows, _)| windows.eq_ignore_ascii_case(name))
        .map(|(_, iana)| *iana)
}

/// A zone a local time can be placed in.
#[derive(Debug, Clone)]
pub(crate) enum Zone {
    Utc,
    Iana(chrono_tz::Tz),
    /// A VTIMEZONE's own rules, for zones that have no known name.
    Defined(Arc<Observances>),
}

impl Zone {
    /// The UTC instant of `local` in this zone. A local time in a DST gap is moved forward
    /// by the gap (as RFC 5545 §3.3.5 asks); an ambiguous one is taken at its first instant.
    pub(crate) fn to_utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match self {
            Zone::Utc => local.and_utc(),
            Zone::Iana(tz) => match tz.from_local_datetime(&local) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
                LocalResult::None => {
                    // In a gap: the offset in force just before it applies.
                    let before = local - Duration::hours(3);
                    let offset = match tz.from_local_datetime(&before) {
                        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                            t.naive_local() - t.naive_utc()
                        }
                        LocalResult::None => Duration::zero(),
                    };
                    (local - offset).and_utc()
                }
            },
            Zone::Defined(obs) => obs.to_utc(local),
        }
    }

    /// The local time of `utc` in this zone.
    pub(crate) fn to_local(&self, utc: DateTime<Utc>) -> NaiveDateTime {
        match self {
            Zone::Utc => utc.naive_utc(),
            Zone::Iana(tz) => utc.with_timezone(tz).naive_local(),
            Zone::Defined(obs) => {
                utc.naive_utc() + Duration::seconds(i64::from(obs.offset_at(utc)))
            }
        }
    }
}

/// One STANDARD or DAYLIGHT block of a VTIMEZONE.
#[derive(Debug, Clone)]
pub(crate) struct Observance {
    /// DTSTART: the first onset, in the local time in force before it.
    start: NaiveDateTime,
    rrule: Option<String>,
    rdates: Vec<NaiveDateTime>,
    from: i32,
    to: i32,
}

#[derive(Debug, Clone)]
pub(crate) struct Observances(Vec<Observance>);

impl Observances {
    /// The offset (seconds east of UTC) in force at `utc`: that of the last onset before it.
    fn offset_at(&self, utc: DateTime<Utc>) -> i32 {
        let mut best: Option<(NaiveDateTime, i32)> = None;
        for o in &self.0 {
            // Onsets are local times in the offset in force before them.
            let local_target = utc.naive_utc() + Duration::seconds(i64::from(o.from));
            if let Some(onset) = last_onset(o, local_target) {
                let onset_utc = onset - Duration::seconds(i64::from(o.from));
                if best.is_none_or(|(b, _)| onset_utc > b) {
                    best = Some((onset_utc, o.to));
                }
            }
        }
        match best {
            Some((_, offset)) => offset,
            // Before every onset: the offset in force before the earliest one.
            None => self.0.iter().min_by_key(|o| o.start).map_or(0, |o| o.from),
        }
    }

    fn to_utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        let mut offsets: Vec<i32> = self.0.iter().flat_map(|o| [o.to, o.from]).collect();
        // Larger offsets first: of two readings of an ambiguous time, the earlier instant.
        offsets.sort_unstable_by(|a, b| b.cmp(a));
        offsets.dedup();
        for offset in &offsets {
            let utc = (local - Duration::seconds(i64::from(*offset))).and_utc();
            if self.offset_at(utc) == *offset {
                return utc;
            }
        }
        // In a gap: the offset in force before it.
        let before = (local - Duration::hours(3)).and_utc();
        (local - Duration::seconds(i64::from(self.offset_at(before)))).and_utc()
    }
}

/// The last onset of `o` at or before `local` (both local times), if any.
fn last_onset(o: &Observance, local: NaiveDateTime) -> Option<NaiveDateTime> {
    let mut best = (o.start <= local).then_some(o.start);
    for r in &o.rdates {
        if *r <= local && best.is_none_or(|b| *r > b) {
            best = Some(*r);
        }
    }
    if let Some(rule) = &o.rrule
        && o.start <= local
        && let Some(set) =
            crate::expand::rule_set(rule, expansion_start(o, rule, local), &Zone::Utc, None)
    {
        let onsets = set.before(rrule_time(local)).all(2000).dates;
        if let Some(last) = onsets.last() {
            let last = last.naive_utc();
            if best.is_none_or(|b| last > b) {
                best = Some(last);
            }
        }
    }
    best
}

/// Where to start expanding a yearly rule without COUNT: two years before `local` rather than at
/// its DTSTART, which Outlook writes as 1601-01-01 — expanding four centuries for every time
/// converted would make a sync slow. The rule's BY… parts fix the dates within each year, so
/// the onsets near `local` are the same.
fn expansion_start(o: &Observance, rule: &str, local: NaiveDateTime) -> NaiveDateTime {
    let upper = rule.to_ascii_uppercase();
    if upper.contains("FREQ=YEARLY")
        && !upper.contains("COUNT=")
        && local.year() - o.start.year() > 2
        && let Some(date) = chrono::NaiveDate::from_ymd_opt(local.year() - 2, 1, 1)
    {
        return date.and_time(o.start.time());
    }
    o.start
}

/// A naive local time carried as a UTC time for `rrule`, which expands in naive local time
/// for us (see `expand`).
pub(crate) fn rrule_time(local: NaiveDateTime) -> DateTime<rrule::Tz> {
    local.and_utc().with_timezone(&rrule::Tz::UTC)
}

/// The VTIMEZONE blocks of a feed, by TZID, before they are needed.
#[derive(Debug, Default)]
pub(crate) struct ZoneTable {
    defined: HashMap<String, DefinedZone>,
}

#[derive(Debug)]
struct DefinedZone {
    location: Option<String>,
    observances: Arc<Observances>,
}

impl ZoneTable {
    pub(crate) fn add_vtimezone(&mut self, c: &icalendar::parser::Component<'_>) {
        let Some(tzid) = crate::parse::prop(c, "TZID") else {
            return;
        };
        let location = crate::parse::prop(c, "X-LIC-LOCATION");
        let mut observances = Vec::new();
        for sub in &c.components {
            let name = sub.name.as_str();
            if !(name.eq_ignore_ascii_case("STANDARD") || name.eq_ignore_ascii_case("DAYLIGHT")) {
                continue;
            }
            let local = |v: &str| match IcsTime::parse(v, None)? {
                IcsTime::Date(d) => d.and_hms_opt(0, 0, 0),
                IcsTime::Floating(t) | IcsTime::Utc(t) | IcsTime::Zoned(t, _) => Some(t),
            };
            let (Some(start), Some(from), Some(to)) = (
                crate::parse::prop(sub, "DTSTART").and_then(|v| local(&v)),
                crate::parse::prop(sub, "TZOFFSETFROM").and_then(|v| parse_offset(&v)),
                crate::parse::prop(sub, "TZOFFSETTO").and_then(|v| parse_offset(&v)),
            ) else {
                continue;
            };
            let rdates = crate::parse::props(sub, "RDATE")
                .flat_map(|p| {
                    p.val
                        .as_str()
                        .split(',')
                        .filter_map(local)
                        .collect::<Vec<_>>()
                })
                .collect();
            observances.push(Observance {
                start,
                rrule: crate::parse::prop(sub, "RRULE"),
                rdates,
                from,
                to,
            });
        }
        self.defined.insert(
            tzid.trim_matches('"').to_owned(),
            DefinedZone {
                location,
                observances: Arc::new(Observances(observances)),
            },
        );
    }

    /// The zone a TZID names, or `None` when neither a name we know nor the feed defines it.
    pub(crate) fn resolve(&self, tzid: &str) -> Option<Zone> {
        let tzid = tzid.trim().trim_matches('"');
        if let Some(zone) = named(tzid) {
            return Some(zone);
        }
        let defined = self.defined.get(tzid)?;
        if let Some(zone) = defined.location.as_deref().and_then(named) {
            return Some(zone);
        }
        if defined.observances.0.is_empty() {
            return None;
        }
        Some(Zone::Defined(defined.observances.clone()))
    }
}

/// A zone known by its name alone: IANA (also at the end of a path-like TZID) or Windows.
fn named(name: &str) -> Option<Zone> {
    let name = name.trim();
    if name.eq_ignore_ascii_case("UTC") || name.eq_ignore_ascii_case("Z") || name == "GMT" {
        return Some(Zone::Utc);
    }
    if let Ok(tz) = chrono_tz::Tz::from_str(name) {
        return Some(Zone::Iana(tz));
    }
    if let Some(tz) = windows_to_iana(name).and_then(|iana| chrono_tz::Tz::from_str(iana).ok()) {
        return Some(Zone::Iana(tz));
    }
    // "/mozilla.org/20050126_1/Europe/Berlin", "/freeassociation.sourceforge.net/Europe/London".
    if name.contains('/') {
        let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
        for skip in 1..parts.len() {
            if let Ok(tz) = chrono_tz::Tz::from_str(&parts[skip..].join("/")) {
                return Some(Zone::Iana(tz));
            }
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_windows_zone_names_a_known_iana_zone() {
        for (windows, iana) in WINDOWS_ZONES {
            assert!(chrono_tz::Tz::from_str(iana).is_ok(), "{windows} → {iana}");
        }
        assert_eq!(
            windows_to_iana("w. europe standard time"),
            Some("Europe/Berlin")
        );
        assert_eq!(windows_to_iana("Nowhere Standard Time"), None);
    }

    #[test]
    fn names_in_the_forms_calendars_write_them() {
        for name in [
            "Europe/Berlin",
            "W. Europe Standard Time",
            "/mozilla.org/20050126_1/Europe/Berlin",
        ] {
            match named(name) {
                Some(Zone::Iana(tz)) => assert_eq!(tz, chrono_tz::Europe::Berlin, "{name}"),
                other => panic!("{name}: {other:?}"),
            }
        }
        assert!(matches!(named("UTC"), Some(Zone::Utc)));
        assert!(named("Customized Time Zone").is_none());
    }
}
