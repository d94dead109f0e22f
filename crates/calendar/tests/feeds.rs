//! Real-world style exports (Google Calendar, Outlook/Exchange, Apple Calendar) with time zones,
//! recurring series with exceptions, all-day and floating events, folded lines and non-ASCII
//! text; and feeds that are not calendars at all.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use chrono::{DateTime, Utc};
use reflector_calendar::{Attendee, IcsError, Occurrence, Window, parse_feed, room_events};

const ROOM: &str = "https://reflector.example.com/team";
const GOOGLE: &str = include_str!("feeds/google.ics");
const OUTLOOK: &str = include_str!("feeds/outlook.ics");
const APPLE: &str = include_str!("feeds/apple.ics");

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn events(feed: &str, now: &str) -> Vec<Occurrence> {
    room_events(&parse_feed(feed).unwrap(), ROOM, Window::around(at(now)))
}

#[test]
fn google_series_with_a_moved_occurrence_and_an_all_day_event() {
    let found = events(GOOGLE, "2026-03-09T08:00:00Z");
    let summary: Vec<_> = found
        .iter()
        .map(|e| {
            (
                e.title.as_deref().unwrap(),
                e.start,
                e.end,
                e.recurrence_id.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            // 10:00 Berlin moved to 11:00 (CET, +01:00) for this week only.
            (
                "Team standup (moved)",
                at("2026-03-09T10:00:00Z"),
                at("2026-03-09T10:30:00Z"),
                Some("20260309T090000Z")
            ),
            // All-day: 00:00 UTC to the next day's (SPEC §7).
            (
                "Offsite day",
                at("2026-03-10T00:00:00Z"),
                at("2026-03-11T00:00:00Z"),
                None
            ),
        ]
    );
    // Not listed: another room's (team-2), a cancelled one, one outside the window.
}

#[test]
fn google_series_text_attendees_and_exdate() {
    // A week before the override: the plain series occurrence with the master's fields.
    let found = events(GOOGLE, "2026-03-02T08:00:00Z");
    assert_eq!(found.len(), 1, "{found:#?}");
    let standup = &found[0];
    assert_eq!(standup.uid, "standup-series@google.com");
    assert_eq!(standup.title.as_deref(), Some("Team standup ☕"));
    assert_eq!(standup.start, at("2026-03-02T09:00:00Z"));
    assert_eq!(standup.recurrence_id.as_deref(), Some("20260302T090000Z"));
    // Folded lines joined, escapes undone.
    assert_eq!(
        standup.description.as_deref(),
        Some(
            "Daily standup for the team. Join the call at https://reflector.example.com/team\n\n\
             Agenda:\n- yesterday\n- today\n- blockers; nothing else"
        )
    );
    assert_eq!(
        standup.attendees,
        [
            Attendee {
                email: Some("ana@example.com".into()),
                name: Some("Ana Müller".into()),
                status: None,
                role: Some("ORGANIZER".into()),
            },
            Attendee {
                email: Some("ana@example.com".into()),
                name: Some("Ana Müller".into()),
                status: Some("ACCEPTED".into()),
                role: Some("REQ-PARTICIPANT".into()),
            },
            Attendee {
                email: Some("bob@example.com".into()),
                name: Some("Doe, Bob".into()),
                status: Some("NEEDS-ACTION".into()),
                role: Some("OPT-PARTICIPANT".into()),
            },
        ]
    );
    // Wednesday 11 March is excluded (EXDATE); nothing else of the series is in that window.
    assert!(events(GOOGLE, "2026-03-11T07:00:00Z").is_empty());
    // After the clocks change in Berlin (29 March) the series stays at 10:00 local = 08:00 UTC.
    let summer = events(GOOGLE, "2026-03-30T07:30:00Z");
    assert_eq!(summer[0].start, at("2026-03-30T08:00:00Z"));
}

#[test]
fn outlook_windows_zone_names_and_customized_zones() {
    let found = events(OUTLOOK, "2026-03-09T08:00:00Z");
    let summary: Vec<_> = found
        .iter()
        .map(|e| (e.title.as_deref().unwrap(), e.start, e.end))
        .collect();
    assert_eq!(
        summary,
        [
            // "W. Europe Standard Time" is Europe/Berlin: 14:00 CET.
            (
                "Planning Q2",
                at("2026-03-09T13:00:00Z"),
                at("2026-03-09T14:00:00Z")
            ),
            // "Customized Time Zone" from the VTIMEZONE rules: New York moved to EDT on 8 March,
            // so 09:00 local is 13:00 UTC (it was 14:00 UTC the week before).
            (
                "Sync with New York",
                at("2026-03-09T13:00:00Z"),
                at("2026-03-09T13:30:00Z")
            ),
        ]
    );
    assert_eq!(
        found[0].attendees[1],
        Attendee {
            email: Some("dan@example.org".into()),
            name: Some("Dan".into()),
            status: Some("TENTATIVE".into()),
            role: Some("REQ-PARTICIPANT".into()),
        }
    );
    let before = events(OUTLOOK, "2026-03-03T08:00:00Z");
    assert_eq!(before[0].start, at("2026-03-03T14:00:00Z"));
    // UNTIL 13 March: nothing on Monday 16.
    assert!(events(OUTLOOK, "2026-03-16T08:00:00Z").is_empty());
}

#[test]
fn apple_zones_and_floating_times() {
    let found = events(APPLE, "2026-03-09T08:00:00Z");
    let summary: Vec<_> = found
        .iter()
        .map(|e| (e.title.as_deref().unwrap(), e.start, e.end))
        .collect();
    assert_eq!(
        summary,
        [
            // 08:00 in Los Angeles, already on PDT (−07:00).
            (
                "Design review — 日本語チーム",
                at("2026-03-09T15:00:00Z"),
                at("2026-03-09T15:30:00Z")
            ),
            // Floating: taken as UTC; DURATION instead of DTEND.
            (
                "Floating retro",
                at("2026-03-09T20:00:00Z"),
                at("2026-03-09T20:45:00Z")
            ),
        ]
    );
}

#[test]
fn rdates_counts_and_cancelled_occurrences() {
    let feed = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n\
        BEGIN:VEVENT\r\nUID:s1\r\nDTSTART:20260301T100000Z\r\nRRULE:FREQ=DAILY;COUNT=12\r\n\
        RDATE:20260309T180000Z,20260309T190000Z\r\nSUMMARY:Series\r\n\
        LOCATION:https://reflector.example.com/team\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:s1\r\nRECURRENCE-ID:20260309T190000Z\r\nDTSTART:20260309T190000Z\r\n\
        STATUS:CANCELLED\r\nLOCATION:https://reflector.example.com/team\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:s2\r\nDTSTART:20260101T100000Z\r\nRRULE:FREQ=DAILY;COUNT=3\r\n\
        LOCATION:https://reflector.example.com/team\r\nEND:VEVENT\r\n\
        END:VCALENDAR\r\n";
    let found = events(feed, "2026-03-09T09:30:00Z");
    let starts: Vec<_> = found.iter().map(|e| e.start).collect();
    // 10:00 on the 9th (on the 10th it is past the window's end), one RDATE; the other RDATE is
    // cancelled by its override; s2's COUNT ended in January.
    assert_eq!(
        starts,
        [at("2026-03-09T10:00:00Z"), at("2026-03-09T18:00:00Z")]
    );
    assert_eq!(found[0].recurrence_id.as_deref(), Some("20260309T100000Z"));
}

#[test]
fn documents_that_are_not_calendars_are_refused_clearly() {
    type Expect = fn(&IcsError) -> bool;
    let cases: [(&str, Expect); 5] = [
        ("", |e| matches!(e, IcsError::Empty)),
        ("<!doctype html><html><body>Sign in</body></html>", |e| {
            matches!(e, IcsError::NotCalendar)
        }),
        ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\n", |e| {
            matches!(e, IcsError::Truncated)
        }),
        (&GOOGLE[..GOOGLE.len() / 2], |e| {
            matches!(e, IcsError::Truncated)
        }),
        (
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            |e| matches!(e, IcsError::Malformed(_)),
        ),
    ];
    for (text, expected) in cases {
        match parse_feed(text) {
            Err(e) => assert!(expected(&e), "{text:?}: {e}"),
            Ok(feed) => panic!("{text:?} was accepted: {feed:?}"),
        }
    }
    let deep = format!(
        "BEGIN:VCALENDAR\r\n{}{}END:VCALENDAR\r\n",
        "BEGIN:X\r\n".repeat(5000),
        "END:X\r\n".repeat(5000)
    );
    assert!(matches!(parse_feed(&deep), Err(IcsError::TooDeep)));
}

