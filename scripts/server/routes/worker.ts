/**
 * The protocol endpoints a worker calls: claim, heartbeat, result, version, releases, with the
 * 1.1 additions of claim (`max`) and result (`next`) when the server speaks 1.1.
 * See docs/protocol.md; the heartbeat answers this server chooses are documented on
 * `sendHeartbeat`.
 */
import semver from 'semver';
import * as z from 'zod';
import {
  type ClaimManyRequest,
  type ClaimRequest,
  type HeartbeatRequest,
  MAX_TASKS_PER_CLAIM,
  ResultBodySchema,
} from '../../../src/wire/protocol.ts';
import { requireSameWorker } from '../auth.ts';
import type { Exchange, Route } from '../context.ts';
import { describeIssues, HttpError, readBody, readJsonBody, sendEmpty, sendJson } from '../http.ts';
import { findLatestRelease, serveReleaseFile, serveVersion } from '../releases.ts';
import { leaseNext, PROTOCOL_1_1_ROUTES, readNext } from './protocol-1-1.ts';

const ClaimRequestSchema = z.object({
  workerId: z.string().min(1),
  version: z.string().refine((version) => semver.valid(version) !== null, 'a semver version'),
  platform: z.string().min(1),
  tasks: z.array(z.string()),
  waitSec: z.number().min(0),
}) satisfies z.ZodType<ClaimRequest>;

const ClaimManyRequestSchema = ClaimRequestSchema.extend({
  max: z.number().int().min(1).max(MAX_TASKS_PER_CLAIM).optional(),
}) satisfies z.ZodType<ClaimManyRequest>;

const HeartbeatRequestSchema = z.object({
  workerId: z.string().min(1),
  progress: z.object({ percent: z.number().optional(), message: z.string().optional() }).optional(),
}) satisfies z.ZodType<HeartbeatRequest>;

/** `X-Hive-Latest-Version` when the releases folder has a release for `platform`. */
async function latestVersionHeader(
  exchange: Exchange,
  platform: string,
): Promise<Record<string, string>> {
  const latest = await findLatestRelease(exchange.server.releasesDir, platform);
  return latest === undefined ? {} : { 'x-hive-latest-version': latest.version };
}

/**
 * `POST tasks/claim`: 200 `{ task }` (or, for a 1.1 claim with `max`, `{ tasks }` with 1…max),
 * or 204 after holding the request up to min(waitSec, maxWaitSec) seconds for a task of one of
 * the asked types; 426 below --min-version. The types are remembered for a result's `next`.
 */
async function claimTask(exchange: Exchange): Promise<void> {
  const { server, res, workerId } = exchange;
  const speaks11 = server.protocol.version === '1.1';
  // A version-1 server does not know `max`: it is stripped unread, whatever its value.
  const body: ClaimManyRequest = await readBody(
    exchange.req,
    speaks11 ? ClaimManyRequestSchema : ClaimRequestSchema,
  );
  requireSameWorker(workerId, body.workerId);
  if (server.minVersion !== undefined && semver.lt(body.version, server.minVersion)) {
    const headers = await latestVersionHeader(exchange, body.platform);
    throw new HttpError(
      426,
      `worker version ${body.version} is below the minimum ${server.minVersion}`,
      headers,
    );
  }
  server.handouts.rememberTypes(workerId, body.tasks);
  const max = body.max ?? 1;
  let tasks = server.store.claim(workerId, body.tasks, max, Date.now());
  const waitSec = Math.min(body.waitSec, server.maxWaitSec);
  if (tasks.length === 0 && waitSec > 0) {
    // The client may give up first: then the waiter leaves without claiming anything.
    const gone = new AbortController();
    const onClose = () => gone.abort();
    res.once('close', onClose);
    tasks = await server.longPolls.wait(workerId, body.tasks, max, waitSec * 1000, gone.signal);
    res.off('close', onClose);
  }
  // Read after the wait: a release published meanwhile is announced at once.
  const headers = await latestVersionHeader(exchange, body.platform);
  if (tasks.length === 0) sendEmpty(res, 204, headers);
  else if (body.max === undefined) sendJson(res, 200, { task: tasks[0] }, headers);
  else sendJson(res, 200, { tasks }, headers);
}

/**
 * `POST tasks/{id}/heartbeat`. Answers:
 * - 200 `{ leaseSec, cancel: false }`: the caller holds the live lease; it now ends leaseSec from now.
 * - 200 `{ leaseSec, cancel: true }`: an admin cancelled the task while the caller held it.
 * - 404: no such task.
 * - 409: not the caller's: leased to another worker, its lease lapsed, or a result is recorded.
 * - 410: the task was cancelled and the caller was not its last holder.
 */
