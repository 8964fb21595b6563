/**
 * The loop: claim → run → report → sleep, until stopped. Only one claim is in flight at a time,
 * and at most CONCURRENCY tasks are handled at once (run by the task runner, their results handed
 * to delivery): the loop claims again as soon as a slot is free — or, to a protocol 1.1 server,
 * starts a task it holds (./held-tasks.ts: from a claim or a result's answer). Everything it
 * waits on is abortable, so a stop is prompt.
 */
import { sleep } from '../platform/backoff.ts';
import { clampTimerMs } from '../platform/timers.ts';
import type { StopReason } from '../task/ipc.ts';
import { tasksToAskFor } from '../wire/batch.ts';
import type { ClaimOutcome } from '../wire/outcomes.ts';
import type { Task } from '../wire/protocol.ts';
import { ClaimAnswers } from './claim-answers.ts';
import { HeldTasks, prefetchNow, RECENT_TASKS } from './held-tasks.ts';
import { logFinished, outputChanged, resultBody, runTask } from './run-task.ts';
import { type RunEnd, TRANSITIONS, type WorkerDeps, type WorkerState } from './worker-states.ts';

export type { RunEnd, WorkerDeps, WorkerIdentity, WorkerState } from './worker-states.ts';

/** A task being handled: run, then handed to delivery. Its slot frees when `done` settles. */
interface Handling {
  readonly taskId: string;
  /** Aborted with a StopReason to stop the task's process. */
  readonly controller: AbortController;
  graceTimer?: NodeJS.Timeout;
  readonly done: Promise<void>;
}

export class Worker {
  readonly #deps: WorkerDeps;
  readonly #answers: ClaimAnswers;
  #state: WorkerState = 'starting';
  /** Aborted when the worker leaves `working` (#transition): every wait of the loop listens. */
  readonly #stopping = new AbortController();
  readonly #handling = new Set<Handling>();
  /** Tasks leased to us but not started (protocol 1.1): run as slots free, given back on a drain. */
  readonly #held: HeldTasks;
  /** Wakes the loop's wait (#nextEvent) when tasks arrive or an answer comes. */
  #wake: (() => void) | undefined;
  /** The last result's "finished" line: the next task's "claimed" line comes after it. */
  #said: Promise<void> = Promise.resolve();
  /** A task's handling that threw (e.g. an unsent result's outbox copy failed): ends the loop. */
  #handlingFailure: { error: unknown } | undefined;
  #outboxFullWarned = false;
  /** The latest tasks' run times, newest last (RECENT_TASKS of them): PREFETCH follows them. */
  readonly #recentTaskMs: number[] = [];

  constructor(deps: WorkerDeps) {
    this.#deps = deps;
    this.#answers = new ClaimAnswers({ ...deps, version: deps.identity.version });
    this.#held = new HeldTasks({ ...deps, workerId: deps.identity.workerId });
    deps.delivery.useNext({
      max: () => this.#nextMax(),
      took: (tasks, asked) => this.#took(tasks, asked),
    });
    // One listener for the worker's life, not one a wait: a stop ends the loop's wait.
    this.#stopping.signal.addEventListener('abort', () => this.#wake?.(), { once: true });
  }

