/**
 * Settings: src/config.ts defaults < worker.config.json < HIVE_* environment < --flags.
 * Parsed once, at start, into a frozen object that the rest of the code takes as a parameter;
 * nothing below this module reads process.env. Users write seconds; the code carries `…Ms`.
 * What each setting is lives in table.ts; this file reads the sources and reports problems.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { HiveError } from '../platform/errors.ts';
import { readCaFileSetting } from '../wire/ca-file.ts';
import { resolveProxy } from '../wire/proxy.ts';
import {
  DEFAULTS,
  envName,
  flagName,
  SETTING_NAMES,
  SETTINGS,
  type SettingName,
  type Settings,
  type TableValues,
} from './table.ts';

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

export const CONFIG_FILE_NAME = 'worker.config.json';

const OPTION_FLAGS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
  once: { type: 'boolean' },
  'task-child': { type: 'boolean' },
  install: { type: 'boolean' },
  uninstall: { type: 'boolean' },
  // Read by cli/modes.ts before settings (a bad setting is what it is for); listed so the parse accepts it.
  'no-pause': { type: 'boolean' },
  config: { type: 'string' },
  status: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

export class ConfigError extends HiveError {
  readonly problems: string[];
  constructor(problems: string[]) {
    super('CONFIG', problems.join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Reads every source, validates every setting, and reports all problems at once. */
export function loadSettings(input: SettingsInput): { settings: Settings; options: Options } {
  const problems: string[] = [];
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
  // Flags as environment variables: what a restarted worker (after self-update) inherits.
  const carriedEnv: Record<string, string> =
    configFile === undefined ? {} : { HIVE_CONFIG: resolve(configFile) };
  const fileValues = readConfigFile(
    configFile ?? `${input.installDir}/${CONFIG_FILE_NAME}`,
    configFile !== undefined,
    problems,
  );

  const values: Record<string, unknown> = {};
  const sources: Partial<Record<SettingName, string>> = {};
  for (const name of SETTING_NAMES) {
    const flag = flags[flagName(name)];
    if (typeof flag === 'string') carriedEnv[envName(name)] = flag;
    // An empty variable counts as unset (`HIVE_NO_TASK_SLEEP=` must not mean 0).
    const env = input.env[envName(name)] || undefined;
    const [raw, source] =
      flag !== undefined
        ? [flag, `--${flagName(name)}`]
        : env !== undefined
          ? [env, envName(name)]
          : Object.hasOwn(fileValues, name)
            ? [fileValues[name], CONFIG_FILE_NAME]
            : [DEFAULTS[name], 'src/config.ts'];
    sources[name] = source;
    const result = SETTINGS[name].schema.safeParse(raw);
    if (result.success) {
      values[SETTINGS[name].key] = result.data;
    } else {
      const shown = SETTINGS[name].secret ? '(hidden)' : JSON.stringify(raw);
      const expected = result.error.issues[0]?.message ?? 'a valid value';
      problems.push(`Expected ${name} to be ${expected}, got ${shown} (from ${source})`);
    }
  }
  const proxy =
    typeof values.proxySetting === 'string'
      ? resolveProxy({ value: values.proxySetting, source: sources.PROXY ?? 'PROXY' }, input.env)
      : undefined;
  problems.push(...(proxy?.problems ?? []));
  const caFile =
    typeof values.caFilePath === 'string'
      ? readCaFileSetting(
          values.caFilePath,
          input.installDir,
          sources.CA_FILE ?? 'CA_FILE',
          problems,
        )
      : undefined;
  const supervisor = readSupervisor(input.env, problems);
  if (problems.length > 0 || proxy === undefined) throw new ConfigError(problems);

  // Every row parsed (no problems), so every key is present with its schema's output type.
  const { proxySetting: _proxy, caFilePath: _caFile, ...table } = values as TableValues;
  const settings: Settings = { ...table, proxy: proxy.proxy, caFile };
  const options: Options = {
    help: flags.help === true,
    version: flags.version === true,
    once: flags.once === true,
    taskChild: flags['task-child'] === true,
    install: flags.install === true,
    uninstall: flags.uninstall === true,
    status: flags.status === true,
    json: flags.json === true,
    configFile,
    carriedEnv,
    supervisor,
  };
  return { settings: Object.freeze(settings), options: Object.freeze(options) };
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
