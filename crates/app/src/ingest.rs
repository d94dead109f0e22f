//! Accepting provider events: a verified webhook (or the mock's in-process event) is stored once
//! in the inbox, with what applies it, before it is answered, so nothing is lost if the process
//! dies right after the answer.
//!
//! Group commit: the requests hand their events to a writer task ([`Ingest`]) and wait. The
//! writer takes every event that is waiting (up to [`MAX_BATCH`]), looks their meetings up once
//! per meeting, stores them all in one transaction, and answers each request after the COMMIT.
//! While it writes, the next requests gather, so under load one commit serves many. An event
//! whose meeting is known waits in the inbox for that meeting's one apply job
//! ([`Job::ApplyMeetingEvents`]), which applies every pending event of the meeting at once. A
//! participant's join or leave needs no job when nothing of its meeting waits: it is applied in
//! the transaction that stores it (see [`IncomingWebhook::session`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use reflector_platforms::{EventKind, MeetingKey, ProviderEvent};
use reflector_queue::Queue;
use reflector_store::{Backend, InboxEvent, IncomingWebhook, NewJob, SessionEvent, Store};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::jobs::Job;
use crate::{App, AppError, AppResult};

/// The most events one transaction stores.
pub const MAX_BATCH: usize = 512;

/// Events waiting for a writer, at most; further requests wait to hand theirs over.
const QUEUE_CAPACITY: usize = 8192;

/// One verified event waiting to be stored, and the request waiting for the answer.
struct Waiting {
    webhook: IncomingWebhook,
    key: Option<MeetingKey>,
    /// The job that applies it if its meeting is unknown (or it names none).
    own_job: NewJob,
    reply: oneshot::Sender<Result<bool, String>>,
}

/// The inbox writers, started on first use (inside the runtime that serves the requests). They
/// stop when the [`App`] is dropped.
#[derive(Default)]
pub(crate) struct Ingest {
    sender: OnceLock<mpsc::Sender<Waiting>>,
}

impl Ingest {
    fn sender(&self, queue: &Queue) -> &mpsc::Sender<Waiting> {
        self.sender.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
            let receiver = Arc::new(Mutex::new(receiver));
            // SQLite has one writer at a time anyway. On PostgreSQL, batches for one meeting
            // commit one after another whatever the number of writers: each enqueues that
            // meeting's apply job, and a second insert of its dedupe key waits for the first
            // transaction to end. So one writer, whose batches grow while it commits, is as
            // fast there and leaves the batches larger.
            let writers = match queue.store.backend() {
                Backend::Sqlite | Backend::Postgres => 1,
            };
            for _ in 0..writers {
                tokio::spawn(write_batches(receiver.clone(), queue.clone()));
            }
            sender
        })
    }
}

/// Stores `event` from `provider`; `false` when it was a redelivery of a stored event. Returns
/// once the event is durable.
pub async fn ingest_event(ctx: &App, provider: &str, event: &ProviderEvent) -> AppResult<bool> {
    // A JSON string may carry NUL (`\u0000`), which PostgreSQL's text cannot hold; such an event
    // is stored with each one as U+FFFD rather than refused (a refusal is redelivered and, at
    // Daily, disables the webhook) or left to fail its batch.
    let replaced;
    let event = if event.payload.contains("\\u0000") {
        replaced = without_nul(event);
        &replaced
    } else {
        event
    };
    // Time-ordered (UUIDv7): the inbox's primary-key index then grows at its end, where a random
    // id would dirty (and write to the log) one more page per event.
    let id = uuid::Uuid::now_v7().to_string();
    let now = ctx.clock.now();
    // The work is encoded here, on the request's task, so the writer only writes.
    let own_job = Job::ProcessWebhook {
        inbox_id: id.clone(),
        provider: provider.to_owned(),
        event: event.kind.clone(),
    }
    .to_new(now);
    let (reply, answer) = oneshot::channel();
    let waiting = Waiting {
        webhook: IncomingWebhook {
            event: InboxEvent {
                id,
                provider: provider.to_owned(),
                event_id: event.event_id.clone(),
                event_type: event.event_type.clone(),
                payload: event.payload.clone(),
                received_at: now,
            },
            meeting_id: None,
            work: own_job.payload.clone(),
            session: session_event(&event.kind),
        },
        key: meeting_key(&event.kind).cloned(),
        own_job,
        reply,
    };
    let stopped = || AppError::Unavailable("The webhook inbox is shutting down.".into());
    ctx.ingest
        .sender(&ctx.queue)
        .send(waiting)
        .await
        .map_err(|_| stopped())?;
    answer
        .await
        .map_err(|_| stopped())?
        .map_err(|e| AppError::Unavailable(format!("Could not store the event: {e}")))
}

