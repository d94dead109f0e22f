//! Transcripts end to end (SPEC §9.2, §9.3, §4): a mock call with two people ends, its
//! recording is stored, the pipeline runs against a fake OpenAI-compatible transcription server
//! that checks each request, and the transcript is readable, searchable and re-processable.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::time::Duration;

use reflector_testing::fakes::JwtKeys;
use reflector_testing::transcription::FakeWhisper;
use reflector_testing::{Db, TestApp, on_both_databases};
use reqwest::Method;
use serde_json::{Value, json};

on_both_databases!(
    a_recorded_mock_call_becomes_one_searchable_transcript,
    a_declined_consent_deletes_the_audio_but_keeps_the_text,
    without_a_backend_the_transcript_ends_in_error_saying_so,
    transcript_completed_is_sent_once_per_run,
    a_daily_multitrack_recording_is_aligned_merged_and_named_by_daily,
    the_modal_backend_fetches_each_chunk_from_a_presigned_url,
    anonymous_listing_and_search_need_public_mode,
);

/// `PUBLIC_MODE` decides whether anonymous callers may list and search public transcripts (as
/// it does for shared rooms); reading one by its id needs no sign-in either way.
async fn anonymous_listing_and_search_need_public_mode(db: Db) {
    let keys = JwtKeys::generate();
    for public_mode in [false, true] {
        let app = TestApp::spawn(
            db,
            &[
                ("AUTH_BACKEND", "jwt"),
                ("AUTH_JWT_PUBLIC_KEY", &keys.public_key_path),
                ("PUBLIC_MODE", if public_mode { "true" } else { "false" }),
            ],
        )
        .await;
        let alice = keys.token("alice");
        let (status, created) = app
            .call(
                Method::POST,
                "/v1/transcripts",
                Some(&alice),
                Some(json!({"name": "All hands"})),
            )
            .await;
        assert_eq!(status, 200, "{created}");
        let id = created["id"].as_str().unwrap();
        let (status, _) = app
            .call(
                Method::PATCH,
                &format!("/v1/transcripts/{id}"),
                Some(&alice),
                Some(json!({"share_mode": "public"})),
            )
            .await;
        assert_eq!(status, 200);

        let (status, list) = app.call(Method::GET, "/v1/transcripts", None, None).await;
        let (search, _) = app
            .call(Method::GET, "/v1/transcripts/search?q=hands", None, None)
            .await;
        if public_mode {
            assert_eq!(status, 200, "{list}");
            assert_eq!(list["total"], 1, "{list}");
            assert_eq!(search, 200);
        } else {
            assert_eq!((status, search), (401, 401), "{list}");
        }
        let (status, _) = app
            .call(Method::GET, &format!("/v1/transcripts/{id}"), None, None)
            .await;
        assert_eq!(status, 200, "a public transcript is readable by its id");

        // A page whose offset would overflow is refused, as on the rooms list.
        let (status, body) = app
            .call(
                Method::GET,
                "/v1/transcripts?page=9223372036854775807&size=100",
                Some(&alice),
                None,
            )
            .await;
        assert_eq!(
            (status, body["detail"].as_str()),
            (422, Some("page: is too large for this page size"))
        );
        app.stop().await;
    }
}

/// Runs a two-person mock call in room `team` and returns its meeting id.
async fn mock_call(app: &TestApp, decline: bool) -> String {
    mock_call_in(app, json!({"name": "team"}), decline).await
}

async fn mock_call_in(app: &TestApp, room: Value, decline: bool) -> String {
    app.room(room).await;
    mock_call_in_team(app, decline).await
}

