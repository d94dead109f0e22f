//! The store's behaviour, identical on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use chrono::{Duration, TimeZone, Utc};
use reflector_core::{Meeting, PlatformName, RecordingTrigger, RecordingType, Room, RoomMode};
use reflector_store::testing::TestDatabase;
use reflector_store::{ConsentVote, Store, StoreError};

/// Runs a case on a fresh SQLite database and, when `TEST_DATABASE_URL` is set, on a fresh
/// PostgreSQL database.
macro_rules! on_both_databases {
    ($($case:ident),+ $(,)?) => {$(
        mod $case {
            #[tokio::test]
            async fn sqlite() {
                let db = reflector_store::testing::TestDatabase::sqlite().await;
                super::$case(super::open(&db).await).await;
            }

            #[tokio::test]
            async fn postgres() {
                let Some(db) = reflector_store::testing::TestDatabase::postgres().await else {
                    eprintln!("TEST_DATABASE_URL is not set: PostgreSQL case not run");
                    return;
                };
                super::$case(super::open(&db).await).await;
                db.drop_database().await;
            }
        }
    )+};
}

on_both_databases!(
    rooms_round_trip_and_names_stay_unique,
    room_listing_shows_own_and_shared_rooms,
    open_meetings_and_deactivation,
    deleting_a_room_deletes_its_meetings,
    the_creation_lease_excludes_other_holders_until_it_expires,
    the_latest_consent_answer_per_participant_wins,
);

async fn open(db: &TestDatabase) -> Store {
    let store = Store::connect(&db.url).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
}

fn room(name: &str, user: &str, minute: u32) -> Room {
    Room {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.into(),
        user_id: user.into(),
        created_at: Utc.with_ymd_and_hms(2026, 3, 1, 10, minute, 0).unwrap(),
        zulip_auto_post: true,
        zulip_stream: "s".into(),
        zulip_topic: "t".into(),
        is_locked: true,
        room_mode: RoomMode::Group,
        recording_type: RecordingType::Local,
        recording_trigger: RecordingTrigger::Prompt,
        is_shared: false,
        webhook_url: Some("https://example.test/hook".into()),
        webhook_secret: Some("secret".into()),
        ics_url: None,
        ics_fetch_interval: 600,
        ics_enabled: false,
        ics_last_sync: Some(Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()),
        ics_last_etag: None,
        platform: PlatformName::new("whereby"),
        skip_consent: true,
    }
}

fn meeting(room: &Room, id: &str, end: chrono::DateTime<Utc>) -> Meeting {
    Meeting {
        id: id.into(),
        platform: PlatformName::new("mock"),
        platform_meeting_id: format!("p-{id}"),
        room_name: format!("{}-{id}", room.name),
        room_url: "https://video.test/r".into(),
        host_room_url: "https://video.test/r?host".into(),
        start_date: end - Duration::hours(8),
        end_date: end,
        room_id: room.id.clone(),
        is_locked: false,
        room_mode: RoomMode::Normal,
        recording_type: RecordingType::Cloud,
        recording_trigger: RecordingTrigger::AutomaticSecondParticipant,
        num_clients: 0,
        is_active: true,
        calendar_event_id: None,
        calendar_metadata: Some(serde_json::json!({"title": "Standup"})),
        composed_video_key: None,
        composed_video_duration: None,
    }
}

async fn rooms_round_trip_and_names_stay_unique(store: Store) {
    let r = room("team", "alice", 0);
    store.insert_room(&r).await.unwrap();
    assert_eq!(store.room(&r.id).await.unwrap(), Some(r.clone()));
    assert_eq!(store.room_by_name("team").await.unwrap(), Some(r.clone()));
    assert_eq!(store.room_by_name("nope").await.unwrap(), None);

    let dup = room("team", "bob", 1);
    let err = store.insert_room(&dup).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Duplicate("Room name is not unique")),
        "{err:?}"
    );

    let mut other = room("other", "bob", 2);
    store.insert_room(&other).await.unwrap();
    other.name = "team".into();
    let err = store.update_room(&other).await.unwrap_err();
    assert!(matches!(err, StoreError::Duplicate(_)), "{err:?}");

    let mut changed = r.clone();
    changed.is_locked = false;
    changed.webhook_secret = None;
    changed.platform = PlatformName::new("daily");
    store.update_room(&changed).await.unwrap();
    assert_eq!(store.room(&r.id).await.unwrap(), Some(changed));
}

