/**
 * `GET admin/overview`: everything the dashboard shows in one answer, each list bounded so a
 * long queue or big results keep it small: counts by state, the head of the queue, running tasks
 * with their progress, the newest results (status, error, log tail), workers seen and releases.
 */
import { readdir } from 'node:fs/promises';
import semver from 'semver';
import { type Database, isoOrNull, num, numOrNull, type Row, text, textOrNull } from '../db.ts';
import { tasksByState } from '../views.ts';
import type { SeenWorker } from './workers-seen.ts';

const MAX_QUEUED = 100;
const MAX_RUNNING = 200;
const MAX_RESULTS = 30;
const LOG_TAIL_LINES = 5;
/** Longest payload, output or log message shown; the rest is cut (the admin API has it whole). */
const MAX_SHOWN_CHARS = 300;

export interface OverviewTask {
  id: string;
  type: string;
  payload: string;
  attempt: number;
  createdAt: string;
  leasedTo: string | null;
  leaseExpiresAt: string | null;
  progress: unknown;
}

export interface OverviewResult {
  taskId: string;
  type: string | null;
  status: string;
  error: { code: string; message: string } | null;
  output: string;
  workerId: string;
  attempt: number;
  startedAt: string;
  finishedAt: string;
  receivedAt: string;
  logTail: { at: string; level: string; msg: string }[];
}

export interface OverviewRelease {
  platform: string;
  version: string;
  file: string;
}

export interface Overview {
  now: string;
  counts: Record<string, number>;
  queued: OverviewTask[];
  running: OverviewTask[];
  results: OverviewResult[];
  workers: SeenWorker[];
  releases: OverviewRelease[];
}

function shorten(value: string): string {
  return value.length > MAX_SHOWN_CHARS ? `${value.slice(0, MAX_SHOWN_CHARS)}…` : value;
}

function toTask(row: Row): OverviewTask {
  const progress = textOrNull(row, 'progress');
  return {
    id: text(row, 'id'),
    type: text(row, 'type'),
    payload: shorten(text(row, 'payload')),
    attempt: num(row, 'attempt'),
    createdAt: new Date(num(row, 'created_at')).toISOString(),
    leasedTo: textOrNull(row, 'leased_to'),
    leaseExpiresAt: isoOrNull(numOrNull(row, 'lease_expires_at')),
    progress: progress === null ? null : JSON.parse(progress),
  };
}

/** The last log lines of a result, each message shortened. */
function logTail(logsJson: string | null): OverviewResult['logTail'] {
  const logs: unknown = logsJson === null ? null : JSON.parse(logsJson);
  if (!Array.isArray(logs)) return [];
  return (logs as OverviewResult['logTail'])
    .slice(-LOG_TAIL_LINES)
    .map(({ at, level, msg }) => ({ at, level, msg: shorten(msg) }));
}

function toResult(row: Row): OverviewResult {
  const errorJson = textOrNull(row, 'error');
  const error = errorJson === null ? null : (JSON.parse(errorJson) as OverviewResult['error']);
  return {
    taskId: text(row, 'task_id'),
    type: textOrNull(row, 'type'),
    status: text(row, 'status'),
    error: error === null ? null : { code: error.code, message: shorten(error.message) },
    output: shorten(textOrNull(row, 'output') ?? 'null'),
    workerId: text(row, 'worker_id'),
    attempt: num(row, 'attempt'),
    startedAt: text(row, 'started_at'),
    finishedAt: text(row, 'finished_at'),
    receivedAt: new Date(num(row, 'received_at')).toISOString(),
    logTail: logTail(textOrNull(row, 'logs')),
  };
}

/** Release files of the folder, newest version first within each platform. */
async function listReleases(releasesDir: string | undefined): Promise<OverviewRelease[]> {
  if (releasesDir === undefined) return [];
  let names: string[];
  try {
    names = await readdir(releasesDir);
  } catch {
    return [];
  }
  const releases: OverviewRelease[] = [];
  for (const name of names) {
    const match = /^worker-(.+?)-([a-z0-9]+-[a-z0-9]+)\.json$/.exec(name);
    const version = semver.valid(match?.[1] ?? '');
    if (match?.[2] !== undefined && version !== null)
      releases.push({ platform: match[2], version, file: name });
  }
  return releases.sort(
    (a, b) => a.platform.localeCompare(b.platform) || semver.rcompare(a.version, b.version),
  );
}

export async function readOverview(
  db: Database,
  workers: SeenWorker[],
  releasesDir: string | undefined,
  nowMs: number,
): Promise<Overview> {
  const queued = db.all(
    "SELECT * FROM tasks WHERE state = 'queued' ORDER BY seq LIMIT ?",
    MAX_QUEUED,
  );
  const running = db.all(
    "SELECT * FROM tasks WHERE state = 'leased' ORDER BY seq LIMIT ?",
    MAX_RUNNING,
  );
  const results = db.all(
    `SELECT r.task_id, r.status, r.received_at, t.type,
       r.body -> '$.error' AS error, r.body -> '$.output' AS output, r.body -> '$.logs' AS logs,
       r.body ->> '$.workerId' AS worker_id, r.body ->> '$.attempt' AS attempt,
       r.body ->> '$.startedAt' AS started_at, r.body ->> '$.finishedAt' AS finished_at
     FROM results r LEFT JOIN tasks t ON t.id = r.task_id ORDER BY r.seq DESC LIMIT ?`,
    MAX_RESULTS,
  );
  return {
    now: new Date(nowMs).toISOString(),
    counts: tasksByState(db),
    queued: queued.map(toTask),
    running: running.map(toTask),
    results: results.map(toResult),
    workers,
    releases: await listReleases(releasesDir),
  };
}
