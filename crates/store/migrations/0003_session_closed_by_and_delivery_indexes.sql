-- Who closed a participant session: 'event' (a provider's leave, final) or 'presence' (absent
-- from the provider's presence list, which lags; reopened if the participant shows up again).
ALTER TABLE participant_session ADD COLUMN closed_by TEXT;

-- Counting an event's delivery attempts, and pruning old rows, without full scans.
CREATE INDEX webhook_delivery_event ON webhook_delivery (event_id);
CREATE INDEX webhook_event_received ON webhook_event (received_at);