#[test]
fn broken_events_are_skipped_not_fatal() {
    let feed = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n\
        BEGIN:VEVENT\r\nSUMMARY:no uid\r\nDTSTART:20260309T100000Z\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:bad-start\r\nDTSTART:tomorrow\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:ok\r\nDTSTART:20260309T100000Z\r\nLOCATION:https://reflector.example.com/team\r\nEND:VEVENT\r\n\
        END:VCALENDAR\r\n";
    let parsed = parse_feed(feed).unwrap();
    assert_eq!((parsed.total_events(), parsed.skipped), (3, 2));
    let found = room_events(&parsed, ROOM, Window::around(at("2026-03-09T09:00:00Z")));
    assert_eq!(found.len(), 1);
    // No DTEND: one hour.
    assert_eq!(found[0].end, at("2026-03-09T11:00:00Z"));
}

#[test]
fn keeping_only_the_rooms_events_finds_the_same_occurrences() {
    use reflector_calendar::parse_feed_for_room;
    for (feed, now) in [
        (GOOGLE, "2026-03-09T08:00:00Z"),
        (GOOGLE, "2026-03-02T08:00:00Z"),
        (OUTLOOK, "2026-03-09T08:00:00Z"),
        (APPLE, "2026-03-09T08:00:00Z"),
    ] {
        let window = Window::around(at(now));
        let all = room_events(&parse_feed(feed).unwrap(), ROOM, window);
        let only = parse_feed_for_room(feed, ROOM).unwrap();
        assert_eq!(room_events(&only, ROOM, window), all, "{now}");
        assert_eq!(
            only.total_events(),
            parse_feed(feed).unwrap().total_events()
        );
    }
    // An override that moved out of the room still removes its occurrence from the series.
    let moved_away = GOOGLE.replace(
        "DESCRIPTION:Moved by an hour this week.\r\nLAST-MODIFIED:20260301T000000Z\r\nLOCATION:https://reflector.example.com/team",
        "DESCRIPTION:Moved by an hour this week.\r\nLAST-MODIFIED:20260301T000000Z\r\nLOCATION:Room 4",
    );
    assert_ne!(moved_away, GOOGLE);
    let found = room_events(
        &parse_feed_for_room(&moved_away, ROOM).unwrap(),
        ROOM,
        Window::around(at("2026-03-09T08:00:00Z")),
    );
    assert_eq!(found.len(), 1, "only the all-day event: {found:#?}");
    assert_eq!(found[0].uid, "offsite@google.com");
}
