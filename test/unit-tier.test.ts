/**
 * The unit tier's rule (README, "Tests"): a `*.unit.test.ts` runs in-process — no server, no
 * child process, no build. Checked on the imports each one reaches (type-only imports aside): none
 * may load a module that starts processes or listens (node:child_process, node:http, …).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const ROOT = resolve(import.meta.dirname, '..');

/** Node modules a unit test must not reach: they start processes, threads or servers. */
const FORBIDDEN = [
  'child_process',
  'cluster',
  'worker_threads',
  'http',
  'https',
  'http2',
  'net',
  'tls',
  'dgram',
];

/** The specifiers a file loads when run: static imports and re-exports, dynamic imports. */
function loadedSpecifiers(text: string): string[] {
  const statics = [...text.matchAll(/^(?:import|export)\s+(?!type\s)[^;]*?from\s+'([^']+)'/gms)];
  const bare = [...text.matchAll(/^import\s+'([^']+)'/gm)];
  const dynamic = [...text.matchAll(/\bimport\s*\(\s*'([^']+)'\s*\)/g)];
  return [...statics, ...bare, ...dynamic].map((match) => match[1] ?? '');
}

function isForbidden(specifier: string): boolean {
  return FORBIDDEN.includes(specifier.replace(/^node:/, '').split('/')[0] ?? '');
}

/** Every forbidden module `file` reaches through relative imports, as `via → module` lines. */
function forbiddenReach(file: string): string[] {
  const found: string[] = [];
  const seen = new Set<string>();
  const visit = (path: string, trail: string[]): void => {
    if (seen.has(path)) return;
    seen.add(path);
    for (const specifier of loadedSpecifiers(readFileSync(path, 'utf8'))) {
      if (isForbidden(specifier)) found.push([...trail, specifier].join(' → '));
      if (!specifier.startsWith('.')) continue;
      const target = resolve(dirname(path), specifier);
      if (existsSync(target) && target.endsWith('.ts')) {
        visit(target, [...trail, relative(ROOT, target)]);
      }
    }
  };
  visit(file, [relative(ROOT, file)]);
  return found;
}

const UNIT_FILES = readdirSync(join(ROOT, 'test'), { withFileTypes: true, recursive: true })
  .filter((entry) => entry.isFile() && entry.name.endsWith('.unit.test.ts'))
  .map((entry) => join(entry.parentPath, entry.name));

test('unit tests reach no module that starts a process or a server', () => {
  const wrong = UNIT_FILES.flatMap(forbiddenReach);
  assert.deepEqual(wrong, [], `unit tests that reach past the unit tier:\n${wrong.join('\n')}`);
});

test('the check sees real imports (a guard against a rule that matches nothing)', () => {
  assert.ok(UNIT_FILES.length >= 5, `only ${UNIT_FILES.length} unit test files found`);
  // A helper that starts the reference server is caught through its imports.
  assert.ok(forbiddenReach(join(ROOT, 'test/helpers/server.ts')).length > 0);
  assert.ok(forbiddenReach(join(ROOT, 'src/task/pool.ts')).length > 0);
  assert.deepEqual(
    loadedSpecifiers(
      "import type { A } from 'node:http';\nimport { spawn } from 'node:child_process';\nexport { x } from './x.ts';\nawait import('node:net');",
    ),
    ['node:child_process', './x.ts', 'node:net'],
  );
});
