/**
 * The data folder must be ours, on Windows: the release worker.exe under Wine 10 reads its data
 * folder's owner and DACL through node:ffi and refuses, exit 78 with one line, a folder others may
 * write to, one owned by someone else, one whose holder lets others swap it, and a link inside it.
 * The rule itself is unit-tested case by case (test/platform/windows-acl.unit.test.ts); what Wine
 * can and cannot show is in docs/reliability.md, "The data folder must be ours".
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { ROOT } from '../../scripts/build.ts';
import type { Ace } from '../../src/platform/windows-acl.ts';
import { builtWorker } from '../helpers/built-worker.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { aclBytes } from '../helpers/windows-acl-bytes.ts';
import {
  killLeftRuns,
  TEST_RELEASE_PUBLIC_KEY,
  WINE_ROOT,
  type WineDir,
  WinePrefix,
  type WineRun,
  windowsNode,
  wineDataDir,
  wineDir,
  wineTempDir,
} from '../helpers/wine.ts';

const NOBODY = 65534;
/** The user Wine's processes run as, when Wine runs as the owner of the files (root here). */
const WINE_USER = 'S-1-5-21-0-0-0-1000';
const FULL = 0x1f_01ff;
/** icacls' (M) */
const MODIFY = 0x13_01bf;
const OI_CI = 0x3;

let server: TestServer;
let prefix: WinePrefix;
let exe: WineDir;
/** A folder in the chroot with node.exe and the worker's own reader (src/platform/*.ts). */
let tools: WineDir;
const started: WineRun[] = [];
const READER = [
  'src/platform/ffi.ts',
  'src/platform/windows-acl.ts',
  'src/platform/windows-security.ts',
  'test/helpers/wine-acl-tool.ts',
];

before(async () => {
  prefix = new WinePrefix();
  // The same release build as wine.e2e.ts (cached between the two).
  const built = await builtWorker({
    platform: 'win32-x64',
    release: true,
    releasePublicKey: TEST_RELEASE_PUBLIC_KEY,
  });
  exe = prefix.place(built, wineTempDir('hive-wine-exe-'), 'worker.exe');
  tools = wineTempDir('hive-wine-tools-');
  prefix.place(windowsNode(), tools, 'node.exe');
  // Node 26 runs TypeScript as it is: the worker's reader, unbundled, and a script using it, in
  // the repository's layout.
  for (const file of READER) {
    mkdirSync(join(tools.host, dirname(file)), { recursive: true });
    copyFileSync(join(ROOT, file), join(tools.host, file));
  }
  prefix.init();
  server = await startTestServer();
});
afterEach(() => killLeftRuns(started));
after(async () => {
  prefix?.kill();
  await server?.close();
});

/** test/helpers/wine-acl-tool.ts under Wine (node.exe): its one RESULT line, parsed. */
async function aclTool<T>(...args: string[]): Promise<T> {
  const script = `${tools.windows}\\test\\helpers\\wine-acl-tool.ts`;
  const run = prefix.run(join(tools.inside, 'node.exe'), [script, ...args]);
  started.push(run);
  const code = await run.exited;
  const line = run
    .output()
    .split(/\r?\n/)
    .find((one) => one.startsWith('RESULT '));
  assert.ok(
    code === 0 && line !== undefined,
    `acl-tool ${args.join(' ')}: exit ${code}\n${run.output()}`,
  );
  return JSON.parse(line.slice('RESULT '.length)) as T;
}

interface Read {
  user: string;
  read: { owner: string | null; dacl: Ace[] | null } | { error: number };
  tag?: number;
}

/** worker.exe on `data` (HIVE_DATA_DIR), with `args`; its exit code and output. */
async function worker(data: WineDir, args: string[] = ['--once']) {
  const run = prefix.run(exe.inside, args, {
    env: { HIVE_SERVER_URL: server.url, HIVE_DATA_DIR: data.windows },
  });
  started.push(run);
  const code = await run.exited;
  return { code, output: run.output() };
}

