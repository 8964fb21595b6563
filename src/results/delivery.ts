/**
 * Sends what the outbox holds. A result is tried at once, while its outbox copy is being written;
 * what the server cannot take now (5xx, network, and the transient 4xx: 401, 403, 407, 408, 425,
 * 429) waits in the outbox and is re-sent with the same body and resultId by a background pump,
 * so a results endpoint that is down never stalls claiming. The pump's retries are p-retry's
 * (exponential, randomized, capped at MAX_ERROR_SLEEP); a Retry-After from the server replaces
 * the backoff delay for that wait instead of adding to it.
 */
import pRetry from 'p-retry';
import { sleep } from '../platform/backoff.ts';
import { coerceError, HiveError } from '../platform/errors.ts';
import type { Logger } from '../platform/log.ts';
import type { HiveClient } from '../wire/hive-client.ts';
import type { EncodedResult } from '../wire/protocol.ts';
import type { NewEntry, Outbox, OutboxEntry } from './outbox.ts';

export type DeliveryOutcome = 'delivered' | 'rejected' | 'retry';

export interface DeliveryOptions {
  outbox: Outbox;
  client: HiveClient;
  log: Logger;
  errorSleepMs: number;
  maxErrorSleepMs: number;
}

/** A pass over the queue stopped at a result that must wait; carries the server's Retry-After. */
class MustWait extends HiveError {
  readonly retryAfterMs: number | undefined;
  constructor(retryAfterMs: number | undefined) {
    super('HTTP', 'a queued result must wait');
    this.retryAfterMs = retryAfterMs;
  }
}

export class ResultDelivery {
  readonly #options: DeliveryOptions;
  readonly #inFlight = new Map<string, Promise<DeliveryOutcome>>();
  readonly #stopping = new AbortController();
  #wake: (() => void) | undefined;
  #pump: Promise<void> | undefined;
  #failing = false;
  /** The Retry-After of the last 'retry' answer that gave one, for the pump's next wait. */
  #retryAfterMs: number | undefined;

  constructor(options: DeliveryOptions) {
    this.#options = options;
  }

  /** One try for one result. Concurrent calls for the same result share one request. */
  deliver(entry: OutboxEntry, signal?: AbortSignal): Promise<DeliveryOutcome> {
    const { resultId } = entry.body;
    const running = this.#inFlight.get(resultId);
    if (running !== undefined) return running;
    const attempt = this.#send(entry, signal).finally(() => this.#inFlight.delete(resultId));
    this.#inFlight.set(resultId, attempt);
    return attempt;
  }

  /**
   * A new result, from its encoding to the server: kept in the outbox and sent meanwhile.
   * `durable` resolves once the write is over, whether it worked or not (what a failed write means
   * is decided here, in `delivered`); `delivered` settles when the server has answered and the
   * file is whole (deliverNew).
   */
  submit(
    taskId: string,
    body: EncodedResult,
    signal?: AbortSignal,
  ): { durable: Promise<void>; delivered: Promise<DeliveryOutcome> } {
    const added = this.#options.outbox.add(taskId, body);
    return {
      durable: added.written.catch(() => undefined),
      delivered: this.deliverNew(added, signal),
    };
  }

