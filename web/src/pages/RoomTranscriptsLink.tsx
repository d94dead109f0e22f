import { useQuery } from "@tanstack/react-query";
import { api, call, type Room } from "../api/client";
import { TRANSCRIPTS } from "../queries";
import { Link } from "../router";
import { transcriptsHref } from "./TranscriptsPage";

/** After a meeting ends, how often its page asks whether the room has a transcript yet. */
const WATCH_MS = 5000;

/** A link to the room's transcripts, shown once the room has one (the list's room filter; a
 * caller who may not read them sees none, and no link). With `watch` (the meeting has ended, its
 * recording is on its way) it asks again until one appears. */
export function RoomTranscriptsLink({ room, watch = false }: { room: Room; watch?: boolean }) {
  const found = useQuery({
    queryKey: [TRANSCRIPTS, "room-count", room.id],
    queryFn: ({ signal }) =>
      call(api.GET("/v1/transcripts", { params: { query: { room_id: room.id, page: 1, size: 1 } }, signal })),
    refetchInterval: (query) => (watch && query.state.data?.total === 0 ? WATCH_MS : false),
  });
  const n = found.data?.total ?? 0;
  if (n === 0) return null;
  return (
    <Link href={transcriptsHref({ roomId: room.id })} className="button" data-testid="room-transcripts">
      {n === 1 ? "1 transcript" : `${n} transcripts`}
    </Link>
  );
}
