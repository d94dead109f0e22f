//! Outgoing room webhooks (SPEC §8): events are stored in the outbox with a stable `event_id`
//! and delivered by `DeliverWebhook` jobs, one attempt each, every attempt recorded.

use chrono::{DateTime, SecondsFormat, Utc};
use reflector_core::{Meeting, Room};
use reflector_queue::Outcome;
use reflector_store::{DeliveryAttempt, NewJob, OutboxEvent, OutboxStatus, Recording, StoredMedia};
use serde_json::{Value, json};

use crate::jobs::Job;
use crate::outgoing::{OutgoingRequest, next_attempt_at};
use crate::{App, AppResult};

/// Delivery timeout of a queued event.
const DELIVERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Delivery timeout of the owner's "test webhook" button.
pub const TEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Namespace of the deterministic ids of meeting events, so the same meeting's `meeting.started`
/// is queued once however often the provider reports it.
const EVENT_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x5f0c_3a1e_8d2b_4c6f_9e7a_1b3d_5c7e_9f11);

pub(crate) fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A deterministic event id for `key` (`"{event}:{what it is about}"`).
pub(crate) fn event_id(key: &str) -> String {
    uuid::Uuid::new_v5(&EVENT_NAMESPACE, key.as_bytes()).to_string()
}

fn room_json(room: &Room, ui_base_url: &str) -> Value {
    json!({ "id": room.id, "name": room.name, "url": format!("{ui_base_url}/{}", room.name) })
}

/// The outgoing `meeting.started` or `meeting.ended` event of a meeting, or `None` when its room
/// has no webhook. Its id derives from the meeting, so it is stored (and sent) once per meeting.
pub(crate) fn meeting_outbox(
    ctx: &App,
    meeting: &Meeting,
    room: &Room,
    event: &str,
) -> Option<OutboxEvent> {
    room.webhook_url.as_ref()?;
    let event_id = uuid::Uuid::new_v5(
        &EVENT_NAMESPACE,
        format!("{event}:{}", meeting.id).as_bytes(),
    )
    .to_string();
    let now = ctx.clock.now();
    let body = json!({
        "event": event,
        "event_id": event_id,
        "timestamp": iso(now),
        "meeting": meeting_json(ctx, meeting, room),
        "room": room_json(room, &ctx.settings.ui_base_url),
    });
    Some(OutboxEvent {
        event_id,
        room_id: room.id.clone(),
        event: event.to_owned(),
        payload: body.to_string(),
        status: OutboxStatus::Pending,
        created_at: now,
    })
}

fn meeting_json(ctx: &App, meeting: &Meeting, room: &Room) -> Value {
    json!({
        "id": meeting.id,
        "platform": meeting.platform.as_str(),
        "start_date": iso(meeting.start_date),
        "end_date": iso(meeting.end_date),
        "calendar_event_id": meeting.calendar_event_id,
        "url": format!("{}/{}/{}", ctx.settings.ui_base_url, room.name, meeting.id),
    })
}

/// The outgoing `recording.ready` event of a stored recording (SPEC §8), with its delivery job,
/// or `None` when the room has no webhook. Its id derives from the recording, so a recording
/// is announced once.
pub(crate) fn recording_ready(
    ctx: &App,
    recording: &Recording,
    media: &StoredMedia,
    meeting: &Meeting,
    room: &Room,
) -> Option<(OutboxEvent, NewJob)> {
    room.webhook_url.as_ref()?;
    let event = "recording.ready";
    let event_id = uuid::Uuid::new_v5(
        &EVENT_NAMESPACE,
        format!("{event}:{}", recording.id).as_bytes(),
    )
    .to_string();
    let now = ctx.clock.now();
    let tracks = media.track_keys.as_ref().map_or(1, Vec::len);
    let body = json!({
        "event": event,
        "event_id": event_id,
        "timestamp": iso(now),
        "recording": {
            "id": recording.id,
            "meeting_id": meeting.id,
            "platform": recording.platform,
            "kind": if recording.multitrack { "raw-tracks" } else { "cloud" },
            "duration": media.duration,
            "tracks": tracks,
            "created_at": iso(recording.created_at),
        },
        "meeting": meeting_json(ctx, meeting, room),
        "room": room_json(room, &ctx.settings.ui_base_url),
    });
    let delivery = Job::DeliverWebhook {
        event_id: event_id.clone(),
    }
    .to_new(now);
    Some((
        OutboxEvent {
            event_id,
            room_id: room.id.clone(),
            event: event.to_owned(),
            payload: body.to_string(),
            status: OutboxStatus::Pending,
            created_at: now,
        },
        delivery,
    ))
}

/// Queues `meeting.started` for the meeting's room.
pub(crate) async fn meeting_started(ctx: &App, meeting: &Meeting) -> AppResult<()> {
    let Some(room) = ctx.store.room(&meeting.room_id).await? else {
        return Ok(());
    };
    match meeting_outbox(ctx, meeting, &room, "meeting.started") {
        Some(event) => queue(ctx, event).await,
        None => Ok(()),
    }
}

/// Stores an outgoing event and queues its delivery (once per event id).
async fn queue(ctx: &App, event: OutboxEvent) -> AppResult<()> {
    let job = Job::DeliverWebhook {
        event_id: event.event_id.clone(),
    }
    .to_new(event.created_at);
    if ctx.store.queue_outgoing_webhook(&event, &job).await? {
        ctx.queue.wake();
    }
    Ok(())
}

