/**
 * Protocol 1.1 hand-outs besides a claim (docs/protocol.md, "Version 1.1"): the tasks a result's
 * `next` leases, the same ones again for a re-sent resultId, a held task given back (release),
 * and the task types each worker last claimed, since a result body carries none.
 */
import type { Task } from '../../src/wire/protocol.ts';
import { type Database, num, numOrNull, type Row, text, textOrNull } from './db.ts';
import { type TaskStore, toWireTask } from './store.ts';

/** `released` = back in the queue; `not-yours` = leased to another, lapsed or finished. */
export type ReleaseOutcome = 'released' | 'unknown' | 'not-yours' | 'gone';

export class Handouts {
  readonly #db: Database;
  readonly #store: TaskStore;
  /** worker id → its last claim's types as JSON text; the table is written only on a change. */
  readonly #typesByWorker = new Map<string, string>();

  constructor(db: Database, store: TaskStore) {
    this.#db = db;
    this.#store = store;
  }

  /** Called on every claim: a later `next` leases tasks of these types to this worker. */
  rememberTypes(workerId: string, types: readonly string[]): void {
    const json = JSON.stringify(types);
    if (this.#typesByWorker.get(workerId) === json) return;
    this.#db.run(
      `INSERT INTO workers (worker_id, types) VALUES (?, ?)
       ON CONFLICT (worker_id) DO UPDATE SET types = excluded.types`,
      workerId,
      json,
    );
    this.#typesByWorker.set(workerId, json);
  }

  #typesOf(workerId: string): string[] | undefined {
    let json = this.#typesByWorker.get(workerId);
    if (json === undefined) {
      const row = this.#db.get('SELECT types FROM workers WHERE worker_id = ?', workerId);
      if (row === undefined) return undefined;
      json = text(row, 'types');
      this.#typesByWorker.set(workerId, json);
    }
    return JSON.parse(json) as string[];
  }

  /**
   * The tasks answering a `next` of up to `max` for the results `resultIds` (one, or a batch's
   * accepted ones). When any of them already got tasks (its answer was lost and it is re-sent),
   * those same tasks come back, those still leased to this worker without a result, with their
   * lease renewed: never a second set. Otherwise up to `max` tasks are leased as a claim would,
   * of the types of this worker's last claim (none when it never claimed), and recorded.
   */
  nextFor(resultIds: readonly string[], workerId: string, max: number, nowMs: number): Task[] {
    if (resultIds.length === 0) return [];
    return this.#db.transaction(() => {
      const known = this.#db.all(
        `SELECT worker_id, task_ids FROM result_next
         WHERE result_id IN (SELECT value FROM json_each(?))`,
        JSON.stringify(resultIds),
      );
      if (known.length > 0) {
        const ids = known
          .filter((row) => text(row, 'worker_id') === workerId)
          .flatMap((row) => JSON.parse(text(row, 'task_ids')) as string[]);
        return this.#stillHeld([...new Set(ids)], workerId, nowMs);
      }
      const types = this.#typesOf(workerId);
      if (max < 1 || types === undefined) return [];
      const tasks = this.#store.claim(workerId, types, max, nowMs);
      if (tasks.length === 0) return tasks;
      const taskIds = JSON.stringify(tasks.map((task) => task.id));
      for (const resultId of resultIds) {
        this.#db.run(
          'INSERT INTO result_next (result_id, worker_id, task_ids, created_at) VALUES (?, ?, ?, ?)',
          resultId,
          workerId,
          taskIds,
          nowMs,
        );
      }
      return tasks;
    });
  }

  /** Of `ids`, in that order, the tasks still leased to `workerId`, their leases renewed. */
  #stillHeld(ids: readonly string[], workerId: string, nowMs: number): Task[] {
    const tasks: Task[] = [];
    for (const id of ids) {
      const row = this.#db.get(
        `SELECT * FROM tasks WHERE id = ? AND state = 'leased' AND leased_to = ?
         AND lease_expires_at > ? AND result_id IS NULL`,
        id,
        workerId,
        nowMs,
      );
      if (row === undefined) continue;
      this.#db.run(
        'UPDATE tasks SET lease_expires_at = ? WHERE id = ?',
        nowMs + num(row, 'lease_sec') * 1000,
        id,
      );
      tasks.push(toWireTask(row, num(row, 'attempt')));
    }
    return tasks;
  }

  /**
   * 1.1-e: `workerId` gives back a task it holds. The server cannot know whether it started it;
   * the worker promises it never releases a started one, so any live lease of this worker with
   * no result is accepted. The task goes back to its place in the queue (queue order is enqueue
   * order, so ahead of every newer task) and the delivery does not count: the next one carries
   * the same attempt number.
   */
  release(taskId: string, workerId: string, reason: string, nowMs: number): ReleaseOutcome {
    return this.#db.transaction((): ReleaseOutcome => {
      const row = this.#db.get('SELECT * FROM tasks WHERE id = ?', taskId);
      if (row === undefined) return 'unknown';
      if (text(row, 'state') === 'cancelled') return 'gone';
      if (!isLiveLeaseOf(row, workerId, nowMs)) return 'not-yours';
      const attempt = num(row, 'attempt');
      this.#db.run(
        `UPDATE tasks SET state = 'queued', attempt = ?, leased_to = NULL, lease_expires_at = NULL,
         progress = NULL WHERE id = ?`,
        attempt - 1,
        taskId,
      );
      this.#db.run('DELETE FROM deliveries WHERE task_id = ? AND attempt = ?', taskId, attempt);
      this.#db.run(
        `INSERT INTO releases (task_id, worker_id, attempt, reason, released_at)
         VALUES (?, ?, ?, ?, ?)`,
        taskId,
        workerId,
        attempt,
        reason,
        nowMs,
      );
      return 'released';
    });
  }
}

function isLiveLeaseOf(row: Row, workerId: string, nowMs: number): boolean {
  const expiresAtMs = numOrNull(row, 'lease_expires_at');
  return (
    text(row, 'state') === 'leased' &&
    textOrNull(row, 'leased_to') === workerId &&
    textOrNull(row, 'result_id') === null &&
    expiresAtMs !== null &&
    expiresAtMs > nowMs
  );
}
