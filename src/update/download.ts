/**
 * Downloads a release zip to disk, streaming (never the whole file in memory), bounded by the
 * announced size, resuming a partial download with Range/If-Range, under an overall deadline and
 * an inactivity timeout. What it leaves behind on failure is a `.part` file to resume from.
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
import { type Dispatcher, request } from 'undici';
import { HiveError } from '../platform/errors.ts';

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
    AbortSignal.timeout(options.deadlineMs),
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
      headersTimeout: options.inactivityMs,
      bodyTimeout: options.inactivityMs,
    });
  } catch (error) {
    throw downloadError(error, signal);
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
      throw retryable(`download answered HTTP ${statusCode}`);
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

/** Download failures are not the release's fault: the next check resumes or retries. */
function retryable(message: string, options?: { cause?: unknown }): HiveError {
  return new HiveError('UPDATE', message, { ...options, details: { retryable: true } });
}

function downloadError(error: unknown, signal: AbortSignal): HiveError {
  if (error instanceof HiveError) return error;
  if (signal.aborted) {
    const reason = signal.reason as Error | undefined;
    const why =
      reason?.name === 'TimeoutError'
        ? 'the download took longer than its deadline'
        : 'the download was stopped';
    return retryable(`${why}; will resume`, { cause: error });
  }
  return retryable(`download failed: ${(error as Error).message}; will resume`, {
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
      callback(retryable(`the server sent more than the announced ${this.#total} bytes`));
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
