/**
 * `npm run bench:startup [-- --runs N]`: start-up time of the single executable against bare Node
 * of the same version. Wall time of `worker --version` vs `node -e 0`, and of a task process
 * (start to its `ready` IPC message) from the executable vs from source. Uses
 * dist/linux-x64/worker, building it first when missing. Medians of N runs (default 30). Then a
 * CPU profile of a task process's start, summed by bundled module (bench/startup-profile.ts).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildWorker, ROOT } from '../scripts/build.ts';
import { TASK_V8_FLAGS } from '../src/task/command.ts';
import { TASK_CHILD_FLAG } from '../src/task/flag.ts';
import { taskProcessOf, timeRun, timeTaskProcess } from './process-timing.ts';
import { profileStartup } from './startup-profile.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '30' } } });
const runs = Math.max(3, Number(values.runs) || 30);
const exe = join(ROOT, 'dist', 'linux-x64', 'worker');
const entry = join(ROOT, 'src', 'main.ts');

async function measure(
  sample: () => number | Promise<number>,
): Promise<{ median: number; p90: number }> {
  await sample(); // warm the page cache
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await sample());
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0;
  return { median: at(0.5), p90: at(0.9) };
}

if (!existsSync(exe)) await buildWorker({ platforms: ['linux-x64'] });
const rows = [
  ['node -e 0', await measure(() => timeRun(process.execPath, ['-e', '0']))],
  ['worker --version', await measure(() => timeRun(exe, ['--version']))],
  [
    'node src/main.ts --version',
    await measure(() => timeRun(process.execPath, [entry, '--version'])),
  ],
  ['task process, executable', await measure(() => timeTaskProcess(taskProcessOf(exe)))],
  [
    'task process, from source',
    await measure(() =>
      timeTaskProcess({
        file: process.execPath,
        args: [...TASK_V8_FLAGS, entry, TASK_CHILD_FLAG],
      }),
    ),
  ],
] as const;
console.log(`start-up, ${runs} runs each, Node ${process.version}, ${exe}`);
for (const [name, { median, p90 }] of rows) {
  console.log(
    `  ${name.padEnd(28)} median ${median.toFixed(1).padStart(6)} ms   p90 ${p90.toFixed(1).padStart(6)} ms`,
  );
}
const bare = rows[0][1].median;
console.log(`  worker --version / node -e 0: ${(rows[1][1].median / bare).toFixed(2)}×`);

// Where a task process's start goes (V8's CPU profiler; inclusive times overlap). `--version` is
// not worth profiling: it loads nothing (src/entry.ts). Without an IPC channel the process
// initialises, "sends" ready, warms up and exits.
const profile = profileStartup(exe, [TASK_CHILD_FLAG], 5, TASK_V8_FLAGS);
console.log(
  `\nworker --task-child under --cpu-prof (mean of 5; the profiler itself adds time): ${profile.totalMs.toFixed(1)} ms profiled`,
);
for (const [group, ms] of profile.groups.slice(0, 14)) {
  console.log(`  ${ms.toFixed(1).padStart(6)} ms  ${group}`);
}
