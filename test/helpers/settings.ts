/** Settings in tests: what a configuration that must be refused is refused with. */
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/settings/load.ts';

/** The problems the ConfigError thrown by `fn` lists; fails the test when `fn` throws none. */
export function configProblems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    return error.problems;
  }
  assert.fail('expected a ConfigError');
}