async function sendHeartbeat(exchange: Exchange): Promise<void> {
  const { server, res, workerId } = exchange;
  const taskId = exchange.params[0] ?? '';
  const body = await readBody(exchange.req, HeartbeatRequestSchema);
  requireSameWorker(workerId, body.workerId);
  const outcome = server.store.heartbeat(taskId, workerId, body.progress, Date.now());
  switch (outcome.kind) {
    case 'extended':
      return sendJson(res, 200, { leaseSec: outcome.leaseSec, cancel: false });
    case 'cancel':
      return sendJson(res, 200, { leaseSec: outcome.leaseSec, cancel: true });
    case 'unknown':
      throw new HttpError(404, `no task ${taskId}`);
    case 'gone':
      throw new HttpError(410, outcome.reason);
    case 'not-yours':
      throw new HttpError(409, outcome.reason);
  }
}

/**
 * `POST tasks/{id}/result`: 200 stored; 409 when this resultId is already recorded (stored once)
 * or the task already has another result; 404 unknown task; 400 invalid body or Idempotency-Key.
 * The body is stored whole, unknown fields included. With a 1.1 `next`, a 200/409 answer carries
 * `next: { tasks }`, leased in the same transaction as the result is recorded.
 */
async function receiveResult(exchange: Exchange): Promise<void> {
  const { server, req, res } = exchange;
  const taskId = exchange.params[0] ?? '';
  const key = req.headers['idempotency-key'];
  const raw = await readJsonBody(req);
  const parsed = ResultBodySchema.safeParse(raw);
  if (!parsed.success)
    throw new HttpError(400, `invalid result body: ${describeIssues(parsed.error)}`);
  const { resultId, status } = parsed.data;
  if (typeof key !== 'string' || key === '')
    throw new HttpError(400, 'missing Idempotency-Key header');
  if (key !== resultId)
    throw new HttpError(400, `Idempotency-Key ${key} differs from the body's resultId`);
  const next = readNext(exchange, raw);
  const { outcome, answerNext } = server.db.transaction(() => {
    const outcome = server.store.recordResult(
      taskId,
      { resultId, status, json: JSON.stringify(raw) },
      Date.now(),
    );
    const taken = outcome !== 'unknown';
    const answerNext =
      taken && next !== undefined ? { next: leaseNext(exchange, [resultId], next) } : {};
    return { outcome, answerNext };
  });
  switch (outcome) {
    case 'stored':
      return sendJson(res, 200, { taskId, resultId, stored: true, ...answerNext });
    case 'duplicate':
      return sendJson(res, 409, { error: `result ${resultId} is already recorded`, ...answerNext });
    case 'conflict':
      return sendJson(res, 409, {
        error: `task ${taskId} already has another result`,
        ...answerNext,
      });
    case 'unknown':
      throw new HttpError(404, `no task ${taskId}`);
  }
}

export const WORKER_ROUTES: readonly Route[] = [
  ...PROTOCOL_1_1_ROUTES,
  { methods: ['POST'], pattern: /^tasks\/claim$/, kind: 'claim', handle: claimTask },
  {
    methods: ['POST'],
    pattern: /^tasks\/([^/]+)\/heartbeat$/,
    kind: 'heartbeat',
    handle: sendHeartbeat,
  },
  { methods: ['POST'], pattern: /^tasks\/([^/]+)\/result$/, kind: 'result', handle: receiveResult },
  {
    methods: ['GET'],
    pattern: /^version$/,
    kind: 'version',
    handle: (exchange) => serveVersion(exchange.res, exchange.url, exchange.server.releasesDir),
  },
  {
    methods: ['GET', 'HEAD'],
    pattern: /^releases\/([^/]+)$/,
    kind: 'releases',
    handle: serveRelease,
  },
  {
    // The `url` of a release answer is the zip's file name (release.md), relative to SERVER_URL.
    methods: ['GET', 'HEAD'],
    pattern: /^(worker-[^/]+\.zip)$/,
    kind: 'releases',
    handle: serveRelease,
  },
];

function serveRelease(exchange: Exchange): Promise<void> {
  return serveReleaseFile(
    exchange.req,
    exchange.res,
    exchange.server.releasesDir,
    exchange.params[0] ?? '',
  );
}
