import { Component, type ErrorInfo, type ReactNode } from "react";
import { ApiError } from "../api/client";
import { ChunkLoadError } from "../providers";
import { Link } from "../router";
import { ErrorState } from "./States";

/** Catches what a part of the page throws while rendering (a bug, a provider chunk that failed to
 * download) and shows it as an error state with "Try again", instead of a blank page. */
export class ErrorBoundary extends Component<
  { children: ReactNode; title: string; testId?: string },
  { error: Error | null }
> {
  state: { error: Error | null } = { error: null };

  static getDerivedStateFromError(error: unknown) {
    return { error: error instanceof Error ? error : new Error(String(error)) };
  }

  componentDidCatch(error: unknown, info: ErrorInfo) {
    console.error(error, info.componentStack);
  }

  render() {
    const { error } = this.state;
    if (!error) return this.props.children;
    // A failed chunk download stays failed for this page: trying again loads the page again.
    const reset = () => {
      if (error instanceof ChunkLoadError) window.location.reload();
      else this.setState({ error: null });
    };
    return (
      <ErrorState
        title={this.props.title}
        testId={this.props.testId ?? "page-error"}
        error={error instanceof ApiError ? error : undefined}
        actions={
          <>
            <button onClick={reset}>Try again</button>
            <Link href="/rooms" className="button">
              All rooms
            </Link>
          </>
        }
      >
        {!(error instanceof ApiError) && (
          <p className="detail">
            <span className="muted">Error:</span> {error.message || String(error)}
          </p>
        )}
      </ErrorState>
    );
  }
}
