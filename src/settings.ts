/**
 * Settings: src/config.ts defaults < worker.config.json < HIVE_* environment < --flags.
 * Parsed once, at start, into a frozen object that the rest of the code takes as a parameter;
 * nothing below this module reads process.env. Users write seconds; the code carries `…Ms`.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as z from 'zod';
import * as config from './config.ts';
import { HiveError } from './platform/errors.ts';
import { MAX_TIMER_MS } from './platform/timers.ts';
import { chooseToken, type TokenCandidate } from './token.ts';
import { type ProxyConfig, resolveProxy } from './wire/proxy.ts';

/** The longest duration a timer holds (src/platform/timers.ts), in whole seconds: ≈ 24.8 days. */
const MAX_TIMER_SEC = Math.floor(MAX_TIMER_MS / 1000);
const seconds = (min: number, max = MAX_TIMER_SEC) =>
  z.coerce
    .number({ error: `a number of seconds ≥ ${min}` })
    .min(min, `a number of seconds ≥ ${min}`)
    .max(max, `a number of seconds ≤ ${max} (the longest a timer holds, ≈ 24.8 days)`);
const count = (min: number, max: number) =>
  z.coerce
    .number({ error: `a whole number from ${min} to ${max}` })
    .int(`a whole number from ${min} to ${max}`)
    .min(min, `a whole number from ${min} to ${max}`)
    .max(max, `a whole number from ${min} to ${max}`);
const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])], {
  error: 'true or false',
});
const url = z
  .string()
  .refine(
    (text) => URL.canParse(text) && /^https?:$/.test(new URL(text).protocol),
    'an http:// or https:// URL',
  );

/** Every user setting: its name in config.ts / worker.config.json, its schema and what it means. */
const SETTINGS = {
  SERVER_URL: { schema: url, help: 'root of the Hive API' },
  TOKEN: { schema: z.string({ error: 'a string' }), help: 'bearer token (never logged)' },
  TOKEN_FILE: {
    schema: z.string({ error: 'a file path' }),
    help: 'file holding the token (trimmed); read again after a 401/403',
  },
  NO_TASK_SLEEP: { schema: seconds(0), help: 'seconds to wait when there is no task' },
  TIME_ERROR_SLEEP: {
    schema: seconds(0.01),
    help: 'seconds to wait after an error (then doubling)',
  },
  MAX_ERROR_SLEEP: {
    schema: seconds(0.01),
    help: 'cap of the error backoff and of Retry-After, seconds',
  },
  WAIT_SEC: { schema: count(0, 300), help: 'long-poll seconds asked of the server (0 = off)' },
  CONCURRENCY: { schema: count(1, 64), help: 'tasks run at once, each in its own process' },
  WARM_START: { schema: bool, help: 'start the next task process while a task runs' },
  TASK_TIMEOUT: { schema: seconds(0.01), help: 'default task timeout, seconds' },
  KILL_GRACE: { schema: seconds(0), help: 'seconds from abort to kill of a task process' },
  SHUTDOWN_GRACE: { schema: seconds(0), help: 'seconds a running task may finish in at shutdown' },
  TASK_MAX_HEAP: {
    schema: count(0, 1_000_000),
    help: 'heap limit of a task process, MB (0 = Node default)',
  },
  MAX_RESULT_BYTES: {
    schema: count(1024, 1024 ** 3),
    help: 'largest task output reported, bytes of JSON',
  },
  CONNECT_TIMEOUT: { schema: seconds(0.01), help: 'seconds to connect to the server' },
  REQUEST_TIMEOUT: {
    schema: seconds(0.01),
    help: 'seconds of server silence before a request fails',
  },
  TCP_KEEPALIVE: { schema: bool, help: 'TCP keep-alive on server connections (off under Wine)' },
  PROXY: {
    schema: z.string({ error: 'a proxy URL, "direct" or ""' }),
    help: 'proxy URL for every request; "direct" = none; "" = HTTP(S)_PROXY/NO_PROXY',
  },
  DATA_DIR: {
    schema: z.string({ error: 'a folder path' }),
    help: 'data folder ("" = data/ beside the executable)',
  },
  LOG_LEVEL: {
    schema: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal'], {
      error: 'one of trace, debug, info, warn, error, fatal',
    }),
    help: 'log level',
  },
  LOG_MAX_SIZE: {
    schema: z.coerce
      .number({ error: 'a number of megabytes ≥ 0.01' })
      .min(0.01, 'a number of megabytes ≥ 0.01'),
    help: 'size of logs/worker.log before it is rotated, MB',
  },
  LOG_FILES: { schema: count(1, 100), help: 'log files kept, the current one included' },
  RESULT_RETENTION: {
    schema: seconds(0, Number.MAX_SAFE_INTEGER), // compared with dates, never a timer
    help: 'seconds a result is kept to answer re-deliveries',
  },
  OUTBOX_MAX: { schema: count(1, 1_000_000), help: 'most unsent results before claiming pauses' },
  UPDATE_CHECK_INTERVAL: { schema: seconds(1), help: 'seconds between release checks' },
  AUTO_UPDATE: { schema: bool, help: 'install newer signed releases (single executable only)' },
  UPDATE_RETRY_AFTER: {
    schema: seconds(0, Number.MAX_SAFE_INTEGER), // compared with dates, never a timer
    help: 'seconds a release that failed to install is skipped',
  },
  UPDATE_DOWNLOAD_TIMEOUT: {
    schema: seconds(1),
    help: 'overall deadline of one release download, seconds',
  },
  UPDATE_HEALTH_TIMEOUT: {
    schema: seconds(1),
    help: 'seconds a new version has to come up before rollback',
  },
} as const satisfies Record<string, { schema: z.ZodType; help: string }>;

