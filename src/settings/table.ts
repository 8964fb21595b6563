/**
 * The settings table: every user setting, one row each — its name, the key and unit the code uses,
 * its schema and its help line. The `Settings` type every part takes is derived from it.
 */
import * as z from 'zod';
import * as config from '../config.ts';
import { MAX_TIMER_MS } from '../platform/timers.ts';
import type { CaFile } from '../wire/ca-file.ts';
import type { ProxyConfig } from '../wire/proxy.ts';

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

/** The `user:password` of a URL ('' when none). */
const userInfo = (text: string) => {
  const { username, password } = new URL(text);
  return username + password;
};

/** Seconds as users write them → milliseconds as the code carries them. */
const ms = (secondsValue: number) => Math.round(secondsValue * 1000);
const isTrue = (value: boolean | string) =>
  value === true || ['true', '1', 'yes', 'on'].includes(String(value));

/** The rows, in --help's order; nothing else spells a setting. */
const row = <Key extends string, Schema extends z.ZodType>(
  key: Key,
  schema: Schema,
  help: string,
  options: { secret?: boolean } = {},
) => ({ key, schema, help, secret: options.secret === true });

export const SETTINGS = {
  SERVER_URL: row(
    'serverUrl',
    url
      // undici would drop user:password@ silently, and the banner, log and --status would show it.
      .refine(
        (text) => !URL.canParse(text) || userInfo(text) === '',
        'an address without user:password@ (the worker authenticates with a bearer token: put it in TOKEN or TOKEN_FILE)',
      )
      .transform((text) => (text.endsWith('/') ? text : `${text}/`)),
    'root of the Hive API',
  ),
  // TOKEN and TOKEN_FILE become `Settings.token` (./token.ts says which wins).
  TOKEN: row('tokenSetting', z.string({ error: 'a string' }), 'bearer token (never logged)', {
    secret: true,
  }),
  TOKEN_FILE: row(
    'tokenFilePath',
    z.string({ error: 'a file path' }),
    'file holding the token (trimmed); read again after a 401/403',
  ),
  NO_TASK_SLEEP: row(
    'noTaskSleepMs',
    seconds(0).transform(ms),
    'seconds to wait when there is no task',
  ),
  TIME_ERROR_SLEEP: row(
    'errorSleepMs',
    seconds(0.01).transform(ms),
    'seconds to wait after an error (then doubling)',
  ),
  MAX_ERROR_SLEEP: row(
    'maxErrorSleepMs',
    seconds(0.01).transform(ms),
    'cap of the error backoff and of Retry-After, seconds',
  ),
  WAIT_SEC: row('waitSec', count(0, 300), 'long-poll seconds asked of the server (0 = off)'),
  CONCURRENCY: row('concurrency', count(1, 64), 'tasks run at once, each in its own process'),
  PREFETCH: row(
    'prefetch',
    count(0, 63),
    'tasks held beyond the free slots, waiting their turn (protocol 1.1 servers)',
  ),
  WARM_START: row(
    'warmStart',
    bool.transform(isTrue),
    'start the next task process while a task runs',
  ),
  TASKS_PER_PROCESS: row(
    'tasksPerProcess',
    count(1, 1_000_000),
    'tasks a task process runs, one at a time, before it is replaced (1 = a fresh one per task)',
  ),
  REUSE_MAX_RSS: row(
    'reuseMaxRssMb',
    count(0, 1_000_000),
    'MB of resident memory past which a reused task process is replaced (0 = no limit)',
  ),
  TASK_TIMEOUT: row('taskTimeoutMs', seconds(0.01).transform(ms), 'default task timeout, seconds'),
  KILL_GRACE: row(
    'killGraceMs',
    seconds(0).transform(ms),
    'seconds from abort to kill of a task process',
  ),
  SHUTDOWN_GRACE: row(
    'shutdownGraceMs',
    seconds(0).transform(ms),
    'seconds a running task may finish in at shutdown',
  ),
  TASK_MAX_HEAP: row(
    'taskMaxHeapMb',
    count(0, 1_000_000),
    'heap limit of a task process, MB (0 = Node default)',
  ),
  // Passed to task processes on their command line (src/task/network.ts), never in their environment.
  TASK_LOCAL_NETWORK: row(
    'taskLocalNetwork',
    z.enum(['none', 'loopback', 'all'], { error: 'one of none, loopback, all' }),
    'local addresses network tasks may reach: none, loopback, all (link-local too)',
  ),
  MEMORY_TRIM: row(
    'memoryTrimMs',
    seconds(0).transform(ms),
    'seconds after work before freed memory is given back to the system (0 = never)',
  ),
  MAX_RESULT_BYTES: row(
    'maxResultBytes',
    count(1024, 1024 ** 3),
    'largest task output reported, bytes of JSON',
  ),
  CONNECT_TIMEOUT: row(
    'connectTimeoutMs',
    seconds(0.01).transform(ms),
    'seconds to connect to the server',
  ),
  REQUEST_TIMEOUT: row(
    'requestTimeoutMs',
    seconds(0.01).transform(ms),
    'seconds of server silence before a request fails, and its whole deadline (plus WAIT_SEC for a claim)',
  ),
  TCP_KEEPALIVE: row(
    'tcpKeepAlive',
    bool.transform(isTrue),
    'TCP keep-alive on server connections (off under Wine)',
  ),
  // Resolved with the environment's HTTP(S)_PROXY / NO_PROXY into `Settings.proxy` (wire/proxy.ts).
  PROXY: row(
    'proxySetting',
    z.string({ error: 'a proxy URL, "direct" or ""' }),
    'proxy URL for every request; "direct" = none; "" = HTTP(S)_PROXY/NO_PROXY',
    { secret: true },
  ),
  // Read and checked at start into `Settings.caFile` (src/wire/ca-file.ts).
  CA_FILE: row(
    'caFilePath',
    z.string({ error: 'a file path' }),
    'PEM file of CA certificates trusted on top of the system\'s ("" = none)',
  ),
  // '' means "decide at start" (src/platform/data-dir.ts).
  DATA_DIR: row(
    'dataDir',
    z.string({ error: 'a folder path' }),
    'data folder ("" = data/ beside the executable)',
  ),
  LOG_LEVEL: row(
    'logLevel',
    z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal'], {
      error: 'one of trace, debug, info, warn, error, fatal',
    }),
    'log level',
  ),
  LOG_MAX_SIZE: row(
    'logMaxBytes',
    z.coerce
      .number({ error: 'a number of megabytes ≥ 0.01' })
      .min(0.01, 'a number of megabytes ≥ 0.01')
      .transform((mb) => Math.round(mb * 1024 * 1024)),
    'size of logs/worker.log before it is rotated, MB',
  ),
  LOG_FILES: row('logFiles', count(1, 100), 'log files kept, the current one included'),
  RESULT_RETENTION: row(
    'resultRetentionMs',
    seconds(0, Number.MAX_SAFE_INTEGER).transform(ms), // compared with dates, never a timer
    'seconds a result is kept to answer re-deliveries',
  ),
  OUTBOX_MAX: row('outboxMax', count(1, 1_000_000), 'most unsent results before claiming pauses'),
  RESULT_ANSWER_WAIT: row(
    'resultAnswerWaitMs',
    z.coerce
      .number({ error: 'a number of seconds from 0 to 1' })
      .min(0, 'a number of seconds from 0 to 1')
      .max(1, 'a number of seconds from 0 to 1')
      .transform(ms),
    "seconds a new result waits for the server's answer before its outbox write, while answers come that fast (0 = never)",
  ),
  UPDATE_CHECK_INTERVAL: row(
    'updateCheckIntervalMs',
    seconds(1).transform(ms),
    'seconds between release checks',
  ),
  AUTO_UPDATE: row(
    'autoUpdate',
    bool.transform(isTrue),
    'install newer signed releases (single executable only)',
  ),
  UPDATE_RETRY_AFTER: row(
    'updateRetryAfterMs',
    seconds(0, Number.MAX_SAFE_INTEGER).transform(ms), // compared with dates, never a timer
    'seconds a release that failed to install is skipped',
  ),
  UPDATE_DOWNLOAD_TIMEOUT: row(
    'updateDownloadTimeoutMs',
    seconds(1).transform(ms),
    'overall deadline of one release download, seconds',
  ),
  UPDATE_HEALTH_TIMEOUT: row(
    'updateHealthTimeoutMs',
    // Whole seconds: the updater counts seconds.
    seconds(1).transform((value) => ms(Math.ceil(value))),
    'seconds a new version has to come up before rollback',
  ),
} as const;

