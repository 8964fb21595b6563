/**
 * The gates (src/task/gate.ts, src/task/child-gate.ts) and the endings they refuse with
 * (src/task/outcome.ts): each rejection, table by table.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as z from 'zod';
import { admitRun, isEnded, outputText, thrownBy } from '../../src/task/child-gate.ts';
import type { TaskRegistry } from '../../src/task/define.ts';
import { admitTask } from '../../src/task/gate.ts';
import { failed, outputTooBig, rejected } from '../../src/task/outcome.ts';
import type { Task } from '../../src/wire/protocol.ts';

const REGISTRY: TaskRegistry = {
  echo: { name: 'echo', payload: z.object({ n: z.number() }), run: (payload) => payload },
  slow: { name: 'slow', payload: z.unknown(), run: () => null, timeoutSec: 90, fresh: true },
};
const task = (fields: Partial<Task> = {}): Task => ({
  id: 't-1',
  type: 'echo',
  payload: { n: 1 },
  attempt: 1,
  force: false,
  ...fields,
});

describe("the worker's gate (admitTask)", () => {
  const refused: [string, Partial<Task>, string, string][] = [
    [
      'timeoutSec 0',
      { timeoutSec: 0 },
      'BAD_PAYLOAD',
      'timeoutSec must be a whole number of seconds from 1 to 604800, got 0',
    ],
    [
      'timeoutSec over a week',
      { timeoutSec: 604_801 },
      'BAD_PAYLOAD',
      'timeoutSec must be a whole number of seconds from 1 to 604800, got 604801',
    ],
    [
      'timeoutSec not whole',
      { timeoutSec: 1.5 },
      'BAD_PAYLOAD',
      'timeoutSec must be a whole number of seconds from 1 to 604800, got 1.5',
    ],
    [
      'leaseSec 0',
      { leaseSec: 0 },
      'BAD_PAYLOAD',
      'leaseSec must be a whole number of seconds from 1 to 86400, got 0',
    ],
    [
      'leaseSec negative',
      { leaseSec: -5 },
      'BAD_PAYLOAD',
      'leaseSec must be a whole number of seconds from 1 to 86400, got -5',
    ],
    [
      'bounds before the type',
      { type: 'nope', leaseSec: 0 },
      'BAD_PAYLOAD',
      'leaseSec must be a whole number of seconds from 1 to 86400, got 0',
    ],
    [
      'an unknown type',
      { type: 'nope' },
      'UNKNOWN_TASK',
      'no task named "nope" in this worker (it has: echo, slow)',
    ],
    [
      'an inherited property',
      { type: 'constructor' },
      'UNKNOWN_TASK',
      'no task named "constructor" in this worker (it has: echo, slow)',
    ],
  ];
  for (const [name, fields, code, message] of refused) {
    test(`rejected/${code}: ${name}`, () => {
      const admission = admitTask(task(fields), REGISTRY, 60_000);
      assert.equal(admission.admitted, false);
      if (admission.admitted) return;
      assert.deepEqual(admission.outcome, {
        status: 'rejected',
        outputJson: 'null',
        error: { code, message },
        logs: [],
        logsTruncated: false,
      });
    });
  }

  const timeouts: [string, Partial<Task>, number, boolean][] = [
    ["the server's timeout wins", { type: 'slow', timeoutSec: 5 }, 5000, false],
    ["else the definition's", { type: 'slow' }, 90_000, false],
    ['else TASK_TIMEOUT', {}, 60_000, true],
    ['the longest bound fits a timer', { timeoutSec: 604_800 }, 604_800_000, true],
  ];
  for (const [name, fields, timeoutMs, reusable] of timeouts) {
    test(`admitted: ${name}`, () => {
      const admission = admitTask(task(fields), REGISTRY, 60_000);
      assert.ok(admission.admitted);
      assert.equal(admission.timeoutMs, timeoutMs);
      assert.equal(admission.reusable, reusable, 'a `fresh` type never shares its process');
      assert.equal(admission.definition, REGISTRY[fields.type ?? 'echo']);
    });
  }
});

describe("the task process's gate (admitRun)", () => {
  const dir = mkdtempSync(join(tmpdir(), 'gate-unit-'));
  const goodFile = join(dir, 'payload.json');
  writeFileSync(goodFile, '{"n":7}');
  const runTask = (fields: object) => ({
    id: 't',
    type: 'echo',
    payload: null,
    attempt: 1,
    ...fields,
  });

  const refused: [string, object, string, string, RegExp][] = [
    ['an unknown type', { type: 'nope' }, 'rejected', 'UNKNOWN_TASK', /^no task named "nope"/],
    [
      'payload text that is not JSON',
      { payloadJson: '{"n":' },
      'rejected',
      'BAD_PAYLOAD',
      /^the payload is not JSON: /,
    ],
    [
      'a payload file that is gone',
      { payloadFile: join(dir, 'gone.json') },
      'failed',
      'TASK_ERROR',
      /^the payload cannot be read: ENOENT/,
    ],
    [
      'a payload that misses a field',
      { payload: {} },
      'rejected',
      'BAD_PAYLOAD',
      /^payload does not fit task echo: n: /,
    ],
    [
      'a payload that is not an object',
      { payload: 3 },
      'rejected',
      'BAD_PAYLOAD',
      /^payload does not fit task echo: \(payload\): /,
    ],
  ];
  for (const [name, fields, status, code, message] of refused) {
    test(`${status}/${code}: ${name}`, async () => {
      const got = await admitRun(runTask(fields), REGISTRY);
      assert.ok(isEnded(got));
      assert.equal(got.status, status);
      assert.equal(got.error.code, code);
      assert.match(got.error.message, message);
    });
  }

  test('a schema miss names each issue in its details', async () => {
    const got = await admitRun(runTask({ payload: { n: 'x' } }), REGISTRY);
    assert.ok(isEnded(got));
    assert.deepEqual(
      (got.error.details as { issues: { path: unknown[] }[] }).issues.map((i) => i.path),
      [['n']],
    );
  });

  const admitted: [string, object, unknown][] = [
    ['the payload as delivered', { payload: { n: 1 } }, { n: 1 }],
    ['the payload as JSON text', { payloadJson: '{"n":2}' }, { n: 2 }],
    ['the payload from its file', { payloadFile: goodFile }, { n: 7 }],
  ];
  for (const [name, fields, payload] of admitted) {
    test(`runs: ${name}`, async () => {
      const got = await admitRun(runTask(fields), REGISTRY);
      assert.ok(!isEnded(got));
      assert.deepEqual(got.payload, payload);
      assert.equal(got.definition, REGISTRY.echo);
    });
  }
});

describe('the output and what a run threw', () => {
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  const outputs: [string, unknown, number, string | RegExp][] = [
    ['undefined is null', undefined, 100, 'null'],
    ['a value is its JSON', { a: [1, 'b'] }, 100, '{"a":[1,"b"]}'],
    ['at the limit', 'xxxx', 6, '"xxxx"'],
    [
      'one byte over',
      'xxxxx',
      6,
      /^the task's output is 7 bytes of JSON, over MAX_RESULT_BYTES \(6\)$/,
    ],
    ['bytes, not characters', 'ééé', 7, /^the task's output is 8 bytes of JSON/],
    ['a circle', circular, 100, /^the task's output is not JSON-serializable: /],
    ['a BigInt', 1n, 100, /^the task's output is not JSON-serializable: /],
  ];
  for (const [name, output, max, expected] of outputs) {
    test(`outputText: ${name}`, () => {
      const got = outputText(output, max);
      if (typeof expected === 'string') {
        assert.ok(!isEnded(got));
        assert.equal(got.outputJson, expected);
        assert.equal(got.bytes, Buffer.byteLength(expected));
      } else {
        assert.ok(isEnded(got));
        assert.equal(got.status, 'failed');
        assert.equal(got.error.code, 'TASK_ERROR');
        assert.match(got.error.message, expected);
      }
    });
  }

  const throws: [string, unknown, string, string][] = [
    ['an Error', new TypeError('bad input'), 'bad input', 'TypeError'],
    ['an Error without a message', new RangeError(), 'RangeError', 'RangeError'],
  ];
  for (const [name, thrown, message, errorName] of throws) {
    test(`thrownBy: ${name}`, () => {
      assert.deepEqual(thrownBy(thrown), failed(message, { name: errorName }));
    });
  }

  test('thrownBy: a thrown non-Error still fails with TASK_ERROR', () => {
    const got = thrownBy('just a string');
    assert.equal(got.status, 'failed');
    assert.equal(got.error.code, 'TASK_ERROR');
    assert.match(got.error.message, /just a string/);
  });
});

test('the endings: rejected, failed, and the size limit, with details only when given', () => {
  assert.deepEqual(rejected('UNKNOWN_TASK', 'm'), {
    status: 'rejected',
    error: { code: 'UNKNOWN_TASK', message: 'm' },
  });
  assert.deepEqual(failed('m', { x: 1 }), {
    status: 'failed',
    error: { code: 'TASK_ERROR', message: 'm', details: { x: 1 } },
  });
  assert.equal(outputTooBig(10, 10), undefined);
  assert.equal(outputTooBig(11, 10)?.status, 'failed');
});