/// `event` with every NUL in its strings replaced by U+FFFD (its payload, the body as received,
/// holds the escape, not the character).
fn without_nul(event: &ProviderEvent) -> ProviderEvent {
    fn replace(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => *s = s.replace('\0', "\u{FFFD}"),
            serde_json::Value::Array(items) => items.iter_mut().for_each(replace),
            serde_json::Value::Object(map) => map.values_mut().for_each(replace),
            _ => {}
        }
    }
    let kind = serde_json::to_value(&event.kind)
        .ok()
        .and_then(|mut value| {
            replace(&mut value);
            serde_json::from_value(value).ok()
        })
        .unwrap_or_else(|| event.kind.clone());
    ProviderEvent {
        event_id: event.event_id.replace('\0', "\u{FFFD}"),
        event_type: event.event_type.replace('\0', "\u{FFFD}"),
        kind,
        payload: event.payload.clone(),
    }
}

/// A writer: takes every waiting event (up to [`MAX_BATCH`]), stores them in one transaction and
/// answers each. Ends when the senders are gone.
async fn write_batches(receiver: Arc<Mutex<mpsc::Receiver<Waiting>>>, queue: Queue) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut meetings = MeetingIds::default();
    loop {
        {
            let mut receiver = receiver.lock().await;
            if receiver.recv_many(&mut batch, MAX_BATCH).await == 0 {
                return;
            }
        }
        let started = Instant::now();
        let result = store_batch(&queue, &mut meetings, &mut batch).await;
        let outcome = if result.is_ok() { "stored" } else { "failed" };
        metrics::histogram!("reflector_inbox_batch_seconds", "outcome" => outcome)
            .record(started.elapsed());
        metrics::histogram!("reflector_inbox_batch_events").record(batch.len() as f64);
        let (answers, queued_now) = match result {
            Ok((new, queued_now)) => (new.into_iter().map(Ok).collect(), queued_now),
            // One event the database refuses must not fail the others: each is tried alone.
            Err(e) if e.is_refusal() && batch.len() > 1 => {
                tracing::warn!(events = batch.len(), error = %e, "the database refused a batch of webhooks; storing them one at a time");
                store_one_by_one(&queue, &mut meetings, &mut batch).await
            }
            Err(e) => {
                tracing::error!(events = batch.len(), error = %e, "could not store webhooks");
                (vec![Err(e.to_string()); batch.len()], false)
            }
        };
        for (waiting, answer) in batch.drain(..).zip(answers) {
            let _ = waiting.reply.send(answer);
        }
        // Only a job due now needs a runner now (a batch applied as it was stored queues only
        // the meeting's presence check, due later, which the runners' polling finds).
        if queued_now {
            queue.wake();
        }
    }
}

/// The meetings the writer found lately, by provider and key. A meeting a provider's room names
/// stays that room's meeting, so a burst needs one lookup, not one per batch (a lookup was an
/// eighth of a batch's time). Found ids are kept for [`MeetingIds::KEEP_FOR`], so a provider that
/// reuses a room name for a newer meeting is followed within that; a meeting not found is looked
/// up again each time (it may have been created since).
#[derive(Default)]
struct MeetingIds {
    found: std::collections::HashMap<(String, MeetingKey), (String, Instant)>,
}

impl MeetingIds {
    const KEEP_FOR: Duration = Duration::from_secs(1);
    /// At most this many are kept; past it they are all forgotten.
    const MAX: usize = 4096;

    async fn get(
        &mut self,
        store: &Store,
        provider: &str,
        key: &MeetingKey,
    ) -> reflector_store::Result<Option<String>> {
        let entry = (provider.to_owned(), key.clone());
        if let Some((id, at)) = self.found.get(&entry)
            && at.elapsed() < Self::KEEP_FOR
        {
            return Ok(Some(id.clone()));
        }
        let found = find_meeting_id(store, provider, key).await?;
        match &found {
            Some(id) => {
                if self.found.len() >= Self::MAX {
                    self.found.clear();
                }
                self.found.insert(entry, (id.clone(), Instant::now()));
            }
            None => {
                self.found.remove(&entry);
            }
        }
        Ok(found)
    }
}

