/**
 * `node bench/task-runner.ts [--exe FILE]`: the task runner alone, without the loop or the server —
 * `TaskRunner.run` + `release` for `echo` tasks back to back in task processes of the built
 * executable, as the worker runs them: reused (TASKS_PER_PROCESS=1000) and fresh (a process per
 * task, spares started ahead). What the process side of a task costs; bench:peers gives the whole
 * worker's figure beside BullMQ's. Prints one line per mode; no file written.
 */
import { TASK_REGISTRY } from '../src/config.ts';
import { TaskProcessPool } from '../src/task/pool.ts';
import { TaskRunner } from '../src/task/runner.ts';
import { benchExecutable, benchFlags, loadAverage, ms, stats } from './measure.ts';
import { taskProcessOf } from './process-timing.ts';

const { strings } = benchFlags({}, { exe: undefined });
const command = taskProcessOf(await benchExecutable(strings.exe));

async function perTask(tasksPerProcess: number, tasks: number): Promise<string> {
  const warm = new TaskProcessPool(30_000, 1, { tasksPerProcess, maxRssBytes: 256 * 2 ** 20 });
  const runner = new TaskRunner({
    registry: TASK_REGISTRY,
    command,
    env: process.env,
    pool: warm,
    defaultTimeoutMs: 60_000,
    killGraceMs: 5000,
    maxResultBytes: 8 * 2 ** 20,
    scrub: (text) => text,
  });
  const times: number[] = [];
  try {
    // The first task pays for the first process start in both modes: left out.
    for (let i = 0; i <= tasks; i++) {
      const started = performance.now();
      const task = { id: `b-${i}`, type: 'echo', payload: { i }, attempt: 1, force: false };
      const outcome = await runner.run(task, { signal: new AbortController().signal });
      runner.release();
      if (outcome.status !== 'succeeded') throw new Error(JSON.stringify(outcome.error));
      if (i > 0) times.push(performance.now() - started);
    }
  } finally {
    runner.close();
  }
  const total = times.reduce((sum, time) => sum + time, 0);
  return `${(total / tasks).toFixed(2)} ms a task on average, per task ${ms(stats(times))}`;
}

console.log(`load average (1 min) at the start: ${loadAverage()}`);
console.log(`TASKS_PER_PROCESS=1000, 200 tasks: ${await perTask(1000, 200)}`);
console.log(`TASKS_PER_PROCESS=1 (spares), 30 tasks: ${await perTask(1, 30)}`);
console.log(`load average (1 min) at the end: ${loadAverage()}`);
