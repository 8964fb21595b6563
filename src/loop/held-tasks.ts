/**
 * Tasks leased to this worker but not started yet (protocol 1.1-b/c: a claim's extra tasks, a
 * result answer's `next`), oldest first. Each is heart-beaten like a running one (no progress),
 * so its lease holds while it waits for a slot; one the server takes back is dropped. On a drain
 * they are given back (1.1-e), never run: a started task is never released.
 */
import type { Logger } from '../platform/log.ts';
import type { HiveClient } from '../wire/hive-client.ts';
import { type ReleaseReason, type Task, taskBoundsProblem } from '../wire/protocol.ts';
import { DEFAULT_LEASE_SEC, startHeartbeats } from './heartbeat.ts';

interface Held {
  readonly task: Task;
  readonly stopBeats: () => Promise<void>;
}

export class HeldTasks {
  readonly #client: HiveClient;
  readonly #workerId: string;
  readonly #log: Logger;
  /** By task id, in the order they came (a Map keeps insertion order). */
  readonly #held = new Map<string, Held>();

  constructor(deps: { client: HiveClient; workerId: string; log: Logger }) {
    this.#client = deps.client;
    this.#workerId = deps.workerId;
    this.#log = deps.log;
  }

  get size(): number {
    return this.#held.size;
  }

  has(taskId: string): boolean {
    return this.#held.has(taskId);
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
              if (this.#held.delete(task.id)) {
                this.#log.info({ taskId: task.id }, `held task ${task.id} dropped: ${why}`);
              }
            },
            log: this.#log,
          })
        : () => Promise.resolve();
    this.#held.set(task.id, { task, stopBeats });
  }

  /** The oldest held task, no longer held (its own heartbeats take over when it runs). */
  take(): Task | undefined {
    const first = this.#held.values().next();
    if (first.done === true) return undefined;
    const { task, stopBeats } = first.value;
    this.#held.delete(task.id);
    void stopBeats();
    return task;
  }

  /** A drain: every held task given back to the server at once; one line says how many. */
  async releaseAll(reason: ReleaseReason): Promise<void> {
    const held = [...this.#held.values()];
    this.#held.clear();
    if (held.length === 0) return;
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
