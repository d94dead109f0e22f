// What this browser remembers: an anonymous participant token (so an anonymous participant can
// change a consent answer) and the consent answer given per meeting.
import { v4 as uuidv4 } from "uuid";

const TOKEN_KEY = "reflector:participant-token";
const consentKey = (meetingId: string) => `reflector:consent:${meetingId}`;

function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null; // storage disabled: answers last for this page only
  }
}

export function participantToken(): string {
  const s = storage();
  const existing = s?.getItem(TOKEN_KEY);
  if (existing) return existing;
  const token = uuidv4();
  s?.setItem(TOKEN_KEY, token);
  return token;
}

export type ConsentAnswer = "given" | "declined";

export function storedConsent(meetingId: string): ConsentAnswer | null {
  const v = storage()?.getItem(consentKey(meetingId));
  return v === "given" || v === "declined" ? v : null;
}

export function storeConsent(meetingId: string, answer: ConsentAnswer) {
  storage()?.setItem(consentKey(meetingId), answer);
}
