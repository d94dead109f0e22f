import { useCallback, useEffect, useState } from "react";
import { ApiError } from "../api/client";

export type Loaded<T> =
  | { state: "loading" }
  | { state: "error"; error: ApiError }
  | { state: "ready"; data: T };

function asApiError(e: unknown): ApiError {
  return e instanceof ApiError ? e : new ApiError(0, e instanceof Error ? e.message : String(e));
}

/** Runs `load` when `key` changes; `reload` runs it again. A stale answer is dropped. */
export function useLoad<T>(load: () => Promise<T>, key: string): Loaded<T> & { reload: () => void } {
  const [result, setResult] = useState<{ key: string; value: Loaded<T> }>({ key, value: { state: "loading" } });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let current = true;
    load().then(
      (data) => current && setResult({ key, value: { state: "ready", data } }),
      (e: unknown) => current && setResult({ key, value: { state: "error", error: asApiError(e) } }),
    );
    return () => {
      current = false;
    };
    // `load` is a fresh closure each render; `key` names what it loads.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, generation]);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  const value: Loaded<T> = result.key === key ? result.value : { state: "loading" };
  return { ...value, reload };
}

export { asApiError };
