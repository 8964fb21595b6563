/** Every sleep of the worker goes through here: jitter, capped exponential error backoff, Retry-After. */
import { clampTimerMs } from './timers.ts';

export type Random = () => number;

/** `ms` ± `fraction` (default 10 %), so a fleet started together does not poll in lockstep. */
export function withJitter(ms: number, fraction = 0.1, random: Random = Math.random): number {
  return Math.max(0, Math.round(ms * (1 - fraction + 2 * fraction * random())));
}

/**
 * The one retry policy of the loops that go on until stopped (the claim loop, the result pump).
 * Exponential backoff with full jitter: after the n-th consecutive failure the delay is uniform
 * in [0, min(cap, base·2^(n-1))]. `reset()` after a success starts over from `base`.
 */
export class ErrorBackoff {
  readonly #baseMs: number;
  readonly #capMs: number;
  readonly #random: Random;
  #failures = 0;

  constructor(baseMs: number, capMs: number, random: Random = Math.random) {
    this.#baseMs = baseMs;
    this.#capMs = Math.max(baseMs, capMs);
    this.#random = random;
  }

  get failures(): number {
    return this.#failures;
  }

  /** The ceiling of the next delay (before jitter). */
  ceilingMs(): number {
    return Math.min(this.#capMs, this.#baseMs * 2 ** Math.min(this.#failures, 40));
  }

  /** Records a failure; returns the wait. A server's Retry-After is the wait (capped), not grown. */
  next(retryAfterMs?: number): number {
    if (retryAfterMs !== undefined) return Math.min(Math.max(0, retryAfterMs), this.#capMs);
    const ceiling = this.ceilingMs();
    this.#failures += 1;
    return Math.round(ceiling * this.#random());
  }

  reset(): void {
    this.#failures = 0;
  }
}

/** Parses Retry-After (delta seconds or an HTTP date) into milliseconds from `nowMs`, capped. */
export function parseRetryAfter(
  value: string | undefined,
  capMs: number,
  nowMs = Date.now(),
): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  let ms: number | undefined;
  if (/^\d+$/.test(text)) {
    ms = Number(text) * 1000;
  } else {
    const at = Date.parse(text);
    if (!Number.isNaN(at)) ms = Math.max(0, at - nowMs);
  }
  // `0`, or a date already past, asks for no wait at all: from a hostile or broken server that
  // would make re-claims and re-sends a storm. The caller backs off instead, as without one.
  if (ms === undefined || ms <= 0) return undefined;
  return Math.min(ms, capMs);
}

/** Sleeps `ms` (clamped to what a timer holds); an abort ends the sleep early without throwing (the caller checks why). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  const delayMs = clampTimerMs(ms);
  if (delayMs === 0 || signal?.aborted === true) return Promise.resolve();
  // A timer and a listener, not timers/promises: its abort makes an AbortError (a stack trace)
  // that every heartbeat's stop and every wait of the loop would pay for.
  return new Promise((resolve) => {
    const end = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', end);
      resolve();
    };
    const timer = setTimeout(end, delayMs);
    signal?.addEventListener('abort', end, { once: true });
  });
}
