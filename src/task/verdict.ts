/**
 * What a task's end means: the outcome's status, output and error, from how it ended — a stop we
 * asked for, the result its process sent, or no result at all (a crash, told by its exit and the
 * tail of its stderr).
 */
import { coerceError } from '../platform/errors.ts';
import type { ResultError, ResultStatus, SpooledOutput, TaskLogLine } from '../wire/protocol.ts';
import type { ChildMessage } from './child-messages.ts';
import type { StopReason } from './ipc.ts';
import { type Ended, failed, outputTooBig } from './outcome.ts';

/** How a task ended, as its result reports it (TaskOutcome adds the task's log tail). */
export interface Verdict {
  status: ResultStatus;
  /**
   * The task's output as the JSON text its process made (`null` when there is none). Carried as
   * text to the result body, the outbox and the POST: the worker never parses it.
   */
  outputJson: string;
  /** A big output is in this file instead (written by the task process; `outputJson` is `null`). */
  outputFile?: SpooledOutput;
  error: ResultError | null;
}

/** What running a task gives the loop: its verdict and the tail of its log. */
export interface TaskOutcome extends Verdict {
  logs: TaskLogLine[];
  logsTruncated: boolean;
}

/** The outcome of a task that ended without an output (refused, failed, stopped), with its logs. */
export function endedOutcome(
  ended: Ended | { status: ResultStatus; error: ResultError },
  logs: TaskLogLine[] = [],
  logsTruncated = false,
): TaskOutcome {
  return { ...ended, outputJson: 'null', logs, logsTruncated };
}

const STOPPED: Record<StopReason, { status: ResultStatus; error: ResultError }> = {
  timeout: {
    status: 'timed_out',
    error: { code: 'TIMEOUT', message: 'the task ran past its timeout and was stopped' },
  },
  cancel: {
    status: 'cancelled',
    error: { code: 'CANCELLED', message: 'the server cancelled the task' },
  },
  shutdown: {
    status: 'cancelled',
    error: { code: 'SHUTDOWN', message: 'the worker shut down while the task ran' },
  },
};

/** A task stopped before it ever ran (a held task the server cancelled): no process, no output. */
export function stoppedOutcome(reason: StopReason): TaskOutcome {
  return endedOutcome(STOPPED[reason]);
}

/** A stop we asked for wins over what the child reported after it; no result at all is a crash. */
export function verdictOf(end: {
  stopReason: StopReason | undefined;
  result: Extract<ChildMessage, { type: 'result' }> | undefined;
  maxResultBytes: number;
  /** The spool file the task process was told to write a big output to, as found now. */
  spooled: () => SpooledOutput | undefined;
  scrub: (text: string) => string;
  crash: () => ResultError;
}): Verdict {
  if (end.stopReason !== undefined) return { ...STOPPED[end.stopReason], outputJson: 'null' };
  const { result } = end;
  if (result?.status === 'succeeded') {
    // The child checked the size before sending; a process that did not (a task writing to the
    // IPC channel itself) is held to MAX_RESULT_BYTES here, without parsing a byte of it. A
    // spooled output's size is the file's own, whatever the process said.
    const spooled = 'spooledBytes' in result ? end.spooled() : undefined;
    if ('spooledBytes' in result && spooled === undefined) {
      return {
        ...failed('the task process reported an output file it did not write'),
        outputJson: 'null',
      };
    }
    const bytes =
      spooled?.bytes ?? Buffer.byteLength('outputJson' in result ? result.outputJson : '');
    const tooBig = outputTooBig(bytes, end.maxResultBytes);
    if (tooBig !== undefined) return { ...tooBig, outputJson: 'null' };
    if (spooled !== undefined) {
      return { status: 'succeeded', outputJson: 'null', outputFile: spooled, error: null };
    }
    return {
      status: 'succeeded',
      outputJson: 'outputJson' in result ? result.outputJson : 'null',
      error: null,
    };
  }
  if (result !== undefined) {
    return {
      status: result.status,
      outputJson: 'null',
      error: { ...result.error, message: end.scrub(result.error.message) },
    };
  }
  return { status: 'failed', outputJson: 'null', error: end.crash() };
}

/** A task process that ended without a result: why, in words a person can act on. */
export function crashError(end: {
  spawnError: Error | undefined;
  stderrTail: readonly string[];
  code: number | null;
  signalName: NodeJS.Signals | null;
}): ResultError {
  const { code, signalName } = end;
  if (end.spawnError !== undefined) {
    return {
      code: 'CRASHED',
      message: `the task process could not start: ${coerceError(end.spawnError).message}`,
    };
  }
  const stderr = end.stderrTail.join('\n');
  const outOfMemory = /heap out of memory|Allocation failed|OOM/i.test(stderr);
  const how = signalName === null ? `exited with code ${code}` : `was killed by ${signalName}`;
  const message = outOfMemory
    ? `the task process ran out of memory (${how})`
    : `the task process ${how} before reporting a result`;
  return {
    code: 'CRASHED',
    message,
    details: { exitCode: code, signal: signalName, stderr: end.stderrTail.slice(-5) },
  };
}
