/**
 * `npm run new-task -- <name>`: writes tasks/<name>.ts (a working task from a template) and
 * test/tasks/<name>.test.ts, registers the task in TASK_REGISTRY (src/config.ts) and formats the
 * three files with Biome. The result compiles and its test passes at once.
 * Exit codes: 0 done, 1 a step failed, 2 a bad name or bad arguments (nothing written).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { coerceError } from '../src/platform/errors.ts';
import { taskNameProblems } from './new-task/names.ts';
import { boundNames, RegistryEditError, registerTask } from './new-task/register.ts';
import { SAMPLE_PAYLOAD, taskSource, testSource } from './new-task/templates.ts';

/** The repository this script belongs to (not the current folder). */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CONFIG_FILE = join(ROOT, 'src', 'config.ts');

const USAGE = `usage: npm run new-task -- <name>

Writes tasks/<name>.ts and test/tasks/<name>.test.ts, and registers the task in TASK_REGISTRY
(src/config.ts). <name> is the task type the server sends: snake_case (resize_image) or
camelCase (resizeImage). See docs/adding-a-task.md.`;

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

async function main(args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(args);
  } catch (error) {
    console.error(`new-task: ${coerceError(error).message}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (parsed.help) {
    console.log(USAGE);
    return 0;
  }
  const { name } = parsed;
  const configText = readFileSync(CONFIG_FILE, 'utf8');
  const problems = taskNameProblems(name);
  if (problems.length === 0) problems.push(...(await conflicts(name, configText)));
  if (problems.length > 0) {
    for (const problem of problems) console.error(`new-task: ${problem}`);
    return EXIT_USAGE;
  }

  let registered: string;
  try {
    registered = registerTask(configText, name);
  } catch (error) {
    if (!(error instanceof RegistryEditError)) throw error;
    console.error(
      `new-task: ${error.message}; nothing was written. Register the task by hand: import it ` +
        `(import { ${name} } from '../tasks/${name}.ts';) and add ${name} to TASK_REGISTRY.`,
    );
    return EXIT_FAILED;
  }
  const [taskPath, testPath] = newFiles(name);
  const taskFile = join(ROOT, taskPath);
  const testFile = join(ROOT, testPath);
  mkdirSync(join(ROOT, 'test', 'tasks'), { recursive: true });
  // 'wx': never overwrite a file that appeared since the checks above.
  writeFileSync(taskFile, taskSource(name), { flag: 'wx' });
  writeFileSync(testFile, testSource(name), { flag: 'wx' });
  writeFileSync(CONFIG_FILE, registered);
  console.log(`created ${taskPath}\ncreated ${testPath}`);
  console.log(`registered ${name} in TASK_REGISTRY (src/config.ts)`);

  const formatted = formatWithBiome([taskFile, testFile, CONFIG_FILE]);
  if (!formatted.ok) {
    console.error(
      `new-task: the files are written, but Biome reports problems it could not fix:\n${formatted.output}`,
    );
    return EXIT_FAILED;
  }
  const payload = JSON.stringify(SAMPLE_PAYLOAD);
  console.log(`
next:
  edit tasks/${name}.ts (payload schema and run), and its test
  npx node --test test/tasks/${name}.test.ts
  npm run try-task -- ${name} '${payload}'
  the task contract: docs/adding-a-task.md`);
  return 0;
}

function parseCommandLine(args: string[]): { help: boolean; name: string } {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { help: { type: 'boolean', short: 'h' } },
  });
  if (values.help === true) return { help: true, name: '' };
  if (positionals.length !== 1) {
    throw new Error(
      positionals.length === 0
        ? 'give the name of the new task'
        : `give one task name, got ${positionals.length}: ${positionals.join(' ')}`,
    );
  }
  return { help: false, name: positionals[0] ?? '' };
}

/** The files new-task writes, relative to the repository. */
function newFiles(name: string): [task: string, test: string] {
  return [`tasks/${name}.ts`, `test/tasks/${name}.test.ts`];
}

/** What in the repository already uses `name`: the registry, config.ts's bindings, files. */
async function conflicts(name: string, configText: string): Promise<string[]> {
  const problems: string[] = [];
  const { TASK_REGISTRY } = (await import(pathToFileURL(CONFIG_FILE).href)) as {
    TASK_REGISTRY: Record<string, unknown>;
  };
  if (Object.hasOwn(TASK_REGISTRY, name)) {
    problems.push(`a task named "${name}" is already registered in TASK_REGISTRY (src/config.ts)`);
  } else if (boundNames(configText).has(name)) {
    problems.push(`src/config.ts already has something named "${name}" (an import or a constant)`);
  }
  for (const file of newFiles(name)) {
    if (existsSync(join(ROOT, file))) problems.push(`${file} already exists`);
  }
  return problems;
}

/** `biome check --write` on the files: sorts the imports, wraps lines, applies safe fixes. */
function formatWithBiome(files: string[]): { ok: boolean; output: string } {
  const biomePackage = createRequire(import.meta.url).resolve('@biomejs/biome/package.json');
  const biome = join(biomePackage, '..', 'bin', 'biome');
  const run = spawnSync(process.execPath, [biome, 'check', '--write', ...files], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  const output = `${run.stdout}${run.stderr}`.trim();
  if (run.error !== undefined) return { ok: false, output: run.error.message };
  return { ok: run.status === 0, output };
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`new-task failed: ${coerceError(error).stack}`);
    process.exitCode = EXIT_FAILED;
  },
);
