import type { Meeting, Room } from "../api/client";

/** What the room page hands a provider's call component. */
export interface ProviderProps {
  /** The meeting as returned by the join endpoint: `room_url` carries this caller's token. */
  meeting: Meeting;
  room: Room;
  isOwner: boolean;
  /** The person left the call from inside the provider's UI. */
  onLeave: () => void;
  /** What the provider reports about recording, for the indicator ("recording", "stopped"…). */
  onRecordingStatus: (status: string) => void;
}
