/**
 * Read-only views of the database for the admin API and the metrics: tasks with their deliveries
 * and results, every stored result, and counts. Kept apart from store.ts, which owns the writes.
 */
import type { ResultBody } from '../../src/wire/protocol.ts';
import { type Database, isoOrNull, num, numOrNull, type Row, text, textOrNull } from './db.ts';
import { TASK_STATES, type TaskState } from './store.ts';

export interface Delivery {
  taskId: string;
  attempt: number;
  workerId: string;
  deliveredAt: string;
}

export interface StoredResult {
  taskId: string;
  resultId: string;
  receivedAt: string;
  /** POSTs of this same resultId answered 409 after it was stored. */
  duplicates: number;
  /** The whole body as POSTed (validated by ResultBodySchema). */
  body: ResultBody;
}

/** A task as `GET admin/tasks` shows it. */
export interface AdminTask {
  id: string;
  type: string;
  payload: unknown;
  timeoutSec: number | null;
  leaseSec: number;
  force: boolean;
  state: TaskState;
  /** Deliveries so far (the `attempt` of the last one). */
  attempt: number;
  leasedTo: string | null;
  leaseExpiresAt: string | null;
  /** The result accepted since the last (re)delivery round; null while none is. */
  resultId: string | null;
  /** The last `progress` a heartbeat carried during the current delivery. */
  progress: unknown;
  createdAt: string;
  cancelledAt: string | null;
  deliveries: Delivery[];
  results: StoredResult[];
}

/** `GET admin/results`. */
export interface ResultsView {
  results: StoredResult[];
  /** Result POSTs answered 409, of both kinds. */
  duplicates: number;
  /** Of those, the ones carrying another resultId for a task that already had a result. */
  conflicts: number;
}

export function getTask(db: Database, id: string): AdminTask | undefined {
  const row = db.get('SELECT * FROM tasks WHERE id = ?', id);
  if (row === undefined) return undefined;
  const deliveries = db.all('SELECT * FROM deliveries WHERE task_id = ? ORDER BY attempt', id);
  const results = db.all(`${RESULTS_QUERY} WHERE r.task_id = ? ORDER BY r.seq`, id);
  return toAdminTask(row, deliveries.map(toDelivery), results.map(toStoredResult));
}

/** Every task in queue order, with deliveries and results (three queries, grouped here). */
export function listTasks(db: Database): AdminTask[] {
  const deliveries = groupBy(
    db.all('SELECT * FROM deliveries ORDER BY task_id, attempt'),
    toDelivery,
  );
  const results = groupBy(db.all(`${RESULTS_QUERY} ORDER BY r.seq`), toStoredResult);
  return db
    .all('SELECT * FROM tasks ORDER BY seq')
    .map((row) =>
      toAdminTask(row, deliveries.get(text(row, 'id')) ?? [], results.get(text(row, 'id')) ?? []),
    );
}

export function resultsView(db: Database): ResultsView {
  const counts = duplicateCounts(db);
  return {
    results: db.all(`${RESULTS_QUERY} ORDER BY r.seq`).map(toStoredResult),
    duplicates: counts.same + counts.other,
    conflicts: counts.other,
  };
}

export function tasksByState(db: Database): Record<TaskState, number> {
  const counts = Object.fromEntries(TASK_STATES.map((state) => [state, 0])) as Record<
    TaskState,
    number
  >;
  for (const row of db.all('SELECT state, COUNT(*) AS n FROM tasks GROUP BY state')) {
    counts[text(row, 'state') as TaskState] = num(row, 'n');
  }
  return counts;
}

/** Stored results by their body's `status`. */
export function resultsByStatus(db: Database): Map<string, number> {
  const rows = db.all('SELECT status, COUNT(*) AS n FROM results GROUP BY status ORDER BY status');
  return new Map(rows.map((row) => [text(row, 'status'), num(row, 'n')]));
}

export function duplicateCounts(db: Database): { same: number; other: number } {
  const counts = { same: 0, other: 0 };
  for (const row of db.all('SELECT kind, COUNT(*) AS n FROM result_duplicates GROUP BY kind')) {
    counts[text(row, 'kind') as 'same' | 'other'] = num(row, 'n');
  }
  return counts;
}

const RESULTS_QUERY = `SELECT r.*, (SELECT COUNT(*) FROM result_duplicates d
  WHERE d.result_id = r.result_id AND d.kind = 'same') AS duplicates FROM results r`;

function toAdminTask(row: Row, deliveries: Delivery[], results: StoredResult[]): AdminTask {
  const progress = textOrNull(row, 'progress');
  return {
    id: text(row, 'id'),
    type: text(row, 'type'),
    payload: JSON.parse(text(row, 'payload')),
    timeoutSec: numOrNull(row, 'timeout_sec'),
    leaseSec: num(row, 'lease_sec'),
    force: num(row, 'force') === 1,
    state: text(row, 'state') as TaskState,
    attempt: num(row, 'attempt'),
    leasedTo: textOrNull(row, 'leased_to'),
    leaseExpiresAt: isoOrNull(numOrNull(row, 'lease_expires_at')),
    resultId: textOrNull(row, 'result_id'),
    progress: progress === null ? null : JSON.parse(progress),
    createdAt: new Date(num(row, 'created_at')).toISOString(),
    cancelledAt: isoOrNull(numOrNull(row, 'cancelled_at')),
    deliveries,
    results,
  };
}

function toDelivery(row: Row): Delivery {
  return {
    taskId: text(row, 'task_id'),
    attempt: num(row, 'attempt'),
    workerId: text(row, 'worker_id'),
    deliveredAt: new Date(num(row, 'delivered_at')).toISOString(),
  };
}

function toStoredResult(row: Row): StoredResult {
  return {
    taskId: text(row, 'task_id'),
    resultId: text(row, 'result_id'),
    receivedAt: new Date(num(row, 'received_at')).toISOString(),
    duplicates: num(row, 'duplicates'),
    body: JSON.parse(text(row, 'body')) as ResultBody,
  };
}

function groupBy<T extends { taskId: string }>(
  rows: Row[],
  convert: (row: Row) => T,
): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const row of rows) {
    const item = convert(row);
    const group = groups.get(item.taskId);
    if (group === undefined) groups.set(item.taskId, [item]);
    else group.push(item);
  }
  return groups;
}
