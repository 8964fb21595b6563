/**
 * Results that finish together, in one request (protocol 1.1-d, docs/protocol.md): one batch is
 * out at a time, and the results that come meanwhile go in the next one (up to 100), so a busy
 * worker sends fewer, fuller requests and an idle one sends each result at once. Each result
 * gets back what section 3 would have answered for it; `undefined` means "send it alone".
 */
import { HiveError } from '../platform/errors.ts';
import type { HiveClient } from '../wire/hive-client.ts';
import type { ResultOutcome } from '../wire/outcomes.ts';
import { MAX_RESULTS_PER_BATCH, type Task } from '../wire/protocol.ts';

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
  /** The server has no batch endpoint (404/405/501): results go alone from now on. */
  onUnsupported: (status: number) => void;
}

export class ResultBatcher {
  readonly #deps: BatcherDeps;
  #queue: Waiting[] = [];
  #isSending = false;

  constructor(deps: BatcherDeps) {
    this.#deps = deps;
  }

  /** Sends a result (a body in memory, ≤ 256 KiB) in the next batch. */
  send(taskId: string, resultId: string, json: string): Promise<ResultOutcome | undefined> {
    return new Promise((answered) => {
      this.#queue.push({ taskId, resultId, json, answered });
      // The results that finish in this turn of the event loop go together.
      if (!this.#isSending) {
        this.#isSending = true;
        setImmediate(() => void this.#flush());
      }
    });
  }

  async #flush(): Promise<void> {
    while (this.#queue.length > 0) {
      const group = this.#queue.splice(0, MAX_RESULTS_PER_BATCH);
      const max = this.#deps.askNext();
      const outcome = await this.#deps.client.sendResults(group, max);
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
    }
    this.#isSending = false;
  }
}

/** A result the batch answer says nothing about: kept, as a 5xx for it would be. */
function missing(resultId: string): ResultOutcome {
  return {
    kind: 'retry',
    error: new HiveError('BAD_ANSWER', `the batch answer names no status for result ${resultId}`),
  };
}
