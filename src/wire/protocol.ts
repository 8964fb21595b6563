/**
 * Protocol v1 and 1.1 (docs/protocol.md): the one place the wire format is spelled.
 * Server answers are parsed with these schemas; unknown fields are ignored (zod strips them),
 * a known field of the wrong type makes the whole answer invalid.
 */
import semver from 'semver';
import * as z from 'zod';
import { RESULT_ERROR_CODES } from '../platform/errors.ts';

export const PROTOCOL_VERSION = 1;

const TASK_ID = z.string().min(1).max(200);
/**
 * Strict semver as the `semver` package itself reads it (`1.02.0` and a major above 2^53 are not):
 * a version this check lets in can never make `semver.gt` throw later.
 */
export function isStrictSemver(text: string): boolean {
  return semver.valid(text) !== null;
}
const SEMVER = z.string().refine(isStrictSemver, 'a strict semver version (e.g. 1.4.0)');

/** Protocol section 1: the bounds of a task's timeoutSec and leaseSec (whole seconds). */
export const TASK_BOUNDS = {
  timeoutSec: { min: 1, max: 604_800 },
  leaseSec: { min: 1, max: 86_400 },
} as const;

/** The bounded fields as a server must send them (the reference server checks what it is given). */
export const BoundedTaskSecondsSchema = {
  timeoutSec: z.number().int().min(TASK_BOUNDS.timeoutSec.min).max(TASK_BOUNDS.timeoutSec.max),
  leaseSec: z.number().int().min(TASK_BOUNDS.leaseSec.min).max(TASK_BOUNDS.leaseSec.max),
};

/** Whether `value` is a whole number of seconds within the protocol's bounds for `field`. */
export function isWithinBounds(field: keyof typeof TASK_BOUNDS, value: number): boolean {
  const { min, max } = TASK_BOUNDS[field];
  return Number.isInteger(value) && value >= min && value <= max;
}

/**
 * Why a delivered task must not run, or undefined: an out-of-range timeoutSec or leaseSec is
 * answered `rejected`/`BAD_PAYLOAD` naming the field, never run with a timer that fires at once.
 */
export function taskBoundsProblem(task: Task): string | undefined {
  for (const field of ['timeoutSec', 'leaseSec'] as const) {
    const value = task[field];
    if (value !== undefined && !isWithinBounds(field, value)) {
      const { min, max } = TASK_BOUNDS[field];
      return `${field} must be a whole number of seconds from ${min} to ${max}, got ${value}`;
    }
  }
  return undefined;
}

/** A task as the server delivers it in a claim answer. */
export const TaskSchema = z.object({
  id: TASK_ID,
  type: z.string().min(1),
  payload: z.unknown(),
  // Any number here: one out of bounds is answered BAD_PAYLOAD by the worker (taskBoundsProblem).
  timeoutSec: z.number().optional(),
  leaseSec: z.number().optional(),
  attempt: z.number().int().min(1).default(1),
  force: z.boolean().default(false),
});
/**
 * A delivered task. `payloadJson`, when there, is its payload as the bytes it arrived in (`payload`
 * is then null): the task process parses it (src/wire/claim-payload.ts). It is handed over once:
 * whoever sends it to the task process lets go of it.
 */
export type Task = z.infer<typeof TaskSchema> & { payloadJson?: readonly Uint8Array[] | undefined };

export const ClaimAnswerSchema = z.object({ task: TaskSchema });

export const HeartbeatAnswerSchema = z.object({
  // Out of bounds (TASK_BOUNDS.leaseSec), it is ignored and the beat keeps its interval.
  leaseSec: z.number().optional(),
  cancel: z.boolean().default(false),
});
export type HeartbeatAnswer = z.infer<typeof HeartbeatAnswerSchema>;

const SHA256 = z.string().regex(/^[0-9a-f]{64}$/i, '64 hex digits');

