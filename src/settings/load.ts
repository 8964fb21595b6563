/**
 * Settings: src/config.ts defaults < worker.config.json < HIVE_* environment < --flags, read once
 * at start into a frozen object passed to every part (nothing else reads process.env). What each
 * setting is lives in table.ts; this file reads the sources and reports every problem at once.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { HiveError } from '../platform/errors.ts';
import { readCaFileSetting } from '../wire/ca-file.ts';
import { resolveProxy } from '../wire/proxy.ts';
import { closestName, flagProblem, mistypedVariables, withoutPassword } from './suggest.ts';
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
import { chooseToken, type TokenCandidate } from './token.ts';

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
  /** Who restarts the worker after a self-update: systemd (its unit sets HIVE_SUPERVISOR), or the updater. */
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
  'requeue-rejected': { type: 'boolean' },
} as const;

/** Which source wins: a flag over the environment over the file over config.ts. */
const SOURCE_RANK = { flag: 3, env: 2, file: 1, default: 0 } as const;

export class ConfigError extends HiveError {
  readonly problems: string[];
  /** The settings that were valid (by key), for `--status --json`, which reports what it can. */
  readonly validValues: Readonly<Partial<Settings>>;
  constructor(problems: string[], validValues: Partial<Settings> = {}) {
    super('CONFIG', problems.join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
    this.validValues = validValues;
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
    // --task-child is the worker's own, never a suggestion.
    const known = [...SETTING_NAMES.map(flagName), ...Object.keys(OPTION_FLAGS)].filter(
      (flag) => flag !== 'task-child',
    );
    throw new ConfigError([flagProblem(input.argv, known, (error as Error).message)]);
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

/** TOKEN and TOKEN_FILE as given (valid strings), for ./token.ts to choose from. */
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

  const values: Record<string, unknown> = {};
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
      values[SETTINGS[name].key] = result.data;
    } else {
      const shown = SETTINGS[name].secret ? '(hidden)' : JSON.stringify(withoutPassword(raw));
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
  const token =
    typeof values.tokenSetting === 'string' && typeof values.tokenFilePath === 'string'
      ? chooseToken(tokenCandidates(read, input), problems)
      : undefined;
  const supervisor = readSupervisor(input.env, problems);
  problems.push(...mistypedVariables(input.env));
  if (problems.length > 0 || proxy === undefined || token === undefined)
    throw new ConfigError(problems, {
      ...(values as Partial<Settings>),
      ...(token === undefined ? {} : { token: token.token, tokenFrom: token.from }),
    });

  // Every row parsed (no problems), so every key is present with its schema's output type.
  // Raw PROXY, CA_FILE, TOKEN, TOKEN_FILE stay out of Settings: proxy, caFile, token replace them.
  const { proxySetting, caFilePath, tokenSetting, tokenFilePath, ...table } = values as TableValues;
  const settings: Settings = {
    ...table,
    proxy: proxy.proxy,
    caFile,
    token: token.token,
    tokenFrom: token.from,
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
      const near = closestName(key, SETTING_NAMES);
      problems.push(
        `Unknown setting ${JSON.stringify(key)} in ${path}; ${near === undefined ? `the settings are: ${SETTING_NAMES.join(', ')}` : `did you mean ${near}?`}`,
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
