/**
 * Reading the server's answers for src/wire/hive-client.ts and src/wire/outcomes.ts: the body with
 * a size cap, JSON checked against a schema of src/wire/protocol.ts, headers, and the errors a
 * person reads in the log.
 */
import type * as z from 'zod';
import { coerceError, HiveError } from '../platform/errors.ts';
import { describeConnectionError } from './connection-errors.ts';
import { isStrictSemver } from './protocol.ts';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** A claim answer's task payload as it arrived; `text` then has `null` in its place. */
  payloadJson?: Buffer[];
}

/**
 * `X-Hive-Latest-Version` of a 200/204 claim answer: `latestVersion` only when it is strict semver;
 * one that is not is handed back as `ignoredVersion`, for one log line (protocol section 1).
 */
export interface VersionHint {
  latestVersion: string | undefined;
  ignoredVersion?: string;
}

/** A version hint as the claim answer gave it: kept only when strict semver. */
export function versionHint(value: string | undefined): VersionHint {
  if (value === undefined || isStrictSemver(value.trim())) {
    return { latestVersion: value?.trim() };
  }
  return { latestVersion: undefined, ignoredVersion: value.slice(0, 100) };
}

/** The body as the chunks it arrived in (joined, a big one would be one big allocation). */
export async function readLimited(
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

export function header(answer: Answer, name: string): string | undefined {
  const value = answer.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function parseAnswer<S extends z.ZodType>(
  answer: Answer,
  schema: S,
  what: string,
): z.output<S> | HiveError {
  let json: unknown;
  try {
    json = JSON.parse(answer.text);
  } catch {
    return new HiveError(
      'BAD_ANSWER',
      `${what} answer ${answer.status} is not JSON: ${snippet(answer.text)}`,
    );
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
