/**
 * The benches' instruments, on real processes: memory read from /proc counts what a process
 * allocated and the processes under it; a bench stops what it started and removes its temp folders
 * however it ends (failure, Ctrl+C, its time limit); a missing redis-server is named with the way
 * to install it. Speed itself is judged by the benches, never here.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { processMemory, processTree, stopProcess, treeMemory } from '../../bench/measure.ts';
import { ROOT } from '../../scripts/build.ts';

const FIXTURE = join(ROOT, 'test', 'fixtures', 'bench-harness.ts');

/** A Node process running `script`, once it has printed its first line (its "ready"). */
async function started(script: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await once(child.stdout ?? child, 'data');
  return child;
}

const isRunning = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Runs the fixture bench in `mode`; `signal` is sent once it has printed what it started. */
async function runFixture(mode: string, options: { signal?: NodeJS.Signals; path?: string } = {}) {
  const child = spawn(process.execPath, [FIXTURE, mode], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...(options.path === undefined ? {} : { PATH: options.path }) },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk;
    if (options.signal !== undefined && stdout.includes('\n')) child.kill(options.signal);
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk;
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  const line = stdout.split('\n')[0] ?? '';
  const started = line.startsWith('{') ? (JSON.parse(line) as { pid: number; dir: string }) : null;
  return { code, stderr, started };
}

describe('bench instruments', { timeout: 60_000 }, () => {
  test('private memory counts what a process allocated; a tree counts the processes under it', async () => {
    const idle = await started("console.log('ready'); setInterval(() => {}, 1000)");
    // 64 MiB written (so resident), and a child of its own.
    const busy = await started(
      "globalThis.kept = Buffer.alloc(64 * 1024 * 1024, 1); require('node:child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' }); console.log('ready'); setInterval(() => {}, 1000)",
    );
    try {
      await new Promise((resolve) => setTimeout(resolve, 500)); // the grandchild is up
      const grown = processMemory(busy.pid ?? 0).privateMb - processMemory(idle.pid ?? 0).privateMb;
      assert.ok(grown >= 60, `64 MiB allocated, ${grown.toFixed(1)} MB more private memory seen`);
      const tree = treeMemory(busy.pid ?? 0);
      assert.equal(tree.processes, 2);
      assert.ok(tree.privateMb > processMemory(busy.pid ?? 0).privateMb, 'the child counts too');
      assert.ok(tree.rssMb >= tree.privateMb);
    } finally {
      for (const pid of processTree(busy.pid ?? 0).slice(1)) process.kill(pid);
      await Promise.all([busy, idle].map((child) => stopProcess(child)));
    }
    assert.deepEqual(processMemory(999_999_999), {
      rssMb: 0,
      privateMb: 0,
      anonMb: 0,
      fileMb: 0,
      peakRssMb: 0,
      cpuSec: 0,
    });
  });

  for (const [mode, signal, code] of [
    ['fail', undefined, 1],
    ['hang', 'SIGINT', 130],
    ['hang', 'SIGTERM', 130],
    ['overrun', undefined, 1],
  ] as const) {
    test(`a bench that ${signal === undefined ? `${mode}s` : `gets ${signal}`} stops what it started and removes its temp folders`, async () => {
      const run = await runFixture(mode, signal === undefined ? {} : { signal });
      assert.equal(run.code, code, run.stderr);
      assert.ok(run.started !== null, 'the fixture started its child');
      assert.equal(isRunning(run.started.pid), false, 'its child process is stopped');
      assert.equal(existsSync(run.started.dir), false, 'its temp folder is removed');
      if (mode === 'overrun') assert.match(run.stderr, /ran past its limit of 1\.5 s/);
    });
  }

  test('without redis-server, bench:peers says how to install it', async () => {
    const run = await runFixture('no-redis', { path: dirname(process.execPath) });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /redis-server is not installed: .*apt-get install -y redis-server/);
  });
});
