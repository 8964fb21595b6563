/**
 * Task state and its transitions: enqueue, claim (lease), lapse, heartbeat, result, cancel,
 * redeliver. Every transition is one SQLite transaction, so a restart (or a kill) of the server
 * loses nothing that was answered.
 *
 * Lease invariant: a task is ours-to-give when it is `queued`, or `leased` with
 * `lease_expires_at <= now`. Expiry is judged from the clock at each read, so the periodic sweep
 * (`requeueLapsed`) only tidies the state for the admin view and wakes long polls; it never
 * decides who owns a task.
 */
import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import type { ResultBody, Task } from '../../src/wire/protocol.ts';
import { BoundedTaskSecondsSchema, TaskSchema } from '../../src/wire/protocol.ts';
import { type Database, num, numOrNull, type Row, text, textOrNull } from './db.ts';

export const TASK_STATES = ['queued', 'leased', 'done', 'cancelled'] as const;
export type TaskState = (typeof TASK_STATES)[number];

/** Lease, in seconds, of a task enqueued without one (protocol default). */
export const DEFAULT_LEASE_SEC = 60;

/** Body of `POST admin/tasks`; the fields reuse the wire Task's schemas. */
export const NewTaskSchema = z.object({
  id: TaskSchema.shape.id.optional(),
  type: TaskSchema.shape.type,
  payload: z.unknown(),
  // Within the protocol's bounds: this server never hands out a task a worker must refuse.
  timeoutSec: BoundedTaskSecondsSchema.timeoutSec.optional(),
  leaseSec: BoundedTaskSecondsSchema.leaseSec.optional(),
  force: z.boolean().optional(),
});
export type NewTask = z.input<typeof NewTaskSchema>;

export type HeartbeatOutcome =
  | { kind: 'extended'; leaseSec: number }
  | { kind: 'cancel'; leaseSec: number }
  | { kind: 'unknown' }
  | { kind: 'gone'; reason: string }
  | { kind: 'not-yours'; reason: string };

/** `stored` = new result; `duplicate` = this resultId was recorded before; `conflict` = another was. */
export type ResultOutcome = 'stored' | 'duplicate' | 'conflict' | 'unknown';

/** A validated result body: the fields the store indexes, and the whole body as JSON text. */
export interface StoredBody {
  resultId: ResultBody['resultId'];
  status: ResultBody['status'];
  json: string;
}

export type CancelOutcome = 'cancelled' | 'finished' | 'unknown';

const CLAIMABLE = `(state = 'queued' OR (state = 'leased' AND lease_expires_at <= ?))`;

