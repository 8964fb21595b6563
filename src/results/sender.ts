/**
 * A result's POST (docs/protocol.md, section 3): alone, or to a 1.1 server batched with the
 * results that finish meanwhile (1.1-d), so a busy worker sends fewer, fuller requests and an idle
 * one each at once. Either way it asks for the next tasks (1.1-c) as the loop says; each result
 * gets back what section 3 would have answered for it.
 */
import { HiveError } from '../platform/errors.ts';
import type { Logger } from '../platform/log.ts';
import { MAX_BATCHED_RESULT_BYTES } from '../wire/batch.ts';
import type { HiveClient } from '../wire/hive-client.ts';
import type { ResultOutcome } from '../wire/outcomes.ts';
import { MAX_RESULTS_PER_BATCH, type Task } from '../wire/protocol.ts';
import type { OutboxEntry } from './outbox.ts';

/** What the loop says about the tasks a result's answer may bring (protocol 1.1-c). */
export interface NextHooks {
  /** How many to ask for now (0 while draining); each call > 0 is answered by one `took`. */
  max: () => number;
  /** `asked`: the answer to a `max` above 0 (tasks not asked for are still ours to run). */
  took: (tasks: readonly Task[], asked: boolean) => void;
}

export class ResultSender {
  readonly #client: HiveClient;
  readonly #batcher: ResultBatcher;
  #next: NextHooks = { max: () => 0, took: () => undefined };
  /** The server answered a batch 404/405/501: results go alone from then on (1.1-d). */
  #batchesOff = false;

  constructor({ client, log }: { client: HiveClient; log: Logger }) {
    this.#client = client;
    this.#batcher = new ResultBatcher({
      client,
      askNext: () => this.#next.max(),
      tookNext: (max, tasks) => this.#tookNext(max, tasks),
      onUnsupported: (status) => {
        if (!this.#batchesOff) {
          log.info(`the server has no batch endpoint (HTTP ${status}): results go one by one`);
        }
        this.#batchesOff = true;
      },
    });
  }

  useNext(hooks: NextHooks): void {
    this.#next = hooks;
  }

  /** A result's POST: in the next batch when batching, else alone (a big one always). */
  async post(entry: OutboxEntry, signal: AbortSignal | undefined): Promise<ResultOutcome> {
    const client = this.#client;
    const { body } = entry;
    if ('json' in body && client.speaks11 && !this.#batchesOff && isSmall(body.json)) {
      const answer = await this.#batcher.send(entry.taskId, body.resultId, body.json);
      if (answer !== undefined) return answer;
    }
    const max = 'json' in body && client.speaks11 ? this.#next.max() : 0;
    const answer = await client.sendResult(entry.taskId, body, signal, max > 0 ? max : undefined);
    const taken = answer.kind === 'accepted' || answer.kind === 'duplicate';
    this.#tookNext(max, taken ? answer.tasks : []);
    return answer;
  }

  /** Hands a result answer's tasks to the loop: the answer to an ask, or ours all the same. */
  #tookNext(max: number, tasks: readonly Task[]): void {
    if (max > 0 || tasks.length > 0) this.#next.took(tasks, max > 0);
  }
}

/** At most MAX_BATCHED_RESULT_BYTES of UTF-8 (a JS string's char is at most 3 bytes of it). */
function isSmall(json: string): boolean {
  const limit = MAX_BATCHED_RESULT_BYTES;
  return json.length <= limit / 3 || Buffer.byteLength(json) <= limit;
}

interface Waiting {
  readonly taskId: string;
  readonly resultId: string;
  readonly json: string;
  readonly answered: (outcome: ResultOutcome | undefined) => void;
}

export interface BatcherDeps {
  client: HiveClient;
  /** How many tasks the batch's answer may bring (1.1-c); 0 while draining. */
  askNext: () => number;
  /** The answer's tasks (none if it failed), once per askNext. */
  tookNext: (max: number, tasks: readonly Task[]) => void;
  /** The server has no batch endpoint (404/405/501). */
  onUnsupported: (status: number) => void;
}

/** How long a batch in flight holds the next one back: a server slow to answer must not stall. */
export const SLOW_BATCH_MS = 1000;

class ResultBatcher {
  readonly #deps: BatcherDeps;
  #queue: Waiting[] = [];
  /** Batches in flight, and when the latest left. */
  #sending = 0;
  #lastSentAt = 0;
  /** A flush is due (next turn of the event loop, or once the batch out is slow). */
  #due: { cancel: () => void } | undefined;
  /** The next batch's ask, made when its first result came: the loop then waits, not claims. */
  #reserved: number | undefined;

  constructor(deps: BatcherDeps) {
    this.#deps = deps;
  }

  /** Sends a small result body in the next batch; undefined: send it alone. */
  send(taskId: string, resultId: string, json: string): Promise<ResultOutcome | undefined> {
    return new Promise((answered) => {
      // Asked now, inside the hand-over: the loop must not start a (long-poll) claim meanwhile.
      this.#reserved ??= this.#deps.askNext();
      this.#queue.push({ taskId, resultId, json, answered });
      this.#schedule();
    });
  }

  /**
   * The results that finish in this turn of the event loop go together; while a batch is out they
   * wait for it, or for SLOW_BATCH_MS after it left, whichever comes first.
   */
  #schedule(): void {
    if (this.#due !== undefined || this.#queue.length === 0) return;
    const flush = () => {
      this.#due = undefined;
      void this.#flush();
    };
    const waitMs = this.#sending === 0 ? 0 : this.#lastSentAt + SLOW_BATCH_MS - Date.now();
    if (waitMs <= 0) {
      const immediate = setImmediate(flush);
      this.#due = { cancel: () => clearImmediate(immediate) };
    } else {
      const timer = setTimeout(flush, waitMs);
      this.#due = { cancel: () => clearTimeout(timer) };
    }
  }

  async #flush(): Promise<void> {
    const group = this.#queue.splice(0, MAX_RESULTS_PER_BATCH);
    const max = this.#reserved ?? this.#deps.askNext();
    this.#reserved = undefined;
    this.#sending += 1;
    this.#lastSentAt = Date.now();
    this.#schedule(); // more than one batch's worth waiting, or a slow answer: the next goes too
    const outcome = await this.#deps.client.sendResults(group, max).finally(() => {
      this.#sending -= 1;
    });
    this.#deps.tookNext(max, outcome.kind === 'answered' ? outcome.tasks : []);
    for (const waiting of group) {
      switch (outcome.kind) {
        case 'answered':
          waiting.answered(outcome.results.get(waiting.resultId) ?? missing(waiting.resultId));
          break;
        case 'unsupported':
        case 'alone':
          waiting.answered(undefined);
          break;
        case 'retry':
          waiting.answered(outcome);
          break;
      }
    }
    if (outcome.kind === 'unsupported') this.#deps.onUnsupported(outcome.status);
    // The batch is in: what waited for it goes now.
    if (this.#sending === 0) {
      this.#due?.cancel();
      this.#due = undefined;
    }
    this.#schedule();
  }
}

/** A result the batch answer says nothing about: kept, as a 5xx for it would be. */
function missing(resultId: string): ResultOutcome {
  return {
    kind: 'retry',
    error: new HiveError('BAD_ANSWER', `the batch answer names no status for result ${resultId}`),
  };
}
