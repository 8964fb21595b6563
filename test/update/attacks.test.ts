/**
 * A hostile or broken server cannot get a release installed: each attack ends with the current
 * version still in charge (no hand-off), one log line saying why, and — for a bad release — that
 * version skipped for UPDATE_RETRY_AFTER. Real reference server, real downloads and checks.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FaultRuleInput } from '../../scripts/server/faults.ts';
import { signRelease } from '../../src/update/signature.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { checkForUpdateOnce } from '../helpers/update-check.ts';
import { tempDir } from '../helpers/worker.ts';
import { type RawEntry, rawZip } from '../helpers/zip.ts';

const PLATFORM = 'linux-x64';
const VERSION = '1.1.0';
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const keyPair = () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, pub: publicKey.export({ format: 'jwk' }).x ?? '' };
};
const trusted = keyPair();
const releases = tempDir('hive-releases-');
let server: TestServer;

before(async () => {
  server = await startTestServer({ releasesDir: releases });
});
after(() => server.close());

const GOOD_FILES: RawEntry[] = [
  { name: 'worker', data: Buffer.from('#!/bin/sh\necho v1.1.0\n') },
  { name: 'updater.sh', data: Buffer.from('#!/bin/sh\n') },
];

function manifestEntry(files: RawEntry[], overrides: Record<string, unknown> = {}): RawEntry {
  const listed = Object.fromEntries(files.map((file) => [file.name, sha(file.data)]));
  const manifest = { version: VERSION, platform: PLATFORM, files: listed, ...overrides };
  return { name: 'release.json', data: Buffer.from(JSON.stringify(manifest)) };
}

interface Announce {
  zip?: Buffer;
  version?: string;
  sign?: { platform?: string; version?: string; key?: KeyObject };
  size?: number;
  sha256?: string;
  signature?: string;
}

/** Puts a zip in the releases folder and makes the server announce it as told. */
async function announce(spec: Announce): Promise<void> {
  const zip = spec.zip ?? rawZip([...GOOD_FILES, manifestEntry(GOOD_FILES)]);
  const name = `attack-${Math.random().toString(36).slice(2)}.zip`;
  writeFileSync(join(releases, name), zip);
  const digest = sha(zip);
  const signature =
    spec.signature ??
    signRelease(
      {
        platform: spec.sign?.platform ?? PLATFORM,
        version: spec.sign?.version ?? spec.version ?? VERSION,
        sha256: digest,
      },
      spec.sign?.key ?? trusted.privateKey,
    );
  const answer = {
    version: spec.version ?? VERSION,
    url: `releases/${name}`,
    sha256: spec.sha256 ?? digest,
    size: spec.size ?? zip.length,
    signature,
  };
  await server.admin.clearFaults();
  await server.admin.faults([
    { route: 'version', status: 200, body: JSON.stringify(answer), times: -1 },
  ]);
}

function attempt(env: Record<string, string> = {}) {
  return checkForUpdateOnce({
    serverUrl: server.url,
    env: { HIVE_REQUEST_TIMEOUT: '2', ...env },
    publicKey: trusted.pub,
    workerId: 'attack-00000000',
    platform: PLATFORM,
  });
}

async function refused(
  spec: Announce,
  pattern: RegExp,
  env: Record<string, string> = {},
  faults: FaultRuleInput[] = [],
) {
  await announce(spec);
  if (faults.length > 0) await server.admin.faults(faults);
  const { ready, errors, store } = await attempt(env);
  assert.equal(ready, undefined, 'nothing is installed');
  assert.equal(errors.length, 1, `one log line: ${JSON.stringify(errors)}`);
  assert.match(errors[0] ?? '', /^update to \S+ not installed, staying on 1\.0\.0: /);
  assert.match(errors[0] ?? '', pattern);
  return store;
}

