/**
 * src/wire/claim-payload.ts: a claim answer's payload is found as the bytes it arrived in, and the
 * rest of the answer parses to the same task with `null` for it — for any JSON value, any layout
 * of the answer JSON.stringify can make (indented or not, keys in any order, repeated keys),
 * strings that look like structure, and the answer in chunks cut anywhere.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { splitClaimAnswer } from '../../src/wire/claim-payload.ts';

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

test('the payload as it arrived, and the rest with null in its place', () => {
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
        // As it arrived: in chunks cut anywhere (inside a string, an escape, a UTF-8 sequence).
        const bytes = Buffer.from(text);
        const at = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
        const chunks = [0, ...at].map((from, i) => bytes.subarray(from, at[i] ?? bytes.length));
        const split = splitClaimAnswer(chunks);
        assert.ok(split !== undefined);
        const cut = Buffer.concat(split.payloadJson).toString('utf8');
        const round = (v: unknown) => JSON.parse(JSON.stringify(v));
        assert.deepEqual(JSON.parse(cut), round(payload), 'the payload');
        const rest = JSON.parse(split.text);
        assert.equal(rest.task.payload, null, 'null in its place');
        assert.deepEqual({ ...rest.task, payload: JSON.parse(cut) }, round(task), 'the rest');
        // The bytes around it are the answer's own.
        const restBytes = Buffer.byteLength(text) - Buffer.byteLength(cut) + 'null'.length;
        assert.equal(Buffer.byteLength(split.text), restBytes, 'the answer less the payload');
      },
    ),
  );
});

test('a repeated key: the last one, as JSON.parse takes it', () => {
  const text = '{"task":{"id":"a","payload":[1],"type":"echo","payload":{"b":2}}}';
  const split = splitClaimAnswer([Buffer.from(text)]);
  assert.equal(Buffer.concat(split?.payloadJson ?? []).toString(), '{"b":2}');
  assert.deepEqual(JSON.parse(split?.text ?? ''), {
    task: { id: 'a', payload: null, type: 'echo' },
  });
});

test('a payload that is not JSON is still cut out (its process answers BAD_PAYLOAD)', () => {
  const split = splitClaimAnswer([
    Buffer.from('{"task":{"id":"a","type":"echo","payload":{"a":tru}}}'),
  ]);
  assert.equal(Buffer.concat(split?.payloadJson ?? []).toString(), '{"a":tru}');
});

test('answers of another layout are left whole', () => {
  for (const text of [
    '{}',
    '[]',
    '{"task":[1]}',
    '{"task":{"id":"a"}}',
    '{"task":{"payload":"x}',
    'null',
  ]) {
    assert.equal(splitClaimAnswer([Buffer.from(text)]), undefined, text);
  }
});
