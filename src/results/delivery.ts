/**
 * A result's journey from its encoding to the server (`submit`): kept durably in the outbox (the
 * storage: ./outbox.ts; its state: ./ledger.ts) and sent — a small one while its copy is written,
 * a big one (its output spooled to a file by its task process) once its file is composed,
 * streamed from that file. What the server cannot take now (5xx, network, and the transient 4xx:
 * 401, 403, 407, 408, 425, 429) waits in the outbox for the pump (./pump.ts).
 */
import { coerceError } from '../platform/errors.ts';
import { SourceChangedError } from '../platform/fs-atomic.ts';
import type { Logger } from '../platform/log.ts';
import type { HiveClient } from '../wire/hive-client.ts';
import type { EncodedResult } from '../wire/protocol.ts';
import type { ResultLedger, ResultLife, SendAnswer } from './ledger.ts';
import type { OutboxEntry } from './outbox.ts';
import { ResultPump } from './pump.ts';
import { type NextHooks, ResultSender } from './sender.ts';

export type DeliveryOutcome = SendAnswer['outcome'];

export interface DeliveryOptions {
  ledger: ResultLedger;
  client: HiveClient;
  log: Logger;
  errorSleepMs: number;
  maxErrorSleepMs: number;
}

export class ResultDelivery {
  readonly #options: DeliveryOptions;
  /** How each result's POST goes: alone or in a batch, asking for the next tasks (1.1). */
  readonly #sender: ResultSender;
  /** Submitted results not yet answered or kept (their handlers run): a stop waits for them. */
  readonly #journeys = new Set<Promise<unknown>>();
  readonly #pump: ResultPump;
  #failing = false;

