/**
 * README's settings table against src/settings/table.ts: every setting has a row, with the default
 * src/config.ts gives it, and no row names a setting that does not exist. A failure names the row.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { DEFAULTS, SETTING_NAMES, SETTINGS } from '../../src/settings/table.ts';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The rows of the table headed `| setting | default | meaning |`: name → default as written. */
function readmeRows(): Map<string, string> {
  const lines = README.split('\n');
  const start = lines.findIndex((line) => /^\| setting \| default \| meaning \|/.test(line));
  assert.ok(start >= 0, 'README has a table headed "| setting | default | meaning |"');
  const rows = new Map<string, string>();
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const [name = '', fallback = ''] = line
      .split('|')
      .slice(1, 3)
      .map((cell) => cell.trim().replace(/^`|`$/g, ''));
    rows.set(name, fallback);
  }
  return rows;
}

/** A default as README writes it: text as is ('' as ""), numbers and booleans as JSON; a secret's may be (none). */
function acceptedDefaults(name: (typeof SETTING_NAMES)[number]): string[] {
  const value = DEFAULTS[name];
  const shown = value === '' ? '""' : typeof value === 'string' ? value : JSON.stringify(value);
  return SETTINGS[name].secret ? [shown, '(none)'] : [shown];
}

/** What is wrong with `rows` against the settings table, one line per row. */
function tableProblems(rows: Map<string, string>): string[] {
  const problems = SETTING_NAMES.flatMap((name) => {
    const written = rows.get(name);
    const expected = acceptedDefaults(name)[0];
    if (written === undefined) return [`README has no row for ${name} (default ${expected})`];
    return acceptedDefaults(name).includes(written)
      ? []
      : [`README's row for ${name} says default ${written}; src/config.ts says ${expected}`];
  });
  const unknown = [...rows.keys()].filter((name) => !(SETTING_NAMES as string[]).includes(name));
  return [
    ...problems,
    ...unknown.map((name) => `README has a row for ${name}, which is not a setting`),
  ];
}

test('README has a row for every setting, with its default', () => {
  assert.deepEqual(tableProblems(readmeRows()), []);
});

test('the check names a missing row, a wrong default and a row that is not a setting', () => {
  const rows = readmeRows();
  rows.delete('AUTO_UPDATE');
  rows.set('NO_TASK_SLEEP', '6');
  rows.set('NO_SUCH', '1');
  assert.deepEqual(tableProblems(rows), [
    "README's row for NO_TASK_SLEEP says default 6; src/config.ts says 5",
    'README has no row for AUTO_UPDATE (default true)',
    'README has a row for NO_SUCH, which is not a setting',
  ]);
});
