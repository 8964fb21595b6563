/**
 * Long polling: claims that found no task wait here until one they can take is enqueued (or
 * requeued), their time is up, their client goes away, or the server closes.
 * Waiters are served oldest first, so a task goes to the worker that has waited longest.
 */
import type { Task } from '../../src/wire/protocol.ts';

type TryClaim = (workerId: string, types: readonly string[]) => Task | undefined;

interface Waiter {
  workerId: string;
  types: readonly string[];
  settle: (task: Task | undefined) => void;
}

export class LongPolls {
  readonly #tryClaim: TryClaim;
  /** Insertion-ordered: iteration visits the longest-waiting claim first. */
  readonly #waiters = new Set<Waiter>();

  constructor(tryClaim: TryClaim) {
    this.#tryClaim = tryClaim;
  }

  get waiting(): number {
    return this.#waiters.size;
  }

  /**
   * Waits up to `timeoutMs` for a task; `undefined` on timeout, abort or close. The claim happens
   * inside `wake()`, so a task is never leased to a waiter that already gave up.
   */
  wait(
    workerId: string,
    types: readonly string[],
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<Task | undefined> {
    const { promise, resolve } = Promise.withResolvers<Task | undefined>();
    if (signal.aborted) return Promise.resolve(undefined);
    const waiter: Waiter = { workerId, types, settle: settleWaiter };
    const timer = setTimeout(settleWaiter, timeoutMs, undefined);
    const waiters = this.#waiters;
    function settleWaiter(task: Task | undefined): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      waiters.delete(waiter);
      resolve(task);
    }
    function onAbort(): void {
      settleWaiter(undefined);
    }
    signal.addEventListener('abort', onAbort, { once: true });
    this.#waiters.add(waiter);
    return promise;
  }

  /** Something became claimable: let each waiter, oldest first, try to claim. */
  wake(): void {
    for (const waiter of [...this.#waiters]) {
      const task = this.#tryClaim(waiter.workerId, waiter.types);
      if (task !== undefined) waiter.settle(task);
    }
  }

  /** Server closing: every waiter answers 204 now. */
  closeAll(): void {
    for (const waiter of [...this.#waiters]) waiter.settle(undefined);
  }
}
