import type { ProviderProps } from "./types";

/** The mock provider's call page, served by our own server at /mock-video/{room}: people join
 * and leave there under a name, which counts as presence like a real provider's call. */
export default function MockRoom({ meeting, isOwner }: ProviderProps) {
  const url = isOwner && meeting.host_room_url ? meeting.host_room_url : meeting.room_url;
  return <iframe className="call-frame" src={url} title="Mock call" data-testid="mock-frame" />;
}
