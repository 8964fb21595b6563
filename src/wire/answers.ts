/**
 * Reading the server's answers for src/wire/requests.ts and src/wire/outcomes.ts: the body with
 * a size cap, JSON checked against a schema of src/wire/protocol.ts, headers, and the errors a
 * person reads in the log.
 */
import type { Dispatcher } from 'undici';
import type * as z from 'zod';
import { coerceError, HiveError } from '../platform/errors.ts';
import { pickTaskAnswer } from './claim-payload.ts';
import { describeConnectionError } from './connection-errors.ts';
import { isStrictSemver } from './protocol.ts';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The body as text: all of a small answer, else its first SMALL_ANSWER_BYTES (for messages). */
  text: string;
  /** The whole body as it arrived, for an answer that carries tasks (./claim-payload.ts). */
  chunks?: Buffer[];
}

/** Largest answer body read from the server; a task payload bigger than this is refused. */
export const MAX_ANSWER_BYTES = 64 * 1024 * 1024;
/**
 * Largest answer parsed whole (heartbeat, version: a few fields), and how much of any other body
 * (an error's) is kept for the log; the rest of an error's body is read and dropped.
 */
export const SMALL_ANSWER_BYTES = 64 * 1024;

/**
 * `X-Hive-Latest-Version` of a 200/204 claim answer: `latestVersion` only when it is strict semver;
 * one that is not is handed back as `ignoredVersion`, for one log line (protocol section 1).
 */
export interface VersionHint {
  latestVersion: string | undefined;
  ignoredVersion?: string;
}

export function versionHint(value: string | undefined): VersionHint {
  if (value === undefined || isStrictSemver(value.trim())) {
    return { latestVersion: value?.trim() };
  }
  return { latestVersion: undefined, ignoredVersion: value.slice(0, 100) };
}

/**
 * An answer read as what it is for: a 2xx/409 that carries tasks as its chunks (up to
 * MAX_ANSWER_BYTES); another 2xx whole (up to SMALL_ANSWER_BYTES); else only its head, for the log.
 */
export async function readAnswer(
  response: Dispatcher.ResponseData,
  carriesTasks: boolean,
): Promise<Answer> {
  const { statusCode: status, headers, body } = response;
  const isOk = status >= 200 && status < 300;
  const whole = carriesTasks && (isOk || status === 409);
  const limit = whole ? MAX_ANSWER_BYTES : isOk ? SMALL_ANSWER_BYTES : undefined;
  if (limit === undefined)
    return { status, headers, text: await readHead(body, SMALL_ANSWER_BYTES) };
  const declared = Number(headers['content-length'] ?? 0);
  if (declared > limit) {
    body.on('error', () => {}); // destroying an unread body emits an error nobody needs
    body.destroy();
    throw new HiveError(
      'BAD_ANSWER',
      `answer of ${declared} bytes is over the ${limit}-byte limit`,
    );
  }
  const chunks = await readLimited(body, limit);
  if (!whole) return { status, headers, text: Buffer.concat(chunks).toString('utf8') };
  const head = Buffer.concat(chunks.slice(0, 16)).subarray(0, SMALL_ANSWER_BYTES);
  return { status, headers, text: head.toString('utf8'), chunks };
}

/** The body as the chunks it arrived in (joined, a big one would be one big allocation). */
async function readLimited(
  body: AsyncIterable<Buffer> & { destroy(): void },
  limit: number,
): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      throw new HiveError('BAD_ANSWER', `answer is over the ${limit}-byte limit`);
    }
    chunks.push(chunk);
  }
  return chunks;
}

/**
 * The first `keep` bytes of a body, as text; the rest is read and dropped (so the connection can
 * serve again), up to MAX_ANSWER_BYTES, past which the connection is closed.
 */
async function readHead(
  body: AsyncIterable<Buffer> & { destroy(): void },
  keep: number,
): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    if (size < keep) chunks.push(chunk.subarray(0, keep - size));
    size += chunk.length;
    if (size > MAX_ANSWER_BYTES) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function header(answer: Answer, name: string): string | undefined {
  const value = answer.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** A small answer (all of it in `text`), parsed and checked against `schema`. */
export function parseAnswer<S extends z.ZodType>(
  answer: Answer,
  schema: S,
  what: string,
): z.output<S> | HiveError {
  return checkAnswer(
    answer,
    schema,
    what,
    () => JSON.parse(answer.text),
    () =>
      new HiveError(
        'BAD_ANSWER',
        `${what} answer ${answer.status} is not JSON: ${snippet(answer.text)}`,
      ),
  );
}

/**
 * An answer that carries tasks, read for its known fields only (./claim-payload.ts) and checked
 * against `schema`; each task's `payload` is then a RawJson (taskFromWire turns it into bytes).
 */
export function parseTaskAnswer<S extends z.ZodType>(
  answer: Answer,
  schema: S,
  what: string,
): z.output<S> | HiveError {
  return checkAnswer(
    answer,
    schema,
    what,
    () => pickTaskAnswer(answer.chunks ?? [Buffer.from(answer.text)]),
    (error) => {
      const { message } = coerceError(error);
      return new HiveError(
        'BAD_ANSWER',
        `${what} ${message.replace(/^answer/, `answer ${answer.status}`)}`,
        {
          details: snippet(answer.text),
        },
      );
    },
  );
}

/** Reads an answer's JSON with `read` (`unreadable` says why it could not) and checks it. */
function checkAnswer<S extends z.ZodType>(
  answer: Answer,
  schema: S,
  what: string,
  read: () => unknown,
  unreadable: (error: unknown) => HiveError,
): z.output<S> | HiveError {
  let json: unknown;
  try {
    json = read();
  } catch (error) {
    return unreadable(error);
  }
  const result = schema.safeParse(json);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue === undefined || issue.path.length === 0 ? '' : ` at ${issue.path.join('.')}`;
  return new HiveError(
    'BAD_ANSWER',
    `${what} answer ${answer.status} is invalid${where}: ${issue?.message ?? ''}`,
    {
      details: snippet(answer.text),
    },
  );
}

export function httpError(answer: Answer, what: string): HiveError {
  return new HiveError('HTTP', `${what} answered HTTP ${answer.status}: ${snippet(answer.text)}`, {
    details: { status: answer.status },
  });
}

export function asNetworkError(error: unknown, what: string, serverUrl: string): HiveError {
  if (error instanceof HiveError) return error;
  const cause = coerceError(error);
  return new HiveError('NETWORK', `${what} failed: ${describeConnectionError(cause, serverUrl)}`, {
    cause,
  });
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat || '(empty)';
}
