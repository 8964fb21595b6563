/** `worker --help` fits its terminal: every line within the width, every column where it belongs. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HELP_WIDTH, helpText } from '../../src/cli/help.ts';
import { describeSettings } from '../../src/settings/table.ts';

const ENTRY = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

for (const columns of [undefined, 60, 72, 200]) {
  test(`no line runs past ${columns ?? 'the default'} columns, and every setting is listed`, () => {
    const width = Math.min(columns ?? HELP_WIDTH, HELP_WIDTH);
    const lines = helpText('9.9.9', columns).split('\n');
    const long = lines.filter((line) => line.length > width);
    assert.deepEqual(long, [], `lines past ${width} columns`);
    const flagLines = lines.filter((line) => /^ {2}--[a-z-]+ +HIVE_[A-Z_]+$/.test(line));
    assert.equal(flagLines.length, describeSettings().length, 'one flag line per setting');
    const envColumns = new Set(flagLines.map((line) => line.indexOf('HIVE_')));
    assert.equal(envColumns.size, 1, 'the variables line up in one column');
    for (const setting of describeSettings()) {
      const at = lines.findIndex((line) => line.startsWith(`  ${setting.flag} `));
      const helpLines = lines
        .slice(at + 1)
        .filter((_, i, rest) => rest.slice(0, i + 1).every((l) => l.startsWith('      ')));
      assert.ok(
        helpLines.join(' ').replace(/\s+/g, ' ').includes(`default ${setting.fallback}`),
        `${setting.flag}: its default under it`,
      );
    }
  });
}

test('the executable wraps to 80 columns when stdout is not a terminal', () => {
  const text = execFileSync(process.execPath, [ENTRY, '--help'], { encoding: 'utf8' });
  assert.ok(text.includes('HIVE_UPDATE_DOWNLOAD_TIMEOUT'));
  assert.deepEqual(
    text.split('\n').filter((line) => line.length > 80),
    [],
  );
});
