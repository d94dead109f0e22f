import { useEffect, useRef, useState, type FormEvent, type RefObject } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { accessToken } from "../auth";
import { api, call, errorOf, ApiError, type Transcript } from "../api/client";
import { useMe } from "../me";
import { asApiError, useLoad } from "../hooks";
import { TRANSCRIPTS } from "../queries";
import { Link, navigate } from "../router";
import { ConfirmDelete, ErrorState, Loading } from "../components/States";
import { StatusBadge, clock, duration, isPending, when } from "./transcriptBits";

/** While the transcript is being processed, the page asks again this often. */
const POLL_MS = 3000;

/** One part of the text, as `GET /v1/transcripts/{id}?transcript_format=json` gives it. */
interface Segment {
  speaker: number;
  speaker_name: string;
  text: string;
  start: number;
  end: number;
}

type Loaded = Transcript & { segments: Segment[] };

function segmentsOf(value: unknown): Segment[] {
  if (!Array.isArray(value)) return [];
  return value.filter(
    (s): s is Segment =>
      !!s && typeof s === "object" && typeof s.text === "string" && typeof s.start === "number",
  );
}

/** `/transcripts/{id}`: the title, summaries, topics, speakers and the timestamped text, the
 * audio while it is kept; the status while the pipeline runs (asked again until it ends) and
 * the error when it failed; the owner renames, re-processes and deletes it. */
