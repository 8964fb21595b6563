/**
 * A request's total deadline (docs/reliability.md, "Hostile answers"): undici's headersTimeout and
 * bodyTimeout are silence limits, so a server or proxy that sends a byte now and then would hold a
 * request forever. This bounds the whole exchange, from sending to the answer's last byte.
 */
import { HiveError } from '../platform/errors.ts';
import { clampTimerMs } from '../platform/timers.ts';

/**
 * Runs `exchange` with a signal aborted by the caller's `signal` or after `deadlineMs`; past the
 * deadline it fails with one NETWORK error naming `what` (the caller's own abort is rethrown as is).
 */
export async function withDeadline<T>(
  what: string,
  deadlineMs: number,
  signal: AbortSignal | undefined,
  exchange: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  // A listener, not AbortSignal.any: the caller's signal lives as long as the worker, and the
  // dependants `any` registers on it would pile up there.
  const controller = new AbortController();
  let isPastDeadline = false;
  const timer = setTimeout(() => {
    isPastDeadline = true;
    controller.abort();
  }, clampTimerMs(deadlineMs));
  const onStop = () => controller.abort(signal?.reason);
  if (signal?.aborted === true) onStop();
  signal?.addEventListener('abort', onStop, { once: true });
  try {
    return await exchange(controller.signal);
  } catch (error) {
    if (!isPastDeadline || signal?.aborted === true) throw error;
    const seconds = Math.round(deadlineMs / 100) / 10;
    throw new HiveError(
      'NETWORK',
      `${what} failed: no whole answer within its ${seconds} s deadline (the server or a proxy is too slow)`,
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onStop);
  }
}
