/** The text of `worker --help`: the flags that are not settings, then every setting's row. */
import { CONFIG_FILE_NAME } from '../settings/load.ts';
import { describeSettings } from '../settings/table.ts';

export function helpText(version: string): string {
  const rows = describeSettings().map(
    (setting) =>
      `  ${setting.flag.padEnd(24)} ${setting.env.padEnd(28)} default ${setting.fallback}\n      ${setting.help}`,
  );
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
