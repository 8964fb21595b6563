/**
 * The loop: claim → run → report → sleep, until stopped. Only one claim is in flight at a time,
 * and at most CONCURRENCY tasks run (each in its own process): the loop claims again as soon as
 * a slot is free. Everything it waits on is abortable, so a stop is prompt.
 */
import { randomUUID } from 'node:crypto';
import semver from 'semver';
import { ErrorBackoff, sleep, withJitter } from '../platform/backoff.ts';
import type { Logger } from '../platform/log.ts';
import { clampTimerMs } from '../platform/timers.ts';
import type { ResultDelivery } from '../results/delivery.ts';
import type { Outbox } from '../results/outbox.ts';
import type { Settings } from '../settings.ts';
import { lookupTask, type TaskRegistry } from '../task/define.ts';
import type { StopReason } from '../task/ipc.ts';
import { type ChildCommand, runInChild, type TaskOutcome } from '../task/parent.ts';
import type { WarmChildren } from '../task/warm-child.ts';
import type { ClaimOutcome, HiveClient } from '../wire/hive-client.ts';
import {
  type HeartbeatRequest,
  type ResultBody,
  type Task,
  taskBoundsProblem,
} from '../wire/protocol.ts';
import { DEFAULT_LEASE_SEC, startHeartbeats } from './heartbeat.ts';
import type { StatusRecorder } from './status-file.ts';

export type WorkerState = 'starting' | 'polling' | 'running' | 'draining' | 'updating' | 'stopped';

const TRANSITIONS: Record<WorkerState, readonly WorkerState[]> = {
  starting: ['polling', 'draining'],
  polling: ['running', 'draining', 'updating'],
  running: ['polling', 'draining'],
  draining: ['stopped', 'updating'],
  updating: ['polling', 'stopped'],
  stopped: [],
};

/** Why the worker asks for an update check: a 426, or a newer `X-Hive-Latest-Version`. */
export type UpdateHint =
  | { reason: 'upgrade-required' }
  | { reason: 'latest-version'; version: string };

export interface WorkerDeps {
  settings: Settings;
  client: HiveClient;
  outbox: Outbox;
  delivery: ResultDelivery;
  registry: TaskRegistry;
  childCommand: ChildCommand;
  childEnv: NodeJS.ProcessEnv;
  /** Task processes started ahead of need (the next one starts while a task runs). */
  warmChildren?: WarmChildren;
  scrub: (text: string) => string;
  log: Logger;
  workerId: string;
  version: string;
  platform: string;
  /** Asks self-update to check now; returns at once (downloads happen beside the loop). */
  onUpdateHint: (hint: UpdateHint) => void;
  /** The first good answer from the server (a task or none): a freshly updated worker is healthy. */
  onServerReached?: () => void;
  /** Handle at most one task (one claim), then stop. */
  once?: boolean;
  /** Keeps `<data>/status.json` up to date for `worker --status`. */
  status?: StatusRecorder;
}

export class Worker {
  readonly #deps: WorkerDeps;
  readonly #backoff: ErrorBackoff;
  readonly #stopping = new AbortController();
  #state: WorkerState = 'starting';
  /** Tasks running now, by task id. */
  readonly #tasks = new Map<string, { controller: AbortController; graceTimer?: NodeJS.Timeout }>();
  /** The same tasks' whole handling (run, store, deliver), each settling when it is done. */
  readonly #handling = new Set<Promise<void>>();
  /** A task's handling that threw (e.g. an unsent result's outbox copy failed): ends the loop. */
  #handlingFailure: { error: unknown } | undefined;
  #authWarned = false;
  #outboxFullWarned = false;
  #reachedServer = false;
  #drainingForUpdate = false;
  /** The last non-semver X-Hive-Latest-Version logged: one line per value, not one per poll. */
  #ignoredVersionLogged = '';
  /** Tasks handled in this run (including stored results re-sent). */
  handled = 0;

  constructor(deps: WorkerDeps) {
    this.#deps = deps;
    this.#backoff = new ErrorBackoff(deps.settings.errorSleepMs, deps.settings.maxErrorSleepMs);
  }

