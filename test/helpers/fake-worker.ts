/**
 * A fake worker that speaks the protocol (1 and 1.1) by hand to the reference server, with the
 * headers every request carries, and valid result bodies to send. Test code only: it uses
 * Node's global fetch. Fault rules and the protocol switch are described in ./server.ts.
 */
import {
  type BatchResultEntry,
  type EncodedResult,
  encodeResultBody,
  type NextRequest,
  type ReleaseReason,
  type ResultBody,
} from '../../src/wire/protocol.ts';

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A protocol answer, read whole: `json` is the parsed body, undefined when empty or not JSON. */
export interface HiveAnswer {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

export interface FakeWorkerOptions {
  /** @default 'test-host-0000abcd' */
  workerId?: string;
  token?: string;
  /** @default '1.0.0' */
  version?: string;
  /** @default 'linux-x64' */
  platform?: string;
}

/** Speaks protocol v1 and 1.1 by hand, with the headers every request carries. */
export function fakeWorker(url: string, options: FakeWorkerOptions = {}) {
  const { workerId = 'test-host-0000abcd', version = '1.0.0', platform = 'linux-x64' } = options;
  async function send(
    path: string,
    body: unknown,
    extraHeaders: Record<string, string> = {},
  ): Promise<HiveAnswer> {
    const headers: Record<string, string> = {
      'user-agent': `hive-worker/${version} (${platform})`,
      'x-hive-worker-id': workerId,
      'content-type': 'application/json',
      ...extraHeaders,
    };
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    const response = await fetch(new URL(path, url), {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text, json: parseJson(text) };
  }
  const taskPath = (id: string) => `tasks/${encodeURIComponent(id)}`;
  return {
    workerId,
    claim: (tasks: string[], waitSec = 0) =>
      send('tasks/claim', { workerId, version, platform, tasks, waitSec }),
    heartbeat: (taskId: string, progress?: { percent?: number; message?: string }) =>
      send(`${taskPath(taskId)}/heartbeat`, { workerId, progress }),
    postResult: (
      taskId: string,
      body: ResultBody & { next?: NextRequest },
      idempotencyKey = body.resultId,
    ) => send(`${taskPath(taskId)}/result`, body, { 'idempotency-key': idempotencyKey }),
    /** 1.1-b: a claim with `max`. */
    claimMany: (tasks: string[], max: number, waitSec = 0) =>
      send('tasks/claim', { workerId, version, platform, tasks, waitSec, max }),
    /** 1.1-d: several results in one request (entries may be invalid on purpose: `unknown`). */
    postResults: (results: (BatchResultEntry | Record<string, unknown>)[], next?: NextRequest) =>
      send('tasks/results', { workerId, results, ...(next === undefined ? {} : { next }) }),
    /** 1.1-e: gives a held task back. */
    release: (taskId: string, reason: ReleaseReason = 'shutdown') =>
      send(`${taskPath(taskId)}/release`, { workerId, reason }),
  };
}
export type FakeWorker = ReturnType<typeof fakeWorker>;

/** A valid result body (succeeded, attempt 1, a fresh resultId) with `overrides` applied. */
export function resultBody(overrides: Partial<ResultBody> = {}): ResultBody {
  const now = new Date().toISOString();
  return {
    workerId: 'test-host-0000abcd',
    resultId: crypto.randomUUID(),
    workerVersion: '1.0.0',
    status: 'succeeded',
    output: { ok: true },
    error: null,
    attempt: 1,
    startedAt: now,
    finishedAt: now,
    ...overrides,
  };
}

/** A body as the worker sends and keeps it: encoded once, its output as JSON text. */
export function encoded(body: ResultBody): Extract<EncodedResult, { json: string }> {
  const { output, ...fields } = body;
  return encodeResultBody(fields, JSON.stringify(output ?? null));
}
