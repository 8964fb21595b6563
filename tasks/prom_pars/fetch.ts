/**
 * Fetches an exposition with undici (text format 0.0.4): a deadline, non-2xx refused, a body past
 * the byte limit cut off, and connections only where TASK_LOCAL_NETWORK lets tasks go (`ctx.network`).
 */
import type { TaskContext } from '../../src/task/define.ts';

/** What Prometheus itself sends when it wants the classic text format. */
export const EXPOSITION_ACCEPT = 'text/plain;version=0.0.4';

export interface FetchExpositionOptions {
  readonly url: string;
  /** Extra request headers; `Accept` is always ours, as the parser reads text format 0.0.4 only. */
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /** Whole-request deadline, connect to last byte. */
  readonly timeoutMs: number;
  /** Largest body accepted, in bytes; a longer one fails as soon as it is detected. */
  readonly maxBytes: number;
  readonly signal: AbortSignal;
  /** Where the task may connect (`ctx.network`). */
  readonly network: Pick<TaskContext['network'], 'checkUrl' | 'lookup'>;
}

export interface Exposition {
  readonly text: string;
  /** Size of the body as received, in bytes. */
  readonly bytes: number;
}

/** GETs `url` and returns its body as text; throws an Error a person can act on otherwise. */
export async function fetchExposition(options: FetchExpositionOptions): Promise<Exposition> {
  const { url, timeoutMs, maxBytes } = options;
  const where = describeUrl(url);
  const deadline = AbortSignal.timeout(timeoutMs);
  const signal = AbortSignal.any([options.signal, deadline]);
  try {
    options.network.checkUrl(url);
  } catch (error) {
    throw new Error(`GET ${where}: ${(error as Error).message}`);
  }
  // undici and node:http are loaded on first use: every task process imports this module
  // (through the registry), and most of them never fetch anything.
  const [{ Agent, request }, { STATUS_CODES }] = await Promise.all([
    import('undici'),
    import('node:http'),
  ]);
  // A name is checked when it resolves, on every connection: no answer can swap the address after the check.
  const dispatcher = new Agent({ connect: { lookup: options.network.lookup } });
  try {
    const response = await request(url, {
      method: 'GET',
      headers: { ...withoutAccept(options.headers), accept: EXPOSITION_ACCEPT },
      signal,
      dispatcher,
    });
    const { statusCode, headers, body } = response;
    if (statusCode < 200 || statusCode > 299) {
      await body.dump();
      throw new Error(
        `GET ${where} answered ${statusCode} ${STATUS_CODES[statusCode] ?? ''}`.trim(),
      );
    }
    const encoding = headers['content-encoding'];
    if (encoding !== undefined && encoding !== 'identity') {
      body.destroy();
      throw new Error(
        `GET ${where} answered with Content-Encoding ${String(encoding)}, which is not supported`,
      );
    }
    const declared = Number(headers['content-length']);
    if (declared > maxBytes) {
      body.destroy();
      throw new Error(
        `GET ${where}: the body is ${declared} bytes, over the limit of ${maxBytes} (maxBytes)`,
      );
    }
    return await readText(body, maxBytes, where);
  } catch (error) {
    if (deadline.aborted && !options.signal.aborted) {
      throw new Error(`GET ${where} timed out after ${timeoutMs} ms`, { cause: error });
    }
    if ((error as NodeJS.ErrnoException).code === 'EACCES')
      throw new Error(`GET ${where}: ${(error as Error).message}`, { cause: error });
    throw error;
  } finally {
    // The body is read or given up by now: no connection of this task outlives it.
    void dispatcher.destroy().catch(() => undefined);
  }
}

/**
 * Decodes the body chunk by chunk as it arrives (strict UTF-8: Prometheus rejects anything else),
 * so the raw bytes are never held whole, only the decoded parts until they are joined.
 */
async function readText(
  body: AsyncIterable<Buffer> & { destroy(): unknown },
  maxBytes: number,
  where: string,
): Promise<Exposition> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const parts: string[] = [];
  let bytes = 0;
  try {
    for await (const chunk of body) {
      bytes += chunk.length;
      if (bytes > maxBytes) {
        body.destroy();
        throw new Error(`GET ${where}: the body passed the limit of ${maxBytes} bytes (maxBytes)`);
      }
      parts.push(decoder.decode(chunk, { stream: true }));
    }
    parts.push(decoder.decode());
  } catch (error) {
    if (
      error instanceof Error &&
      'code' in error &&
      error.code === 'ERR_ENCODING_INVALID_ENCODED_DATA'
    ) {
      throw new Error(`GET ${where}: the body is not valid UTF-8`, { cause: error });
    }
    throw error;
  }
  return { text: parts.join(''), bytes };
}

/** The URL for messages and logs: without credentials or query, which may carry secrets. */
export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

/** The caller's headers minus any spelling of Accept (fromEntries: a `__proto__` name stays data). */
function withoutAccept(
  headers: Readonly<Record<string, string>> | undefined,
): Record<string, string> {
  const entries = Object.entries(headers ?? {});
  return Object.fromEntries(entries.filter(([name]) => name.toLowerCase() !== 'accept'));
}
