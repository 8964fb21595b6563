/**
 * The field, on the built executable (issue 14): self-update is on (the build pins a key made
 * here), so versions, timers and the token's scope are exercised where they matter.
 * - No answer can stop the worker, as a property: every route answers from a script fast-check
 *   writes — random statuses, Retry-After and X-Hive-Latest-Version headers, bodies valid, mutated
 *   (timeoutSec 1e12, leaseSec 0, version 1.02.0, a major above 2^53, wrong types) or not JSON.
 *   After each script the worker is still running and claims again. One worker lives through every
 *   run (its state carries over, as in the field), so a failure is not shrunk: the seed is logged,
 *   and HIVE_PROPERTY_SEED=<seed> replays the same answers. Bounded in runs and time.
 * - timeoutSec 1e12 is answered rejected/BAD_PAYLOAD naming the field (it was timed out after
 *   149 ms: Node clamps such a timer to 1 ms); the longest allowed timeout runs normally.
 * - 1.02.0 in the header and in the version answer: one log line each, the worker goes on.
 * - A signed release on another origin (a CDN) is fetched without the token.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { buildWorker } from '../../scripts/build.ts';
import { signRelease } from '../../src/update/signature.ts';
import {
  type ScriptedAnswer,
  type ScriptedServer,
  startScriptedServer,
} from '../helpers/scripted-server.ts';
import { FIXTURE_ENTRY, startWorker, tempDir, type WorkerProcess } from '../helpers/worker.ts';

const KEYS = generateKeyPairSync('ed25519');
let exe: string;
before(async () => {
  // Built here, not through builtWorker(): its cache does not know the key, and other tests
  // must keep a build with self-update off.
  process.env.HIVE_RELEASE_PUBLIC_KEY = KEYS.publicKey.export({ format: 'jwk' }).x ?? '';
  try {
    const [built] = await buildWorker({
      entry: FIXTURE_ENTRY,
      outDir: tempDir('hive-field-build-'),
      platforms: ['linux-x64'],
      log: () => {},
    });
    assert.ok(built !== undefined);
    exe = built.file;
  } finally {
    delete process.env.HIVE_RELEASE_PUBLIC_KEY;
  }
});

/** The executable against `server`, fast, self-update checking every second. */
function startExecutable(serverUrl: string, env: Record<string, string> = {}): WorkerProcess {
  return startWorker({
    serverUrl,
    command: { file: exe, args: [] },
    env: {
      HIVE_NO_TASK_SLEEP: '0.01',
      HIVE_TIME_ERROR_SLEEP: '0.01',
      HIVE_MAX_ERROR_SLEEP: '0.05', // also the cap of every Retry-After
      HIVE_UPDATE_CHECK_INTERVAL: '1',
      HIVE_REQUEST_TIMEOUT: '2',
      HIVE_WARM_START: 'false',
      ...env,
    },
  });
}

