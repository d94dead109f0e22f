-- When the provider's own participant count (`num_clients`) was reported, by the event's time:
-- a late, older event does not overwrite a newer count. NULL while the count is derived from
-- the meeting's open sessions (providers that send no count).
ALTER TABLE meeting ADD COLUMN num_clients_at TEXT;
