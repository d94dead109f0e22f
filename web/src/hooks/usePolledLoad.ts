import { useCallback, useEffect, useRef, useState } from "react";
import type { ApiError } from "../api/client";
import { asApiError, type Loaded } from "./index";

export type Polled<T> = Loaded<T> & {
  /** Loads again at once (after an action that changed what is shown). */
  reload: () => void;
  /** The last poll failed (the page keeps showing what it had, and keeps asking). */
  pollError: ApiError | null;
};

/** Loads when `key` changes, then loads again every `everyMs` for as long as `again(data)` holds
 * (a transcript being processed, a list with one): one request at a time, none while the tab is
 * hidden (it asks at once when shown again). A failed poll keeps the last answer on screen and
 * says so in `pollError`; only a failed first load is an error state. */
export function usePolledLoad<T>(
  load: (signal: AbortSignal) => Promise<T>,
  key: string,
  again: (data: T) => boolean,
  everyMs: number,
): Polled<T> {
  const [result, setResult] = useState<{ key: string; value: Loaded<T>; pollError: ApiError | null }>({
    key,
    value: { state: "loading" },
    pollError: null,
  });
  const [generation, setGeneration] = useState(0);
  // What this key last showed, so a failure after an answer is a poll error, not an error state.
  const shown = useRef<{ key: string; ready: boolean }>({ key, ready: false });
  const latest = useRef({ load, again });
  useEffect(() => {
    latest.current = { load, again };
  });

  useEffect(() => {
    if (shown.current.key !== key) shown.current = { key, ready: false };
    let stopped = false;
    let timer: number | undefined;
    let inFlight = false;
    // Whether the last answer asked for another (a failed poll does).
    let wanted = true;
    const controller = new AbortController();
    const schedule = () => {
      if (!stopped && !document.hidden) timer = window.setTimeout(run, everyMs);
    };
    const run = async () => {
      timer = undefined;
      inFlight = true;
      try {
        const data = await latest.current.load(controller.signal);
        if (stopped) return;
        shown.current.ready = true;
        setResult({ key, value: { state: "ready", data }, pollError: null });
        wanted = latest.current.again(data);
      } catch (e) {
        if (stopped) return;
        const error = asApiError(e);
        if (shown.current.ready) setResult((r) => ({ ...r, pollError: error }));
        else setResult({ key, value: { state: "error", error }, pollError: null });
        wanted = shown.current.ready;
      } finally {
        inFlight = false;
      }
      if (wanted) schedule();
    };
    const onVisibility = () => {
      if (!document.hidden && wanted && timer === undefined && !inFlight) {
        void run(); // back in view: catch up at once
      } else if (document.hidden) {
        window.clearTimeout(timer);
        timer = undefined;
      }
    };
    document.addEventListener("visibilitychange", onVisibility);
    void run();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
      controller.abort();
      document.removeEventListener("visibilitychange", onVisibility);
    };
  }, [key, generation, everyMs]);

  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  const value: Loaded<T> = result.key === key ? result.value : { state: "loading" };
  return { ...value, reload, pollError: result.key === key ? result.pollError : null };
}
