/**
 * The background pump (./delivery.ts): what the server could not take now waits in the outbox and
 * is re-sent, oldest first, with the same body and resultId, so a results endpoint that is down
 * never stalls claiming. It backs off as the claim loop does (ErrorBackoff); a Retry-After from the
 * server is the wait instead of the backoff's.
 */
import { ErrorBackoff, sleep } from '../platform/backoff.ts';
import { coerceError } from '../platform/errors.ts';
import type { Logger } from '../platform/log.ts';
import type { ResultLedger, SendAnswer } from './ledger.ts';
import type { OutboxEntry } from './outbox.ts';

export interface PumpOptions {
  ledger: ResultLedger;
  log: Logger;
  errorSleepMs: number;
  maxErrorSleepMs: number;
  /** One try for one result (delivery's, shared with a send of it in flight). */
  deliver: (entry: OutboxEntry, signal: AbortSignal) => Promise<SendAnswer>;
}

export class ResultPump {
  readonly #options: PumpOptions;
  readonly #stopping = new AbortController();
  /** Wakes the idle pump: with the answer of a new result that must wait, if that is why. */
  #wake: ((mustWait?: SendAnswer) => void) | undefined;
  #running: Promise<void> | undefined;

  constructor(options: PumpOptions) {
    this.#options = options;
  }

  start(): void {
    this.#running ??= this.#run();
  }

  /** A result was queued (`mustWait`: a new one's answer said to wait, and how long). */
  wake(mustWait?: SendAnswer): void {
    this.#wake?.(mustWait);
  }

  /** Stops the pump; what is unsent stays on disk for the next start. */
  async stop(): Promise<void> {
    this.#stopping.abort();
    this.wake();
    await this.#running;
  }

  /**
   * Until stopped: send what is queued, oldest first; at the first result that must wait, sleep
   * what the backoff says (the server's Retry-After if it gave one) and go again. A pass that
   * sends everything resets the backoff.
   */
  async #run(): Promise<void> {
    const stop = this.#stopping.signal;
    const { errorSleepMs, maxErrorSleepMs, ledger, log } = this.#options;
    const backoff = new ErrorBackoff(errorSleepMs, maxErrorSleepMs);
    while (!stop.aborted) {
      try {
        const mustWait =
          ledger.pending().length === 0 ? await this.#queued() : await this.#sendAllQueued(stop);
        if (mustWait === undefined) backoff.reset();
        else {
          const waitMs = backoff.next(mustWait.retryAfterMs);
          log.debug({ waitMs }, `queued results: the next send in ${waitMs} ms`);
          await sleep(waitMs, stop);
        }
      } catch (error) {
        if (stop.aborted) return;
        // A result file that cannot be moved or removed (a disk error) is no send to retry, but
        // the pump must not die with it (an unhandled rejection would end the worker): a pause.
        log.error(`sending queued results failed: ${coerceError(error).message}`);
        await sleep(maxErrorSleepMs, stop);
      }
    }
  }

  /** Resolves when a result is queued: with its answer if a new one was answered 'retry'. */
  async #queued(): Promise<SendAnswer | undefined> {
    const mustWait = await new Promise<SendAnswer | undefined>((resolve) => {
      this.#wake = resolve;
    });
    this.#wake = undefined;
    return mustWait;
  }

  /** Every queued result once, oldest first; the answer of the first that must wait, if any. */
  async #sendAllQueued(stop: AbortSignal): Promise<SendAnswer | undefined> {
    for (const entry of this.#options.ledger.pending()) {
      if (stop.aborted) return undefined;
      const answer = await this.#options.deliver(entry, stop);
      if (answer.outcome === 'retry') return answer;
    }
    return undefined;
  }
}