export function TranscriptPage({ transcriptId }: { transcriptId: string }) {
  const me = useMe();
  const queries = useQueryClient();
  const loaded = useQuery({
    queryKey: [TRANSCRIPTS, "one", transcriptId],
    queryFn: async ({ signal }): Promise<Loaded> => {
      const t = await call(
        api.GET("/v1/transcripts/{transcript_id}", {
          params: { path: { transcript_id: transcriptId }, query: { transcript_format: "json" } },
          signal,
        }),
      );
      return { ...t, segments: segmentsOf(t.transcript) };
    },
    refetchInterval: (query) => (query.state.data && isPending(query.state.data.status) ? POLL_MS : false),
  });
  const status = loaded.data?.status ?? null;
  // Topics come with a finished run: asked again whenever the status changes.
  const topics = useQuery({
    queryKey: [TRANSCRIPTS, "topics", transcriptId, status],
    queryFn: ({ signal }) =>
      call(api.GET("/v1/transcripts/{transcript_id}/topics", { params: { path: { transcript_id: transcriptId } }, signal })),
    enabled: status === "ended",
  });
  /** After a change: everything shown about transcripts is asked again. */
  const changed = () => queries.invalidateQueries({ queryKey: [TRANSCRIPTS] });
  const audio = useRef<HTMLAudioElement>(null);
  const [summary, setSummary] = useState<"short" | "long">("short");
  const [renaming, setRenaming] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [actionError, setActionError] = useState<ApiError | null>(null);
  const [reprocessing, setReprocessing] = useState(false);

  const failure = loaded.error ? asApiError(loaded.error) : null;
  if (loaded.isPending) return <Loading label="Loading the transcript…" />;
  if (!loaded.data && failure) {
    if (failure.status === 404)
      return (
        <ErrorState
          title="Transcript not found"
          error={failure}
          testId="transcript-not-found"
          actions={
            <Link href="/transcripts" className="button">
              All transcripts
            </Link>
          }
        >
          <p>It was deleted, or it is private to someone else.</p>
        </ErrorState>
      );
    return (
      <ErrorState
        title="Could not load the transcript"
        error={failure}
        actions={<button onClick={() => void loaded.refetch()}>Try again</button>}
      />
    );
  }
  const t = loaded.data;
  if (!t) return null;
  const isOwner = !!me.sub && me.sub === t.user_id;
  const pending = isPending(t.status);
  const length = duration(t.duration);

  const seek = (seconds: number) => {
    const a = audio.current;
    if (!a) return;
    a.currentTime = seconds;
    void a.play().catch(() => undefined);
  };

  const reprocess = async () => {
    setActionError(null);
    setReprocessing(true);
    try {
      await call(api.POST("/v1/transcripts/{transcript_id}/process", { params: { path: { transcript_id: t.id } } }));
      await changed();
    } catch (e) {
      setActionError(asApiError(e));
    } finally {
      setReprocessing(false);
    }
  };

  const hasSummary = !!(t.short_summary || t.long_summary);
  const shownSummary = summary === "long" ? t.long_summary || t.short_summary : t.short_summary || t.long_summary;

  return (
    <article className="page transcript-page" data-testid="transcript-page">
      <p className="small">
        <Link href="/transcripts">← All transcripts</Link>
      </p>
      <div className="page-head">
        {renaming ? (
          <RenameForm
            t={t}
            onDone={(saved) => {
              setRenaming(false);
              if (saved) void changed();
            }}
          />
        ) : (
          <h1 data-testid="transcript-title">{t.title || t.name}</h1>
        )}
        {isOwner && !renaming && (
          <div className="room-actions">
            <button onClick={() => setRenaming(true)}>Rename</button>
            <button onClick={reprocess} disabled={pending || reprocessing || t.audio_deleted} data-testid="reprocess"
              title={t.audio_deleted ? "The audio was deleted: there is nothing to process again" : undefined}>
              {reprocessing ? "Queuing…" : "Process again"}
            </button>
            <button className="danger" onClick={() => setDeleting(true)}>
              Delete
            </button>
          </div>
        )}
      </div>
      <div className="badges">
        <StatusBadge status={t.status} />
        {t.room_name && (
          <Link href={`/${t.room_name}`} className="badge">
            {t.room_name}
          </Link>
        )}
        {t.source_kind === "file" && <span className="badge">uploaded file</span>}
        <span className="badge">{when(t.created_at)}</span>
        {length && <span className="badge">{length}</span>}
        {t.title && t.title !== t.name && <span className="badge muted">{t.name}</span>}
      </div>
      {failure && (
        <p className="error small" role="alert">
          Lost contact with the server: {failure.detail}
        </p>
      )}
      {actionError && (
        <p className="error" role="alert" data-testid="action-error">
          {actionError.detail}
        </p>
      )}

      {pending && (
        <div className="panel panel-status" role="status" data-testid="transcript-processing">
          <span className="spinner" aria-hidden="true" />
          <div>
            <strong>{t.status === "processing" ? "Transcribing…" : "Waiting to be transcribed…"}</strong>
            <p className="muted small">This page updates by itself when the transcript is ready.</p>
          </div>
        </div>
      )}
      {t.status === "error" && (
        <div className="panel panel-error" role="alert" data-testid="transcript-error">
          <strong>The transcript could not be made.</strong>
          <p className="detail">{t.error || "The server recorded no reason."}</p>
          {isOwner && !t.audio_deleted && (
            <p className="muted small">Fix the cause (the server’s settings, the backend), then “Process again”.</p>
          )}
        </div>
      )}

      <TranscriptAudio t={t} audio={audio} />

      {hasSummary && (
        <section className="panel" data-testid="summary">
          <div className="panel-head">
            <h2>Summary</h2>
            {t.short_summary && t.long_summary && (
              <div className="toggle" role="group" aria-label="Summary length">
                <button aria-pressed={summary === "short"} onClick={() => setSummary("short")}>
                  Short
                </button>
                <button aria-pressed={summary === "long"} onClick={() => setSummary("long")}>
                  Long
                </button>
              </div>
            )}
          </div>
          <p className="prose" data-testid="summary-text">
            {shownSummary}
          </p>
        </section>
      )}

      {topics.data && topics.data.length > 0 && (
        <section className="panel" data-testid="topics">
          <h2>Topics</h2>
          <ol className="topics">
            {topics.data.map((topic) => (
              <li key={topic.id}>
                <button className="time" onClick={() => seek(topic.timestamp)} title="Play from here">
                  {clock(topic.timestamp)}
                </button>
                <div>
                  <strong>{topic.title}</strong>
                  {topic.summary && <p className="muted small">{topic.summary}</p>}
                </div>
              </li>
            ))}
          </ol>
        </section>
      )}

      {t.participants.length > 0 && (
        <section className="panel" data-testid="speakers">
          <h2>Speakers</h2>
          <ul className="speakers">
            {t.participants.map((p) => (
              <li key={p.id} className={`speaker speaker-${(p.speaker ?? 0) % 6}`}>
                {p.name}
              </li>
            ))}
          </ul>
        </section>
      )}

      {t.status === "ended" && (
        <section className="panel" data-testid="transcript-text">
          <h2>Transcript</h2>
          {t.segments.length === 0 ? (
            <p className="muted">No words were recognised in this recording.</p>
          ) : (
            <ol className="segments">
              {t.segments.map((s, i) => (
                <li key={i} className="segment" data-testid="segment">
                  <button className="time" onClick={() => seek(s.start)} title="Play from here">
                    {clock(s.start)}
                  </button>
                  <span className={`speaker-name speaker-${s.speaker % 6}`}>{s.speaker_name}</span>
                  <span className="said">{s.text.trim()}</span>
                </li>
              ))}
            </ol>
          )}
        </section>
      )}

      {deleting && (
        <DeleteDialog
          t={t}
          onClose={() => setDeleting(false)}
          onDeleted={() => {
            queries.removeQueries({ queryKey: [TRANSCRIPTS, "one", t.id] });
            void changed();
            navigate("/transcripts");
          }}
        />
      )}
    </article>
  );
}

