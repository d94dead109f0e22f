// Uploading a recording made elsewhere (SPEC §4): create the transcript, then send the file in
// chunks to `POST /v1/transcripts/{id}/record/upload?chunk_number=&total_chunks=` (multipart field
// `chunk`), one request at a time, in order, `chunk_number` from 0. XMLHttpRequest rather than
// fetch: it reports upload progress.
import { accessToken } from "../auth";
import { ApiError, errorOf } from "./client";

/** Bytes per chunk request: well under the server's default `UPLOAD_CHUNK_MAX_BYTES` (64 MiB),
 * small enough that a failed chunk costs little to send again. */
export const CHUNK_BYTES = 8 * 1024 * 1024;

/** No chunk request waits forever. */
const CHUNK_TIMEOUT_MS = 10 * 60_000;

export interface Progress {
  /** Bytes of the file the server has, or is receiving, so far. */
  sent: number;
  total: number;
}

/** The chunk plan for a file of `size` bytes: `[start, end)` ranges, at least one. */
export function chunks(size: number, chunkBytes = CHUNK_BYTES): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let start = 0; start < size; start += chunkBytes) out.push([start, Math.min(size, start + chunkBytes)]);
  return out.length ? out : [[0, 0]];
}

/** Sends one chunk; resolves when the server accepted it, rejects with its `detail` otherwise. */
function sendChunk(
  transcriptId: string,
  file: File,
  [start, end]: [number, number],
  number: number,
  total: number,
  onBytes: (sentOfChunk: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const query = new URLSearchParams({ chunk_number: String(number), total_chunks: String(total) });
    xhr.open("POST", `/v1/transcripts/${encodeURIComponent(transcriptId)}/record/upload?${query}`);
    const token = accessToken();
    if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.timeout = CHUNK_TIMEOUT_MS;
    const size = end - start;
    xhr.upload.onprogress = (e) => {
      // The multipart body is a little larger than the chunk: scale to the chunk's bytes.
      if (e.lengthComputable && e.total > 0) onBytes(Math.min(size, Math.round((e.loaded / e.total) * size)));
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onBytes(size);
        resolve();
      } else reject(errorOf(xhr.status, xhr.statusText, xhr.responseText));
    };
    xhr.onerror = () => reject(new ApiError(0, "Cannot reach the Reflector server: the upload was interrupted."));
    xhr.ontimeout = () =>
      reject(new ApiError(0, `The Reflector server did not answer within ${CHUNK_TIMEOUT_MS / 60_000} minutes.`));
    xhr.onabort = () => reject(new ApiError(0, "The upload was cancelled."));
    signal?.addEventListener("abort", () => xhr.abort(), { once: true });
    const form = new FormData();
    form.append("chunk", file.slice(start, end), file.name);
    xhr.send(form);
  });
}

/** Sends `file` to transcript `transcriptId` chunk by chunk, reporting progress. */
export async function uploadFile(
  transcriptId: string,
  file: File,
  onProgress: (p: Progress) => void,
  { signal, chunkBytes = CHUNK_BYTES }: { signal?: AbortSignal; chunkBytes?: number } = {},
): Promise<void> {
  const plan = chunks(file.size, chunkBytes);
  onProgress({ sent: 0, total: file.size });
  let resumed = false;
  for (let n = 0; n < plan.length; ) {
    if (signal?.aborted) throw new ApiError(0, "The upload was cancelled.");
    const range = plan[n] as [number, number];
    try {
      await sendChunk(
        transcriptId,
        file,
        range,
        n,
        plan.length,
        (bytes) => onProgress({ sent: range[0] + bytes, total: file.size }),
        signal,
      );
      n += 1;
    } catch (e) {
      // Trying again after an interrupted upload: the server says where it got to (409 "send
      // chunk K next"), and the upload goes on from there, once.
      const next = e instanceof ApiError && e.status === 409 ? /send chunk (\d+) next/.exec(e.detail) : null;
      const k = next ? Number(next[1]) : NaN;
      if (resumed || !Number.isInteger(k) || k === n || k < 0 || k >= plan.length) throw e;
      resumed = true;
      n = k;
    }
  }
}
