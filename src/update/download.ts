/**
 * Downloads a release to disk, streamed, bounded by the announced size, under a deadline and an
 * inactivity timeout. A failure leaves a `.part` file, resumed with Range/If-Range
 * (`downloadWithRetries`: at once, p-retry's backoff, within the same deadline).
 */
import {
  createWriteStream,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pRetry from 'p-retry';
import { type Dispatcher, request } from 'undici';
import { coerceError, HiveError } from '../platform/errors.ts';
import { clampTimerMs } from '../platform/timers.ts';
import { describeConnectionError } from '../wire/connection-errors.ts';

export interface DownloadOptions {
  url: URL;
  /** Where the finished file lands; `<dest>.part` holds a partial one. */
  dest: string;
  /** The announced size: the download is exactly this many bytes or it fails. */
  sizeBytes: number;
  /** The announced sha256: a partial file is only resumed for the same release. */
  sha256: string;
  headers: Record<string, string>;
  dispatcher: Dispatcher;
  deadlineMs: number;
  inactivityMs: number;
  signal?: AbortSignal;
  onProgress?: (receivedBytes: number, totalBytes: number) => void;
}

interface PartMeta {
  url: string;
  sha256: string;
  etag: string | undefined;
}

export async function downloadRelease(options: DownloadOptions): Promise<void> {
  const part = `${options.dest}.part`;
  const metaFile = `${part}.json`;
  const resumable = resumablePart(part, metaFile, options);
  let have = resumable?.bytes ?? 0;
  const signal = AbortSignal.any([
    AbortSignal.timeout(clampTimerMs(options.deadlineMs)),
    ...(options.signal ? [options.signal] : []),
  ]);
  const headers: Record<string, string> = { ...options.headers, 'accept-encoding': 'identity' };
  if (have > 0) {
    headers.range = `bytes=${have}-`;
    if (resumable?.etag !== undefined) headers['if-range'] = resumable.etag;
  }
  let response: Dispatcher.ResponseData;
  try {
    response = await request(options.url, {
      method: 'GET',
      headers,
      dispatcher: options.dispatcher,
      signal,
      headersTimeout: clampTimerMs(options.inactivityMs),
      bodyTimeout: clampTimerMs(options.inactivityMs),
    });
  } catch (error) {
    throw downloadError(error, signal, options.url);
  }
  const { statusCode } = response;
  if (statusCode === 416 && have === options.sizeBytes) {
    discard(response);
  } else {
    if (statusCode === 200) {
      have = 0; // the server ignored the range, or the file changed: start over
    } else if (statusCode === 206) {
      const start = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(
        String(response.headers['content-range'] ?? ''),
      );
      if (start?.[1] === undefined || Number(start[1]) !== have) {
        discard(response);
        rmSync(part, { force: true });
        throw new HiveError(
          'UPDATE',
          `download resumed at the wrong offset (${response.headers['content-range']}); starting over next time`,
        );
      }
    } else {
      discard(response);
      // A missing file or a refusal (4xx but 408/429) will not mend in seconds: the next check.
      const now = statusCode >= 500 || statusCode === 408 || statusCode === 429;
      throw retryable(`download answered HTTP ${statusCode}`, { now });
    }
    const expected = options.sizeBytes - have;
    const declared = response.headers['content-length'];
    if (declared !== undefined && Number(declared) > expected) {
      discard(response);
      throw new HiveError(
        'UPDATE',
        `the server offers ${Number(declared) + have} bytes, more than the announced ${options.sizeBytes}`,
      );
    }
    writeFileSync(
      metaFile,
      JSON.stringify({ url: options.url.href, sha256: options.sha256, etag: etagOf(response) }),
    );
    const limit = new SizeLimit(have, options.sizeBytes, options.onProgress);
    try {
      await pipeline(
        response.body,
        limit,
        createWriteStream(part, { flags: have > 0 ? 'a' : 'w', mode: 0o600 }),
        { signal },
      );
    } catch (error) {
      throw downloadError(error, signal);
    }
  }
  const got = statSync(part).size;
  if (got !== options.sizeBytes) {
    throw new HiveError(
      'UPDATE',
      `download ended at ${got} of ${options.sizeBytes} bytes; will resume`,
    );
  }
  renameSync(part, options.dest);
  rmSync(metaFile, { force: true });
}

/** A partial download of this same release, to resume; any other one is removed. */
function resumablePart(
  part: string,
  metaFile: string,
  options: DownloadOptions,
): { bytes: number; etag: string | undefined } | undefined {
  let size: number;
  try {
    size = statSync(part).size;
  } catch {
    return undefined;
  }
  const meta = readMeta(metaFile);
  if (
    meta === undefined ||
    meta.url !== options.url.href ||
    meta.sha256 !== options.sha256 ||
    size > options.sizeBytes
  ) {
    rmSync(part, { force: true });
    return undefined;
  }
  return size === 0 ? undefined : { bytes: size, etag: meta.etag };
}

function readMeta(metaFile: string): PartMeta | undefined {
  try {
    return JSON.parse(readFileSync(metaFile, 'utf8')) as PartMeta;
  } catch {
    return undefined;
  }
}

function etagOf(response: Dispatcher.ResponseData): string | undefined {
  const etag = response.headers.etag;
  return Array.isArray(etag) ? etag[0] : etag;
}

/**
 * Download failures are not the release's fault: resumed at once within the deadline
 * (downloadWithRetries) unless `now` is false, and at the next check in any case.
 */
function retryable(message: string, options?: { cause?: unknown; now?: boolean }): HiveError {
  return new HiveError('UPDATE', message, {
    cause: options?.cause,
    details: { retryable: true, retryNow: options?.now ?? true },
  });
}

function isRetryableNow(error: unknown): boolean {
  const details = error instanceof HiveError ? (error.details as Record<string, unknown>) : {};
  return details?.retryable === true && details.retryNow === true;
}

export interface RetryOptions {
  /** First wait before a resume, and the cap of the doubling waits (randomized). */
  minRetryMs: number;
  maxRetryMs: number;
  /** Told before each wait: a broken download is worth one log line per resume. */
  onRetry?: (error: Error, retryInMs: number, attempt: number) => void;
}

/**
 * `downloadRelease`, resumed with Range after a short backoff whenever a try breaks off, until
 * whole or past UPDATE_DOWNLOAD_TIMEOUT. The release's own failures (wrong size, 404) are final.
 */
export async function downloadWithRetries(
  options: DownloadOptions,
  retry: RetryOptions,
): Promise<void> {
  const deadlineMs = clampTimerMs(options.deadlineMs);
  const deadline = AbortSignal.any([
    AbortSignal.timeout(deadlineMs),
    ...(options.signal ? [options.signal] : []),
  ]);
  const startedAt = performance.now();
  await pRetry(
    () =>
      downloadRelease({
        ...options,
        // Each try gets what is left of the one deadline (and stops with it).
        deadlineMs: Math.max(1, deadlineMs - (performance.now() - startedAt)),
        signal: deadline,
      }),
    {
      retries: Number.POSITIVE_INFINITY,
      minTimeout: retry.minRetryMs,
      maxTimeout: retry.maxRetryMs,
      randomize: true,
      maxRetryTime: deadlineMs,
      shouldRetry: ({ error }) => isRetryableNow(error) && !deadline.aborted,
      onFailedAttempt: ({ error, retryDelay, attemptNumber }) => {
        if (isRetryableNow(error) && !deadline.aborted && retryDelay > 0)
          retry.onRetry?.(error, retryDelay, attemptNumber);
      },
    },
  );
}

/** `url` is given for a failure to connect: TLS and proxy refusals then say what fixes them. */
function downloadError(error: unknown, signal: AbortSignal, url?: URL | string): HiveError {
  if (error instanceof HiveError) return error;
  if (signal.aborted) {
    const reason = signal.reason as Error | undefined;
    const why =
      reason?.name === 'TimeoutError'
        ? 'the download took longer than its deadline'
        : 'the download was stopped';
    return retryable(`${why}; will resume`, { cause: error });
  }
  const why =
    url === undefined
      ? coerceError(error).message
      : describeConnectionError(error, url, "the server's release URL");
  return retryable(`download failed: ${why}; will resume`, {
    cause: error,
  });
}

/** Counts bytes and cuts the connection the moment a server sends more than it announced. */
class SizeLimit extends Transform {
  #received: number;
  readonly #total: number;
  readonly #onProgress: ((received: number, total: number) => void) | undefined;

  constructor(
    already: number,
    total: number,
    onProgress?: (received: number, total: number) => void,
  ) {
    super();
    this.#received = already;
    this.#total = total;
    this.#onProgress = onProgress;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#received += chunk.length;
    if (this.#received > this.#total) {
      callback(
        retryable(`the server sent more than the announced ${this.#total} bytes`, { now: false }),
      );
      return;
    }
    this.#onProgress?.(this.#received, this.#total);
    callback(null, chunk);
  }
}

/** Drops a body we will not read; destroying it without a listener would throw "Request aborted". */
function discard(response: Dispatcher.ResponseData): void {
  response.body.on('error', () => {});
  response.body.destroy();
}
