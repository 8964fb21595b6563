/**
 * Hostile release zips: each is refused as a whole, with nothing written, and one clear reason.
 * (adm-zip itself rewrites such names silently: docs/updating.md.)
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { HiveError } from '../../src/platform/errors.ts';
import { EXTRACT_LIMITS, extractRelease } from '../../src/update/extract.ts';
import { tempDir } from '../helpers/worker.ts';
import { type RawEntry, rawZip } from '../helpers/zip.ts';

const EXPECTED = { version: '1.1.0', platform: 'linux-x64' };
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

interface ZipSpec {
  files?: Record<string, Buffer>;
  manifest?: unknown;
  /** More entries, written raw: names and modes exactly as given. */
  extra?: RawEntry[];
}

function makeZip(spec: ZipSpec = {}): string {
  const files = spec.files ?? {
    worker: Buffer.from('#!/bin/sh\necho new\n'),
    'updater.sh': Buffer.from('#!/bin/sh\n'),
  };
  const manifest = spec.manifest ?? {
    ...EXPECTED,
    files: Object.fromEntries(Object.entries(files).map(([name, data]) => [name, sha(data)])),
  };
  const entries: RawEntry[] = [
    ...Object.entries(files).map(([name, data]) => ({ name, data })),
    { name: 'release.json', data: Buffer.from(JSON.stringify(manifest)) },
    ...(spec.extra ?? []),
  ];
  const file = join(tempDir('hive-zip-'), 'release.zip');
  writeFileSync(file, rawZip(entries));
  return file;
}

async function refused(zipFile: string, pattern: RegExp, limits = EXTRACT_LIMITS): Promise<void> {
  const target = join(tempDir('hive-extract-'), 'out');
  await assert.rejects(extractRelease(zipFile, target, EXPECTED, limits), (error: unknown) => {
    assert.ok(error instanceof HiveError);
    assert.match(error.message, /^release 1\.1\.0 zip refused: /);
    assert.match(error.message, pattern);
    return true;
  });
  assert.ok(!existsSync(target) || readdirSync(target).length === 0, 'nothing was written');
}

describe('extracting a release', () => {
  test('a good release is extracted, checked against release.json, and made executable', async () => {
    const target = join(tempDir('hive-extract-'), 'out');
    const extracted = await extractRelease(makeZip(), target, EXPECTED);
    assert.deepEqual(readdirSync(target).sort(), ['release.json', 'updater.sh', 'worker']);
    assert.equal(statSync(extracted.executable).mode & 0o777, 0o755);
    assert.equal(extracted.manifest.version, '1.1.0');
  });

  const hostileNames: Array<[string, string]> = [
    ['../evil.txt', 'a parent segment'],
    ['a/../../evil.txt', 'a nested parent segment'],
    ['..\\evil.txt', 'a backslash'],
    ['/abs/evil', 'an absolute path'],
    ['C:\\evil.txt', 'a drive letter'],
    ['evil.txt:ads', 'an NTFS stream'],
    ['CON', 'a reserved device name'],
    ['sub/worker', 'a folder'],
  ];
  for (const [name, what] of hostileNames) {
    test(`an entry with ${what} (${JSON.stringify(name)}) is refused`, async () => {
      const zip = makeZip({ extra: [{ name, data: Buffer.from('pwned') }] });
      await refused(zip, /unsafe entry name/);
    });
  }

  test('a symlink entry is refused', async () => {
    const zip = makeZip({
      extra: [{ name: 'link', data: Buffer.from('/etc/passwd'), mode: 0o120777 }],
    });
    await refused(zip, /link is a symlink/);
  });

  test('a zip bomb (an entry or a total over the limits) is refused before extracting', async () => {
    const zeros = Buffer.alloc(2 * 1024 * 1024);
    const zip = makeZip({ files: { worker: zeros, 'updater.sh': Buffer.from('x') } });
    await refused(zip, /worker is larger than 1048576 bytes/, {
      ...EXTRACT_LIMITS,
      maxEntryBytes: 1024 * 1024,
    });
    await refused(zip, /bytes uncompressed, more than 1048576/, {
      ...EXTRACT_LIMITS,
      maxTotalBytes: 1024 * 1024,
    });
    const many = makeZip({ extra: [{ name: 'a', data: Buffer.from('1') }] });
    await refused(many, /more than 3/, { ...EXTRACT_LIMITS, maxEntries: 3 });
  });

  test('a file not listed in release.json is refused', async () => {
    await refused(
      makeZip({ extra: [{ name: 'extra.dll', data: Buffer.from('x') }] }),
      /extra\.dll is not listed/,
    );
  });

  test('release.json disagreeing with the announcement or with the files is refused', async () => {
    const files = { worker: Buffer.from('w'), 'updater.sh': Buffer.from('u') };
    const listed = { worker: sha(files.worker), 'updater.sh': sha(files['updater.sh']) };
    await refused(
      makeZip({ files, manifest: { ...EXPECTED, version: '9.9.9', files: listed } }),
      /says 9\.9\.9/,
    );
    await refused(
      makeZip({ files, manifest: { ...EXPECTED, platform: 'win32-x64', files: listed } }),
      /for win32-x64/,
    );
    await refused(
      makeZip({
        files,
        manifest: { ...EXPECTED, files: { ...listed, worker: sha(Buffer.from('other')) } },
      }),
      /worker has sha256 .* release\.json says/,
    );
    await refused(makeZip({ files, manifest: { nonsense: true } }), /release\.json is invalid/);
    await refused(makeZip({ files: { worker: files.worker } }), /does not list updater\.sh/);
  });

  test('a truncated or non-zip file is refused', async () => {
    const file = join(tempDir('hive-zip-'), 'broken.zip');
    writeFileSync(file, Buffer.from('PK\u0003\u0004 not really a zip'));
    await refused(file, /not a readable zip/);
  });
});