async function until(
  worker: WorkerProcess,
  condition: () => boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    assert.equal(
      worker.child.exitCode,
      null,
      `the worker exited while ${what}:\n${worker.output().slice(-3000)}`,
    );
    if (Date.now() > deadline) assert.fail(`not ${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const SEED = Number(process.env.HIVE_PROPERTY_SEED ?? 20261205);

const statuses = fc.constantFrom(
  200,
  200,
  200,
  201,
  204,
  400,
  401,
  403,
  404,
  407,
  408,
  409,
  410,
  413,
  422,
  425,
  426,
  429,
  500,
  503,
);
/** Numbers as raw JSON text: what JSON.stringify could never write (1e400) included. */
const rawNumber = fc.constantFrom(
  '1',
  '60',
  '604800',
  '604801',
  '0',
  '-1',
  '0.5',
  '1e12',
  '1e400',
  '"60"',
  'null',
  'true',
);
const version = fc.constantFrom(
  '1.0.1',
  '2.0.0',
  '0.9.0',
  '1.02.0',
  '2.01.0',
  '1.0.0-01',
  '9007199254740993.0.0',
  '99999999999999999999.0.0',
  'v1',
  '',
  '1.0.0-rc.1',
);
const retryAfter = fc.constantFrom(
  '0',
  '1',
  '99999999999',
  '-3',
  'soon',
  'Wed, 21 Oct 2015 07:28:00 GMT',
  'Fri, 01 Jan 2100 00:00:00 GMT',
);

const headers = fc.record(
  { 'retry-after': retryAfter, 'x-hive-latest-version': version },
  { requiredKeys: [] },
);

/** A body that is JSON of the right shape with mutated fields, other JSON, or not JSON. */
function body(shaped: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: shaped },
    { weight: 1, arbitrary: fc.json({ maxDepth: 2 }) },
    { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
    { weight: 1, arbitrary: shaped.map((text) => text.slice(0, Math.floor(text.length / 2))) },
  );
}

const task = fc
  .record({
    id: fc.oneof(
      fc.string({ minLength: 1, maxLength: 12 }),
      fc.constantFrom('__proto__', 'constructor', '../x', ''),
    ),
    type: fc.constantFrom('echo', 'sleep', 'no_such_task', '__proto__'),
    payload: fc.oneof(
      { weight: 3, arbitrary: fc.constant('{"ms":400}') },
      fc.constant('{"ms":20}'),
      fc.constant('"hi"'),
      fc.constant('{"ms":-1}'),
      fc.constant('null'),
    ),
    // Mostly absent or valid, so that tasks do run (and heartbeats and results get answered too).
    timeoutSec: fc.option(
      fc.oneof({ weight: 3, arbitrary: fc.constantFrom('1', '5') }, rawNumber),
      { freq: 2 },
    ),
    leaseSec: fc.option(fc.oneof({ weight: 3, arbitrary: fc.constantFrom('1', '60') }, rawNumber), {
      freq: 2,
    }),
    attempt: fc.option(fc.constantFrom('1', '2', '2', '0', '1.5', '"1"'), { freq: 2 }),
    force: fc.option(fc.constantFrom('true', 'false', 'false', '"yes"'), { freq: 2 }),
  })
  .map((t) => {
    const fields = [
      `"id":${JSON.stringify(t.id)}`,
      `"type":${JSON.stringify(t.type)}`,
      `"payload":${t.payload}`,
    ];
    for (const name of ['timeoutSec', 'leaseSec', 'attempt', 'force'] as const) {
      if (t[name] !== null) fields.push(`"${name}":${t[name]}`);
    }
    return `{"task":{${fields.join(',')}}}`;
  });

const heartbeatBody = fc
  .record({
    leaseSec: fc.option(rawNumber),
    cancel: fc.option(fc.constantFrom('true', 'false', '1')),
  })
  .map(
    (h) =>
      `{${[h.leaseSec === null ? '' : `"leaseSec":${h.leaseSec}`, h.cancel === null ? '' : `"cancel":${h.cancel}`].filter(Boolean).join(',')}}`,
  );

const releaseBody = fc
  .record({
    version,
    url: fc.constantFrom(
      'releases/w.zip',
      'http://[bad',
      'file:///etc/passwd',
      'https://cdn.example/w.zip',
      '',
    ),
    sha256: fc.constantFrom('a'.repeat(64), 'nope'),
    size: rawNumber,
    signature: fc.constantFrom('AAAA', ''),
  })
  .map(
    (r) =>
      `{"version":${JSON.stringify(r.version)},"url":${JSON.stringify(r.url)},"sha256":"${r.sha256}","size":${r.size},"signature":"${r.signature}"}`,
  );

const answer = (
  shaped: fc.Arbitrary<string>,
  status: fc.Arbitrary<number> = statuses,
): fc.Arbitrary<ScriptedAnswer> => fc.record({ status, headers, body: body(shaped) });
/** Claims (and version answers) are mostly 200s: a task is where heartbeats and results start. */
const claimStatus = fc.oneof({ weight: 3, arbitrary: fc.constant(200) }, statuses);

const scripts = fc.record({
  claim: fc.array(answer(task, claimStatus), { minLength: 1, maxLength: 8 }),
  heartbeat: fc.array(answer(heartbeatBody), { maxLength: 3 }),
  result: fc.array(answer(fc.constant('{}')), { maxLength: 4 }),
  // Mostly 200s too: a version answer must be parsed for its version to matter.
  version: fc.array(answer(releaseBody, claimStatus), { maxLength: 3 }),
});

describe('no answer can stop the worker (property)', () => {
  let server: ScriptedServer;
  let worker: WorkerProcess;
  before(async () => {
    server = await startScriptedServer();
    worker = startExecutable(server.url);
    await worker.waitForOutput(/worker id/, 30_000);
  });
  after(async () => {
    await worker?.stop();
    await server?.close();
  });

  test('random and mutated answers on every endpoint; it keeps claiming', {
    timeout: 180_000,
  }, async () => {
    console.log(`answers property: seed ${SEED} (HIVE_PROPERTY_SEED=${SEED} replays it)`);
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(scripts, async (script) => {
        runs += 1;
        for (const route of ['claim', 'heartbeat', 'result', 'version'] as const)
          server.script[route].push(...script[route]);
        const claimsBefore = server.counts.claim;
        // Every scripted claim answer used, then two more claims: it is still polling.
        await until(
          worker,
          () =>
            server.script.claim.length === 0 &&
            server.counts.claim >= claimsBefore + script.claim.length + 2,
          20_000,
          'claiming through the script',
        );
      }),
      { seed: SEED, numRuns: 12, endOnFailure: true, interruptAfterTimeLimit: 60_000 },
    );
    // Version answers are asked for once a second (and on hints): all given, then claims go on.
    await until(worker, () => server.script.version.length === 0, 30_000, 'asking for a version');
    const claims = server.counts.claim;
    await until(worker, () => server.counts.claim >= claims + 3, 10_000, 'claiming after all');
    assert.doesNotMatch(worker.output(), /unexpected failure|Unhandled|TimeoutOverflowWarning/);
    assert.ok(server.counts.version > 0, 'the version endpoint was asked');
    console.log(
      `answers property: ${runs} runs; requests: claim ${server.counts.claim}, heartbeat ${server.counts.heartbeat}, result ${server.counts.result}, version ${server.counts.version}; the worker is still up`,
    );
  });
});

const resultsOf = (server: ScriptedServer) =>
  server.requests
    .filter((request) => request.route === 'result')
    .map(
      (request) =>
        JSON.parse(request.body) as {
          status: string;
          error: { code: string; message: string } | null;
        },
    );

describe('timers and versions on the executable', () => {
  test('timeoutSec 1e12 / leaseSec 0 are refused naming the field; the longest allowed timeout runs', async () => {
    const server = await startScriptedServer();
    const task = (id: string, extra: string) => ({
      status: 200,
      body: `{"task":{"id":"${id}","type":"sleep","payload":{"ms":400}${extra}}}`,
    });
    server.script.claim.push(
      task('huge-timeout', ',"timeoutSec":1e12'),
      task('zero-lease', ',"leaseSec":0'),
      task('longest', ',"timeoutSec":604800,"leaseSec":86400'),
    );
    const worker = startExecutable(server.url);
    try {
      await until(worker, () => resultsOf(server).length >= 3, 30_000, 'reporting three results');
      const [huge, zero, longest] = resultsOf(server);
      assert.equal(huge?.status, 'rejected');
      assert.equal(huge?.error?.code, 'BAD_PAYLOAD');
      assert.match(
        huge?.error?.message ?? '',
        /timeoutSec must be a whole number of seconds from 1 to 604800, got 1000000000000/,
      );
      assert.equal(zero?.status, 'rejected');
      assert.match(zero?.error?.message ?? '', /leaseSec must be .* from 1 to 86400, got 0/);
      assert.equal(longest?.status, 'succeeded', 'not timed out at once');
      assert.doesNotMatch(worker.output(), /TimeoutOverflowWarning/);
    } finally {
      await worker.stop();
      await server.close();
    }
  });

  test('1.02.0 in X-Hive-Latest-Version and in the version answer: one log line each, still claiming', async () => {
    const server = await startScriptedServer();
    const header = { 'x-hive-latest-version': '1.02.0' };
    for (let i = 0; i < 5; i++) server.script.claim.push({ status: 204, headers: header });
    const bad = { url: 'releases/w.zip', sha256: 'a'.repeat(64), size: 10, signature: 'AAAA' };
    server.script.version.push(
      { status: 200, body: JSON.stringify({ version: '1.02.0', ...bad }) },
      { status: 200, body: JSON.stringify({ version: '9007199254740993.0.0', ...bad }) },
    );
    const worker = startExecutable(server.url);
    try {
      await until(
        worker,
        () => server.script.version.length === 0 && server.counts.claim > 8,
        30_000,
        'asking twice for a version',
      );
      await until(
        worker,
        () =>
          /version answer 200 is invalid at version.*\n(.|\n)*version answer 200 is invalid at version/.test(
            worker.output(),
          ),
        10_000,
        'logging both version answers',
      );
      const output = worker.output();
      assert.equal((output.match(/ignoring X-Hive-Latest-Version "1\.02\.0"/g) ?? []).length, 1);
      assert.equal(worker.child.exitCode, null);
      const claims = server.counts.claim;
      await until(worker, () => server.counts.claim >= claims + 3, 10_000, 'claiming on');
    } finally {
      await worker.stop();
      await server.close();
    }
  });
});

describe('the token stays home (executable)', () => {
  test('a signed release on another origin (a CDN) is fetched without the token', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const zip = Buffer.from('not really a zip, but signed'); // refused after the download
    const cdn = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(200, { 'content-length': zip.length }).end(zip);
    });
    await new Promise<void>((resolve) => cdn.listen(0, '127.0.0.1', resolve));
    const cdnUrl = `http://127.0.0.1:${(cdn.address() as AddressInfo).port}/w.zip`;
    const server = await startScriptedServer();
    const sha256 = createHash('sha256').update(zip).digest('hex');
    const version = '1.9.0';
    const signature = signRelease({ platform: 'linux-x64', version, sha256 }, KEYS.privateKey);
    server.script.version.push({
      status: 200,
      body: JSON.stringify({ version, url: cdnUrl, sha256, size: zip.length, signature }),
    });
    const worker = startExecutable(server.url, { HIVE_TOKEN: 'field-token-1234' });
    try {
      await until(worker, () => seen.length > 0, 30_000, 'downloading from the CDN');
      await worker.waitForOutput(/update to 1\.9\.0 not installed/, 30_000);
      assert.equal(seen[0]?.authorization, undefined, 'no token to another origin');
      const ours = server.requests.filter((request) => request.route !== 'other');
      assert.ok(ours.length > 0);
      assert.ok(
        ours.every((request) => request.headers.authorization === 'Bearer field-token-1234'),
        'the token on every request to SERVER_URL',
      );
      assert.equal(worker.child.exitCode, null);
    } finally {
      await worker.stop();
      await server.close();
      cdn.closeAllConnections();
      cdn.close();
    }
  });
});
