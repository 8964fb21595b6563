/**
 * Protocol 1.1's requests beside version 1's (docs/protocol.md, "Version 1.1"): a result's `next`,
 * results in one request (1.1-d) and a task given back (1.1-e): their bodies, built from the text
 * a result was encoded to once, and what their answers mean, as values.
 */
import { HiveError } from '../platform/errors.ts';
import { type Answer, header, parseTaskAnswer } from './answers.ts';
import { taskFromWire } from './claim-payload.ts';
import { type ResultOutcome, resultOutcome } from './outcomes.ts';
import { BatchResultsAnswerSchema, MAX_TASKS_PER_CLAIM, type Task } from './protocol.ts';

/** 1.1-d: a result body over this is always sent alone, streamed from its file (section 3). */
export const MAX_BATCHED_RESULT_BYTES = 256 * 1024;

/** The header by which a 1.1 server says so on every answer (1.1-a). */
export function speaks11(answer: Answer): boolean {
  return header(answer, 'x-hive-protocol') === '1.1';
}

/** 1.1-b/c: how many tasks to ask for: free slots plus PREFETCH, less what is held, 0…64. */
export function tasksToAskFor(slots: { free: number; prefetch: number; held: number }): number {
  const wanted = slots.free + slots.prefetch - slots.held;
  return Math.max(0, Math.min(MAX_TASKS_PER_CLAIM, wanted));
}

/** A result body's text with `"next":{"max":N}` added (1.1-c); the text itself is unchanged. */
export function withNext(json: string, max: number | undefined): string {
  if (max === undefined) return json;
  return `{"next":{"max":${max}},${json.slice(1)}`;
}

/** 1.1-d's body: each result's text with its task id in front, as one request. */
export function batchBody(
  workerId: string,
  results: readonly { taskId: string; json: string }[],
  max: number | undefined,
): string {
  const entries = results.map(
    ({ taskId, json }) => `{"taskId":${JSON.stringify(taskId)},${json.slice(1)}`,
  );
  const next = max === undefined ? '' : `,"next":{"max":${max}}`;
  return `{"workerId":${JSON.stringify(workerId)},"results":[${entries.join(',')}]${next}}`;
}

/** What a batch's answer means, as a whole and for each result. */
export type BatchOutcome =
  /** Each result's answer by resultId (one missing from the answer is kept, as a 5xx would). */
  | { kind: 'answered'; results: Map<string, ResultOutcome>; tasks: Task[] }
  /** 404/405/501: no batches here; every result is sent alone, and the worker remembers. */
  | { kind: 'unsupported'; status: number }
  /** Another 4xx for the whole request (400, 413…): no answer for any one result; each goes alone. */
  | { kind: 'alone'; status: number }
  /** Network, 5xx, a transient 4xx, or a malformed 200: every result stays queued. */
  | { kind: 'retry'; error: HiveError; status?: number; retryAfterMs?: number };

/** The answer to `POST tasks/results`. `maxErrorSleepMs` caps a Retry-After. */
export function batchOutcome(answer: Answer, maxErrorSleepMs: number): BatchOutcome {
  const { status } = answer;
  if (status === 404 || status === 405 || status === 501) return { kind: 'unsupported', status };
  if (status !== 200) {
    const whole = resultOutcome(answer, maxErrorSleepMs);
    return whole.kind === 'retry' ? whole : { kind: 'alone', status };
  }
  const parsed = parseTaskAnswer(answer, BatchResultsAnswerSchema, 'results');
  if (parsed instanceof HiveError) return { kind: 'retry', error: parsed, status };
  const results = new Map<string, ResultOutcome>();
  for (const entry of parsed.results) {
    results.set(entry.resultId, entryOutcome(entry, maxErrorSleepMs));
  }
  return { kind: 'answered', results, tasks: (parsed.next?.tasks ?? []).map(taskFromWire) };
}

/** One entry of a batch answer: the status section 3 would have answered, handled as that one. */
export function entryOutcome(
  entry: { resultId: string; status: number; retryAfterSec?: number | undefined },
  maxErrorSleepMs: number,
): ResultOutcome {
  const { status } = entry;
  // The tasks of a batch come once, in its `next`, not per result.
  if (status === 200 || status === 201 || status === 202)
    return { kind: 'accepted', status, tasks: [] };
  if (status === 409) return { kind: 'duplicate', tasks: [] };
  const outcome = resultOutcome(
    { status, headers: {}, text: `HTTP ${status} for this result in a batch` },
    maxErrorSleepMs,
  );
  // Its retryAfterSec is the Retry-After a lone answer would carry (0 = none: the usual backoff).
  const seconds = entry.retryAfterSec;
  if (outcome.kind !== 'retry' || seconds === undefined || !(seconds > 0)) return outcome;
  return { ...outcome, retryAfterMs: Math.min(seconds * 1000, maxErrorSleepMs) };
}

/** What `POST tasks/{id}/release` answered (1.1-e). */
export type GiveBackOutcome = 'released' | 'not-ours' | 'lapses';

export function giveBackOutcome(status: number): GiveBackOutcome {
  if (status === 200 || status === 204) return 'released';
  if (status === 404 || status === 409 || status === 410) return 'not-ours';
  return 'lapses';
}
