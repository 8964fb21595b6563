/**
 * The checks every request passes before its handler: the bearer token of the route's role (when
 * the server has tokens) and, on protocol routes, `X-Hive-Worker-Id`. Roles and their rules are
 * in docs/server.md ("Auth").
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpError } from './http.ts';

const CHALLENGE = { 'www-authenticate': 'Bearer realm="hive"' };

/** Who may call what: worker routes take a worker or an admin token, admin routes an admin one. */
export interface ServerAuth {
  readonly workerTokens: readonly string[];
  readonly adminTokens: readonly string[];
}

/** The role a route needs: `worker` (protocol and metrics) or `admin`. */
export type Role = 'worker' | 'admin';

/**
 * The tokens of each role from the server's options: `token` (the old single token) is both a
 * worker and an admin token. No token at all = an open server.
 */
export function authFrom(options: {
  token?: string | undefined;
  workerTokens?: readonly string[] | undefined;
  adminToken?: string | undefined;
}): ServerAuth {
  const single = options.token === undefined ? [] : [options.token];
  return {
    workerTokens: [...(options.workerTokens ?? []), ...single],
    adminTokens: [...(options.adminToken === undefined ? [] : [options.adminToken]), ...single],
  };
}

export function isOpen(auth: ServerAuth): boolean {
  return auth.workerTokens.length === 0 && auth.adminTokens.length === 0;
}

/**
 * Worker routes are open while the server has no worker token (only an admin token, or none);
 * admin routes while it has no token at all. Otherwise: 401 when the token is missing or not a
 * Bearer one, 403 when it is not a token of `role` (a worker token on an admin route included).
 */
export function checkToken(req: IncomingMessage, auth: ServerAuth, role: Role): void {
  if (role === 'worker' ? auth.workerTokens.length === 0 : isOpen(auth)) return;
  const authorization = req.headers.authorization;
  if (authorization === undefined || authorization === '') {
    throw new HttpError(401, 'missing Authorization: Bearer <token>', CHALLENGE);
  }
  const match = /^Bearer +(\S+)\s*$/i.exec(authorization);
  if (match === null) throw new HttpError(401, 'Authorization must be "Bearer <token>"', CHALLENGE);
  const given = match[1] ?? '';
  if (isOneOf(given, auth.adminTokens)) return;
  if (role === 'admin' && auth.adminTokens.length === 0)
    throw new HttpError(403, 'this server has no admin token: start it with --admin-token-file');
  if (isOneOf(given, auth.workerTokens)) {
    if (role === 'worker') return;
    throw new HttpError(403, 'a worker token cannot use admin routes: use the admin token');
  }
  throw new HttpError(403, 'wrong token');
}

/** Compares every candidate by digest, so neither content nor length leaks by timing. */
function isOneOf(given: string, tokens: readonly string[]): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  const givenDigest = digest(given);
  let found = false;
  for (const token of tokens) found = timingSafeEqual(givenDigest, digest(token)) || found;
  return found;
}

/** Loopback interfaces: only this machine can reach a server listening there. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127\.\d+\.\d+\.\d+$/.test(bare);
}

/**
 * Listening beyond loopback needs worker tokens and an admin token of their own (the old single
 * token does not count: with it a worker could enqueue). `insecure` waives it. Returns the problem.
 */
export function exposureProblem(
  host: string,
  options: { workerTokens?: readonly string[]; adminToken?: string; insecure?: boolean },
): string | undefined {
  if (isLoopbackHost(host) || options.insecure === true) return undefined;
  const missing: string[] = [];
  if ((options.workerTokens ?? []).length === 0) missing.push('worker tokens (--token-file)');
  if (options.adminToken === undefined) missing.push('an admin token (--admin-token-file)');
  if (missing.length === 0) return undefined;
  return (
    `refusing to listen on ${host} (beyond this machine) without ${missing.join(' and ')}: ` +
    'anyone who can reach it could enqueue tasks and read every result. Give both, listen on ' +
    '127.0.0.1, or add --insecure to accept that'
  );
}

/** The worker id header, or 400. */
export function requireWorkerId(req: IncomingMessage): string {
  const value = req.headers['x-hive-worker-id'];
  const workerId = Array.isArray(value) ? value[0] : value;
  if (workerId === undefined || workerId.trim() === '') {
    throw new HttpError(400, 'missing X-Hive-Worker-Id header');
  }
  return workerId;
}

/** A body's `workerId` must be the header's: two ids in one request is a worker bug worth a 400. */
export function requireSameWorker(headerWorkerId: string, bodyWorkerId: string): void {
  if (headerWorkerId !== bodyWorkerId) {
    throw new HttpError(
      400,
      `body workerId ${JSON.stringify(bodyWorkerId)} differs from X-Hive-Worker-Id ${JSON.stringify(headerWorkerId)}`,
    );
  }
}
