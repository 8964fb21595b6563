/**
 * A Hive server that misbehaves as each test says: one handler per route (claim, heartbeat,
 * result, version), the others answering like a quiet server (claim 204, heartbeat 200, result
 * 200, version 404). Every request is recorded with when it arrived, so a test can tell whether a
 * task's heartbeats kept their schedule while another request was held.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type HostileRoute = 'claim' | 'heartbeat' | 'result' | 'version';

export interface SeenRequest {
  route: HostileRoute;
  /** The task id in the path (heartbeat, result), else ''. */
  taskId: string;
  /** Milliseconds since the server started. */
  atMs: number;
  headers: IncomingMessage['headers'];
  body: string;
}

/** Answers one request; `n` counts this route's requests from 1. */
export type HostileHandler = (res: ServerResponse, request: SeenRequest, n: number) => void;

export interface HostileServer {
  url: string;
  handlers: Partial<Record<HostileRoute, HostileHandler>>;
  seen: SeenRequest[];
  count(route: HostileRoute, taskId?: string): number;
  /** Resolves once `route` has had `n` requests (of `taskId`, if given). */
  waitFor(route: HostileRoute, n: number, timeoutMs?: number, taskId?: string): Promise<void>;
  close(): Promise<void>;
}

const QUIET: Record<HostileRoute, { status: number; body: string }> = {
  claim: { status: 204, body: '' },
  heartbeat: { status: 200, body: '{"cancel":false}' },
  result: { status: 200, body: '{}' },
  version: { status: 404, body: '' },
};

function routeOf(url: string): { route: HostileRoute; taskId: string } | undefined {
  if (url.startsWith('/tasks/claim')) return { route: 'claim', taskId: '' };
  if (url.startsWith('/version')) return { route: 'version', taskId: '' };
  const match = /^\/tasks\/([^/]+)\/(heartbeat|result)$/.exec(url);
  if (match === null) return undefined;
  return { route: match[2] as HostileRoute, taskId: decodeURIComponent(match[1] as string) };
}

/**
 * Sends the headers at once, then `text` one byte every `everyMs` (each byte well inside any
 * silence limit, the whole far past any deadline); stops when the worker hangs up.
 */
export function dribble(res: ServerResponse, status: number, text: string, everyMs: number): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.flushHeaders();
  const bytes = Buffer.from(text);
  let at = 0;
  const timer = setInterval(() => {
    if (res.destroyed || at >= bytes.length) {
      clearInterval(timer);
      if (!res.destroyed) res.end();
      return;
    }
    res.write(bytes.subarray(at, at + 1));
    at++;
  }, everyMs);
  res.on('close', () => clearInterval(timer));
}

export async function startHostileServer(): Promise<HostileServer> {
  const started = performance.now();
  const seen: SeenRequest[] = [];
  const counts = new Map<string, number>();
  const waiters = new Set<() => void>();
  const handlers: HostileServer['handlers'] = {};
  const server = createServer((req, res) => {
    const where = routeOf(req.url ?? '');
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      if (where === undefined) {
        res.writeHead(404).end();
        return;
      }
      const request: SeenRequest = {
        ...where,
        atMs: performance.now() - started,
        headers: req.headers,
        body: Buffer.concat(parts).toString('utf8'),
      };
      seen.push(request);
      const n = (counts.get(where.route) ?? 0) + 1;
      counts.set(where.route, n);
      for (const wake of waiters) wake();
      const handler = handlers[where.route];
      if (handler !== undefined) return handler(res, request, n);
      const quiet = QUIET[where.route];
      res.writeHead(quiet.status, { 'content-type': 'application/json' }).end(quiet.body);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const count = (route: HostileRoute, taskId?: string) =>
    seen.filter((one) => one.route === route && (taskId === undefined || one.taskId === taskId))
      .length;
  return {
    url: `http://127.0.0.1:${port}/`,
    handlers,
    seen,
    count,
    waitFor(route, n, timeoutMs = 20_000, taskId) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (count(route, taskId) < n) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`${route} seen ${count(route, taskId)} times, not ${n}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A claim answer's body for one task. */
export function taskAnswer(task: Record<string, unknown>): string {
  return JSON.stringify({ task });
}
