/**
 * The loop's states (src/loop/worker.ts; its table: worker-states.ts), in-process: a real Worker
 * over stand-ins for what it is given — a client that answers claims from a script, a runner whose
 * tasks end when the test says, a delivery that keeps what it is handed. Every part writes to one
 * list of events, so a test asserts what happened and in what order.
 */
import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { type RunEnd, Worker, type WorkerDeps } from '../../src/loop/worker.ts';
import { TRANSITIONS, type WorkerState } from '../../src/loop/worker-states.ts';
import { HiveError } from '../../src/platform/errors.ts';
import { createLogger } from '../../src/platform/log.ts';
import type { NextHooks } from '../../src/results/sender.ts';
import type { Settings } from '../../src/settings/table.ts';
import type { AdmittedTask } from '../../src/task/gate.ts';
import type { StopReason } from '../../src/task/ipc.ts';
import type { RunControls } from '../../src/task/runner.ts';
import { stoppedOutcome, type TaskOutcome } from '../../src/task/verdict.ts';
import type { ClaimOutcome, UpdateHint } from '../../src/wire/outcomes.ts';
import type {
  ClaimManyRequest,
  EncodedResult,
  ReleaseReason,
  Task,
} from '../../src/wire/protocol.ts';

/** Short sleeps, so each state is reached in milliseconds; Math.random is fixed at 1 below. */
const SETTINGS = {
  concurrency: 1,
  prefetch: 0,
  waitSec: 0,
  noTaskSleepMs: 100,
  errorSleepMs: 60,
  maxErrorSleepMs: 1000,
  requestTimeoutMs: 1000,
  shutdownGraceMs: 150,
  tokenFrom: '',
} as Settings;

/** Timers fire late on a busy machine, and up to a millisecond early against performance.now(). */
const EARLY_MS = 5;
const log = createLogger({ level: 'silent', secrets: [] });

const task = (id: string): Task => ({ id, type: 'echo', payload: {}, attempt: 1, force: false });
const tasks = (...ids: string[]): Extract<ClaimOutcome, { kind: 'task' }> => ({
  kind: 'task',
  tasks: ids.map(task),
  latestVersion: undefined,
});
const EMPTY: ClaimOutcome = { kind: 'empty', latestVersion: undefined };
const SUCCEEDED: TaskOutcome = {
  status: 'succeeded',
  error: null,
  outputJson: '{"ok":true}',
  logs: [],
  logsTruncated: false,
};

/** Resolves once `condition` holds; fails the test with `what` if it does not within 2 s. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 2000;
  while (!condition()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/**
 * Answers claims from `script`, in turn; past its end a claim is a long poll that never answers
 * (a lost answer): it ends only when the loop aborts it, as the real client's does.
 */
class ScriptedClient {
  speaks11 = false;
  readonly claims: ClaimManyRequest[] = [];
  readonly claimedAt: number[] = [];
  readonly released: [string, ReleaseReason][] = [];
  readonly #script: ClaimOutcome[];
  readonly #events: string[];

  constructor(script: ClaimOutcome[], events: string[]) {
    this.#script = [...script];
    this.#events = events;
  }

