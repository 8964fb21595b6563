/** Reading an outbox file's text back (decodeEntry, src/results/entry-file.ts): the body's exact text. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeEntry } from '../../src/results/entry-file.ts';

const BODY = {
  workerId: 'w-1',
  resultId: 'r-1',
  workerVersion: '1.0.0',
  status: 'succeeded',
  output: { b: 1, a: [2, 'é'] },
  error: null,
  attempt: 1,
  startedAt: '2026-12-07T10:00:00.000Z',
  finishedAt: '2026-12-07T10:00:01.000Z',
};
const BODY_TEXT = JSON.stringify(BODY);

describe('decodeEntry', () => {
  const kept: [string, string, string][] = [
    [
      'the body last: its own text',
      `{"taskId":"t-1","storedAt":"s","body":${BODY_TEXT}}`,
      BODY_TEXT,
    ],
    [
      'the body last, its text not as JSON.stringify would write it: kept as it is',
      `{"taskId":"t-1","storedAt":"s","body":${BODY_TEXT.replace('"b":1', '"b":1.0')}}`,
      BODY_TEXT.replace('"b":1', '"b":1.0'),
    ],
    [
      'a task id that spells `"body":` (escaped in the text): still the body key',
      `{"taskId":${JSON.stringify('"body":{}')},"storedAt":"s","body":${BODY_TEXT}}`,
      BODY_TEXT,
    ],
    [
      'a file from before (body not last): encoded again',
      `{"taskId":"t-1","body":${BODY_TEXT},"storedAt":"s"}`,
      BODY_TEXT,
    ],
    [
      'whitespace after the key: encoded again',
      `{"taskId":"t-1","storedAt":"s","body": ${BODY_TEXT}}`,
      BODY_TEXT,
    ],
  ];
  for (const [name, text, json] of kept) {
    test(name, () => {
      const entry = decodeEntry(text);
      assert.equal(entry.body.status, 'succeeded');
      assert.deepEqual(entry.body, { resultId: 'r-1', status: 'succeeded', json });
      assert.equal(entry.storedAt, 's');
    });
  }

  const refused: [string, string, RegExp | typeof SyntaxError][] = [
    ['not JSON', '{"taskId":', SyntaxError],
    ['no task id', `{"storedAt":"s","body":${BODY_TEXT}}`, /taskId/],
    [
      'a status the protocol has not',
      `{"taskId":"t","storedAt":"s","body":${BODY_TEXT.replace('succeeded', 'exploded')}}`,
      /status/,
    ],
    ['a body without its fields', '{"taskId":"t","storedAt":"s","body":{}}', /resultId/],
  ];
  for (const [name, text, expected] of refused) {
    test(`throws: ${name}`, () => {
      assert.throws(() => decodeEntry(text), expected);
    });
  }
});
