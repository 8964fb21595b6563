/**
 * The endings a task is refused or failed with, built here for both sides of the process boundary
 * (the worker's gate, ./gate.ts, and the task process's, ./child-gate.ts): each message once.
 * Types only from elsewhere: a task process loads this at start.
 */
import type { ResultError } from '../wire/protocol.ts';

/** A task refused or failed without an output: its status and why. */
export interface Ended {
  status: 'failed' | 'rejected';
  error: ResultError;
}

/** Refused before it ran: a payload, a bound or a type this worker cannot take. */
export function rejected(
  code: 'BAD_PAYLOAD' | 'UNKNOWN_TASK',
  message: string,
  details?: Record<string, unknown>,
): Ended {
  return {
    status: 'rejected',
    error: { code, message, ...(details === undefined ? {} : { details }) },
  };
}

/** Ran, or tried to, and failed: TASK_ERROR. */
export function failed(message: string, details?: Record<string, unknown>): Ended {
  return {
    status: 'failed',
    error: { code: 'TASK_ERROR', message, ...(details === undefined ? {} : { details }) },
  };
}

/** An output over MAX_RESULT_BYTES fails its task, on whichever side sees it first. */
export function outputTooBig(bytes: number, maxResultBytes: number): Ended | undefined {
  if (bytes <= maxResultBytes) return undefined;
  return failed(
    `the task's output is ${bytes} bytes of JSON, over MAX_RESULT_BYTES (${maxResultBytes})`,
  );
}