/// One delivery attempt of a queued event; a failure worth retrying runs again on the schedule
/// of SPEC §8 (1 min doubling, at most 1 h apart, for up to 24 h).
pub(crate) async fn deliver(ctx: &App, event_id: &str) -> AppResult<Outcome> {
    let Some(outbox) = ctx.store.outbox_event(event_id).await? else {
        return Ok(Outcome::Done);
    };
    if outbox.status.is_final() {
        return Ok(Outcome::Done);
    }
    // A deleted room took its outbox with it; a removed URL means nobody wants it any more.
    let Some(room) = ctx.store.room(&outbox.room_id).await? else {
        return Ok(Outcome::Done);
    };
    let attempt = ctx.store.delivery_count(event_id).await?;
    let now = ctx.clock.now();
    let Some(url) = room.webhook_url.clone() else {
        record(
            ctx,
            &outbox,
            "",
            attempt,
            now,
            None,
            Some("the room no longer has a webhook URL".into()),
            None,
            None,
        )
        .await?;
        ctx.store
            .set_outbox_status(event_id, OutboxStatus::Failed)
            .await?;
        return Ok(Outcome::Done);
    };
    let result = ctx
        .sender
        .send(&OutgoingRequest {
            url: &url,
            secret: room.webhook_secret.as_deref(),
            event: &outbox.event,
            body: outbox.payload.as_bytes(),
            attempt,
            timeout: DELIVERY_TIMEOUT,
            now_unix: now.timestamp(),
        })
        .await;
    let next = if !result.delivered && result.retry {
        next_attempt_at(outbox.created_at, attempt, now)
    } else {
        None
    };
    count_delivery(
        &outbox.event,
        match (result.delivered, next) {
            (true, _) => "delivered",
            (false, Some(_)) => "retrying",
            (false, None) => "failed",
        },
    );
    record(
        ctx,
        &outbox,
        &url,
        attempt,
        now,
        result.status_code.map(i64::from),
        result.error.clone(),
        next,
        result.delivered.then(|| ctx.clock.now()),
    )
    .await?;
    if result.delivered {
        ctx.store
            .set_outbox_status(event_id, OutboxStatus::Delivered)
            .await?;
        return Ok(Outcome::Done);
    }
    match next {
        Some(at) => {
            ctx.store
                .set_outbox_status(event_id, OutboxStatus::Retrying)
                .await?;
            Ok(Outcome::RunAgainAt(at))
        }
        None => {
            ctx.store
                .set_outbox_status(event_id, OutboxStatus::Failed)
                .await?;
            Ok(Outcome::Done)
        }
    }
}

/// `reflector_webhook_deliveries_total{event, result}`: one per delivery attempt.
fn count_delivery(event: &str, result: &'static str) {
    // The event names are ours (a fixed few), so they are safe as a label.
    metrics::counter!("reflector_webhook_deliveries_total", "event" => event.to_owned(), "result" => result)
        .increment(1);
}

#[allow(clippy::too_many_arguments)]
async fn record(
    ctx: &App,
    outbox: &OutboxEvent,
    url: &str,
    attempt: i64,
    attempted_at: DateTime<Utc>,
    status_code: Option<i64>,
    error: Option<String>,
    next_attempt_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
) -> AppResult<()> {
    ctx.store
        .record_delivery(&DeliveryAttempt {
            id: uuid::Uuid::new_v4().to_string(),
            event_id: outbox.event_id.clone(),
            room_id: outbox.room_id.clone(),
            event: outbox.event.clone(),
            url: url.to_owned(),
            attempt,
            status_code,
            error,
            next_attempt_at,
            delivered_at,
            attempted_at,
        })
        .await?;
    Ok(())
}

/// The answer to the owner's "test webhook" button.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TestResult {
    pub success: bool,
    pub status_code: Option<u16>,
    pub message: String,
    pub error: Option<String>,
    pub response_preview: Option<String>,
}

/// Sends a `test` event to the room's webhook now (10 s timeout) and records the attempt.
pub async fn send_test(ctx: &App, room: &Room) -> AppResult<TestResult> {
    let Some(url) = room.webhook_url.clone() else {
        return Ok(TestResult {
            success: false,
            status_code: None,
            message: "This room has no webhook URL; set one first.".into(),
            error: None,
            response_preview: None,
        });
    };
    let now = ctx.clock.now();
    let event_id = uuid::Uuid::new_v4().to_string();
    let body = json!({
        "event": "test",
        "event_id": event_id,
        "timestamp": iso(now),
        "message": "This is a test webhook from Reflector.",
        "room": room_json(room, &ctx.settings.ui_base_url),
    })
    .to_string();
    let result = ctx
        .sender
        .send(&OutgoingRequest {
            url: &url,
            secret: room.webhook_secret.as_deref(),
            event: "test",
            body: body.as_bytes(),
            attempt: 0,
            timeout: TEST_TIMEOUT,
            now_unix: now.timestamp(),
        })
        .await;
    count_delivery(
        "test",
        if result.delivered {
            "delivered"
        } else {
            "failed"
        },
    );
    let outbox = OutboxEvent {
        event_id,
        room_id: room.id.clone(),
        event: "test".into(),
        payload: body,
        status: if result.delivered {
            OutboxStatus::Delivered
        } else {
            OutboxStatus::Failed
        },
        created_at: now,
    };
    record(
        ctx,
        &outbox,
        &url,
        0,
        now,
        result.status_code.map(i64::from),
        result.error.clone(),
        None,
        result.delivered.then(|| ctx.clock.now()),
    )
    .await?;
    Ok(TestResult {
        success: result.delivered,
        status_code: result.status_code,
        message: if result.delivered {
            "Webhook delivered.".into()
        } else {
            format!(
                "Webhook not delivered: {}",
                result.error.as_deref().unwrap_or("unknown error")
            )
        },
        error: result.error,
        response_preview: result.response_preview,
    })
}
