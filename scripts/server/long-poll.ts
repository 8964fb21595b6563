/**
 * Long polling: claims that found no task wait here until one they can take is enqueued (or
 * requeued), their time is up, their client goes away, or the server closes.
 * Waiters are served oldest first, so a task goes to the worker that has waited longest.
 */
import type { Task } from '../../src/wire/protocol.ts';

type TryClaim = (workerId: string, types: readonly string[], max: number) => Task[];

interface Waiter {
  workerId: string;
  types: readonly string[];
  /** How many tasks the claim asked for (1 for a version-1 claim). */
  max: number;
  settle: (tasks: Task[]) => void;
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
   * Waits up to `timeoutMs` for up to `max` tasks; empty on timeout, abort or close. The claim
   * happens inside `wake()`, so a task is never leased to a waiter that already gave up.
   */
  wait(
    workerId: string,
    types: readonly string[],
    max: number,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<Task[]> {
    const { promise, resolve } = Promise.withResolvers<Task[]>();
    if (signal.aborted) return Promise.resolve([]);
    const waiter: Waiter = { workerId, types, max, settle: settleWaiter };
    const timer = setTimeout(settleWaiter, timeoutMs, []);
    const waiters = this.#waiters;
    function settleWaiter(tasks: Task[]): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      waiters.delete(waiter);
      resolve(tasks);
    }
    function onAbort(): void {
      settleWaiter([]);
    }
    signal.addEventListener('abort', onAbort, { once: true });
    this.#waiters.add(waiter);
    return promise;
  }

  /** Something became claimable: let each waiter, oldest first, try to claim. */
  wake(): void {
    for (const waiter of [...this.#waiters]) {
      const tasks = this.#tryClaim(waiter.workerId, waiter.types, waiter.max);
      if (tasks.length > 0) waiter.settle(tasks);
    }
  }

  /** Server closing: every waiter answers 204 now. */
  closeAll(): void {
    for (const waiter of [...this.#waiters]) waiter.settle([]);
  }
}
