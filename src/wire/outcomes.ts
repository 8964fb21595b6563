/**
 * What each endpoint's answer means, as a value the caller switches on: one tagged union per
 * endpoint and the one function that turns a server answer into it (protocol sections 1–5).
 * src/wire/requests.ts sends the requests; an answer the protocol names never becomes an
 * exception here.
 */
import { parseRetryAfter } from '../platform/backoff.ts';
import { HiveError } from '../platform/errors.ts';
import {
  type Answer,
  header,
  httpError,
  parseAnswer,
  parseTaskAnswer,
  type VersionHint,
  versionHint,
} from './answers.ts';
import { taskFromWire } from './claim-payload.ts';
import {
  ClaimAnswerSchema,
  ClaimManyAnswerSchema,
  HeartbeatAnswerSchema,
  type Release,
  ReleaseSchema,
  ResultAnswerSchema,
  type Task,
} from './protocol.ts';

/** A claim's 200: `{task}` (version 1) or `{tasks}` (1.1-b); a field's error keeps its path. */
const AnyClaimAnswerSchema = ClaimAnswerSchema.partial()
  .extend(ClaimManyAnswerSchema.partial().shape)
  .refine((answer) => answer.task !== undefined || answer.tasks !== undefined, {
    message: 'neither task nor tasks',
    path: ['task'],
  });

/** Why the worker asks for an update check: a 426, or a newer `X-Hive-Latest-Version`. */
export type UpdateHint =
  | { reason: 'upgrade-required' }
  | { reason: 'latest-version'; version: string };

export type ClaimOutcome =
  /** One task (version 1's `{task}`), or 1…64 (1.1-b's `{tasks}`). */
  | ({ kind: 'task'; tasks: Task[] } & VersionHint)
  | ({ kind: 'empty' } & VersionHint)
  | { kind: 'unauthorized'; status: number }
  | { kind: 'upgrade-required' }
  | { kind: 'throttled'; status: number; retryAfterMs: number | undefined }
  | { kind: 'error'; error: HiveError };

export type HeartbeatOutcome =
  | { kind: 'ok'; leaseSec: number | undefined; cancel: boolean }
  | { kind: 'gone'; status: number }
  | { kind: 'error'; error: HiveError };

export type ResultOutcome =
  /** `tasks`: 1.1-c's `next`, leased to this worker by the answer (none under version 1). */
  | { kind: 'accepted'; status: number; tasks: Task[] }
  | { kind: 'duplicate'; tasks: Task[] }
  | { kind: 'gone'; status: number; answer: string }
  | { kind: 'refused'; status: number; answer: string }
  /** Kept queued: network, 5xx, or a transient 4xx; `retryAfterMs` from the answer's Retry-After. */
  | { kind: 'retry'; error: HiveError; status?: number; retryAfterMs?: number };

export type ReleaseOutcome =
  | { kind: 'release'; release: Release }
  | { kind: 'none' }
  | { kind: 'error'; error: HiveError };

/**
 * 4xx answers to a result that are not the result's fault (protocol section 3): a wrong or rotated
 * token (401, 403), a proxy wanting credentials (407), a slow link (408), too early (425), a rate
 * limit (429). Refusing the result for them would lose it; it stays queued, same resultId and body.
 */
export const TRANSIENT_RESULT_STATUSES: ReadonlySet<number> = new Set([
  401, 403, 407, 408, 425, 429,
]);

/** The answer to `POST tasks/claim`. `maxErrorSleepMs` caps a Retry-After. */
export function claimOutcome(answer: Answer, maxErrorSleepMs: number): ClaimOutcome {
  const version = versionHint(header(answer, 'x-hive-latest-version'));
  switch (answer.status) {
    case 200: {
      const parsed = parseTaskAnswer(answer, AnyClaimAnswerSchema, 'claim');
      if (parsed instanceof HiveError) return { kind: 'error', error: parsed };
      // The payload as the bytes it arrived in (./claim-payload.ts).
      const tasks = parsed.task === undefined ? (parsed.tasks ?? []) : [parsed.task];
      return { kind: 'task', tasks: tasks.map(taskFromWire), ...version };
    }
    case 204:
      return { kind: 'empty', ...version };
    case 401:
    case 403:
      return { kind: 'unauthorized', status: answer.status };
    case 426:
      return { kind: 'upgrade-required' };
    case 429:
    case 503:
      return {
        kind: 'throttled',
        status: answer.status,
        retryAfterMs: parseRetryAfter(header(answer, 'retry-after'), maxErrorSleepMs),
      };
    default:
      return { kind: 'error', error: httpError(answer, 'claim') };
  }
}

/** The answer to `POST tasks/{id}/heartbeat`. */
export function heartbeatOutcome(answer: Answer): HeartbeatOutcome {
  if (answer.status === 404 || answer.status === 409 || answer.status === 410) {
    return { kind: 'gone', status: answer.status };
  }
  if (answer.status !== 200) return { kind: 'error', error: httpError(answer, 'heartbeat') };
  const parsed = parseAnswer(answer, HeartbeatAnswerSchema, 'heartbeat');
  return parsed instanceof HiveError
    ? { kind: 'error', error: parsed }
    : { kind: 'ok', leaseSec: parsed.leaseSec, cancel: parsed.cancel };
}

/** The answer to `POST tasks/{id}/result`. `maxErrorSleepMs` caps a Retry-After. */
export function resultOutcome(answer: Answer, maxErrorSleepMs: number): ResultOutcome {
  const { status } = answer;
  if (status === 200 || status === 201 || status === 202) {
    return { kind: 'accepted', status, tasks: nextTasks(answer) };
  }
  if (status === 409) return { kind: 'duplicate', tasks: nextTasks(answer) };
  if (status === 404 || status === 410)
    return { kind: 'gone', status, answer: answer.text.slice(0, 2000) };
  if (TRANSIENT_RESULT_STATUSES.has(status)) {
    const retryAfterMs = parseRetryAfter(header(answer, 'retry-after'), maxErrorSleepMs);
    return {
      kind: 'retry',
      error: httpError(answer, 'result'),
      status,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    };
  }
  if (status >= 400 && status < 500)
    return { kind: 'refused', status, answer: answer.text.slice(0, 2000) };
  return { kind: 'retry', error: httpError(answer, 'result') };
}

/**
 * The tasks a result answer leases to us (1.1-c), none when it carries none. An answer that is
 * not what 1.1 says is no tasks: the result itself was taken, and what the server leased lapses.
 */
export function nextTasks(answer: Answer): Task[] {
  if (answer.text === '' && answer.chunks === undefined) return [];
  const parsed = parseTaskAnswer(answer, ResultAnswerSchema, 'result');
  if (parsed instanceof HiveError) return [];
  return (parsed.next?.tasks ?? []).map(taskFromWire);
}

/** The answer to `GET version?platform=…`: the newest release for this platform, if any. */
export function releaseOutcome(answer: Answer): ReleaseOutcome {
  if (answer.status === 404) return { kind: 'none' };
  if (answer.status !== 200) return { kind: 'error', error: httpError(answer, 'version') };
  const parsed = parseAnswer(answer, ReleaseSchema, 'version');
  return parsed instanceof HiveError
    ? { kind: 'error', error: parsed }
    : { kind: 'release', release: parsed };
}
