/**
 * `worker --status [--json]`: what the worker on this data folder is doing, read from its files
 * without the lock. The JSON keys (`WorkerStatus`) are stable (README): an absent fact is null.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type RecordedStatus, readRecordedStatus } from '../loop/status-file.ts';
import { escapeControls, escapeJsonControls } from '../platform/console-lines.ts';
import { resolveDataDir } from '../platform/data-dir.ts';
import { readWorkerId } from '../platform/identity.ts';
import { isLockHeld, readLock } from '../platform/lock.ts';
import type { Settings } from '../settings/table.ts';
import { CLEAR_TEXT_WARNING, sendsTokenInClearText } from '../settings/token.ts';
import { UpdateStore } from '../update/state.ts';

export interface WorkerStatus {
  version: string;
  workerId: string | null;
  /** null when SERVER_URL is not valid (see configProblems). */
  serverUrl: string | null;
  dataDir: string;
  running: boolean;
  pid: number | null;
  runningSince: string | null;
  currentTasks: RecordedStatus['currentTasks'];
  /** Results not yet sent. */
  outboxSize: number;
  /** Results the server refused, in rejected/ (`worker --requeue-rejected` queues them again). */
  rejectedSize: number;
  /** The token would cross the network unencrypted. */
  tokenInClearText: boolean;
  lastResult: RecordedStatus['lastResult'];
  lastError: RecordedStatus['lastError'];
  update: {
    lastCheckAt: string | null;
    lastError: string | null;
    staged: string[];
    pending: { from: string; to: string; at: string } | null;
    failed: Record<string, { at: string; why: string }>;
  };
  /** The settings' problems, one line each ([] when they are fine): the worker would not start. */
  configProblems: string[];
}

export interface StatusInput {
  /** With a bad configuration, the defaults stand in for what was not valid (serverUrl: null). */
  settings: Pick<Settings, 'dataDir' | 'token'> & { serverUrl: string | null };
  configProblems?: readonly string[];
  version: string;
  installDir: string;
  env: Readonly<Record<string, string | undefined>>;
}

/** Gathers the status from the data folder's files. */
export function readWorkerStatus(input: StatusInput): WorkerStatus {
  const dataDir = resolveDataDir(input.settings.dataDir, input.installDir, input.env).path;
  const lock = readLock(dataDir);
  // Not the pid alone: after a reboot another process may have it (src/platform/lock.ts).
  const running = lock !== undefined && isLockHeld(lock);
  const recorded = readRecordedStatus(dataDir);
  // A task is current only if the worker that recorded it is the one running now.
  const isCurrent = running && recorded?.pid === lock?.pid;
  return {
    version: input.version,
    workerId: readWorkerId(dataDir) ?? null,
    serverUrl: input.settings.serverUrl,
    dataDir,
    running,
    pid: running ? (lock?.pid ?? null) : null,
    runningSince: running ? (lock?.startedAt ?? null) : null,
    currentTasks: isCurrent ? (recorded?.currentTasks ?? []) : [],
    outboxSize: countFiles(join(dataDir, 'outbox'), (name) => name.endsWith('.json')),
    rejectedSize: countFiles(join(dataDir, 'rejected'), (name) => name.endsWith('.json')),
    tokenInClearText:
      input.settings.serverUrl !== null &&
      sendsTokenInClearText(input.settings.serverUrl, input.settings.token),
    lastResult: recorded?.lastResult ?? null,
    lastError: recorded?.lastError ?? null,
    update: readUpdateStatus(dataDir),
    configProblems: [...(input.configProblems ?? [])],
  };
}

function readUpdateStatus(dataDir: string): WorkerStatus['update'] {
  const store = new UpdateStore(dataDir);
  const state = store.read();
  return {
    lastCheckAt: state.lastCheckAt ?? null,
    lastError: state.lastError ?? null,
    staged: store.stagedFiles(),
    pending: store.readPending() ?? null,
    failed: state.failed,
  };
}

/** The status for people: one fact per line. */
export function formatStatus(status: WorkerStatus): string {
  const tasks = status.currentTasks.map(
    (task) => `${task.id} (${task.type}, attempt ${task.attempt}) since ${task.startedAt}`,
  );
  const result = status.lastResult;
  const error = status.lastError;
  const update = status.update;
  const failed = Object.entries(update.failed).map(
    ([version, { at, why }]) => `${version} (failed ${at}: ${why})`,
  );
  const lines = [
    `hive-worker ${status.version} (this build)`,
    `  worker id    ${status.workerId ?? 'none yet (no worker has run on this data folder)'}`,
    `  server       ${status.serverUrl}`,
    `  data         ${status.dataDir}`,
    `  running      ${status.running ? `yes, pid ${status.pid} (since ${status.runningSince})` : 'no: not running'}`,
    `  current task ${tasks.length === 0 ? 'none' : tasks.join('; ')}`,
    `  outbox       ${status.outboxSize} result(s) waiting to be sent`,
    `  refused      ${status.rejectedSize} result(s) in rejected/${status.rejectedSize === 0 ? '' : ' (worker --requeue-rejected sends them again)'}`,
    ...(status.tokenInClearText ? [`  WARNING      ${CLEAR_TEXT_WARNING}`] : []),
    `  last result  ${result === null ? 'none' : `${result.taskId} ${result.status} at ${result.at}`}`,
    `  last error   ${error === null ? 'none' : `${error.message} (at ${error.at})`}`,
    `  update       last check ${update.lastCheckAt ?? 'never'}${update.lastError === null ? '' : ` (${update.lastError})`}`,
    `               staged: ${update.staged.length === 0 ? 'none' : update.staged.join(', ')}`,
    `               installing: ${update.pending === null ? 'none' : `${update.pending.from} → ${update.pending.to} since ${update.pending.at}`}`,
    `               failed: ${failed.length === 0 ? 'none' : failed.join('; ')}`,
  ];
  // Ids, messages and errors came from a server or a task: one line each, nothing a terminal runs.
  return `${lines.map(escapeControls).join('\n')}\n`;
}

/** `worker --status [--json]`: prints and returns exit code 0 (src/cli/modes.ts: 78 for bad settings). */
export function printStatus(input: StatusInput & { json: boolean }, out: (text: string) => void) {
  const status = readWorkerStatus(input);
  out(
    input.json ? `${escapeJsonControls(JSON.stringify(status, null, 2))}\n` : formatStatus(status),
  );
  return 0;
}

function countFiles(dir: string, include: (name: string) => boolean): number {
  try {
    return readdirSync(dir).filter(include).length;
  } catch {
    return 0;
  }
}
