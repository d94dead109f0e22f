// A fake OpenAI-compatible transcription and chat server (node http on 127.0.0.1) for the
// transcript pages: the server's pipeline runs against it (TRANSCRIPT_BACKEND=openai,
// LLM_URL). Like crates/testing/src/transcription.rs's FakeWhisper it takes the exact multipart
// request (`file`, `model`, `language`, `response_format=verbose_json`,
// `timestamp_granularities[]=word`), reads the 16-bit PCM WAV it is sent and finds its voiced
// stretch, and "transcribes" deterministically by spreading a script's words over it. The mock
// provider records each participant as a tone of its own pitch (220 Hz for the first, 440 Hz for
// the second…), so the script is chosen by the tone's pitch: each speaker says their own words.
import { createServer, type IncomingMessage, type Server } from "node:http";

export interface TranscriptionRequest {
  path: string;
  authorization: string | null;
  fields: Record<string, string>;
  /** The audio's pitch (Hz, from zero crossings) and voiced span (seconds). */
  hz: number;
  voiced: [number, number];
  fileName: string | null;
}

interface Script {
  hz: number;
  text: string;
  /** Which part of the voiced stretch the words take, as fractions of it. */
  window: [number, number];
}

export interface FakeTranscription {
  url: string;
  requests: TranscriptionRequest[];
  /** Chat requests' user messages (the timestamped text the summariser was given). */
  prompts: string[];
  /** What a tone of about `hz` says, within `window` of its voiced stretch. */
  say: (hz: number, text: string, window?: [number, number]) => void;
  /** Forgets every script (then a tone says "hello world"). */
  reset: () => void;
  /** The chat answer (the summary JSON) for a prompt; null: answer 500. */
  summary: ((prompt: string) => unknown) | null;
  /** The next transcription answers fail with this status and body, in order. */
  failNext: (status: number, body: string) => void;
  /** Transcription requests wait until the returned function is called. */
  hold: () => () => void;
  close: () => Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

interface Part {
  name: string;
  fileName: string | null;
  data: Buffer;
}

/** Splits a multipart/form-data body into its parts. */
function multipart(body: Buffer, contentType: string): Part[] {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType);
  if (!boundary) return [];
  const delimiter = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  const parts: Part[] = [];
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === "--") break;
    const next = body.indexOf(delimiter, start);
    if (next < 0) break;
    const raw = body.subarray(start + 2, next - 2); // after CRLF, before CRLF
    const split = raw.indexOf("\r\n\r\n");
    const headers = raw.subarray(0, split).toString();
    const name = /name="([^"]*)"/.exec(headers)?.[1] ?? "";
    const fileName = /filename="([^"]*)"/.exec(headers)?.[1] ?? null;
    parts.push({ name, fileName, data: raw.subarray(split + 4) });
    at = next;
  }
  return parts;
}

/** The samples of a 16-bit PCM WAV (first channel) and its rate. */
function wavSamples(bytes: Buffer): { rate: number; samples: Int16Array } | null {
  if (bytes.length < 12 || bytes.toString("ascii", 0, 4) !== "RIFF" || bytes.toString("ascii", 8, 12) !== "WAVE")
    return null;
  let at = 12;
  let rate = 16000;
  let channels = 1;
  while (at + 8 <= bytes.length) {
    const id = bytes.toString("ascii", at, at + 4);
    const len = bytes.readUInt32LE(at + 4);
    const body = at + 8;
    if (id === "fmt ") {
      channels = bytes.readUInt16LE(body + 2);
      rate = bytes.readUInt32LE(body + 4);
    }
    if (id === "data") {
      // ffmpeg writing to a pipe leaves the length unset (0 or 0xFFFFFFFF).
      const end = len === 0 || body + len > bytes.length ? bytes.length : body + len;
      const frames = Math.floor((end - body) / (2 * Math.max(1, channels)));
      const samples = new Int16Array(frames);
      for (let i = 0; i < frames; i++) samples[i] = bytes.readInt16LE(body + i * 2 * Math.max(1, channels));
      return { rate, samples };
    }
    at = body + len + (len & 1);
  }
  return null;
}

