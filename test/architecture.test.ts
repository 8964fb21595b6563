/**
 * The house's rules (docs/architecture.md), checked on the source itself: imports go one way
 * between the parts, no module imports itself back through others, and tasks/ reach the worker
 * only through the task contract. A failure names the import to move.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const ROOT = resolve(import.meta.dirname, '..');

/**
 * What each part may import (besides itself and npm/node modules). Top-level files of src/ are the
 * entry: they wire the parts. `settings/` is the config edge every part takes its values from.
 */
const ALLOWED: Record<string, readonly string[]> = {
  'src/main.ts': ['src/entry.ts', 'src/config.ts'],
  'src/entry.ts': ['task', 'cli', 'platform'],
  'src/app.ts': ['*'],
  'src/config.ts': ['task', 'tasks'],
  'src/build-info.ts': ['src/config.ts', 'build.config.json'],
  settings: ['src/config.ts', 'wire', 'platform'],
  cli: [
    'src/app.ts',
    'src/build-info.ts',
    'settings',
    'loop',
    'results',
    'update',
    'task',
    'wire',
    'platform',
  ],
  loop: ['settings', 'results', 'task', 'wire', 'platform'],
  update: ['settings', 'wire', 'platform'],
  results: ['wire', 'platform'],
  task: ['wire', 'platform'],
  wire: ['platform'],
  platform: [],
  tasks: ['src/task/define.ts'],
};

function partOf(file: string): string {
  const inSrc = /^src\/([^/]+)\//.exec(file);
  if (inSrc?.[1] !== undefined) return inSrc[1];
  if (file.startsWith('tasks/')) return 'tasks';
  return file;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)).replaceAll('\\', '/'));
}

/** Relative specifiers of static imports, re-exports and dynamic imports. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const found = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^import\s+)'(\.{1,2}\/[^']+)'/gm)];
  return found.map((match) => {
    const target = resolve(ROOT, dirname(file), match[1] ?? '');
    return relative(ROOT, target).replaceAll('\\', '/');
  });
}

const FILES = [...sourceFiles('src'), ...sourceFiles('tasks')];
const GRAPH = new Map(FILES.map((file) => [file, importsOf(file)]));

test('imports between the parts go one way (docs/architecture.md)', () => {
  const wrong: string[] = [];
  for (const [file, targets] of GRAPH) {
    const from = partOf(file);
    const allowed = ALLOWED[from];
    assert.ok(allowed !== undefined, `${file}: part "${from}" has no row in ALLOWED`);
    for (const target of targets) {
      const to = partOf(target);
      if (to === from || allowed.includes('*')) continue;
      if (!allowed.includes(to) && !allowed.includes(target)) wrong.push(`${file} → ${target}`);
    }
  }
  assert.deepEqual(wrong, [], `imports against the direction of the parts:\n${wrong.join('\n')}`);
});

test('no import circles', () => {
  const circles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    path.push(file);
    for (const target of GRAPH.get(file) ?? []) {
      if (!GRAPH.has(target)) continue;
      if (state.get(target) === 'open') {
        circles.push([...path.slice(path.indexOf(target)), target].join(' → '));
      } else if (state.get(target) === undefined) {
        visit(target);
      }
    }
    path.pop();
    state.set(file, 'done');
  };
  for (const file of GRAPH.keys()) if (state.get(file) === undefined) visit(file);
  assert.deepEqual(circles, [], `import circles:\n${circles.join('\n')}`);
});

test('the checks above see real imports (a guard against a regex that matches nothing)', () => {
  assert.ok(GRAPH.get('src/main.ts')?.includes('src/entry.ts'));
  assert.ok(GRAPH.get('src/app.ts')?.some((target) => target.startsWith('src/loop/')));
  assert.ok(FILES.length > 40, `only ${FILES.length} files found`);
});
