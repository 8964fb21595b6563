/**
 * The task-process pool's decisions (./pool.ts), as pure functions of what it sees: which
 * idle process a task gets, how many to start ahead of need, whether a process runs another task
 * after this one, and what becomes of it when its task ends.
 */

/** What the pool knows of an idle process. */
export interface Idle {
  /** It said `ready` and has had no task since. */
  ready: boolean;
  /** Tasks it has run: 0 for a fresh one. */
  tasksRun: number;
}

/**
 * A process for a task: a used one first (for a reusable task), ready or still undoing its last
 * task — it is ready in a moment, and taking a spare is a process start to make up for — then a
 * fresh spare, ready or still starting. A task that must be fresh takes only a fresh one.
 */
export function pickIdle<T extends Idle>(idle: readonly T[], reusable: boolean): T | undefined {
  const used = reusable ? idle.filter((one) => one.tasksRun > 0) : [];
  const fresh = idle.filter((one) => one.tasksRun === 0);
  return used.find((one) => one.ready) ?? used[0] ?? fresh.find((one) => one.ready) ?? fresh[0];
}

/**
 * Two tasks in a row finding their spare still starting: a queue, not one task meeting a worker
 * that has just started (whose first spare is still starting too).
 */
export const QUEUEING_TAKES = 2;

export interface TakeStreak {
  /** Tasks in a row that took a fresh spare still starting. */
  startingTakes: number;
  /** Tasks come faster than processes start: hold one spare more. */
  queueing: boolean;
}

/** The streak after a task took a fresh spare (`ready` or still starting). */
export function afterFreshTake(streak: TakeStreak, ready: boolean, size: number): TakeStreak {
  const startingTakes = ready ? 0 : streak.startingTakes + 1;
  return {
    startingTakes,
    queueing: streak.queueing || (startingTakes >= QUEUEING_TAKES && size > 0),
  };
}

/**
 * How many processes to start now, ahead of need: one per task that may run at once (`size`,
 * CONCURRENCY; 0 with WARM_START=false), one more while tasks queue up, less those idle already
 * and those running a task they come back from (kept, TASKS_PER_PROCESS): a slot whose process
 * comes back needs no spare beside it. One on its last task does not count (its successor starts
 * when that task takes it: `startsOnTake`), nor one retired unforeseen (a failed task, past
 * REUSE_MAX_RSS): the next `prepare` starts its successor.
 */
export function sparesToStart(pool: {
  size: number;
  queueing: boolean;
  idle: number;
  comingBack: number;
  closed: boolean;
}): number {
  if (pool.closed || pool.size === 0) return 0;
  return Math.max(0, pool.size + (pool.queueing ? 1 : 0) - pool.idle - pool.comingBack);
}

/**
 * Whether a take starts the next process at once, not on the result's answer or
 * SPARE_START_DELAY_MS in: while tasks queue up and a fresh process was taken (or none found), and
 * when a kept process is taken for its last task (`last`: TASKS_PER_PROCESS reached, it will not
 * come back). A queue of short tasks waits on process starts, and under 1.1 the next task is
 * already held, so a later start leaves a core idle. A lone fresh task's result still never waits
 * for a spawn.
 */
export function startsOnTake(pool: {
  size: number;
  queueing: boolean;
  closed: boolean;
  took: 'fresh' | 'used' | 'none';
  last: boolean;
}): boolean {
  if (pool.closed || pool.size === 0) return false;
  return (pool.queueing && pool.took !== 'used') || (pool.last && pool.took === 'used');
}

/** Whether a task now starting in a process that ran `tasksRun` may be followed by another there. */
export function mayReuse(tasksRun: number, tasksPerProcess: number, closed: boolean): boolean {
  return !closed && tasksRun + 1 < tasksPerProcess;
}

/** A used process that reported more resident memory than REUSE_MAX_RSS (0 = no limit). */
export function isOverLimit(rssBytes: number | undefined, maxRssBytes: number): boolean {
  return maxRssBytes > 0 && (rssBytes ?? 0) > maxRssBytes;
}

/**
 * A reused process handed to a task while it still undid its previous one is swapped for a fresh
 * one, once, if it died or came back past REUSE_MAX_RSS before the task was sent to it.
 */
export function unfitBeforeRun(hold: {
  tasksRun: number;
  runSent: boolean;
  replaced: boolean;
  stopped: boolean;
  connected: boolean;
  overLimit: boolean;
}): boolean {
  if (hold.runSent || hold.replaced || hold.stopped || hold.tasksRun === 0) return false;
  return !hold.connected || hold.overLimit;
}

/**
 * A kept process after its task: back to the pool when the task succeeded and the pool is open;
 * else retired (any failure, timeout, cancel or crash may have left it in a state no cleanup undoes).
 */
export function afterTask(end: {
  succeeded: boolean;
  closed: boolean;
  alive: boolean;
}): 'give-back' | 'retire' {
  return end.succeeded && !end.closed && end.alive ? 'give-back' : 'retire';
}
