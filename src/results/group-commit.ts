/**
 * Group commit (docs/reliability.md, "Group commit"): one outbox folder fsync for the results
 * renamed into place together. A lone caller starts one at once; callers that come while one runs
 * share the next. A commit covers only what was done before it started, so nobody is told
 * "durable" by one that began before their own rename.
 */
export class GroupCommit {
  readonly #commit: () => Promise<void>;
  #running: Promise<void> | undefined;
  /** The commit the callers that came while one ran will share. */
  #next: Promise<void> | undefined;

  constructor(commit: () => Promise<void>) {
    this.#commit = commit;
  }

  /** Settles with a commit that starts after this call (rejects if that commit failed). */
  join(): Promise<void> {
    if (this.#next !== undefined) return this.#next;
    if (this.#running === undefined) return this.#start();
    const next = this.#running
      .catch(() => undefined)
      .then(() => {
        this.#next = undefined;
        return this.#start();
      });
    this.#next = next;
    return next;
  }

  #start(): Promise<void> {
    const run: Promise<void> = this.#commit().finally(() => {
      if (this.#running === run) this.#running = undefined;
    });
    this.#running = run;
    return run;
  }
}
