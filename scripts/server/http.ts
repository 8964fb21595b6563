/**
 * Small HTTP helpers for the reference server: JSON answers, error answers and bounded JSON bodies.
 * Handlers throw `HttpError` for any answer that is not the happy path; the router turns it into a
 * response, so no handler has to remember to `return` after answering.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type * as z from 'zod';

/** Largest request body accepted: results may carry up to 8 MiB of output plus 64 KiB of logs. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** An answer other than the happy path: status, one-line message, optional extra headers. */
export class HttpError extends Error {
  readonly status: number;
  readonly headers: OutgoingHttpHeaders;

  constructor(status: number, message: string, headers: OutgoingHttpHeaders = {}) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.headers = headers;
  }
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: OutgoingHttpHeaders = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** An answer without a body (204 must not carry one; we also use it for 200 on admin deletes). */
export function sendEmpty(
  res: ServerResponse,
  status: number,
  headers: OutgoingHttpHeaders = {},
): void {
  res.writeHead(status, headers);
  res.end();
}

/** Error answers carry `{ "error": "<message>" }` so a person reading a test failure sees why. */
export function sendError(res: ServerResponse, error: HttpError): void {
  sendJson(res, error.status, { error: error.message }, error.headers);
}

/** Whether the request announces a body (Content-Length > 0 or chunked). */
function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  return Number(req.headers['content-length'] ?? 0) > 0;
}

/**
 * Reads a JSON body, at most MAX_BODY_BYTES. `undefined` when the request has no body at all.
 * The protocol says requests with a body are `application/json`; we enforce it (415) so a worker
 * that forgets the header is caught by the reference server rather than by a stricter third party.
 */
export async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  if (!hasBody(req)) return undefined;
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    req.resume();
    throw new HttpError(415, `expected Content-Type application/json, got ${JSON.stringify(type)}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) {
      throw new HttpError(413, `request body larger than ${MAX_BODY_BYTES} bytes`, {
        connection: 'close',
      });
    }
    chunks.push(buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'request body is not valid JSON');
  }
}

/** One line naming every problem, e.g. `tasks: Invalid input: expected array, received string`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(body)'}: ${issue.message}`)
    .join('; ');
}

/** Reads the body and validates it; a missing or invalid body is a 400 naming every problem. */
export async function readBody<Schema extends z.ZodType>(
  req: IncomingMessage,
  schema: Schema,
): Promise<z.output<Schema>> {
  const raw = await readJsonBody(req);
  const parsed = schema.safeParse(raw);
  if (!parsed.success)
    throw new HttpError(400, `invalid request body: ${describeIssues(parsed.error)}`);
  return parsed.data;
}
