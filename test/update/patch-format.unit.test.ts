/** The base windows a patch's chunks are decoded against (BaseWindows, src/update/patch-format.ts). */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { BaseWindows, baseWindow, chunkCount } from '../../src/update/patch-format.ts';

const dir = mkdtempSync(join(tmpdir(), 'hive-base-windows-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Every chunk's window of a `size`-byte new file against `base`, as applyPatch reads them. */
function readAll(base: Buffer, size: number, chunkBytes: number, marginBytes: number) {
  const file = join(dir, `base-${base.length}`);
  writeFileSync(file, base);
  const fd = openSync(file, 'r');
  try {
    const make = { chunkBytes, marginBytes, baseSize: base.length };
    const windowBytes = Math.min(base.length, chunkBytes + 2 * marginBytes);
    const windows = new BaseWindows(
      fd,
      Buffer.alloc(Math.min(base.length, windowBytes + chunkBytes)),
    );
    for (let index = 0; index < chunkCount(size, chunkBytes); index++) {
      const want = baseWindow(make, index);
      assert.ok(
        windows.read(want).equals(base.subarray(want.start, want.end)),
        `chunk ${index}: bytes ${want.start}–${want.end}`,
      );
    }
  } finally {
    closeSync(fd);
  }
}

describe('BaseWindows', () => {
  test('each chunk gets exactly its slice of the base, ± the margin', () => {
    readAll(randomBytes(10_000), 10_000, 1000, 1000);
  });

  test('a new file longer than its base: the windows past the base are empty, then short', () => {
    readAll(randomBytes(3500), 9000, 1000, 500);
  });

  test('a new file shorter than its base, and no margin', () => {
    readAll(randomBytes(9000), 2500, 1000, 0);
  });

  test('a base smaller than one window', () => {
    readAll(randomBytes(700), 5000, 1000, 1000);
  });

  test('any window, in any order: back, forward, overlapping, past what it holds', () => {
    const base = randomBytes(5000);
    const file = join(dir, 'any-order');
    writeFileSync(file, base);
    const fd = openSync(file, 'r');
    try {
      const windows = new BaseWindows(fd, Buffer.alloc(1500));
      const wants = [
        [0, 1000],
        [200, 1500],
        [100, 900],
        [1400, 2900],
        [4000, 5000],
        [3900, 4100],
        [4100, 4100],
        [0, 1500],
      ];
      for (const [start = 0, end = 0] of wants)
        assert.ok(
          windows.read({ start, end }).equals(base.subarray(start, end)),
          `${start}–${end}`,
        );
      assert.throws(() => windows.read({ start: 0, end: 1501 }), /larger than its buffer/);
    } finally {
      closeSync(fd);
    }
  });

  test('a base that ends early is refused', () => {
    const file = join(dir, 'short');
    writeFileSync(file, randomBytes(100));
    const fd = openSync(file, 'r');
    try {
      const windows = new BaseWindows(fd, Buffer.alloc(1000));
      assert.throws(() => windows.read({ start: 50, end: 500 }), /ended early/);
    } finally {
      closeSync(fd);
    }
  });
});
