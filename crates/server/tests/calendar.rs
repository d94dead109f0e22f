//! Rooms that follow a calendar, over real HTTP, with feeds served by a local HTTP server:
//! syncing (counts, unchanged by ETag and by content, redirects, the URL guard, bad feeds that
//! change nothing, vanished and revived events), the event endpoints and who sees what, the
//! scheduler, and the meetings prepared for upcoming events.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use chrono::{Duration, DurationRound, Utc};
use reflector_app::Job;
use reflector_testing::fakes::JwtKeys;
use reflector_testing::ics::{IcsEvent, ics_feed};
use reflector_testing::{Db, TestApp, on_both_databases};
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

on_both_databases!(
    a_feed_becomes_the_rooms_events,
    unchanged_feeds_are_recognised_by_etag_and_by_content,
    redirects_are_followed_and_each_target_is_checked,
    bad_feeds_give_a_clear_error_and_change_nothing,
    vanished_events_are_deleted_and_revived_when_they_return,
    only_owners_sync_and_non_owners_see_no_private_fields,
    the_scheduler_syncs_rooms_whose_interval_has_passed,
    meetings_are_prepared_once_and_follow_their_events,
    several_calendar_meetings_run_at_once_in_one_room,
);

fn room_url(app: &TestApp, room: &str) -> String {
    format!("{}/{room}", app.url)
}

async fn calendar_app(db: Db) -> TestApp {
    TestApp::spawn(db, &[("ALLOW_PRIVATE_NETWORK_URLS", "true")]).await
}

fn feed_response(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "text/calendar; charset=utf-8")
        .set_body_string(body)
}

async fn serve(server: &MockServer, body: String) {
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/cal.ics"))
        .respond_with(feed_response(body))
        .mount(server)
        .await;
}

async fn calendar_room(app: &TestApp, name: &str, feed: &str) -> Value {
    app.room(json!({"name": name, "ics_url": feed, "ics_enabled": true}))
        .await
}

