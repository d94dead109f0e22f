import { createContext, useContext } from "react";
import { api, call, type Me } from "./api/client";
import { useLoad } from "./hooks";
import { Link, match, usePath } from "./router";
import { RoomsPage } from "./pages/RoomsPage";
import { RoomFormPage } from "./pages/RoomFormPage";
import { RoomPage } from "./pages/RoomPage";
import { ErrorState, Loading } from "./components/States";

/** Who this browser acts as: the local user with AUTH_BACKEND=none, else a JWT's subject or
 * nobody (room pages stay usable anonymously). */
const MeContext = createContext<Me>({ sub: null, auth_backend: "none" });
export const useMe = () => useContext(MeContext);

export function App() {
  const path = usePath();
  const route = match(path);
  const me = useLoad(() => call(api.GET("/v1/me")), "me");
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
        {route.page === "rooms" && <RoomsPage />}
        {route.page === "new-room" && <RoomFormPage />}
        {route.page === "edit-room" && <RoomFormPage roomId={route.roomId} />}
        {route.page === "room" && <RoomPage key={path} roomName={route.roomName} meetingId={route.meetingId} />}
        {route.page === "not-found" && (
          <ErrorState title="Page not found" testId="page-not-found">
            <p>There is no page at {path}.</p>
          </ErrorState>
        )}
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
        <span className="who" data-testid="who">
          {me.state === "ready" &&
            (me.data.sub
              ? me.data.auth_backend === "none"
                ? "Single-user mode (local)"
                : `Signed in as ${me.data.sub}`
              : "Not signed in")}
        </span>
      </header>
      <main className={inRoom ? "main main-room" : "main"}>{body}</main>
    </div>
  );
}
