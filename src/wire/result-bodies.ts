/**
 * A result's body as it goes on the wire (protocol section 3, 1.1-c): its text, or a stream of its
 * bytes in its outbox file, and the deadline its size earns it.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { withNext } from './batch.ts';
import type { StoredResult } from './protocol.ts';

/** The upload rate a result's deadline allows for its body: a slow ADSL line's. */
const SLOW_UPLOAD_BYTES_PER_SEC = 64 * 1024;

/** How long `bytes` take to upload at that rate. */
export function uploadMs(bytes: number): number {
  return (bytes / SLOW_UPLOAD_BYTES_PER_SEC) * 1000;
}

/**
 * A result's deadline: REQUEST_TIMEOUT, plus its body's time at a slow upload rate (a big result
 * over a slow line must get through; a stalled one must not hold the queue behind it forever).
 */
export function resultDeadlineMs(requestTimeoutMs: number, body: StoredResult): number {
  const bytes = 'json' in body ? Buffer.byteLength(body.json) : body.bytes;
  return requestTimeoutMs + uploadMs(bytes);
}

/** A result's body to send: its text, or a new stream of its bytes in its file. */
export function bodyOf(
  body: StoredResult,
  next?: number,
): string | { stream: Readable; bytes: number } {
  if ('json' in body) return withNext(body.json, next);
  const { file, start, bytes } = body;
  // `end` is inclusive; an empty range cannot occur (a body is at least `{}`).
  return { stream: createReadStream(file, { start, end: start + bytes - 1 }), bytes };
}
