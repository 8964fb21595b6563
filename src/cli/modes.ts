/**
 * Picks the mode from argv — help, version, install/uninstall, status, or worker — and returns an
 * exit code (task processes never get here: src/entry.ts).
 * Exit codes: 0 done, 1 unexpected failure, 75 another worker holds the data folder,
 * 78 bad configuration (EX_CONFIG), 130 forced stop.
 */

import { BUILD_INFO } from '../build-info.ts';
import { consoleStream } from '../platform/console.ts';
import { pauseIfDoubleClicked } from '../platform/console-pause.ts';
import { installDir } from '../platform/data-dir.ts';
import { HiveError } from '../platform/errors.ts';
import { ConfigError, loadSettings, type Options, readToken } from '../settings/load.ts';
import { DEFAULTS } from '../settings/table.ts';
import type { LoadRegistry } from '../task/define.ts';
import { helpText } from './help.ts';

export const EXIT_CONFIG = 78;
export const EXIT_LOCKED = 75;

export interface CliIo {
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  exit: (code: number) => void;
  /** The terminal's width, when stdout is one: --help is wrapped to it. */
  columns?: number | undefined;
}

export async function runCli(loadRegistry: LoadRegistry, io: CliIo): Promise<number> {
  const install = installDir(BUILD_INFO.isExecutable);
  try {
    const { settings, options } = loadSettings({ argv: io.argv, env: io.env, installDir: install });
    if (options.help) {
      io.stdout(`${helpText(BUILD_INFO.version, io.columns)}\n`);
      return 0;
    }
    if (options.version) {
      io.stdout(`${BUILD_INFO.version}\n`);
      return 0;
    }
    if (options.install || options.uninstall) return await changeLoginStartMode(options, io);
    if (options.status) {
      // Read-only, no lock: works beside a running worker (src/cli/status-command.ts).
      const { printStatus } = await import('./status-command.ts');
      const input = { settings, version: BUILD_INFO.version, installDir: install, env: io.env };
      return printStatus({ ...input, json: options.json }, io.stdout);
    }
    if (options.requeueRejected) {
      const { requeueRejected } = await import('./requeue-command.ts');
      return requeueRejected({ settings, installDir: install, env: io.env }, io.stdout);
    }
    // Loaded only for worker mode: --version, --help and task processes start without undici/pino.
    const [{ runWorker }, registry] = await Promise.all([import('../app.ts'), loadRegistry()]);
    return await runWorker({
      settings,
      options,
      registry,
      env: io.env,
      installDir: install,
      forceExit: io.exit,
      readToken: () => readToken({ argv: io.argv, env: io.env, installDir: install }),
    });
  } catch (error) {
    // A script reading `--status --json` gets JSON whatever the settings say (exit code 78).
    if (error instanceof ConfigError && io.argv.includes('--status') && io.argv.includes('--json'))
      return await printStatusDespite(error, install, io);
    if (error instanceof ConfigError) {
      io.stderr(
        `hive-worker: bad configuration:\n${error.problems.map((line) => `  - ${line}`).join('\n')}\n`,
      );
      return EXIT_CONFIG;
    }
    if (error instanceof HiveError && (error.code === 'CONFIG' || error.code === 'LOCKED')) {
      io.stderr(`hive-worker: ${error.message}\n`);
      return error.code === 'LOCKED' ? EXIT_LOCKED : EXIT_CONFIG;
    }
    io.stderr(`hive-worker: unexpected failure: ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  }
}

/** `--status --json` with bad settings: what the valid ones (and the defaults) let it read. */
async function printStatusDespite(error: ConfigError, install: string, io: CliIo) {
  const { printStatus } = await import('./status-command.ts');
  const valid = error.validValues;
  const settings = {
    dataDir: valid.dataDir ?? String(DEFAULTS.DATA_DIR),
    serverUrl: valid.serverUrl ?? null,
    token: valid.token ?? '',
  };
  const input = { settings, version: BUILD_INFO.version, installDir: install, env: io.env };
  printStatus({ ...input, configProblems: error.problems, json: true }, io.stdout);
  return EXIT_CONFIG;
}

/**
 * `--install` / `--uninstall`: only from the executable, and with no settings as flags: the login
 * start runs it without flags, so they would silently not apply (worker.config.json instead).
 */
async function changeLoginStartMode(
  options: Pick<Options, 'install' | 'uninstall'>,
  io: CliIo,
): Promise<number> {
  const action = options.install ? 'install' : 'uninstall';
  const extra = io.argv.filter((arg) => !['--install', '--uninstall', '--no-pause'].includes(arg));
  const problem =
    options.install && options.uninstall
      ? '--install and --uninstall together: choose one'
      : extra.length > 0
        ? `--${action} takes no other arguments (got ${extra.join(' ')}): put settings in worker.config.json beside the executable`
        : !BUILD_INFO.isExecutable
          ? `--${action} works from the single executable only (npm run build); from source, start the worker with npm start`
          : undefined;
  if (problem !== undefined) {
    io.stderr(`hive-worker: ${problem}\n`);
    return EXIT_CONFIG;
  }
  const [{ changeLoginStart }, { runCommand }] = await Promise.all([
    import('./install.ts'),
    import('./login-start.ts'),
  ]);
  try {
    changeLoginStart(action, {
      executable: process.execPath,
      env: io.env,
      run: runCommand,
      say: (line) => io.stdout(`${line}\n`),
    });
    return 0;
  } catch (error) {
    if (!(error instanceof HiveError)) throw error;
    io.stderr(`hive-worker: ${error.message}\n`);
    return error.code === 'CONFIG' ? EXIT_CONFIG : 1;
  }
}

/** Runs the CLI on this process's argv and streams, and sets its exit code. */
export function runMain(loadRegistry: LoadRegistry): void {
  const argv = process.argv.slice(2);
  void runCli(loadRegistry, {
    argv,
    env: process.env,
    // Through src/platform/console.ts: a missing or broken console drops the text, never throws.
    stdout: (text) => consoleStream('stdout').write(text),
    stderr: (text) => consoleStream('stderr').write(text),
    exit: (code) => process.exit(code),
    columns: consoleStream('stdout').stream?.columns,
  }).then(async (code) => {
    // A double-clicked window must not close on the error before it can be read.
    if (code !== 0) await pauseIfDoubleClicked(argv);
    process.exitCode = code;
  });
}
