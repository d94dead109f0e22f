// The room-name rules of SPEC §2, shown while typing. The server checks them again and its
// answer wins; this list mirrors reflector_core::RESERVED_ROOM_NAMES.
export const RESERVED = [
  "rooms", "transcripts", "browse", "api", "v1", "health", "settings", "mock-video",
  "metrics", "openapi.json", "assets", "login", "logout", "auth", "name",
];
export const MAX_LEN = 64;

export function roomNameProblem(name: string): string | null {
  if (name.length === 0) return "Required: 1–64 characters.";
  if (name.length > MAX_LEN) return `Too long: ${name.length} of at most ${MAX_LEN} characters.`;
  const bad = [...name].find((c) => !/[a-z0-9-]/.test(c));
  if (bad !== undefined) {
    return `“${bad}” is not allowed: use lowercase letters a–z, digits 0–9 and “-”.`;
  }
  if (RESERVED.includes(name)) return `“${name}” is reserved for a page of Reflector; choose another.`;
  return null;
}