/** The recording, while it is kept. Once a participant declined consent, the pipeline deletes it
 * and the audio endpoint answers 404 `Audio unavailable due to privacy settings`: that is shown.
 * Without a bearer token the player streams the endpoint itself; with one (an `<audio>` element
 * cannot send it) the file is fetched with it first. A failure shows the server's `detail`. */
function TranscriptAudio({ t, audio }: { t: Transcript; audio: RefObject<HTMLAudioElement | null> }) {
  const url = `/v1/transcripts/${encodeURIComponent(t.id)}/audio/mp3`;
  const deleted = t.audio_deleted;
  const token = accessToken();
  const [playError, setPlayError] = useState<ApiError | null>(null);
  const source = useLoad(async (): Promise<{ src: string | null; problem: ApiError | null }> => {
    if (deleted) return { src: null, problem: await explain(url, token) };
    if (!token) return { src: url, problem: null };
    const r = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
    if (!r.ok) return { src: null, problem: errorOf(r.status, r.statusText, await r.text()) };
    return { src: URL.createObjectURL(await r.blob()), problem: null };
  }, `audio:${t.id}:${deleted}:${token ? "bearer" : "none"}`);
  const src = source.state === "ready" ? source.data.src : null;
  useEffect(
    () => () => {
      if (src?.startsWith("blob:")) URL.revokeObjectURL(src);
    },
    [src],
  );
  const problem = playError ?? (source.state === "ready" ? source.data.problem : source.state === "error" ? source.error : null);

  if (problem || deleted)
    return (
      <div className="panel panel-audio" data-testid="audio-unavailable">
        <strong>
          {problem?.detail ?? (deleted ? "Audio unavailable due to privacy settings" : "The audio cannot be played")}
        </strong>
        {deleted && (
          <p className="muted small">
            A participant declined to be recorded, so the recording was deleted once it was transcribed.
          </p>
        )}
      </div>
    );
  if (!src) return null;
  return (
    <div className="panel panel-audio">
      <audio
        ref={audio}
        controls
        preload="metadata"
        src={src}
        data-testid="audio"
        onError={() => void explain(url, token).then(setPlayError)}
      />
    </div>
  );
}

/** Why the audio endpoint refuses: its `detail`. */
async function explain(url: string, token: string | null): Promise<ApiError> {
  try {
    const r = await fetch(url, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
    if (r.ok) {
      void r.body?.cancel();
      return new ApiError(0, "This browser cannot play the recording’s format.");
    }
    return errorOf(r.status, r.statusText, await r.text());
  } catch (e) {
    return asApiError(e);
  }
}

function RenameForm({ t, onDone }: { t: Transcript; onDone: (changed: boolean) => void }) {
  const [title, setTitle] = useState(t.title || t.name);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const save = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await call(
        api.PATCH("/v1/transcripts/{transcript_id}", {
          params: { path: { transcript_id: t.id } },
          body: { title: title.trim() },
        }),
      );
      onDone(true);
    } catch (e) {
      setError(asApiError(e));
      setBusy(false);
    }
  };
  return (
    <form className="rename" onSubmit={save} data-testid="rename-form">
      <input
        aria-label="Title"
        value={title}
        maxLength={300}
        autoFocus
        disabled={busy}
        onChange={(e) => setTitle(e.target.value)}
        onKeyDown={(e) => e.key === "Escape" && onDone(false)}
      />
      <button type="submit" className="primary" disabled={busy || !title.trim()}>
        {busy ? "Saving…" : "Save"}
      </button>
      <button type="button" onClick={() => onDone(false)} disabled={busy}>
        Cancel
      </button>
      {error && (
        <p className="error small" role="alert">
          {error.detail}
        </p>
      )}
    </form>
  );
}

function DeleteDialog({ t, onClose, onDeleted }: { t: Transcript; onClose: () => void; onDeleted: () => void }) {
  return (
    <ConfirmDelete
      title={`Delete “${t.title || t.name}”?`}
      action="Delete transcript"
      remove={() =>
        call(api.DELETE("/v1/transcripts/{transcript_id}", { params: { path: { transcript_id: t.id } } }))
      }
      onClose={onClose}
      onDeleted={onDeleted}
    >
      <p>The transcript, its summary and topics are deleted. This cannot be undone.</p>
    </ConfirmDelete>
  );
}
