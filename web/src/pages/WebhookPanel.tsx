import { useState } from "react";
import { api, call, ApiError, type Room, type WebhookTestResult } from "../api/client";
import { asApiError, useLoad } from "../hooks";

/** "Test webhook" and the room's recent delivery attempts (owner only). */
export function WebhookPanel({ room, dirty }: { room: Room; dirty: boolean }) {
  const [testing, setTesting] = useState(false);
  const [result, setResult] = useState<WebhookTestResult | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const deliveries = useLoad(
    () => call(api.GET("/v1/rooms/{room_id}/webhook/deliveries", { params: { path: { room_id: room.id } } })),
    `deliveries:${room.id}`,
  );

  const test = async () => {
    setTesting(true);
    setError(null);
    setResult(null);
    try {
      setResult(await call(api.POST("/v1/rooms/{room_id}/webhook/test", { params: { path: { room_id: room.id } } })));
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setTesting(false);
      deliveries.reload();
    }
  };

  return (
    <div className="webhook-panel">
      <div className="row-inline">
        <button type="button" onClick={test} disabled={testing || !room.webhook_url}>
          {testing ? "Sending…" : "Test webhook"}
        </button>
        {!room.webhook_url && <span className="muted small">Set and save a webhook URL first.</span>}
        {room.webhook_url && dirty && <span className="muted small">Tests use the saved URL and secret; save first.</span>}
      </div>
      {result && (
        <div className={result.success ? "result result-ok" : "result result-bad"} data-testid="webhook-result" role="status">
          <strong>{result.success ? "Delivered" : "Failed"}</strong>
          {result.status_code != null && <> · HTTP {result.status_code}</>} · {result.message}
          {result.error && <div className="small">{result.error}</div>}
          {result.response_preview && <pre className="preview">{result.response_preview}</pre>}
        </div>
      )}
      {error && (
        <p className="error" role="alert">
          {error.detail}
        </p>
      )}
      <h3>Recent deliveries</h3>
      {deliveries.state === "loading" && <p className="muted small">Loading…</p>}
      {deliveries.state === "error" && <p className="error">{deliveries.error.detail}</p>}
      {deliveries.state === "ready" &&
        (deliveries.data.length === 0 ? (
          <p className="muted small">No deliveries yet.</p>
        ) : (
          <table className="deliveries" data-testid="deliveries">
            <thead>
              <tr>
                <th>When</th>
                <th>Event</th>
                <th>Attempt</th>
                <th>Result</th>
              </tr>
            </thead>
            <tbody>
              {deliveries.data.map((d) => (
                <tr key={d.id}>
                  <td>{new Date(d.attempted_at).toLocaleString()}</td>
                  <td>{d.event}</td>
                  <td>{d.attempt + 1}</td>
                  <td>
                    {d.delivered_at ? "delivered" : d.error ? "failed" : "pending"}
                    {d.status_code != null && ` · HTTP ${d.status_code}`}
                    {d.error && <div className="small muted">{d.error}</div>}
                    {d.next_attempt_at && !d.delivered_at && (
                      <div className="small muted">retry at {new Date(d.next_attempt_at).toLocaleString()}</div>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
    </div>
  );
}
