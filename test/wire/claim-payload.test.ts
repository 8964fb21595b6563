/**
 * src/wire/claim-payload.ts and src/wire/json-pick.ts: an answer is read for its known fields
 * only — each task's payload found as the bytes it arrived in, the rest of the task parsed,
 * everything unknown scanned past — for any JSON value, any layout JSON.stringify can make
 * (indented or not, keys in any order), strings that look like structure, and the answer in chunks
 * cut anywhere; the 1.1 shapes (tasks, next.tasks, results); and the caps that bound what is built.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { HiveError } from '../../src/platform/errors.ts';
import {
  MAX_TASKS_PER_ANSWER,
  pickTaskAnswer,
  taskFromWire,
} from '../../src/wire/claim-payload.ts';
import { pickJson, RawJson, type Shape } from '../../src/wire/json-pick.ts';
import { TaskSchema } from '../../src/wire/protocol.ts';

const tricky = fc.constantFrom('"payload":{', '\\"', '\\\\', '}]', '{"task":1}', 'é𝄞', '\\u0022');
const value = fc.letrec((tie) => ({
  json: fc.oneof(
    { depthSize: 'small' },
    fc.string(),
    tricky,
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('json')),
    fc.dictionary(fc.oneof(fc.string(), tricky), tie('json')),
  ),
})).json;

/** The text's bytes in chunks cut at `cuts` (inside a string, an escape, a UTF-8 sequence). */
function inChunks(text: string, cuts: number[]): Buffer[] {
  const bytes = Buffer.from(text);
  const at = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  return [0, ...at].map((from, i) => bytes.subarray(from, at[i] ?? bytes.length));
}

const round = (v: unknown) => JSON.parse(JSON.stringify(v));
const rawText = (raw: unknown) => {
  assert.ok(raw instanceof RawJson);
  return Buffer.concat(raw.pieces).toString('utf8');
};

/** What pickJson must give: JSON.parse's value cut down to the shape, raw values as their text. */
function project(v: unknown, shape: Shape): unknown {
  if (shape === 'raw') return { raw: JSON.stringify(v) };
  if (shape === 'value') return v;
  if ('fields' in shape && v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(v)) {
      const sub = shape.fields[key];
      if (Object.hasOwn(shape.fields, key) && sub !== undefined) out[key] = project(inner, sub);
    }
    return out;
  }
  if ('items' in shape && Array.isArray(v)) return v.map((item) => project(item, shape.items));
  return v;
}
function unraw(v: unknown): unknown {
  if (v instanceof RawJson) return { raw: JSON.stringify(JSON.parse(rawText(v))) };
  if (Array.isArray(v)) return v.map(unraw);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, inner]) => [k, unraw(inner)]));
  }
  return v;
}

test('a task: the payload as it arrived, the known fields parsed, the unknown ones left out', () => {
  fc.assert(
    fc.property(
      value,
      value,
      fc.constantFrom(undefined, 2),
      fc.boolean(),
      fc.array(fc.nat(), { maxLength: 8 }),
      (payload, other, indent, before, cuts) => {
        const task = before
          ? { payload, id: 't-1', type: 'echo', extra: other }
          : { id: 't-1', type: 'echo', extra: other, payload, leaseSec: 30 };
        const text = JSON.stringify({ before: other, task, after: { payload: 1 } }, null, indent);
        const picked = pickTaskAnswer(inChunks(text, cuts)) as { task: Record<string, unknown> };
        assert.deepEqual(Object.keys(picked), ['task'], 'only the known fields');
        assert.deepEqual(JSON.parse(rawText(picked.task.payload)), round(payload), 'the payload');
        const { payload: _raw, ...rest } = picked.task;
        const { payload: _p, extra: _e, ...expected } = task;
        assert.deepEqual(rest, expected, 'the rest of the task');
      },
    ),
  );
});

test('any value cut to any shape is what JSON.parse gives cut to it', () => {
  const shape: fc.Arbitrary<Shape> = fc.letrec((tie) => ({
    shape: fc.oneof(
      { depthSize: 'small' },
      fc.constantFrom<Shape>('value', 'raw'),
      fc
        .dictionary(fc.oneof(fc.string(), tricky), tie('shape'))
        .map((fields) => ({ fields }) as Shape),
      tie('shape').map((items) => ({ items, maxItems: 1000 }) as Shape),
    ),
  })).shape;
  fc.assert(
    fc.property(value, shape, fc.array(fc.nat(), { maxLength: 6 }), (v, s, cuts) => {
      const picked = pickJson(inChunks(JSON.stringify(v, null, 1), cuts), s, 1e9);
      assert.deepEqual(unraw(picked), round(project(v, s)));
    }),
  );
});

