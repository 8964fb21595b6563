/**
 * Protocol v1 (../shared/protocol.md, docs/protocol.md): the one place the wire format is spelled.
 * Server answers are parsed with these schemas; unknown fields are ignored (zod strips them),
 * a known field of the wrong type makes the whole answer invalid.
 */
import * as z from 'zod';
import { RESULT_ERROR_CODES } from '../platform/errors.ts';

export const PROTOCOL_VERSION = 1;

const TASK_ID = z.string().min(1).max(200);
const SEMVER = z
  .string()
  .regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/, 'a semver version');

/** A task as the server delivers it in a claim answer. */
export const TaskSchema = z.object({
  id: TASK_ID,
  type: z.string().min(1),
  payload: z.unknown(),
  timeoutSec: z.number().positive().optional(),
  leaseSec: z.number().positive().optional(),
  attempt: z.number().int().min(1).default(1),
  force: z.boolean().default(false),
});
export type Task = z.infer<typeof TaskSchema>;

export const ClaimAnswerSchema = z.object({ task: TaskSchema });

export const HeartbeatAnswerSchema = z.object({
  leaseSec: z.number().positive().optional(),
  cancel: z.boolean().default(false),
});
export type HeartbeatAnswer = z.infer<typeof HeartbeatAnswerSchema>;

export const ReleaseSchema = z.object({
  version: SEMVER,
  url: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/i, '64 hex digits'),
  size: z.number().int().positive(),
  signature: z.string().min(1),
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