async fn room_listing_shows_own_and_shared_rooms(store: Store) {
    let mine_old = room("mine-old", "alice", 0);
    let mine_new = room("mine-new", "alice", 5);
    let mut shared = room("shared", "bob", 3);
    shared.is_shared = true;
    let private = room("private", "bob", 4);
    for r in [&mine_old, &mine_new, &shared, &private] {
        store.insert_room(r).await.unwrap();
    }
    let names = |page: reflector_store::RoomPage| {
        page.items.into_iter().map(|r| r.name).collect::<Vec<_>>()
    };
    let page = store.list_rooms(Some("alice"), 10, 0).await.unwrap();
    assert_eq!(page.total, 3);
    assert_eq!(names(page), ["mine-new", "shared", "mine-old"]);
    let page = store.list_rooms(Some("alice"), 1, 1).await.unwrap();
    assert_eq!((page.total, names(page)), (3, vec!["shared".to_owned()]));
    let anonymous = store.list_rooms(None, 10, 0).await.unwrap();
    assert_eq!(names(anonymous), ["shared"]);
}

async fn open_meetings_and_deactivation(store: Store) {
    let r = room("team", "alice", 0);
    store.insert_room(&r).await.unwrap();
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).unwrap();
    let soon = meeting(&r, "soon", now + Duration::hours(1));
    let later = meeting(&r, "later", now + Duration::hours(3));
    let past = meeting(&r, "past", now - Duration::microseconds(1));
    for m in [&soon, &later, &past] {
        store.insert_meeting(m).await.unwrap();
    }
    assert_eq!(store.meeting("soon").await.unwrap(), Some(soon.clone()));
    let open: Vec<_> = store.open_meetings(&r.id, now).await.unwrap();
    assert_eq!(
        open.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["later", "soon"]
    );

    assert!(store.deactivate_meeting("later").await.unwrap());
    assert!(
        !store.deactivate_meeting("later").await.unwrap(),
        "second time is a no-op"
    );
    let open = store.open_meetings(&r.id, now).await.unwrap();
    assert_eq!(
        open.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["soon"]
    );
}

async fn deleting_a_room_deletes_its_meetings(store: Store) {
    let r = room("team", "alice", 0);
    store.insert_room(&r).await.unwrap();
    let m = meeting(&r, "m1", Utc::now() + Duration::hours(1));
    store.insert_meeting(&m).await.unwrap();
    assert!(store.delete_room(&r.id).await.unwrap());
    assert_eq!(store.meeting("m1").await.unwrap(), None);
    assert!(!store.delete_room(&r.id).await.unwrap());
}

async fn the_creation_lease_excludes_other_holders_until_it_expires(store: Store) {
    let r = room("team", "alice", 0);
    store.insert_room(&r).await.unwrap();
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).unwrap();
    let until = now + Duration::seconds(30);
    assert!(store.try_lock_room(&r.id, "a", now, until).await.unwrap());
    assert!(!store.try_lock_room(&r.id, "b", now, until).await.unwrap());
    // Another holder cannot release it.
    store.unlock_room(&r.id, "b").await.unwrap();
    assert!(!store.try_lock_room(&r.id, "b", now, until).await.unwrap());
    // An expired lease (its holder crashed) can be taken over.
    let later = until + Duration::seconds(1);
    assert!(
        store
            .try_lock_room(&r.id, "b", later, later + Duration::seconds(30))
            .await
            .unwrap()
    );
    store.unlock_room(&r.id, "b").await.unwrap();
    assert!(
        store
            .try_lock_room(&r.id, "c", later, later + Duration::seconds(30))
            .await
            .unwrap()
    );
}

async fn the_latest_consent_answer_per_participant_wins(store: Store) {
    let r = room("team", "alice", 0);
    store.insert_room(&r).await.unwrap();
    let m = meeting(&r, "m1", Utc::now() + Duration::hours(1));
    store.insert_meeting(&m).await.unwrap();
    let vote = |token: Option<&'static str>, given: bool| ConsentVote {
        meeting_id: "m1",
        user_id: Some("local"),
        participant_token: token,
        consent_given: given,
        at: Utc::now(),
    };
    let first = store
        .record_consent(&vote(Some("tok-1"), false))
        .await
        .unwrap();
    assert!(store.anyone_declined("m1").await.unwrap());
    let again = store
        .record_consent(&vote(Some("tok-1"), true))
        .await
        .unwrap();
    assert_eq!(first, again, "same participant, same consent record");
    assert!(!store.anyone_declined("m1").await.unwrap());
    // A different browser of the same (shared) user is a different participant.
    let other = store
        .record_consent(&vote(Some("tok-2"), false))
        .await
        .unwrap();
    assert_ne!(other, first);
    assert!(store.anyone_declined("m1").await.unwrap());
}