/// Stores each event of `batch` in a transaction of its own: whether each was new (or why it
/// could not be stored), and whether a job that is due now was queued. Once the database fails
/// otherwise than by refusing an event, the rest get that error without being tried.
async fn store_one_by_one(
    queue: &Queue,
    meetings: &mut MeetingIds,
    batch: &mut [Waiting],
) -> (Vec<Result<bool, String>>, bool) {
    let mut queued_now = false;
    let mut failed: Option<String> = None;
    let mut answers = Vec::with_capacity(batch.len());
    for one in batch.chunks_mut(1) {
        if let Some(failure) = &failed {
            answers.push(Err(failure.clone()));
            continue;
        }
        answers.push(match store_batch(queue, meetings, one).await {
            Ok((new, queued)) => {
                queued_now |= queued;
                Ok(new[0])
            }
            Err(e) => {
                tracing::error!(error = %e, "could not store a webhook");
                if !e.is_refusal() {
                    failed = Some(e.to_string());
                }
                Err(e.to_string())
            }
        });
    }
    (answers, queued_now)
}

/// Looks the batch's meetings up (once each) and stores the batch. Returns whether each event
/// was new, and whether a job that is due now was queued.
async fn store_batch(
    queue: &Queue,
    meetings: &mut MeetingIds,
    batch: &mut [Waiting],
) -> reflector_store::Result<(Vec<bool>, bool)> {
    let (store, now) = (&queue.store, queue.clock.now());
    for waiting in batch.iter_mut() {
        let Some(key) = &waiting.key else { continue };
        let provider = waiting.webhook.event.provider.as_str();
        waiting.webhook.meeting_id = meetings.get(store, provider, key).await?;
    }
    let webhooks: Vec<&IncomingWebhook> = batch.iter().map(|w| &w.webhook).collect();
    let queued_now = AtomicBool::new(false);
    let new = store
        .ingest_webhooks(
            &webhooks,
            |meeting_id| {
                queued_now.store(true, Ordering::Relaxed);
                Job::ApplyMeetingEvents {
                    meeting_id: meeting_id.to_owned(),
                }
                .to_new(now)
            },
            // An event whose meeting is unknown (or that names none) is applied, or noted as not
            // applicable, by a job of its own.
            |i| {
                queued_now.store(true, Ordering::Relaxed);
                batch[i].own_job.clone()
            },
            // As after a batch of joins and leaves applied by the meeting's job.
            |meeting_id| {
                Job::ReconcilePresence {
                    meeting_id: meeting_id.to_owned(),
                }
                .to_new(now + crate::jobs::PRESENCE_CHECK_DELAY)
            },
        )
        .await?;
    Ok((new, queued_now.into_inner()))
}

/// The event as a session change the writer may apply as it stores it
/// ([`EventKind::session_change`], the test the meeting's job makes too).
fn session_event(kind: &EventKind) -> Option<SessionEvent> {
    kind.session_change().map(|(joined, p)| SessionEvent {
        joined,
        platform_session_id: p.session_id.clone(),
        user_id: p.user_id.clone(),
        user_name: p.user_name.clone(),
        at: p.at,
    })
}

/// Feeds events from providers that run inside Reflector (the mock) into [`ingest_event`].
pub async fn consume_provider_events(
    ctx: std::sync::Arc<App>,
    mut events: mpsc::Receiver<(&'static str, ProviderEvent)>,
) {
    while let Some((provider, event)) = events.recv().await {
        if let Err(e) = ingest_event(&ctx, provider, &event).await {
            tracing::error!(provider, error = %e, "could not store a provider event");
        }
    }
}

pub(crate) fn meeting_key(kind: &EventKind) -> Option<&MeetingKey> {
    match kind {
        EventKind::ParticipantJoined(p) | EventKind::ParticipantLeft(p) => Some(&p.meeting),
        EventKind::MeetingStarted { meeting, .. }
        | EventKind::MeetingEnded { meeting, .. }
        | EventKind::RecordingStarted { meeting, .. }
        | EventKind::RecordingError { meeting, .. } => Some(meeting),
        EventKind::RecordingReady(r) => Some(&r.meeting),
        EventKind::Other => None,
    }
}

pub(crate) async fn find_meeting(
    store: &Store,
    provider: &str,
    key: &MeetingKey,
) -> reflector_store::Result<Option<reflector_core::Meeting>> {
    match key {
        MeetingKey::RoomName(name) => store.meeting_by_provider_room(provider, name).await,
        MeetingKey::PlatformMeetingId(id) => store.meeting_by_platform_id(provider, id).await,
    }
}

async fn find_meeting_id(
    store: &Store,
    provider: &str,
    key: &MeetingKey,
) -> reflector_store::Result<Option<String>> {
    match key {
        MeetingKey::RoomName(name) => store.meeting_id_by_provider_room(provider, name).await,
        MeetingKey::PlatformMeetingId(id) => store.meeting_id_by_platform_id(provider, id).await,
    }
}
