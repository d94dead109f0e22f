-- Provider recordings brought into our storage, once per provider recording: the unique
-- (platform, platform_recording_id) is what makes every webhook, poll, queue message, retry and
-- restart that announces the same recording land on the same row.
-- status: pending -> downloading -> stored | error (README maps these to SPEC §2's names).
CREATE TABLE recording (
    id TEXT PRIMARY KEY NOT NULL,
    platform TEXT NOT NULL,
    platform_recording_id TEXT NOT NULL,
    meeting_id TEXT NOT NULL REFERENCES meeting (id) ON DELETE CASCADE,
    -- single (one file) or multitrack (one audio file per participant)
    kind TEXT NOT NULL,
    -- Where the provider announced the media (null: ask the provider's API when downloading).
    bucket_name TEXT,
    source_keys TEXT,
    -- In our storage: the single file, or the tracks (JSON list) of a multitrack recording.
    object_key TEXT,
    track_keys TEXT,
    recorded_at TEXT,
    duration DOUBLE PRECISION,
    size_bytes BIGINT,
    status TEXT NOT NULL,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (platform, platform_recording_id)
);
CREATE INDEX recording_meeting ON recording (meeting_id, created_at);

