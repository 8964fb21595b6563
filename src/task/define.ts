/**
 * The task contract. A task is a module in tasks/ exporting `defineTask({ name, payload, run })`;
 * `run` receives the payload as parsed by the `payload` schema, so its type follows the schema.
 */
import type * as z from 'zod';
import type { TaskNetwork } from './network.ts';

export interface TaskLogger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export interface TaskContext {
  /** Aborted when the task times out, is cancelled by the server, or the worker shuts down. */
  readonly signal: AbortSignal;
  /** Lines reach the worker's log (tagged with the task id) and the result's `logs` tail. */
  readonly log: TaskLogger;
  /** Reports progress; the latest value travels with the next heartbeat. */
  progress(percent: number, message?: string): void;
  readonly taskId: string;
  readonly attempt: number;
  /**
   * For a task that connects where its payload says: which local addresses the worker lets it
   * reach (TASK_LOCAL_NETWORK). Check the URL and give the lookup to the HTTP client (undici:
   * `new Agent({ connect: { lookup: ctx.network.lookup } })`), as tasks/prom_pars/fetch.ts does.
   */
  readonly network: TaskNetwork;
}

/** Any JSON value: what a task may return. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

export interface TaskDefinition<Schema extends z.ZodType = z.ZodType> {
  readonly name: string;
  /** Validates the payload in the child before `run`; a failure is reported as `rejected`/BAD_PAYLOAD. */
  readonly payload: Schema;
  readonly run: (payload: z.output<Schema>, ctx: TaskContext) => Promise<unknown> | unknown;
  /** Overrides the worker's default timeout for this type, in seconds; the server's `timeoutSec` wins. */
  readonly timeoutSec?: number;
  /**
   * Every task of this type gets a process of its own, whatever TASKS_PER_PROCESS says: for a task
   * that keeps state between calls (module-level variables, a library's cache, a patched
   * prototype), which a reused process cannot undo (src/task/isolation.ts).
   * @default false
   */
  readonly fresh?: boolean;
}

export type TaskRegistry = Record<string, TaskDefinition>;

/** Loads the registry (the tasks and zod) when a mode needs it: the entry passes one to every mode. */
export type LoadRegistry = () => Promise<TaskRegistry>;

export function defineTask<Schema extends z.ZodType>(
  definition: TaskDefinition<Schema>,
): TaskDefinition<Schema> {
  return Object.freeze(definition);
}

/** What an unknown type is answered with (UNKNOWN_TASK): the type asked for, and those there are. */
export function unknownTaskMessage(registry: TaskRegistry, type: string): string {
  return `no task named ${JSON.stringify(type)} in this worker (it has: ${Object.keys(registry).join(', ')})`;
}

/** Looks a type up by own property only: `constructor` or `__proto__` never resolve. */
export function lookupTask(registry: TaskRegistry, type: string): TaskDefinition | undefined {
  return Object.hasOwn(registry, type) ? registry[type] : undefined;
}
