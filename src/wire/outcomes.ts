/**
 * What the Hive client's calls answer (src/wire/hive-client.ts): one tagged union per endpoint,
 * never an exception for an answer.
 */
import type { HiveError } from '../platform/errors.ts';
import type { VersionHint } from './answers.ts';
import type { Release, Task } from './protocol.ts';

/** Why the worker asks for an update check: a 426, or a newer `X-Hive-Latest-Version`. */
export type UpdateHint =
  | { reason: 'upgrade-required' }
  | { reason: 'latest-version'; version: string };

export type ClaimOutcome =
  | ({ kind: 'task'; task: Task } & VersionHint)
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
  | { kind: 'accepted'; status: number }
  | { kind: 'duplicate' }
  | { kind: 'gone'; status: number; answer: string }
  | { kind: 'refused'; status: number; answer: string }
  /** Kept queued: network, 5xx, or a transient 4xx; `retryAfterMs` from the answer's Retry-After. */
  | { kind: 'retry'; error: HiveError; status?: number; retryAfterMs?: number };

/**
 * 4xx answers to a result that are not the result's fault (protocol section 3): a wrong or rotated
 * token (401, 403), a proxy wanting credentials (407), a slow link (408), too early (425), a rate
 * limit (429). Refusing the result for them would lose it; it stays queued, same resultId and body.
 */
export const TRANSIENT_RESULT_STATUSES: ReadonlySet<number> = new Set([
  401, 403, 407, 408, 425, 429,
]);

export type ReleaseOutcome =
  | { kind: 'release'; release: Release }
  | { kind: 'none' }
  | { kind: 'error'; error: HiveError };
