import { useState, type FormEvent } from "react";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api, call, type Room, type SearchResult, type Transcript } from "../api/client";
import { useMe } from "../me";
import { asApiError } from "../hooks";
import { TRANSCRIPTS } from "../queries";
import { Link, navigate, useSearch } from "../router";
import { ErrorState, Loading } from "../components/States";
import { SignInButton } from "../components/SignIn";
import { Snippet, StatusBadge, duration, isPending, when } from "./transcriptBits";
import { UploadDialog } from "./UploadDialog";

const PAGE_SIZE = 20;
/** While a listed transcript is being processed, the list is asked again this often. */
const POLL_MS = 4000;

/** What the address says the page shows: `/transcripts?q=…&room_id=…&page=…`. */
interface View {
  q: string;
  roomId: string;
  page: number;
}

function viewOf(search: string): View {
  const p = new URLSearchParams(search);
  const page = Number.parseInt(p.get("page") ?? "1", 10);
  return { q: (p.get("q") ?? "").trim(), roomId: p.get("room_id") ?? "", page: page >= 1 ? page : 1 };
}

export function transcriptsHref({ q, roomId, page }: Partial<View>): string {
  const p = new URLSearchParams();
  if (q) p.set("q", q);
  if (roomId) p.set("room_id", roomId);
  if (page && page > 1) p.set("page", String(page));
  const query = p.toString();
  return query ? `/transcripts?${query}` : "/transcripts";
}

const anyPending = (l: Listing) =>
  (l.kind === "list" ? l.items.map((t) => t.status) : l.results.map((r) => r.status)).some(isPending);

type Listing =
  | { kind: "list"; items: Transcript[]; total: number; pages: number }
  | { kind: "search"; results: SearchResult[]; total: number; pages: number };

/** `/transcripts`: the transcripts the caller may read, newest first, or the search results for
 * `q`, best first; both filtered by room. The query lives in the address, so a search can be
 * linked to and the room page links to its room's transcripts. */
