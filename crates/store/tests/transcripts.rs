//! Transcripts and their full-text search, identical in behaviour on SQLite (FTS5) and
//! PostgreSQL (tsvector).

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use chrono::{Duration, TimeZone, Utc};
use reflector_core::transcript::{Segment, ShareMode, SourceKind, TranscriptStatus};
use reflector_core::{PlatformName, RecordingTrigger, RecordingType, Room, RoomMode};
use reflector_store::{
    Store, StoreError, Transcript, TranscriptFilter, TranscriptPatch, TranscriptResult,
};
use reflector_testing::on_both_stores;

on_both_stores!(
    search_ranks_matches_marks_snippets_and_follows_edits,
    search_and_listing_show_only_what_the_caller_may_see,
    statuses_and_errors_are_recorded,
);

fn room(name: &str, user: &str, shared: bool) -> Room {
    Room {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.into(),
        user_id: user.into(),
        created_at: Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap(),
        zulip_auto_post: false,
        zulip_stream: String::new(),
        zulip_topic: String::new(),
        is_locked: false,
        room_mode: RoomMode::Normal,
        recording_type: RecordingType::Cloud,
        recording_trigger: RecordingTrigger::None,
        is_shared: shared,
        webhook_url: None,
        webhook_secret: None,
        ics_url: None,
        ics_fetch_interval: 300,
        ics_enabled: false,
        ics_last_sync: None,
        ics_last_etag: None,
        platform: PlatformName::new("mock"),
        skip_consent: false,
    }
}

fn transcript(user: &str, room: Option<&Room>, minute: i64) -> Transcript {
    let at = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap() + Duration::minutes(minute);
    Transcript {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: Some(user.into()),
        name: format!("Meeting {minute}"),
        title: None,
        status: TranscriptStatus::Idle,
        duration: None,
        created_at: at,
        updated_at: at,
        source_kind: if room.is_some() {
            SourceKind::Room
        } else {
            SourceKind::File
        },
        source_language: "en".into(),
        target_language: "en".into(),
        short_summary: None,
        long_summary: None,
        topics: vec![],
        participants: vec![],
        segments: vec![],
        webvtt: None,
        share_mode: ShareMode::Private,
        audio_location: None,
        audio_deleted: false,
        room_id: room.map(|r| r.id.clone()),
        meeting_id: None,
        recording_id: None,
        error: None,
    }
}

fn said(text: &str) -> TranscriptResult {
    TranscriptResult {
        duration: Some(3000),
        segments: vec![Segment {
            speaker: 0,
            start: 0.0,
            end: 3.0,
            text: text.into(),
        }],
        webvtt: "WEBVTT\n".into(),
        ..TranscriptResult::default()
    }
}

fn mine(user: &str) -> TranscriptFilter {
    TranscriptFilter {
        user_id: Some(user.into()),
        ..TranscriptFilter::default()
    }
}

async fn search_ranks_matches_marks_snippets_and_follows_edits(store: Store) {
    let now = Utc::now();
    let a = transcript("ana", None, 1);
    let b = transcript("ana", None, 2);
    let c = transcript("ana", None, 3);
    for t in [&a, &b, &c] {
        store.insert_transcript(t).await.unwrap();
    }
    store
        .finish_transcript(&a.id, &said("We talked about the weather and lunch."), now)
        .await
        .unwrap();
    store
        .finish_transcript(
            &b.id,
            &said("The budget for the budgets team: budget approved, budget signed."),
            now,
        )
        .await
        .unwrap();
    store
        .finish_transcript(&c.id, &said("Only one mention of the budget here, among many other words about hiring and the office move."), now)
        .await
        .unwrap();
    let page = store
        .search_transcripts("budget", &mine("ana"), 10, 0)
        .await
        .unwrap();
    assert_eq!(page.total, 2);
    let ids: Vec<&str> = page.hits.iter().map(|h| h.transcript.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![b.id.as_str(), c.id.as_str()],
        "more mentions rank first"
    );
    assert!(page.hits[0].rank > page.hits[1].rank);
    assert!(
        page.hits[0].snippets[0].contains("<mark>budget</mark>"),
        "{:?}",
        page.hits[0].snippets
    );
    // Stemmed: "budgets" is found by "budget" and the reverse.
    assert_eq!(
        store
            .search_transcripts("budgets", &mine("ana"), 10, 0)
            .await
            .unwrap()
            .total,
        2
    );
    // Query syntax from a user never breaks the search.
    for q in [
        "\"budget",
        "budget AND",
        "NEAR(",
        "budget:*",
        "-",
        "' OR 1=1 --",
    ] {
        store
            .search_transcripts(q, &mine("ana"), 10, 0)
            .await
            .unwrap();
    }
    // Paging.
    let second = store
        .search_transcripts("budget", &mine("ana"), 1, 1)
        .await
        .unwrap();
    assert_eq!((second.total, second.hits.len()), (2, 1));
    assert_eq!(second.hits[0].transcript.id, c.id);

    // A new title is searchable; a deleted transcript is not.
    store
        .patch_transcript(
            &a.id,
            &TranscriptPatch {
                title: Some("Quarterly budget".into()),
                ..TranscriptPatch::default()
            },
            now,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .search_transcripts("quarterly", &mine("ana"), 10, 0)
            .await
            .unwrap()
            .hits[0]
            .transcript
            .id,
        a.id
    );
    assert!(store.delete_transcript(&b.id).await.unwrap());
    let after = store
        .search_transcripts("budget", &mine("ana"), 10, 0)
        .await
        .unwrap();
    let ids: Vec<&str> = after
        .hits
        .iter()
        .map(|h| h.transcript.id.as_str())
        .collect();
    assert_eq!(after.total, 2);
    assert!(!ids.contains(&b.id.as_str()));
    let got = store.transcript(&c.id).await.unwrap().unwrap();
    assert_eq!(got.status, TranscriptStatus::Ended);
    assert_eq!(got.duration, Some(3000));
    assert_eq!(got.segments.len(), 1);
}

