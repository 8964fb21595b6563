/**
 * The task process's gate: the task's type and payload before it runs (read from its file or
 * text, checked against the type's schema), and its output after (JSON text within
 * MAX_RESULT_BYTES). Each refusal is an ending of ./outcome.ts; the worker's gate is ./gate.ts.
 */
import { readFile } from 'node:fs/promises';
import { coerceError } from '../platform/errors.ts';
import {
  lookupTask,
  type TaskDefinition,
  type TaskRegistry,
  unknownTaskMessage,
} from './define.ts';
import type { ParentMessage } from './ipc.ts';
import { type Ended, failed, outputTooBig, rejected } from './outcome.ts';

type RunTask = Extract<ParentMessage, { type: 'run' }>['task'];

export interface Runnable {
  definition: TaskDefinition;
  /** The payload as the type's schema parsed it. */
  payload: unknown;
}

/** The task's definition and parsed payload, or why it does not run. */
export async function admitRun(task: RunTask, registry: TaskRegistry): Promise<Runnable | Ended> {
  const definition = lookupTask(registry, task.type);
  // The worker answered unknown types before starting this process (./gate.ts); the same
  // registry is built into both, so this is only a guard.
  if (definition === undefined) {
    return rejected('UNKNOWN_TASK', unknownTaskMessage(registry, task.type));
  }
  let raw: unknown = task.payload;
  try {
    if (task.payloadFile !== undefined) raw = JSON.parse(await readFile(task.payloadFile, 'utf8'));
    else if (task.payloadJson !== undefined) raw = JSON.parse(task.payloadJson);
  } catch (thrown) {
    const error = coerceError(thrown);
    return error instanceof SyntaxError
      ? rejected('BAD_PAYLOAD', `the payload is not JSON: ${error.message}`)
      : failed(`the payload cannot be read: ${error.message}`);
  }
  const payload = definition.payload.safeParse(raw);
  if (!payload.success) {
    const { issues } = payload.error;
    const listed = issues
      .map((issue) => `${issue.path.join('.') || '(payload)'}: ${issue.message}`)
      .join('; ');
    return rejected('BAD_PAYLOAD', `payload does not fit task ${task.type}: ${listed}`, {
      issues: issues.map(({ path, message }) => ({ path, message })),
    });
  }
  return { definition, payload: payload.data };
}

/** What the task's run threw: failed, with the error's name kept. */
export function thrownBy(thrown: unknown): Ended {
  const error = coerceError(thrown);
  return failed(error.message || error.name, { name: error.name });
}

/** The task's output as JSON text within MAX_RESULT_BYTES, or why it is not sent. */
export function outputText(
  output: unknown,
  maxResultBytes: number,
): { outputJson: string; bytes: number } | Ended {
  let outputJson: string;
  try {
    outputJson = JSON.stringify(output === undefined ? null : output);
  } catch (thrown) {
    return failed(`the task's output is not JSON-serializable: ${coerceError(thrown).message}`);
  }
  const bytes = Buffer.byteLength(outputJson);
  return outputTooBig(bytes, maxResultBytes) ?? { outputJson, bytes };
}

export function isEnded(value: object): value is Ended {
  return 'status' in value;
}
