/** `npm run try-task`: one task through the reference server and one real worker pass. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const TRY_TASK = fileURLToPath(new URL('../../scripts/try-task.ts', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs try-task; `onStderr` sees its error output as it comes (to send a signal mid-task). */
function tryTask(args: string[], onStderr?: (text: string, pid: number) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TRY_TASK, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      if (child.pid !== undefined) onStderr?.(stderr, child.pid);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('npm run try-task', { concurrency: 2 }, () => {
  test('echo: succeeded, the output pretty-printed, the worker shown, exit 0', async () => {
    const run = await tryTask(['echo', '{"greeting":"hi","n":[1]}']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^result of try-echo-\w+ \(echo, attempt 1, \d+ ms\)$/m);
    assert.match(run.stdout, /^status: succeeded$/m);
    assert.match(run.stdout, /^output: \{\n {10}"greeting": "hi",\n {10}"n": \[\n {12}1\n/m);
    assert.match(run.stdout, /^logs: {3}\(none\)$/m);
    assert.match(run.stderr, /worker │ .*claimed task try-echo-/);
  });

  test("sleep: the task's log lines are printed; --quiet hides the worker", async () => {
    const run = await tryTask(['sleep', '{"ms":50}', '--quiet']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(
      run.stdout,
      /^logs: {3}1 line\(s\)\n {2}\d\d:\d\d:\d\d\.\d{3} info {2}slept 50 ms$/m,
    );
    assert.doesNotMatch(run.stderr, /worker │/);
  });

  test('sleep with a bad payload: rejected/BAD_PAYLOAD, exit 1', async () => {
    const run = await tryTask(['sleep', '{"ms":"soon"}', '-q']);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /^status: rejected$/m);
    assert.match(run.stdout, /^error: {2}BAD_PAYLOAD: payload does not fit task sleep: ms: /m);
    assert.match(run.stdout, /^output: null$/m);
  });

  test('--timeout is the task timeout the server sets: timed_out, exit 1', async () => {
    const run = await tryTask(['sleep', '{"ms":60000}', '--timeout', '1', '-q']);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /^status: timed_out$/m);
    assert.match(run.stdout, /^error: {2}TIMEOUT: /m);
  });

  test('Ctrl+C stops the task at once; its result is still printed', {
    skip: process.platform === 'win32' && 'no SIGINT to send on Windows',
  }, async () => {
    let sent = false;
    const run = await tryTask(['sleep', '{"ms":60000}'], (stderr, pid) => {
      if (!sent && /claimed task/.test(stderr)) {
        sent = true;
        process.kill(pid, 'SIGINT');
      }
    });
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /^status: cancelled$/m);
    assert.match(run.stdout, /^error: {2}SHUTDOWN: /m);
  });

  test('bad arguments: one clear line, exit 2, nothing run', async () => {
    const cases: [string[], RegExp][] = [
      [[], /give the task type to try\n\nusage: npm run try-task/],
      [
        ['resize_image', '{}'],
        /no task named "resize_image" in TASK_REGISTRY .*it has: echo, sleep/,
      ],
      [['constructor'], /no task named "constructor"/],
      [['echo', '{x}'], /the payload is not JSON \(.*\): "\{x\}"/],
      [['echo', '@/no/such/file.json'], /cannot read the payload file: ENOENT/],
      [['echo', '{}', 'extra'], /expected a type and one JSON payload, got 3 arguments/],
      [
        ['sleep', '{}', '--timeout', 'soon'],
        /expected --timeout to be a whole number of seconds from 1 to 604800, got "soon"/,
      ],
      [['sleep', '{}', '--timeout', '0'], /expected --timeout .* got "0"/],
      [['sleep', '{}', '--timeout', '0.5'], /expected --timeout .* got "0.5"/],
      [['echo', '--frobnicate'], /Unknown option '--frobnicate'/],
    ];
    const runs = await Promise.all(cases.map(([args]) => tryTask(args)));
    for (const [index, [args, message]] of cases.entries()) {
      const run = runs[index];
      assert.equal(run?.code, 2, `${JSON.stringify(args)}: ${run?.stderr}`);
      assert.match(
        run?.stderr ?? '',
        new RegExp(`^try-task: ${message.source}`),
        JSON.stringify(args),
      );
      assert.equal(run?.stdout, '');
    }
  });
});
