import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Browser, type Page } from '../../scripts/headless-browser.ts';
import { fakeWorker, resultBody, startTestServer, type TestServer } from '../helpers/server.ts';
import { startWorker, type WorkerProcess } from '../helpers/worker.ts';

const ADMIN = 'dash-admin-token';
const WORKER = 'dash-worker-token';
/** What anyone who can enqueue may put in an id or a payload: it must show as text, never run. */
const HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>';

let server: TestServer;
let browser: Browser;
let page: Page;
let worker: WorkerProcess | undefined;
before(async () => {
  server = await startTestServer({ adminToken: ADMIN, workerTokens: [WORKER] });
  browser = await Browser.launch();
  page = await browser.newPage();
});
after(async () => {
  await worker?.stop();
  await browser.close();
  await server.close();
});

const rowIds = (table: string, extra = '') =>
  `[...document.querySelectorAll('#${table} tbody tr[data-task]${extra}')].map((row) => row.dataset.task)`;

test('the page loads for anyone, holds no data, and asks for the admin token', async () => {
  const dashboard = new URL('/', server.url).href;
  const answer = await fetch(dashboard);
  assert.equal(answer.status, 200);
  assert.match(answer.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  await page.goto(dashboard);
  const status = await page.waitFor<string>(`document.querySelector('#status.error')?.textContent`);
  assert.match(status, /401.*admin token/);
});

test('with the token typed in, a task enqueued through the form runs on a real worker and its result appears', async () => {
  await page.evaluate(`(() => {
    document.querySelector('#token').value = ${JSON.stringify(ADMIN)};
    document.querySelector('#token-form').requestSubmit();
  })()`);
  assert.equal(await page.evaluate(`sessionStorage.getItem('hive-admin-token')`), ADMIN);
  await page.waitFor(`!document.querySelector('#status').classList.contains('error')`);
  await page.evaluate(`(() => {
    document.querySelector('#type').value = 'echo';
    document.querySelector('#payload').value = ${JSON.stringify(JSON.stringify({ note: HOSTILE }))};
    document.querySelector('#count').value = '2';
    document.querySelector('#enqueue').requestSubmit();
  })()`);
  const queued = await page.waitFor<string[]>(
    `(${rowIds('queued')}).length === 2 && ${rowIds('queued')}`,
  );
  const tasks = await server.admin.tasks();
  assert.deepEqual(
    tasks.map((task) => [task.id, task.type, task.payload]),
    queued.map((id) => [id, 'echo', { note: HOSTILE }]),
  );
  assert.ok(!(await page.evaluate<string>('location.href')).includes(ADMIN));

  worker = startWorker({ serverUrl: server.url, env: { HIVE_TOKEN: WORKER } });
  const done = await page.waitFor<string[]>(
    `(${rowIds('results', '[data-status="succeeded"]')}).length === 2 && ${rowIds('results')}`,
    30_000,
  );
  assert.deepEqual([...done].sort(), [...queued].sort());
  const shown = await page.evaluate<string>(`document.querySelector('#results tbody').textContent`);
  assert.ok(shown.includes(JSON.stringify({ note: HOSTILE })), shown);
  assert.equal(await page.evaluate(`document.querySelectorAll('main img, main script').length`), 0);
  assert.equal(await page.evaluate('window.pwned'), undefined);
  const seen = await page.waitFor<string>(
    `document.querySelector('#workers tbody tr[data-worker]')?.textContent`,
  );
  assert.match(seen, /1\.0\.0/);
  assert.match(seen, new RegExp(`${process.platform}-${process.arch}`));
});

test('a hostile task id shows as text, and its Cancel button cancels it', async () => {
  await worker?.stop();
  worker = undefined;
  await server.admin.enqueue({ id: HOSTILE, type: 'never-run', payload: HOSTILE });
  await page.waitFor(`(${rowIds('queued')}).includes(${JSON.stringify(HOSTILE)})`);
  await page.evaluate(`[...document.querySelectorAll('#queued button[data-cancel]')]
    .find((button) => button.dataset.cancel === ${JSON.stringify(HOSTILE)}).click()`);
  await server.admin.waitFor(async () => (await server.admin.task(HOSTILE)).state === 'cancelled');
  await page.waitFor(`!(${rowIds('queued')}).includes(${JSON.stringify(HOSTILE)})`);
  assert.equal(await page.evaluate('window.pwned'), undefined);
});

test('a running task shows its progress; a failed one its error and log tail', async () => {
  await server.admin.enqueue({ id: 'dash-progress', type: 'slow', payload: {} });
  const hand = fakeWorker(server.url, { token: WORKER, workerId: 'hand-worker-1' });
  assert.equal((await hand.claim(['slow'])).status, 200);
  await hand.heartbeat('dash-progress', { percent: 40, message: `step 2 of 5 ${HOSTILE}` });
  const running = await page.waitFor<string>(
    `document.querySelector('#running tr[data-task="dash-progress"]')?.textContent`,
  );
  assert.match(running, /hand-worker-1/);
  assert.ok(running.includes(`40% step 2 of 5 ${HOSTILE}`), running);
  const at = new Date().toISOString();
  const failed = resultBody({
    workerId: 'hand-worker-1',
    status: 'failed',
    output: null,
    error: { code: 'TASK_ERROR', message: 'the disk is full' },
    logs: [
      { at, level: 'info', msg: 'started' },
      { at, level: 'error', msg: `gave up ${HOSTILE}` },
    ],
  });
  assert.equal((await hand.postResult('dash-progress', failed)).status, 200);
  const row = await page.waitFor<string>(
    `document.querySelector('#results tr[data-task="dash-progress"][data-status="failed"]')?.textContent`,
  );
  assert.match(row, /TASK_ERROR: the disk is full/);
  assert.ok(row.includes(`INFO started\nERROR gave up ${HOSTILE}`), row);
  assert.equal(await page.evaluate('window.pwned'), undefined);
});