type SettingName = keyof typeof SETTINGS;
/** config.ts as a plain object: the compiled defaults, looked up by setting name. */
const DEFAULTS: Readonly<Record<string, unknown>> = { ...config };
const isSecret = (name: SettingName) => name === 'TOKEN' || name === 'PROXY';
/** Which source wins (src/settings.ts order): a flag over the environment over the file. */
const SOURCE_RANK = { flag: 3, env: 2, file: 1, default: 0 } as const;
const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

export interface Settings {
  readonly serverUrl: string;
  /** TOKEN, or the content of TOKEN_FILE (src/token.ts says which wins); '' = none. */
  readonly token: string;
  /** Where the token came from, for the banner: 'TOKEN_FILE /etc/hive/token', 'TOKEN', or ''. */
  readonly tokenFrom: string;
  readonly noTaskSleepMs: number;
  readonly errorSleepMs: number;
  readonly maxErrorSleepMs: number;
  readonly waitSec: number;
  readonly concurrency: number;
  readonly warmStart: boolean;
  readonly taskTimeoutMs: number;
  readonly killGraceMs: number;
  readonly shutdownGraceMs: number;
  readonly taskMaxHeapMb: number;
  readonly maxResultBytes: number;
  readonly connectTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly tcpKeepAlive: boolean;
  /** PROXY, else the environment's HTTP_PROXY / HTTPS_PROXY / NO_PROXY (src/wire/proxy.ts). */
  readonly proxy: ProxyConfig;
  /** As configured; '' means "decide at start" (src/platform/data-dir.ts). */
  readonly dataDir: string;
  readonly logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  readonly logMaxBytes: number;
  readonly logFiles: number;
  readonly resultRetentionMs: number;
  readonly outboxMax: number;
  readonly updateCheckIntervalMs: number;
  readonly autoUpdate: boolean;
  readonly updateRetryAfterMs: number;
  readonly updateDownloadTimeoutMs: number;
  readonly updateHealthTimeoutSec: number;
}

/** Flags that are not settings. */
export interface Options {
  readonly help: boolean;
  readonly version: boolean;
  readonly once: boolean;
  readonly taskChild: boolean;
  /** `--install` / `--uninstall`: start at login, or no longer (src/cli/install.ts), then exit. */
  readonly install: boolean;
  readonly uninstall: boolean;
  /** `--status`: print what the worker in this data folder is doing, then exit (src/cli/status-command.ts). */
  readonly status: boolean;
  /** `--json`, with --status: the same as one JSON object. */
  readonly json: boolean;
  /** `--requeue-rejected`: refused results back in the outbox, then exit (src/cli/requeue-command.ts). */
  readonly requeueRejected: boolean;
  readonly configFile: string | undefined;
  /** The settings given as flags (and --config), as the HIVE_* variables that mean the same. */
  readonly carriedEnv: Readonly<Record<string, string>>;
  /**
   * Who restarts the worker after a self-update: `systemd` when the systemd user unit written by
   * `--install` started it (the unit sets HIVE_SUPERVISOR=systemd), else `none` — the updater
   * starts the new executable itself (src/cli/install-linux.ts, docs/updating.md "Started at login").
   */
  readonly supervisor: Supervisor;
}

