-- A meeting's open sessions, counted after every batch of participant events (num_clients):
-- an index of only the open ones answers that count from the index alone, where the unique
-- (meeting_id, platform_session_id) index had to read every session's row to check left_at.
CREATE INDEX participant_session_open ON participant_session (meeting_id) WHERE left_at IS NULL;
