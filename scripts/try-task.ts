/**
 * `npm run try-task -- <type> ['<json payload>'] [--timeout SEC]`: runs one task the way a real
 * worker does, locally. Starts the reference server in this process (127.0.0.1, a free port),
 * enqueues the task, runs one worker pass from source (src/main.ts --once, a temporary data
 * folder), prints the result — status, error, output, the task's log lines — and stops everything.
 * Exit codes: 0 the task succeeded, 1 it did not (or no result came back), 2 bad arguments.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { TASK_REGISTRY } from '../src/config.ts';
import { coerceError } from '../src/platform/errors.ts';
import { lookupTask } from '../src/task/define.ts';
import { isWithinBounds, type ResultBody, TASK_BOUNDS } from '../src/wire/protocol.ts';
import { createAdminClient } from './server/admin-client.ts';
import { startServer } from './server/start.ts';

const WORKER_ENTRY = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const EXIT_NOT_SUCCEEDED = 1;
const EXIT_USAGE = 2;

const USAGE = `usage: npm run try-task -- <type> ['<json payload>'] [--timeout SEC] [--quiet]

Runs one task through the reference server and one worker pass from source, then prints its
result. The payload is JSON ({} when left out), or @FILE to read it from a file.
  --timeout SEC  the task's timeout as the server sets it (wins over the task's own and TASK_TIMEOUT)
  --quiet        do not show the worker's own log lines
Exit codes: 0 the task succeeded, 1 it did not, 2 bad arguments.
Example: npm run try-task -- prom_pars '{"text": "up 1\\n"}'`;

const FLAGS = {
  timeout: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const;

interface Trial {
  type: string;
  payload: unknown;
  timeoutSec: number | undefined;
  quiet: boolean;
}

class UsageError extends Error {
  override readonly name = 'UsageError';
  /** Whether the whole usage text helps (wrong arguments), or the message says it all. */
  readonly showUsage: boolean;
  constructor(message: string, showUsage = false) {
    super(message);
    this.showUsage = showUsage;
  }
}

