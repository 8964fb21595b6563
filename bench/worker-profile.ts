/**
 * Where the worker process's own time goes on a queue of no-op tasks: the reference server (in
 * this process), N echo tasks queued, one worker from source with reused task processes, and
 * V8's CPU profiler in the worker process only (bench/profile-preload.ts: a task process skips
 * it). Prints the wall time and the worker's CPU per task, and its self time by function.
 * `node bench/worker-profile.ts [tasks=200] [protocol=1.1|1]`; wrap in flock /tmp/hive-bench.lock.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAdminClient } from '../scripts/server/admin-client.ts';
import { startServer } from '../scripts/server/start.ts';

const tasks = Number(process.argv[2] ?? 200);
const protocol = process.argv[3] === '1' ? '1' : '1.1';
const entry = fileURLToPath(new URL('../test/fixtures/entry.ts', import.meta.url));
const preload = fileURLToPath(new URL('./profile-preload.ts', import.meta.url));

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** utime + stime of a process, in ms (Linux /proc). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

const server = await startServer({ leaseCheckMs: 1000, protocol });
const admin = createAdminClient(server.url);
for (let i = 0; i < tasks; i++) await admin.enqueue({ id: `prof-${i}`, type: 'echo', payload: i });
const profileDir = mkdtempSync(join(tmpdir(), 'hive-worker-prof-'));
const startedAt = performance.now();
const worker = spawn(process.execPath, ['--import', preload, entry], {
  env: {
    ...process.env,
    HIVE_SERVER_URL: server.url,
    HIVE_DATA_DIR: mkdtempSync(join(tmpdir(), 'hive-prof-data-')),
    HIVE_TASKS_PER_PROCESS: '1000',
    HIVE_WAIT_SEC: '0',
    HIVE_NO_TASK_SLEEP: '0.05',
    HIVE_LOG_LEVEL: 'warn',
    HIVE_PROFILE_DIR: profileDir,
  },
  stdio: 'inherit',
});
const pid = worker.pid ?? 0;
await admin.waitFor(async () => (await admin.results()).results.length >= tasks, 600_000);
const wallMs = performance.now() - startedAt;
const workerCpuMs = cpuMs(pid);
worker.kill('SIGTERM');
await new Promise((resolve) => worker.once('exit', resolve));
await server.close();

const selfUs = new Map<string, number>();
/** Self time of native calls by the JS function that made them (the first caller with a URL). */
const callerUs = new Map<string, number>();
let totalUs = 0;
for (const file of readdirSync(profileDir)) {
  const profile = JSON.parse(readFileSync(join(profileDir, file), 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parentOf.set(child, node.id);
  const nameOf = (node: ProfileNode) =>
    `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.replace(/^.*\/(node_modules|src|scripts)\//, '$1/')}:${node.callFrame.lineNumber + 1}`;
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id)?.callFrame;
    const us = profile.timeDeltas[i] ?? 0;
    if (frame === undefined || frame.functionName === '(idle)') return;
    const where = frame.url.replace(/^.*\/(node_modules|src|scripts)\//, '$1/');
    const key = `${frame.functionName || '(anonymous)'} ${where}:${frame.lineNumber + 1}`;
    selfUs.set(key, (selfUs.get(key) ?? 0) + us);
    if (frame.url === '') {
      let up = parentOf.get(id);
      while (up !== undefined && !(byId.get(up)?.callFrame.url ?? '').startsWith('file:'))
        up = parentOf.get(up);
      const caller = up === undefined ? undefined : byId.get(up);
      if (caller !== undefined) {
        const name = `${frame.functionName} ← ${nameOf(caller)}`;
        callerUs.set(name, (callerUs.get(name) ?? 0) + us);
      }
    }
    totalUs += us;
  });
}
console.log(
  `protocol ${protocol}: ${tasks} tasks in ${Math.round(wallMs)} ms = ${(wallMs / tasks).toFixed(2)} ms/task; worker CPU ${(workerCpuMs / tasks).toFixed(2)} ms/task; profiled busy ${(totalUs / 1000 / tasks).toFixed(2)} ms/task`,
);
for (const [key, us] of [...selfUs].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
  console.log(
    `${((us / totalUs) * 100).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(6)} ms  ${key}`,
  );
}
console.log('native calls by caller:');
for (const [key, us] of [...callerUs].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
  console.log(
    `${((us / totalUs) * 100).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(6)} ms  ${key}`,
  );
}
