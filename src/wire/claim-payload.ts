/**
 * The answers that carry tasks (a claim; 1.1: a result's `next`, a batch) read with ./json-pick.ts:
 * each payload kept as the bytes it came in (only the task process parses it), the rest of the
 * answer never built beyond the known fields. `taskFromWire` turns the checked RawJson into bytes.
 */
import { pickJson, RawJson, type Shape } from './json-pick.ts';
import { MAX_RESULTS_PER_BATCH, MAX_TASKS_PER_CLAIM, type Task } from './protocol.ts';

/** Protocol 1.1-b: at most as many tasks in one answer as a claim may ask for. */
export const MAX_TASKS_PER_ANSWER = MAX_TASKS_PER_CLAIM;
/**
 * The parsed part of a task-bearing answer, all fields but payloads together: 64 tasks of small
 * fields (ids up to 200 characters) and 100 result entries fit many times over.
 */
export const MAX_PARSED_ANSWER_BYTES = 1024 * 1024;

const TASK: Shape = {
  fields: {
    id: 'value',
    type: 'value',
    payload: 'raw',
    timeoutSec: 'value',
    leaseSec: 'value',
    attempt: 'value',
    force: 'value',
  },
};
const TASK_LIST: Shape = { items: TASK, maxItems: MAX_TASKS_PER_ANSWER };

/** Every field a task-bearing answer of protocol 1 or 1.1 may have that the worker reads. */
export const TASK_ANSWER_SHAPE: Shape = {
  fields: {
    task: TASK,
    tasks: TASK_LIST,
    next: { fields: { tasks: TASK_LIST } },
    results: {
      items: { fields: { resultId: 'value', status: 'value', retryAfterSec: 'value' } },
      maxItems: MAX_RESULTS_PER_BATCH,
    },
  },
};

/**
 * A claim, result or batch answer's known fields, from the chunks it arrived in: each task's
 * `payload` a RawJson. Throws a HiveError (BAD_ANSWER) for an answer that is not JSON, over the
 * caps above, or with more tasks or results than the protocol allows.
 */
export function pickTaskAnswer(chunks: readonly Buffer[]): unknown {
  return pickJson(chunks, TASK_ANSWER_SHAPE, MAX_PARSED_ANSWER_BYTES);
}

/**
 * A task as the rest of the worker takes it: a payload that was kept as bytes goes to
 * `payloadJson` (handed over once, src/task/spool.ts), with `payload` null.
 */
export function taskFromWire(task: Task): Task {
  const { payload } = task;
  if (!(payload instanceof RawJson)) return task;
  return { ...task, payload: null, payloadJson: payload.pieces };
}