export const ReleaseSchema = z.object({
  version: SEMVER,
  url: z.string().min(1),
  sha256: SHA256,
  size: z.number().int().positive(),
  signature: z.string().min(1),
  // Protocol 1.1-f (docs/updating.md "Patches"): a malformed extra is dropped, never the answer,
  // so such a release still installs through the zip.
  manifestSha256: SHA256.optional().catch(undefined),
  signatureV2: z.string().min(1).optional().catch(undefined),
  patches: z
    .array(
      z.object({
        from: SEMVER,
        url: z.string().min(1),
        sha256: SHA256,
        size: z.number().int().positive(),
      }),
    )
    .optional()
    .catch(undefined),
});
export type Release = z.infer<typeof ReleaseSchema>;

export const RESULT_STATUSES = [
  'succeeded',
  'failed',
  'timed_out',
  'cancelled',
  'rejected',
] as const;
export type ResultStatus = (typeof RESULT_STATUSES)[number];

export const ResultErrorSchema = z.object({
  code: z.enum(RESULT_ERROR_CODES),
  message: z.string(),
  details: z.unknown().optional(),
});
export type ResultError = z.infer<typeof ResultErrorSchema>;

export const TaskLogLineSchema = z.object({
  at: z.string(),
  level: z.enum(['debug', 'info', 'warn', 'error']),
  msg: z.string(),
});
export type TaskLogLine = z.infer<typeof TaskLogLineSchema>;

/** The body of `POST tasks/{id}/result`; also what the outbox keeps on disk, byte for byte. */
export const ResultBodySchema = z.object({
  workerId: z.string(),
  resultId: z.string(),
  workerVersion: z.string(),
  status: z.enum(RESULT_STATUSES),
  output: z.unknown(),
  error: ResultErrorSchema.nullable(),
  attempt: z.number().int().min(1),
  startedAt: z.string(),
  finishedAt: z.string(),
  logs: z.array(TaskLogLineSchema).optional(),
  logsTruncated: z.boolean().optional(),
});
export type ResultBody = z.infer<typeof ResultBodySchema>;

/**
 * A task's output too big for the worker's memory: the JSON text a task process wrote to `file`
 * (checked to be `bytes` long, within MAX_RESULT_BYTES), copied into the outbox file in buffers.
 */
export interface SpooledOutput {
  file: string;
  bytes: number;
}

/**
 * A result body as the text it is sent and kept as (protocol section 3), the output inside it the
 * task process's own JSON text: one string (`json`), or `${head}${output file's text}${tail}`,
 * put together only in the outbox file.
 */
export type EncodedResult =
  | { resultId: string; status: ResultStatus; json: string }
  | { resultId: string; status: ResultStatus; head: string; output: SpooledOutput; tail: string };

/**
 * A result body as it is sent: its text, or where it lies in a file (`bytes` bytes from byte
 * `start`: the outbox keeps big bodies only there, and the POST streams them from it).
 */
export type StoredResult =
  | { resultId: string; status: ResultStatus; json: string }
  | { resultId: string; status: ResultStatus; file: string; start: number; bytes: number };

/**
 * ResultBody's fields in its order, `output` given as JSON.stringify's own text (`null` for none;
 * task/child.ts made it so) or as the file holding it: the same JSON as `JSON.stringify(body)`.
 */
export function encodeResultBody(
  fields: Omit<ResultBody, 'output'>,
  output: string,
): Extract<EncodedResult, { json: string }>;
export function encodeResultBody(
  fields: Omit<ResultBody, 'output'>,
  output: string | SpooledOutput,
): EncodedResult;
export function encodeResultBody(
  fields: Omit<ResultBody, 'output'>,
  output: string | SpooledOutput,
): EncodedResult {
  const { workerId, resultId, workerVersion, status, error, attempt, startedAt, finishedAt } =
    fields;
  const start = JSON.stringify({ workerId, resultId, workerVersion, status });
  // Undefined fields (logs, logsTruncated when absent) are left out, as JSON.stringify does.
  const { logs, logsTruncated } = fields;
  const end = JSON.stringify({ error, attempt, startedAt, finishedAt, logs, logsTruncated });
  // Both are `{…}` and never empty, so the splice needs no case for an empty object.
  const head = `${start.slice(0, -1)},"output":`;
  const tail = `,${end.slice(1)}`;
  if (typeof output === 'string') return { resultId, status, json: `${head}${output}${tail}` };
  return { resultId, status, head, output, tail };
}

