/**
 * `node bench/hostile-answers.ts`: what a hostile claim answer — a valid task plus
 * `"junk":[{},{},…]` — costs the worker (from source), with and without the worker's
 * `--max-semi-space-size=1`: the time from the answer's last byte to the worker's next claim (read
 * and parse), and the worker's peak RSS. Figures: docs/performance.md, "Hostile answers".
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { startHostileServer } from '../test/helpers/hostile-server.ts';
import { FAST_SETTINGS, FIXTURE_ENTRY, tempDir } from '../test/helpers/worker.ts';

const SIZES = [16 * 1024 * 1024, 66_000_000];
const FLAGS = [['--max-semi-space-size=1'], []];

function peakRssMiB(pid: number): number {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Math.round(Number(kb) / 1024);
}

function junkAnswer(bytes: number): Buffer[] {
  const head = Buffer.from('{"task":{"id":"t-junk","type":"echo","payload":{"a":1}},"junk":[');
  const junk = Buffer.alloc(Math.floor((bytes - head.length - 4) / 3) * 3, '{},');
  return [head, junk, Buffer.from('{}]}')];
}

async function measure(bytes: number, flags: string[]): Promise<Record<string, unknown>> {
  const server = await startHostileServer();
  const parts = junkAnswer(bytes);
  let answeredAt = 0;
  let next: (() => void) | undefined;
  const claimedAgain = new Promise<void>((resolve) => {
    next = resolve;
  });
  server.handlers.claim = (res: ServerResponse, _request, n) => {
    if (n === 1) {
      res.writeHead(200, { 'content-type': 'application/json' });
      for (const part of parts.slice(0, -1)) res.write(part);
      res.end(parts.at(-1), () => {
        answeredAt = performance.now();
      });
    } else {
      if (n === 2) next?.();
      res.writeHead(204).end();
    }
  };
  const child = spawn(process.execPath, ['--use-system-ca', ...flags, FIXTURE_ENTRY], {
    env: {
      ...process.env,
      ...FAST_SETTINGS,
      HIVE_CONCURRENCY: '2',
      HIVE_REQUEST_TIMEOUT: '120',
      HIVE_SERVER_URL: server.url,
      HIVE_DATA_DIR: tempDir('hive-bench-'),
    },
    stdio: 'ignore',
  });
  await claimedAgain;
  const parseMs = Math.round(performance.now() - answeredAt);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const peak = peakRssMiB(child.pid as number);
  child.kill('SIGKILL');
  await server.close();
  return { bytes, flags: flags.join(' ') || '(none)', readAndParseMs: parseMs, peakRssMiB: peak };
}

for (const bytes of SIZES) {
  for (const flags of FLAGS) console.log(JSON.stringify(await measure(bytes, flags)));
}
process.exit(0);
