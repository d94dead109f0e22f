import { createContext, useContext } from "react";
import { api, call, type Me } from "./api/client";
import { restore, useAuth } from "./auth";
import { useLoad } from "./hooks";
import { Link, match, usePath } from "./router";
import { RoomsPage } from "./pages/RoomsPage";
import { RoomFormPage } from "./pages/RoomFormPage";
import { RoomPage } from "./pages/RoomPage";
import { SignedOut, SignInCallback } from "./pages/SignInCallback";
import { ErrorState, Loading } from "./components/States";
import { ErrorBoundary } from "./components/ErrorBoundary";
import { SignInButton, SignOutButton } from "./components/SignIn";

/** Who this browser acts as: the local user with AUTH_BACKEND=none, else a JWT's subject or
 * nobody (room pages stay usable anonymously). */
const MeContext = createContext<Me>({ sub: null, auth_backend: "none", oidc: null });
export const useMe = () => useContext(MeContext);

/** Asks the server who we are. The first answer also says where to sign in; with that, a sign-in
 * kept from earlier in this tab is taken up and the server asked again with its token. */
async function loadMe(): Promise<Me> {
  const me = await call(api.GET("/v1/me"));
  if (me.sub || !me.oidc) return me;
  return (await restore(me.oidc)) ? call(api.GET("/v1/me")) : me;
}

export function App() {
  const path = usePath();
  const route = match(path);
  const auth = useAuth();
  // Loaded again whenever sign-in changes, and with it every page below (they load in `body`).
  const me = useLoad(loadMe, `me:${auth.version}`);
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
      <MeContext.Provider value={me.data}>
        <ErrorBoundary key={path} title="This page failed">
        {route.page === "rooms" && <RoomsPage />}
        {route.page === "new-room" && <RoomFormPage />}
        {route.page === "edit-room" && <RoomFormPage roomId={route.roomId} />}
        {route.page === "room" && <RoomPage key={path} roomName={route.roomName} meetingId={route.meetingId} />}
        {route.page === "sign-in-callback" && <SignInCallback />}
        {route.page === "signed-out" && <SignedOut />}
        {route.page === "not-found" && (
          <ErrorState title="Page not found" testId="page-not-found">
            <p>There is no page at {path}.</p>
          </ErrorState>
        )}
        </ErrorBoundary>
      </MeContext.Provider>
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
          <Link href="/rooms">Rooms</Link>
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
          <MeContext.Provider value={me.data}>
            {me.data.sub ? me.data.auth_backend === "jwt" && <SignOutButton /> : <SignInButton />}
          </MeContext.Provider>
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
