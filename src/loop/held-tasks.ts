/**
 * Tasks leased to this worker but not started yet (protocol 1.1-b/c), oldest first. Heartbeats
 * keep their leases while they wait; one the server cancels keeps its place and is reported
 * `cancelled` without a process (section 2). A drain gives them back (1.1-e); a started task is
 * never given back.
 */
import type { Logger } from '../platform/log.ts';
import type { HiveClient } from '../wire/hive-client.ts';
import { type ReleaseReason, type Task, taskBoundsProblem } from '../wire/protocol.ts';
import { DEFAULT_LEASE_SEC, startHeartbeats } from './heartbeat.ts';

/** Longest wait for a result's answer to bring the next task before the loop claims instead. */
export const NEXT_WAIT_MS = 1000;

/**
 * About the longest a held task should wait for a slot: tasks are held beyond the first extra one
 * only while the recent ones are short enough for PREFETCH of them to finish within this.
 */
export const HOLD_BUDGET_MS = 1000;

/** How many of the latest tasks' run times the PREFETCH decision looks at. */
export const RECENT_TASKS = 8;

/**
 * Tasks to hold beyond the free slots now: up to PREFETCH while the latest tasks are short (the
 * k-th held one waits about k × the longest of them / CONCURRENCY), one while they are long or
 * none has run yet; PREFETCH 0 or 1 as set. Hoarding costs idle workers only when tasks are long.
 */
export function prefetchNow(input: {
  prefetch: number;
  concurrency: number;
  recentTaskMs: readonly number[];
}): number {
  const { prefetch, concurrency, recentTaskMs } = input;
  if (prefetch <= 1) return prefetch;
  if (recentTaskMs.length === 0) return 1;
  const longest = Math.max(1, ...recentTaskMs);
  const fits = Math.floor((HOLD_BUDGET_MS * concurrency) / longest);
  return Math.max(1, Math.min(prefetch, fits));
}

type HeldTasksClient = Pick<HiveClient, 'sendHeartbeat' | 'releaseTask'>;

interface Held {
  readonly task: Task;
  readonly stopBeats: () => Promise<void>;
  /** The server cancelled it while it waited (a heartbeat's answer). */
  cancelled: boolean;
}

export class HeldTasks {
  readonly #client: HeldTasksClient;
  readonly #workerId: string;
  readonly #log: Logger;
  /** By task id, in the order they came. */
  readonly #held = new Map<string, Held>();
  /** When each result send still unanswered asked for tasks (1.1-c), oldest first. */
  readonly #askedAt: number[] = [];
  /** The give-backs of a drain, for the loop's end to wait on. */
  #releasing: Promise<void> = Promise.resolve();

  constructor(deps: { client: HeldTasksClient; workerId: string; log: Logger }) {
    this.#client = deps.client;
    this.#workerId = deps.workerId;
    this.#log = deps.log;
  }

  get size(): number {
    return this.#held.size;
  }

  /** A result's send asks for tasks (`asked`), or its answer came (`answered`). */
  asked(now = Date.now()): void {
    this.#askedAt.push(now);
  }

  answered(): void {
    this.#askedAt.shift();
  }

  /**
   * How long the loop still waits for an answer on its way that may bring tasks, rather than claim:
   * nothing held, and the latest ask is under NEXT_WAIT_MS old. A server that holds a result's
   * answer must not hold up the next task (a claim goes out then); 0 = claim.
   */
  nextWaitMs(now = Date.now()): number {
    const latest = this.#askedAt.at(-1);
    if (this.#held.size > 0 || latest === undefined) return 0;
    return Math.max(0, latest + NEXT_WAIT_MS - now);
  }

  /**
   * Holds each task once: a re-sent result's answer brings the same tasks again (1.1-c). While
   * draining (`drain`), they are given back at once.
   */
  accept(
    tasks: readonly Task[],
    isRunning: (taskId: string) => boolean,
    drain: ReleaseReason | undefined,
  ): void {
    for (const task of tasks) {
      if (this.#held.has(task.id) || isRunning(task.id)) {
        this.#log.debug({ taskId: task.id }, `task ${task.id} is already ours`);
      } else this.hold(task);
    }
    if (drain !== undefined && this.#held.size > 0) this.releaseAll(drain);
  }

  /** Holds a task until a slot is free; its lease is kept by heartbeats meanwhile. */
  hold(task: Task): void {
    // A lease out of bounds is refused when the task is taken (run-task.ts): no beat made from it.
    const stopBeats =
      taskBoundsProblem(task) === undefined
        ? startHeartbeats({
            client: this.#client,
            workerId: this.#workerId,
            taskId: task.id,
            leaseSec: task.leaseSec ?? DEFAULT_LEASE_SEC,
            progress: () => undefined,
            onCancel: (why) => {
              const held = this.#held.get(task.id);
              if (held === undefined || held.cancelled) return;
              held.cancelled = true;
              this.#log.info({ taskId: task.id }, `held task ${task.id} will not run: ${why}`);
            },
            log: this.#log,
          })
        : () => Promise.resolve();
    this.#held.set(task.id, { task, stopBeats, cancelled: false });
  }

  /** The oldest held task, no longer held (its own heartbeats take over when it runs). */
  take(): { task: Task; cancelled: boolean } | undefined {
    const first = this.#held.values().next();
    if (first.done === true) return undefined;
    const { task, stopBeats, cancelled } = first.value;
    this.#held.delete(task.id);
    void stopBeats();
    return { task, cancelled };
  }

  /** A drain: every held task given back to the server at once; one line says how many. */
  releaseAll(reason: ReleaseReason): void {
    const held = [...this.#held.values()];
    this.#held.clear();
    if (held.length > 0) {
      this.#releasing = Promise.all([this.#releasing, this.#release(held, reason)]).then(() => {});
    }
  }

  /** Settles when every give-back so far is answered (or failed: its lease lapses). */
  released(): Promise<void> {
    return this.#releasing;
  }

  async #release(held: readonly Held[], reason: ReleaseReason): Promise<void> {
    const answers = await Promise.all(
      held.map(async ({ task, stopBeats }) => {
        await stopBeats();
        return this.#client.releaseTask(task.id, reason);
      }),
    );
    const released = answers.filter((answer) => answer === 'released').length;
    const rest = held.length - released;
    const lapse = rest === 0 ? '' : `; ${rest} no longer ours or not answered: their leases lapse`;
    this.#log.info(`gave back ${released} held task(s) not started (${reason})${lapse}`);
  }
}
