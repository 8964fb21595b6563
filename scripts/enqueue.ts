/**
 * `npm run enqueue -- --type T [--payload JSON] [--count N] [--server URL] [--admin-token-file F]`:
 * puts N tasks of one type in a Hive reference server's queue through its admin API
 * (docs/server.md), printing each new task's id on a line of its own.
 * Exit codes: 0 all enqueued, 1 the server refused or could not be reached, 2 bad arguments.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { coerceError } from '../src/platform/errors.ts';
import { isWithinBounds, TASK_BOUNDS } from '../src/wire/protocol.ts';
import { createAdminClient } from './server/admin-client.ts';
import type { NewTask } from './server/store.ts';

const EXIT_REFUSED = 1;
const EXIT_USAGE = 2;
const MAX_COUNT = 100_000;

const USAGE = `usage: npm run enqueue -- --type <type> [options]

Puts tasks in the queue of a Hive reference server (npm run server) and prints their ids.
  --type <type>              task type, e.g. echo, sleep, prom_pars (required)
  --payload <json>           the payload of every task, JSON or @FILE to read it (default null)
  --count <n>                how many tasks (default 1)
  --server <url>             the server's API root (default http://127.0.0.1:8080/api/)
  --admin-token-file <file>  the server's admin token (the server's --admin-token-file);
                             HIVE_ADMIN_TOKEN from the environment otherwise
  --timeout-sec <s>          each task's timeout, set by the server (default: the worker's)
  --lease-sec <s>            each task's lease (default 60)
Exit codes: 0 enqueued, 1 the server refused or is unreachable, 2 bad arguments.
Example: npm run enqueue -- --type echo --payload '{"x":1}' --count 5`;

interface Plan {
  server: string;
  token: string | undefined;
  task: NewTask;
  count: number;
}

function parsePlan(args: string[]): Plan | 'help' {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      type: { type: 'string' },
      payload: { type: 'string' },
      count: { type: 'string', default: '1' },
      server: { type: 'string', default: 'http://127.0.0.1:8080/api/' },
      'admin-token-file': { type: 'string' },
      'timeout-sec': { type: 'string' },
      'lease-sec': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) return 'help';
  const problems: string[] = [];
  if (values.type === undefined || values.type === '') problems.push('Expected --type <type>');
  const count = Number(values.count);
  if (!Number.isInteger(count) || count < 1 || count > MAX_COUNT)
    problems.push(`Expected --count to be a whole number 1-${MAX_COUNT}, got "${values.count}"`);
  let server = values.server;
  try {
    server = new URL(server.endsWith('/') ? server : `${server}/`).href;
  } catch {
    problems.push(`Expected --server to be a URL like http://127.0.0.1:8080/api/, got "${server}"`);
  }
  const payload = readPayload(values.payload, problems);
  const seconds = (flag: string, field: keyof typeof TASK_BOUNDS) => {
    const raw = values[flag as 'timeout-sec' | 'lease-sec'];
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (raw.trim() === '' || !isWithinBounds(field, value)) {
      const { min, max } = TASK_BOUNDS[field];
      problems.push(`Expected --${flag} to be whole seconds ${min}-${max}, got "${raw}"`);
    }
    return value;
  };
  const timeoutSec = seconds('timeout-sec', 'timeoutSec');
  const leaseSec = seconds('lease-sec', 'leaseSec');
  const token = readToken(values['admin-token-file'], problems);
  if (problems.length > 0) throw new Error(problems.join('\n'));
  const task: NewTask = { type: values.type ?? '', payload };
  if (timeoutSec !== undefined) task.timeoutSec = timeoutSec;
  if (leaseSec !== undefined) task.leaseSec = leaseSec;
  return { server, token, task, count };
}

function readPayload(raw: string | undefined, problems: string[]): unknown {
  if (raw === undefined) return null;
  let text = raw;
  if (raw.startsWith('@')) {
    try {
      text = readFileSync(raw.slice(1), 'utf8');
    } catch (error) {
      problems.push(`Cannot read --payload ${raw}: ${coerceError(error).message}`);
      return null;
    }
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    problems.push(
      `Expected --payload to be JSON, got ${JSON.stringify(raw)}: ${coerceError(error).message}`,
    );
    return null;
  }
}

/** The admin token: the file's first non-comment line, else HIVE_ADMIN_TOKEN, else none. */
function readToken(file: string | undefined, problems: string[]): string | undefined {
  if (file === undefined) return process.env.HIVE_ADMIN_TOKEN || undefined;
  try {
    const lines = readFileSync(file, 'utf8')
      .split(/\r?\n/)
      .map((line) => line.trim());
    const token = lines.find((line) => line !== '' && !line.startsWith('#'));
    if (token === undefined) problems.push(`Expected --admin-token-file ${file} to hold a token`);
    return token;
  } catch (error) {
    problems.push(`Cannot read --admin-token-file ${file}: ${coerceError(error).message}`);
    return undefined;
  }
}

async function main(args: string[]): Promise<number> {
  let plan: Plan | 'help';
  try {
    plan = parsePlan(args);
  } catch (error) {
    console.error(`enqueue: ${coerceError(error).message}\n(see --help)`);
    return EXIT_USAGE;
  }
  if (plan === 'help') {
    console.log(USAGE);
    return 0;
  }
  const admin = createAdminClient(
    plan.server,
    plan.token === undefined ? {} : { token: plan.token },
  );
  for (let done = 0; done < plan.count; done += 1) {
    try {
      console.log((await admin.enqueue(plan.task)).id);
    } catch (error) {
      const { message, cause } = coerceError(error);
      // fetch's own message is "fetch failed"; its cause says why (e.g. ECONNREFUSED).
      const why = cause instanceof Error ? `${message}: ${cause.message}` : message;
      console.error(`enqueue: ${done} of ${plan.count} enqueued, then: ${why}`);
      return EXIT_REFUSED;
    }
  }
  console.error(`enqueue: ${plan.count} task(s) of type ${plan.task.type} in ${plan.server}`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