export class TaskStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /** Adds a task at the end of the queue; `undefined` when the id is taken. Returns its id. */
  enqueue(input: z.output<typeof NewTaskSchema>, nowMs: number): string | undefined {
    const id = input.id ?? `t-${randomUUID()}`;
    if (this.#db.get('SELECT 1 AS found FROM tasks WHERE id = ?', id) !== undefined)
      return undefined;
    this.#db.run(
      `INSERT INTO tasks (id, type, payload, timeout_sec, lease_sec, force, state, created_at)
       VALUES (?, ?, ?, ?, ?, ?, 'queued', ?)`,
      id,
      input.type,
      JSON.stringify(input.payload ?? null),
      input.timeoutSec ?? null,
      input.leaseSec ?? DEFAULT_LEASE_SEC,
      input.force === true ? 1 : 0,
      nowMs,
    );
    return id;
  }

  /**
   * Leases the `max` oldest claimable tasks of `types` to `workerId` (a protocol 1.1 claim may ask
   * for several; version 1 asks for one), counting a delivery each. Empty when none is claimable.
   */
  claim(workerId: string, types: readonly string[], max: number, nowMs: number): Task[] {
    if (types.length === 0 || max < 1) return [];
    return this.#db.transaction(() => {
      const rows = this.#db.all(
        `SELECT * FROM tasks WHERE type IN (SELECT value FROM json_each(?)) AND ${CLAIMABLE}
         ORDER BY seq LIMIT ?`,
        JSON.stringify(types),
        nowMs,
        max,
      );
      return rows.map((row) => this.#lease(row, workerId, nowMs));
    });
  }

  #lease(row: Row, workerId: string, nowMs: number): Task {
    const id = text(row, 'id');
    const attempt = num(row, 'attempt') + 1;
    const leaseSec = num(row, 'lease_sec');
    this.#db.run(
      `UPDATE tasks SET state = 'leased', attempt = ?, leased_to = ?, lease_expires_at = ?,
       progress = NULL WHERE id = ?`,
      attempt,
      workerId,
      nowMs + leaseSec * 1000,
      id,
    );
    this.#db.run(
      'INSERT INTO deliveries (task_id, attempt, worker_id, delivered_at) VALUES (?, ?, ?, ?)',
      id,
      attempt,
      workerId,
      nowMs,
    );
    return toWireTask(row, attempt);
  }

  /** Puts tasks whose lease lapsed back in the queue; returns how many (to wake long polls). */
  requeueLapsed(nowMs: number): number {
    return this.#db.run(
      `UPDATE tasks SET state = 'queued', leased_to = NULL, lease_expires_at = NULL
       WHERE state = 'leased' AND lease_expires_at <= ?`,
      nowMs,
    );
  }

  /** Whether any task is claimable now by one of `types` (cheap check for long polls). */
  hasClaimable(types: readonly string[], nowMs: number): boolean {
    const row = this.#db.get(
      `SELECT 1 AS found FROM tasks WHERE type IN (SELECT value FROM json_each(?)) AND ${CLAIMABLE} LIMIT 1`,
      JSON.stringify(types),
      nowMs,
    );
    return row !== undefined;
  }

  /**
   * A heartbeat from `workerId`. Only the holder of a live lease extends it; the holder of a task
   * an admin cancelled hears `cancel`; everyone else learns the task is not theirs.
   */
  heartbeat(taskId: string, workerId: string, progress: unknown, nowMs: number): HeartbeatOutcome {
    return this.#db.transaction((): HeartbeatOutcome => {
      const row = this.#db.get('SELECT * FROM tasks WHERE id = ?', taskId);
      if (row === undefined) return { kind: 'unknown' };
      const leaseSec = num(row, 'lease_sec');
      const isHolder = textOrNull(row, 'leased_to') === workerId;
      const state = text(row, 'state') as TaskState;
      if (state === 'cancelled') {
        return isHolder
          ? { kind: 'cancel', leaseSec }
          : { kind: 'gone', reason: 'task was cancelled' };
      }
      if (textOrNull(row, 'result_id') !== null) {
        return { kind: 'not-yours', reason: 'task already has a result' };
      }
      const expiresAtMs = numOrNull(row, 'lease_expires_at');
      if (state !== 'leased' || !isHolder || expiresAtMs === null || expiresAtMs <= nowMs) {
        return {
          kind: 'not-yours',
          reason: 'task is not leased to this worker (lease lapsed or redelivered)',
        };
      }
      this.#db.run(
        // A beat without progress keeps the last one reported.
        'UPDATE tasks SET lease_expires_at = ?, progress = COALESCE(?, progress) WHERE id = ?',
        nowMs + leaseSec * 1000,
        progress === undefined ? null : JSON.stringify(progress),
        taskId,
      );
      return { kind: 'extended', leaseSec };
    });
  }

  /**
   * Records a result. The first result of a delivery round wins; the same resultId again is a
   * duplicate (stored once); another resultId for a task that has a result is a conflict. A result
   * for a cancelled task is stored but leaves it cancelled (the worker reports `cancelled`).
   */
  recordResult(taskId: string, body: StoredBody, nowMs: number): ResultOutcome {
    return this.#db.transaction((): ResultOutcome => {
      const task = this.#db.get('SELECT state, result_id FROM tasks WHERE id = ?', taskId);
      if (task === undefined) return 'unknown';
      const known = this.#db.get('SELECT task_id FROM results WHERE result_id = ?', body.resultId);
      const currentResultId = textOrNull(task, 'result_id');
      if (known !== undefined) {
        this.#countDuplicate(taskId, body.resultId, 'same', nowMs);
        // A worker answering a redelivery (force: false) re-sends its stored result: that closes
        // the round again, or the task would be delivered forever.
        if (currentResultId === null && text(known, 'task_id') === taskId) {
          this.#finish(taskId, text(task, 'state') as TaskState, body.resultId);
        }
        return 'duplicate';
      }
      if (currentResultId !== null) {
        this.#countDuplicate(taskId, body.resultId, 'other', nowMs);
        return 'conflict';
      }
      this.#db.run(
        'INSERT INTO results (result_id, task_id, status, body, received_at) VALUES (?, ?, ?, ?, ?)',
        body.resultId,
        taskId,
        body.status,
        body.json,
        nowMs,
      );
      this.#finish(taskId, text(task, 'state') as TaskState, body.resultId);
      return 'stored';
    });
  }

  #countDuplicate(taskId: string, resultId: string, kind: 'same' | 'other', nowMs: number): void {
    this.#db.run(
      'INSERT INTO result_duplicates (task_id, result_id, kind, received_at) VALUES (?, ?, ?, ?)',
      taskId,
      resultId,
      kind,
      nowMs,
    );
  }

  /** Closes the round: `done` (or still `cancelled`) with `resultId`, lease released. */
  #finish(taskId: string, state: TaskState, resultId: string): void {
    this.#db.run(
      `UPDATE tasks SET state = ?, result_id = ?, lease_expires_at = NULL,
       leased_to = CASE WHEN ? = 'cancelled' THEN leased_to ELSE NULL END WHERE id = ?`,
      state === 'cancelled' ? 'cancelled' : 'done',
      resultId,
      state,
      taskId,
    );
  }

  /** Admin cancel: a queued or leased task becomes `cancelled` (its holder hears it on heartbeat). */
  cancel(taskId: string, nowMs: number): CancelOutcome {
    return this.#db.transaction((): CancelOutcome => {
      const row = this.#db.get('SELECT state FROM tasks WHERE id = ?', taskId);
      if (row === undefined) return 'unknown';
      const state = text(row, 'state') as TaskState;
      if (state === 'done') return 'finished';
      if (state === 'cancelled') return 'cancelled';
      this.#db.run(
        "UPDATE tasks SET state = 'cancelled', cancelled_at = ?, lease_expires_at = NULL WHERE id = ?",
        nowMs,
        taskId,
      );
      return 'cancelled';
    });
  }

  /**
   * Admin redeliver: back in the queue, whatever its state, with `force` as given, starting a new
   * round (the next new result is accepted; results already stored stay). Attempts keep counting.
   */
  redeliver(taskId: string, force: boolean): boolean {
    const changed = this.#db.run(
      `UPDATE tasks SET state = 'queued', force = ?, result_id = NULL, leased_to = NULL,
       lease_expires_at = NULL, progress = NULL, cancelled_at = NULL WHERE id = ?`,
      force ? 1 : 0,
      taskId,
    );
    return changed > 0;
  }
}

/** The Task of a claim answer, as protocol.ts types it. */
export function toWireTask(row: Row, attempt: number): Task {
  const timeoutSec = numOrNull(row, 'timeout_sec');
  return {
    id: text(row, 'id'),
    type: text(row, 'type'),
    payload: JSON.parse(text(row, 'payload')),
    ...(timeoutSec === null ? {} : { timeoutSec }),
    leaseSec: num(row, 'lease_sec'),
    attempt,
    force: num(row, 'force') === 1,
  };
}
