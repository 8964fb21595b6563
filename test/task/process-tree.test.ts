/**
 * Nothing outlives its task (src/task/task-processes.ts), on real processes: a task process leads
 * its own process group; a timeout or a cancel ends the task's whole tree, a grandchild included;
 * a task that returns leaves nothing running; spares are in the same scheme; a dead predecessor's
 * recorded task processes are reaped, and a record whose pid now names another process is not.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { identify, isPidAlive } from '../../src/platform/process-identity.ts';
import { TASK_CHILD_FLAG } from '../../src/task/ipc.ts';
import { type RunOptions, runInChild } from '../../src/task/parent.ts';
import { TaskProcessPool } from '../../src/task/pool.ts';
import { keepTaskProcesses, TASK_PROCESSES_DIR } from '../../src/task/task-processes.ts';
import { allGone, groupGone, statOf } from '../helpers/processes.ts';
import { tempDir } from '../helpers/worker.ts';

const ENTRY = fileURLToPath(new URL('../fixtures/entry.ts', import.meta.url));
const COMMAND = { file: process.execPath, args: [ENTRY, TASK_CHILD_FLAG] };

function run(payload: unknown, overrides: Partial<RunOptions> = {}) {
  return runInChild(
    { id: 't-spawns', type: 'spawns', payload, attempt: 1, force: false },
    {
      command: COMMAND,
      env: process.env,
      timeoutMs: 20_000,
      killGraceMs: 300,
      maxResultBytes: 1024,
      signal: new AbortController().signal,
      scrub: (text) => text,
      ...overrides,
    },
  );
}

/** The pids the `spawns` fixture logged: its grandchild and its own. */
function pidsFrom(logs: Array<{ msg: string }>): { grandchild: number; task: number } {
  const line = logs.map((one) => one.msg).find((msg) => msg.startsWith('grandchild '));
  const match = /^grandchild (\d+) of (\d+)$/.exec(line ?? '');
  assert.ok(match, `the task said its pids: ${JSON.stringify(logs)}`);
  return { grandchild: Number(match[1]), task: Number(match[2]) };
}

async function gone(pid: number): Promise<boolean> {
  return allGone([pid]);
}

describe('task process trees', { skip: process.platform !== 'linux' && 'Linux /proc' }, () => {
  test('a timeout ends the whole tree: the task ignoring its abort and the grandchild it spawned', async () => {
    const logs: Array<{ msg: string }> = [];
    const outcome = await run(
      { after: 'hang' },
      // Long enough for a task process to start on a loaded machine.
      { timeoutMs: 6000, onLog: (line) => logs.push(line) },
    );
    assert.equal(outcome.status, 'timed_out');
    const { grandchild, task } = pidsFrom(logs);
    assert.ok(await gone(grandchild), `grandchild ${grandchild} is gone`);
    assert.ok(await gone(task), `task process ${task} is gone`);
  });

  test('a cancel ends the whole tree too', async () => {
    const controller = new AbortController();
    const logs: Array<{ msg: string }> = [];
    const outcome = await run(
      { after: 'hang' },
      {
        signal: controller.signal,
        onLog: (line) => {
          logs.push(line);
          controller.abort('cancel');
        },
      },
    );
    assert.equal(outcome.status, 'cancelled');
    const { grandchild } = pidsFrom(logs);
    assert.ok(await gone(grandchild), `grandchild ${grandchild} is gone`);
  });

  test('a task that returns leaves nothing running: its grandchild goes when it exits', async () => {
    const logs: Array<{ msg: string }> = [];
    const outcome = await run({ after: 'return' }, { onLog: (line) => logs.push(line) });
    assert.equal(outcome.status, 'succeeded');
    const { grandchild, task } = pidsFrom(logs);
    assert.deepEqual(JSON.parse(outcome.outputJson), { grandchild });
    assert.ok(await gone(task), 'the task process exits');
    assert.ok(await gone(grandchild), `grandchild ${grandchild} is swept with its group`);
  });

  test('task processes and spares each lead a process group of their own', async () => {
    const warm = new TaskProcessPool(10_000, 2);
    try {
      warm.prepare(COMMAND, process.env);
      const spares = warm.sparePids;
      assert.equal(spares.length, 2);
      for (const pid of spares)
        assert.equal(statOf(pid).group, pid, `spare ${pid} leads its group`);
      assert.notEqual(statOf(spares[0] ?? 0).group, statOf(process.pid).group);
      warm.close();
      for (const pid of spares) assert.ok(await gone(pid), `spare ${pid} stopped`);
    } finally {
      warm.close();
    }
  });

  test("a dead predecessor's recorded task process is reaped with its group; a reused pid is not", async () => {
    const dataDir = tempDir();
    const dir = join(dataDir, TASK_PROCESSES_DIR);
    // A task process as a dead worker left it: leading its group, with a child of its own.
    const leftover = spawn('sh', ['-c', 'sleep 3600 & wait'], { detached: true, stdio: 'ignore' });
    const stranger = spawn('sleep', ['3600'], { detached: true, stdio: 'ignore' });
    try {
      const leftoverPid = leftover.pid ?? 0;
      const strangerPid = stranger.pid ?? 0;
      keepTaskProcesses(dataDir).close(); // creates the folder
      writeFileSync(join(dir, `${leftoverPid}.json`), JSON.stringify(identify(leftoverPid)));
      // The stranger's pid, recorded with another start time: the recorded process is long gone.
      const before = identify(strangerPid);
      writeFileSync(
        join(dir, `${strangerPid}.json`),
        JSON.stringify({ ...before, startTicks: `${BigInt(before.startTicks ?? '0') - 1n}` }),
      );
      await delay(200); // the shell has started its sleep
      const kept = keepTaskProcesses(dataDir);
      kept.close();
      assert.deepEqual(kept.reaped, [leftoverPid]);
      assert.ok(await gone(leftoverPid), 'the leftover is killed');
      assert.ok(await groupGone(leftoverPid), 'its group too (the child of the leftover)');
      assert.ok(isPidAlive(strangerPid), 'the process that merely has a recorded pid is not');
    } finally {
      leftover.kill('SIGKILL');
      stranger.kill('SIGKILL');
    }
  });
});
