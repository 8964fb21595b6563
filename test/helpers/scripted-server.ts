/**
 * A hostile Hive server for property tests: every protocol route answers from a script (status,
 * headers, raw body) that the test fills, whatever the request was; once a route's script is used
 * up it answers like a quiet, well-behaved server (claim 204, heartbeat 200, result 200, version
 * 404). It counts requests per route, so a test can wait for "claimed again after all that".
 */
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

export const SCRIPTED_ROUTES = ['claim', 'heartbeat', 'result', 'version', 'other'] as const;
export type ScriptedRoute = (typeof SCRIPTED_ROUTES)[number];

export interface ScriptedAnswer {
  status: number;
  headers?: Record<string, string>;
  /** Sent as is (it need not be JSON, or valid anything). */
  body?: string;
}

const QUIET: Record<ScriptedRoute, ScriptedAnswer> = {
  claim: { status: 204 },
  heartbeat: { status: 200, body: '{"cancel":false}' },
  result: { status: 200, body: '{}' },
  version: { status: 404, body: '{"error":"no release"}' },
  other: { status: 404, body: '' },
};

export interface ScriptedServer {
  url: string;
  /** Answers to give, in order, on each route. */
  script: Record<ScriptedRoute, ScriptedAnswer[]>;
  /** Requests seen per route. */
  counts: Record<ScriptedRoute, number>;
  /** Called as a request arrives, before its body is read (a test's kill -9 mid-upload). */
  onArrival?: ((route: ScriptedRoute) => void) | undefined;
  /** Every request, in order: its route, path, headers and body text. */
  requests: Array<{
    route: ScriptedRoute;
    path: string;
    headers: IncomingHttpHeaders;
    body: string;
  }>;
  close(): Promise<void>;
}

function routeOf(req: IncomingMessage): ScriptedRoute {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  if (path === '/api/tasks/claim') return 'claim';
  if (/^\/api\/tasks\/[^/]+\/heartbeat$/.test(path)) return 'heartbeat';
  if (/^\/api\/tasks\/[^/]+\/result$/.test(path)) return 'result';
  if (path === '/api/version') return 'version';
  return 'other';
}

export async function startScriptedServer(): Promise<ScriptedServer> {
  const script = Object.fromEntries(SCRIPTED_ROUTES.map((r) => [r, []])) as unknown as Record<
    ScriptedRoute,
    ScriptedAnswer[]
  >;
  const counts = Object.fromEntries(SCRIPTED_ROUTES.map((r) => [r, 0])) as Record<
    ScriptedRoute,
    number
  >;
  const requests: ScriptedServer['requests'] = [];
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const route = routeOf(req);
    scripted.onArrival?.(route);
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of req) chunks.push(chunk as Buffer);
    } catch {
      // The worker went away mid-request (a test's kill -9 during a big upload): nothing to answer.
      res.destroy();
      return;
    }
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    requests.push({
      route,
      path,
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    });
    counts[route] += 1;
    const answer = script[route].shift() ?? QUIET[route];
    const body = answer.status === 204 || answer.status === 304 ? '' : (answer.body ?? '');
    try {
      res.writeHead(answer.status, {
        ...(body === '' ? {} : { 'content-type': 'application/json' }),
        ...answer.headers,
      });
      res.end(body === '' ? undefined : body);
    } catch {
      // A generated header Node refuses to send: the connection is cut instead, also hostile.
      res.socket?.destroy();
    }
  });
  const scripted: ScriptedServer = {
    url: '',
    script,
    counts,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  scripted.url = `http://127.0.0.1:${port}/api/`;
  return scripted;
}
