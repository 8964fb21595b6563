import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeConsole, windowsConsole } from '../../src/platform/windows-console.ts';

describe('windows console', () => {
  test('the banner says whether closing a window stops the worker', () => {
    assert.equal(describeConsole({ kind: 'none' }), 'none (running in the background, no window)');
    assert.equal(
      describeConsole({ kind: 'own', others: 0, window: true }),
      'its own window (closing it stops the worker)',
    );
    assert.equal(
      describeConsole({ kind: 'own', others: 0, window: false }),
      'its own console, without a window (closing it stops the worker)',
    );
    assert.equal(
      describeConsole({ kind: 'shared', others: 2, window: true }),
      'shared window with 2 other process(es) (closing it stops the worker)',
    );
  });

  test('is not told outside Windows', () => {
    if (process.platform === 'win32') assert.notEqual(windowsConsole(), undefined);
    else assert.equal(windowsConsole(), undefined);
  });
});
