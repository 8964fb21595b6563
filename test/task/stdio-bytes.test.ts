/**
 * A result says how many bytes its task wrote to stdout and stderr (src/task/child.ts), and the
 * parent counts what it reads (src/task/process-output.ts): once its count reaches the result's,
 * the task's output is all in and the task finishes without waiting turns for more.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { IPC_VERSION, TASK_CHILD_FLAG } from '../../src/task/ipc.ts';
import { LogTail } from '../../src/task/log-tail.ts';
import { ProcessOutput } from '../../src/task/process-output.ts';

const ENTRY = fileURLToPath(new URL('../fixtures/entry.ts', import.meta.url));

/** The next message of `type` from a task process. */
function nextMessage(child: ChildProcess, type: string): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const onMessage = (message: Record<string, unknown>) => {
      if (message.type !== type) return;
      child.off('message', onMessage);
      resolve(message);
    };
    child.on('message', onMessage);
  });
}

describe('stdio byte counts', () => {
  test('a reused task process counts each task’s own stdout and stderr bytes', async () => {
    const child = spawn(process.execPath, [ENTRY, TASK_CHILD_FLAG], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    child.stdout?.resume();
    child.stderr?.resume();
    try {
      await nextMessage(child, 'ready');
      const results: unknown[] = [];
      for (const [i, [type, payload]] of [
        ['floods', { lines: 30 }], // 30 × 201 bytes of stdout
        ['logs', { lines: 2 }], // two lines over IPC, one console.log line: 17 bytes
        ['throws', { message: 'no' }], // a warning over IPC, nothing on the pipes
        ['floods', { lines: 1 }],
      ].entries()) {
        const result = nextMessage(child, 'result');
        child.send({
          v: IPC_VERSION,
          type: 'run',
          task: { id: `t${i}`, type, payload, attempt: 1 },
          maxResultBytes: 1024,
          reuse: true,
        });
        results.push((await result).stdioBytes);
        await nextMessage(child, 'ready');
      }
      assert.deepEqual(results, [
        { stdout: 30 * 201, stderr: 0 },
        { stdout: 'from console.log\n'.length, stderr: 0 },
        { stdout: 0, stderr: 0 },
        { stdout: 201, stderr: 0 },
      ]);
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('the parent’s count: bytes of each stream since the run message; text not UTF-8 counts no less', async () => {
    const output = new ProcessOutput(new LogTail((text) => text));
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const listen = (emitter: NodeJS.EventEmitter, event: string, listener: (arg: never) => void) =>
      void emitter.on(event, listener as (arg: unknown) => void);
    output.read(stdout, 'info', listen);
    output.read(stderr, 'error', listen);
    stdout.write('before the run\n');
    await new Promise((resolve) => setImmediate(resolve));
    output.countFromRun();
    assert.equal(output.hasRead({ stdout: 0, stderr: 0 }), true);
    stdout.write('é\n'); // 3 bytes
    stderr.write(Buffer.from([0xff, 0x0a])); // not UTF-8: read as U+FFFD, 3 bytes and a newline
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(output.hasRead({ stdout: 3, stderr: 2 }), true);
    assert.equal(output.hasRead({ stdout: 4, stderr: 0 }), false, 'one byte short on stdout');
    assert.equal(output.hasRead({ stdout: 3, stderr: 5 }), false, 'one byte short on stderr');
  });
});
