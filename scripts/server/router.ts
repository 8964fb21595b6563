/**
 * Turns a request into a handler call. Every answer of a 1.1 server carries `X-Hive-Protocol:
 * 1.1` (docs/protocol.md, 1.1-a); a server speaking version 1 sends none and has no 1.1 routes.
 * Every request, in order: route match (404/405), bearer
 * token (401/403), `X-Hive-Worker-Id` on protocol routes (400), a fault rule if one matches the
 * route, then the handler. Thrown `HttpError`s become answers; anything else is a logged 500.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PROTOCOL_1_1, PROTOCOL_HEADER } from '../../src/wire/protocol.ts';
import { checkToken, requireWorkerId } from './auth.ts';
import type { Route, RouteKind, ServerParts } from './context.ts';
import { HttpError, sendError } from './http.ts';
import { METRICS_CONTENT_TYPE } from './metrics.ts';
import { ADMIN_ROUTES } from './routes/admin.ts';
import { WORKER_ROUTES } from './routes/worker.ts';

const API_PREFIX = '/api/';

const METRICS_ROUTE: Route = {
  methods: ['GET'],
  pattern: /^metrics$/,
  kind: 'metrics',
  handle: ({ res, server }) => {
    const text = server.metrics.render(server.db, server.longPolls.waiting);
    res.writeHead(200, {
      'content-type': METRICS_CONTENT_TYPE,
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  },
};

const ROUTES: readonly Route[] = [...WORKER_ROUTES, ...ADMIN_ROUTES, METRICS_ROUTE];

type RouteMatch = { route: Route; params: string[] };

/**
 * The route for `method` and `pathname`; 404 when no path matches (1.1 routes do not, on a server
 * speaking version 1), 405 when the method does not.
 */
function matchRoute(method: string, pathname: string, speaks11: boolean): RouteMatch {
  if (!pathname.startsWith(API_PREFIX)) throw new HttpError(404, `no such endpoint ${pathname}`);
  const path = pathname.slice(API_PREFIX.length);
  const allowed: string[] = [];
  for (const route of ROUTES) {
    if (route.since === '1.1' && !speaks11) continue;
    const match = route.pattern.exec(path);
    if (match === null) continue;
    if (!route.methods.includes(method)) {
      allowed.push(...route.methods);
      continue;
    }
    return { route, params: match.slice(1).map(decodeParam) };
  }
  if (allowed.length > 0)
    throw new HttpError(405, `method ${method} not allowed`, { allow: allowed.join(', ') });
  throw new HttpError(404, `no such endpoint ${pathname}`);
}

function decodeParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, `path segment ${raw} is not valid percent-encoding`);
  }
}

function isProtocolRoute(kind: RouteKind): kind is Exclude<RouteKind, 'admin' | 'metrics'> {
  return kind !== 'admin' && kind !== 'metrics';
}

/** The `request` listener of the server; `log` receives one line per answered request. */
export function createRequestListener(
  server: ServerParts,
  log: ((line: string) => void) | undefined,
): (req: IncomingMessage, res: ServerResponse) => void {
  return function onRequest(req, res) {
    void handleRequest(server, req, res, log);
  };
}

async function handleRequest(
  server: ServerParts,
  req: IncomingMessage,
  res: ServerResponse,
  log: ((line: string) => void) | undefined,
): Promise<void> {
  const startedMs = performance.now();
  const method = req.method ?? 'GET';
  const url = new URL(req.url ?? '/', 'http://hive.invalid');
  let workerId = '';
  res.once('close', function onAnswered() {
    const answer = res.writableFinished ? res.statusCode : 'dropped';
    log?.(
      `${method} ${url.pathname}${url.search} ${answer} ${Math.round(performance.now() - startedMs)}ms ${workerId || '-'}`,
    );
  });
  const speaks11 = server.protocol.version === '1.1';
  if (speaks11) res.setHeader(PROTOCOL_HEADER, PROTOCOL_1_1);
  try {
    const { route, params } = matchRoute(method, url.pathname, speaks11);
    const { kind } = route;
    if (isProtocolRoute(kind)) {
      // Counted at close so the metric sees every answer: auth failures, faults, dropped links.
      res.once('close', () =>
        server.metrics.countAnswer(kind, res.writableFinished ? res.statusCode : 'dropped'),
      );
    }
    checkToken(req, server.token);
    if (isProtocolRoute(kind)) {
      workerId = requireWorkerId(req);
      const rule = server.faults.take(kind, taskIdOf(kind, params));
      if (rule !== undefined && (await server.faults.play(rule, req, res))) return;
    }
    await route.handle({ req, res, url, params, workerId, server });
  } catch (error) {
    answerError(res, error);
  }
}

/** The task a request is about (heartbeat, result, release carry it in the path). */
function taskIdOf(kind: RouteKind, params: readonly string[]): string | undefined {
  return kind === 'heartbeat' || kind === 'result' || kind === 'release' ? params[0] : undefined;
}

function answerError(res: ServerResponse, error: unknown): void {
  if (res.headersSent || res.destroyed) {
    // Mid-answer (e.g. the client went away during a download): nothing sensible left to say.
    res.destroy();
    return;
  }
  if (error instanceof HttpError) {
    sendError(res, error);
    return;
  }
  console.error('hive-server: internal error:', error);
  sendError(res, new HttpError(500, 'internal server error'));
}