  /**
   * A new result (Outbox.add), sent while its outbox copy is written: the two overlap instead of
   * the send waiting ≈ 1–2 ms for the fsyncs. Settles once both are done.
   *
   * If the write failed (a full disk, lost permissions), what matters is whether anything still
   * needs the file. Once the server has answered — taken it, or refused it and it is kept in
   * rejected/ — nothing does: a warning, and the worker goes on. If the result still has to be
   * sent ('retry'), the file was its only keeping: the write's error is thrown, as when the outbox
   * was written before the send, and the task's handling fails and ends the loop (the server
   * hands the task out again when its lease lapses).
   */
  async deliverNew({ entry, written }: NewEntry, signal?: AbortSignal): Promise<DeliveryOutcome> {
    const sent = this.deliver(entry, signal);
    const [outcome, writeError] = await Promise.all([
      sent,
      written.then(
        () => undefined,
        (error: unknown) => coerceError(error),
      ),
    ]);
    if (writeError === undefined) return outcome;
    if (outcome === 'retry') throw writeError;
    this.#options.log.warn(
      { taskId: entry.taskId, resultId: entry.body.resultId, outcome },
      `the outbox copy of task ${entry.taskId}'s result could not be written (${writeError.message}); not needed: the server has answered it (${outcome})`,
    );
    return outcome;
  }

  /** At start and at exit: every queued result once, oldest first, giving up at the first that must wait. */
  async sendQueued(when: string, signal?: AbortSignal): Promise<void> {
    const queued = this.#options.outbox.pending();
    if (queued.length === 0) return;
    this.#options.log.info(`sending ${queued.length} queued result(s) ${when}`);
    for (const entry of queued) {
      if (signal?.aborted === true || (await this.deliver(entry, signal)) === 'retry') return;
    }
  }

  /** Starts the background pump; `notify()` wakes it when a result was queued. */
  start(): void {
    this.#pump ??= this.#runPump();
  }

  notify(): void {
    this.#wake?.();
  }

  /** Stops the pump; what is unsent stays on disk for the next start. */
  async stop(): Promise<void> {
    this.#stopping.abort();
    this.notify();
    await this.#pump;
    await Promise.allSettled(this.#inFlight.values());
  }

  async #runPump(): Promise<void> {
    const stop = this.#stopping.signal;
    const { errorSleepMs, maxErrorSleepMs, log } = this.#options;
    while (!stop.aborted) {
      if (this.#options.outbox.pending().length === 0) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        this.#wake = undefined;
        continue;
      }
      try {
        // A new result that had to wait (deliverNew) woke us: its wait comes first.
        await this.#waitRetryAfter(stop);
        await pRetry(() => this.#sendAllQueued(stop), {
          retries: Number.POSITIVE_INFINITY,
          minTimeout: errorSleepMs,
          maxTimeout: maxErrorSleepMs,
          randomize: true,
          signal: stop,
          // A Retry-After is the wait: it neither grows the backoff nor adds p-retry's delay.
          shouldConsumeRetry: ({ error }) =>
            !(error instanceof MustWait && error.retryAfterMs !== undefined),
          onFailedAttempt: async ({ error }) => {
            if (!(error instanceof MustWait)) throw error; // a bug or a disk error: not retried here
            if (error.retryAfterMs !== undefined) await sleep(error.retryAfterMs, stop);
          },
        });
      } catch (error) {
        if (stop.aborted) return;
        // A result file that cannot be moved or removed (a disk error): the pump must not die with
        // it (an unhandled rejection would end the worker); it tries again after a pause.
        log.error(`sending queued results failed: ${coerceError(error).message}`);
        await sleep(maxErrorSleepMs, stop);
      }
    }
  }

  /** Waits out the last Retry-After given, if any (once). */
  async #waitRetryAfter(stop: AbortSignal): Promise<void> {
    const waitMs = this.#retryAfterMs;
    this.#retryAfterMs = undefined;
    if (waitMs !== undefined) await sleep(waitMs, stop);
  }

  /** Every queued result once, oldest first; throws MustWait at the first that must wait. */
  async #sendAllQueued(stop: AbortSignal): Promise<void> {
    for (const entry of this.#options.outbox.pending()) {
      if (stop.aborted) return;
      if ((await this.deliver(entry, stop)) === 'retry') {
        const retryAfterMs = this.#retryAfterMs;
        this.#retryAfterMs = undefined;
        throw new MustWait(retryAfterMs);
      }
    }
  }

  async #send(entry: OutboxEntry, signal: AbortSignal | undefined): Promise<DeliveryOutcome> {
    const { outbox, client, log } = this.#options;
    const { resultId } = entry.body;
    const answer = await client.sendResult(entry.taskId, entry.body, signal);
    switch (answer.kind) {
      case 'accepted':
      case 'duplicate':
        await outbox.markDelivered(resultId);
        if (this.#failing) log.info('results are reaching the server again');
        this.#failing = false;
        return 'delivered';
      case 'gone':
      case 'refused': {
        const keptIn = await outbox.markRejected(resultId, {
          status: answer.status,
          text: answer.answer,
        });
        log.error(
          { taskId: entry.taskId, resultId, status: answer.status, keptIn },
          `the server refused the result of task ${entry.taskId} (HTTP ${answer.status}); kept in ${keptIn}`,
        );
        return 'rejected';
      }
      case 'retry':
        // `Retry-After: 0` is no Retry-After (parseRetryAfter): the ordinary backoff, no storm.
        if (answer.retryAfterMs !== undefined) this.#retryAfterMs = answer.retryAfterMs;
        // Said, and left to the pump, once its file is on disk: a kill after this line loses
        // nothing. If that write failed there is no file to re-send from: deliverNew throws.
        if (!(await outbox.whenWritten(resultId))) return 'retry';
        if (!this.#failing) {
          log.warn(
            { taskId: entry.taskId, resultId, queued: outbox.size, status: answer.status },
            `result not delivered, kept in the outbox to re-send: ${answer.error.message}${tokenHint(answer.status)}`,
          );
        }
        this.#failing = true;
        this.notify(); // the pump takes it from here, with its backoff
        return 'retry';
    }
  }
}

/** What a person can do about a result refused for its token (it is kept and sent again). */
function tokenHint(status: number | undefined): string {
  return status === 401 || status === 403
    ? ' (the server refused our token: fix TOKEN or TOKEN_FILE; it is read again before the next try)'
    : '';
}
