-- Durable background jobs. A job is claimed by compare-and-set on (status, locked_until), so a
-- crashed worker's job is claimed again once its lease runs out. Jobs sharing a lock_key (one per
-- meeting) never run at once: a worker must first hold the lease named after the key.
CREATE TABLE job (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    lock_key TEXT,
    -- At most one queued or running job per dedupe key (cleared when the job ends).
    dedupe_key TEXT UNIQUE,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    run_at TEXT NOT NULL,
    locked_by TEXT,
    locked_until TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX job_ready ON job (status, run_at);

-- Named, expiring leases: job keys ("key:meeting:…") and the periodic scheduler's leadership.
CREATE TABLE lease (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

-- When each periodic task is next due; advanced by compare-and-set, so each period runs once.
CREATE TABLE periodic_task (
    name TEXT PRIMARY KEY NOT NULL,
    next_run_at TEXT NOT NULL
);

-- Every verified provider webhook, once per provider event id.
CREATE TABLE webhook_event (
    id TEXT PRIMARY KEY NOT NULL,
    provider TEXT NOT NULL,
    event_id TEXT NOT NULL,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at TEXT NOT NULL,
    processed_at TEXT,
    error TEXT,
    UNIQUE (provider, event_id)
);

-- Outgoing room webhooks: one row per event (its id is stable across retries) ...
CREATE TABLE webhook_outbox (
    event_id TEXT PRIMARY KEY NOT NULL,
    room_id TEXT NOT NULL REFERENCES room (id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- ... and one row per delivery attempt.
CREATE TABLE webhook_delivery (
    id TEXT PRIMARY KEY NOT NULL,
    event_id TEXT NOT NULL,
    room_id TEXT NOT NULL REFERENCES room (id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    url TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    status_code BIGINT,
    error TEXT,
    next_attempt_at TEXT,
    delivered_at TEXT,
    attempted_at TEXT NOT NULL
);
CREATE INDEX webhook_delivery_room ON webhook_delivery (room_id, attempted_at);

CREATE INDEX meeting_platform_meeting_id ON meeting (platform, platform_meeting_id);
