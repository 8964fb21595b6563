/** The text of `worker --help`: the flags, then every setting, wrapped to the terminal's width. */
import { CONFIG_FILE_NAME } from '../settings/load.ts';
import { describeSettings } from '../settings/table.ts';

/** Columns the help is wrapped to when the terminal does not say; at most this wide anyway. */
export const HELP_WIDTH = 80;
/** Where an option's description starts, and where a setting's help line does. */
const OPTION_COLUMN = 27;
const SETTING_HELP_INDENT = 6;

const OPTIONS: readonly [string, string][] = [
  ['--help, -h', 'this text'],
  ['--version, -v', 'print the version and exit'],
  ['--once', 'handle at most one task, then exit'],
  ['--install, --uninstall', 'start the worker when you log in, or no longer (no admin rights)'],
  ['--status [--json]', 'show what the worker on this data folder is doing, then exit'],
  [
    '--requeue-rejected',
    'put results the server refused back in the outbox (worker stopped), then exit',
  ],
  ['--no-pause', 'never wait for Enter after a fatal error (see README)'],
  [
    '--config FILE',
    `read settings from FILE instead of ${CONFIG_FILE_NAME} beside the executable (env HIVE_CONFIG)`,
  ],
];

/** `columns`: the terminal's width, if known; the text is wrapped to it, at most HELP_WIDTH. */
export function helpText(version: string, columns?: number): string {
  const width = Math.max(40, Math.min(columns ?? HELP_WIDTH, HELP_WIDTH));
  const settings = describeSettings();
  const flagWidth = Math.max(...settings.map((setting) => setting.flag.length)) + 2;
  const rows = settings.map((setting) =>
    [
      `  ${setting.flag.padEnd(flagWidth)}${setting.env}`,
      ...wrap(`${setting.help}; default ${setting.fallback}`, width, SETTING_HELP_INDENT),
    ].join('\n'),
  );
  const options = OPTIONS.map(([flag, what]) => {
    const [first = '', ...rest] = wrap(what, width, OPTION_COLUMN);
    const head = `  ${flag}`;
    // A flag too long for its column gets its description on the next line.
    return head.length < OPTION_COLUMN
      ? [head.padEnd(OPTION_COLUMN) + first.trimStart(), ...rest].join('\n')
      : [head, first, ...rest].join('\n');
  });
  return [
    ...wrap(
      `hive-worker ${version}: polls a Hive server for tasks and runs each in its own process.`,
      width,
      0,
    ),
    '',
    'Usage: worker [options]',
    '',
    'Options:',
    ...options,
    '',
    ...wrap(
      `Settings (flag, environment variable; also keys of ${CONFIG_FILE_NAME}), each with its help and default:`,
      width,
      0,
    ),
    ...rows,
    '',
    ...wrap(
      `Order: src/config.ts defaults < ${CONFIG_FILE_NAME} < environment < flags. Durations are in seconds.`,
      width,
      0,
    ),
  ].join('\n');
}

/** `text` in lines of at most `width` columns, each indented by `indent` (a longer word stays whole). */
function wrap(text: string, width: number, indent: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && indent + line.length + 1 + word.length > width) {
      lines.push(' '.repeat(indent) + line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(' '.repeat(indent) + line);
  return lines;
}
