/**
 * The worker's error family: a stable string `code`, a message a person can act on, and a `cause`.
 * Codes named by protocol v1 travel to the server in results; the others stay in our logs.
 */

/** Codes the protocol puts in `error.code` of a result. */
export const RESULT_ERROR_CODES = [
  'TASK_ERROR',
  'CRASHED',
  'TIMEOUT',
  'CANCELLED',
  'SHUTDOWN',
  'UNKNOWN_TASK',
  'BAD_PAYLOAD',
] as const;
export type ResultErrorCode = (typeof RESULT_ERROR_CODES)[number];

/** Our own codes, for failures that never become a task result. */
export type WorkerErrorCode =
  | ResultErrorCode
  | 'CONFIG'
  | 'HTTP'
  | 'NETWORK'
  | 'BAD_ANSWER'
  | 'LOCKED'
  | 'OUTBOX'
  | 'UPDATE'
  | 'INSTALL';

export class HiveError extends Error {
  readonly code: WorkerErrorCode;
  readonly details: unknown;

  constructor(
    code: WorkerErrorCode,
    message: string,
    options?: { cause?: unknown; details?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HiveError';
    this.code = code;
    this.details = options?.details;
  }
}

/** The one place where a thrown `unknown` becomes an `Error`. */
export function coerceError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  if (typeof thrown === 'string') return new Error(thrown);
  let text: string;
  try {
    text = JSON.stringify(thrown) ?? String(thrown);
  } catch {
    text = String(thrown);
  }
  return new Error(`non-error thrown: ${text}`, { cause: thrown });
}

/** An Error's code when it carries a string one (ours, Node's `ECONNREFUSED`, undici's `UND_ERR_*`). */
export function errorCode(error: unknown): string | undefined {
  if (
    typeof error === 'object' &&
    error !== null &&
    'code' in error &&
    typeof error.code === 'string'
  ) {
    return error.code;
  }
  return undefined;
}
