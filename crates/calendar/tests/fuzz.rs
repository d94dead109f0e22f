//! The ICS parser is fuzzed with property tests: arbitrary text and mutated real feeds never
//! make it panic; it answers a feed or a clear error, and expanding any feed it accepts never
//! panics either. Case counts are kept modest so the suite runs in seconds.

use proptest::prelude::*;
use reflector_calendar::{Window, parse_feed, room_events};

const FEEDS: [&str; 3] = [
    include_str!("feeds/google.ics"),
    include_str!("feeds/outlook.ics"),
    include_str!("feeds/apple.ics"),
];
const ROOM: &str = "https://reflector.example.com/team";

fn check(text: &str) {
    match parse_feed(text) {
        Ok(feed) => {
            let now = "2026-03-09T08:00:00Z".parse().unwrap_or_default();
            let _ = room_events(&feed, ROOM, Window::around(now));
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

/// One edit of a feed: remove, insert or replace a span of bytes at a position.
#[derive(Debug, Clone)]
enum Edit {
    Remove(usize, usize),
    Insert(usize, String),
    Replace(usize, String),
}

fn edit() -> impl Strategy<Value = Edit> {
    let text = prop_oneof![
        "[A-Z;:=,\\-\r\n ]{1,12}",
        Just("BEGIN:VEVENT\r\n".to_owned()),
        Just("END:VEVENT\r\n".to_owned()),
        Just("RRULE:FREQ=SECONDLY\r\n".to_owned()),
        Just("DTSTART;TZID=Nowhere:99999999T999999\r\n".to_owned()),
        Just("\r\n ".to_owned()),
        any::<String>(),
    ];
    prop_oneof![
        (any::<usize>(), 1usize..200).prop_map(|(at, n)| Edit::Remove(at, n)),
        (any::<usize>(), text.clone()).prop_map(|(at, t)| Edit::Insert(at, t)),
        (any::<usize>(), text).prop_map(|(at, t)| Edit::Replace(at, t)),
    ]
}

fn apply(feed: &str, edits: &[Edit]) -> String {
    let mut bytes = feed.as_bytes().to_vec();
    for e in edits {
        let len = bytes.len().max(1);
        match e {
            Edit::Remove(at, n) => {
                let at = at % len;
                let end = (at + n).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            Edit::Insert(at, t) => {
                let at = at % len;
                bytes.splice(at.min(bytes.len())..at.min(bytes.len()), t.bytes());
            }
            Edit::Replace(at, t) => {
                let at = (at % len).min(bytes.len());
                let end = (at + t.len()).min(bytes.len());
                bytes.splice(at..end, t.bytes());
            }
        }
    }
    // Feeds are decoded lossily before parsing, as the fetcher does.
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        check(&text);
        check(&format!("BEGIN:VCALENDAR\r\n{text}\r\nEND:VCALENDAR\r\n"));
    }

    #[test]
    fn content_line_soup_never_panics(lines in proptest::collection::vec(
        "(BEGIN|END|DTSTART|DTEND|RRULE|EXDATE|RDATE|RECURRENCE-ID|UID|TZID|ATTENDEE)(;[A-Z]{1,6}=[A-Za-z/ .\"]{0,12})?:[0-9TZ:=;,A-Za-z/+\\-]{0,30}",
        0..40,
    )) {
        check(&format!("BEGIN:VCALENDAR\r\n{}\r\nEND:VCALENDAR\r\n", lines.join("\r\n")));
    }

    #[test]
    fn mutated_real_feeds_never_panic(which in 0usize..3, edits in proptest::collection::vec(edit(), 1..6)) {
        check(&apply(FEEDS[which], &edits));
    }
}
