/** When a fatal error waits for Enter: only in a window nobody typed a command into (see src/platform/console-pause.ts). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type PauseFacts,
  parentProcessName,
  shouldPause,
  tasklistImageName,
} from '../../src/platform/console-pause.ts';

const facts = (overrides: Partial<PauseFacts>): PauseFacts => ({
  platform: 'linux',
  stdinIsInteractive: true,
  parentName: 'gnome-terminal-server',
  optedOut: false,
  ...overrides,
});

describe('shouldPause', () => {
  test('Windows: only when started by Explorer (double-click, Start menu, shortcut)', () => {
    assert.equal(shouldPause(facts({ platform: 'win32', parentName: 'explorer.exe' })), true);
    assert.equal(shouldPause(facts({ platform: 'win32', parentName: 'Explorer.EXE' })), true);
    for (const parent of ['cmd.exe', 'powershell.exe', 'pwsh.exe', 'svchost.exe', 'taskeng.exe']) {
      assert.equal(shouldPause(facts({ platform: 'win32', parentName: parent })), false, parent);
    }
  });

  test('Linux: when the parent is not a shell (a terminal started the worker itself)', () => {
    for (const parent of ['gnome-terminal-', 'konsole', 'xterm', 'tmux: server', 'nautilus']) {
      assert.equal(shouldPause(facts({ parentName: parent })), true, parent);
    }
    for (const parent of ['bash', '-bash', 'zsh', 'fish', 'sh', 'sudo', 'timeout', 'env']) {
      assert.equal(shouldPause(facts({ parentName: parent })), false, parent);
    }
  });

  test('never without an interactive console, with --no-pause, or when the parent is unknown', () => {
    assert.equal(shouldPause(facts({ stdinIsInteractive: false })), false);
    assert.equal(shouldPause(facts({ optedOut: true })), false);
    assert.equal(shouldPause(facts({ parentName: undefined })), false);
    assert.equal(shouldPause(facts({ platform: 'win32', parentName: undefined })), false);
  });

  test('the parent of this process is found by name on Linux', {
    skip: process.platform !== 'linux',
  }, () => {
    assert.equal(typeof parentProcessName('linux', process.ppid), 'string');
    assert.equal(parentProcessName('linux', 2 ** 22 + 12345), undefined);
  });
});

describe('tasklistImageName', () => {
  const line = '"explorer.exe","240","Console","1","25,580 K"\r\n';
  test("Windows' tasklist: its code page", () => {
    assert.equal(tasklistImageName(Buffer.from(line, 'latin1')), 'explorer.exe');
  });
  test("Wine's tasklist into a pipe: UTF-16LE (with or without a byte-order mark)", () => {
    assert.equal(tasklistImageName(Buffer.from(line, 'utf16le')), 'explorer.exe');
    assert.equal(tasklistImageName(Buffer.from(`\uFEFF${line}`, 'utf16le')), 'explorer.exe');
  });
  test('no process: undefined', () => {
    assert.equal(tasklistImageName(Buffer.from('INFO: No tasks are running.\r\n')), undefined);
    assert.equal(tasklistImageName(Buffer.alloc(0)), undefined);
  });
});