export type Supervisor = 'none' | 'systemd';

export interface SettingsInput {
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  /** The folder worker.config.json is looked for in when --config is not given. */
  installDir: string;
}

export const envName = (name: SettingName) => `HIVE_${name}`;
export const flagName = (name: SettingName) => name.toLowerCase().replaceAll('_', '-');
export const CONFIG_FILE_NAME = 'worker.config.json';

const OPTION_FLAGS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
  once: { type: 'boolean' },
  'task-child': { type: 'boolean' },
  install: { type: 'boolean' },
  uninstall: { type: 'boolean' },
  // Read by cli.ts before settings (a bad setting is what it is for); listed so the parse accepts it.
  'no-pause': { type: 'boolean' },
  config: { type: 'string' },
  status: { type: 'boolean' },
  json: { type: 'boolean' },
  'requeue-rejected': { type: 'boolean' },
} as const;

export class ConfigError extends HiveError {
  readonly problems: string[];
  constructor(problems: string[]) {
    super('CONFIG', problems.join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

interface Sources {
  flags: Record<string, string | boolean | undefined>;
  configFile: string | undefined;
  /** The config file's path, whether or not it exists: a relative TOKEN_FILE in it is read from its folder. */
  configPath: string;
  fileValues: Record<string, unknown>;
}

/** Parses argv and reads the config file (problems go to `problems`; bad flags throw). */
function readSources(input: SettingsInput, problems: string[]): Sources {
  const flagOptions = Object.fromEntries(
    SETTING_NAMES.map((name) => [flagName(name), { type: 'string' as const }]),
  );
  let flags: Record<string, string | boolean | undefined>;
  try {
    flags = parseArgs({
      args: [...input.argv],
      options: { ...flagOptions, ...OPTION_FLAGS },
      strict: true,
    }).values;
  } catch (error) {
    throw new ConfigError([`${(error as Error).message}; see --help`]);
  }
  const configFile =
    typeof flags.config === 'string' ? flags.config : input.env.HIVE_CONFIG || undefined;
  const configPath = configFile ?? `${input.installDir}/${CONFIG_FILE_NAME}`;
  const fileValues = readConfigFile(configPath, configFile !== undefined, problems);
  return { flags, configFile, configPath, fileValues };
}

/** A setting's raw value and where it came from, by the order flag > env > file > default. */
function rawValue(
  name: SettingName,
  { flags, fileValues }: Sources,
  env: SettingsInput['env'],
): { raw: unknown; source: string; rank: keyof typeof SOURCE_RANK } {
  const flag = flags[flagName(name)];
  // An empty variable counts as unset (`HIVE_NO_TASK_SLEEP=` must not mean 0).
  const fromEnv = env[envName(name)] || undefined;
  if (flag !== undefined) return { raw: flag, source: `--${flagName(name)}`, rank: 'flag' };
  if (fromEnv !== undefined) return { raw: fromEnv, source: envName(name), rank: 'env' };
  if (Object.hasOwn(fileValues, name))
    return { raw: fileValues[name], source: CONFIG_FILE_NAME, rank: 'file' };
  return { raw: DEFAULTS[name], source: 'src/config.ts', rank: 'default' };
}

/** TOKEN and TOKEN_FILE as given (valid strings), for src/token.ts to choose from. */
function tokenCandidates(sources: Sources, input: SettingsInput): TokenCandidate[] {
  return (['TOKEN', 'TOKEN_FILE'] as const).flatMap((name) => {
    const { raw, source, rank } = rawValue(name, sources, input.env);
    if (typeof raw !== 'string' || raw.trim() === '') return [];
    // A relative TOKEN_FILE in the config file is beside it; given elsewhere, from the current folder.
    const base = rank === 'file' ? dirname(resolve(sources.configPath)) : process.cwd();
    return [
      name === 'TOKEN'
        ? { kind: 'token', value: raw, source, rank: SOURCE_RANK[rank] }
        : { kind: 'file', path: resolve(base, raw.trim()), source, rank: SOURCE_RANK[rank] },
    ];
  });
}

/**
 * The token as the sources say NOW: what the worker uses after a 401/403, so a token fixed in
 * worker.config.json or in TOKEN_FILE needs no restart. Throws a ConfigError when it cannot be
 * read (the caller logs it and keeps the token it has).
 */
export function readToken(input: SettingsInput): { token: string; from: string } {
  const problems: string[] = [];
  const sources = readSources(input, problems);
  const chosen = chooseToken(tokenCandidates(sources, input), problems);
  if (problems.length > 0 || chosen === undefined) throw new ConfigError(problems);
  return chosen;
}

/** Reads every source, validates every setting, and reports all problems at once. */
export function loadSettings(input: SettingsInput): { settings: Settings; options: Options } {
  const problems: string[] = [];
  const read = readSources(input, problems);
  const { flags, configFile } = read;
  // Flags as environment variables: what a restarted worker (after self-update) inherits.
  const carriedEnv: Record<string, string> =
    configFile === undefined ? {} : { HIVE_CONFIG: resolve(configFile) };

  const values: Partial<Record<SettingName, unknown>> = {};
  const sources: Partial<Record<SettingName, string>> = {};
  for (const name of SETTING_NAMES) {
    const flag = flags[flagName(name)];
    // A relative --token-file is from the current folder, which a restarted worker may not share.
    if (typeof flag === 'string')
      carriedEnv[envName(name)] = name === 'TOKEN_FILE' && flag !== '' ? resolve(flag) : flag;
    const { raw, source } = rawValue(name, read, input.env);
    sources[name] = source;
    const result = SETTINGS[name].schema.safeParse(raw);
    if (result.success) {
      values[name] = result.data;
    } else {
      const shown = isSecret(name) ? '(hidden)' : JSON.stringify(raw);
      const expected = result.error.issues[0]?.message ?? 'a valid value';
      problems.push(`Expected ${name} to be ${expected}, got ${shown} (from ${source})`);
    }
  }
  const proxy =
    typeof values.PROXY === 'string'
      ? resolveProxy({ value: values.PROXY, source: sources.PROXY ?? 'PROXY' }, input.env)
      : undefined;
  problems.push(...(proxy?.problems ?? []));
  const token =
    typeof values.TOKEN === 'string' && typeof values.TOKEN_FILE === 'string'
      ? chooseToken(tokenCandidates(read, input), problems)
      : undefined;
  const supervisor = readSupervisor(input.env, problems);
  if (problems.length > 0 || proxy === undefined || token === undefined)
    throw new ConfigError(problems);

  const v = values as { [K in SettingName]: z.output<(typeof SETTINGS)[K]['schema']> };
  const ms = (s: number) => Math.round(s * 1000);
  const settings: Settings = {
    serverUrl: v.SERVER_URL.endsWith('/') ? v.SERVER_URL : `${v.SERVER_URL}/`,
    token: token.token,
    tokenFrom: token.from,
    noTaskSleepMs: ms(v.NO_TASK_SLEEP),
    errorSleepMs: ms(v.TIME_ERROR_SLEEP),
    maxErrorSleepMs: ms(v.MAX_ERROR_SLEEP),
    waitSec: v.WAIT_SEC,
    concurrency: v.CONCURRENCY,
    warmStart: isTrue(v.WARM_START),
    taskTimeoutMs: ms(v.TASK_TIMEOUT),
    killGraceMs: ms(v.KILL_GRACE),
    shutdownGraceMs: ms(v.SHUTDOWN_GRACE),
    taskMaxHeapMb: v.TASK_MAX_HEAP,
    maxResultBytes: v.MAX_RESULT_BYTES,
    connectTimeoutMs: ms(v.CONNECT_TIMEOUT),
    requestTimeoutMs: ms(v.REQUEST_TIMEOUT),
    tcpKeepAlive:
      v.TCP_KEEPALIVE === true || ['true', '1', 'yes', 'on'].includes(String(v.TCP_KEEPALIVE)),
    proxy: proxy.proxy,
    dataDir: v.DATA_DIR,
    logLevel: v.LOG_LEVEL,
    logMaxBytes: Math.round(v.LOG_MAX_SIZE * 1024 * 1024),
    logFiles: v.LOG_FILES,
    resultRetentionMs: ms(v.RESULT_RETENTION),
    outboxMax: v.OUTBOX_MAX,
    updateCheckIntervalMs: ms(v.UPDATE_CHECK_INTERVAL),
    autoUpdate: isTrue(v.AUTO_UPDATE),
    updateRetryAfterMs: ms(v.UPDATE_RETRY_AFTER),
    updateDownloadTimeoutMs: ms(v.UPDATE_DOWNLOAD_TIMEOUT),
    updateHealthTimeoutSec: Math.ceil(v.UPDATE_HEALTH_TIMEOUT),
  };
  const options: Options = {
    help: flags.help === true,
    version: flags.version === true,
    once: flags.once === true,
    taskChild: flags['task-child'] === true,
    install: flags.install === true,
    uninstall: flags.uninstall === true,
    status: flags.status === true,
    json: flags.json === true,
    requeueRejected: flags['requeue-rejected'] === true,
    configFile,
    carriedEnv,
    supervisor,
  };
  return { settings: Object.freeze(settings), options: Object.freeze(options) };
}

function isTrue(value: boolean | string): boolean {
  return value === true || ['true', '1', 'yes', 'on'].includes(String(value));
}

function readConfigFile(
  path: string,
  mustExist: boolean,
  problems: string[],
): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (!mustExist && (error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    problems.push(`Cannot read the config file ${path}: ${(error as Error).message}`);
    return {};
  }
  let data: unknown;
  try {
    data = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    problems.push(`The config file ${path} is not valid JSON: ${(error as Error).message}`);
    return {};
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    problems.push(
      `The config file ${path} must hold a JSON object like {"SERVER_URL": "https://…"}`,
    );
    return {};
  }
  for (const key of Object.keys(data)) {
    if (!Object.hasOwn(SETTINGS, key)) {
      problems.push(
        `Unknown setting ${JSON.stringify(key)} in ${path}; the settings are: ${SETTING_NAMES.join(', ')}`,
      );
    }
  }
  return data as Record<string, unknown>;
}

/** HIVE_SUPERVISOR: set by the systemd unit, not by people; unset or empty means none. */
function readSupervisor(
  env: Readonly<Record<string, string | undefined>>,
  problems: string[],
): Supervisor {
  const raw = env.HIVE_SUPERVISOR || 'none';
  if (raw === 'none' || raw === 'systemd') return raw;
  problems.push(
    `Expected HIVE_SUPERVISOR to be systemd or empty, got ${JSON.stringify(raw)} (from HIVE_SUPERVISOR)`,
  );
  return 'none';
}

/** The text of `--help`: every setting with its default and where to set it. */
export function helpText(version: string): string {
  const rows = SETTING_NAMES.map((name) => {
    const fallback = isSecret(name) ? '(none)' : JSON.stringify(DEFAULTS[name]);
    return `  --${flagName(name).padEnd(22)} ${envName(name).padEnd(28)} default ${fallback}\n      ${SETTINGS[name].help}`;
  });
  return [
    `hive-worker ${version}: polls a Hive server for tasks and runs each in its own process.`,
    '',
    'Usage: worker [options]',
    '',
    'Options:',
    '  --help, -h               this text',
    '  --version, -v            print the version and exit',
    '  --once                   handle at most one task, then exit',
    '  --install, --uninstall   start the worker when you log in, or no longer (no admin rights)',
    '  --status [--json]        show what the worker on this data folder is doing, then exit',
    '  --requeue-rejected       put results the server refused back in the outbox (worker stopped), then exit',
    '  --no-pause               never wait for Enter after a fatal error (see README)',
    `  --config FILE            read settings from FILE instead of ${CONFIG_FILE_NAME} beside the executable (env HIVE_CONFIG)`,
    '',
    `Settings (flag, environment variable, default; also keys of ${CONFIG_FILE_NAME}):`,
    ...rows,
    '',
    `Order: src/config.ts defaults < ${CONFIG_FILE_NAME} < environment < flags. Durations are in seconds.`,
  ].join('\n');
}