  get state(): WorkerState {
    return this.#state;
  }

  get isStopping(): boolean {
    return this.#stopping.signal.aborted;
  }

  async run(): Promise<void> {
    const { delivery } = this.#deps;
    await delivery.sendQueued('before claiming', this.#stopping.signal);
    delivery.start();
    this.#transition('polling');
    for (let cycle = 0; !this.isStopping && !(this.#deps.once === true && cycle > 0); cycle++) {
      if (this.#outboxIsFull()) {
        await sleep(this.#deps.settings.errorSleepMs, this.#stopping.signal);
        continue;
      }
      if (this.#handling.size >= this.#deps.settings.concurrency) {
        await this.#slotFreed();
        continue;
      }
      const claimedAt = Date.now();
      const claim = await this.#claimTask();
      const sleepMs = this.#handleClaim(claim, Date.now() - claimedAt);
      this.#deps.log.debug({ claim: claim.kind, sleepMs }, `next claim in ${sleepMs} ms`);
      await sleep(sleepMs, this.#stopping.signal);
    }
    // Running tasks finish (stop() gives them SHUTDOWN_GRACE; an update drain waits for them).
    await Promise.all(this.#handling);
    if (this.#handlingFailure !== undefined) throw this.#handlingFailure.error;
    this.#transition('draining');
    await delivery.stop();
    // One last try, bounded: a server that is down must not hold up the exit.
    await delivery.sendQueued(
      'before exiting',
      AbortSignal.timeout(clampTimerMs(this.#deps.settings.requestTimeoutMs)),
    );
    this.#transition(this.#drainingForUpdate ? 'updating' : 'stopped');
  }

  /** True when the loop ended to install an update. */
  get isDrainingForUpdate(): boolean {
    return this.#drainingForUpdate;
  }

  /** For an update: stops claiming and lets the running task finish (or reach its timeout). */
  drainForUpdate(): void {
    if (this.isStopping) return;
    this.#drainingForUpdate = true;
    this.#deps.log.info('an update is ready: finishing the current work, then installing it');
    this.#stopping.abort();
  }

  /** Stops claiming; running tasks get SHUTDOWN_GRACE to finish, then are stopped (SHUTDOWN). */
  stop(): void {
    if (this.isStopping && !this.#drainingForUpdate) return;
    // Ctrl+C while draining for an update: a shutdown after all, with its grace period.
    this.#drainingForUpdate = false;
    this.#stopping.abort();
    if (this.#tasks.size === 0) return;
    const { shutdownGraceMs } = this.#deps.settings;
    const what = this.#tasks.size === 1 ? 'the running task' : `${this.#tasks.size} running tasks`;
    this.#deps.log.info(`waiting up to ${shutdownGraceMs / 1000} s for ${what}`);
    for (const task of this.#tasks.values()) {
      task.graceTimer = setTimeout(
        () => task.controller.abort('shutdown'),
        clampTimerMs(shutdownGraceMs),
      );
    }
  }

  /** Resolves when a running task's handling ends, or the worker stops. */
  async #slotFreed(): Promise<void> {
    const { signal } = this.#stopping;
    if (signal.aborted) return;
    let onAbort: (() => void) | undefined;
    const stopped = new Promise<void>((resolve) => {
      onAbort = () => resolve();
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await Promise.race([...this.#handling, stopped]);
    } finally {
      if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
    }
  }

  /** Runs a claimed task beside the loop; its slot frees when its result is stored and sent. */
  #startTask(task: Task): void {
    const handling: Promise<void> = this.#runTask(task)
      .catch((error: unknown) => {
        this.#handlingFailure ??= { error };
        this.#stopping.abort();
      })
      .finally(() => this.#handling.delete(handling));
    this.#handling.add(handling);
  }

  #claimTask(): Promise<ClaimOutcome> {
    const { client, workerId, version, platform, registry, settings } = this.#deps;
    return client.claimTask(
      { workerId, version, platform, tasks: Object.keys(registry), waitSec: settings.waitSec },
      this.#stopping.signal,
    );
  }

  /** Acts on one claim answer (protocol section 1) and returns how long to sleep before the next. */
  #handleClaim(claim: ClaimOutcome, tookMs: number): number {
    const { settings, log } = this.#deps;
    if (claim.kind !== 'unauthorized') this.#authWarned = false;
    switch (claim.kind) {
      case 'task':
        this.#backoff.reset();
        this.#startTask(claim.task);
        this.#onServerAnswer(claim);
        return 0;
      case 'empty':
        this.#backoff.reset();
        this.#onServerAnswer(claim);
        // A server that held a long poll has already made us wait; one that answered at once has not.
        return settings.waitSec > 0 && tookMs >= (settings.waitSec * 1000) / 2
          ? 0
          : withJitter(settings.noTaskSleepMs);
      case 'unauthorized':
        if (!this.#authWarned) {
          const message = `the server refused our token (HTTP ${claim.status}): set TOKEN to a valid one`;
          log.error(message);
          this.#deps.status?.claimFailed(message);
          this.#authWarned = true;
        }
        return settings.errorSleepMs;
      case 'upgrade-required':
        log.warn('the server refuses this version (HTTP 426): checking for an update');
        this.#deps.onUpdateHint({ reason: 'upgrade-required' });
        return this.#backoff.nextDelayMs();
      case 'throttled': {
        const waitMs = claim.retryAfterMs ?? this.#backoff.nextDelayMs();
        const message = `the server is busy (HTTP ${claim.status}): waiting ${Math.round(waitMs / 100) / 10} s`;
        log.warn(message);
        this.#deps.status?.claimFailed(message);
        return waitMs;
      }
      case 'error': {
        if (this.isStopping) return 0;
        const waitMs = this.#backoff.nextDelayMs();
        log.warn(
          { code: claim.error.code },
          `claim failed, retrying in ${Math.round(waitMs / 100) / 10} s: ${claim.error.message}`,
        );
        this.#deps.status?.claimFailed(`claim failed: ${claim.error.message}`);
        return waitMs;
      }
    }
  }

  /** A good answer (a task or none): the first confirms a fresh update; a newer version is a hint. */
  #onServerAnswer(answer: { latestVersion: string | undefined; ignoredVersion?: string }): void {
    if (!this.#reachedServer) {
      this.#reachedServer = true;
      this.#deps.onServerReached?.();
    }
    const { latestVersion: latest, ignoredVersion } = answer;
    if (ignoredVersion !== undefined && ignoredVersion !== this.#ignoredVersionLogged) {
      this.#ignoredVersionLogged = ignoredVersion;
      this.#deps.log.warn(
        `ignoring X-Hive-Latest-Version ${JSON.stringify(ignoredVersion)}: not a strict semver version`,
      );
    }
    // The client let through only strict semver: gt cannot throw.
    if (latest !== undefined && semver.gt(latest, this.#deps.version)) {
      this.#deps.onUpdateHint({ reason: 'latest-version', version: latest });
    }
  }

  async #runTask(task: Task): Promise<void> {
    const { outbox, delivery } = this.#deps;
    const log = this.#deps.log.child({ taskId: task.id, type: task.type, attempt: task.attempt });
    this.handled += 1;
    const stored = task.force ? undefined : outbox.storedResult(task.id);
    if (stored !== undefined) {
      log.info(
        `task ${task.id} was already done here: re-sending its result (${stored.body.status})`,
      );
      await delivery.deliver(outbox.requeue(stored), this.#stopping.signal);
      return;
    }
    if (this.#state === 'polling') this.#transition('running');
    log.info(`claimed task ${task.id} (${task.type}, attempt ${task.attempt})`);
    const startedAt = new Date();
    this.#deps.status?.taskStarted(task, startedAt);
    const outcome = await this.#execute(task, log);
    const finishedAt = new Date();
    this.#deps.status?.taskFinished(task.id, outcome.status, finishedAt);
    const body = this.#resultBody(task, outcome, startedAt, finishedAt);
    // On its way to the server while its outbox copy is written; settles when both are done.
    const added = outbox.add(task.id, body);
    const delivered = delivery.deliverNew(added, this.#stopping.signal);
    // Two tasks ending in the same turn both see none left running: only the first switches back.
    if (!this.isStopping && this.#tasks.size === 0 && this.#state === 'running') {
      this.#transition('polling');
    }
    // Said once the write is over, as when it came before the send: after this line, a kill loses
    // nothing (the server has the result, or the outbox file is whole). A failed write is
    // deliverNew's to handle.
    await added.written.catch(() => undefined);
    const tookMs = finishedAt.getTime() - startedAt.getTime();
    const detail = outcome.error === null ? '' : `: ${outcome.error.code} ${outcome.error.message}`;
    (outcome.status === 'succeeded' ? log.info : log.warn).call(
      log,
      { status: outcome.status, tookMs },
      `task ${task.id} ${outcome.status} in ${tookMs} ms${detail}`,
    );
    await delivered;
    // A short task ended before its successor's process was started (src/task/parent.ts).
    if (!this.isStopping)
      this.#deps.warmChildren?.prepare(this.#deps.childCommand, this.#deps.childEnv);
  }

  async #execute(task: Task, log: Logger): Promise<TaskOutcome> {
    const { settings, childCommand, childEnv, scrub, client, workerId, registry } = this.#deps;
    const outOfBounds = taskBoundsProblem(task);
    if (outOfBounds !== undefined) return rejected('BAD_PAYLOAD', outOfBounds);
    const definition = lookupTask(registry, task.type);
    if (definition === undefined) {
      const message = `no task named ${JSON.stringify(task.type)} in this worker (it has: ${Object.keys(registry).join(', ')})`;
      return rejected('UNKNOWN_TASK', message);
    }
    const controller = new AbortController();
    const running: { controller: AbortController; graceTimer?: NodeJS.Timeout } = { controller };
    this.#tasks.set(task.id, running);
    let progress: HeartbeatRequest['progress'];
    const stopHeartbeats = startHeartbeats({
      client,
      workerId,
      taskId: task.id,
      leaseSec: task.leaseSec ?? DEFAULT_LEASE_SEC,
      progress: () => progress,
      onCancel: (why) => {
        log.warn(`stopping task ${task.id}: ${why}`);
        controller.abort('cancel' satisfies StopReason);
      },
      log,
    });
    try {
      return await runInChild(task, {
        command: childCommand,
        env: childEnv,
        timeoutMs: clampTimerMs(
          (task.timeoutSec ?? definition.timeoutSec ?? settings.taskTimeoutMs / 1000) * 1000,
        ),
        killGraceMs: settings.killGraceMs,
        maxResultBytes: settings.maxResultBytes,
        signal: controller.signal,
        ...(this.#deps.warmChildren === undefined ? {} : { warm: this.#deps.warmChildren }),
        scrub,
        onLog: (line) => log[line.level](line.msg),
        onProgress: (next) => {
          progress = next;
        },
      });
    } finally {
      clearTimeout(running.graceTimer);
      this.#tasks.delete(task.id);
      await stopHeartbeats();
    }
  }

  #resultBody(task: Task, outcome: TaskOutcome, startedAt: Date, finishedAt: Date): ResultBody {
    const body: ResultBody = {
      workerId: this.#deps.workerId,
      resultId: randomUUID(),
      workerVersion: this.#deps.version,
      status: outcome.status,
      output: outcome.output,
      error: outcome.error,
      attempt: task.attempt,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
    };
    if (outcome.logs.length > 0) body.logs = outcome.logs;
    if (outcome.logsTruncated) body.logsTruncated = true;
    return body;
  }

  #outboxIsFull(): boolean {
    const full = this.#deps.outbox.isFull();
    if (full && !this.#outboxFullWarned) {
      this.#deps.log.warn(
        `the outbox holds ${this.#deps.outbox.size} unsent results (OUTBOX_MAX): not claiming until some are delivered`,
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
  }
}

/** A task answered without running it (protocol section 3, status `rejected`). */
function rejected(code: 'UNKNOWN_TASK' | 'BAD_PAYLOAD', message: string): TaskOutcome {
  return {
    status: 'rejected',
    output: null,
    error: { code, message },
    logs: [],
    logsTruncated: false,
  };
}