  async run(): Promise<RunEnd> {
    const { delivery, settings } = this.#deps;
    // Queued results go before the first claim (protocol section 3), for REQUEST_TIMEOUT at most:
    // past that the send in flight is given up and delivery's pump sends them beside the loop.
    const bound = AbortSignal.timeout(clampTimerMs(settings.requestTimeoutMs));
    await delivery.sendQueued('before claiming', AbortSignal.any([this.#stopping.signal, bound]));
    delivery.start();
    if (this.#state === 'starting') this.#transition('working');
    for (let cycle = 0; this.#state === 'working'; cycle++) {
      if (this.#deps.once === true && cycle > 0) {
        this.#transition('draining');
      } else if (this.#outboxIsFull()) {
        await sleep(this.#deps.settings.errorSleepMs, this.#stopping.signal);
      } else if (this.#isBusy() || this.#held.nextWaitMs() > 0) {
        await this.#nextEvent();
      } else if (this.#held.size > 0) {
        this.#startHeld();
      } else {
        const claimedAt = Date.now();
        const claim = await this.#claimTask();
        if (claim.kind === 'task') {
          this.#hold(claim.tasks);
          this.#startHeld();
        }
        const sleepMs = this.#answers.sleepAfter(claim, {
          tookMs: Date.now() - claimedAt,
          isStopping: this.#stopping.signal.aborted,
        });
        this.#deps.log.debug({ claim: claim.kind, sleepMs }, `next claim in ${sleepMs} ms`);
        await sleep(sleepMs, this.#stopping.signal);
      }
    }
    // Running tasks finish (stop() gives them SHUTDOWN_GRACE; an update drain waits for them).
    await Promise.all([...this.#handling].map((handling) => handling.done));
    await delivery.settled();
    await this.#held.released();
    this.#deps.status?.flush();
    if (this.#handlingFailure !== undefined) throw this.#handlingFailure.error;
    await delivery.stop();
    // One last try, bounded: a server that is down must not hold up the exit.
    await delivery.sendQueued(
      'before exiting',
      AbortSignal.timeout(clampTimerMs(this.#deps.settings.requestTimeoutMs)),
    );
    const end: RunEnd = this.#state === 'draining-for-update' ? 'update' : 'stopped';
    this.#transition('stopped');
    return end;
  }

  /** For an update: stops claiming and lets the running tasks finish (or reach their timeout). */
  drainForUpdate(): void {
    if (this.#state !== 'starting' && this.#state !== 'working') return;
    this.#transition('draining-for-update');
    this.#deps.log.info('an update is ready: finishing the current work, then installing it');
  }

  /** Stops claiming; running tasks get SHUTDOWN_GRACE to finish, then are stopped (SHUTDOWN). */
  stop(): void {
    if (this.#state === 'stopping' || this.#state === 'stopped') return;
    this.#transition('stopping');
    if (this.#handling.size === 0) return;
    const { shutdownGraceMs } = this.#deps.settings;
    const what =
      this.#handling.size === 1 ? 'the running task' : `${this.#handling.size} running tasks`;
    this.#deps.log.info(`waiting up to ${shutdownGraceMs / 1000} s for ${what}`);
    for (const handling of this.#handling) {
      handling.graceTimer = setTimeout(
        () => handling.controller.abort('shutdown' satisfies StopReason),
        clampTimerMs(shutdownGraceMs),
      );
    }
  }

  /**
   * Every slot runs a task, or more results are still being written than tasks may be in hand: a
   * disk slower than the tasks must not let unwritten results pile up in memory.
   */
  #isBusy(): boolean {
    const { concurrency } = this.#deps.settings;
    // As many as the tasks in hand (slots and held) may wait for their write: those that finish
    // while one is written go in the next group commit, and the next task does not wait for it.
    const inHand = concurrency + this.#deps.settings.prefetch;
    return this.#handling.size >= concurrency || this.#deps.ledger.unwritten > inHand;
  }

  /**
   * Resolves when a running task's handling ends, a result's write is over, tasks arrive or a
   * result's answer comes (1.1-c), or the worker stops.
   */
  async #nextEvent(): Promise<void> {
    if (this.#stopping.signal.aborted) return;
    // Woken by a handling's end (#startTask), tasks or an answer (#took), a stop (the constructor's
    // listener), the ledger, or the bound on the wait for a result's next tasks. One promise and
    // at most one timer a wait: this runs a few times a task.
    const waitMs = this.#held.nextWaitMs();
    let bound: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        void this.#deps.ledger.writeOver().then(resolve);
        if (waitMs > 0) bound = setTimeout(resolve, waitMs);
      });
    } finally {
      clearTimeout(bound);
      this.#wake = undefined;
    }
  }

  /** Tasks leased to us (a claim, a result's `next`): held until a slot is free. */
  #hold(tasks: readonly Task[]): void {
    const isRunning = (id: string) => [...this.#handling].some(({ taskId }) => taskId === id);
    const drain = this.#state === 'working' || this.#state === 'starting' ? undefined : 'shutdown';
    this.#held.accept(tasks, isRunning, this.#state === 'draining-for-update' ? 'update' : drain);
  }

  /** Tasks to hold beyond the free slots now (held-tasks.ts `prefetchNow`). */
  #prefetch(): number {
    const { prefetch, concurrency } = this.#deps.settings;
    return prefetchNow({ prefetch, concurrency, recentTaskMs: this.#recentTaskMs });
  }

  #tookMs(ms: number): void {
    this.#recentTaskMs.push(ms);
    if (this.#recentTaskMs.length > RECENT_TASKS) this.#recentTaskMs.shift();
  }

  /** How many tasks a result's answer may bring (1.1-c): none while draining or for --once. */
  #nextMax(): number {
    const { settings } = this.#deps;
    if (this.#state !== 'working' || this.#deps.once === true) return 0;
    // The result's own task still counts as handled until its hand-over: its slot is free.
    const free = settings.concurrency - this.#handling.size + 1;
    const max = tasksToAskFor({ free, prefetch: this.#prefetch(), held: this.#held.size });
    if (max > 0) this.#held.asked();
    return max;
  }

  /** A result's answer that asked for tasks came (or failed: none). */
  #took(tasks: readonly Task[], asked: boolean): void {
    if (asked) this.#held.answered();
    this.#hold(tasks);
    this.#wake?.();
  }

  /** Starts held tasks while slots are free, oldest first. */
  #startHeld(): void {
    while (this.#handling.size < this.#deps.settings.concurrency) {
      const held = this.#held.take();
      if (held === undefined) return;
      this.#startTask(held.task, held.cancelled);
    }
  }

  /** Handles a claimed task beside the loop; its slot frees when its result is handed to delivery. */
  #startTask(task: Task, cancelled = false): void {
    const controller = new AbortController();
    if (cancelled) controller.abort('cancel' satisfies StopReason);
    const handling: Handling = {
      taskId: task.id,
      controller,
      done: this.#handleTask(task, controller)
        .catch((error: unknown) => this.#handlingFailed(error))
        .finally(() => {
          clearTimeout(handling.graceTimer);
          this.#handling.delete(handling);
          this.#wake?.();
        }),
    };
    this.#handling.add(handling);
  }

  #claimTask(): Promise<ClaimOutcome> {
    const { client, identity, runner, settings } = this.#deps;
    // 1.1-b: free slots plus PREFETCH, to a server that said it speaks 1.1 (--once: one task).
    const free = settings.concurrency - this.#handling.size;
    const max = tasksToAskFor({ free, prefetch: this.#prefetch(), held: this.#held.size });
    const many = client.speaks11 && this.#deps.once !== true ? { max } : {};
    return client.claimTask(
      { ...identity, tasks: runner.taskTypes, waitSec: settings.waitSec, ...many },
      this.#stopping.signal,
    );
  }

  async #handleTask(task: Task, controller: AbortController): Promise<void> {
    const { ledger, delivery } = this.#deps;
    const log = this.#deps.log.child({ taskId: task.id, type: task.type, attempt: task.attempt });
    const stored = task.force ? undefined : ledger.storedResult(task.id);
    if (stored !== undefined) {
      log.info(
        `task ${task.id} was already done here: re-sending its result (${stored.body.status})`,
      );
      await delivery.deliver(await ledger.requeue(stored), this.#stopping.signal, { again: true });
      return;
    }
    // Said after the last result's "finished" line, which waits for its write (pipelined).
    const claimedSaid = this.#said.then(() =>
      log.info(`claimed task ${task.id} (${task.type}, attempt ${task.attempt})`),
    );
    const startedAt = new Date();
    this.#deps.status?.taskStarted(task, startedAt);
    const outcome = await runTask(task, {
      ...this.#deps,
      controller,
      log,
      saidBefore: claimedSaid,
    });
    const finishedAt = new Date();
    this.#tookMs(finishedAt.getTime() - startedAt.getTime());
    this.#deps.status?.taskFinished(task.id, outcome.status, finishedAt);
    const at = { ...this.#deps.identity, startedAt, finishedAt };
    const body = resultBody(task, outcome, at);
    // Delivery owns the result from here: kept durably, and on its way to the server meanwhile.
    // The slot frees now, so the next claim overlaps this result's write and send; the send is
    // followed beside the loop (#followDelivery). A spooled output that its task process changes
    // before it is copied is reported as this says instead.
    const ifOutputChanged =
      outcome.outputFile === undefined
        ? undefined
        : (detail: string) => resultBody(task, outputChanged(outcome, detail), at);
    const { durable, delivered } = delivery.submit(task.id, body, this.#stopping.signal, {
      ifOutputChanged,
    });
    this.#followDelivery(durable, delivered, () =>
      logFinished(log, task, outcome, finishedAt.getTime() - startedAt.getTime()),
    );
  }

  /**
   * A submitted result until the server has answered (delivery follows it; a stop waits for it
   * there). Said once its write is over (`durable`): after that line a kill loses nothing (the
   * server has the result, or the outbox file is whole). A failed write is delivery's to judge:
   * `delivered` rejects when the result still needed the file, and that ends the loop as a failed
   * handling does.
   */
  #followDelivery(durable: Promise<void>, delivered: Promise<unknown>, said: () => void): void {
    // After the lines said before it (the task's own "claimed" among them), once its write is over.
    const saidNow = Promise.all([this.#said, durable]).then(said);
    this.#said = Promise.all([this.#said, saidNow]).then(() => undefined);
    delivered
      .catch((error: unknown) => this.#handlingFailed(error))
      .finally(() => {
        this.#deps.onTaskSettled?.();
        // The next task's process starts now, not before: spawn() holds the thread for a few ms
        // and a process start takes a core for tens, which the result's POST would wait for.
        if (this.#state === 'working') this.#deps.runner.release();
      });
  }

  #handlingFailed(error: unknown): void {
    this.#handlingFailure ??= { error };
    if (this.#state === 'working') this.#transition('draining');
  }

  #outboxIsFull(): boolean {
    const full = this.#deps.ledger.isFull();
    if (full && !this.#outboxFullWarned) {
      this.#deps.log.warn(
        `the outbox holds ${this.#deps.ledger.size} unsent results (OUTBOX_MAX): not claiming until some are delivered`,
      );
    }
    this.#outboxFullWarned = full;
    if (full) this.#deps.delivery.notify();
    return full;
  }

  #transition(next: WorkerState): void {
    if (!TRANSITIONS[this.#state].includes(next)) {
      throw new Error(`illegal worker state change: ${this.#state} → ${next}`);
    }
    this.#state = next;
    if (next === 'working') return;
    this.#stopping.abort();
    // Held tasks are never started once the worker stops claiming: given back (1.1-e).
    this.#held.releaseAll(next === 'draining-for-update' ? 'update' : 'shutdown');
  }
}
