-- Applying a meeting's webhooks in batches: an inbox event whose meeting was known when it
-- arrived keeps that meeting and the stored form of the work that applies it, and waits there
-- (no job of its own) for the meeting's one apply job, which takes every pending event at once.
ALTER TABLE webhook_event ADD COLUMN meeting_id TEXT;
ALTER TABLE webhook_event ADD COLUMN work TEXT;
CREATE INDEX webhook_event_pending ON webhook_event (meeting_id, received_at)
    WHERE processed_at IS NULL;

-- A job whose dedupe key only holds while it is queued: claiming it frees the key, so work that
-- arrives while it runs queues the next one (the meeting's apply job).
ALTER TABLE job ADD COLUMN dedupe_until_claimed BIGINT NOT NULL DEFAULT 0;
