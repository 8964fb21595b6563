/**
 * Sends what the outbox holds. A result is tried at once; what the server cannot take now
 * (5xx, network) waits in the outbox and is re-sent with the same body and resultId by a
 * background pump with its own backoff, so a results endpoint that is down never stalls claiming.
 */
import { ErrorBackoff, sleep } from './backoff.ts';
import type { HiveClient } from './hive-client.ts';
import type { Logger } from './log.ts';
import type { Outbox, OutboxEntry } from './outbox.ts';

export type DeliveryOutcome = 'delivered' | 'rejected' | 'retry';

export interface DeliveryOptions {
  outbox: Outbox;
  client: HiveClient;
  log: Logger;
  errorSleepMs: number;
  maxErrorSleepMs: number;
}

export class ResultDelivery {
  readonly #options: DeliveryOptions;
  readonly #backoff: ErrorBackoff;
  readonly #inFlight = new Map<string, Promise<DeliveryOutcome>>();
  readonly #stopping = new AbortController();
  #wake: (() => void) | undefined;
  #pump: Promise<void> | undefined;
  #failing = false;

  constructor(options: DeliveryOptions) {
    this.#options = options;
    this.#backoff = new ErrorBackoff(options.errorSleepMs, options.maxErrorSleepMs);
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
    while (!stop.aborted) {
      const queued = this.#options.outbox.pending();
      if (queued.length === 0) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        this.#wake = undefined;
        continue;
      }
      let mustWait = false;
      for (const entry of queued) {
        if (stop.aborted) return;
        if ((await this.deliver(entry, stop)) === 'retry') {
          mustWait = true;
          break;
        }
      }
      if (mustWait) await sleep(this.#backoff.nextDelayMs(), stop);
      else this.#backoff.reset();
    }
  }

  async #send(entry: OutboxEntry, signal: AbortSignal | undefined): Promise<DeliveryOutcome> {
    const { outbox, client, log } = this.#options;
    const { resultId } = entry.body;
    const answer = await client.sendResult(entry.taskId, entry.body, signal);
    switch (answer.kind) {
      case 'accepted':
      case 'duplicate':
        outbox.markDelivered(resultId);
        if (this.#failing) log.info('results are reaching the server again');
        this.#failing = false;
        return 'delivered';
      case 'gone':
      case 'refused': {
        const keptIn = outbox.markRejected(resultId, {
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
        if (!this.#failing) {
          log.warn(
            { taskId: entry.taskId, resultId, queued: outbox.size },
            `result not delivered, kept in the outbox to re-send: ${answer.error.message}`,
          );
        }
        this.#failing = true;
        this.notify(); // the pump takes it from here, with its backoff
        return 'retry';
    }
  }
}
