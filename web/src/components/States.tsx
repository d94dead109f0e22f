import { useState, type ReactNode } from "react";
import type { ApiError } from "../api/client";
import { asApiError } from "../hooks";

export function Loading({ label }: { label: string }) {
  return (
    <div className="state" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      <span>{label}</span>
    </div>
  );
}

export function ErrorState({
  title,
  children,
  error,
  actions,
  testId,
}: {
  title: string;
  children?: ReactNode;
  error?: ApiError;
  actions?: ReactNode;
  testId?: string;
}) {
  return (
    <div className="state state-error" role="alert" data-testid={testId}>
      <h2>{title}</h2>
      {children}
      {error && (
        <p className="detail">
          <span className="muted">Server said{error.status ? ` (${error.status})` : ""}:</span> {error.detail}
        </p>
      )}
      {actions && <div className="actions">{actions}</div>}
    </div>
  );
}

export function Dialog({
  title,
  children,
  actions,
  onClose,
  testId,
}: {
  title: string;
  children: ReactNode;
  actions: ReactNode;
  onClose?: () => void;
  testId?: string;
}) {
  return (
    <div className="backdrop" onKeyDown={(e) => e.key === "Escape" && onClose?.()}>
      <div className="dialog" role="dialog" aria-modal="true" aria-labelledby="dialog-title" data-testid={testId}>
        <h2 id="dialog-title">{title}</h2>
        {children}
        <div className="actions">{actions}</div>
      </div>
    </div>
  );
}

/** Asks before deleting something: `remove` runs once confirmed, and its refusal is shown in place. */
export function ConfirmDelete({
  title,
  action,
  remove,
  onClose,
  onDeleted,
  children,
}: {
  title: string;
  action: string;
  remove: () => Promise<unknown>;
  onClose: () => void;
  onDeleted: () => void;
  children: ReactNode;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await remove();
      onDeleted();
    } catch (e) {
      setError(asApiError(e));
      setBusy(false);
    }
  };
  return (
    <Dialog
      title={title}
      onClose={onClose}
      testId="delete-dialog"
      actions={
        <>
          <button onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button className="danger" onClick={confirm} disabled={busy}>
            {busy ? "Deleting…" : action}
          </button>
        </>
      }
    >
      {children}
      {error && (
        <p className="error" role="alert">
          {error.detail}
        </p>
      )}
    </Dialog>
  );
}