/** The first and last loud instants (seconds) and the pitch between them. */
function analyse(wav: { rate: number; samples: Int16Array }): { voiced: [number, number]; hz: number } {
  const THRESHOLD = 800;
  const { rate, samples } = wav;
  let first = -1;
  let last = -1;
  for (let i = 0; i < samples.length; i++) {
    if (Math.abs(samples[i] ?? 0) > THRESHOLD) {
      if (first < 0) first = i;
      last = i;
    }
  }
  if (first < 0 || last <= first) return { voiced: [0, 0], hz: 0 };
  let crossings = 0;
  for (let i = first + 1; i <= last; i++) {
    if ((samples[i - 1] ?? 0) < 0 !== (samples[i] ?? 0) < 0) crossings++;
  }
  const seconds = (last - first) / rate;
  return { voiced: [first / rate, last / rate], hz: crossings / 2 / seconds };
}

const round = (x: number) => Math.round(x * 1000) / 1000;

export async function startFakeTranscription(): Promise<FakeTranscription> {
  const scripts: Script[] = [];
  const failures: Array<[number, string]> = [];
  let held: Promise<void> | null = null;
  const fake: FakeTranscription = {
    url: "",
    requests: [],
    prompts: [],
    say: (hz, text, window = [0, 1]) => void scripts.push({ hz, text, window }),
    reset: () => void scripts.splice(0),
    summary: null,
    failNext: (status, body) => void failures.push([status, body]),
    hold: () => {
      let release = () => undefined as void;
      held = new Promise<void>((ok) => (release = ok));
      return () => {
        held = null;
        release();
      };
    },
    close: async () => undefined,
  };
  const server: Server = createServer(async (req, res) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const body = await readBody(req);
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(value));
    };
    if (req.method === "POST" && path === "/v1/audio/transcriptions") {
      const parts = multipart(body, req.headers["content-type"] ?? "");
      const fields: Record<string, string> = {};
      let audio: Part | undefined;
      for (const p of parts) {
        if (p.name === "file") audio = p;
        else fields[p.name] = p.data.toString("utf8");
      }
      const wav = audio ? wavSamples(audio.data) : null;
      const { voiced, hz } = wav ? analyse(wav) : { voiced: [0, 0] as [number, number], hz: 0 };
      fake.requests.push({
        path,
        authorization: req.headers.authorization ?? null,
        fields,
        hz,
        voiced,
        fileName: audio?.fileName ?? null,
      });
      if (held) await held;
      const failure = failures.shift();
      if (failure) {
        res.writeHead(failure[0], { "content-type": "text/plain" });
        return res.end(failure[1]);
      }
      if (!wav) return json(400, { error: { message: "file is not a 16-bit PCM WAV" } });
      const [from, to] = voiced;
      if (to <= from) return json(200, { task: "transcribe", text: "", words: [] });
      const script = scripts.reduce<Script | null>(
        (best, s) => (!best || Math.abs(s.hz - hz) < Math.abs(best.hz - hz) ? s : best),
        null,
      ) ?? { hz, text: "hello world", window: [0, 1] as [number, number] };
      const words = script.text.split(/\s+/).filter(Boolean);
      const start = from + (to - from) * script.window[0];
      const step = ((to - from) * (script.window[1] - script.window[0])) / Math.max(1, words.length);
      const timed = words.map((w, i) => ({
        word: ` ${w}`,
        start: round(start + step * i),
        end: round(start + step * (i + 1)),
      }));
      return json(200, { task: "transcribe", text: script.text, words: timed });
    }
    if (req.method === "POST" && path === "/v1/chat/completions") {
      let prompt = "";
      try {
        const messages = (JSON.parse(body.toString("utf8")) as { messages?: Array<{ role: string; content: string }> })
          .messages;
        prompt = messages?.find((m) => m.role === "user")?.content ?? "";
      } catch {
        return json(400, { error: { message: "the body is not JSON" } });
      }
      fake.prompts.push(prompt);
      if (!fake.summary) return json(500, { error: { message: "no summary configured" } });
      const content = JSON.stringify(fake.summary(prompt));
      return json(200, { choices: [{ index: 0, message: { role: "assistant", content } }] });
    }
    return json(404, { error: { message: `no route ${req.method} ${path}` } });
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  fake.url = `http://127.0.0.1:${port}`;
  fake.close = () =>
    new Promise((ok) => {
      server.closeAllConnections();
      server.close(() => ok());
    });
  return fake;
}

/** The server settings that point its pipeline at `fake`. */
export function transcriptionEnv(fake: FakeTranscription): Record<string, string> {
  return {
    TRANSCRIPT_BACKEND: "openai",
    TRANSCRIPT_URL: fake.url,
    TRANSCRIPT_API_KEY: "e2e-transcribe-key",
    TRANSCRIPT_MODEL: "whisper-e2e",
    LLM_URL: fake.url,
    LLM_MODEL: "summary-e2e",
  };
}
