/**
 * Freed memory given back to the system MEMORY_TRIM seconds after work: an idle worker allocates
 * too little for V8 to collect, and glibc keeps freed chunks until malloc_trim(0). After work, a
 * full collection then the trim; while work goes on, an asynchronous one every MEMORY_TRIM seconds.
 * No work, no timer (docs/performance.md, "Memory given back"). The trim is glibc's only.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { coerceError } from './errors.ts';
import { libcFunction } from './libc.ts';
import type { Logger } from './log.ts';

/** A full garbage collection: thorough (done now, V8's pooled pages given back too) or started. */
type Collect = (thorough: boolean) => void;

export interface MemoryUpkeepOptions {
  /** How long after work the memory is given back (and at most how often while work goes on). */
  afterMs: number;
  log: Logger;
  /** What gives freed memory back; `releaseFreeMemory` unless a test says otherwise. */
  release?: (thorough: boolean) => ReleaseReport;
}

export interface ReleaseReport {
  /** Milliseconds the collection took, and the trim. */
  gcMs: number;
  trimMs: number;
  /** Whether malloc_trim ran (false where there is no glibc, or it could not be reached). */
  trimmed: boolean;
}

export class MemoryUpkeep {
  readonly #options: MemoryUpkeepOptions;
  #timer: NodeJS.Timeout | undefined;
  #lastWorkAt = 0;
  #closed = false;

  constructor(options: MemoryUpkeepOptions) {
    this.#options = options;
  }

  /** A task's handling is over: its memory is garbage now, given back within `afterMs`. */
  workDone(): void {
    this.#lastWorkAt = performance.now();
    if (this.#timer === undefined) this.#arm(this.#options.afterMs);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => this.#release(), ms);
    this.#timer.unref();
  }

  /** Quiet for `afterMs`: the thorough release, no timer after; else the quick one, re-armed. */
  #release(): void {
    this.#timer = undefined;
    const quietMs = performance.now() - this.#lastWorkAt;
    const thorough = quietMs >= this.#options.afterMs - 1;
    if (!thorough) this.#arm(this.#options.afterMs - quietMs);
    try {
      const { gcMs, trimMs, trimmed } = (this.#options.release ?? releaseFreeMemory)(thorough);
      const round = (ms: number) => Math.round(ms * 10) / 10;
      this.#options.log.debug(
        { gcMs: round(gcMs), trimMs: round(trimMs), trimmed, thorough },
        trimmed ? 'freed memory given back to the system' : 'garbage collected',
      );
    } catch (error) {
      // Upkeep, not work: it never stops the worker.
      const err = coerceError(error);
      this.#options.log.debug({ err }, `could not give memory back (${err.message})`);
    }
  }
}

let collect: Collect | undefined;
/** malloc_trim(0), once looked up; null where it cannot be had. */
let mallocTrim: (() => number) | null | undefined;

/** A full collection (thorough: done now; else started beside the work), then malloc_trim(0). */
export function releaseFreeMemory(thorough = true): ReleaseReport {
  const started = performance.now();
  collect ??= exposeCollect();
  collect(thorough);
  const collected = performance.now();
  if (mallocTrim === undefined) mallocTrim = lookUpMallocTrim();
  if (mallocTrim !== null) mallocTrim();
  return {
    gcMs: collected - started,
    trimMs: performance.now() - collected,
    trimmed: mallocTrim !== null,
  };
}

/**
 * V8's `gc`, for this module only: the flag is set just to make a context holding it, then unset
 * at once (V8 checks its flags against the code caches it loads later); globalThis never gets `gc`.
 */
function exposeCollect(): Collect {
  setFlagsFromString('--expose-gc');
  let gc: unknown;
  try {
    gc = runInNewContext('gc');
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
  if (typeof gc !== 'function') throw new Error('V8 gave no gc function');
  return (thorough) => {
    if (thorough) gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    // Its promise settles when V8 is done; nothing waits for it, and it may not end the process.
    else void Promise.resolve(gc({ type: 'major', execution: 'async' })).catch(() => undefined);
  };
}

function lookUpMallocTrim(): (() => number) | null {
  // Where the C library is not glibc (musl has no libc.so.6), the lookup fails: no trim.
  const trim = libcFunction('malloc_trim', { arguments: ['uint64'], return: 'int32' });
  return trim === null ? null : () => trim(0n);
}
