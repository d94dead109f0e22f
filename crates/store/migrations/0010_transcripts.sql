-- Transcripts: what comes out of a meeting (or an uploaded file). At most one transcript per
-- stored recording (the unique recording_id), so a re-run or a redelivered job updates the same row.
-- status: idle -> (uploaded) -> processing -> ended | error.
-- Full-text search is engine-specific and is set up by Store::migrate after this file (SQLite FTS5
-- table transcript_fts; PostgreSQL a GIN index on to_tsvector('english', search_text)).
CREATE TABLE transcript (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT,
    name TEXT NOT NULL,
    title TEXT,
    status TEXT NOT NULL,
    -- milliseconds
    duration BIGINT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    -- room | live | file
    source_kind TEXT NOT NULL,
    source_language TEXT NOT NULL DEFAULT 'en',
    target_language TEXT NOT NULL DEFAULT 'en',
    short_summary TEXT,
    long_summary TEXT,
    -- JSON lists
    topics TEXT NOT NULL DEFAULT '[]',
    participants TEXT NOT NULL DEFAULT '[]',
    segments TEXT NOT NULL DEFAULT '[]',
    webvtt TEXT,
    -- private | semi-private | public
    share_mode TEXT NOT NULL DEFAULT 'private',
    -- the storage key of the audio the pipeline read (an upload, or the recording's file)
    audio_location TEXT,
    audio_deleted BOOLEAN NOT NULL DEFAULT FALSE,
    room_id TEXT REFERENCES room (id) ON DELETE SET NULL,
    meeting_id TEXT REFERENCES meeting (id) ON DELETE SET NULL,
    recording_id TEXT UNIQUE REFERENCES recording (id) ON DELETE SET NULL,
    error TEXT,
    -- title, summaries and text, kept for full-text search
    search_text TEXT NOT NULL DEFAULT ''
);
CREATE INDEX transcript_user ON transcript (user_id, created_at);
CREATE INDEX transcript_room ON transcript (room_id, created_at);
