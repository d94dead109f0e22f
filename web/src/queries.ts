// @tanstack/react-query for the transcript pages (README, "Data fetching"): a cache, so coming
// back to the list shows it at once; the previous results kept while a new search loads;
// polling that skips hidden tabs and never runs two requests for one query at once; and
// invalidation after a change. The room pages keep `useLoad` and `useMeetingPoll`.
import { QueryClient } from "@tanstack/react-query";

/** A client per signed-in user: App makes a new one whenever who this page acts as changes, so
 * nothing loaded for the previous user is shown to the next. */
export function newQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        // A failure is shown at once with the server's detail, as `useLoad` does; the polls
        // and "Try again" ask again.
        retry: false,
        refetchOnWindowFocus: true,
      },
    },
  });
}

/** Every transcript query's key starts with this: a change invalidates them all. */
export const TRANSCRIPTS = "transcripts";
