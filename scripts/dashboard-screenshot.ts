/**
 * `node scripts/dashboard-screenshot.ts [out.png]`: the picture of the dashboard in README
 * (docs/images/dashboard.png). Starts the reference server (in memory, with tokens and a releases
 * folder), a real worker from source, enqueues a few tasks of each kind, waits until one is
 * running with progress, and photographs the page in headless Chromium (scripts/ensure-tools.sh).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Browser } from './headless-browser.ts';
import { createAdminClient } from './server/admin-client.ts';
import { startServer } from './server/start.ts';

const OUT =
  process.argv[2] ?? fileURLToPath(new URL('../docs/images/dashboard.png', import.meta.url));
const WORKER_ENTRY = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const ADMIN = 'screenshot-admin';
const WORKER = 'screenshot-worker';

const dir = mkdtempSync(join(tmpdir(), 'hive-dashboard-shot-'));
const releasesDir = join(dir, 'releases');
const releaseFiles = ['worker-1.0.0-linux-x64', 'worker-1.1.0-linux-x64', 'worker-1.1.0-win32-x64'];
mkdirSync(releasesDir);
for (const name of releaseFiles) writeFileSync(join(releasesDir, `${name}.json`), '{}\n');

const server = await startServer({ adminToken: ADMIN, workerTokens: [WORKER], releasesDir });
const admin = createAdminClient(server.url, { token: ADMIN });
let worker: ChildProcess | undefined;
let browser: Browser | undefined;
try {
  for (const x of [1, 2, 3]) await admin.enqueue({ type: 'echo', payload: { x } });
  await admin.enqueue({ type: 'prom_pars', payload: { text: 'up 1\nhttp_requests_total 1027\n' } });
  await admin.enqueue({ type: 'prom_pars', payload: { txt: 'oops' } });
  await admin.enqueue({ type: 'sleep', payload: { ms: 60_000 }, leaseSec: 6 });
  for (const x of [4, 5, 6, 7]) await admin.enqueue({ type: 'echo', payload: { x } });
  worker = spawn(process.execPath, [WORKER_ENTRY], {
    env: {
      ...process.env,
      HIVE_SERVER_URL: server.url,
      HIVE_TOKEN: WORKER,
      HIVE_DATA_DIR: join(dir, 'worker'),
      HIVE_WAIT_SEC: '1',
      HIVE_SHUTDOWN_GRACE: '0',
    },
    stdio: 'ignore',
  });
  await admin.waitFor(async () => {
    const progress = (await admin.tasks()).find((task) => task.type === 'sleep')?.progress;
    return (progress as { percent?: number } | null)?.percent;
  }, 30_000);
  browser = await Browser.launch();
  const page = await browser.newPage(1280, 900);
  await page.goto(new URL('/', server.url).href);
  await page.evaluate(`sessionStorage.setItem('hive-admin-token', ${JSON.stringify(ADMIN)})`);
  await page.goto(new URL('/', server.url).href);
  await page.waitFor(`document.querySelectorAll('#results tr[data-task]').length >= 5`);
  await page.evaluate(`document.querySelector('#payload').value = '{"x": 8}'`);
  writeFileSync(OUT, await page.screenshot());
  console.log(`wrote ${OUT}`);
} finally {
  await browser?.close();
  if (worker !== undefined && worker.exitCode === null) {
    const exited = once(worker, 'exit');
    worker.kill('SIGTERM');
    await exited;
  }
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