test('protocol 1.1 shapes: tasks, next.tasks and a batch answer', () => {
  const t = (id: string, payload: unknown) => ({ id, type: 'echo', payload, attempt: 2 });
  const text = JSON.stringify({
    tasks: [t('a', { n: 1 }), t('b', [2])],
    next: { tasks: [t('c', 'x')], junk: [{}, {}] },
    results: [
      { resultId: 'r1', status: 200, junk: { deep: [1] } },
      { resultId: 'r2', status: 429, retryAfterSec: 5 },
    ],
    junk: [{}, [], 'tasks'],
  });
  const picked = pickTaskAnswer([Buffer.from(text)]) as {
    tasks: unknown[];
    next: { tasks: unknown[] };
    results: unknown[];
  };
  const tasks = [...picked.tasks, ...picked.next.tasks].map((task) =>
    taskFromWire(TaskSchema.parse(task)),
  );
  assert.deepEqual(
    tasks.map((task) => [task.id, task.payload, Buffer.concat(task.payloadJson ?? []).toString()]),
    [
      ['a', null, '{"n":1}'],
      ['b', null, '[2]'],
      ['c', null, '"x"'],
    ],
  );
  assert.deepEqual(picked.results, [
    { resultId: 'r1', status: 200 },
    { resultId: 'r2', status: 429, retryAfterSec: 5 },
  ]);
  assert.deepEqual(Object.keys(picked.next), ['tasks']);
});

test('a repeated key: the last one, as JSON.parse takes it', () => {
  const picked = pickTaskAnswer([
    Buffer.from('{"task":{"id":"a","payload":[1],"type":"echo","payload":{"b":2}}}'),
  ]) as { task: { payload: unknown } };
  assert.equal(rawText(picked.task.payload), '{"b":2}');
});

test('a payload that is not JSON is still cut out (its process answers BAD_PAYLOAD)', () => {
  const picked = pickTaskAnswer([
    Buffer.from('{"task":{"id":"a","type":"echo","payload":{"a":tru}}}'),
  ]) as { task: { payload: unknown } };
  assert.equal(rawText(picked.task.payload), '{"a":tru}');
});

test('a known field of the wrong kind is parsed as it is, for the schema to refuse', () => {
  const picked = pickTaskAnswer([Buffer.from('{"task":[1,{"id":2}],"tasks":"no","next":7}')]);
  assert.deepEqual(picked, { task: [1, { id: 2 }], tasks: 'no', next: 7 });
});

test('what is not JSON is refused with BAD_ANSWER', () => {
  for (const text of [
    '',
    '{',
    '{"task":}',
    '{"task":{"id":"a"}} x',
    '{"a" 1}',
    '{"a":1,}',
    '{"task":{"payload":"x}}',
    '{"task":{"id":tru}}',
    '{"junk":[1,2}',
    '{a:1}',
  ]) {
    assert.throws(
      () => pickTaskAnswer([Buffer.from(text)]),
      (error) => error instanceof HiveError && error.code === 'BAD_ANSWER',
      text,
    );
  }
});

test('caps: more tasks than the protocol allows, known fields over the parsed-bytes cap', () => {
  const many = `{"tasks":[${'{"id":"a","type":"echo"},'.repeat(MAX_TASKS_PER_ANSWER)}{}]}`;
  assert.throws(() => pickTaskAnswer([Buffer.from(many)]), /more than 64 entries/);
  const wide = `{"task":{"id":"a","type":"${'x'.repeat(2 * 1024 * 1024)}"}}`;
  assert.throws(() => pickTaskAnswer([Buffer.from(wide)]), /over the 1048576-byte limit/);
  const deepJunk = `{"task":${'['.repeat(3_000_000)}${']'.repeat(3_000_000)}}`;
  assert.throws(() => pickTaskAnswer([Buffer.from(deepJunk)]), /over the 1048576-byte limit/);
});

test('16 MiB of unknown objects is scanned past quickly, building nothing', () => {
  const junk = Buffer.from(`,${'{},'.repeat(5_600_000)}{}]}`);
  const chunks = [
    Buffer.from('{"task":{"id":"t","type":"echo","payload":{"a":1}},"junk":[{}'),
    ...Array.from({ length: Math.ceil(junk.length / 65536) }, (_, i) =>
      junk.subarray(i * 65536, (i + 1) * 65536),
    ),
  ];
  const heapBefore = process.memoryUsage().heapUsed;
  const started = performance.now();
  const picked = pickTaskAnswer(chunks) as { task: { id: string } };
  const tookMs = performance.now() - started;
  const grewBytes = process.memoryUsage().heapUsed - heapBefore;
  assert.equal(picked.task.id, 't');
  assert.ok(tookMs < 3000, `took ${tookMs} ms`);
  assert.ok(grewBytes < 32 * 1024 * 1024, `heap grew ${grewBytes} bytes`);
});
