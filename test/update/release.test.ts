/** `npm run release` as a release pipeline drives it (docs/updating.md, "Releasing"). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import AdmZip from 'adm-zip';
import { isSignatureValid, releasePublicKey } from '../../src/update/signature.ts';
import { ReleaseSchema } from '../../src/wire/protocol.ts';
import { tempDir } from '../helpers/worker.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = (script: string, args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [join(ROOT, 'scripts', script), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 120_000,
  });

test('keygen, then release: a signed zip and its version answer, checked against the pinned key', () => {
  const keys = tempDir('hive-keys-');
  assert.equal(run('keygen.ts', ['--out', keys]).status, 0);
  const pub = readFileSync(join(keys, 'release-key.pub'), 'utf8').trim();
  const out = tempDir('hive-release-');
  const args = ['--out', out, '--version', '2.3.4', '--platform', 'linux-x64'];

  const untrusted = run('release.ts', ['--key', join(keys, 'release-key.pem'), ...args], {
    HIVE_RELEASE_PUBLIC_KEY: '',
  });
  assert.equal(untrusted.status, 1, 'a key the build does not pin is an error');
  assert.match(untrusted.stderr, /is not the key the build pins/);

  const released = run('release.ts', args, {
    HIVE_RELEASE_PUBLIC_KEY: pub,
    HIVE_RELEASE_KEY_FILE: join(keys, 'release-key.pem'),
  });
  assert.equal(released.status, 0, released.stderr);
  const answer = ReleaseSchema.parse(
    JSON.parse(readFileSync(join(out, 'worker-2.3.4-linux-x64.json'), 'utf8')),
  );
  assert.equal(answer.url, 'worker-2.3.4-linux-x64.zip');
  const zipBytes = readFileSync(join(out, answer.url));
  assert.equal(answer.size, zipBytes.length);
  assert.equal(answer.sha256, createHash('sha256').update(zipBytes).digest('hex'));
  const facts = { platform: 'linux-x64', version: '2.3.4', sha256: answer.sha256 };
  assert.ok(isSignatureValid(facts, answer.signature, releasePublicKey(pub)));
  const zip = new AdmZip(zipBytes);
  assert.deepEqual(
    zip
      .getEntries()
      .map((entry) => entry.entryName)
      .sort(),
    ['release.json', 'updater.sh', 'worker'],
  );
  const manifest = JSON.parse(zip.readAsText('release.json'));
  assert.equal(manifest.version, '2.3.4');
  const worker = zip.getEntry('worker')?.getData() ?? Buffer.alloc(0);
  assert.equal(manifest.files.worker, createHash('sha256').update(worker).digest('hex'));
});