async function main(args: string[]): Promise<number> {
  let trial: Trial | 'help';
  try {
    trial = parseCommandLine(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`try-task: ${error.message}${error.showUsage ? `\n\n${USAGE}` : ''}`);
    return EXIT_USAGE;
  }
  if (trial === 'help') {
    console.log(USAGE);
    return 0;
  }
  const server = await startServer({ port: 0, leaseCheckMs: 100 });
  const dataDir = mkdtempSync(join(tmpdir(), 'hive-try-task-'));
  try {
    const admin = createAdminClient(server.url);
    const { id } = await admin.enqueue({
      id: `try-${trial.type}-${randomUUID().slice(0, 8)}`,
      type: trial.type,
      payload: trial.payload,
      timeoutSec: trial.timeoutSec,
    });
    console.error(`try-task: task ${id} (${trial.type}) on ${server.url}; one worker pass…`);
    const workerExit = await runWorkerPass(server.url, dataDir, trial.quiet);
    const body = (await admin.task(id)).results.at(-1)?.body;
    if (body === undefined) {
      console.error(
        `try-task: no result came back; the worker exited with ${workerExit} (its output is above)`,
      );
      return EXIT_NOT_SUCCEEDED;
    }
    console.log(describeResult(id, trial.type, body));
    return body.status === 'succeeded' ? 0 : EXIT_NOT_SUCCEEDED;
  } finally {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function parseCommandLine(args: string[]): Trial | 'help' {
  const { values, positionals } = parseFlags(args);
  if (values.help === true) return 'help';
  const [type, payloadText = '{}', ...extra] = positionals;
  if (type === undefined) throw new UsageError('give the task type to try', true);
  if (extra.length > 0) {
    throw new UsageError(
      `expected a type and one JSON payload, got ${positionals.length} arguments (quote the JSON for your shell)`,
      true,
    );
  }
  if (lookupTask(TASK_REGISTRY, type) === undefined) {
    throw new UsageError(
      `no task named ${JSON.stringify(type)} in TASK_REGISTRY (src/config.ts); it has: ${Object.keys(TASK_REGISTRY).join(', ')}`,
    );
  }
  return {
    type,
    payload: parsePayload(payloadText),
    timeoutSec: parseTimeout(values.timeout),
    quiet: values.quiet === true,
  };
}

function parseFlags(args: string[]) {
  try {
    return parseArgs({ args, allowPositionals: true, options: FLAGS });
  } catch (error) {
    throw new UsageError(coerceError(error).message, true);
  }
}

function parsePayload(text: string): unknown {
  let json = text;
  if (text.startsWith('@')) {
    try {
      json = readFileSync(text.slice(1), 'utf8');
    } catch (error) {
      throw new UsageError(`cannot read the payload file: ${coerceError(error).message}`);
    }
  }
  try {
    return JSON.parse(json);
  } catch (error) {
    throw new UsageError(
      `the payload is not JSON (${coerceError(error).message}): ${JSON.stringify(clip(json, 80))}`,
    );
  }
}

/** The task's timeoutSec as a server may send it: a whole number of seconds (protocol section 1). */
function parseTimeout(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const seconds = Number(text);
  const { min, max } = TASK_BOUNDS.timeoutSec;
  if (text.trim() === '' || !isWithinBounds('timeoutSec', seconds)) {
    throw new UsageError(
      `expected --timeout to be a whole number of seconds from ${min} to ${max}, got ${JSON.stringify(text)}`,
    );
  }
  return seconds;
}

/**
 * One pass of the real worker from source: claim the task, run it in a task process, report the
 * result, exit. Resolves with how the worker exited.
 */
function runWorkerPass(serverUrl: string, dataDir: string, quiet: boolean): Promise<string> {
  // An empty config file and no HIVE_TOKEN: a worker.config.json or token meant for a real server
  // must not apply here. Other HIVE_* settings (e.g. HIVE_KILL_GRACE) pass through.
  const configFile = join(dataDir, 'try-task.config.json');
  writeFileSync(configFile, '{}\n');
  const { HIVE_TOKEN: _token, HIVE_CONFIG: _config, ...env } = process.env;
  // Its own process group on POSIX, so one Ctrl+C reaches the worker once (forwarded below),
  // not twice — a second one would make it exit at once. Windows has no groups to mind.
  const detached = process.platform !== 'win32';
  const worker = spawn(process.execPath, [WORKER_ENTRY, '--once', '--config', configFile], {
    env: {
      ...env,
      HIVE_SERVER_URL: serverUrl,
      HIVE_DATA_DIR: dataDir,
      HIVE_WAIT_SEC: '1',
      // Ctrl+C stops the task at once (reported cancelled/SHUTDOWN) rather than after 30 s.
      HIVE_SHUTDOWN_GRACE: env.HIVE_SHUTDOWN_GRACE || '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached,
    windowsHide: true,
  });
  const show = (chunk: Buffer) => {
    if (!quiet) process.stderr.write(chunk.toString('utf8').replace(/^(?=.)/gm, '  worker │ '));
  };
  worker.stdout.on('data', show);
  worker.stderr.on('data', show);
  // Ctrl+C stops the worker the usual way, and the result is still printed.
  const forward = (signal: NodeJS.Signals) => {
    if (detached) worker.kill(signal);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise((resolve) => {
    worker.on('error', (error) => show(Buffer.from(`cannot start the worker: ${error.message}\n`)));
    worker.on('close', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(signal === null ? `code ${code}` : `signal ${signal}`);
    });
  });
}

function describeResult(id: string, type: string, body: ResultBody): string {
  const tookMs = Date.parse(body.finishedAt) - Date.parse(body.startedAt);
  const lines = [`\nresult of ${id} (${type}, attempt ${body.attempt}, ${tookMs} ms)`];
  lines.push(`status: ${body.status}`);
  if (body.error !== null) {
    lines.push(`error:  ${body.error.code}: ${body.error.message}`);
    // BAD_PAYLOAD's details repeat its message; others' (a crash's stderr, …) add to it.
    if (body.error.details !== undefined && body.error.code !== 'BAD_PAYLOAD')
      lines.push(`        ${JSON.stringify(body.error.details)}`);
  }
  lines.push(`output: ${JSON.stringify(body.output, null, 2).replace(/\n/g, '\n        ')}`);
  const logs = body.logs ?? [];
  const cut = body.logsTruncated === true ? ', the oldest cut' : '';
  lines.push(`logs:   ${logs.length === 0 ? '(none)' : `${logs.length} line(s)${cut}`}`);
  for (const line of logs) lines.push(`  ${clock(line.at)} ${line.level.padEnd(5)} ${line.msg}`);
  return lines.join('\n');
}

/** HH:MM:SS.mmm in local time, as the worker's console shows times. */
function clock(iso: string): string {
  const at = new Date(iso);
  const pad = (value: number, width = 2) => String(value).padStart(width, '0');
  return `${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}.${pad(at.getMilliseconds(), 3)}`;
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`try-task failed: ${coerceError(error).stack}`);
    process.exitCode = EXIT_NOT_SUCCEEDED;
  },
);