export type SettingName = keyof typeof SETTINGS;
type Rows = typeof SETTINGS;
/** config.ts as a plain object: the compiled defaults, looked up by setting name. */
export const DEFAULTS: Readonly<Record<string, unknown>> = { ...config };
export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

/** Every setting under its key, in the code's units (the table's schemas' outputs). */
export type TableValues = {
  readonly [N in SettingName as Rows[N]['key']]: z.output<Rows[N]['schema']>;
};

/** The table's keys that are resolved at start into the derived settings below. */
type RawKeys = 'proxySetting' | 'caFilePath' | 'tokenSetting' | 'tokenFilePath';

/** The settings the rest of the code takes: the table's values, with the raw ones resolved. */
export type Settings = Omit<TableValues, RawKeys> & {
  /** TOKEN, or the content of TOKEN_FILE (./token.ts says which wins); '' = none. */
  readonly token: string;
  /** Where the token came from, for the banner: 'TOKEN_FILE /etc/hive/token', 'TOKEN …', or ''. */
  readonly tokenFrom: string;
  /** PROXY, else the environment's HTTP_PROXY / HTTPS_PROXY / NO_PROXY (src/wire/proxy.ts). */
  readonly proxy: ProxyConfig;
  /** CA_FILE, read and checked at start (src/wire/ca-file.ts); undefined = none. */
  readonly caFile: CaFile | undefined;
};

export const envName = (name: SettingName) => `HIVE_${name}`;
export const flagName = (name: SettingName) => name.toLowerCase().replaceAll('_', '-');

/** Each setting as --help lists it: its flag, variable, shown default and help line. */
export function describeSettings(): {
  flag: string;
  env: string;
  fallback: string;
  help: string;
}[] {
  return SETTING_NAMES.map((name) => ({
    flag: `--${flagName(name)}`,
    env: envName(name),
    fallback: SETTINGS[name].secret ? '(none)' : JSON.stringify(DEFAULTS[name]),
    help: SETTINGS[name].help,
  }));
}