/// Runs a two-person mock call in the existing room `team` and returns its meeting id.
async fn mock_call_in_team(app: &TestApp, decline: bool) -> String {
    let (status, m) = app.post("/v1/rooms/team/meeting", json!({})).await;
    assert_eq!(status, 200, "{m}");
    let mid = m["id"].as_str().unwrap().to_owned();
    if decline {
        let (status, body) = app
            .post(
                &format!("/v1/meetings/{mid}/consent"),
                json!({"consent_given": false, "participant_token": "bob-token"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let page = m["room_url"]
        .as_str()
        .unwrap()
        .trim_start_matches(&app.url)
        .to_owned();
    let mut sessions = Vec::new();
    for name in ["Ada", "Bob"] {
        let (status, s) = app
            .call(
                Method::POST,
                &format!("{page}/sessions"),
                None,
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(status, 201, "{s}");
        sessions.push(s["session_id"].as_str().unwrap().to_owned());
    }
    for s in &sessions {
        let (status, _) = app
            .call(Method::DELETE, &format!("{page}/sessions/{s}"), None, None)
            .await;
        assert_eq!(status, 204);
    }
    mid
}

async fn finished_transcripts(app: &TestApp) -> Vec<Value> {
    for _ in 0..300 {
        app.run_jobs().await;
        let (status, page) = app.get("/v1/transcripts").await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap().clone();
        if !items.is_empty()
            && items
                .iter()
                .all(|t| t["status"] == "ended" || t["status"] == "error")
        {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the transcript did not finish within 60 s");
}

fn whisper_env(whisper: &FakeWhisper) -> Vec<(&'static str, String)> {
    vec![
        ("TRANSCRIPT_BACKEND", "openai".into()),
        ("TRANSCRIPT_URL", whisper.url.clone()),
        ("TRANSCRIPT_API_KEY", "transcribe-key".into()),
        ("TRANSCRIPT_MODEL", "whisper-large".into()),
    ]
}

fn pairs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn a_recorded_mock_call_becomes_one_searchable_transcript(db: Db) {
    let whisper = FakeWhisper::start().await;
    whisper.script(2.0, "quarterly roadmap review");
    let env = whisper_env(&whisper);
    let app = TestApp::spawn(db, &pairs(&env)).await;
    let mid = mock_call(&app, false).await;
    let items = finished_transcripts(&app).await;
    assert_eq!(items.len(), 1, "{items:?}");
    let t = &items[0];
    assert_eq!(t["status"], "ended", "{t}");
    assert_eq!(t["meeting_id"], mid.as_str());
    assert_eq!(t["room_name"], "team");
    assert_eq!(t["source_kind"], "room");
    assert_eq!(t["audio_deleted"], false);
    let id = t["id"].as_str().unwrap().to_owned();

    // One request per track, each the documented multipart form.
    let requests = whisper.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    for r in &requests {
        assert_eq!(r.authorization.as_deref(), Some("Bearer transcribe-key"));
        assert_eq!(r.field("model"), Some("whisper-large"));
        assert_eq!(r.field("response_format"), Some("verbose_json"));
        assert_eq!(r.field("timestamp_granularities[]"), Some("word"));
    }

    // Two speakers, one per track, in the four formats.
    let (status, participants) = app.get(&format!("/v1/transcripts/{id}/participants")).await;
    assert_eq!(status, 200);
    assert_eq!(participants.as_array().unwrap().len(), 2, "{participants}");
    let (_, text) = app
        .get(&format!("/v1/transcripts/{id}?transcript_format=text"))
        .await;
    let text = text["transcript"].as_str().unwrap().to_owned();
    let (_, plain) = app.get(&format!("/v1/transcripts/{id}")).await;
    assert_eq!(
        (&plain["transcript_format"], plain["transcript"].as_str()),
        (&json!("text"), Some(text.as_str())),
        "text unless another format is asked for, as in the original"
    );
    // Both tracks speak at the same time in the mock's recording, so their words interleave.
    assert!(
        text.starts_with("Speaker 0: quarterly\nSpeaker 1: quarterly\n"),
        "{text}"
    );
    let (_, vtt) = app
        .get(&format!(
            "/v1/transcripts/{id}?transcript_format=webvtt-named"
        ))
        .await;
    assert!(
        vtt["transcript"].as_str().unwrap().starts_with("WEBVTT\n"),
        "{vtt}"
    );
    let (_, stamped) = app
        .get(&format!(
            "/v1/transcripts/{id}?transcript_format=text-timestamped"
        ))
        .await;
    assert!(
        stamped["transcript"]
            .as_str()
            .unwrap()
            .starts_with("[00:00:0"),
        "{stamped}"
    );
    let (_, segments) = app
        .get(&format!("/v1/transcripts/{id}?transcript_format=json"))
        .await;
    for speaker in [0, 1] {
        let said: Vec<&str> = segments["transcript"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["speaker"] == speaker)
            .map(|s| s["text"].as_str().unwrap())
            .collect();
        assert_eq!(said.join(" "), "quarterly roadmap review", "{segments}");
    }
    let (status, bad) = app
        .get(&format!("/v1/transcripts/{id}?transcript_format=pdf"))
        .await;
    assert_eq!(status, 422, "{bad}");

    // Searchable, with the match marked.
    let (status, found) = app.get("/v1/transcripts/search?q=roadmap").await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["results"][0]["id"], id.as_str());
    assert!(
        found["results"][0]["search_snippets"][0]
            .as_str()
            .unwrap()
            .contains("<mark>roadmap</mark>"),
        "{found}"
    );
    let (_, none) = app.get("/v1/transcripts/search?q=budget").await;
    assert_eq!(none["total"], 0);

    // The audio is served while it is kept.
    let audio = app
        .req(Method::GET, &format!("/v1/transcripts/{id}/audio/mp3"))
        .send()
        .await
        .unwrap();
    assert_eq!(audio.status(), 200);
    assert!(!audio.bytes().await.unwrap().is_empty());

    // A re-run updates the same transcript; a new title is searchable.
    let (status, body) = app
        .post(&format!("/v1/transcripts/{id}/process"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let items = finished_transcripts(&app).await;
    assert_eq!(items.len(), 1, "a re-run never makes a second transcript");
    assert_eq!(whisper.requests().len(), 4);
    let (status, patched) = app
        .patch(
            &format!("/v1/transcripts/{id}"),
            json!({"title": "Planning day"}),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    let (_, found) = app.get("/v1/transcripts/search?q=planning").await;
    assert_eq!(found["total"], 1, "{found}");
    let (status, bad) = app
        .patch(
            &format!("/v1/transcripts/{id}"),
            json!({"share_mode": "everyone"}),
        )
        .await;
    assert_eq!(status, 422, "{bad}");

    let (status, _) = app
        .call(Method::DELETE, &format!("/v1/transcripts/{id}"), None, None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = app.get(&format!("/v1/transcripts/{id}")).await;
    assert_eq!(status, 404);
    app.stop().await;
}

async fn a_declined_consent_deletes_the_audio_but_keeps_the_text(db: Db) {
    let whisper = FakeWhisper::start().await;
    let env = whisper_env(&whisper);
    let app = TestApp::spawn(db, &pairs(&env)).await;
    mock_call(&app, true).await;
    let items = finished_transcripts(&app).await;
    let t = &items[0];
    assert_eq!(t["status"], "ended", "{t}");
    assert_eq!(t["audio_deleted"], true, "{t}");
    let id = t["id"].as_str().unwrap();
    let (status, body) = app.get(&format!("/v1/transcripts/{id}/audio/mp3")).await;
    assert_eq!(status, 404);
    assert_eq!(body["detail"], "Audio unavailable due to privacy settings");
    let (_, text) = app
        .get(&format!("/v1/transcripts/{id}?transcript_format=text"))
        .await;
    assert!(
        text["transcript"]
            .as_str()
            .unwrap()
            .contains("Speaker 1: world"),
        "{text}"
    );
    // The recording's files are gone from storage.
    let storage = app.data_dir.path().join("storage").join("recordings");
    let left: Vec<_> = walk(&storage);
    assert!(left.is_empty(), "{left:?}");
    app.stop().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| {
            let p = e.path();
            if p.is_dir() { walk(&p) } else { vec![p] }
        })
        .collect()
}

async fn without_a_backend_the_transcript_ends_in_error_saying_so(db: Db) {
    let app = TestApp::spawn(db, &[]).await;
    mock_call(&app, false).await;
    let items = finished_transcripts(&app).await;
    assert_eq!(items[0]["status"], "error");
    assert!(
        items[0]["error"]
            .as_str()
            .unwrap()
            .contains("no transcription backend is configured"),
        "{items:?}"
    );
    app.stop().await;
}

async fn transcript_completed_is_sent_once_per_run(db: Db) {
    let whisper = FakeWhisper::start().await;
    let receiver = reflector_testing::fakes::Receiver::start("hook-secret").await;
    let llm = reflector_testing::transcription::FakeLlm::start(json!({
        "title": "Standup", "short_summary": "Short.", "long_summary": "Long.",
        "topics": [{"title": "Everything", "summary": "All of it.", "start": 0.0}]
    }))
    .await;
    let mut env = whisper_env(&whisper);
    env.push(("ALLOW_PRIVATE_NETWORK_URLS", "true".into()));
    env.push(("LLM_URL", llm.url.clone()));
    let app = TestApp::spawn(db, &pairs(&env)).await;
    // The room follows a calendar whose event starts in two minutes: the call is in the meeting
    // prepared for it, and the webhook names that event.
    let feeds = wiremock::MockServer::start().await;
    let start = chrono::Utc::now() + chrono::Duration::minutes(2);
    let feed = reflector_testing::ics::ics_feed(&[reflector_testing::ics::IcsEvent::new(
        "standup",
        &format!("{}/team", app.url),
        start,
        30,
    )]);
    wiremock::Mock::given(wiremock::matchers::path("/cal.ics"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .insert_header("content-type", "text/calendar")
                .set_body_string(feed),
        )
        .mount(&feeds)
        .await;
    app.room(json!({
        "name": "team", "webhook_url": receiver.url, "webhook_secret": "hook-secret",
        "ics_url": format!("{}/cal.ics", feeds.uri()), "ics_enabled": true,
    }))
    .await;
    let (status, body) = app.post("/v1/rooms/team/ics/sync", json!({})).await;
    assert_eq!(status, 200, "{body}");
    app.app
        .queue
        .enqueue(&reflector_app::Job::PrepareCalendarMeetings.to_new(chrono::Utc::now()))
        .await
        .unwrap();
    app.run_jobs().await;
    let (_, events) = app.get("/v1/rooms/team/meetings").await;
    let mid = mock_call_in_team(&app, false).await;
    let meeting = app.store.meeting(&mid).await.unwrap().unwrap();
    assert_eq!(
        meeting.calendar_event_id.as_deref(),
        events[0]["id"].as_str(),
        "the call is in the meeting prepared for the event"
    );
    let items = finished_transcripts(&app).await;
    let id = items[0]["id"].as_str().unwrap().to_owned();
    let completed = |receiver: &reflector_testing::fakes::Receiver| -> Vec<Value> {
        receiver
            .received()
            .into_iter()
            .filter(|r| r.body["event"] == "transcript.completed")
            .map(|r| {
                assert!(r.signature_valid, "{:?}", r.body);
                r.body
            })
            .collect()
    };
    for _ in 0..100 {
        app.run_jobs().await;
        if !completed(&receiver).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first = completed(&receiver);
    assert_eq!(first.len(), 1, "{first:?}");
    let body = &first[0];
    assert_eq!(body["transcript"]["id"], id.as_str());
    assert_eq!(body["transcript"]["status"], "ended");
    assert_eq!(
        body["transcript"]["participants"].as_array().unwrap().len(),
        2
    );
    assert!(
        body["transcript"]["webvtt"]
            .as_str()
            .unwrap()
            .starts_with("WEBVTT")
    );
    assert_eq!(body["room"]["name"], "team");
    // A topic's `webvtt` is WebVTT of what was said in it (here the whole call).
    let topics = body["transcript"]["topics"].as_array().unwrap();
    assert_eq!(topics.len(), 1, "{body}");
    let topic_vtt = topics[0]["webvtt"].as_str().unwrap();
    assert!(topic_vtt.starts_with("WEBVTT"), "{topic_vtt}");
    assert!(topic_vtt.contains(" --> "), "{topic_vtt}");
    assert_eq!(
        topic_vtt, body["transcript"]["webvtt"],
        "one topic from the start"
    );
    let event = &body["calendar_event"];
    assert_eq!(event["id"], events[0]["id"], "{body}");
    assert_eq!(event["ics_uid"], "standup");
    assert_eq!(event["title"], events[0]["title"]);
    assert_eq!(event["description"], events[0]["description"]);
    assert_eq!(
        event["attendees"].as_array().map(Vec::len),
        Some(2),
        "{event}"
    );
    let at = |v: &Value| {
        v.as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
    };
    assert_eq!(at(&event["start_time"]), at(&events[0]["start_time"]));
    assert_eq!(at(&event["end_time"]), at(&events[0]["end_time"]));

    let (status, _) = app
        .post(&format!("/v1/transcripts/{id}/process"), json!({}))
        .await;
    assert_eq!(status, 200);
    finished_transcripts(&app).await;
    for _ in 0..100 {
        app.run_jobs().await;
        if completed(&receiver).len() > 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let both = completed(&receiver);
    assert_eq!(both.len(), 2, "a re-run is announced again, once");
    assert_ne!(both[0]["event_id"], both[1]["event_id"]);
    app.stop().await;
}

const DAILY_ROOM: &str = "team-20260101070000-abcd";

/// A Daily room `team` whose raw-tracks recording `rec-1` of meeting session `mtg-9` has these
/// audio tracks (`(participant id, name, track bytes)`), in the customer bucket on moto; Daily's
/// participants API names them (each Daily call is expected exactly once). The recording is
/// announced by a signed `recording.ready-to-download` webhook.
async fn daily_raw_tracks_recording(
    db: Db,
    whisper: &FakeWhisper,
    people: &[(&str, &str, Vec<u8>)],
) -> (
    TestApp,
    reflector_testing::fakes::FakeDaily,
    reflector_testing::moto::Moto,
) {
    use reflector_testing::fakes::{DAILY_SECRET, FakeDaily};
    use reflector_testing::moto::Moto;
    use wiremock::matchers::{header, method, path, query_param};
    use wiremock::{Mock, ResponseTemplate};

    const BUCKET: &str = "daily-recordings";
    let moto = Moto::start().await;
    moto.create_bucket(BUCKET).await;
    let mut tracks = Vec::new();
    let mut participants = Vec::new();
    for (n, (id, name, bytes)) in people.iter().enumerate() {
        let key = format!(
            "acme/{DAILY_ROOM}/1767250800000-{id}-cam-audio-{}.webm",
            n + 1
        );
        moto.put(BUCKET, &key, bytes.clone()).await;
        tracks.push(json!({"type": "audio", "s3Key": key, "size": bytes.len()}));
        participants.push(json!({"participant_id": id, "user_id": format!("u-{id}"),
            "user_name": name, "join_time": 1767250800, "duration": 600}));
    }
    // Daily lists participants by join time, not in track order.
    participants.reverse();
    let daily = FakeDaily::start(DAILY_ROOM).await;
    Mock::given(method("GET"))
        .and(path("/recordings/rec-1"))
        .and(header("authorization", "Bearer d-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "rec-1", "status": "finished", "mtgSessionId": "mtg-9", "tracks": tracks
        })))
        .expect(1..)
        .mount(&daily)
        .await;
    Mock::given(method("GET"))
        .and(path("/meetings/mtg-9/participants"))
        .and(query_param("limit", "100"))
        .and(header("authorization", "Bearer d-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": participants})))
        .expect(1..)
        .mount(&daily)
        .await;
    let mut env = daily.env();
    env.extend(moto.env());
    env.extend(whisper_env(whisper));
    env.extend([
        ("DAILYCO_STORAGE_AWS_BUCKET_NAME", BUCKET.to_owned()),
        ("DAILYCO_STORAGE_AWS_REGION", "us-east-1".to_owned()),
        (
            "DAILYCO_STORAGE_AWS_ROLE_ARN",
            "arn:aws:iam::1:role/daily".to_owned(),
        ),
    ]);
    let app = TestApp::spawn(db, &pairs(&env)).await;
    app.room(json!({"name": "team", "platform": "daily"})).await;
    let (status, m) = app.post("/v1/rooms/team/meeting", json!({})).await;
    assert_eq!(status, 200, "{m}");

    let event = json!({
        "version": "1.0.0", "type": "recording.ready-to-download", "id": "evt-1",
        "payload": {"type": "raw-tracks", "recording_id": "rec-1", "room_name": DAILY_ROOM,
                    "start_ts": chrono::Utc::now().timestamp(), "duration": null, "tracks": tracks},
        "event_ts": chrono::Utc::now().timestamp()
    });
    let (status, body) = app
        .daily_webhook(&event, DAILY_SECRET, chrono::Utc::now().timestamp())
        .await;
    assert_eq!(status, 200, "{body}");
    (app, daily, moto)
}

/// A Daily raw-tracks recording of two people: Bob's track starts 2 s after Ada's
/// (`format.start_time`), so their words interleave once aligned; speakers are the tracks, named
/// from Daily's participants of the recording's meeting session (the fake checks the requests).
async fn a_daily_multitrack_recording_is_aligned_merged_and_named_by_daily(db: Db) {
    use reflector_testing::media;

    let ada_said = "one two three four five six seven eight nine ten eleven twelve";
    let bob_said = "alpha beta gamma delta";
    let dir = tempfile::tempdir().unwrap();
    let whisper = FakeWhisper::start().await;
    whisper.learn(&media::speech(dir.path(), "ada-wav", ada_said), ada_said);
    whisper.learn(&media::speech(dir.path(), "bob-wav", bob_said), bob_said);
    let ada = media::speech_webm(dir.path(), "ada", ada_said);
    let bob = media::speech_webm_starting_at(dir.path(), "bob", bob_said, 2.0);
    let (app, _daily, _moto) =
        daily_raw_tracks_recording(db, &whisper, &[("pa", "Ada", ada), ("pb", "Bob", bob)]).await;

    let items = finished_transcripts(&app).await;
    assert_eq!(items.len(), 1, "{items:?}");
    let t = &items[0];
    assert_eq!(t["status"], "ended", "{t}");
    let id = t["id"].as_str().unwrap();
    let names: Vec<(&str, &Value)> = t["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), &p["speaker"]))
        .collect();
    assert_eq!(names, [("Ada", &json!(0)), ("Bob", &json!(1))], "{t}");
    assert_eq!(t["participants"][0]["user_id"], "u-pa");

    let (_, segments) = app
        .get(&format!("/v1/transcripts/{id}?transcript_format=json"))
        .await;
    let segments = segments["transcript"].as_array().unwrap().clone();
    let starts: Vec<f64> = segments
        .iter()
        .map(|s| s["start"].as_f64().unwrap())
        .collect();
    assert!(
        starts.windows(2).all(|w| w[0] <= w[1]),
        "merged by time: {segments:?}"
    );
    for (speaker, name, said) in [(0, "Ada", ada_said), (1, "Bob", bob_said)] {
        let mine: Vec<&Value> = segments
            .iter()
            .filter(|s| s["speaker"] == speaker)
            .collect();
        let text: Vec<&str> = mine.iter().map(|s| s["text"].as_str().unwrap()).collect();
        assert_eq!(text.join(" "), said, "{segments:?}");
        assert!(mine.iter().all(|s| s["speaker_name"] == name), "{mine:?}");
    }
    // Bob's words are placed after his track's 2 s offset, and Ada speaks on around them.
    let bob_first = segments
        .iter()
        .find(|s| s["speaker"] == 1)
        .map(|s| s["start"].as_f64().unwrap())
        .unwrap();
    assert!(bob_first >= 1.9, "{segments:?}");
    assert_eq!(segments[0]["speaker"], 0, "{segments:?}");
    let last_ada = segments
        .iter()
        .rev()
        .find(|s| s["speaker"] == 0)
        .map(|s| s["start"].as_f64().unwrap())
        .unwrap();
    assert!(
        last_ada > bob_first,
        "the tracks interleave once aligned: {segments:?}"
    );
    let (_, text) = app
        .get(&format!("/v1/transcripts/{id}?transcript_format=text"))
        .await;
    let text = text["transcript"].as_str().unwrap();
    assert!(text.starts_with("Ada: one"), "{text}");
    assert!(text.contains("\nBob: alpha"), "{text}");
    app.stop().await;
}

/// `TRANSCRIPT_BACKEND=modal` with S3 storage (moto): each chunk is put in our bucket, the GPU
/// service (the fake) is sent a presigned URL and fetches the audio from it, and the shared
/// chunks are deleted afterwards.
async fn the_modal_backend_fetches_each_chunk_from_a_presigned_url(db: Db) {
    use reflector_testing::moto::Moto;
    let moto = Moto::start().await;
    moto.create_bucket("ours").await;
    let whisper = FakeWhisper::start().await;
    whisper.script(2.0, "quarterly roadmap review");
    let mut env = moto.env();
    env.extend([
        ("TRANSCRIPT_STORAGE_BACKEND", "aws".to_owned()),
        ("TRANSCRIPT_STORAGE_AWS_BUCKET_NAME", "ours".to_owned()),
        ("TRANSCRIPT_BACKEND", "modal".to_owned()),
        ("TRANSCRIPT_URL", whisper.url.clone()),
        ("TRANSCRIPT_API_KEY", "gpu-key".to_owned()),
    ]);
    let app = TestApp::spawn(db, &pairs(&env)).await;
    mock_call(&app, false).await;
    let items = finished_transcripts(&app).await;
    let t = &items[0];
    assert_eq!(t["status"], "ended", "{t}");
    let requests = whisper.requests();
    assert_eq!(requests.len(), 2, "one chunk per track: {requests:?}");
    for r in &requests {
        assert_eq!(r.path, "/v1/audio/transcriptions-from-url");
        assert_eq!(r.authorization.as_deref(), Some("Bearer gpu-key"));
        let url = r.field("audio_file_url").unwrap();
        assert!(
            url.starts_with(&format!("{}/ours/tmp/transcripts/", moto.url)),
            "{url}"
        );
        assert!(url.contains("X-Amz-Signature="), "a presigned URL: {url}");
        assert!(r.audio_len > 44, "the service fetched the chunk: {r:?}");
    }
    let (_, text) = app
        .get(&format!(
            "/v1/transcripts/{}?transcript_format=text",
            t["id"].as_str().unwrap()
        ))
        .await;
    assert!(
        text["transcript"]
            .as_str()
            .unwrap()
            .contains("Speaker 1: quarterly"),
        "{text}"
    );
    let left = app.app.recordings.storage.list("tmp/").await.unwrap();
    assert!(left.is_empty(), "shared chunks are deleted: {left:?}");
    app.stop().await;
}

/// Runs jobs until the transcript `id` has finished; panics after `limit`.
async fn run_until_finished(app: &TestApp, id: Option<&str>, limit: Duration) -> Value {
    let started = std::time::Instant::now();
    loop {
        app.run_jobs().await;
        let (_, page) = app.get("/v1/transcripts").await;
        if let Some(t) = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| id.is_none_or(|id| t["id"] == id))
            && (t["status"] == "ended" || t["status"] == "error")
        {
            return t.clone();
        }
        assert!(started.elapsed() < limit, "not finished within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The whole pipeline on a 10-minute two-track Daily recording (WebM/Opus tones, the second
/// track 3 s late) with the fake OpenAI-compatible backend: fetch from our storage, probe, cut,
/// transcribe, align and merge, name from Daily, segments, WebVTT, store. Prints the wall time of
/// ingest + pipeline and of a re-run (the pipeline alone). Peak memory: run the test binary under
/// `/usr/bin/time -v` (see README, "Transcripts").
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark: prints figures"]
async fn bench_pipeline_ten_minute_two_track_recording() {
    let minutes: u32 = std::env::var("BENCH_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(10);
    let seconds = minutes * 60;
    let dir = tempfile::tempdir().unwrap();
    let mut people = Vec::new();
    for (id, name, freq, offset) in [("pa", "Ada", 440, "0"), ("pb", "Bob", 660, "3")] {
        let out = dir.path().join(format!("{id}.webm"));
        let status = std::process::Command::new("ffmpeg")
            .args(["-y", "-loglevel", "error", "-f", "lavfi", "-i"])
            .arg(format!("sine=frequency={freq}:duration={seconds}"))
            .args([
                "-c:a",
                "libopus",
                "-b:a",
                "24k",
                "-output_ts_offset",
                offset,
            ])
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success());
        people.push((id, name, std::fs::read(&out).unwrap()));
    }
    let whisper = FakeWhisper::start().await;
    let script: Vec<String> = (0..seconds * 2).map(|n| format!("word{n}")).collect();
    whisper.script(f64::from(seconds), &script.join(" "));
    let started = std::time::Instant::now();
    let (app, _daily, _moto) = daily_raw_tracks_recording(Db::Sqlite, &whisper, &people).await;
    let t = run_until_finished(&app, None, Duration::from_secs(600)).await;
    let ingest = started.elapsed();
    assert_eq!(t["status"], "ended", "{t}");
    let id = t["id"].as_str().unwrap().to_owned();

    let (status, body) = app
        .post(&format!("/v1/transcripts/{id}/process"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let whole_peak = rss_mib("VmHWM:");
    // Linux: "5" resets this process's peak RSS, so the next reading is the re-run's alone.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let baseline = rss_mib("VmRSS:");
    let started = std::time::Instant::now();
    let t = run_until_finished(&app, Some(&id), Duration::from_secs(600)).await;
    let pipeline = started.elapsed();
    let pipeline_peak = rss_mib("VmHWM:");
    assert_eq!(t["status"], "ended", "{t}");
    let names: Vec<&str> = t["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Ada", "Bob"]);
    let (_, segments) = app
        .get(&format!("/v1/transcripts/{id}?transcript_format=json"))
        .await;
    let segments = segments["transcript"].as_array().unwrap().len();
    // Each run sends the same chunks (a track a little over 10 minutes is two chunks).
    let requests = whisper.requests().len();
    assert!(requests >= 4 && requests % 2 == 0, "{requests} requests");
    println!(
        "pipeline, {minutes}-minute two-track WebM/Opus Daily recording, fake backend: \
         webhook → stored → ended {:.2} s wall; re-run (the pipeline alone) {:.2} s wall; \
         {segments} segments, {} backend requests per run; peak RSS of this process \
         (server, jobs and the fake backend; ffmpeg and moto are other processes): \
         {whole_peak:.0} MiB over the whole test, {pipeline_peak:.0} MiB during the re-run (from {baseline:.0} MiB before it)",
        ingest.as_secs_f64(),
        pipeline.as_secs_f64(),
        requests / 2,
    );
    app.stop().await;
}

/// This process's `VmHWM` (peak) or `VmRSS` (now) resident memory, in MiB (0 where /proc is
/// not there).
fn rss_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