/** Exit 78 and one line (Wine adds nothing with WINEDEBUG=-all) naming every part. */
function refusedWith(result: { code: number | null; output: string }, ...parts: string[]): string {
  assert.equal(result.code, 78, result.output);
  const lines = result.output.split(/\r?\n/).filter((line) => line.trim() !== '');
  assert.equal(lines.length, 1, `one line:\n${result.output}`);
  const line = lines[0] ?? '';
  for (const part of parts) assert.ok(line.includes(part), `"${part}" in:\n${line}`);
  assert.match(line, /Refusing to run: /);
  return line;
}

/** A data folder that exists, ours and private (0700), in a private holder. */
function privateDataDir(): WineDir {
  const data = wineDataDir();
  mkdirSync(data.host, { mode: 0o700 });
  chmodSync(data.host, 0o700);
  return data;
}

describe('the data folder on Windows (worker.exe under Wine 10)', () => {
  test('what Wine answers: an owner and a DACL for a folder on Z:, from the Unix owner and mode', async () => {
    const ours = privateDataDir();
    const open = privateDataDir();
    chmodSync(open.host, 0o777);
    const theirs = privateDataDir();
    chownSync(theirs.host, NOBODY, NOBODY);
    chmodSync(theirs.host, 0o755);
    const mine = await aclTool<Read>('read', ours.windows);
    assert.equal(mine.user, WINE_USER, 'the token user');
    assert.deepEqual(mine.read, {
      owner: WINE_USER,
      dacl: [
        { kind: 'allow', flags: OI_CI, mask: FULL, sid: 'S-1-5-18' },
        { kind: 'allow', flags: OI_CI, mask: FULL, sid: WINE_USER },
      ],
    });
    const world = await aclTool<Read>('read', open.windows);
    assert.deepEqual(
      'dacl' in world.read ? world.read.dacl?.find((ace) => ace.sid === 'S-1-1-0') : undefined,
      { kind: 'allow', flags: OI_CI, mask: 0x13_01ff, sid: 'S-1-1-0' },
      'mode 0777: Everyone may write',
    );
    const other = await aclTool<Read>('read', theirs.windows);
    assert.equal(
      'owner' in other.read ? other.read.owner : undefined,
      'S-1-5-7',
      'another Unix user',
    );
    const gone = await aclTool<Read>('read', `${ours.windows}\\no-such-folder`);
    assert.deepEqual(gone.read, { error: 2, detail: 'GetNamedSecurityInfoW: error 2' });
  });

  test('a data folder the worker makes itself, in a folder of its own: it runs, nothing unchecked', async () => {
    await server.admin.enqueue({ id: 'df-runs', type: 'echo', payload: { ours: true } });
    const data = wineDataDir();
    const run = await worker(data);
    assert.equal(run.code, 0, run.output);
    assert.equal((await server.admin.task('df-runs')).state, 'done');
    assert.doesNotMatch(run.output, /not checked|Refusing/);
    // And the folders it made inside pass the same rule the next time.
    const again = await worker(data, ['--status']);
    assert.equal(again.code, 0, again.output);
  });

  test('Everyone allowed to write (a DACL written with SetNamedSecurityInfoW): exit 78, one line', async () => {
    const data = privateDataDir();
    const dacl = aclBytes([
      { flags: OI_CI, mask: FULL, sid: 'S-1-5-18' },
      { flags: OI_CI, mask: FULL, sid: WINE_USER },
      { flags: OI_CI, mask: MODIFY, sid: 'S-1-1-0' },
    ]);
    assert.deepEqual(await aclTool('set-dacl', data.windows, dacl.toString('hex')), { error: 0 });
    const line = refusedWith(
      await worker(data),
      `the data folder ${data.windows} is writable by Everyone (S-1-1-0)`,
      `run icacls "${data.windows}" /inheritance:r /grant:r *${WINE_USER}:(OI)(CI)F /remove:g *S-1-1-0, or set DATA_DIR to a folder of your own`,
    );
    assert.ok(!existsSync(join(data.host, 'worker.lock')), `nothing made in it: ${line}`);
    assert.ok(!existsSync(join(data.host, 'logs')), 'no log opened in it');
  });

  test('owned by another (Unix) user: exit 78, one line naming the owner', async () => {
    const data = privateDataDir();
    chownSync(data.host, NOBODY, NOBODY);
    chmodSync(data.host, 0o777);
    refusedWith(
      await worker(data),
      `the data folder ${data.windows} is owned by ANONYMOUS LOGON (S-1-5-7), not by this user (${WINE_USER})`,
    );
    assert.ok(!existsSync(join(data.host, 'worker.lock')), 'nothing made in it');
  });

  test('a holder that lets others swap the data folder (Z:\\tmp): refused before anything is made', async () => {
    const data = wineDir(join(WINE_ROOT, 'tmp', `hive-wine-flat-${process.pid}-${Date.now()}`));
    refusedWith(
      await worker(data),
      `the folder Z:\\tmp, which holds the data folder ${data.windows}, lets Everyone (S-1-1-0)`,
      'remove or rename it or what is in it, so they could swap the data folder',
    );
    assert.ok(!existsSync(data.host), 'not created');
  });

  test('a folder in it open to Everyone (outbox, by SetNamedSecurityInfoW): refused, naming it', async () => {
    const data = privateDataDir();
    const outbox = join(data.host, 'outbox');
    mkdirSync(outbox, { mode: 0o700 });
    chmodSync(outbox, 0o700);
    const dacl = aclBytes([
      { flags: OI_CI, mask: FULL, sid: WINE_USER },
      { flags: OI_CI, mask: FULL, sid: 'S-1-1-0' },
    ]);
    assert.deepEqual(await aclTool('set-dacl', `${data.windows}\\outbox`, dacl.toString('hex')), {
      error: 0,
    });
    refusedWith(
      await worker(data),
      `the folder ${data.windows}\\outbox is writable by Everyone (S-1-1-0)`,
    );
  });

  test('a link planted in it (a Unix symlink, which Wine shows as a reparse point of tag 0): refused', async () => {
    const data = privateDataDir();
    const elsewhere = wineTempDir('hive-wine-elsewhere-');
    symlinkSync(elsewhere.inside, join(data.host, 'logs'));
    refusedWith(
      await worker(data),
      `${data.windows}\\logs is a link (reparse tag 0x0); the worker never follows one inside its data folder: remove it`,
    );
    assert.ok(!existsSync(join(elsewhere.host, 'worker.log')), 'nothing written through it');
  });

  test('a junction in it: Wine 10 cannot make one (ENOTSUP); once a Wine can, worker.exe must refuse it', async () => {
    const data = privateDataDir();
    const target = wineTempDir('hive-wine-target-');
    const made = await aclTool<{ made: boolean; error?: string }>(
      'junction',
      target.windows,
      `${data.windows}\\update`,
    );
    if (!made.made) {
      // Junctions are then checked by the unit tests only (reparse tag 0xa0000003).
      assert.match(made.error ?? '', /^ENOTSUP/);
      return;
    }
    refusedWith(await worker(data), `${data.windows}\\update is `, 'remove it');
  });

  test('without node:ffi (--node-options=--no-experimental-ffi): runs, and says once what it did not check', async () => {
    await server.admin.enqueue({ id: 'df-noffi', type: 'echo', payload: 1 });
    const data = wineDataDir();
    const run = await worker(data, ['--node-options=--no-experimental-ffi', '--once']);
    assert.equal(run.code, 0, run.output);
    const notes = run.output.split(/\r?\n/).filter((line) => line.includes('were not checked'));
    assert.equal(notes.length, 1, run.output);
    assert.match(
      notes[0] ?? '',
      /the owner and permissions of the data folder were not checked \(node:ffi is not available in this Node\)/,
    );
  });
});
