/**
 * The console's human lines from pino's JSON lines: `[HH:MM:ss] LEVEL: message`, local time, the
 * fields left to the log file; ours rather than a library's, for size (docs/performance.md).
 * Controls in a message are escaped here, for every call site (docs/reliability.md, "Hostile answers").
 */

/** What a terminal acts on rather than shows: C0, DEL, C1, and the marks that reorder text or break a line. */
const REORDERING = '\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069';
const CONTROLS = new RegExp(`[\\u0000-\\u001f\\u007f-\\u009f${REORDERING}]`, 'g');
const JSON_LEFT_CONTROLS = new RegExp(`[\\u007f-\\u009f${REORDERING}]`, 'g');
const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * `text` with every control and reordering mark written as an escape (`\n`, `\x1b`, `\u202e`):
 * text from a server or a task (ids, messages, answer bodies) can neither drive the terminal nor
 * forge a line. Backslashes are left as they are: a forged `\n` reads as the escape it looks like.
 */
export function escapeControls(text: string): string {
  return text.replace(CONTROLS, (char) => {
    const code = char.charCodeAt(0);
    if (NAMED[char] !== undefined) return NAMED[char];
    return code < 0x100
      ? `\\x${code.toString(16).padStart(2, '0')}`
      : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/**
 * JSON text with the controls JSON.stringify leaves as they are (DEL, C1, reordering marks)
 * written as \u escapes: the same JSON value, harmless on a terminal. They occur only in strings.
 */
export function escapeJsonControls(json: string): string {
  return json.replace(
    JSON_LEFT_CONTROLS,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

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

export function humanLines(options: { colorize: boolean }): (json: string) => string {
  return (json) => {
    let entry: { level?: unknown; time?: unknown; msg?: unknown };
    try {
      entry = JSON.parse(json) as typeof entry;
    } catch {
      return `${escapeControls(json.endsWith('\n') ? json.slice(0, -1) : json)}\n`; // not pino's
    }
    const level = typeof entry.level === 'number' ? LEVELS[entry.level] : undefined;
    const name = level?.name ?? 'USERLVL';
    const time = clock(typeof entry.time === 'number' ? new Date(entry.time) : new Date());
    // One record, one line, whatever the message carries (a task id, an answer's text).
    const msg = typeof entry.msg === 'string' ? escapeControls(entry.msg) : '';
    if (!options.colorize) return `[${time}] ${name}:${msg === '' ? '' : ` ${msg}`}\n`;
    const coloured = level === undefined ? name : `${level.on}${name}${level.off}`;
    return `[${time}] ${coloured}:${msg === '' ? '' : ` ${MESSAGE_ON}${msg}${RESET_FG}`}\n`;
  };
}

function clock(at: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}`;
}
