import assert from 'node:assert/strict';
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { FolderSync, writeFileAtomic, writeFileAtomicAsync } from '../../src/platform/fs-atomic.ts';
import { tempDir } from '../helpers/worker.ts';

/** The synchronous write and its async sibling take the same steps: the same cases for both. */
const writers = {
  writeFileAtomic: async (...args: Parameters<typeof writeFileAtomic>) => writeFileAtomic(...args),
  writeFileAtomicAsync,
};

for (const [name, write] of Object.entries(writers)) {
  describe(name, () => {
    test('writes the whole content, replaces the old, leaves no temp file', async () => {
      const dir = tempDir();
      const file = join(dir, 'a.json');
      await write(file, 'first');
      await write(file, new TextEncoder().encode('second, longer'));
      await write(join(dir, 'b.json'), 'not fsynced', { durable: false });
      assert.equal(readFileSync(file, 'utf8'), 'second, longer');
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.deepEqual(readdirSync(dir).sort(), ['a.json', 'b.json']);
    });

    test('a rename that fails removes the temp file and throws', async () => {
      const dir = tempDir();
      const target = join(dir, 'taken');
      mkdirSync(target);
      writeFileSync(join(target, 'inside'), 'x');
      await assert.rejects(write(target, 'data'), { syscall: 'rename' });
      assert.deepEqual(readdirSync(dir), ['taken']);
    });

    test('a folder that cannot be written to: the open fails, nothing is left', async () => {
      const dir = tempDir();
      writeFileSync(join(dir, 'file'), 'x');
      await assert.rejects(write(join(dir, 'file', 'a.json'), 'data'), { code: 'ENOTDIR' });
      assert.deepEqual(readdirSync(dir), ['file']);
    });
  });
}

describe('FolderSync', () => {
  /** Descriptors this process holds on `dir` now (Linux: /proc/self/fd). */
  const heldOn = (dir: string) =>
    readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === dir;
      } catch {
        return false; // the descriptor readdir itself used, closed since
      }
    }).length;

  test('opens the folder once for many fsyncs, and lets it go on close', async () => {
    const dir = tempDir();
    const told: string[] = [];
    const folder = new FolderSync(dir, (what) => told.push(what));
    assert.equal(heldOn(dir), 0);
    await folder.sync();
    await folder.sync();
    await folder.sync();
    assert.equal(heldOn(dir), 1, 'one descriptor, kept between fsyncs');
    assert.deepEqual(told, ['folder', 'folder', 'folder']);
    folder.close();
    assert.equal(heldOn(dir), 0, 'closed');
    await folder.sync();
    assert.equal(heldOn(dir), 1, 'opened again by a sync after close');
    folder.close();
  });

  test('a folder that is gone: its sync fails, as an fsync would', async () => {
    const dir = join(tempDir(), 'missing');
    const folder = new FolderSync(dir);
    await assert.rejects(folder.sync(), /ENOENT/);
    folder.close();
  });
});