async fn sync(app: &TestApp, room: &str) -> Value {
    let (status, body) = app
        .post(&format!("/v1/rooms/{room}/ics/sync"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Now, to the second, so feed times round-trip exactly.
fn now() -> chrono::DateTime<Utc> {
    Utc::now().duration_trunc(Duration::seconds(1)).unwrap()
}

fn counts(result: &Value) -> (String, u64, u64, u64, u64, u64) {
    (
        result["status"].as_str().unwrap().to_owned(),
        result["events_found"].as_u64().unwrap(),
        result["total_events"].as_u64().unwrap(),
        result["events_created"].as_u64().unwrap(),
        result["events_updated"].as_u64().unwrap(),
        result["events_deleted"].as_u64().unwrap(),
    )
}

async fn a_feed_becomes_the_rooms_events(db: Db) {
    let app = calendar_app(db).await;
    let feeds = MockServer::start().await;
    let url = room_url(&app, "team");
    let now = now();
    let series_start = now - Duration::days(3) + Duration::hours(3);
    serve(
        &feeds,
        ics_feed(&[
            IcsEvent::new("single", &url, now + Duration::hours(2), 30).summary("Planning, Q2 ✓"),
            IcsEvent::new("daily", &format!("Room: {url}."), series_start, 15)
                .with("RRULE:FREQ=DAILY"),
            IcsEvent::new(
                "elsewhere",
                &format!("{url}-2"),
                now + Duration::hours(1),
                30,
            ),
            IcsEvent::new("cancelled", &url, now + Duration::hours(4), 30).with("STATUS:CANCELLED"),
            IcsEvent::new("next-week", &url, now + Duration::days(7), 30),
        ]),
    )
    .await;
    calendar_room(&app, "team", &format!("{}/cal.ics", feeds.uri())).await;
    app.room(json!({"name": "team-2"})).await;

    let result = sync(&app, "team").await;
    // The single event and today's occurrence of the daily series; not team-2's, not the
    // cancelled one, not next week's (outside the 24 h window).
    assert_eq!(counts(&result), ("success".into(), 2, 5, 2, 0, 0));
    assert_eq!(result["error"], json!(null));

    let (status, events) = app.get("/v1/rooms/team/meetings").await;
    assert_eq!(status, 200, "{events}");
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["title"], "Planning, Q2 ✓");
    assert_eq!(events[0]["ics_uid"], "single");
    assert_eq!(events[0]["recurrence_id"], json!(null));
    let start = |e: &Value| {
        e["start_time"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<Utc>>()
            .unwrap()
    };
    assert_eq!(start(&events[0]), now + Duration::hours(2));
    assert_eq!(events[1]["ics_uid"], "daily");
    assert_eq!(start(&events[1]), now + Duration::hours(3));
    assert!(events[1]["recurrence_id"].as_str().unwrap().ends_with('Z'));
    assert_eq!(events[0]["description"], "Agenda for single");
    assert_eq!(
        events[0]["attendees"],
        json!([
            {"email": "ana@example.com", "name": "Ana", "status": null, "role": "ORGANIZER"},
            {"email": "zoe@example.com", "name": "Zoë Ortega", "status": "ACCEPTED", "role": "REQ-PARTICIPANT"}
        ])
    );
    // Upcoming within 150 minutes: only the single event. Not swallowed by `{meeting_id}`.
    let (status, soon) = app
        .get("/v1/rooms/team/meetings/upcoming?minutes_ahead=150")
        .await;
    assert_eq!(status, 200, "{soon}");
    assert_eq!(soon.as_array().unwrap().len(), 1);
    let (_, default) = app.get("/v1/rooms/team/meetings/upcoming").await;
    assert_eq!(
        default.as_array().unwrap().len(),
        1,
        "default is 120 minutes"
    );
    let (status, _) = app
        .get("/v1/rooms/team/meetings/upcoming?minutes_ahead=-5")
        .await;
    assert_eq!(status, 422);
    let (_, other) = app.get("/v1/rooms/team-2/meetings").await;
    assert_eq!(other, json!([]));

    let (status, st) = app.get("/v1/rooms/team/ics/status").await;
    assert_eq!(status, 200, "{st}");
    assert_eq!(st["status"], "enabled");
    assert_eq!(st["events_count"], 2);
    assert_eq!(st["last_sync_status"], "success");
    assert_eq!(st["last_error"], json!(null));
    let last = st["last_sync"]
        .as_str()
        .unwrap()
        .parse::<chrono::DateTime<Utc>>()
        .unwrap();
    let next = st["next_sync"]
        .as_str()
        .unwrap()
        .parse::<chrono::DateTime<Utc>>()
        .unwrap();
    assert_eq!(next - last, Duration::seconds(300));

    // Synced again with an edited title: updated, not duplicated.
    serve(
        &feeds,
        ics_feed(&[
            IcsEvent::new("single", &url, now + Duration::hours(2), 30)
                .summary("Planning (edited)"),
            IcsEvent::new("daily", &format!("Room: {url}."), series_start, 15)
                .with("RRULE:FREQ=DAILY"),
        ]),
    )
    .await;
    assert_eq!(
        counts(&sync(&app, "team").await),
        ("success".into(), 2, 2, 0, 1, 0)
    );
    let (_, events) = app.get("/v1/rooms/team/meetings").await;
    assert_eq!(events[0]["title"], "Planning (edited)");
    app.stop().await;
}

async fn unchanged_feeds_are_recognised_by_etag_and_by_content(db: Db) {
    let app = calendar_app(db).await;
    let feeds = MockServer::start().await;
    let url = room_url(&app, "team");
    let body = ics_feed(&[IcsEvent::new("a", &url, now() + Duration::hours(1), 30)]);
    // A 304 only for the request that carries the ETag we sent.
    Mock::given(method("GET"))
        .and(path("/cal.ics"))
        .and(header("if-none-match", "\"v1\""))
        .respond_with(ResponseTemplate::new(304))
        .expect(1)
        .mount(&feeds)
        .await;
    Mock::given(method("GET"))
        .and(path("/cal.ics"))
        .respond_with(feed_response(body.clone()).insert_header("etag", "\"v1\""))
        .mount(&feeds)
        .await;
    calendar_room(&app, "team", &format!("{}/cal.ics", feeds.uri())).await;
    assert_eq!(sync(&app, "team").await["status"], "success");
    let (_, st) = app.get("/v1/rooms/team/ics/status").await;
    assert_eq!(st["last_etag"], "\"v1\"");
    let unchanged = sync(&app, "team").await;
    assert_eq!(counts(&unchanged), ("unchanged".into(), 0, 0, 0, 0, 0));

    // A server without validators: the same bytes are "unchanged" too.
    let plain = MockServer::start().await;
    serve(&plain, body).await;
    calendar_room(&app, "plain", &format!("{}/cal.ics", plain.uri())).await;
    // The feed mentions room "team", so nothing is found for "plain"; it is still read.
    assert_eq!(sync(&app, "plain").await["status"], "success");
    assert_eq!(sync(&app, "plain").await["status"], "unchanged");
    app.stop().await;
}

async fn redirects_are_followed_and_each_target_is_checked(db: Db) {
    let app = calendar_app(db).await;
    let feeds = MockServer::start().await;
    let url = room_url(&app, "team");
    let redirect = |to: &str| ResponseTemplate::new(302).insert_header("location", to);
    for (from, to) in [
        ("/a", "/b"),
        ("/b", &format!("{}/cal.ics", feeds.uri()) as &str),
    ] {
        Mock::given(path(from))
            .respond_with(redirect(to))
            .mount(&feeds)
            .await;
    }
    for hop in 0..6 {
        Mock::given(path(format!("/loop{hop}")))
            .respond_with(redirect(&format!("/loop{}", hop + 1)))
            .mount(&feeds)
            .await;
    }
    Mock::given(path("/to-file"))
        .respond_with(redirect("file:///etc/passwd"))
        .mount(&feeds)
        .await;
    Mock::given(path("/cal.ics"))
        .respond_with(feed_response(ics_feed(&[IcsEvent::new(
            "a",
            &url,
            now() + Duration::hours(1),
            30,
        )])))
        .mount(&feeds)
        .await;

    calendar_room(&app, "team", &format!("{}/a", feeds.uri())).await;
    assert_eq!(
        counts(&sync(&app, "team").await),
        ("success".into(), 1, 1, 1, 0, 0)
    );

    let room = |name: &str, p: &str| {
        let feed = format!("{}{p}", feeds.uri());
        let name = name.to_owned();
        let app = &app;
        async move { calendar_room(app, &name, &feed).await }
    };
    room("loop", "/loop0").await;
    let too_many = sync(&app, "loop").await;
    assert_eq!(too_many["status"], "error");
    assert!(
        too_many["error"]
            .as_str()
            .unwrap()
            .contains("more than 5 times"),
        "{too_many}"
    );
    room("file", "/to-file").await;
    let refused = sync(&app, "file").await;
    assert_eq!(refused["status"], "error");
    let error = refused["error"].as_str().unwrap();
    assert!(
        error.contains("file:///etc/passwd") && error.contains("not allowed"),
        "{error}"
    );
    app.stop().await;
}

async fn bad_feeds_give_a_clear_error_and_change_nothing(db: Db) {
    // Private addresses are refused without ALLOW_PRIVATE_NETWORK_URLS.
    let guarded = TestApp::spawn(db, &[]).await;
    guarded
        .room(json!({"name": "team", "ics_url": "http://127.0.0.1:9/cal.ics", "ics_enabled": true}))
        .await;
    let refused = sync(&guarded, "team").await;
    assert_eq!(refused["status"], "error");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("ALLOW_PRIVATE_NETWORK_URLS"),
        "{refused}"
    );
    guarded.stop().await;

    let app = calendar_app(db).await;
    let feeds = MockServer::start().await;
    let url = room_url(&app, "team");
    serve(
        &feeds,
        ics_feed(&[
            IcsEvent::new("a", &url, now() + Duration::hours(1), 30),
            IcsEvent::new("b", &url, now() + Duration::hours(2), 30),
        ]),
    )
    .await;
    calendar_room(&app, "team", &format!("{}/cal.ics", feeds.uri())).await;
    assert_eq!(sync(&app, "team").await["events_created"], 2);
    let (_, before) = app.get("/v1/rooms/team/meetings").await;

    let html = ResponseTemplate::new(200)
        .set_body_string("<!doctype html><html><body>Please sign in</body></html>");
    let truncated = {
        let full = ics_feed(&[IcsEvent::new("a", &url, now() + Duration::hours(1), 30)]);
        full[..full.len() - 20].to_owned()
    };
    let huge = format!(
        "BEGIN:VCALENDAR\r\n{}END:VCALENDAR\r\n",
        "X-PAD:0123456789012345678901234567890123456789012345678901234567890123456789\r\n"
            .repeat(150_000)
    );
    let cases: Vec<(ResponseTemplate, &str)> = vec![
        (html, "not an iCalendar file"),
        (
            ResponseTemplate::new(200).set_body_string(truncated),
            "ends before END:VCALENDAR",
        ),
        (
            ResponseTemplate::new(404),
            "HTTP 404: check the calendar URL",
        ),
        (ResponseTemplate::new(403), "the feed is private"),
        (ResponseTemplate::new(500), "HTTP 500"),
        (
            ResponseTemplate::new(200).set_body_string(huge),
            "larger than 10 MiB",
        ),
    ];
    for (response, expected) in cases {
        feeds.reset().await;
        Mock::given(method("GET"))
            .respond_with(response)
            .mount(&feeds)
            .await;
        let result = sync(&app, "team").await;
        assert_eq!(result["status"], "error", "{expected}: {result}");
        let error = result["error"].as_str().unwrap();
        assert!(error.contains(expected), "{expected}: {error}");
        let (_, after) = app.get("/v1/rooms/team/meetings").await;
        assert_eq!(after, before, "{expected}: nothing changed");
        let (_, st) = app.get("/v1/rooms/team/ics/status").await;
        assert_eq!(st["last_error"], error);
        assert_eq!(st["last_sync_status"], "error");
        assert_eq!(st["events_count"], 2);
    }
    // An unreachable feed.
    app.patch(
        &format!(
            "/v1/rooms/{}",
            app.get("/v1/rooms/name/team").await.1["id"]
                .as_str()
                .unwrap()
        ),
        json!({"ics_url": "http://127.0.0.1:9/cal.ics"}),
    )
    .await;
    let down = sync(&app, "team").await;
    assert!(
        down["error"]
            .as_str()
            .unwrap()
            .starts_with("could not reach the calendar feed"),
        "{down}"
    );
    app.stop().await;
}

async fn vanished_events_are_deleted_and_revived_when_they_return(db: Db) {
    let app = calendar_app(db).await;
    let feeds = MockServer::start().await;
    let url = room_url(&app, "team");
    let (a, b) = (
        IcsEvent::new("a", &url, now() + Duration::hours(1), 30),
        IcsEvent::new("b", &url, now() + Duration::hours(2), 30),
    );
    serve(&feeds, ics_feed(&[a.clone(), b.clone()])).await;
    calendar_room(&app, "team", &format!("{}/cal.ics", feeds.uri())).await;
    sync(&app, "team").await;
    let (_, first) = app.get("/v1/rooms/team/meetings").await;

    serve(&feeds, ics_feed(std::slice::from_ref(&a))).await;
    assert_eq!(
        counts(&sync(&app, "team").await),
        ("success".into(), 1, 1, 0, 0, 1)
    );
    let (_, only_a) = app.get("/v1/rooms/team/meetings").await;
    assert_eq!(only_a.as_array().unwrap().len(), 1);
    assert_eq!(only_a[0]["ics_uid"], "a");

    serve(&feeds, ics_feed(&[a, b])).await;
    assert_eq!(
        counts(&sync(&app, "team").await),
        ("success".into(), 2, 2, 0, 1, 0)
    );
    let (_, again) = app.get("/v1/rooms/team/meetings").await;
    assert_eq!(again[1]["ics_uid"], "b");
    assert_eq!(again[1]["id"], first[1]["id"], "the same event, revived");
    app.stop().await;
}

async fn only_owners_sync_and_non_owners_see_no_private_fields(db: Db) {
    let keys = JwtKeys::generate();
    let app = TestApp::spawn(
        db,
        &[
            ("AUTH_BACKEND", "jwt"),
            ("AUTH_JWT_PUBLIC_KEY", &keys.public_key_path),
            ("ALLOW_PRIVATE_NETWORK_URLS", "true"),
        ],
    )
    .await;
    let feeds = MockServer::start().await;
    let url = room_url(&app, "team");
    serve(
        &feeds,
        ics_feed(&[IcsEvent::new("a", &url, now() + Duration::minutes(5), 30)]),
    )
    .await;
    let (alice, bob) = (keys.token("alice"), keys.token("bob"));
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/rooms",
            Some(&alice),
            Some(json!({"name": "team", "ics_url": format!("{}/cal.ics", feeds.uri()), "ics_enabled": true})),
        )
        .await;
    assert_eq!(status, 200);
    app.call(
        Method::POST,
        "/v1/rooms",
        Some(&alice),
        Some(json!({"name": "plain"})),
    )
    .await;
    for (path, m) in [
        ("/v1/rooms/team/ics/sync", Method::POST),
        ("/v1/rooms/team/ics/status", Method::GET),
    ] {
        assert_eq!(
            app.call(m.clone(), path, Some(&bob), None).await.0,
            403,
            "{path}"
        );
        assert_eq!(app.call(m, path, None, None).await.0, 401, "{path}");
    }
    let (status, body) = app
        .call(Method::POST, "/v1/rooms/plain/ics/sync", Some(&alice), None)
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("ICS URL"),
        "{body}"
    );
    let (status, _) = app
        .call(Method::POST, "/v1/rooms/team/ics/sync", Some(&alice), None)
        .await;
    assert_eq!(status, 200);

    for path in [
        "/v1/rooms/team/meetings",
        "/v1/rooms/team/meetings/upcoming",
    ] {
        let (_, owner) = app.call(Method::GET, path, Some(&alice), None).await;
        assert_eq!(owner[0]["description"], "Agenda for a", "{path}");
        assert_eq!(owner[0]["attendees"].as_array().unwrap().len(), 2, "{path}");
        for who in [Some(bob.as_str()), None] {
            let (status, other) = app.call(Method::GET, path, who, None).await;
            assert_eq!(status, 200, "{path}");
            assert_eq!(other[0]["title"], "Meeting a", "{path}");
            assert_eq!(other[0]["description"], json!(null), "{path}");
            assert_eq!(other[0]["attendees"], json!(null), "{path}");
        }
    }

    // The meeting prepared for the event keeps its details the same way.
    app.app
        .queue
        .enqueue(&Job::PrepareCalendarMeetings.to_new(Utc::now()))
        .await
        .unwrap();
    app.run_jobs().await;
    let path = "/v1/rooms/team/meetings/active";
    let (_, owner) = app.call(Method::GET, path, Some(&alice), None).await;
    assert_eq!(
        owner[0]["calendar_metadata"]["description"], "Agenda for a",
        "{owner}"
    );
    assert_eq!(
        owner[0]["calendar_metadata"]["attendees"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    for who in [Some(bob.as_str()), None] {
        let (status, other) = app.call(Method::GET, path, who, None).await;
        assert_eq!(status, 200, "{other}");
        let metadata = &other[0]["calendar_metadata"];
        assert_eq!(metadata["title"], "Meeting a", "{other}");
        assert_eq!(metadata["description"], json!(null), "{other}");
        assert_eq!(metadata["attendees"], json!(null), "{other}");
    }
    app.stop().await;
}

async fn the_scheduler_syncs_rooms_whose_interval_has_passed(db: Db) {
    let app = calendar_app(db).await;
    let feeds = MockServer::start().await;
    let url = room_url(&app, "team");
    Mock::given(method("GET"))
        .respond_with(feed_response(ics_feed(&[IcsEvent::new(
            "a",
            &url,
            now() + Duration::hours(1),
            30,
        )])))
        .expect(1)
        .mount(&feeds)
        .await;
    calendar_room(&app, "team", &format!("{}/cal.ics", feeds.uri())).await;
    // Rooms without a calendar, or with it switched off, are not fetched.
    app.room(json!({"name": "off", "ics_url": format!("{}/off.ics", feeds.uri())}))
        .await;
    let sweep = || async {
        app.app
            .queue
            .enqueue(&Job::SyncCalendars.to_new(Utc::now()))
            .await
            .unwrap();
        app.run_jobs().await
    };
    assert_eq!(sweep().await, 2, "the sweep and one room's sync");
    let (_, events) = app.get("/v1/rooms/team/meetings").await;
    assert_eq!(events.as_array().unwrap().len(), 1);
    // Within its interval (300 s) the room is not fetched again (the feed expects one GET).
    assert_eq!(sweep().await, 1);
    app.stop().await;
}

async fn meetings_are_prepared_once_and_follow_their_events(db: Db) {
    let app = calendar_app(db).await;
    let feeds = MockServer::start().await;
    let url = room_url(&app, "team");
    let soon = now() + Duration::minutes(5);
    let later = now() + Duration::hours(3);
    serve(
        &feeds,
        ics_feed(&[
            IcsEvent::new("soon", &url, soon, 30).summary("Standup"),
            IcsEvent::new("later", &url, later, 30),
        ]),
    )
    .await;
    calendar_room(&app, "team", &format!("{}/cal.ics", feeds.uri())).await;
    sync(&app, "team").await;
    let prepare = || async {
        app.app
            .queue
            .enqueue(&Job::PrepareCalendarMeetings.to_new(Utc::now()))
            .await
            .unwrap();
        app.run_jobs().await
    };
    prepare().await;
    prepare().await;
    let (_, active) = app.get("/v1/rooms/team/meetings/active").await;
    let active = active.as_array().unwrap();
    assert_eq!(
        active.len(),
        1,
        "one meeting, for the event starting soon: {active:?}"
    );
    let meeting = &active[0];
    let (_, events) = app.get("/v1/rooms/team/meetings").await;
    assert_eq!(meeting["calendar_event_id"], events[0]["id"]);
    assert_eq!(meeting["calendar_metadata"]["title"], "Standup");
    assert_eq!(
        meeting["calendar_metadata"]["description"],
        "Agenda for soon"
    );
    assert_eq!(
        meeting["calendar_metadata"]["attendees"][1]["email"],
        "zoe@example.com"
    );
    let time = |v: &Value| {
        v.as_str()
            .unwrap()
            .parse::<chrono::DateTime<Utc>>()
            .unwrap()
    };
    assert_eq!(time(&meeting["start_date"]), soon);
    assert_eq!(time(&meeting["end_date"]), soon + Duration::minutes(30));

    // The event moves before it starts: its meeting follows.
    let moved = soon + Duration::minutes(2);
    serve(
        &feeds,
        ics_feed(&[
            IcsEvent::new("soon", &url, moved, 45).summary("Standup (moved)"),
            IcsEvent::new("later", &url, later, 30),
        ]),
    )
    .await;
    assert_eq!(sync(&app, "team").await["events_updated"], 1);
    let (_, m) = app
        .get(&format!(
            "/v1/rooms/team/meetings/{}",
            meeting["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(time(&m["start_date"]), moved);
    assert_eq!(time(&m["end_date"]), moved + Duration::minutes(45));
    assert_eq!(m["calendar_metadata"]["title"], "Standup (moved)");

    // Removed before it starts (and nobody in it): its meeting ends.
    serve(&feeds, ics_feed(&[IcsEvent::new("later", &url, later, 30)])).await;
    assert_eq!(sync(&app, "team").await["events_deleted"], 1);
    let (_, active) = app.get("/v1/rooms/team/meetings/active").await;
    assert_eq!(active, json!([]));
    app.run_jobs().await;
    app.stop().await;
}

async fn several_calendar_meetings_run_at_once_in_one_room(db: Db) {
    let app = calendar_app(db).await;
    let feeds = MockServer::start().await;
    let url = room_url(&app, "team");
    let now = now();
    serve(
        &feeds,
        ics_feed(&[
            IcsEvent::new("one", &url, now + Duration::minutes(2), 60),
            IcsEvent::new("two", &url, now + Duration::minutes(4), 30),
        ]),
    )
    .await;
    calendar_room(&app, "team", &format!("{}/cal.ics", feeds.uri())).await;
    sync(&app, "team").await;
    app.app
        .queue
        .enqueue(&Job::PrepareCalendarMeetings.to_new(Utc::now()))
        .await
        .unwrap();
    app.run_jobs().await;
    let (_, active) = app.get("/v1/rooms/team/meetings/active").await;
    let ids: Vec<&str> = active
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["calendar_event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{active}");
    // Get-or-create reuses the open meeting that ends last ("one"), creating nothing.
    let (status, got) = app.post("/v1/rooms/team/meeting", json!({})).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["id"], active[0]["id"]);
    let (_, still) = app.get("/v1/rooms/team/meetings/active").await;
    assert_eq!(still.as_array().unwrap().len(), 2);
    app.stop().await;
}
