/**
 * CA_FILE as a setting: read and checked once at start, every problem one line naming the
 * setting, the value and where it came from; a relative path is taken from the install folder.
 */
import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { helpText } from '../../src/cli/help.ts';
import { loadSettings } from '../../src/settings/load.ts';
import { configProblems } from '../helpers/settings.ts';
import { createTestCa } from '../helpers/tls.ts';
import { tempDir } from '../helpers/worker.ts';

const problemsOf = (env: Record<string, string>, installDir = tempDir('hive-ca-')) =>
  configProblems(() => loadSettings({ argv: [], env, installDir }));

describe('CA_FILE', () => {
  const ca = createTestCa('CA_FILE Test CA');
  const other = createTestCa('Second Test CA');

  test('unset: no extra certificates, the defaults alone apply', () => {
    const { settings } = loadSettings({ argv: [], env: {}, installDir: tempDir('hive-ca-') });
    assert.equal(settings.caFile, undefined);
  });

  test('a PEM file with two CAs: both are read, the path made absolute from the install folder', () => {
    const installDir = tempDir('hive-ca-');
    writeFileSync(join(installDir, 'corp-ca.pem'), `${ca.cert}\n${other.cert}`);
    const { settings } = loadSettings({
      argv: ['--ca-file', 'corp-ca.pem'],
      env: {},
      installDir,
    });
    assert.equal(settings.caFile?.path, join(installDir, 'corp-ca.pem'));
    assert.deepEqual(
      settings.caFile?.certificates.map((pem) => pem.trim()),
      [ca.cert.trim(), other.cert.trim()],
    );
  });

  test('a missing file is one line naming the setting, the value and its source', () => {
    assert.deepEqual(problemsOf({ HIVE_CA_FILE: '/nonexistent/ca.pem' }), [
      'Expected CA_FILE to be a PEM file of CA certificates, got "/nonexistent/ca.pem" (from HIVE_CA_FILE): cannot read it (ENOENT)',
    ]);
  });

  test('a file without PEM certificates (a private key, DER bytes) is refused, not half-used', () => {
    const dir = tempDir('hive-ca-');
    copyFileSync(ca.keyFile, join(dir, 'key.pem'));
    writeFileSync(join(dir, 'ca.der'), Buffer.from([0x30, 0x82, 0x01, 0x0a]));
    const [keyProblem] = problemsOf({ HIVE_CA_FILE: 'key.pem' }, dir);
    assert.match(
      keyProblem ?? '',
      /^Expected CA_FILE .*got "key\.pem" .*holds no "-----BEGIN CERTIFICATE-----" block/,
    );
    const [derProblem] = problemsOf({ HIVE_CA_FILE: 'ca.der' }, dir);
    assert.match(derProblem ?? '', /PEM expected, not DER/);
  });

  test('a damaged certificate among good ones names which one', () => {
    const dir = tempDir('hive-ca-');
    const broken = ca.cert.replace(/\n[A-Za-z0-9+/]{20}/, '\nAAAAAAAAAAAAAAAAAAAA');
    writeFileSync(join(dir, 'ca.pem'), `${other.cert}\n${broken}`);
    const [problem] = problemsOf({ HIVE_CA_FILE: join(dir, 'ca.pem') }, dir);
    assert.match(problem ?? '', /certificate 2 does not parse/);
  });

  test('--help lists it', () => {
    assert.match(helpText('1.0.0'), /--ca-file +HIVE_CA_FILE\n {6}PEM file[^-]*;\s+default ""\n/);
  });
});
