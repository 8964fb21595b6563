/**
 * The checks every request passes before its handler: the bearer token (when the server has one)
 * and, on protocol routes, `X-Hive-Worker-Id`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpError } from './http.ts';

const CHALLENGE = { 'www-authenticate': 'Bearer realm="hive"' };

/** 401 when the token is missing or not a Bearer one, 403 when it is wrong. */
export function checkToken(req: IncomingMessage, token: string | undefined): void {
  if (token === undefined) return;
  const authorization = req.headers.authorization;
  if (authorization === undefined || authorization === '') {
    throw new HttpError(401, 'missing Authorization: Bearer <token>', CHALLENGE);
  }
  const match = /^Bearer +(\S+)\s*$/i.exec(authorization);
  if (match === null) throw new HttpError(401, 'Authorization must be "Bearer <token>"', CHALLENGE);
  if (!isSameSecret(match[1] ?? '', token)) throw new HttpError(403, 'wrong token');
}

/** Compares digests so that neither the content nor the length of the token leaks by timing. */
function isSameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
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
