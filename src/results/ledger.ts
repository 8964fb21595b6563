/**
 * The one owner of a result's life, from its encoding until the server has answered it: one
 * record per result, read by delivery and the loop. The files are ./outbox.ts's; the sends
 * ./delivery.ts's.
 *
 *   written ──(its file is composed)──▶ pending ──(a send goes out)──▶ sending
 *   sending ──2xx/409──▶ answered (its file leaves, then the record)
 *   sending ──404/410/other 4xx──▶ refused (kept in rejected/, then the record leaves)
 *   sending ──network/5xx/transient 4xx──▶ kept (in outbox/, for the pump) ──▶ sending …
 *
 * A body in memory is `pending` at once (it is sent while its file is written; answered first, it
 * gets no outbox file, only done/'s copy); a body whose output is spooled is `written` until its
 * outbox file is composed, since it is sent from there.
 */
import { coerceError } from '../platform/errors.ts';
import type { EncodedResult } from '../wire/protocol.ts';
import type { KeptIn, Outbox, OutboxEntry } from './outbox.ts';

/**
 * How many of the latest answers say whether the server answers quickly enough for a new result's
 * outbox write to wait for its answer (`#stillNeeded`; how long: RESULT_ANSWER_WAIT, src/config.ts).
 */
export const ANSWERS_SEEN = 8;

export type ResultState = 'written' | 'pending' | 'sending' | 'kept' | 'answered' | 'refused';

const NEXT: Record<ResultState, readonly ResultState[]> = {
  written: ['pending'],
  pending: ['sending'],
  sending: ['answered', 'refused', 'kept'],
  kept: ['sending'],
  answered: [],
  refused: [],
};

/** One result in flight through the worker. */
export interface ResultLife {
  readonly taskId: string;
  readonly resultId: string;
  /** As kept in outbox/ (a spooled body is read from its file once composed). */
  entry: OutboxEntry;
  state: ResultState;
  /** Settles true once its outbox file is whole, false if that write failed. */
  readonly written: Promise<boolean>;
  /** Why its outbox write failed, once `written` settled false. */
  writeError?: Error | undefined;
  /** Whether `written` has settled (a disk slower than the tasks holds up claims). */
  isWriteOver: boolean;
  /** When a new result was added (performance.now()), for how soon it is answered. */
  addedAtMs?: number | undefined;
  /** Where a new result's write kept it (./outbox.ts), once `written` settled true; else outbox/. */
  keptIn?: KeptIn | undefined;
  /** Tells a new result's write that the server's first answer is in (`#stillNeeded`). */
  onAnswer?: (() => void) | undefined;
  /** The send out for it, shared by concurrent callers (./delivery.ts). */
  send?: Promise<SendAnswer> | undefined;
  /** Answered or refused: settles once its outbox file is gone and it has left the ledger. */
  ending?: Promise<unknown> | undefined;
}

/** What a send came to; a 'retry' carries the server's Retry-After, if it gave one. */
export interface SendAnswer {
  outcome: 'delivered' | 'rejected' | 'retry';
  retryAfterMs?: number | undefined;
}

/** What the states count as: results still to be sent (the outbox's size, OUTBOX_MAX). */
const UNSENT: ReadonlySet<ResultState> = new Set(['pending', 'sending', 'kept']);

export class ResultLedger {
  readonly #outbox: Outbox;
  readonly #maxEntries: number;
  readonly #lives = new Map<string, ResultLife>();
  /** Called when a result's write is over (the loop may claim again). */
  #onWriteOver = new Set<() => void>();
  /** How long the latest new results took to be answered (ms), ANSWERS_SEEN of them, newest last. */
  readonly #answerMs: number[] = [];

  readonly #answerWaitMs: number;

  /**
   * `answerWaitMs`: the worker passes RESULT_ANSWER_WAIT (its one default, in src/config.ts);
   * without it, 0: never wait, every outbox file written at once.
   */
  constructor(outbox: Outbox, maxEntries: number, { answerWaitMs = 0 } = {}) {
    this.#outbox = outbox;
    this.#maxEntries = maxEntries;
    this.#answerWaitMs = answerWaitMs;
  }

  get outbox(): Outbox {
    return this.#outbox;
  }