async fn search_and_listing_show_only_what_the_caller_may_see(store: Store) {
    let now = Utc::now();
    let private_room = room("private-room", "ana", false);
    let shared_room = room("shared-room", "ana", true);
    store.insert_room(&private_room).await.unwrap();
    store.insert_room(&shared_room).await.unwrap();
    let in_private = transcript("ana", Some(&private_room), 1);
    let in_shared = transcript("ana", Some(&shared_room), 2);
    let mut public = transcript("ana", None, 3);
    public.share_mode = ShareMode::Public;
    let own_file = transcript("ana", None, 4);
    for t in [&in_private, &in_shared, &public, &own_file] {
        store.insert_transcript(t).await.unwrap();
        store
            .finish_transcript(&t.id, &said("the roadmap"), now)
            .await
            .unwrap();
    }
    let ana = store.list_transcripts(&mine("ana"), 10, 0).await.unwrap();
    assert_eq!(ana.total, 4);
    assert_eq!(ana.items[0].id, own_file.id, "newest first");
    let bob = store.list_transcripts(&mine("bob"), 10, 0).await.unwrap();
    let mut seen: Vec<String> = bob.items.iter().map(|t| t.id.clone()).collect();
    seen.sort();
    let mut expected = vec![in_shared.id.clone(), public.id.clone()];
    expected.sort();
    assert_eq!(seen, expected);
    let anonymous = store
        .search_transcripts("roadmap", &TranscriptFilter::default(), 10, 0)
        .await
        .unwrap();
    assert_eq!(anonymous.total, 2);
    let in_room = store
        .list_transcripts(
            &TranscriptFilter {
                room_id: Some(private_room.id.clone()),
                ..mine("ana")
            },
            10,
            0,
        )
        .await
        .unwrap();
    assert_eq!(in_room.items.len(), 1);
    assert_eq!(in_room.items[0].id, in_private.id);
    let files = store
        .search_transcripts(
            "roadmap",
            &TranscriptFilter {
                source_kind: Some(SourceKind::File),
                ..mine("ana")
            },
            10,
            0,
        )
        .await
        .unwrap();
    assert_eq!(files.total, 2);
    // Deleting the room keeps its transcripts (the text is what people came for).
    store.delete_room(&private_room.id).await.unwrap();
    let kept = store.transcript(&in_private.id).await.unwrap().unwrap();
    assert_eq!(kept.room_id, None);
}

async fn statuses_and_errors_are_recorded(store: Store) {
    // Many transcripts may have no recording (uploads); the same id twice is refused.
    let a = transcript("ana", None, 1);
    let b = transcript("ana", None, 2);
    store.insert_transcript(&a).await.unwrap();
    store.insert_transcript(&b).await.unwrap();
    let again = store.insert_transcript(&a).await.unwrap_err();
    assert!(matches!(again, StoreError::Duplicate(_)), "{again}");
    assert!(
        store
            .transcript_for_recording("nope")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .set_transcript_status(&a.id, TranscriptStatus::Error, Some("boom"), Utc::now())
            .await
            .unwrap()
    );
    let got = store.transcript(&a.id).await.unwrap().unwrap();
    assert_eq!(
        (got.status, got.error.as_deref()),
        (TranscriptStatus::Error, Some("boom"))
    );
}
