-- Timestamps are UTC text in one fixed-width RFC 3339 form (see src/lib.rs), so that comparing
-- and ordering them as text is comparing and ordering them in time, on SQLite and PostgreSQL alike.
CREATE TABLE room (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    zulip_auto_post BOOLEAN NOT NULL DEFAULT FALSE,
    zulip_stream TEXT NOT NULL DEFAULT '',
    zulip_topic TEXT NOT NULL DEFAULT '',
    is_locked BOOLEAN NOT NULL DEFAULT FALSE,
    room_mode TEXT NOT NULL DEFAULT 'normal',
    recording_type TEXT NOT NULL DEFAULT 'cloud',
    recording_trigger TEXT NOT NULL DEFAULT 'automatic-2nd-participant',
    is_shared BOOLEAN NOT NULL DEFAULT FALSE,
    webhook_url TEXT,
    webhook_secret TEXT,
    ics_url TEXT,
    ics_fetch_interval BIGINT NOT NULL DEFAULT 300,
    ics_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    ics_last_sync TEXT,
    ics_last_etag TEXT,
    platform TEXT NOT NULL,
    skip_consent BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX room_user_id ON room (user_id);
CREATE INDEX room_shared ON room (is_shared);

CREATE TABLE meeting (
    id TEXT PRIMARY KEY NOT NULL,
    platform TEXT NOT NULL,
    platform_meeting_id TEXT NOT NULL,
    room_name TEXT NOT NULL,
    room_url TEXT NOT NULL,
    host_room_url TEXT NOT NULL,
    start_date TEXT NOT NULL,
    end_date TEXT NOT NULL,
    room_id TEXT NOT NULL REFERENCES room (id) ON DELETE CASCADE,
    is_locked BOOLEAN NOT NULL,
    room_mode TEXT NOT NULL,
    recording_type TEXT NOT NULL,
    recording_trigger TEXT NOT NULL,
    num_clients BIGINT NOT NULL DEFAULT 0,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    calendar_event_id TEXT,
    calendar_metadata TEXT,
    composed_video_key TEXT,
    composed_video_duration BIGINT
);
CREATE INDEX meeting_room_active ON meeting (room_id, is_active, end_date);
CREATE INDEX meeting_platform_room_name ON meeting (platform, room_name);

CREATE TABLE participant_session (
    id TEXT PRIMARY KEY NOT NULL,
    meeting_id TEXT NOT NULL REFERENCES meeting (id) ON DELETE CASCADE,
    platform_session_id TEXT NOT NULL,
    user_id TEXT,
    user_name TEXT,
    joined_at TEXT NOT NULL,
    left_at TEXT,
    UNIQUE (meeting_id, platform_session_id)
);

-- One row per participant and meeting: a participant is identified by their anonymous token when
-- they send one, else by their user id ("voter"), and the latest answer replaces the previous one.
CREATE TABLE meeting_consent (
    id TEXT PRIMARY KEY NOT NULL,
    meeting_id TEXT NOT NULL REFERENCES meeting (id) ON DELETE CASCADE,
    voter TEXT NOT NULL,
    user_id TEXT,
    participant_token TEXT,
    consent_given BOOLEAN NOT NULL,
    consent_timestamp TEXT NOT NULL,
    UNIQUE (meeting_id, voter)
);

-- A lease that serialises meeting creation per room across processes.
CREATE TABLE room_meeting_lock (
    room_id TEXT PRIMARY KEY NOT NULL REFERENCES room (id) ON DELETE CASCADE,
    holder TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

-- API keys are stored as SHA-256 digests of random 256-bit keys; the key itself is shown once.
CREATE TABLE api_key (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE INDEX api_key_user ON api_key (user_id);