export interface ClaimRequest {
  workerId: string;
  version: string;
  platform: string;
  tasks: string[];
  waitSec: number;
}

export interface HeartbeatRequest {
  workerId: string;
  progress?: { percent?: number; message?: string };
}

/** `<process.platform>-<process.arch>`, e.g. `win32-x64`. */
export function currentPlatform(): string {
  return `${process.platform}-${process.arch}`;
}

/** The string a release signature covers (protocol section 5). */
export function releaseSigningText(platform: string, version: string, sha256: string): string {
  return `hive-worker-release:v1:${platform}:${version}:${sha256}`;
}

/** The string `signatureV2` covers (protocol 1.1-f): the zip and the release.json inside it. */
export function releaseSigningTextV2(
  platform: string,
  version: string,
  sha256: string,
  manifestSha256: string,
): string {
  return `hive-worker-release:v2:${platform}:${version}:${sha256}:${manifestSha256}`;
}

// ---------------------------------------------------------------------------------------------
// Protocol 1.1 (docs/protocol.md, "Version 1.1"): additions only; everything above is version 1.

/** The capability header a 1.1 server sends on every answer, and its value. */
export const PROTOCOL_HEADER = 'x-hive-protocol';
export const PROTOCOL_1_1 = '1.1';

/** 1.1-b/c: most tasks one claim or one result's `next` may ask for. */
export const MAX_TASKS_PER_CLAIM = 64;
/** 1.1-d: most results in one `POST tasks/results`. */
export const MAX_RESULTS_PER_BATCH = 100;

/** 1.1-c: `"next": { "max": N }` on a result body (0 = none, e.g. while draining). */
export interface NextRequest {
  max: number;
}

/** 1.1-b: a claim asking for several tasks. */
export interface ClaimManyRequest extends ClaimRequest {
  max?: number;
}

/** 1.1-d: one result of a batch: the body section 3 would send, with its task's id. */
export type BatchResultEntry = ResultBody & { taskId: string };

/** 1.1-d: the body of `POST tasks/results`. */
export interface BatchResultsRequest {
  workerId: string;
  results: BatchResultEntry[];
  next?: NextRequest;
}

export const RELEASE_REASONS = ['shutdown', 'update'] as const;
export type ReleaseReason = (typeof RELEASE_REASONS)[number];

/** 1.1-e: the body of `POST tasks/{id}/release`. */
export interface ReleaseRequest {
  workerId: string;
  reason: ReleaseReason;
}

/** 1.1-b: a 200 claim answer to a claim with `max`. */
export const ClaimManyAnswerSchema = z.object({
  tasks: z.array(TaskSchema).min(1).max(MAX_TASKS_PER_CLAIM),
});

/** 1.1-c: the `next` of a result answer: tasks leased to this worker, maybe none. */
export const NextAnswerSchema = z.object({
  tasks: z.array(TaskSchema).max(MAX_TASKS_PER_CLAIM),
});

/** 1.1-c: a result answer (200/201/202/409) may carry `next`. */
export const ResultAnswerSchema = z.object({ next: NextAnswerSchema.optional() });

/** 1.1-d: one entry of a batch answer: the status section 3 would have answered for it. */
export const BatchResultAnswerEntrySchema = z.object({
  resultId: z.string(),
  status: z.number().int().min(100).max(599),
  retryAfterSec: z.number().min(0).optional(),
});
export type BatchResultAnswerEntry = z.infer<typeof BatchResultAnswerEntrySchema>;

/** 1.1-d: the 200 answer of `POST tasks/results`. */
export const BatchResultsAnswerSchema = z.object({
  results: z.array(BatchResultAnswerEntrySchema),
  next: NextAnswerSchema.optional(),
});
export type BatchResultsAnswer = z.infer<typeof BatchResultsAnswerSchema>;
