// For tests that assert on the error a call rejects with.

/** What the promise rejects with; undefined when it resolves. */
export function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (e: unknown) => e,
  );
}
