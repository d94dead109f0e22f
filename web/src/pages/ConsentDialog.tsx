import { useState } from "react";
import { api, call, ApiError, type Meeting, type Room } from "../api/client";
import { useMe } from "../me";
import { asApiError } from "../hooks";
import { Dialog } from "../components/States";
import { participantToken, storeConsent, type ConsentAnswer } from "../session";

/** Cloud-recorded meetings ask each participant, unless the room skips consent. */
export function consentNeeded(meeting: Meeting, room: Room): boolean {
  return meeting.recording_type === "cloud" && meeting.recording_trigger !== "none" && !room.skip_consent;
}

/** Asks once per meeting; the answer is sent to the server and remembered in this browser. If it
 * cannot be sent, the person may try again or join without answering (`onSkip`): nothing is
 * recorded for them then, and they can answer later from the bar above the call. */
export function ConsentDialog({
  meeting,
  current,
  onAnswered,
  onClose,
  onSkip,
}: {
  meeting: Meeting;
  current: ConsentAnswer | null;
  onAnswered: (answer: ConsentAnswer) => void;
  /** Closes without answering again; absent while an answer is required. */
  onClose?: () => void;
  /** Joins without an answer, offered once sending one failed. */
  onSkip: () => void;
}) {
  const me = useMe();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [last, setLast] = useState<boolean | null>(null);

  const answer = async (given: boolean) => {
    setBusy(true);
    setError(null);
    setLast(given);
    try {
      // Anonymous people, and everyone in single-user mode (all are "local"), are told apart
      // by a token this browser keeps, so each can change their own answer.
      const anonymous = !me.sub || me.auth_backend === "none";
      await call(
        api.POST("/v1/meetings/{meeting_id}/consent", {
          params: { path: { meeting_id: meeting.id } },
          body: { consent_given: given, participant_token: anonymous ? participantToken() : null },
        }),
      );
      const a: ConsentAnswer = given ? "given" : "declined";
      storeConsent(meeting.id, a);
      onAnswered(a);
    } catch (e) {
      setError(asApiError(e));
      setBusy(false);
    }
  };

  const failed = error !== null && last !== null;
  // Escape closes the dialog whenever a button would: Cancel, or joining without an answer.
  const close = onClose ?? (failed ? onSkip : undefined);

  return (
    <Dialog
      title="This meeting is recorded"
      testId="consent-dialog"
      onClose={close}
      actions={
        failed ? (
          <>
            <button key="skip" onClick={onClose ?? onSkip} disabled={busy}>
              {onClose ? "Cancel" : "Join without answering"}
            </button>
            <button key="retry" className="primary" onClick={() => answer(last)} disabled={busy} autoFocus>
              Try again
            </button>
          </>
        ) : (
          <>
            {onClose && (
              <button key="cancel" onClick={onClose} disabled={busy}>
                Cancel
              </button>
            )}
            <button key="decline" onClick={() => answer(false)} disabled={busy}>
              Decline
            </button>
            <button key="agree" className="primary" onClick={() => answer(true)} disabled={busy} autoFocus>
              I agree to be recorded
            </button>
          </>
        )
      }
    >
      <p>
        The video provider records this meeting and Reflector makes a transcript of it. If anyone declines, the
        recording&apos;s audio and video are deleted once the transcript is made; the text is kept.
      </p>
      <p className="muted small">You can join either way, and change your answer later from the bar above the call.</p>
      {current && <p className="small">Your answer now: {current === "given" ? "you agreed" : "you declined"}.</p>}
      {failed && (
        <p className="error" role="alert">
          Your answer ({last ? "agree" : "decline"}) was not saved: {error.detail}.{" "}
          {onClose
            ? "Try again, or cancel to keep your earlier answer."
            : "Try again, or join without answering: then no answer is recorded for you, and you can give one later from the bar above the call."}
        </p>
      )}
    </Dialog>
  );
}
