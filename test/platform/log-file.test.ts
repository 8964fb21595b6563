/** The rotating log file: size-based rotation, the number of files kept, and failures that never throw. */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { RotatingLogFile } from '../../src/platform/log-file.ts';
import { tempDir } from '../helpers/worker.ts';

const line = (n: number) => `${JSON.stringify({ n, msg: 'x'.repeat(80) })}\n`;

describe('RotatingLogFile', () => {
  test('rotates at maxBytes and keeps `files` files, newest in worker.log.1', () => {
    const dir = tempDir();
    const path = join(dir, 'logs', 'worker.log');
    const file = new RotatingLogFile({ path, maxBytes: 1000, files: 3 });
    for (let n = 0; n < 60; n++) file.write(line(n));
    file.end();
    assert.deepEqual(readdirSync(join(dir, 'logs')).sort(), [
      'worker.log',
      'worker.log.1',
      'worker.log.2',
    ]);
    for (const name of ['worker.log', 'worker.log.1', 'worker.log.2']) {
      assert.ok(statSync(join(dir, 'logs', name)).size <= 1000, `${name} ≤ maxBytes`);
    }
    const numbers = (name: string) =>
      readFileSync(join(dir, 'logs', name), 'utf8')
        .trim()
        .split('\n')
        .map((text) => (JSON.parse(text) as { n: number }).n);
    const [current, previous, oldest] = ['worker.log', 'worker.log.1', 'worker.log.2'].map(numbers);
    assert.equal(current?.at(-1), 59, 'the last line is in worker.log');
    assert.equal(
      (previous?.at(-1) ?? 0) + 1,
      current?.[0],
      'worker.log.1 ends where worker.log starts',
    );
    assert.equal((oldest?.at(-1) ?? 0) + 1, previous?.[0]);
  });

  test('appends to an existing file and counts its size', () => {
    const dir = tempDir();
    const path = join(dir, 'worker.log');
    writeFileSync(path, 'y'.repeat(950));
    const file = new RotatingLogFile({ path, maxBytes: 1000, files: 2 });
    file.write(line(1));
    file.end();
    assert.equal(readFileSync(`${path}.1`, 'utf8'), 'y'.repeat(950));
    assert.equal(readFileSync(path, 'utf8'), line(1));
  });

  test('files: 1 starts the file over; a line longer than maxBytes still goes in whole', () => {
    const path = join(tempDir(), 'worker.log');
    const file = new RotatingLogFile({ path, maxBytes: 100, files: 1 });
    file.write(line(1));
    file.write(line(2));
    file.end();
    assert.equal(readFileSync(path, 'utf8'), line(2));
  });

  test('a rotation that cannot rename never throws: it says so once and starts the file over', () => {
    const dir = tempDir();
    const path = join(dir, 'worker.log');
    mkdirSync(`${path}.2`); // a folder where the oldest file goes: removing it fails
    mkdirSync(join(`${path}.2`, 'keep'));
    const problems: string[] = [];
    const file = new RotatingLogFile({
      path,
      maxBytes: 200,
      files: 3,
      onError: (m) => problems.push(m),
    });
    for (let n = 0; n < 10; n++) file.write(line(n));
    file.end();
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? '', /cannot rotate the log file .*worker\.log: .*; it starts over/);
    assert.ok(statSync(path).size <= 200);
  });
});
