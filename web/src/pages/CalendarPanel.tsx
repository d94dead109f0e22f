import { useState } from "react";
import { api, call, ApiError, type Room, type SyncResult } from "../api/client";
import { asApiError, useLoad } from "../hooks";

const when = (t: string | null | undefined) => (t ? new Date(t).toLocaleString() : "never");

/** "Sync now" with its result, and the last sync's time and error (owner only). */
export function CalendarPanel({ room, dirty }: { room: Room; dirty: boolean }) {
  const [syncing, setSyncing] = useState(false);
  const [result, setResult] = useState<SyncResult | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const status = useLoad(
    () => call(api.GET("/v1/rooms/{room_name}/ics/status", { params: { path: { room_name: room.name } } })),
    `ics-status:${room.id}`,
  );
  const configured = room.ics_enabled && !!room.ics_url;

  const sync = async () => {
    setSyncing(true);
    setError(null);
    setResult(null);
    try {
      setResult(await call(api.POST("/v1/rooms/{room_name}/ics/sync", { params: { path: { room_name: room.name } } })));
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setSyncing(false);
      status.reload();
    }
  };

  return (
    <div className="calendar-panel">
      <div className="row-inline">
        <button type="button" onClick={sync} disabled={syncing || !configured}>
          {syncing ? "Syncing…" : "Sync now"}
        </button>
        {!configured && <span className="muted small">Set an ICS URL, follow the calendar, and save first.</span>}
        {configured && dirty && <span className="muted small">Syncs use the saved URL; save first.</span>}
      </div>
      {result && (
        <div
          className={result.status === "error" ? "result result-bad" : "result result-ok"}
          data-testid="sync-result"
          role="status"
        >
          <strong>{syncLabel(result)}</strong>
          {result.status === "success" && (
            <>
              {" "}
              · {result.events_found} {result.events_found === 1 ? "event" : "events"} for this room (of{" "}
              {result.total_events} in the feed) · {result.events_created} new, {result.events_updated} changed,{" "}
              {result.events_deleted} removed
            </>
          )}
          {result.error && <div className="small">{result.error}</div>}
        </div>
      )}
      {error && (
        <p className="error" role="alert">
          {error.detail}
        </p>
      )}
      {status.state === "ready" && (
        <dl className="sync-status small" data-testid="sync-status">
          <dt>Last synced</dt>
          <dd data-testid="last-sync">{when(status.data.last_sync)}</dd>
          {status.data.next_sync && (
            <>
              <dt>Next sync</dt>
              <dd>{when(status.data.next_sync)}</dd>
            </>
          )}
          <dt>Events stored</dt>
          <dd>{status.data.events_count}</dd>
          {status.data.last_error && (
            <>
              <dt>Last error</dt>
              <dd className="error" data-testid="last-error">
                {status.data.last_error} ({when(status.data.last_attempt)})
              </dd>
            </>
          )}
        </dl>
      )}
      {status.state === "error" && <p className="error small">{status.error.detail}</p>}
    </div>
  );
}

function syncLabel(r: SyncResult): string {
  switch (r.status) {
    case "success":
      return "Synced";
    case "unchanged":
      return "Unchanged since the last sync";
    case "skipped":
      return "Skipped";
    default:
      return "Sync failed";
  }
}