export function TranscriptsPage() {
  const me = useMe();
  const view = viewOf(useSearch());
  const go = (next: Partial<View>) => navigate(transcriptsHref({ ...view, ...next }));
  const [draft, setDraft] = useState(view.q);
  const [draftFor, setDraftFor] = useState(view.q);
  if (draftFor !== view.q) {
    // The address changed (back, a link): the box shows its query.
    setDraftFor(view.q);
    setDraft(view.q);
  }
  const [uploading, setUploading] = useState(false);

  const listing = useQuery({
    queryKey: [TRANSCRIPTS, "listing", view.q, view.roomId, view.page],
    queryFn: async ({ signal }): Promise<Listing> => {
      const room_id = view.roomId || undefined;
      if (view.q) {
        const found = await call(
          api.GET("/v1/transcripts/search", {
            params: { query: { q: view.q, limit: PAGE_SIZE, offset: (view.page - 1) * PAGE_SIZE, room_id } },
            signal,
          }),
        );
        return { kind: "search", results: found.results, total: found.total, pages: Math.ceil(found.total / PAGE_SIZE) };
      }
      const page = await call(
        api.GET("/v1/transcripts", { params: { query: { page: view.page, size: PAGE_SIZE, room_id } }, signal }),
      );
      return { kind: "list", items: page.items, total: page.total, pages: page.pages };
    },
    // A new search or page keeps the previous results on screen until its answer arrives.
    placeholderData: keepPreviousData,
    refetchInterval: (query) => (query.state.data && anyPending(query.state.data) ? POLL_MS : false),
  });
  // The room filter's choices; without them (an anonymous visitor) the filter shows only the room
  // the address names.
  const rooms = useQuery({
    queryKey: ["rooms", "filter"],
    queryFn: ({ signal }) => call(api.GET("/v1/rooms", { params: { query: { page: 1, size: 100 } }, signal })),
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    go({ q: draft.trim(), page: 1 });
  };

  const failure = listing.error ? asApiError(listing.error) : null;
  let body;
  if (listing.isPending) body = <Loading label={view.q ? `Searching for “${view.q}”…` : "Loading transcripts…"} />;
  else if (!listing.data && failure) {
    if (failure.status === 401)
      body = (
        <ErrorState
          title="Sign in to see transcripts"
          error={failure}
          testId="not-signed-in"
          actions={me.oidc && <SignInButton primary />}
        />
      );
    else
      body = (
        <ErrorState
          title={view.q ? "The search failed" : "Could not load transcripts"}
          error={failure}
          testId="transcripts-error"
          actions={<button onClick={() => void listing.refetch()}>Try again</button>}
        />
      );
  } else if (listing.data) {
    const l = listing.data;
    const empty = l.kind === "list" ? l.items.length === 0 : l.results.length === 0;
    body = (
      <div className={listing.isPlaceholderData ? "stale" : undefined} aria-busy={listing.isPlaceholderData}>
        {failure && (
          <p className="error small" role="alert">
            Lost contact with the server: {failure.detail}
          </p>
        )}
        {l.kind === "search" && (
          <p className="muted small" data-testid="search-summary">
            {l.total} {l.total === 1 ? "transcript matches" : "transcripts match"} “{view.q}”.
          </p>
        )}
        {empty ? (
          <div className="empty" data-testid="transcripts-empty">
            {l.kind === "search" ? (
              <p>No transcript mentions “{view.q}”. Try other words, or clear the search.</p>
            ) : view.roomId ? (
              <p>This room has no transcripts yet.</p>
            ) : (
              <p>
                No transcripts yet. A recorded meeting becomes a transcript once it ends; you can also upload a
                recording made elsewhere.
              </p>
            )}
          </div>
        ) : (
          <ul className="room-list" data-testid="transcript-list">
            {l.kind === "list"
              ? l.items.map((t) => <ListItem key={t.id} t={t} />)
              : l.results.map((r) => <SearchItem key={r.id} r={r} />)}
          </ul>
        )}
        {l.pages > 1 && (
          <div className="pager">
            <button disabled={view.page <= 1} onClick={() => go({ page: view.page - 1 })}>
              Previous
            </button>
            <span>
              Page {view.page} of {l.pages} ({l.total} transcripts)
            </span>
            <button disabled={view.page >= l.pages} onClick={() => go({ page: view.page + 1 })}>
              Next
            </button>
          </div>
        )}
      </div>
    );
  }

  const roomChoices: Array<Pick<Room, "id" | "name">> = rooms.data ? [...rooms.data.items] : [];
  if (view.roomId && !roomChoices.some((r) => r.id === view.roomId)) {
    const named = listing.data
      ? (listing.data.kind === "list" ? listing.data.items : listing.data.results).find((t) => t.room_id === view.roomId)
          ?.room_name
      : undefined;
    roomChoices.unshift({ id: view.roomId, name: named ?? "this room" });
  }

  return (
    <section className="page" data-testid="transcripts-page">
      <div className="page-head">
        <h1>Transcripts</h1>
        {me.sub && (
          <button className="primary" onClick={() => setUploading(true)} data-testid="upload-open">
            Upload a recording
          </button>
        )}
      </div>
      <form className="search-bar" role="search" onSubmit={submit}>
        <input
          type="search"
          aria-label="Search transcripts"
          placeholder="Search titles, summaries and what was said"
          value={draft}
          maxLength={500}
          onChange={(e) => setDraft(e.target.value)}
        />
        <button type="submit" className="primary">
          Search
        </button>
        {view.q && (
          <button type="button" onClick={() => go({ q: "", page: 1 })}>
            Clear
          </button>
        )}
        <label className="room-filter">
          <span className="muted small">Room</span>
          <select
            aria-label="Room"
            value={view.roomId}
            onChange={(e) => go({ roomId: e.target.value, page: 1 })}
            data-testid="room-filter"
          >
            <option value="">All rooms</option>
            {roomChoices.map((r) => (
              <option key={r.id} value={r.id}>
                {r.name}
              </option>
            ))}
          </select>
        </label>
      </form>
      {body}
      {uploading && (
        <UploadDialog
          onClose={() => setUploading(false)}
          onUploaded={(id) => {
            setUploading(false);
            navigate(`/transcripts/${id}`);
          }}
        />
      )}
    </section>
  );
}

function Badges({
  status,
  roomName,
  createdAt,
  ms,
  kind,
}: {
  status: Transcript["status"];
  roomName?: string | null;
  createdAt: string;
  ms?: number | null;
  kind: Transcript["source_kind"];
}) {
  const length = duration(ms);
  return (
    <div className="badges">
      <StatusBadge status={status} />
      {roomName && <span className="badge">{roomName}</span>}
      {kind === "file" && <span className="badge">uploaded file</span>}
      <span className="badge">{when(createdAt)}</span>
      {length && <span className="badge">{length}</span>}
    </div>
  );
}

function ListItem({ t }: { t: Transcript }) {
  return (
    <li className="room-card transcript-card" data-testid={`transcript-${t.id}`}>
      <div className="room-main">
        <Link href={`/transcripts/${t.id}`} className="room-name">
          {t.title || t.name}
        </Link>
        <Badges status={t.status} roomName={t.room_name} createdAt={t.created_at} ms={t.duration} kind={t.source_kind} />
        {t.short_summary && <p className="muted small summary-line">{t.short_summary}</p>}
        {t.status === "error" && t.error && (
          <p className="error small" data-testid="list-error">
            {t.error}
          </p>
        )}
      </div>
    </li>
  );
}

function SearchItem({ r }: { r: SearchResult }) {
  return (
    <li className="room-card transcript-card" data-testid={`transcript-${r.id}`}>
      <div className="room-main">
        <Link href={`/transcripts/${r.id}`} className="room-name">
          {r.title || "Untitled transcript"}
        </Link>
        <Badges status={r.status} roomName={r.room_name} createdAt={r.created_at} ms={r.duration} kind={r.source_kind} />
        <div className="snippets" data-testid="snippets">
          {r.search_snippets.map((s, i) => (
            <Snippet key={i} text={s} />
          ))}
        </div>
        <p className="muted small">
          {r.total_match_count} {r.total_match_count === 1 ? "match" : "matches"}
        </p>
      </div>
    </li>
  );
}
