//! The store's behaviour, identical on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use chrono::{Duration, TimeZone, Utc};
use reflector_core::{Meeting, PlatformName, RecordingTrigger, RecordingType, Room, RoomMode};
use reflector_store::{
    ConsentVote, InboxEvent, IncomingWebhook, JobCounts, NewJob, SessionChange, SessionEvent,
    Store, StoreError,
};
use reflector_testing::on_both_stores;

on_both_stores!(
    rooms_round_trip_and_names_stay_unique,
    room_listing_shows_own_and_shared_rooms,
    open_meetings_and_deactivation,
    deleting_a_room_deletes_its_meetings,
    the_creation_lease_excludes_other_holders_until_it_expires,
    the_latest_consent_answer_per_participant_wins,
    a_job_is_claimed_by_one_worker_and_retried_later,
    jobs_sharing_a_key_never_run_together,
    a_busy_keys_backlog_never_hides_other_work,
    a_crashed_workers_job_is_claimed_again_after_its_lease,
    dedupe_keys_allow_one_live_job,
    a_dedupe_key_until_claimed_frees_when_the_job_starts,
    each_period_of_a_periodic_task_is_claimed_once,
    a_redelivered_webhook_is_stored_and_queued_once,
    a_meetings_events_wait_for_its_one_job_and_are_applied_together,
    joins_and_leaves_are_applied_as_stored_unless_their_meeting_has_events_waiting,
    sessions_survive_duplicated_and_reordered_events,
);

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

    assert!(store.end_meeting("later", None, &[], now).await.unwrap());
    assert!(
        !store.end_meeting("later", None, &[], now).await.unwrap(),
        "second time is a no-op"
    );
    let open = store.open_meetings(&r.id, now).await.unwrap();
    assert_eq!(
        open.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["soon"]
    );

    // The room and its open meetings in one read, as the two reads give them.
    let (found, open) = store
        .room_by_name_with_open_meetings("team", now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, r);
    assert_eq!(open, std::slice::from_ref(&soon));
    let other = room("other", "bob", 1);
    store.insert_room(&other).await.unwrap();
    let (found, open) = store
        .room_by_name_with_open_meetings("other", now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found, open), (other, vec![]), "a room with no meeting");
    let (_, open) = store
        .room_by_name_with_open_meetings("team", now - Duration::hours(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(open, [soon, past], "open an hour earlier, latest end first");
    assert_eq!(
        store
            .room_by_name_with_open_meetings("nobody", now)
            .await
            .unwrap(),
        None
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
        .record_consent(&vote(Some("tok-1"), false), 2)
        .await
        .unwrap();
    assert!(store.anyone_declined("m1").await.unwrap());
    let again = store
        .record_consent(&vote(Some("tok-1"), true), 2)
        .await
        .unwrap();
    assert_eq!(first, again, "same participant, same consent record");
    assert!(!store.anyone_declined("m1").await.unwrap());
    // A different browser of the same (shared) user is a different participant.
    let other = store
        .record_consent(&vote(Some("tok-2"), false), 2)
        .await
        .unwrap();
    assert_ne!(other, first);
    assert!(store.anyone_declined("m1").await.unwrap());
    // At the cap, new participants are refused and known ones still change their answer.
    assert_eq!(
        store
            .record_consent(&vote(Some("tok-3"), true), 2)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .record_consent(&vote(Some("tok-2"), true), 2)
            .await
            .unwrap(),
        other
    );
    assert_eq!(store.consent_count("m1").await.unwrap(), 2);
    assert!(!store.anyone_declined("m1").await.unwrap());
}

fn job(kind: &str, key: Option<&str>, at: chrono::DateTime<Utc>) -> NewJob {
    NewJob {
        kind: kind.into(),
        payload: "{}".into(),
        lock_key: key.map(str::to_owned),
        dedupe_key: None,
        dedupe_until_claimed: false,
        run_at: at,
        max_attempts: 3,
    }
}

fn t0() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 1, 12, 0, 0).unwrap()
}

