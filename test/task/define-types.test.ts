/**
 * Type safety of the task contract: a `run` whose argument does not match the payload schema does
 * not compile — in defineTask, or put in a registry with `satisfies TaskRegistry` — and the
 * matching versions do. Runs the project's own tsc (TypeScript 7, native) on small files.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
/** tsc's JS launcher, run with this Node: no shell, no .cmd shim on Windows. */
const TSC = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
const href = (path: string) => join(REPO, path).replaceAll('\\', '/');

/** Imports as the files in the temporary folder write them: absolute paths into the repository. */
const IMPORTS = `import * as z from 'zod';
import { defineTask, type TaskRegistry } from '${href('src/task/define.ts')}';
import { prom_pars } from '${href('tasks/prom_pars.ts')}';
import { sleep } from '${href('tasks/sleep.ts')}';
`;

/** Each line that must not compile, with what tsc must say about it. */
const MUST_FAIL: { code: string; error: RegExp }[] = [
  {
    code: `export const wrongArg = defineTask({ name: 'x', payload: z.object({ n: z.number() }), run: ({ n }: { n: string }) => n });`,
    error: /Type 'number' is not assignable to type 'string'/,
  },
  {
    code: `export const missingField = defineTask({ name: 'x', payload: z.object({ n: z.number() }), run: ({ m }: { m: number }) => m });`,
    error: /Property 'm' is missing/,
  },
  {
    code: `export const unusedField = defineTask({ name: 'x', payload: z.object({ n: z.number() }), run: ({ n }) => n.toUpperCase() });`,
    error: /Property 'toUpperCase' does not exist on type 'number'/,
  },
  {
    code: `export const inlineEntry = { x: { name: 'x', payload: z.object({ n: z.number() }), run: ({ n }: { n: string }) => n } } satisfies TaskRegistry;`,
    error: /is not assignable to type '\(payload: unknown, ctx: TaskContext\) => unknown'/,
  },
  {
    code: `export const swappedSchema = { mixed: { ...sleep, payload: prom_pars.payload } } satisfies TaskRegistry;`,
    error: /Types of property 'run' are incompatible/,
  },
  {
    code: `export const borrowedRun = { mixed: { name: 'm', payload: prom_pars.payload, run: sleep.run } } satisfies TaskRegistry;`,
    error: /is not assignable to type '\(payload: unknown, ctx: TaskContext\) => unknown'/,
  },
  {
    code: `export const notATask = { x: { name: 'x' } } satisfies TaskRegistry;`,
    error: /missing the following properties .*: payload, run/,
  },
];

const MUST_COMPILE = `${IMPORTS}
export const double = defineTask({
  name: 'double',
  payload: z.object({ n: z.number(), label: z.string().default('n') }),
  run: ({ n, label }, ctx) => {
    ctx.log.info(label.toUpperCase());
    return { doubled: n * 2 };
  },
});
export const REGISTRY = { double, sleep, prom_pars } satisfies TaskRegistry;
`;

let folder = '';
before(() => {
  folder = mkdtempSync(join(tmpdir(), 'hive-types-'));
  symlinkSync(join(REPO, 'node_modules'), join(folder, 'node_modules'), 'junction');
  writeFileSync(join(folder, 'package.json'), JSON.stringify({ type: 'module' }));
  for (const name of ['good', 'bad']) {
    writeFileSync(
      join(folder, `tsconfig.${name}.json`),
      JSON.stringify({ extends: join(REPO, 'tsconfig.json'), include: [`${name}.ts`] }),
    );
  }
  writeFileSync(join(folder, 'good.ts'), MUST_COMPILE);
  writeFileSync(
    join(folder, 'bad.ts'),
    `${IMPORTS}${MUST_FAIL.map(({ code }) => code).join('\n')}\n`,
  );
});
after(() => rmSync(folder, { recursive: true, force: true }));

function tsc(project: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const args = [TSC, '-p', join(folder, project)];
    execFile(process.execPath, args, { encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

test('a run() that does not match its schema does not compile; the matching one does', async () => {
  const [good, bad] = await Promise.all([tsc('tsconfig.good.json'), tsc('tsconfig.bad.json')]);
  assert.equal(good.code, 0, `the matching version compiles:\n${good.output}`);
  assert.notEqual(bad.code, 0, 'the mismatched versions do not compile');
  const firstLine = IMPORTS.split('\n').length;
  const errorLines = new Set(
    [...bad.output.matchAll(/bad\.ts\((\d+),\d+\): error TS\d+/g)].map((match) => Number(match[1])),
  );
  for (const [index, { code, error }] of MUST_FAIL.entries()) {
    const line = firstLine + index;
    assert.ok(errorLines.has(line), `tsc reports line ${line}: ${code}\n${bad.output}`);
    const messages = bad.output
      .split(/\n(?=\S)/)
      .filter((block) => block.includes(`bad.ts(${line},`));
    assert.match(messages.join('\n'), error, `the error about line ${line} says why`);
  }
  assert.equal(errorLines.size, MUST_FAIL.length, `only those lines fail:\n${bad.output}`);
});
