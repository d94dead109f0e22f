import { useState } from "react";
import { api, call, type Room } from "../api/client";
import { useMe } from "../me";
import { useLoad } from "../hooks";
import { Link, navigate } from "../router";
import { ConfirmDelete, ErrorState, Loading } from "../components/States";
import { SignInButton } from "../components/SignIn";

const PAGE_SIZE = 20;

export function roomLink(name: string) {
  return `${window.location.origin}/${name}`;
}

export function RoomsPage() {
  const me = useMe();
  const [page, setPage] = useState(1);
  const rooms = useLoad(
    () => call(api.GET("/v1/rooms", { params: { query: { page, size: PAGE_SIZE } } })),
    `rooms:${page}`,
  );
  const [deleting, setDeleting] = useState<Room | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  if (rooms.state === "loading") return <Loading label="Loading rooms…" />;
  if (rooms.state === "error") {
    if (rooms.error.status === 401)
      return (
        <ErrorState
          title="Sign in to see your rooms"
          error={rooms.error}
          testId="not-signed-in"
          actions={me.oidc && <SignInButton primary />}
        >
          <p>
            This server needs a signed-in user to list rooms. Room pages (a link such as /team-standup) work without
            signing in.
          </p>
          {!me.oidc && (
            <p className="muted small">
              Signing in from this page needs OIDC_ISSUER and OIDC_CLIENT_ID on the server; the API accepts a bearer
              JWT or an API key.
            </p>
          )}
        </ErrorState>
      );
    return (
      <ErrorState
        title="Could not load rooms"
        error={rooms.error}
        actions={<button onClick={rooms.reload}>Try again</button>}
      />
    );
  }
  const { items, total, pages } = rooms.data;

  const copy = async (room: Room) => {
    const link = roomLink(room.name);
    try {
      await navigator.clipboard.writeText(link);
      setNotice(`Copied ${link}`);
    } catch {
      setNotice(`Copy this link: ${link}`);
    }
  };

  return (
    <section className="page">
      <div className="page-head">
        <h1>Rooms</h1>
        {me.sub && (
          <Link href="/rooms/new" className="button primary">
            New room
          </Link>
        )}
      </div>
      {notice && (
        <p className="notice" role="status" data-testid="notice">
          {notice}
        </p>
      )}
      {items.length === 0 ? (
        <div className="empty">
          <p>No rooms yet. A room is a stable link, such as /team-standup, where meetings happen.</p>
          {me.sub && (
            <Link href="/rooms/new" className="button primary">
              Create your first room
            </Link>
          )}
        </div>
      ) : (
        <ul className="room-list" data-testid="room-list">
          {items.map((room) => {
            const own = room.user_id === me.sub;
            return (
              <li key={room.id} className="room-card" data-testid={`room-${room.name}`}>
                <div className="room-main">
                  <Link href={`/${room.name}`} className="room-name">
                    {room.name}
                  </Link>
                  <div className="badges">
                    <span className="badge">{room.platform}</span>
                    <span className="badge">
                      {room.recording_type === "none" ? "not recorded" : `${room.recording_type} recording`}
                    </span>
                    {room.is_locked && <span className="badge">locked</span>}
                    {room.is_shared && <span className="badge">shared</span>}
                    {room.room_mode === "group" && <span className="badge">group</span>}
                    {room.ics_enabled && <span className="badge">calendar</span>}
                    {!own && <span className="badge muted">owner: {room.user_id}</span>}
                  </div>
                </div>
                <div className="room-actions">
                  <button onClick={() => navigate(`/${room.name}`)} className="primary">
                    Open
                  </button>
                  <button onClick={() => copy(room)}>Copy link</button>
                  {own && <button onClick={() => navigate(`/rooms/${room.id}`)}>Edit</button>}
                  {own && (
                    <button className="danger" onClick={() => setDeleting(room)}>
                      Delete
                    </button>
                  )}
                </div>
              </li>
            );
          })}
        </ul>
      )}
      {pages > 1 && (
        <div className="pager">
          <button disabled={page <= 1} onClick={() => setPage(page - 1)}>
            Previous
          </button>
          <span>
            Page {page} of {pages} ({total} rooms)
          </span>
          <button disabled={page >= pages} onClick={() => setPage(page + 1)}>
            Next
          </button>
        </div>
      )}
      {deleting && (
        <DeleteDialog
          room={deleting}
          onClose={() => setDeleting(null)}
          onDeleted={() => {
            setDeleting(null);
            setNotice(`Deleted ${deleting.name}`);
            rooms.reload();
          }}
        />
      )}
    </section>
  );
}

function DeleteDialog({ room, onClose, onDeleted }: { room: Room; onClose: () => void; onDeleted: () => void }) {
  return (
    <ConfirmDelete
      title={`Delete ${room.name}?`}
      action="Delete room"
      remove={() => call(api.DELETE("/v1/rooms/{room_id}", { params: { path: { room_id: room.id } } }))}
      onClose={onClose}
      onDeleted={onDeleted}
    >
      <p>
        The room, its meetings and their history are deleted. Its link /{room.name} stops working. This cannot be
        undone.
      </p>
    </ConfirmDelete>
  );
}
