/**
 * Helpers for a task's own tests (test/tasks/): a context to call `run` with directly, and a run in
 * a real task process started from the source entry, as the worker starts it.
 */
import { fileURLToPath } from 'node:url';
import type * as z from 'zod';
import type { TaskContext, TaskDefinition } from '../../src/task/define.ts';
import { TASK_CHILD_FLAG } from '../../src/task/ipc.ts';
import { taskNetwork } from '../../src/task/network.ts';
import { type RunOptions, runInChild, type TaskOutcome } from '../../src/task/parent.ts';
import type { Task } from '../../src/wire/protocol.ts';

const SOURCE_ENTRY = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

export interface FakeContext {
  ctx: TaskContext;
  /** What the task logged, in order. */
  logs: { level: 'debug' | 'info' | 'warn' | 'error'; msg: string }[];
  /** Every progress report, in order. */
  progress: { percent: number; message: string | undefined }[];
  /** Aborts `ctx.signal`, as a timeout, a server cancel or a shutdown would. */
  abort(reason?: Error): void;
}

export function fakeContext(): FakeContext {
  const controller = new AbortController();
  const logs: FakeContext['logs'] = [];
  const progress: FakeContext['progress'] = [];
  const logAt = (level: FakeContext['logs'][number]['level']) => (msg: string) => {
    logs.push({ level, msg });
  };
  const ctx: TaskContext = {
    signal: controller.signal,
    log: { debug: logAt('debug'), info: logAt('info'), warn: logAt('warn'), error: logAt('error') },
    progress(percent, message) {
      progress.push({ percent, message });
    },
    taskId: 'test-task-1',
    attempt: 1,
    network: taskNetwork('loopback'),
  };
  return {
    ctx,
    logs,
    progress,
    abort: (reason = new Error('task stopped: timeout')) => controller.abort(reason),
  };
}

/** Validates `payload` with the task's schema (throwing as the child would reject), then runs it. */
export async function runDirectly<Schema extends z.ZodType>(
  task: TaskDefinition<Schema>,
  payload: unknown,
  ctx: TaskContext = fakeContext().ctx,
): Promise<unknown> {
  return task.run(task.payload.parse(payload), ctx);
}

/**
 * Runs `type` in a real task process (node + src/main.ts in task mode, so the task must be in
 * TASK_REGISTRY) and resolves with its outcome: status, output (parsed from the JSON text the
 * process made, as the server will read it), error and log tail.
 */
export async function runInTaskProcess(
  type: string,
  payload: unknown,
  overrides: Partial<RunOptions> = {},
): Promise<TaskOutcome & { output: unknown }> {
  const task: Task = { id: `test-${type}`, type, payload, attempt: 1, force: false };
  const outcome = await runInChild(task, {
    command: { file: process.execPath, args: [SOURCE_ENTRY, TASK_CHILD_FLAG] },
    env: process.env,
    timeoutMs: 30_000,
    killGraceMs: 1000,
    maxResultBytes: 8 * 1024 * 1024,
    signal: new AbortController().signal,
    scrub: (text) => text,
    ...overrides,
  });
  return { ...outcome, output: JSON.parse(outcome.outputJson) };
}
