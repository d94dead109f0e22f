//! ICS feeds for calendar tests, with times relative to the test's `now`: one builder instead
//! of a hand-written feed per test. Lines are CRLF-terminated and long ones folded, as real
//! exports are.

use chrono::{DateTime, Utc};

/// One VEVENT.
#[derive(Debug, Clone)]
pub struct IcsEvent {
    pub uid: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub summary: String,
    pub location: String,
    pub description: String,
    /// Further content lines, e.g. `RRULE:FREQ=DAILY` or `STATUS:CANCELLED`.
    pub extra: Vec<String>,
}

impl IcsEvent {
    /// An event in `room_url` from `start` for `minutes`.
    pub fn new(uid: &str, room_url: &str, start: DateTime<Utc>, minutes: i64) -> Self {
        Self {
            uid: uid.into(),
            start,
            end: start + chrono::Duration::minutes(minutes),
            summary: format!("Meeting {uid}"),
            location: room_url.into(),
            description: format!("Agenda for {uid}"),
            extra: Vec::new(),
        }
    }

    pub fn with(mut self, line: &str) -> Self {
        self.extra.push(line.into());
        self
    }

    pub fn summary(mut self, summary: &str) -> Self {
        self.summary = summary.into();
        self
    }
}

/// `20260309T100000Z`.
pub fn ics_time(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace('\n', "\\n")
}

/// Folds a content line at 75 octets (RFC 5545 §3.1), on character boundaries.
fn fold(line: &str, out: &mut String) {
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
}

/// A whole calendar of `events`.
pub fn ics_feed(events: &[IcsEvent]) -> String {
    let mut out = String::new();
    for line in [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Reflector tests//EN",
    ] {
        fold(line, &mut out);
    }
    for e in events {
        fold("BEGIN:VEVENT", &mut out);
        fold(&format!("UID:{}", e.uid), &mut out);
        fold(&format!("DTSTAMP:{}", ics_time(e.start)), &mut out);
        fold(&format!("DTSTART:{}", ics_time(e.start)), &mut out);
        fold(&format!("DTEND:{}", ics_time(e.end)), &mut out);
        fold(&format!("SUMMARY:{}", escape(&e.summary)), &mut out);
        fold(&format!("LOCATION:{}", escape(&e.location)), &mut out);
        fold(&format!("DESCRIPTION:{}", escape(&e.description)), &mut out);
        fold(
            "ATTENDEE;CN=Zoë Ortega;PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT:mailto:zoe@example.com",
            &mut out,
        );
        fold("ORGANIZER;CN=Ana:mailto:ana@example.com", &mut out);
        for line in &e.extra {
            fold(line, &mut out);
        }
        fold("END:VEVENT", &mut out);
    }
    fold("END:VCALENDAR", &mut out);
    out
}
