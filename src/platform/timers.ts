/**
 * Node turns a timer above 2^31-1 ms (≈ 24.8 days) into 1 ms, so every delay from a number the
 * server or the user chose goes through `clampTimerMs` before it reaches a timer.
 */

/** The longest delay a Node timer holds: 2^31-1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** `ms` as a delay a timer keeps: NaN and negatives become 0, anything longer the longest. */
export function clampTimerMs(ms: number): number {
  if (Number.isNaN(ms) || ms <= 0) return 0;
  return Math.min(Math.round(ms), MAX_TIMER_MS);
}