async fn a_job_is_claimed_by_one_worker_and_retried_later(store: Store) {
    let now = t0();
    let lease = now + Duration::seconds(30);
    store.enqueue(&job("a", None, now), now).await.unwrap();
    let claimed = store.claim_job("w1", now, lease).await.unwrap().unwrap();
    assert_eq!((claimed.kind.as_str(), claimed.attempts), ("a", 1));
    assert_eq!(store.claim_job("w2", now, lease).await.unwrap(), None);

    let retry = now + Duration::seconds(60);
    store
        .fail_job(&claimed, "provider down", now, Some(retry))
        .await
        .unwrap();
    assert_eq!(
        store.job_error(&claimed.id).await.unwrap().as_deref(),
        Some("provider down")
    );
    assert_eq!(
        store.claim_job("w2", now, lease).await.unwrap(),
        None,
        "not before its retry time"
    );
    let again = store
        .claim_job("w2", retry, retry + Duration::seconds(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (again.id.as_str(), again.attempts),
        (claimed.id.as_str(), 2)
    );
    store.complete_job(&again, retry).await.unwrap();
    assert_eq!(
        store.job_counts().await.unwrap(),
        JobCounts {
            done: 1,
            ..JobCounts::default()
        }
    );
    assert_eq!(
        store
            .prune_jobs(retry + Duration::seconds(1))
            .await
            .unwrap(),
        1
    );
}

async fn jobs_sharing_a_key_never_run_together(store: Store) {
    let now = t0();
    let lease = now + Duration::seconds(30);
    store
        .enqueue(&job("first", Some("meeting:m1"), now), now)
        .await
        .unwrap();
    store
        .enqueue(
            &job(
                "second",
                Some("meeting:m1"),
                now + Duration::microseconds(1),
            ),
            now,
        )
        .await
        .unwrap();
    store
        .enqueue(
            &job("other", Some("meeting:m2"), now + Duration::microseconds(2)),
            now,
        )
        .await
        .unwrap();
    let later = now + Duration::seconds(1);
    let a = store.claim_job("w1", later, lease).await.unwrap().unwrap();
    assert_eq!(a.kind, "first");
    let b = store.claim_job("w2", later, lease).await.unwrap().unwrap();
    assert_eq!(b.kind, "other", "the second m1 job waits for the first");
    assert_eq!(store.claim_job("w3", later, lease).await.unwrap(), None);
    store.complete_job(&a, later).await.unwrap();
    let c = store.claim_job("w3", later, lease).await.unwrap().unwrap();
    assert_eq!(c.kind, "second");
}

async fn a_busy_keys_backlog_never_hides_other_work(store: Store) {
    let now = t0();
    let lease = now + Duration::seconds(30);
    // A busy meeting's backlog, longer than one claim's batch of candidates, all due first.
    for i in 0..40 {
        store
            .enqueue(
                &job("busy", Some("meeting:m1"), now + Duration::microseconds(i)),
                now,
            )
            .await
            .unwrap();
    }
    store
        .enqueue(
            &job("other", Some("meeting:m2"), now + Duration::seconds(1)),
            now,
        )
        .await
        .unwrap();
    let later = now + Duration::seconds(2);
    let first = store.claim_job("w1", later, lease).await.unwrap().unwrap();
    assert_eq!(first.kind, "busy");
    let next = store.claim_job("w2", later, lease).await.unwrap().unwrap();
    assert_eq!(
        next.kind, "other",
        "found behind the busy key's 39 waiting jobs"
    );
    assert_eq!(store.claim_job("w3", later, lease).await.unwrap(), None);
}

async fn a_crashed_workers_job_is_claimed_again_after_its_lease(store: Store) {
    let now = t0();
    store
        .enqueue(&job("k", Some("meeting:m1"), now), now)
        .await
        .unwrap();
    let crashed = store
        .claim_job("w1", now, now + Duration::seconds(30))
        .await
        .unwrap()
        .unwrap();
    let before = now + Duration::seconds(29);
    assert_eq!(
        store
            .claim_job("w2", before, before + Duration::seconds(30))
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .heartbeat_job(&crashed, now + Duration::seconds(40))
            .await
            .unwrap(),
        "alive while it beats"
    );
    let after = now + Duration::seconds(41);
    let taken = store
        .claim_job("w2", after, after + Duration::seconds(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (taken.id.as_str(), taken.attempts),
        (crashed.id.as_str(), 2)
    );
    // The first worker coming back cannot finish or extend what is no longer its job.
    assert!(
        !store
            .heartbeat_job(&crashed, after + Duration::seconds(60))
            .await
            .unwrap()
    );
    store.complete_job(&crashed, after).await.unwrap();
    assert_eq!(store.job_counts().await.unwrap().running, 1);
    store.complete_job(&taken, after).await.unwrap();
    assert_eq!(store.job_counts().await.unwrap().done, 1);
}

async fn dedupe_keys_allow_one_live_job(store: Store) {
    let now = t0();
    let mut j = job("check", None, now);
    j.dedupe_key = Some("check:m1".into());
    assert!(store.enqueue(&j, now).await.unwrap());
    assert!(!store.enqueue(&j, now).await.unwrap());
    let claimed = store
        .claim_job("w", now, now + Duration::seconds(30))
        .await
        .unwrap()
        .unwrap();
    assert!(
        !store.enqueue(&j, now).await.unwrap(),
        "still live while running"
    );
    store.complete_job(&claimed, now).await.unwrap();
    assert!(
        store.enqueue(&j, now).await.unwrap(),
        "free again once done"
    );
}

async fn a_dedupe_key_until_claimed_frees_when_the_job_starts(store: Store) {
    let now = t0();
    let mut j = job("apply", Some("meeting:m1"), now);
    j.dedupe_key = Some("apply:m1".into());
    j.dedupe_until_claimed = true;
    assert!(store.enqueue(&j, now).await.unwrap());
    assert!(
        !store.enqueue(&j, now).await.unwrap(),
        "one queued job serves"
    );
    let until = now + Duration::seconds(30);
    let running = store.claim_job("w", now, until).await.unwrap().unwrap();
    assert!(
        store.enqueue(&j, now).await.unwrap(),
        "work arriving while it runs queues the next"
    );
    assert!(!store.enqueue(&j, now).await.unwrap());
    assert_eq!(
        store.claim_job("w", now, until).await.unwrap(),
        None,
        "the next waits for the running one's key"
    );
    store.complete_job(&running, now).await.unwrap();
    let next = store.claim_job("w", now, until).await.unwrap().unwrap();
    assert_ne!(next.id, running.id);
}

async fn each_period_of_a_periodic_task_is_claimed_once(store: Store) {
    let now = t0();
    let next = now + Duration::seconds(60);
    assert!(store.claim_periodic("lifecycle", now, next).await.unwrap());
    assert!(!store.claim_periodic("lifecycle", now, next).await.unwrap());
    assert!(
        !store
            .claim_periodic("lifecycle", next - Duration::seconds(1), next)
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_periodic("lifecycle", next, next + Duration::seconds(60))
            .await
            .unwrap()
    );
    assert!(
        store.claim_periodic("presence", now, next).await.unwrap(),
        "tasks are independent"
    );

    // The scheduler's leadership lease.
    let until = now + Duration::seconds(10);
    assert!(store.try_lease("scheduler", "a", now, until).await.unwrap());
    assert!(!store.try_lease("scheduler", "b", now, until).await.unwrap());
    assert!(
        store.try_lease("scheduler", "a", now, until).await.unwrap(),
        "the holder renews"
    );
    assert!(
        store
            .try_lease(
                "scheduler",
                "b",
                until + Duration::seconds(1),
                until + Duration::seconds(11)
            )
            .await
            .unwrap()
    );
}

fn incoming(id: &str, event_id: &str, meeting_id: Option<&str>) -> IncomingWebhook {
    IncomingWebhook {
        event: InboxEvent {
            id: id.into(),
            provider: "daily".into(),
            event_id: event_id.into(),
            event_type: "participant.joined".into(),
            payload: "{}".into(),
            received_at: t0(),
        },
        meeting_id: meeting_id.map(str::to_owned),
        work: format!("work of {id}"),
        session: None,
    }
}

/// For batches without session changes, which never need the presence check.
fn no_presence_job(_: &str) -> NewJob {
    unreachable!("no event changes a session here")
}

fn own_job(payload: String) -> NewJob {
    NewJob {
        payload,
        ..job("webhook", None, t0())
    }
}

async fn a_redelivered_webhook_is_stored_and_queued_once(store: Store) {
    let now = t0();
    let meeting_job = |m: &str| job(&format!("apply {m}"), None, now);
    // Without a meeting, each event has its own job.
    let first = [incoming("row-1", "evt-1", None)];
    let event_job = |i: usize| own_job(first[i].work.clone());
    assert_eq!(
        store
            .ingest_webhooks(&first, meeting_job, event_job, no_presence_job)
            .await
            .unwrap(),
        [true]
    );
    // Redelivered later, and twice in one batch with a new event.
    let again = [
        incoming("row-2", "evt-1", None),
        incoming("row-3", "evt-2", None),
        incoming("row-4", "evt-2", None),
    ];
    let event_job = |i: usize| own_job(again[i].work.clone());
    assert_eq!(
        store
            .ingest_webhooks(&again, meeting_job, event_job, no_presence_job)
            .await
            .unwrap(),
        [false, true, false]
    );
    assert_eq!(store.job_counts().await.unwrap().queued, 2);
    assert_eq!(store.inbox_counts().await.unwrap(), (2, 0));
    let stored = store.inbox_event("row-1").await.unwrap().unwrap();
    assert_eq!(stored.event_type, "participant.joined");
    let claimed = store
        .claim_job("w", now, now + Duration::seconds(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.payload, "work of row-1");
    store
        .mark_inbox_processed("row-1", now, None)
        .await
        .unwrap();
    assert_eq!(store.inbox_counts().await.unwrap(), (2, 1));
}

/// Room "team" and its meeting "m1".
async fn with_meeting_m1(store: &Store) {
    let r = room("team", "alice", 0);
    store.insert_room(&r).await.unwrap();
    store
        .insert_meeting(&meeting(&r, "m1", t0() + Duration::hours(1)))
        .await
        .unwrap();
}

/// A meeting's apply job as the application queues it: one while it waits.
fn apply_job(meeting_id: &str) -> NewJob {
    NewJob {
        dedupe_key: Some(format!("apply:{meeting_id}")),
        dedupe_until_claimed: true,
        ..job("apply", Some(meeting_id), t0())
    }
}

async fn a_meetings_events_wait_for_its_one_job_and_are_applied_together(store: Store) {
    with_meeting_m1(&store).await;
    let now = t0();
    let meeting_job = apply_job;
    // More rows than one statement takes, so the batch is split.
    let batch: Vec<IncomingWebhook> = (0..300)
        .map(|i| incoming(&format!("row-{i}"), &format!("evt-{i}"), Some("m1")))
        .collect();
    let new = store
        .ingest_webhooks(
            &batch,
            meeting_job,
            |_| unreachable!("every event has its meeting"),
            no_presence_job,
        )
        .await
        .unwrap();
    assert!(new.iter().all(|n| *n));
    let more = [incoming("row-300", "evt-300", Some("m1"))];
    store
        .ingest_webhooks(&more, meeting_job, |_| unreachable!(), no_presence_job)
        .await
        .unwrap();
    assert_eq!(
        store.job_counts().await.unwrap().queued,
        1,
        "one job for the meeting, however many events"
    );

    let pending = store.pending_meeting_events("m1", 1000).await.unwrap();
    assert_eq!(pending.len(), 301);
    assert_eq!(pending[0].work.as_deref(), Some("work of row-0"));
    assert_eq!(
        store.pending_meeting_events("m1", 10).await.unwrap().len(),
        10
    );
    let sessions: Vec<String> = (0..301).map(|i| format!("s{i}")).collect();
    let changes: Vec<(bool, SessionChange<'_>)> = sessions
        .iter()
        .map(|sid| {
            (
                true,
                SessionChange {
                    meeting_id: "m1",
                    platform_session_id: sid,
                    user_id: None,
                    user_name: None,
                    at: now,
                },
            )
        })
        .chain([(
            false,
            SessionChange {
                meeting_id: "m1",
                platform_session_id: "s0",
                user_id: None,
                user_name: None,
                at: now + Duration::seconds(1),
            },
        )])
        .collect();
    let ids: Vec<&str> = pending.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        store
            .apply_session_events("m1", &changes, &ids, now)
            .await
            .unwrap(),
        300
    );
    assert_eq!(store.meeting("m1").await.unwrap().unwrap().num_clients, 300);
    assert_eq!(store.inbox_counts().await.unwrap(), (301, 301));
    assert!(
        store
            .pending_meeting_events("m1", 1000)
            .await
            .unwrap()
            .is_empty()
    );

    // A job that gave up marks what still waits.
    store
        .ingest_webhooks(
            &[incoming("row-x", "evt-x", Some("m1"))],
            meeting_job,
            |_| unreachable!(),
            no_presence_job,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .fail_pending_meeting_events("m1", now, "gave up: broken")
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.inbox_counts().await.unwrap(), (302, 302));
    assert_eq!(
        store
            .meeting_id_by_provider_room("mock", "team-m1")
            .await
            .unwrap(),
        Some("m1".into())
    );
}

/// A join (`true`) or leave of session `sid` in meeting `m1`, as `incoming` builds it.
fn session_webhook(id: &str, joined: bool, sid: &str, minute: i64) -> IncomingWebhook {
    IncomingWebhook {
        session: Some(SessionEvent {
            joined,
            platform_session_id: sid.into(),
            user_id: None,
            user_name: Some(format!("name of {sid}")),
            at: t0() + Duration::minutes(minute),
        }),
        ..incoming(id, &format!("evt-{id}"), Some("m1"))
    }
}

async fn joins_and_leaves_are_applied_as_stored_unless_their_meeting_has_events_waiting(
    store: Store,
) {
    with_meeting_m1(&store).await;
    let now = t0();
    let meeting_job = apply_job;
    let presence_job = |m: &str| NewJob {
        dedupe_key: Some(format!("presence:{m}")),
        ..job("presence", Some(m), now + Duration::seconds(5))
    };
    let no_own_job = |_: usize| unreachable!("every event has its meeting");
    let ingest = async |batch: &[IncomingWebhook]| {
        store
            .ingest_webhooks(batch, meeting_job, no_own_job, presence_job)
            .await
            .unwrap()
    };
    let open = async || {
        let sessions = store.participant_sessions("m1").await.unwrap();
        let open: Vec<String> = sessions
            .into_iter()
            .filter(|s| s.left_at.is_none())
            .map(|s| s.platform_session_id)
            .collect();
        let num_clients = store.meeting("m1").await.unwrap().unwrap().num_clients;
        (open, num_clients)
    };

    // Nothing waits for m1: the joins and the leave are applied as they are stored, in order
    // (s2 joins, then leaves), counted, and only the presence check is queued.
    let batch = [
        session_webhook("j1", true, "s1", 0),
        session_webhook("j2", true, "s2", 0),
        session_webhook("l2", false, "s2", 1),
    ];
    let new = ingest(&batch).await;
    assert_eq!(new, [true, true, true]);
    assert_eq!(open().await, (vec!["s1".to_owned()], 1));
    assert_eq!(
        store.inbox_counts().await.unwrap(),
        (3, 3),
        "stored processed"
    );
    assert!(
        store
            .pending_meeting_events("m1", 10)
            .await
            .unwrap()
            .is_empty()
    );
    let claimed = store
        .claim_job("w", now + Duration::seconds(5), now + Duration::seconds(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.kind, "presence", "the only job");
    assert_eq!(store.job_counts().await.unwrap().queued, 0);

    // A redelivery changes nothing: s2 stays closed.
    let again = [session_webhook("j2-again", true, "s2", 0)];
    let again = [IncomingWebhook {
        event: InboxEvent {
            event_id: "evt-j2".into(),
            ..again[0].event.clone()
        },
        ..again[0].clone()
    }];
    let new = ingest(&again).await;
    assert_eq!(new, [false]);
    assert_eq!(open().await, (vec!["s1".to_owned()], 1));

    // A batch with an event that needs the meeting's job: all of m1's events in it wait, in order.
    let mixed = [
        session_webhook("j3", true, "s3", 2),
        incoming("j3x", "evt-ended", Some("m1")),
    ];
    ingest(&mixed).await;
    assert_eq!(open().await, (vec!["s1".to_owned()], 1));
    let pending = store.pending_meeting_events("m1", 10).await.unwrap();
    let pending: Vec<&str> = pending.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(pending, ["j3", "j3x"]);

    // While they wait, a later join waits behind them rather than overtaking them.
    let later = [session_webhook("j4", true, "s4", 3)];
    ingest(&later).await;
    assert_eq!(open().await, (vec!["s1".to_owned()], 1));
    let pending = store.pending_meeting_events("m1", 10).await.unwrap();
    assert_eq!(pending.len(), 3);
    assert_eq!(pending[2].work.as_deref(), Some("work of j4"));
    assert_eq!(
        store.job_counts().await.unwrap().queued,
        1,
        "one apply job for the meeting"
    );

    // An event for a meeting that is gone waits for its job, which finds out.
    let gone = [IncomingWebhook {
        meeting_id: Some("m-gone".into()),
        ..session_webhook("j5", true, "s5", 4)
    }];
    ingest(&gone).await;
    assert_eq!(
        store
            .pending_meeting_events("m-gone", 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn sessions_survive_duplicated_and_reordered_events(store: Store) {
    let r = room("team", "alice", 0);
    store.insert_room(&r).await.unwrap();
    store
        .insert_meeting(&meeting(&r, "m1", t0() + Duration::hours(1)))
        .await
        .unwrap();
    let change = |sid: &'static str, at: chrono::DateTime<Utc>| SessionChange {
        meeting_id: "m1",
        platform_session_id: sid,
        user_id: None,
        user_name: Some("Ada"),
        at,
    };
    let t = t0();
    store.session_joined(&change("s1", t)).await.unwrap();
    store.session_joined(&change("s1", t)).await.unwrap();
    store.session_joined(&change("s2", t)).await.unwrap();
    assert_eq!(
        store.refresh_num_clients("m1").await.unwrap(),
        2,
        "a duplicated join counts once"
    );
    // s3's leave arrives before its join.
    store
        .session_left(&change("s3", t + Duration::seconds(5)))
        .await
        .unwrap();
    store.session_joined(&change("s3", t)).await.unwrap();
    store
        .session_left(&change("s1", t + Duration::seconds(9)))
        .await
        .unwrap();
    store
        .session_left(&change("s1", t + Duration::seconds(20)))
        .await
        .unwrap();
    assert_eq!(store.refresh_num_clients("m1").await.unwrap(), 1);
    let sessions = store.participant_sessions("m1").await.unwrap();
    let s1 = sessions
        .iter()
        .find(|s| s.platform_session_id == "s1")
        .unwrap();
    assert_eq!(
        s1.left_at,
        Some(t + Duration::seconds(9)),
        "the first leave time is kept"
    );
    assert_eq!(sessions.len(), 3);
    assert_eq!(store.meeting("m1").await.unwrap().unwrap().num_clients, 1);
    let mut open = store.open_sessions("m1").await.unwrap();
    open.sort();
    assert_eq!(
        open,
        [("s2".to_owned(), t)],
        "only the open sessions, with when they joined"
    );

    // A presence check found s2 gone a minute late; the provider's leave then says when.
    store
        .session_absent("m1", "s2", t + Duration::seconds(60))
        .await
        .unwrap();
    store
        .session_left(&change("s2", t + Duration::seconds(10)))
        .await
        .unwrap();
    let s2_left = |sessions: Vec<reflector_store::ParticipantSession>| {
        sessions
            .into_iter()
            .find(|s| s.platform_session_id == "s2")
            .unwrap()
            .left_at
    };
    assert_eq!(
        s2_left(store.participant_sessions("m1").await.unwrap()),
        Some(t + Duration::seconds(10)),
        "the provider's leave time replaces the presence check's"
    );
    store.session_joined(&change("s2", t)).await.unwrap();
    assert_eq!(
        s2_left(store.participant_sessions("m1").await.unwrap()),
        Some(t + Duration::seconds(10)),
        "a leave event is final"
    );
    assert_eq!(
        store
            .meeting_by_provider_room("mock", "team-m1")
            .await
            .unwrap()
            .map(|m| m.id),
        Some("m1".into())
    );
    assert_eq!(
        store
            .meeting_by_platform_id("mock", "p-m1")
            .await
            .unwrap()
            .map(|m| m.id),
        Some("m1".into())
    );
    assert_eq!(store.active_meeting_ids().await.unwrap(), ["m1"]);
}
