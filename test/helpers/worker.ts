/**
 * Starts real worker processes (the fixture entry: the real worker plus failure-mode tasks) with
 * settings shrunk so tests never wait on real poll intervals.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURE_ENTRY = fileURLToPath(new URL('../fixtures/entry.ts', import.meta.url));

/** Fast settings for tests; any can be overridden per worker. */
export const FAST_SETTINGS: Record<string, string> = {
  HIVE_NO_TASK_SLEEP: '0.05',
  HIVE_TIME_ERROR_SLEEP: '0.05',
  HIVE_MAX_ERROR_SLEEP: '0.5',
  HIVE_WAIT_SEC: '0',
  HIVE_KILL_GRACE: '0.5',
  HIVE_SHUTDOWN_GRACE: '5',
  HIVE_TASK_MAX_HEAP: '64',
  HIVE_REQUEST_TIMEOUT: '5',
  HIVE_CONNECT_TIMEOUT: '2',
};

export interface WorkerProcess {
  child: ChildProcess;
  dataDir: string;
  /** Everything the worker printed so far (stdout + stderr). */
  output(): string;
  /** The JSON lines of the worker's log file. */
  logLines(): Array<Record<string, unknown> & { msg: string; level: number }>;
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** `exited`, or a rejection (with the output so far) if the worker is still running after `ms`. */
  exitedWithin(ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartWorkerOptions {
  serverUrl: string;
  dataDir?: string;
  env?: Record<string, string>;
  args?: string[];
  /** The program to run: defaults to node + the fixture entry (source mode). */
  command?: { file: string; args: string[] };
  /** In a process group of its own, as a terminal runs it (to send a group-wide Ctrl+C). */
  detached?: boolean;
}

const tempDirs: string[] = [];

/**
 * A fresh folder under the system temp folder, removed when this test process exits (builds and
 * installs of real executables make some of them hundreds of MB). HIVE_KEEP_TEMP=1 keeps them,
 * to look into a failure.
 */
export function tempDir(prefix = 'hive-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (tempDirs.length === 0 && process.env.HIVE_KEEP_TEMP !== '1') {
    process.once('exit', () => {
      for (const one of tempDirs) {
        try {
          rmSync(one, { recursive: true, force: true });
        } catch {
          // Still in use (a mount point, a process that outlived its test): left for the OS.
        }
      }
    });
  }
  tempDirs.push(dir);
  return dir;
}

export function startWorker(options: StartWorkerOptions): WorkerProcess {
  const dataDir = options.dataDir ?? tempDir('hive-worker-');
  const command = options.command ?? { file: process.execPath, args: [FIXTURE_ENTRY] };
  const child = spawn(command.file, [...command.args, ...(options.args ?? [])], {
    env: {
      ...process.env,
      ...FAST_SETTINGS,
      HIVE_SERVER_URL: options.serverUrl,
      HIVE_DATA_DIR: dataDir,
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  let output = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    for (const wake of waiters) wake();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      for (const wake of waiters) wake();
      resolve({ code, signal });
    });
  });
  return {
    child,
    dataDir,
    exited,
    output: () => output,
    exitedWithin(ms) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`worker still running after ${ms} ms; output:\n${output}`)),
          ms,
        );
      });
      return Promise.race([exited, late]).finally(() => clearTimeout(timer));
    },
    logLines: () => readLogLines(dataDir),
    waitForOutput(pattern, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (pattern.test(output)) {
            cleanup();
            resolve();
          } else if (child.exitCode !== null || child.signalCode !== null) {
            cleanup();
            reject(new Error(`worker exited before printing ${pattern}; output:\n${output}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${pattern}; output:\n${output}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export function readLogLines(
  dataDir: string,
): Array<Record<string, unknown> & { msg: string; level: number }> {
  let text: string;
  try {
    text = readFileSync(join(dataDir, 'logs', 'worker.log'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line));
}
