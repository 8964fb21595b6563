/**
 * The console's human lines (src/platform/console-lines.ts), from what a real pino logger writes.
 * The expected lines are the ones pino-pretty printed for the same calls with the options the
 * worker gave it (colorize, hideObject, translateTime SYS:HH:MM:ss, ignore pid,hostname).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { wantsColor } from '../../src/platform/console.ts';
import {
  escapeControls,
  escapeJsonControls,
  humanLines,
} from '../../src/platform/console-lines.ts';

/** What a pino logger at trace level writes for `calls`, one JSON line each. */
function jsonLinesOf(calls: (log: pino.Logger) => void): string[] {
  const lines: string[] = [];
  const log = pino(
    { level: 'trace', base: undefined },
    { write: (line: string) => lines.push(line) },
  );
  calls(log);
  return lines;
}

const CALLS = (log: pino.Logger) => {
  log.info('hello world');
  log.warn({ a: 1 }, 'warned\nsecond line');
  log.error(new Error('boom'));
  log.debug('dbg');
  log.fatal('fat');
  log.trace('tr');
  log.info({ only: 'fields' });
  log.child({ taskId: 't1' }).info('child line');
};

function clockOf(json: string): string {
  const at = new Date((JSON.parse(json) as { time: number }).time);
  return [at.getHours(), at.getMinutes(), at.getSeconds()]
    .map((n) => String(n).padStart(2, '0'))
    .join(':');
}

test('plain: [HH:MM:ss] LEVEL: message, fields left out, one line per call', () => {
  const json = jsonLinesOf(CALLS);
  const human = humanLines({ colorize: false });
  const shown = json.map((line) => human(line).replace(`[${clockOf(line)}] `, ''));
  assert.deepEqual(shown, [
    'INFO: hello world\n',
    'WARN: warned\\nsecond line\n',
    'ERROR: boom\n',
    'DEBUG: dbg\n',
    'FATAL: fat\n',
    'TRACE: tr\n',
    'INFO:\n',
    'INFO: child line\n',
  ]);
  assert.match(human(json[0] ?? ''), /^\[\d\d:\d\d:\d\d\] INFO: hello world\n$/);
});

test('colours for a terminal: the level by its colour, the message in cyan', () => {
  const [info, warn, fatal] = jsonLinesOf((log) => {
    log.info('hi');
    log.warn('careful');
    log.fatal('down');
  });
  const human = humanLines({ colorize: true });
  const strip = (line: string | undefined) => human(line ?? '').replace(/^\[[\d:]+\] /, '');
  assert.equal(strip(info), '\u001b[32mINFO\u001b[39m: \u001b[36mhi\u001b[39m\n');
  assert.equal(strip(warn), '\u001b[33mWARN\u001b[39m: \u001b[36mcareful\u001b[39m\n');
  assert.equal(strip(fatal), '\u001b[41mFATAL\u001b[49m: \u001b[36mdown\u001b[39m\n');
});

test('a line that is not JSON is shown as it came, never thrown on', () => {
  const human = humanLines({ colorize: false });
  assert.equal(human('not json'), 'not json\n');
  assert.equal(
    human('{"level":35,"time":0,"msg":"odd"}').replace(/^\[[\d:]+\] /, ''),
    'USERLVL: odd\n',
  );
});

test('colours only on a terminal, and never with NO_COLOR set (no-color.org)', () => {
  const terminal = { isTTY: true };
  assert.equal(wantsColor(terminal, {}), true);
  assert.equal(wantsColor(terminal, { NO_COLOR: '1' }), false);
  assert.equal(wantsColor(terminal, { NO_COLOR: '' }), true, 'an empty NO_COLOR is not set');
  assert.equal(wantsColor({ isTTY: false }, {}), false);
});

const ESC = String.fromCharCode(0x1b);

/** Whether `text` holds a C0 or C1 control, DEL, a bidi override or a line separator. */
function hasControls(text: string): boolean {
  return [...text].some((char) => {
    const code = char.codePointAt(0) ?? 0;
    const isC1 = code >= 0x7f && code <= 0x9f;
    return code < 0x20 || isC1 || (code >= 0x202a && code <= 0x202e) || code === 0x2028;
  });
}

test('controls from a server or a task are escaped: one record, one line, nothing the terminal runs', () => {
  const human = humanLines({ colorize: true });
  const hostile = [
    ['clear ESC[2J', 'clear \u001b[2J', 'clear \\x1b[2J'],
    ['OSC title', '\u001b]0;pwned\u0007', '\\x1b]0;pwned\\x07'],
    [
      'forged line',
      'x\r\n[10:00:00] INFO: update 9.9.9 downloaded',
      'x\\r\\n[10:00:00] INFO: update 9.9.9 downloaded',
    ],
    ['C1 CSI, DEL', '\u009b2J\u007f', '\\x9b2J\\x7f'],
    ['bidi override', 'abc\u202edcba\u2066\u2028', 'abc\\u202edcba\\u2066\\u2028'],
    ['plain text', 'é 𝄞 \\n tab-free', 'é 𝄞 \\n tab-free'],
  ] as const;
  for (const [what, text, shown] of hostile) {
    assert.equal(escapeControls(text), shown, what);
    const [line] = jsonLinesOf((log) => log.error(`task ${text} failed`));
    const printed = human(line ?? '');
    assert.equal(printed.split('\n').length, 2, `${what}: one line`);
    assert.ok(printed.includes(`task ${shown} failed`), what);
    // Only the formatter's own colours are escapes.
    const uncoloured = printed.replace(new RegExp(`${ESC}\\[\\d\\dm`, 'g'), '');
    assert.equal(hasControls(uncoloured.slice(0, -1)), false, what);
  }
  assert.equal(
    human('raw \u001b[2J\nforged\n'),
    'raw \\x1b[2J\\nforged\n',
    'a line not from pino too',
  );
});

test('JSON for a terminal: the same value, with the controls JSON.stringify leaves written as escapes', () => {
  const value = { id: 'a\u001b[2J\u009b\u202e\u2028z', n: [1, 'é'] };
  const text = escapeJsonControls(JSON.stringify(value, null, 2));
  assert.deepEqual(JSON.parse(text), value);
  assert.equal(hasControls(text.replaceAll('\n', '')), false);
});
