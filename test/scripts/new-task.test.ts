/**
 * `npm run new-task`: in a copy of the repository (node_modules linked), the generated task
 * compiles, passes Biome and its test passes at once; bad names are refused with a clear line and
 * leave every file as it was. Also the config.ts edit on the layouts Biome produces.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { boundNames, RegistryEditError, registerTask } from '../../scripts/new-task/register.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
/** What a checkout needs for new-task, tsc, Biome and the tests (node_modules is linked). */
const COPIED = [
  'src',
  'tasks',
  'scripts',
  'test',
  'bench',
  'build.config.json',
  'package.json',
  'tsconfig.json',
  'biome.json',
];
const COPIED_IF_THERE = ['build.config.json', '.gitignore'];
const run = promisify(execFile);
/** Without the test runner's marker, a nested `node --test` reports as if run by hand. */
const { NODE_TEST_CONTEXT: _marker, ...env } = process.env;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node args` in `cwd`; resolves with the exit code and output, whatever the code. */
async function nodeIn(cwd: string, args: string[]): Promise<Run> {
  try {
    const { stdout, stderr } = await run(process.execPath, args, {
      cwd,
      env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    const code = typeof failed.code === 'number' ? failed.code : -1;
    return { code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? String(error) };
  }
}

/** The tools' JS launchers, run with this Node: no shell, no .cmd shims on Windows. */
const TSC = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
const BIOME = join(REPO, 'node_modules', '@biomejs', 'biome', 'bin', 'biome');

describe('npm run new-task, in a copy of the repository', () => {
  let copy = '';
  let configBefore = '';
  const newTask = (...args: string[]) => nodeIn(copy, ['scripts/new-task.ts', ...args]);

  before(() => {
    copy = mkdtempSync(join(tmpdir(), 'hive-new-task-'));
    for (const entry of [...COPIED, ...COPIED_IF_THERE]) {
      if (COPIED.includes(entry) || existsSync(join(REPO, entry)))
        cpSync(join(REPO, entry), join(copy, entry), { recursive: true });
    }
    symlinkSync(join(REPO, 'node_modules'), join(copy, 'node_modules'), 'junction');
    configBefore = readFileSync(join(copy, 'src', 'config.ts'), 'utf8');
  });
  after(() => rmSync(copy, { recursive: true, force: true }));

  test('bad names are refused with one clear line each, and nothing is written', async () => {
    const cases: [string[], RegExp][] = [
      [[], /give the name of the new task/],
      [['a', 'b'], /give one task name, got 2: a b/],
      [[''], /the task name is empty/],
      [['Resize-Image'], /not a task name: use snake_case .* did you mean "resize_image"\?/],
      [['9lives'], /"9lives" is not a task name/],
      [['__proto__'], /"__proto__" is not a task name/],
      [['snake_Camel'], /not a task name.*did you mean "snake_camel"/],
      [['x'.repeat(65)], /65 characters long; keep it to 64/],
      [['class'], /"class" is a reserved word in JavaScript/],
      [['await'], /reserved word/],
      [['undefined'], /names a built-in a module must not redeclare/],
      [['constructor'], /"constructor" is a property of every object \(Object\.prototype\)/],
      [['toString'], /Object\.prototype/],
      [['process'], /would hide the global `process`/],
      [['z'], /a name the generated files already use/],
      [['describe'], /a name the generated files already use/],
      [['echo'], /a task named "echo" is already registered in TASK_REGISTRY/],
      [['prom_pars'], /already registered.*\n.*tasks\/prom_pars\.ts already exists/],
    ];
    const runs = await Promise.all(cases.map(([args]) => newTask(...args)));
    for (const [index, [args, message]] of cases.entries()) {
      const result = runs[index];
      assert.equal(result?.code, 2, `exit code for ${JSON.stringify(args)}: ${result?.stderr}`);
      assert.match(result?.stderr ?? '', message, JSON.stringify(args));
      assert.match(result?.stderr ?? '', /^new-task: /);
    }
    assert.equal(readFileSync(join(copy, 'src', 'config.ts'), 'utf8'), configBefore);
    assert.equal(existsSync(join(copy, 'tasks', 'resize_image.ts')), false);
  });

  test('the new tasks compile, pass Biome, and their tests pass at once', async () => {
    // The third name makes the registry too long for one line, so Biome wraps it; the fourth
    // is then added to the wrapped layout.
    const names = ['my_task', 'resizeImage', 'a_rather_long_task_name_that_wraps', 'fourth_task'];
    for (const name of names) {
      const made = await newTask(name);
      assert.equal(made.code, 0, `new-task ${name}: ${made.stdout}${made.stderr}`);
      assert.match(made.stdout, new RegExp(`created tasks/${name}\\.ts`));
      assert.match(made.stdout, new RegExp(`created test/tasks/${name}\\.test\\.ts`));
      assert.match(made.stdout, new RegExp(`registered ${name} in TASK_REGISTRY`));
    }
    const config = readFileSync(join(copy, 'src', 'config.ts'), 'utf8');
    assert.match(config, /export const TASK_REGISTRY = \{\n {2}echo,\n/, 'Biome wrapped it');
    for (const name of names) {
      assert.match(config, new RegExp(`^import \\{ ${name} \\} from '../tasks/${name}.ts';$`, 'm'));
      assert.match(config, new RegExp(`^ {2}${name},$`, 'm'));
    }
    const [typecheck, lint, tests] = await Promise.all([
      nodeIn(copy, [TSC, '-p', '.']),
      nodeIn(copy, [BIOME, 'check', '.']),
      nodeIn(copy, [
        '--test',
        '--test-reporter=tap',
        ...names.map((name) => `test/tasks/${name}.test.ts`),
      ]),
    ]);
    assert.equal(typecheck.code, 0, `tsc:\n${typecheck.stdout}${typecheck.stderr}`);
    assert.equal(lint.code, 0, `biome:\n${lint.stdout}${lint.stderr}`);
    assert.equal(tests.code, 0, `tests:\n${tests.stdout}${tests.stderr}`);
    assert.match(tests.stdout, /# pass 16\b/);

    const again = await newTask('my_task');
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already registered/);
  });
});

describe('registerTask: the edit of src/config.ts', () => {
  const header = `import { echo } from '../tasks/echo.ts';
