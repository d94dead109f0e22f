// Small pieces the transcript pages share: the status badge, times and durations, and search
// snippets with their matches highlighted.
import type { ReactNode } from "react";
import type { TranscriptStatus } from "../api/client";

/** Still on its way to `ended` or `error`: the pages ask again until it gets there. */
export const isPending = (status: TranscriptStatus) =>
  status === "idle" || status === "uploaded" || status === "processing";

const LABELS: Record<TranscriptStatus, string> = {
  idle: "Queued",
  uploaded: "Uploaded",
  processing: "Processing",
  ended: "Ready",
  error: "Failed",
};

export function StatusBadge({ status }: { status: TranscriptStatus }) {
  return (
    <span className={`badge status status-${status}`} data-testid="status" data-status={status}>
      {status === "processing" && <span className="spinner spinner-small" aria-hidden="true" />}
      {LABELS[status] ?? status}
    </span>
  );
}

/** `m:ss`, or `h:mm:ss` from an hour on. */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** A duration in milliseconds, for people: `42 s`, `12 min`, `1 h 5 min`. */
export function duration(ms: number | null | undefined): string | null {
  if (ms == null || !Number.isFinite(ms)) return null;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const min = Math.round(s / 60);
  if (min < 60) return `${min} min`;
  return `${Math.floor(min / 60)} h ${min % 60} min`;
}

export const when = (iso: string) =>
  new Date(iso).toLocaleString([], { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });

/** A search snippet: the server wraps matched words in `<mark>`…`</mark>` and leaves the rest as
 * the transcript's raw text. It is split on those two markers and every piece rendered as text,
 * so nothing the server sends is ever parsed as HTML. */
export function Snippet({ text }: { text: string }) {
  const out: ReactNode[] = [];
  let marked = false;
  text.split(/(<mark>|<\/mark>)/).forEach((part, i) => {
    if (part === "<mark>") marked = true;
    else if (part === "</mark>") marked = false;
    else if (part) out.push(marked ? <mark key={i}>{part}</mark> : part);
  });
  return <p className="snippet">{out}</p>;
}