  /** Opens the storage and takes what it kept unsent as pending. */
  open(): this {
    this.#outbox.open();
    for (const entry of this.#outbox.unsent()) this.#adopt(entry);
    return this;
  }

  /** Results still to be sent (pending, being sent, or kept for the pump). */
  get size(): number {
    let count = 0;
    for (const life of this.#lives.values()) if (UNSENT.has(life.state)) count += 1;
    return count;
  }

  isFull(): boolean {
    return this.size >= this.#maxEntries;
  }

  /** Results whose outbox write is not over yet. */
  get unwritten(): number {
    let count = 0;
    for (const life of this.#lives.values()) if (!life.isWriteOver) count += 1;
    return count;
  }

  /** Resolves when the next result's write is over (never, if none is ever written again). */
  writeOver(): Promise<void> {
    return new Promise((resolve) => {
      const once = () => {
        this.#onWriteOver.delete(once);
        resolve();
      };
      this.#onWriteOver.add(once);
    });
  }

  /** Unsent results, oldest first. */
  pending(): OutboxEntry[] {
    // ISO 8601 times sort as plain strings (localeCompare would load ICU's collation for nothing).
    return [...this.#lives.values()]
      .filter((life) => UNSENT.has(life.state))
      .map((life) => life.entry)
      .sort((a, b) => (a.storedAt < b.storedAt ? -1 : a.storedAt > b.storedAt ? 1 : 0));
  }

  /** The sends out now, for a stop to wait on. */
  sends(): Promise<unknown>[] {
    const all: Promise<unknown>[] = [];
    for (const life of this.#lives.values()) if (life.send !== undefined) all.push(life.send);
    return all;
  }

  get(resultId: string): ResultLife | undefined {
    return this.#lives.get(resultId);
  }

  /**
   * A new result: its outbox file written (./outbox.ts), or only done/'s copy if the server has it
   * first (`#stillNeeded`); once answered, the outbox file becomes done/'s copy.
   */
  add(taskId: string, body: EncodedResult): ResultLife {
    let answered: () => void = () => undefined;
    const answer = new Promise<void>((resolve) => {
      answered = resolve;
    });
    // A spooled body is sent from its file once that is written: no answer can come first.
    const stillNeeded =
      'json' in body ? () => this.#stillNeeded(answer, () => life.state) : undefined;
    const { entry, written: writing } = this.#outbox.write(taskId, body, stillNeeded);
    const written = writing.then(
      (keptIn) => {
        life.keptIn = keptIn;
        return true;
      },
      (error: unknown) => {
        life.writeError = coerceError(error);
        return false;
      },
    );
    const life: ResultLife = {
      taskId,
      resultId: body.resultId,
      entry,
      state: 'json' in body ? 'pending' : 'written',
      written,
      isWriteOver: false,
      addedAtMs: performance.now(),
      onAnswer: answered,
    };
    this.#lives.set(life.resultId, life);
    void written.then((whole) => {
      life.isWriteOver = true;
      // A composed file makes its result sendable; one that failed is no result to send.
      if (life.state === 'written') {
        if (whole) this.#move(life, 'pending');
        else this.#lives.delete(life.resultId);
      }
      for (const notify of [...this.#onWriteOver]) notify();
    });
    return life;
  }

  /** The result this worker already produced for a task: one still here, or done/'s. */
  storedResult(taskId: string): OutboxEntry | undefined {
    for (const life of this.#lives.values()) if (life.taskId === taskId) return life.entry;
    return this.#outbox.doneResult(taskId);
  }

  /**
   * A stored result back on its way (a re-delivered task): the SAME body and resultId. One still
   * on its way is returned as it is (a second write now would share the first one's temp file);
   * one whose outbox file is on its way out is taken again from done/ once that file is gone.
   */
  async requeue(entry: OutboxEntry): Promise<OutboxEntry> {
    for (const life of this.#lives.values()) {
      if (life.taskId !== entry.taskId) continue;
      if (life.ending === undefined) return life.entry;
      await life.ending.catch(() => undefined);
      return this.requeue(this.#outbox.doneResult(entry.taskId) ?? entry);
    }
    return this.#adopt(this.#outbox.rewrite(entry)).entry;
  }

  /** `worker --requeue-rejected`: refused results back in outbox/ (./outbox.ts). */
  requeueRejected(): { requeued: number; unreadable: string[] } {
    const { requeued, unreadable } = this.#outbox.requeueRejected();
    for (const entry of requeued) this.#adopt(entry);
    return { requeued: requeued.length, unreadable };
  }

  /** A send goes out for this result (a re-send of an answered one changes nothing). */
  sending(resultId: string): void {
    const life = this.#lives.get(resultId);
    if (life?.state === 'pending' || life?.state === 'kept') this.#move(life, 'sending');
  }

  /** The server could not take it now: kept in outbox/ for the pump. */
  kept(resultId: string): void {
    const life = this.#lives.get(resultId);
    if (life?.state !== 'sending') return;
    this.#move(life, 'kept');
    life.onAnswer?.();
  }

  /**
   * The server has it (2xx or 409): no longer unsent at once; its file goes once its writes are
   * over and it is whole (removed earlier, a late rename would put it back in the outbox).
   */
  async answered(resultId: string): Promise<void> {
    const life = this.#lives.get(resultId);
    if (life === undefined) {
      await this.#outbox.remove(resultId);
      return;
    }
    this.#finish(life, 'answered');
    life.ending = (async () => {
      try {
        if ((await life.written) && life.keptIn !== 'done') await this.#outbox.retire(life.entry);
      } finally {
        this.#lives.delete(resultId);
      }
    })();
    await life.ending;
  }

  /** The server refused it: kept in rejected/ with its answer, then its outbox file goes. */
  async refused(resultId: string, answer: { status: number; text: string }): Promise<string> {
    const life = this.#lives.get(resultId);
    if (life === undefined) return this.#outbox.rejectedFile(resultId);
    this.#finish(life, 'refused');
    const ending = (async () => {
      try {
        const whole = await life.written;
        if (whole) await this.#outbox.keepDone(life.entry); // a re-delivery re-sends it
        // A body kept only in its file is read from there: once the file is whole.
        const target =
          whole || 'json' in life.entry.body
            ? await this.#outbox.reject(life.entry, answer)
            : this.#outbox.rejectedFile(resultId);
        if (whole) await this.#outbox.remove(resultId);
        return target;
      } finally {
        this.#lives.delete(resultId);
      }
    })();
    life.ending = ending;
    return ending;
  }

  #adopt(entry: OutboxEntry): ResultLife {
    const whole = Promise.resolve(true);
    const life: ResultLife = {
      taskId: entry.taskId,
      resultId: entry.body.resultId,
      entry,
      state: 'pending',
      written: whole,
      isWriteOver: true,
    };
    this.#lives.set(life.resultId, life);
    return life;
  }

  /** Answered or refused from any state: a result answered by a send it shared ends once. */
  #finish(life: ResultLife, state: 'answered' | 'refused'): void {
    life.state = state;
    life.onAnswer?.();
    if (state === 'answered' && life.addedAtMs !== undefined) {
      this.#answerTook(performance.now() - life.addedAtMs);
    }
  }

  /**
   * Asked by a new result's write before it starts: does it still need its outbox file? Not once
   * the server has the result (2xx or 409): that file only ever stood for a result the server
   * might not have, and done/'s copy (written instead) is never fsynced. While the server answers
   * quickly (the latest ANSWERS_SEEN answers within `answerWaitMs`), the write waits up to that
   * for the answer (none in time counts as a slow one); else at once, the outbox file is written
   * and fsynced as always, as it is after any other answer. What a kill or a power cut meanwhile
   * costs is what it costs while the file is written: the task runs again (docs/reliability.md,
   * "No outbox file for a result the server already has").
   */
  async #stillNeeded(answer: Promise<void>, state: () => ResultState): Promise<boolean> {
    if (!this.#answersAreQuick()) return true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#answerWaitMs);
    });
    const answeredInTime = await Promise.race([answer.then(() => true), late.then(() => false)]);
    clearTimeout(timer);
    // No answer in time: the server is slow for now, and the next writes do not wait.
    if (!answeredInTime) this.#answerTook(Number.POSITIVE_INFINITY);
    return state() !== 'answered';
  }

  #answersAreQuick(): boolean {
    if (this.#answerWaitMs === 0) return false;
    const seen = this.#answerMs;
    return seen.length === ANSWERS_SEEN && seen.every((ms) => ms <= this.#answerWaitMs);
  }

  #answerTook(ms: number): void {
    this.#answerMs.push(ms);
    if (this.#answerMs.length > ANSWERS_SEEN) this.#answerMs.shift();
  }

  #move(life: ResultLife, next: ResultState): void {
    if (!NEXT[life.state].includes(next)) {
      throw new Error(`illegal result state change: ${life.state} → ${next} (${life.resultId})`);
    }
    life.state = next;
  }
}
