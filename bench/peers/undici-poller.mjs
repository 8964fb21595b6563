// The idle-memory floor of `npm run bench:peers`: the least an undici-based worker can hold — a
// bare Node that claims from the Hive server once a second with undici and does nothing else (no
// settings, logger, schemas or task processes). Plain JavaScript, so that Node loads no TypeScript
// support into the measured process.
// Usage: node undici-poller.mjs <SERVER_URL>
import { request } from 'undici';

const [serverUrl] = process.argv.slice(2);
const body = JSON.stringify({
  workerId: 'bench-floor-00000000',
  version: '0.0.0',
  platform: `${process.platform}-${process.arch}`,
  tasks: ['echo'],
  waitSec: 0,
});
const headers = { 'content-type': 'application/json', 'x-hive-worker-id': 'bench-floor-00000000' };
const timer = setInterval(async () => {
  try {
    const answer = await request(new URL('tasks/claim', serverUrl), {
      method: 'POST',
      headers,
      body,
    });
    await answer.body.dump();
  } catch (error) {
    console.error('poll failed:', error.message);
  }
}, 1000);
process.once('SIGTERM', () => clearInterval(timer));