  async claimTask(body: ClaimManyRequest, signal?: AbortSignal): Promise<ClaimOutcome> {
    this.claims.push(body);
    this.claimedAt.push(performance.now());
    this.#events.push('claim');
    const next = this.#script.shift();
    if (next !== undefined) return next;
    await new Promise<void>((resolve) => {
      if (signal?.aborted === true) resolve();
      signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    return { kind: 'error', error: new HiveError('NETWORK', 'claim failed: aborted') };
  }

  async releaseTask(taskId: string, reason: ReleaseReason): Promise<'released'> {
    this.released.push([taskId, reason]);
    this.#events.push(`give back ${taskId} (${reason})`);
    return 'released';
  }

  async sendHeartbeat(): Promise<{ kind: 'ok'; leaseSec: undefined; cancel: false }> {
    return { kind: 'ok', leaseSec: undefined, cancel: false };
  }
}

/** Runs nothing: a task ends when the test calls `finish(id)`, or when it is stopped (its signal). */
class ManualRunner {
  readonly taskTypes = ['echo'];
  readonly started: string[] = [];
  /** Why each stopped task was stopped. */
  readonly stopped = new Map<string, StopReason>();
  mostAtOnce = 0;
  readonly #running = new Map<string, (outcome: TaskOutcome) => void>();
  readonly #events: string[];

  constructor(events: string[]) {
    this.#events = events;
  }

  get running(): string[] {
    return [...this.#running.keys()];
  }

  admit(task: Task): AdmittedTask {
    return { admitted: true, task, definition: {} as never, timeoutMs: 60_000, reusable: true };
  }

  run(admitted: Task | AdmittedTask, controls: RunControls): Promise<TaskOutcome> {
    const { id } = 'admitted' in admitted ? admitted.task : admitted;
    this.started.push(id);
    this.#events.push(`run ${id}`);
    return new Promise((resolve) => {
      const end = (outcome: TaskOutcome) => {
        if (!this.#running.delete(id)) return;
        resolve(outcome);
      };
      this.#running.set(id, end);
      this.mostAtOnce = Math.max(this.mostAtOnce, this.#running.size);
      controls.signal.addEventListener(
        'abort',
        () => {
          const reason = controls.signal.reason as StopReason;
          this.stopped.set(id, reason);
          end(stoppedOutcome(reason));
        },
        { once: true },
      );
    });
  }

  finish(id: string, outcome = SUCCEEDED): void {
    const end = this.#running.get(id);
    assert.ok(end !== undefined, `task ${id} is not running`);
    end(outcome);
  }

  release(): void {}
}

/**
 * Keeps what it is handed. To a 1.1 server each result asks for the next tasks (1.1-c), as the
 * real sender does; `nextTasks` is what the answers bring. `failWith` makes a submitted result's
 * delivery fail (its outbox copy could not be written).
 */
class KeepingDelivery {
  readonly submitted: { taskId: string; status: string }[] = [];
  readonly asked: number[] = [];
  readonly nextTasks: Task[] = [];
  failWith: Error | undefined;
  #hooks: NextHooks | undefined;
  readonly #client: ScriptedClient;
  readonly #events: string[];

  constructor(client: ScriptedClient, events: string[]) {
    this.#client = client;
    this.#events = events;
  }

  useNext(hooks: NextHooks): void {
    this.#hooks = hooks;
  }

  async sendQueued(when: string): Promise<void> {
    this.#events.push(`send queued ${when}`);
  }

  start(): void {
    this.#events.push('delivery started');
  }

  async settled(): Promise<void> {}

  async stop(): Promise<void> {
    this.#events.push('delivery stopped');
  }

  async deliver(entry: { taskId: string }, _signal?: AbortSignal, options?: { again?: boolean }) {
    this.#events.push(`re-send ${entry.taskId}${options?.again === true ? ' again' : ''}`);
    return 'delivered' as const;
  }

  submit(taskId: string, body: EncodedResult) {
    this.submitted.push({ taskId, status: body.status });
    this.#events.push(`result ${taskId} ${body.status}`);
    const hooks = this.#hooks;
    const max = this.#client.speaks11 && hooks !== undefined ? hooks.max() : 0;
    if (max > 0) {
      this.asked.push(max);
      setImmediate(() => hooks?.took(this.nextTasks.splice(0, max), true));
    }
    const delivered =
      this.failWith === undefined
        ? Promise.resolve('delivered' as const)
        : Promise.reject(this.failWith);
    return { durable: Promise.resolve(), delivered };
  }

  notify(): void {
    this.#events.push('delivery nudged');
  }
}

/** The ledger's count of results still being written, set by the test; `end` is a write over. */
class Writes {
  unwritten = 0;
  #waiting: (() => void)[] = [];

  over(): Promise<void> {
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  end(): void {
    this.unwritten -= 1;
    for (const wake of this.#waiting.splice(0)) wake();
  }
}

interface Rig {
  worker: Worker;
  client: ScriptedClient;
  runner: ManualRunner;
  delivery: KeepingDelivery;
  events: string[];
  hints: UpdateHint[];
  /** run()'s end, once it has ended. */
  ended: () => RunEnd | undefined;
  run: Promise<RunEnd>;
}

function rig(
  t: TestContext,
  script: ClaimOutcome[],
  options: {
    settings?: Partial<Settings>;
    speaks11?: boolean;
    once?: boolean;
    /** The outbox is full for this many looks. */
    fullFor?: number;
    stored?: string[];
    start?: (worker: Worker) => void;
    /** Results still being written, as the test sets them. */
    writes?: Writes;
  } = {},
): Rig {
  // ErrorBackoff and withJitter draw from Math.random: at 1, each wait is its ceiling.
  t.mock.method(Math, 'random', () => 1);
  const events: string[] = [];
  const hints: UpdateHint[] = [];
  const client = new ScriptedClient(script, events);
  client.speaks11 = options.speaks11 ?? false;
  const runner = new ManualRunner(events);
  const delivery = new KeepingDelivery(client, events);
  let fullFor = options.fullFor ?? 0;
  const stored = new Set(options.stored ?? []);
  const writes = options.writes ?? new Writes();
  const ledger: WorkerDeps['ledger'] = {
    size: 0,
    isFull: () => fullFor-- > 0,
    get unwritten() {
      return writes.unwritten;
    },
    writeOver: () => writes.over(),
    storedResult: (taskId) =>
      stored.has(taskId) ? ({ taskId, body: { status: 'succeeded' } } as never) : undefined,
    requeue: async (entry) => entry,
  };
  const worker = new Worker({
    settings: { ...SETTINGS, ...options.settings },
    client,
    ledger,
    delivery,
    runner,
    log,
    identity: { workerId: 'w-1', version: '1.0.0', platform: 'linux-x64' },
    onUpdateHint: (hint) => hints.push(hint),
    ...(options.once === undefined ? {} : { once: options.once }),
  });
  options.start?.(worker);
  let end: RunEnd | undefined;
  const ran = worker.run().then((value) => {
    end = value;
    events.push(`ended ${value}`);
    return value;
  });
  // A loop that never ends fails its test instead of hanging the run.
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('run() did not end within 5 s')), 5000);
  });
  const run = Promise.race([ran, late]).finally(() => clearTimeout(timer));
  // A test that fails mid-way must not leave a loop claiming behind it.
  t.after(async () => {
    worker.stop();
    await run.catch(() => undefined);
  });
  return { worker, client, runner, delivery, events, hints, ended: () => end, run };
}

describe('the state table', () => {
  test('stopped is the only end; every other state can reach it', () => {
    for (const from of Object.keys(TRANSITIONS) as WorkerState[]) {
      const reached = new Set<WorkerState>([from]);
      for (const state of reached) for (const next of TRANSITIONS[state]) reached.add(next);
      assert.ok(reached.has('stopped'), `${from} cannot reach stopped`);
    }
    assert.deepEqual(TRANSITIONS.stopped, []);
    // Nothing leads back to claiming once the worker has left `working`.
    for (const state of ['draining', 'draining-for-update', 'stopping'] as const) {
      assert.ok(!TRANSITIONS[state].includes('working'), `${state} → working`);
    }
  });

  test('an illegal change throws: running a stopped worker again', async (t) => {
    const { worker, run } = rig(t, [], { start: (w) => w.stop() });
    assert.equal(await run, 'stopped');
    await assert.rejects(worker.run(), /illegal worker state change: stopped → stopped/);
  });
});

describe('starting', () => {
  test('→ working: queued results go before the first claim, then it claims', async (t) => {
    const { client, events, worker, run } = rig(t, [EMPTY]);
    await until(() => client.claims.length === 2, 'the second claim');
    worker.stop();
    assert.equal(await run, 'stopped');
    assert.deepEqual(events, [
      'send queued before claiming',
      'delivery started',
      'claim',
      'claim',
      'delivery stopped',
      'send queued before exiting',
      'ended stopped',
    ]);
    assert.deepEqual(client.claims[0], {
      workerId: 'w-1',
      version: '1.0.0',
      platform: 'linux-x64',
      tasks: ['echo'],
      waitSec: 0,
    });
  });

  test('stopped before it ran: nothing is claimed', async (t) => {
    const { client, run } = rig(t, [tasks('t1')], { start: (w) => w.stop() });
    assert.equal(await run, 'stopped');
    assert.equal(client.claims.length, 0);
  });

  test('→ draining-for-update before it ran: ends `update`, nothing claimed', async (t) => {
    const { client, run } = rig(t, [tasks('t1')], { start: (w) => w.drainForUpdate() });
    assert.equal(await run, 'update');
    assert.equal(client.claims.length, 0);
  });
});

describe('working', () => {
  test('runs a claimed task and hands its result to delivery', async (t) => {
    const { client, runner, delivery, events, worker, run } = rig(t, [tasks('t1')]);
    await until(() => runner.running.includes('t1'), 't1 to run');
    runner.finish('t1');
    await until(() => client.claims.length === 2, 'the claim after t1');
    worker.stop();
    assert.equal(await run, 'stopped');
    assert.deepEqual(delivery.submitted, [{ taskId: 't1', status: 'succeeded' }]);
    assert.deepEqual(events.slice(2, 6), ['claim', 'run t1', 'result t1 succeeded', 'claim']);
  });

  test('never runs more than CONCURRENCY tasks; claims again as a slot frees', async (t) => {
    const script = ['t1', 't2', 't3', 't4'].map((id) => tasks(id));
    const { client, runner, worker, run } = rig(t, script, { settings: { concurrency: 2 } });
    await until(() => runner.running.length === 2, 'two tasks to run');
    // Busy: no third claim while both slots run.
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(client.claims.length, 2);
    runner.finish('t1');
    await until(() => runner.started.length === 3, 't3 to start');
    assert.deepEqual(runner.running, ['t2', 't3']);
    runner.finish('t3');
    runner.finish('t2');
    await until(() => runner.started.length === 4, 't4 to start');
    runner.finish('t4');
    worker.stop();
    assert.equal(await run, 'stopped');
    assert.equal(runner.mostAtOnce, 2);
    assert.deepEqual(runner.started, ['t1', 't2', 't3', 't4']);
  });

  test('sleeps after no task, backs off after errors, waits a Retry-After', async (t) => {
    const error: ClaimOutcome = { kind: 'error', error: new HiveError('NETWORK', 'claim failed') };
    const throttled: ClaimOutcome = { kind: 'throttled', status: 429, retryAfterMs: 200 };
    const script = [EMPTY, error, error, throttled, tasks('t1')];
    const { client, runner, worker, run } = rig(t, script);
    await until(() => runner.started.length === 1, 't1 to run');
    const gaps = client.claimedAt.slice(1).map((at, i) => at - (client.claimedAt[i] ?? 0));
    // noTaskSleepMs (+10 % jitter), errorSleepMs, then doubled, then the server's Retry-After.
    const least = [110, 60, 120, 200];
    gaps.forEach((gap, i) => {
      assert.ok(
        gap >= (least[i] ?? 0) - EARLY_MS,
        `wait ${i + 1}: ${gap} ms, at least ${least[i]}`,
      );
    });
    assert.equal(gaps.length, 4);
    runner.finish('t1');
    worker.stop();
    assert.equal(await run, 'stopped');
  });

  test('a full outbox: no claim, delivery nudged, until it has room', async (t) => {
    const { client, events, runner, worker, run } = rig(t, [tasks('t1')], { fullFor: 2 });
    await until(() => runner.started.length === 1, 't1 to run');
    assert.deepEqual(events.slice(2, 5), ['delivery nudged', 'delivery nudged', 'claim']);
    // Two looks at a full outbox, each followed by errorSleepMs, before the claim.
    assert.equal(client.claims.length, 1);
    runner.finish('t1');
    worker.stop();
    await run;
  });

  test('a task already done here: its stored result is sent again, nothing runs', async (t) => {
    const { events, runner, worker, run } = rig(t, [tasks('t1')], { stored: ['t1'] });
    await until(() => events.includes('re-send t1 again'), 't1 re-sent');
    worker.stop();
    await run;
    assert.deepEqual(runner.started, []);
  });

  test('an update hint from a claim answer is passed on; claiming goes on', async (t) => {
    const newer: ClaimOutcome = { kind: 'empty', latestVersion: '2.0.0' };
    const { client, hints, worker, run } = rig(t, [newer, { kind: 'upgrade-required' }]);
    await until(() => client.claims.length === 3, 'the third claim');
    worker.stop();
    await run;
    assert.deepEqual(hints, [
      { reason: 'latest-version', version: '2.0.0' },
      { reason: 'upgrade-required' },
    ]);
  });
});

describe('working → draining', () => {
  test('--once: one claim, its task runs to the end, then stopped', async (t) => {
    const { client, runner, delivery, ended, run } = rig(t, [tasks('t1'), tasks('t2')], {
      once: true,
      speaks11: true,
    });
    await until(() => runner.running.includes('t1'), 't1 to run');
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(ended(), undefined, 'run() ended before its task did');
    runner.finish('t1');
    assert.equal(await run, 'stopped');
    assert.equal(client.claims.length, 1);
    // One task, even to a 1.1 server: no `max` asked for, and a result asks for no next ones.
    assert.equal(client.claims[0]?.max, undefined);
    assert.deepEqual(delivery.asked, []);
    assert.deepEqual(delivery.submitted, [{ taskId: 't1', status: 'succeeded' }]);
  });

  test('a failed handling: no more claims, the others finish, run() throws it', async (t) => {
    const { client, runner, delivery, run } = rig(t, [tasks('t1'), tasks('t2')], {
      settings: { concurrency: 2 },
    });
    await until(() => runner.running.length === 2, 'two tasks to run');
    delivery.failWith = new Error('disk full');
    runner.finish('t1');
    await new Promise((resolve) => setTimeout(resolve, 30));
    // Both slots were busy; with t1's freed, a worker still working would claim again.
    assert.equal(client.claims.length, 2, 'claimed after a failed handling');
    assert.deepEqual(runner.stopped, new Map(), 'the running task was stopped');
    delivery.failWith = undefined;
    runner.finish('t2');
    await assert.rejects(run, /disk full/);
    assert.deepEqual(
      delivery.submitted.map(({ taskId }) => taskId),
      ['t1', 't2'],
    );
  });
});

describe('working → draining-for-update', () => {
  test('claims no more; running tasks finish, held ones go back, run() ends `update`', async (t) => {
    const newer: ClaimOutcome = { ...tasks('t1', 't2'), latestVersion: '2.0.0' };
    const { client, runner, hints, worker, ended, run } = rig(t, [newer], { speaks11: true });
    await until(() => hints.length === 1, 'the update hint');
    assert.deepEqual(runner.running, ['t1']);
    // Self-update has the new version ready: the loop drains for it.
    worker.drainForUpdate();
    await until(() => client.released.length === 1, 't2 given back');
    assert.deepEqual(client.released, [['t2', 'update']]);
    // Past SHUTDOWN_GRACE: a drain for an update lets its task run on.
    await new Promise((resolve) => setTimeout(resolve, SETTINGS.shutdownGraceMs + 50));
    assert.equal(ended(), undefined, 'run() ended before its task did');
    assert.deepEqual(runner.running, ['t1']);
    runner.finish('t1');
    assert.equal(await run, 'update');
    assert.equal(client.claims.length, 1);
    assert.deepEqual(runner.started, ['t1']);
  });
});

describe('stopping: SHUTDOWN_GRACE', () => {
  test('a task that ends within SHUTDOWN_GRACE keeps its result', async (t) => {
    const { client, runner, delivery, worker, run } = rig(t, [tasks('t1')]);
    await until(() => runner.running.includes('t1'), 't1 to run');
    worker.stop();
    await new Promise((resolve) => setTimeout(resolve, 20));
    runner.finish('t1');
    assert.equal(await run, 'stopped');
    assert.deepEqual(runner.stopped, new Map());
    assert.deepEqual(delivery.submitted, [{ taskId: 't1', status: 'succeeded' }]);
    assert.equal(client.claims.length, 1);
  });

  // Ctrl+C during a drain for an update is a shutdown after all, with its grace.
  const from: [string, (worker: Worker) => void][] = [
    ['working', () => undefined],
    ['draining-for-update', (worker) => worker.drainForUpdate()],
  ];
  for (const [state, reach] of from) {
    test(`from ${state}: a task that does not end is stopped (SHUTDOWN) after the grace`, async (t) => {
      const { runner, delivery, worker, events, run } = rig(t, [tasks('t1')]);
      await until(() => runner.running.includes('t1'), 't1 to run');
      reach(worker);
      const stoppedAt = performance.now();
      worker.stop();
      assert.equal(await run, 'stopped');
      const tookMs = performance.now() - stoppedAt;
      assert.ok(tookMs >= SETTINGS.shutdownGraceMs - EARLY_MS, `stopped after ${tookMs} ms`);
      assert.deepEqual(runner.stopped, new Map([['t1', 'shutdown']]));
      assert.deepEqual(delivery.submitted, [{ taskId: 't1', status: 'cancelled' }]);
      assert.deepEqual(events.slice(-4), [
        'result t1 cancelled',
        'delivery stopped',
        'send queued before exiting',
        'ended stopped',
      ]);
    });
  }

  test('a claim whose answer never comes is abandoned at once', async (t) => {
    const { client, worker, run } = rig(t, []);
    await until(() => client.claims.length === 1, 'the claim');
    const stoppedAt = performance.now();
    worker.stop();
    assert.equal(await run, 'stopped');
    // Well under SHUTDOWN_GRACE: nothing ran, so nothing is waited for.
    assert.ok(performance.now() - stoppedAt < SETTINGS.shutdownGraceMs);
    assert.equal(client.claims.length, 1);
  });
});

describe('held tasks (protocol 1.1)', () => {
  test('a claim asks for free slots plus PREFETCH; the extra one starts as a slot frees', async (t) => {
    const { client, runner, worker, run } = rig(t, [tasks('t1', 't2', 't3')], {
      speaks11: true,
      settings: { concurrency: 2, prefetch: 1 },
    });
    await until(() => runner.running.length === 2, 'two tasks to run');
    assert.equal(client.claims[0]?.max, 3);
    assert.deepEqual(runner.running, ['t1', 't2']);
    runner.finish('t1');
    await until(() => runner.started.length === 3, 't3 to start');
    assert.deepEqual(runner.running, ['t2', 't3']);
    assert.equal(client.claims.length, 1, 'a held task starts without a claim');
    runner.finish('t2');
    runner.finish('t3');
    worker.stop();
    assert.equal(await run, 'stopped');
    assert.equal(runner.mostAtOnce, 2);
    assert.deepEqual(client.released, []);
  });

  test('results still being written hold the next task back only past CONCURRENCY + PREFETCH', async (t) => {
    const writes = new Writes();
    const { client, runner, worker, run } = rig(t, [tasks('t1', 't2', 't3', 't4')], {
      speaks11: true,
      settings: { concurrency: 1, prefetch: 3 },
      writes,
    });
    await until(() => runner.running.includes('t1'), 't1 to run');
    // Nothing has run yet: one held beyond the free slot, whatever PREFETCH says.
    assert.equal(client.claims[0]?.max, 2);
    // Up to CONCURRENCY + PREFETCH = 4 unwritten results: the next held task starts at once.
    writes.unwritten = 4;
    runner.finish('t1');
    await until(() => runner.running.includes('t2'), 't2 to start beside 4 unwritten results');
    // One more than that: the next one waits for a write to be over.
    writes.unwritten = 5;
    runner.finish('t2');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(runner.started, ['t1', 't2'], 't3 waits while 5 results are unwritten');
    writes.end();
    await until(() => runner.running.includes('t3'), 't3 to start once a write is over');
    runner.finish('t3');
    await until(() => runner.running.includes('t4'), 't4 to start');
    runner.finish('t4');
    worker.stop();
    assert.equal(await run, 'stopped');
    assert.equal(client.claims.length, 1, 'the held tasks needed no claim');
  });

  test('after short tasks a result asks for the free slot plus all of PREFETCH', async (t) => {
    const { runner, delivery, worker, run } = rig(t, [tasks('t1')], {
      speaks11: true,
      settings: { concurrency: 1, prefetch: 3 },
    });
    for (const id of ['t2', 't3', 't4', 't5']) delivery.nextTasks.push(task(id));
    for (const id of ['t1', 't2', 't3']) {
      await until(() => runner.running.includes(id), `${id} to run`);
      runner.finish(id);
    }
    await until(() => runner.running.includes('t4'), 't4 to run');
    // t1's result: its slot + 3 (t1 took milliseconds), none held; then fewer as held ones wait.
    assert.equal(delivery.asked[0], 4);
    runner.finish('t4');
    worker.stop();
    await run;
  });

  test('a result’s answer brings the next task: it runs without a claim (1.1-c)', async (t) => {
    const { client, runner, delivery, events, worker, run } = rig(t, [tasks('t1')], {
      speaks11: true,
    });
    delivery.nextTasks.push(task('t2'));
    await until(() => runner.running.includes('t1'), 't1 to run');
    runner.finish('t1');
    await until(() => runner.running.includes('t2'), 't2 to run');
    assert.deepEqual(delivery.asked, [1]);
    assert.equal(client.claims.length, 1);
    assert.deepEqual(events.slice(2), ['claim', 'run t1', 'result t1 succeeded', 'run t2']);
    runner.finish('t2');
    worker.stop();
    await run;
  });

  // Each way of claiming no more gives held tasks back (1.1-e), with its reason; none is started.
  const drains: [string, { once?: boolean }, (worker: Worker) => void, ReleaseReason, RunEnd][] = [
    ['a stop', {}, (worker) => worker.stop(), 'shutdown', 'stopped'],
    [
      '--once, to a server that sent several anyway',
      { once: true },
      () => undefined,
      'shutdown',
      'stopped',
    ],
    ['a drain for an update', {}, (worker) => worker.drainForUpdate(), 'update', 'update'],
  ];
  for (const [what, options, drain, reason, end] of drains) {
    test(`held tasks are given back on ${what}, never started`, async (t) => {
      const { client, runner, worker, run } = rig(t, [tasks('t1', 't2', 't3')], {
        speaks11: true,
        ...options,
      });
      await until(() => runner.running.includes('t1'), 't1 to run');
      drain(worker);
      await until(() => client.released.length === 2, 't2 and t3 given back');
      runner.finish('t1');
      assert.equal(await run, end);
      assert.deepEqual(runner.started, ['t1']);
      assert.deepEqual(client.released, [
        ['t2', reason],
        ['t3', reason],
      ]);
    });
  }
});
