/** scripts/console-picture.ts: terminal bytes → the screen Windows' console would show, and its drawing. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { magickArguments, screenOf } from '../../scripts/console-picture.ts';

const text = (row: { char: string }[] | undefined) => (row ?? []).map((cell) => cell.char).join('');

test('colour codes take no columns; CR, LF and erase-to-end act; lines wrap at 120 columns', () => {
  const bytes = `\u001b[?25l[10:00:00] \u001b[32mINFO\u001b[39m: \u001b[36mhello\u001b[39m\r\r\n  server x\u001b[K\r\n${'y'.repeat(125)}`;
  const rows = screenOf(bytes);
  assert.deepEqual(rows.map(text), [
    '[10:00:00] INFO: hello',
    '  server x',
    'y'.repeat(120),
    'yyyyy',
  ]);
  const first = rows[0] ?? [];
  assert.equal(first[11]?.color, '#13A10E', 'INFO in Windows green');
  assert.equal(first[17]?.color, '#3A96DD', 'the message in Windows cyan');
  assert.equal(first[0]?.color, '#CCCCCC', 'the time in the default colour');
});

test('each colour run is one annotate, at its column, its text escaped for ImageMagick', () => {
  const args = magickArguments(screenOf('  50% \\ done \u001b[33m@home\u001b[0m'), 'out.png');
  assert.equal(args.at(-1), 'out.png');
  const annotations = args.flatMap((arg, i) => (arg === '-annotate' ? [args[i + 2]] : []));
  assert.deepEqual(annotations, ['50%% \\\\ done ', '\\@home']);
  const offsets = args.flatMap((arg, i) => (arg === '-annotate' ? [args[i + 1]] : []));
  assert.match(offsets[0] ?? '', /^\+28\+/, 'the leading spaces move the run, not vanish');
});