  constructor(options: DeliveryOptions) {
    this.#options = options;
    this.#sender = new ResultSender(options);
    this.#pump = new ResultPump({
      ...options,
      deliver: (entry, stop) => this.#deliver(entry, stop),
    });
  }

  /** The loop's say on the tasks results' answers bring (protocol 1.1-c). */
  useNext(hooks: NextHooks): void {
    this.#sender.useNext(hooks);
  }

  /**
   * One try for one result. Concurrent calls for the same result share one request, except
   * `again`: the server delivered the task anew (protocol section 4), so it did not count the send
   * still in flight (whose answer may be in, its files still settling): this one is its own POST,
   * same resultId and body, which the server stores once.
   */
  deliver(
    entry: OutboxEntry,
    signal?: AbortSignal,
    { again = false }: { again?: boolean } = {},
  ): Promise<DeliveryOutcome> {
    return this.#deliver(entry, signal, again).then((answer) => answer.outcome);
  }

  #deliver(
    entry: OutboxEntry,
    signal: AbortSignal | undefined,
    again = false,
  ): Promise<SendAnswer> {
    const life = this.#options.ledger.get(entry.body.resultId);
    const running = life?.send;
    if (running !== undefined && !again) return running;
    const attempt: Promise<SendAnswer> = this.#send(entry, signal).finally(() => {
      if (life?.send === attempt) life.send = undefined;
    });
    if (life !== undefined) life.send = attempt;
    return attempt;
  }

  /**
   * A new result, from its encoding to the server. `durable` resolves once its outbox write is
   * over, whether it worked or not (what a failed write means is decided here, in `delivered`);
   * `delivered` settles when the server has answered and the file's writes are over.
   *
   * A body in memory is sent while its copy is written: the two overlap instead of the send
   * waiting for the fsyncs. A body whose output is spooled is sent from its outbox
   * file once that is composed (it is nowhere else whole).
   *
   * If the write failed (a full disk, lost permissions), what matters is whether anything still
   * needs the file. Once the server has answered — taken it, or refused it and it is kept in
   * rejected/ — nothing does: a warning, and the worker goes on. If the result still has to be
   * sent ('retry'), or could not be sent at all (a spooled one), the file was its only keeping:
   * the write's error is thrown, and the task's handling fails and ends the loop (the server
   * hands the task out again when its lease lapses). Except when what failed was the task's own
   * spooled output, gone or cut short by its process (SourceChangedError): with
   * `ifOutputChanged`, the result it makes is submitted in its place, and the worker goes on.
   */
  submit(
    taskId: string,
    body: EncodedResult,
    signal?: AbortSignal,
    { ifOutputChanged }: { ifOutputChanged?: ((detail: string) => EncodedResult) | undefined } = {},
  ): { durable: Promise<void>; delivered: Promise<DeliveryOutcome> } {
    const life = this.#options.ledger.add(taskId, body);
    const { entry, written } = life;
    const sent = 'json' in body ? this.deliver(entry, signal) : undefined;
    // A spooled output changed by its task process while its file was composed (see
    // SourceChangedError): the result it would have been is lost, and the one sent in its place
    // (`ifOutputChanged`) says why. Not a disk failure: the worker goes on.
    let replaced: { durable: Promise<void>; delivered: Promise<DeliveryOutcome> } | undefined;
    const replacement = (error: unknown) => {
      if (ifOutputChanged === undefined || !(error instanceof SourceChangedError)) return undefined;
      if (replaced === undefined) {
        this.#options.log.warn(
          { taskId, resultId: body.resultId },
          `task ${taskId}'s output changed while it was read (${error.message}): reported as failed`,
        );
        replaced = this.submit(taskId, ifOutputChanged(error.detail), signal);
      }
      return replaced;
    };
    const delivered = this.#deliverNew(life, sent, signal).catch((error: unknown) => {
      const instead = replacement(error);
      if (instead === undefined) throw error;
      return instead.delivered;
    });
    const journey: Promise<unknown> = delivered
      .catch(() => undefined)
      .finally(() => this.#journeys.delete(journey));
    this.#journeys.add(journey);
    return {
      durable: written.then((whole) => (whole ? undefined : replacement(life.writeError)?.durable)),
      delivered,
    };
  }

  /** Resolves once every submitted result is answered or kept, its handlers run. */
  async settled(): Promise<void> {
    while (this.#journeys.size > 0) await Promise.all(this.#journeys);
  }

  async #deliverNew(
    life: ResultLife,
    sending: Promise<DeliveryOutcome> | undefined,
    signal: AbortSignal | undefined,
  ): Promise<DeliveryOutcome> {
    const { entry } = life;
    const whole = await life.written;
    const failure = whole ? undefined : (life.writeError ?? new Error('the outbox write failed'));
    if (sending === undefined && failure !== undefined) throw failure;
    const outcome = await (sending ?? this.deliver(entry, signal));
    await this.#fileSettled(entry.body.resultId);
    if (failure === undefined) return outcome;
    if (outcome === 'retry') throw failure;
    this.#options.log.warn(
      { taskId: entry.taskId, resultId: entry.body.resultId, outcome },
      `the outbox copy of task ${entry.taskId}'s result could not be written (${failure.message}); not needed: the server has answered it (${outcome})`,
    );
    return outcome;
  }

  /** At start and at exit: every queued result once, oldest first, giving up at the first that must wait. */
  async sendQueued(when: string, signal?: AbortSignal): Promise<void> {
    const queued = this.#options.ledger.pending();
    if (queued.length === 0) return;
    this.#options.log.info(`sending ${queued.length} queued result(s) ${when}`);
    for (const entry of queued) {
      if (signal?.aborted === true || (await this.deliver(entry, signal)) === 'retry') return;
    }
  }

  /** Starts the background pump; `notify()` wakes it when a result was queued. */
  start(): void {
    this.#pump.start();
  }

  notify(): void {
    this.#pump.wake();
  }

  /** Stops the pump; what is unsent stays on disk for the next start. */
  async stop(): Promise<void> {
    await this.#pump.stop();
    await Promise.allSettled(this.#options.ledger.sends());
  }

  /** Settles when the writes of a new result's file are over: true when its file is whole. */
  #fileSettled(resultId: string): Promise<boolean> {
    return this.#options.ledger.get(resultId)?.written ?? Promise.resolve(true);
  }

  async #send(entry: OutboxEntry, signal: AbortSignal | undefined): Promise<SendAnswer> {
    const { ledger, log } = this.#options;
    const { resultId } = entry.body;
    // A body in a file is sent from it: its file must be whole first (a re-delivery that comes
    // while it is composed).
    if ('file' in entry.body && !(await (ledger.get(resultId)?.written ?? true))) {
      return { outcome: 'retry' };
    }
    ledger.sending(resultId);
    const answer = await this.#sender.post(entry, signal);
    switch (answer.kind) {
      case 'accepted':
      case 'duplicate':
        // The server has it: an outbox file that cannot be removed is re-sent later (409), no more.
        await ledger.answered(resultId).catch((error: unknown) => {
          log.warn(
            { taskId: entry.taskId, resultId },
            `the outbox copy of task ${entry.taskId}'s result could not be removed (${coerceError(error).message}); the server has it`,
          );
        });
        if (this.#failing) log.info('results are reaching the server again');
        this.#failing = false;
        return { outcome: 'delivered' };
      case 'gone':
      case 'refused': {
        const keptIn = await ledger.refused(resultId, {
          status: answer.status,
          text: answer.answer,
        });
        log.error(
          { taskId: entry.taskId, resultId, status: answer.status, keptIn },
          `the server refused the result of task ${entry.taskId} (HTTP ${answer.status}); kept in ${keptIn}`,
        );
        return { outcome: 'rejected' };
      }
      case 'retry': {
        // `Retry-After: 0` is no Retry-After (parseRetryAfter): the ordinary backoff, no storm.
        const mustWait: SendAnswer = { outcome: 'retry', retryAfterMs: answer.retryAfterMs };
        ledger.kept(resultId);
        // Said, and left to the pump, once its file is on disk: a kill after this line loses
        // nothing. If that write failed there is no file to re-send from: submit's `delivered` throws.
        if (!(await this.#fileSettled(resultId))) return mustWait;
        // A stop cut the send short: queued quietly, sent before exiting or at the next start.
        if (signal?.aborted === true) return mustWait;
        if (!this.#failing) {
          log.warn(
            { taskId: entry.taskId, resultId, queued: ledger.size, status: answer.status },
            `result not delivered, kept in the outbox to re-send: ${answer.error.message}${tokenHint(answer.status)}`,
          );
        }
        this.#failing = true;
        this.#pump.wake(mustWait); // the idle pump takes it from here, with its backoff
        return mustWait;
      }
    }
  }
}

/** What a person can do about a result refused for its token (it is kept and sent again). */
function tokenHint(status: number | undefined): string {
  return status === 401 || status === 403
    ? ' (the server refused our token: fix TOKEN or TOKEN_FILE; it is read again before the next try)'
    : '';
}