describe('self-update under attack', () => {
  test('a good, signed release is prepared for installing (the control case)', async () => {
    await announce({});
    const { ready, errors } = await attempt();
    assert.deepEqual(errors, []);
    assert.equal(ready?.release.version, VERSION);
  });

  test('wrong signature', async () => {
    const store = await refused(
      { signature: Buffer.alloc(64, 7).toString('base64') },
      /not signed by the pinned release key/,
    );
    assert.ok(
      store.retryAt(VERSION, 3_600_000) !== undefined,
      'the version is skipped for a while',
    );
  });

  test('signature by another key', async () => {
    await refused({ sign: { key: keyPair().privateKey } }, /not signed by the pinned release key/);
  });

  test('mix-and-match: a valid signature for another platform, or another version', async () => {
    await refused({ sign: { platform: 'win32-x64' } }, /not signed by the pinned release key/);
    await refused({ sign: { version: '1.0.5' } }, /not signed by the pinned release key/);
  });

  test('an older or equal version is not even downloaded', async () => {
    for (const version of ['0.9.0', '1.0.0']) {
      await announce({ version });
      const { ready, errors } = await attempt();
      assert.equal(ready, undefined);
      assert.deepEqual(errors, []);
    }
  });

  test('size or sha256 mismatch, and a truncated download', async () => {
    const zip = rawZip([...GOOD_FILES, manifestEntry(GOOD_FILES)]);
    await refused({ zip, size: zip.length - 1 }, /more than the announced|downloaded \d+ bytes/);
    await refused(
      {
        zip,
        sha256: 'ab'.repeat(32),
        signature: signRelease(
          { platform: PLATFORM, version: VERSION, sha256: 'ab'.repeat(32) },
          trusted.privateKey,
        ),
      },
      /sha256 is [0-9a-f]{64}, announced abab/,
    );
    await refused({ zip, size: zip.length + 100 }, /ended at \d+ of \d+ bytes; will resume/);
  });

  test('a download that never ends is cut at its deadline', async () => {
    const store = await refused(
      {},
      /longer than its deadline; will resume/,
      { HIVE_UPDATE_DOWNLOAD_TIMEOUT: '1' },
      [{ route: 'releases', delayMs: 5000 }],
    );
    assert.equal(
      store.retryAt(VERSION, 3_600_000),
      undefined,
      'a slow link is not held against the release',
    );
  });

  const hostile: Array<[string, RawEntry]> = [
    ['a ../ entry', { name: '../evil', data: Buffer.from('x') }],
    ['an absolute path', { name: '/tmp/evil', data: Buffer.from('x') }],
    ['a symlink', { name: 'link', data: Buffer.from('/etc/passwd'), mode: 0o120777 }],
    ['an extra unlisted file', { name: 'extra.so', data: Buffer.from('x') }],
  ];
  for (const [what, entry] of hostile) {
    test(`a zip with ${what}`, async () => {
      await refused(
        { zip: rawZip([...GOOD_FILES, manifestEntry(GOOD_FILES), entry]) },
        /zip refused/,
      );
    });
  }

  test('a zip bomb', async () => {
    const bomb: RawEntry = { name: 'worker', data: Buffer.alloc(410 * 1024 * 1024), deflate: true };
    const files = [bomb, GOOD_FILES[1] as RawEntry];
    await refused({ zip: rawZip([...files, manifestEntry(files)]) }, /worker is larger than/);
  });

  test('release.json disagreeing with the announcement', async () => {
    await refused(
      { zip: rawZip([...GOOD_FILES, manifestEntry(GOOD_FILES, { version: '6.6.6' })]) },
      /release\.json says 6\.6\.6/,
    );
    await refused(
      { zip: rawZip([...GOOD_FILES, manifestEntry(GOOD_FILES, { platform: 'win32-x64' })]) },
      /for win32-x64/,
    );
  });

  test('not enough disk space: no download, tried again later', async () => {
    const store = await refused({ size: 2 ** 50 }, /not enough disk space/);
    assert.equal(store.retryAt(VERSION, 3_600_000), undefined);
  });
});
