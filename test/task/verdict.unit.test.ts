/** The verdict (src/task/verdict.ts): every way a task ends, as the outcome it reports. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ChildMessage } from '../../src/task/child-messages.ts';
import type { StopReason } from '../../src/task/ipc.ts';
import { crashError, endedOutcome, verdictOf } from '../../src/task/verdict.ts';
import type { ResultError, SpooledOutput } from '../../src/wire/protocol.ts';

type Result = Extract<ChildMessage, { type: 'result' }>;

const CRASH: ResultError = { code: 'CRASHED', message: 'crashed' };
const SPOOLED: SpooledOutput = { file: '/spool/out.json', bytes: 500 };

function verdict(
  end: { stopReason?: StopReason; result?: Result; spooled?: SpooledOutput; max?: number } = {},
) {
  return verdictOf({
    stopReason: end.stopReason,
    result: end.result,
    maxResultBytes: end.max ?? 1000,
    spooled: () => end.spooled,
    scrub: (text) => text.replaceAll('hunter2', '***'),
    crash: () => CRASH,
  });
}

const ok = (outputJson: string): Result => ({
  v: 1,
  type: 'result',
  status: 'succeeded',
  outputJson,
});
const spooledResult = (spooledBytes: number): Result => ({
  v: 1,
  type: 'result',
  status: 'succeeded',
  spooledBytes,
});

describe('verdictOf', () => {
  const stops: [StopReason, string, string][] = [
    ['timeout', 'timed_out', 'TIMEOUT'],
    ['cancel', 'cancelled', 'CANCELLED'],
    ['shutdown', 'cancelled', 'SHUTDOWN'],
  ];
  for (const [stopReason, status, code] of stops) {
    test(`a ${stopReason} stop is ${status}/${code}, even over a result that came after`, () => {
      for (const result of [undefined, ok('{"a":1}')]) {
        const got = verdict({ stopReason, ...(result === undefined ? {} : { result }) });
        assert.equal(got.status, status);
        assert.equal(got.error?.code, code);
        assert.equal(got.outputJson, 'null');
      }
    });
  }

  test('succeeded: the output is the text the process sent, unparsed', () => {
    assert.deepEqual(verdict({ result: ok('{"n": 1}') }), {
      status: 'succeeded',
      outputJson: '{"n": 1}',
      error: null,
    });
  });

  const sizes: [string, number, string][] = [
    ['at the limit', 1000, 'succeeded'],
    ['one byte over', 1001, 'failed'],
  ];
  for (const [name, bytes, status] of sizes) {
    test(`an output sent over IPC ${name} (MAX_RESULT_BYTES) is ${status}`, () => {
      const got = verdict({ result: ok(`"${'x'.repeat(bytes - 2)}"`) });
      assert.equal(got.status, status);
      if (status === 'failed') {
        assert.deepEqual(got.error, {
          code: 'TASK_ERROR',
          message: `the task's output is ${bytes} bytes of JSON, over MAX_RESULT_BYTES (1000)`,
        });
      }
    });
  }

  test('a spooled output: the file is the output; its own size counts, not the one reported', () => {
    assert.deepEqual(verdict({ result: spooledResult(10), spooled: SPOOLED }), {
      status: 'succeeded',
      outputJson: 'null',
      outputFile: SPOOLED,
      error: null,
    });
    const big = verdict({ result: spooledResult(10), spooled: { ...SPOOLED, bytes: 2000 } });
    assert.equal(big.status, 'failed');
    assert.match(big.error?.message ?? '', /2000 bytes of JSON, over MAX_RESULT_BYTES \(1000\)/);
  });

  test('a spooled output the process did not write fails the task', () => {
    assert.deepEqual(verdict({ result: spooledResult(10) }), {
      status: 'failed',
      outputJson: 'null',
      error: {
        code: 'TASK_ERROR',
        message: 'the task process reported an output file it did not write',
      },
    });
  });

  for (const status of ['failed', 'rejected'] as const) {
    test(`a ${status} result keeps its error, its message scrubbed`, () => {
      const result: Result = {
        v: 1,
        type: 'result',
        status,
        error: { code: 'TASK_ERROR', message: 'password hunter2 refused', details: { n: 1 } },
      };
      assert.deepEqual(verdict({ result }), {
        status,
        outputJson: 'null',
        error: { code: 'TASK_ERROR', message: 'password *** refused', details: { n: 1 } },
      });
    });
  }

  test('no result and no stop: a crash, told by crash()', () => {
    assert.deepEqual(verdict(), { status: 'failed', outputJson: 'null', error: CRASH });
  });
});

describe('crashError', () => {
  const cases: {
    name: string;
    code: number | null;
    signalName: NodeJS.Signals | null;
    stderr: string[];
    spawnError?: Error;
    message: string;
  }[] = [
    {
      name: 'an exit code',
      code: 3,
      signalName: null,
      stderr: [],
      message: 'the task process exited with code 3 before reporting a result',
    },
    {
      name: 'a signal',
      code: null,
      signalName: 'SIGKILL',
      stderr: [],
      message: 'the task process was killed by SIGKILL before reporting a result',
    },
    {
      name: 'out of memory',
      code: 134,
      signalName: null,
      stderr: ['FATAL ERROR: JavaScript heap out of memory'],
      message: 'the task process ran out of memory (exited with code 134)',
    },
    {
      name: 'OOM by a signal',
      code: null,
      signalName: 'SIGABRT',
      stderr: ['Allocation failed'],
      message: 'the task process ran out of memory (was killed by SIGABRT)',
    },
    {
      name: 'a spawn error',
      code: null,
      signalName: null,
      stderr: ['x'],
      spawnError: new Error('ENOENT'),
      message: 'the task process could not start: ENOENT',
    },
  ];
  for (const one of cases) {
    test(`CRASHED: ${one.name}`, () => {
      const error = crashError({
        spawnError: one.spawnError,
        stderrTail: one.stderr,
        code: one.code,
        signalName: one.signalName,
      });
      assert.equal(error.code, 'CRASHED');
      assert.equal(error.message, one.message);
      if (one.spawnError === undefined) {
        assert.deepEqual(error.details, {
          exitCode: one.code,
          signal: one.signalName,
          stderr: one.stderr,
        });
      } else assert.equal(error.details, undefined);
    });
  }

  test('the details keep the last five lines of stderr', () => {
    const stderrTail = ['1', '2', '3', '4', '5', '6', '7'];
    const error = crashError({ spawnError: undefined, stderrTail, code: 1, signalName: null });
    assert.deepEqual((error.details as { stderr: string[] }).stderr, ['3', '4', '5', '6', '7']);
  });
});

test('endedOutcome: no output, the logs given (none by default)', () => {
  const ended = { status: 'rejected', error: { code: 'BAD_PAYLOAD', message: 'm' } } as const;
  assert.deepEqual(endedOutcome(ended), {
    ...ended,
    outputJson: 'null',
    logs: [],
    logsTruncated: false,
  });
  const logs = [{ level: 'info', msg: 'hi', at: '2026-01-01T00:00:00.000Z' }] as const;
  assert.deepEqual(endedOutcome(ended, [...logs], true).logs, logs);
  assert.equal(endedOutcome(ended, [...logs], true).logsTruncated, true);
});
