-- Calendar events of rooms that follow an ICS feed (SPEC §2, §7). A single event's
-- recurrence_id is '' rather than NULL, so the unique key also holds for them on both engines.
CREATE TABLE calendar_event (
    id TEXT PRIMARY KEY NOT NULL,
    room_id TEXT NOT NULL REFERENCES room (id) ON DELETE CASCADE,
    ics_uid TEXT NOT NULL,
    recurrence_id TEXT NOT NULL DEFAULT '',
    title TEXT,
    description TEXT,
    start_time TEXT NOT NULL,
    end_time TEXT NOT NULL,
    attendees TEXT NOT NULL DEFAULT '[]',
    location TEXT,
    ics_raw_data TEXT,
    last_synced TEXT NOT NULL,
    is_deleted BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (room_id, ics_uid, recurrence_id)
);
CREATE INDEX calendar_event_room_start ON calendar_event (room_id, is_deleted, start_time);
CREATE INDEX calendar_event_start ON calendar_event (is_deleted, start_time);

-- At most one meeting per calendar event: the pre-creation job makes it once, whichever worker
-- runs it (NULLs, meetings of no event, do not collide on either engine).
CREATE UNIQUE INDEX meeting_calendar_event ON meeting (calendar_event_id);

-- What the last fetch of a room's feed left behind, beside room.ics_last_sync/ics_last_etag:
-- the content hash and Last-Modified for "unchanged", and the last attempt's outcome.
CREATE TABLE ics_sync_state (
    room_id TEXT PRIMARY KEY NOT NULL REFERENCES room (id) ON DELETE CASCADE,
    content_hash TEXT,
    last_modified TEXT,
    last_status TEXT,
    last_error TEXT,
    last_attempt_at TEXT,
    -- When the feed's events were last applied from a full body (the window moves on even when
    -- the feed does not, so an unchanged feed is still re-read now and then).
    last_applied_at TEXT
);