import { sleep } from '../tasks/sleep.ts';
import type { TaskRegistry } from './task/define.ts';

/** Task type → task. */
`;

  test('a registry on one line', () => {
    const text = `${header}export const TASK_REGISTRY = { echo, sleep } satisfies TaskRegistry;\n`;
    assert.equal(
      registerTask(text, 'resize'),
      `import { echo } from '../tasks/echo.ts';
import { sleep } from '../tasks/sleep.ts';
import { resize } from '../tasks/resize.ts';
import type { TaskRegistry } from './task/define.ts';

/** Task type → task. */
export const TASK_REGISTRY = { echo, sleep, resize } satisfies TaskRegistry;\n`,
    );
  });

  test('one entry per line, with a trailing comma, a comment, and none', () => {
    for (const [body, expected] of [
      ['{\n  echo,\n  sleep,\n}', '{\n  echo,\n  sleep,\n  resize,\n}'],
      ['{\n  echo,\n  sleep // naps\n}', '{\n  echo,\n  sleep, // naps\n  resize,\n}'],
      ["{\n  echo,\n  'a}b': sleep,\n}", "{\n  echo,\n  'a}b': sleep,\n  resize,\n}"],
      ['{\n  // none yet\n}', '{\n  // none yet\n  resize,\n}'],
      ['{}', '{ resize }'],
    ]) {
      const text = `${header}export const TASK_REGISTRY: TaskRegistry = ${body};\n`;
      const edited = registerTask(text, 'resize');
      assert.ok(edited.endsWith(`= ${expected};\n`), `${body} → ${edited}`);
      assert.match(edited, /^import \{ resize \} from '..\/tasks\/resize.ts';$/m);
    }
  });

  test('fails clearly when there is no registry object to edit', () => {
    assert.throws(
      () => registerTask(`${header}export const TASKS = {};\n`, 'resize'),
      (error: Error) =>
        error instanceof RegistryEditError &&
        /could not find `export const TASK_REGISTRY/.test(error.message),
    );
    assert.throws(
      () => registerTask(`${header}export const TASK_REGISTRY = makeRegistry();\n`, 'resize'),
      /TASK_REGISTRY in src\/config.ts is not an object literal/,
    );
    assert.throws(
      () => registerTask(`${header}export const TASK_REGISTRY = { echo, sleep\n`, 'resize'),
      /has no closing brace/,
    );
  });

  test('boundNames lists what config.ts imports and declares', () => {
    const text = `import { a, b as c, type D } from 'x';
import e, { f } from 'y';
import * as g from 'z';
import {
  h,
} from '../tasks/h.ts';
export const H = 1;
function k() {}
`;
    assert.deepEqual([...boundNames(text)].sort(), ['D', 'H', 'a', 'c', 'e', 'f', 'g', 'h', 'k']);
  });
});
