/**
 * The console's human lines (src/platform/console-lines.ts), from what a real pino logger writes.
 * The expected lines are the ones pino-pretty printed for the same calls with the options the
 * worker gave it (colorize, hideObject, translateTime SYS:HH:MM:ss, ignore pid,hostname).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { wantsColor } from '../../src/platform/console.ts';
import { humanLines } from '../../src/platform/console-lines.ts';

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
    'WARN: warned\nsecond line\n',
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
