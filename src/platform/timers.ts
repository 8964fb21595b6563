/**
 * Node clamps a timer above 2^31-1 ms (≈ 24.8 days) to 1 ms, with a TimeoutOverflowWarning: a
 * task given `timeoutSec: 1e12` was timed out at once. Every delay that comes from a number the
 * server or the user chose (timeouts, leases, Retry-After, heartbeats, backoff, check intervals)
 * goes through `clampTimerMs` before it reaches setTimeout, setInterval, AbortSignal.timeout or
 * an undici timeout.
 */

/** The longest delay a Node timer holds: 2^31-1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** `ms` as a delay a timer keeps: NaN and negatives become 0, anything longer the longest. */
export function clampTimerMs(ms: number): number {
  if (Number.isNaN(ms) || ms <= 0) return 0;
  return Math.min(Math.round(ms), MAX_TIMER_MS);
}
