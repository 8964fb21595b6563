/**
 * The protocol 1.1 endpoints (docs/protocol.md, "Version 1.1"): results in one request (1.1-d)
 * and giving a held task back (1.1-e); and the `next` of a result answer (1.1-c), which the
 * single result endpoint shares. A server speaking version 1 has none of them.
 */
import * as z from 'zod';
import {
  type BatchResultAnswerEntry,
  type BatchResultEntry,
  MAX_RESULTS_PER_BATCH,
  MAX_TASKS_PER_CLAIM,
  type NextRequest,
  RELEASE_REASONS,
  type ReleaseRequest,
  ResultBodySchema,
  type Task,
  TaskSchema,
} from '../../../src/wire/protocol.ts';
import { requireSameWorker } from '../auth.ts';
import type { Exchange, Route } from '../context.ts';
import { describeIssues, HttpError, readBody, sendEmpty, sendJson } from '../http.ts';
import type { ResultOutcome } from '../store.ts';

const NextRequestSchema = z.object({
  max: z.number().int().min(0).max(MAX_TASKS_PER_CLAIM),
}) satisfies z.ZodType<NextRequest>;

const BatchRequestSchema = z.object({
  workerId: z.string().min(1),
  // Each entry is checked on its own: one bad entry is a 400 in its place, not for the batch.
  results: z.array(z.unknown()).min(1).max(MAX_RESULTS_PER_BATCH),
  next: NextRequestSchema.optional(),
});

const BatchEntrySchema = ResultBodySchema.extend({
  taskId: TaskSchema.shape.id,
}) satisfies z.ZodType<BatchResultEntry>;

const ReleaseRequestSchema = z.object({
  workerId: z.string().min(1),
  reason: z.enum(RELEASE_REASONS),
}) satisfies z.ZodType<ReleaseRequest>;

/** The HTTP status section 3 gives each outcome of recording a result. */
const RESULT_STATUS_OF: Record<ResultOutcome, number> = {
  stored: 200,
  duplicate: 409,
  conflict: 409,
  unknown: 404,
};

const WHY_NOT: Record<ResultOutcome, string> = {
  stored: '',
  duplicate: 'this resultId is already recorded',
  conflict: 'the task already has another result',
  unknown: 'no such task',
};

/** Whether a result with this status was taken (so its `next` may lease tasks). */
function isAccepted(status: number): boolean {
  return status === 200 || status === 409;
}

/**
 * The `next` a single result's body asks for, on a server speaking 1.1 (ignored otherwise);
 * absent or null = none; out of bounds = 400.
 */
export function readNext(exchange: Exchange, raw: unknown): NextRequest | undefined {
  if (exchange.server.protocol.version !== '1.1') return undefined;
  if (typeof raw !== 'object' || raw === null || !('next' in raw)) return undefined;
  if (raw.next === undefined || raw.next === null) return undefined;
  const parsed = NextRequestSchema.safeParse(raw.next);
  if (!parsed.success) throw new HttpError(400, `invalid next: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** The tasks of a `next` for these taken results (see Handouts.nextFor). */
export function leaseNext(
  exchange: Exchange,
  resultIds: readonly string[],
  next: NextRequest,
): { tasks: Task[] } {
  const { handouts } = exchange.server;
  return { tasks: handouts.nextFor(resultIds, exchange.workerId, next.max, Date.now()) };
}

/** One batch entry: a fault rule's status, 400 when invalid, else what recording it gives. */
function answerEntry(
  exchange: Exchange,
  raw: unknown,
  nowMs: number,
): BatchResultAnswerEntry & { error?: string } {
  const fields = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
  const resultId = typeof fields.resultId === 'string' ? fields.resultId : '';
  const taskId = typeof fields.taskId === 'string' ? fields.taskId : undefined;
  const rule = exchange.server.faults.take('result-entry', taskId);
  if (rule !== undefined) {
    const retry = rule.retryAfterSec === undefined ? {} : { retryAfterSec: rule.retryAfterSec };
    return { resultId, status: rule.status ?? 503, ...retry, error: 'fault rule' };
  }
  const parsed = BatchEntrySchema.safeParse(raw);
  if (!parsed.success)
    return { resultId, status: 400, error: `invalid result: ${describeIssues(parsed.error)}` };
  // Stored as section 3 would have received it: the whole entry but its taskId.
  const { taskId: _taskId, ...body } = fields;
  const outcome = exchange.server.store.recordResult(
    parsed.data.taskId,
    { resultId, status: parsed.data.status, json: JSON.stringify(body) },
    nowMs,
  );
  const status = RESULT_STATUS_OF[outcome];
  return status === 200 ? { resultId, status } : { resultId, status, error: WHY_NOT[outcome] };
}

/**
 * `POST tasks/results`: 200 `{ results: [{ resultId, status, retryAfterSec? }], next? }`, one
 * entry per result in order, the whole batch (and its `next`) in one transaction. `next` leases
 * tasks only when at least one result was taken (200/409): they are recorded under each taken
 * resultId, so a batch re-sent in another grouping still gets the same tasks back.
 */
async function receiveResults(exchange: Exchange): Promise<void> {
  const { server, res, workerId } = exchange;
  const body = await readBody(exchange.req, BatchRequestSchema);
  requireSameWorker(workerId, body.workerId);
  const answer = server.db.transaction(() => {
    const nowMs = Date.now();
    const results = body.results.map((raw) => answerEntry(exchange, raw, nowMs));
    if (body.next === undefined) return { results };
    const taken = results.filter((entry) => isAccepted(entry.status));
    const resultIds = taken.map((entry) => entry.resultId);
    return { results, next: leaseNext(exchange, resultIds, body.next) };
  });
  sendJson(res, 200, answer);
}

/**
 * `POST tasks/{id}/release`: 204 back in the queue (Handouts.release says what is accepted);
 * 404 unknown task; 409 not leased to this worker any more (another holder, lapsed, has a
 * result); 410 cancelled. Wakes long polls: the task is claimable at once.
 */
async function releaseTask(exchange: Exchange): Promise<void> {
  const { server, res, workerId } = exchange;
  const taskId = exchange.params[0] ?? '';
  const body = await readBody(exchange.req, ReleaseRequestSchema);
  requireSameWorker(workerId, body.workerId);
  switch (server.handouts.release(taskId, workerId, body.reason, Date.now())) {
    case 'released':
      server.longPolls.wake();
      return sendEmpty(res, 204);
    case 'unknown':
      throw new HttpError(404, `no task ${taskId}`);
    case 'not-yours':
      throw new HttpError(409, `task ${taskId} is not leased to this worker`);
    case 'gone':
      throw new HttpError(410, `task ${taskId} was cancelled`);
  }
}

export const PROTOCOL_1_1_ROUTES: readonly Route[] = [
  {
    methods: ['POST'],
    pattern: /^tasks\/results$/,
    kind: 'results',
    since: '1.1',
    handle: receiveResults,
  },
  {
    methods: ['POST'],
    pattern: /^tasks\/([^/]+)\/release$/,
    kind: 'release',
    since: '1.1',
    handle: releaseTask,
  },
];
