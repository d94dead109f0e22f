import { useMemo } from "react";
import { QueryClientProvider } from "@tanstack/react-query";
import { useAuth } from "./auth";
import { newQueryClient } from "./queries";
import { useLoad } from "./hooks";
import { loadMe, MeProvider } from "./me";
import { Link, match, usePath } from "./router";
import { RoomsPage } from "./pages/RoomsPage";
import { RoomFormPage } from "./pages/RoomFormPage";
import { RoomPage } from "./pages/RoomPage";
import { TranscriptsPage } from "./pages/TranscriptsPage";
import { TranscriptPage } from "./pages/TranscriptPage";
import { SignedOut, SignInCallback } from "./pages/SignInCallback";
import { ErrorState, Loading } from "./components/States";
import { ErrorBoundary } from "./components/ErrorBoundary";
import { SignInButton, SignOutButton } from "./components/SignIn";

export function App() {
  const path = usePath();
  const route = match(path);
  const auth = useAuth();
  // Loaded again whenever sign-in changes, and with it every page below (they load in `body`).
  const me = useLoad(loadMe, `me:${auth.version}`);
  // A fresh cache for each signed-in user (see queries.ts).
  const queries = useMemo(() => newQueryClient(), [auth.version]); // eslint-disable-line react-hooks/exhaustive-deps
  const inRoom = route.page === "room";

  let body;
  if (me.state === "loading") body = <Loading label="Connecting to Reflector…" />;
  else if (me.state === "error")
    body = (
      <ErrorState
        title="Reflector is not answering"
        error={me.error}
        actions={<button onClick={me.reload}>Try again</button>}
      />
    );
  else
    body = (
      <MeProvider me={me.data}>
        <QueryClientProvider client={queries}>
        <ErrorBoundary key={path} title="This page failed">
        {route.page === "rooms" && <RoomsPage />}
        {route.page === "new-room" && <RoomFormPage />}
        {route.page === "edit-room" && <RoomFormPage roomId={route.roomId} />}
        {route.page === "room" && <RoomPage key={path} roomName={route.roomName} meetingId={route.meetingId} />}
        {route.page === "transcripts" && <TranscriptsPage />}
        {route.page === "transcript" && <TranscriptPage key={route.transcriptId} transcriptId={route.transcriptId} />}
        {route.page === "sign-in-callback" && <SignInCallback />}
        {route.page === "signed-out" && <SignedOut />}
        {route.page === "not-found" && (
          <ErrorState title="Page not found" testId="page-not-found">
            <p>There is no page at {path}.</p>
          </ErrorState>
        )}
        </ErrorBoundary>
        </QueryClientProvider>
      </MeProvider>
    );

  return (
    <div className={inRoom ? "app app-room" : "app"}>
      <header className="topbar">
        <Link href="/rooms" className="brand">
          <svg viewBox="0 0 32 32" width="22" height="22" aria-hidden="true">
            <rect width="32" height="32" rx="7" fill="#2457d6" />
            <circle cx="16" cy="16" r="7" fill="none" stroke="#fff" strokeWidth="3" />
          </svg>
          Reflector
        </Link>
        <nav>
          <Link href="/rooms" aria-current={route.page === "rooms" ? "page" : undefined}>
            Rooms
          </Link>
          <Link
            href="/transcripts"
            aria-current={route.page === "transcripts" || route.page === "transcript" ? "page" : undefined}
          >
            Transcripts
          </Link>
        </nav>
        <span className="who" data-testid="who" title={me.state === "ready" ? (me.data.sub ?? undefined) : undefined}>
          {me.state === "ready" &&
            (me.data.sub
              ? me.data.auth_backend === "none"
                ? "Single-user mode (local)"
                : `Signed in as ${auth.name ?? me.data.sub}`
              : "Not signed in")}
        </span>
        {me.state === "ready" && route.page !== "sign-in-callback" && route.page !== "signed-out" && (
          <MeProvider me={me.data}>
            {me.data.sub ? me.data.auth_backend === "jwt" && <SignOutButton /> : <SignInButton />}
          </MeProvider>
        )}
      </header>
      {me.state === "ready" && !me.data.sub && auth.notice && (
        <p className="notice auth-notice" role="status" data-testid="auth-notice">
          {auth.notice}
        </p>
      )}
      <main className={inRoom ? "main main-room" : "main"}>{body}</main>
    </div>
  );
}
