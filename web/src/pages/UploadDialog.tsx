import { useRef, useState, type FormEvent } from "react";
import { api, call, ApiError } from "../api/client";
import { uploadFile, type Progress } from "../api/upload";
import { asApiError } from "../hooks";
import { Dialog } from "../components/States";

/** The languages offered for an upload (ISO 639-1, as the transcription backends take them). */
const LANGUAGES: Array<[string, string]> = [
  ["en", "English"],
  ["fr", "French"],
  ["de", "German"],
  ["es", "Spanish"],
  ["it", "Italian"],
  ["nl", "Dutch"],
  ["pt", "Portuguese"],
  ["pl", "Polish"],
  ["sv", "Swedish"],
  ["ja", "Japanese"],
  ["zh", "Chinese"],
];

const baseName = (file: File) => file.name.replace(/\.[^.]+$/, "") || file.name;

const megabytes = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(1)} MB`;

/** Upload a recording made elsewhere: the transcript is created first, then the file is sent in
 * chunks with a progress bar. A failed upload can be tried again; it goes to the same transcript. */
export function UploadDialog({ onClose, onUploaded }: { onClose: () => void; onUploaded: (id: string) => void }) {
  const [file, setFile] = useState<File | null>(null);
  const [name, setName] = useState("");
  const [language, setLanguage] = useState("en");
  const [busy, setBusy] = useState(false);
  const [progress, setProgress] = useState<Progress | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  // The transcript created for this file: trying again after a failure uploads to it.
  const [created, setCreated] = useState<{ id: string; file: File } | null>(null);
  const abort = useRef<AbortController | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!file) return;
    setBusy(true);
    setError(null);
    const controller = new AbortController();
    abort.current = controller;
    try {
      let id = created?.file === file ? created.id : null;
      if (!id) {
        const t = await call(
          api.POST("/v1/transcripts", {
            body: { name: name.trim() || baseName(file), source_language: language, target_language: language },
          }),
        );
        id = t.id;
        setCreated({ id, file });
      }
      await uploadFile(id, file, setProgress, { signal: controller.signal });
      onUploaded(id);
    } catch (e) {
      setError(asApiError(e));
      setBusy(false);
    } finally {
      abort.current = null;
    }
  };

  const cancel = () => {
    abort.current?.abort();
    onClose();
  };

  const percent = progress && progress.total > 0 ? Math.floor((progress.sent / progress.total) * 100) : 0;

  return (
    <Dialog
      title="Upload a recording"
      onClose={busy ? undefined : onClose}
      testId="upload-dialog"
      actions={
        <>
          <button type="button" onClick={cancel}>
            {busy ? "Cancel upload" : "Close"}
          </button>
          <button type="submit" form="upload-form" className="primary" disabled={!file || busy}>
            {busy ? "Uploading…" : error && created?.file === file ? "Try again" : "Upload"}
          </button>
        </>
      }
    >
      <form id="upload-form" className="room-form" onSubmit={submit}>
        <p className="muted small">
          An audio or video file of a meeting held elsewhere (an in-person meeting, a phone call). It is transcribed
          like a recorded meeting.
        </p>
        <div className="field">
          <label htmlFor="upload-file">File</label>
          <input
            id="upload-file"
            type="file"
            accept="audio/*,video/*,.mp3,.mp4,.m4a,.webm,.wav,.ogg,.opus"
            disabled={busy}
            onChange={(e) => {
              const f = e.target.files?.[0] ?? null;
              setFile(f);
              setProgress(null);
              setError(null);
              if (f && !name.trim()) setName(baseName(f));
            }}
          />
        </div>
        <div className="row">
          <div className="field">
            <label htmlFor="upload-name">Name</label>
            <input
              id="upload-name"
              value={name}
              maxLength={300}
              disabled={busy}
              placeholder="Name of the meeting"
              onChange={(e) => setName(e.target.value)}
            />
          </div>
          <div className="field">
            <label htmlFor="upload-language">Language spoken</label>
            <select id="upload-language" value={language} disabled={busy} onChange={(e) => setLanguage(e.target.value)}>
              {LANGUAGES.map(([code, label]) => (
                <option key={code} value={code}>
                  {label}
                </option>
              ))}
            </select>
          </div>
        </div>
        {progress && (
          <div className="upload-progress" data-testid="upload-progress">
            <progress max={100} value={percent} aria-label="Upload progress" />
            <span className="small muted" data-testid="upload-percent">
              {percent}% · {megabytes(progress.sent)} of {megabytes(progress.total)}
            </span>
          </div>
        )}
        {error && (
          <p className="error" role="alert" data-testid="upload-error">
            {error.detail}
          </p>
        )}
      </form>
    </Dialog>
  );
}
