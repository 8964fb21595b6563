/**
 * One claimed task, from its checks to its encoded result, with heartbeats keeping its lease.
 * The loop (./worker.ts) decides when; this says how.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../platform/log.ts';
import type { StopReason } from '../task/ipc.ts';
import { failed } from '../task/outcome.ts';
import type { TaskOutcome } from '../task/parent.ts';
import type { TaskRunner } from '../task/runner.ts';
import { endedOutcome, stoppedOutcome } from '../task/verdict.ts';
import type { HiveClient } from '../wire/hive-client.ts';
import {
  type EncodedResult,
  encodeResultBody,
  type HeartbeatRequest,
  type ResultBody,
  type Task,
} from '../wire/protocol.ts';
import { DEFAULT_LEASE_SEC, startHeartbeats } from './heartbeat.ts';

export interface RunTaskDeps {
  client: Pick<HiveClient, 'sendHeartbeat'>;
  runner: Pick<TaskRunner, 'admit' | 'run'>;
  identity: { workerId: string };
  /** Stops the task: aborted by a cancel (a heartbeat's answer) or a shutdown. */
  controller: AbortController;
  /** The task's own log lines wait for this (its "claimed" line), so the console reads in order. */
  saidBefore?: Promise<void>;
  log: Logger;
}

/** Runs the task (task/runner.ts) while heartbeats keep its lease; never throws for the task. */
export async function runTask(task: Task, deps: RunTaskDeps): Promise<TaskOutcome> {
  const { client, identity, runner, controller, log, saidBefore = Promise.resolve() } = deps;
  // The gate (task/gate.ts) answers a task it refuses before any heartbeat is made from it.
  const admission = runner.admit(task);
  if (!admission.admitted) return admission.outcome;
  // Cancelled while it was held (1.1-b): reported cancelled as a running task would be (section 2).
  if (controller.signal.aborted) return stoppedOutcome(controller.signal.reason as StopReason);
  let progress: HeartbeatRequest['progress'];
  const stopHeartbeats = startHeartbeats({
    client,
    workerId: identity.workerId,
    taskId: task.id,
    leaseSec: task.leaseSec ?? DEFAULT_LEASE_SEC,
    progress: () => progress,
    onCancel: (why) => {
      log.warn(`stopping task ${task.id}: ${why}`);
      controller.abort('cancel' satisfies StopReason);
    },
    log,
  });
  try {
    return await runner.run(admission, {
      signal: controller.signal,
      onLog: (line) => void saidBefore.then(() => log[line.level](line.msg)),
      onProgress: (next) => {
        progress = next;
      },
    });
  } finally {
    await stopHeartbeats();
  }
}

/** The result body, encoded once: the output goes in as the text the task process made. */
export function resultBody(
  task: Task,
  outcome: TaskOutcome,
  at: { workerId: string; version: string; startedAt: Date; finishedAt: Date },
): EncodedResult {
  const fields: Omit<ResultBody, 'output'> = {
    workerId: at.workerId,
    resultId: randomUUID(),
    workerVersion: at.version,
    status: outcome.status,
    error: outcome.error,
    attempt: task.attempt,
    startedAt: at.startedAt.toISOString(),
    finishedAt: at.finishedAt.toISOString(),
  };
  if (outcome.logs.length > 0) fields.logs = outcome.logs;
  if (outcome.logsTruncated) fields.logsTruncated = true;
  return encodeResultBody(fields, outcome.outputFile ?? outcome.outputJson);
}

/** A task whose spooled output changed before it was copied into the outbox: failed, logs kept. */
export function outputChanged(outcome: TaskOutcome, detail: string): TaskOutcome {
  const message = `the task's output changed before the worker had read it all (${detail})`;
  return endedOutcome(failed(message), outcome.logs, outcome.logsTruncated);
}

export function logFinished(log: Logger, task: Task, outcome: TaskOutcome, tookMs: number): void {
  const detail = outcome.error === null ? '' : `: ${outcome.error.code} ${outcome.error.message}`;
  (outcome.status === 'succeeded' ? log.info : log.warn).call(
    log,
    { status: outcome.status, tookMs },
    `task ${task.id} ${outcome.status} in ${tookMs} ms${detail}`,
  );
}
