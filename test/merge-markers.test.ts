/**
 * No tracked file keeps a merge's conflict markers: in a comment or a document they pass lint and
 * the type checker unseen (two did, in src/platform/folder-trust.ts and docs/performance.md).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';

const ROOT = resolve(import.meta.dirname, '..');
const MARKER = /^(<{7} |>{7} |={7}$)/m;
const BINARY = /\.(png|jpe?g|gif|ico|zip|gz|zst|exe|node|woff2?)$/i;

test('no tracked file holds merge conflict markers', () => {
  const files = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' })
    .split('\0')
    .filter((file) => file !== '' && !BINARY.test(file));
  assert.ok(files.length > 100, `git ls-files listed ${files.length} files`);
  const marked = files.filter((file) => {
    try {
      return MARKER.test(readFileSync(join(ROOT, file), 'utf8'));
    } catch {
      return false; // listed but not in the work tree (a deletion not yet committed)
    }
  });
  assert.deepEqual(marked, [], 'resolve the conflict these files still mark');
});
