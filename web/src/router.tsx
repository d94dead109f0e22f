// A small router over the History API. The app has nine routes and no nested layouts or data
// loaders, so a library router would add a dependency and its weight to every page for nothing
// we use; this file is the whole routing code.
import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from "react";

const listeners = new Set<() => void>();

function subscribe(listener: () => void) {
  listeners.add(listener);
  window.addEventListener("popstate", listener);
  return () => {
    listeners.delete(listener);
    window.removeEventListener("popstate", listener);
  };
}

export function navigate(to: string, { replace = false } = {}) {
  if (replace) window.history.replaceState(null, "", to);
  else window.history.pushState(null, "", to);
  window.scrollTo(0, 0);
  listeners.forEach((l) => l());
}

export function usePath(): string {
  return useSyncExternalStore(subscribe, () => window.location.pathname);
}

/** The address's query string (`?room_id=…`), for pages whose state lives in it. */
export function useSearch(): string {
  return useSyncExternalStore(subscribe, () => window.location.search);
}

export type Route =
  | { page: "rooms" }
  | { page: "new-room" }
  | { page: "edit-room"; roomId: string }
  | { page: "room"; roomName: string; meetingId?: string }
  | { page: "transcripts" }
  | { page: "transcript"; transcriptId: string }
  | { page: "sign-in-callback" }
  | { page: "signed-out" }
  | { page: "not-found" };

/** Room names cannot be `rooms`, `transcripts` or `auth` (reserved), so `/rooms/…`,
 * `/transcripts/…` and `/auth/…` never shadow a room. */
export function match(path: string): Route {
  let parts: string[];
  try {
    parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  } catch {
    return { page: "not-found" }; // a malformed percent-encoding names no page
  }
  if (parts.length === 2 && parts[0] === "auth" && parts[1] === "callback") return { page: "sign-in-callback" };
  if (parts.length === 2 && parts[0] === "auth" && parts[1] === "signed-out") return { page: "signed-out" };
  if (parts.length === 0 || (parts.length === 1 && parts[0] === "rooms")) return { page: "rooms" };
  if (parts[0] === "rooms") {
    if (parts.length === 2 && parts[1] === "new") return { page: "new-room" };
    if (parts.length === 2 && parts[1]) return { page: "edit-room", roomId: parts[1] };
    return { page: "not-found" };
  }
  if (parts[0] === "transcripts") {
    if (parts.length === 1) return { page: "transcripts" };
    if (parts.length === 2 && parts[1]) return { page: "transcript", transcriptId: parts[1] };
    return { page: "not-found" };
  }
  if (parts.length === 1 && parts[0]) return { page: "room", roomName: parts[0] };
  if (parts.length === 2 && parts[0] && parts[1]) {
    return { page: "room", roomName: parts[0], meetingId: parts[1] };
  }
  return { page: "not-found" };
}

export function Link({ href, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const handle = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
  };
  return <a href={href} onClick={handle} {...rest} />;
}
