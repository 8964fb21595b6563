/**
 * The console's human lines, made from the JSON lines pino writes: `[HH:MM:ss] LEVEL: message`,
 * in local time, the fields left to the log file, colours only for an interactive terminal (and
 * not with NO_COLOR). Our own few lines rather than pino-pretty, whose dependencies cost the
 * bundle and the idle worker more than one format is worth (docs/performance.md).
 */

const RESET_FG = '\u001b[39m';
const LEVELS: Readonly<Record<number, { name: string; on: string; off: string }>> = {
  10: { name: 'TRACE', on: '\u001b[90m', off: RESET_FG },
  20: { name: 'DEBUG', on: '\u001b[34m', off: RESET_FG },
  30: { name: 'INFO', on: '\u001b[32m', off: RESET_FG },
  40: { name: 'WARN', on: '\u001b[33m', off: RESET_FG },
  50: { name: 'ERROR', on: '\u001b[31m', off: RESET_FG },
  60: { name: 'FATAL', on: '\u001b[41m', off: '\u001b[49m' },
};
const MESSAGE_ON = '\u001b[36m';

/** A formatter from one pino JSON line to one console line (ending in a newline). */
export function humanLines(options: { colorize: boolean }): (json: string) => string {
  return (json) => {
    let entry: { level?: unknown; time?: unknown; msg?: unknown };
    try {
      entry = JSON.parse(json) as typeof entry;
    } catch {
      return json.endsWith('\n') ? json : `${json}\n`; // not pino's: shown as it came
    }
    const level = typeof entry.level === 'number' ? LEVELS[entry.level] : undefined;
    const name = level?.name ?? 'USERLVL';
    const time = clock(typeof entry.time === 'number' ? new Date(entry.time) : new Date());
    const msg = typeof entry.msg === 'string' ? entry.msg : '';
    if (!options.colorize) return `[${time}] ${name}:${msg === '' ? '' : ` ${msg}`}\n`;
    const coloured = level === undefined ? name : `${level.on}${name}${level.off}`;
    return `[${time}] ${coloured}:${msg === '' ? '' : ` ${MESSAGE_ON}${msg}${RESET_FG}`}\n`;
  };
}

function clock(at: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}`;
}
