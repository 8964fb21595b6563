// The per-task floor of `npm run bench:peers` for ANY worker speaking protocol v1 to the reference
// server: a bare Node that claims a task and posts its result with undici, one after the other,
// running nothing, keeping nothing on disk (no settings, logger, schemas, outbox or task process).
// What the server takes to answer a claim and record a result is in this figure; the worker's
// own cost is what it adds on top. Plain JavaScript, like undici-poller.mjs.
// Usage: node protocol-client.mjs <SERVER_URL> <count>   (prints the tasks it handled)
import { randomUUID } from 'node:crypto';
import { request } from 'undici';

const [serverUrl, countText] = process.argv.slice(2);
const workerId = 'bench-protocol-00000000';
const headers = { 'content-type': 'application/json', 'x-hive-worker-id': workerId };
const claim = JSON.stringify({
  workerId,
  version: '0.0.0',
  platform: `${process.platform}-${process.arch}`,
  tasks: ['echo'],
  waitSec: 0,
});
let handled = 0;
while (handled < Number(countText)) {
  const answer = await request(new URL('tasks/claim', serverUrl), {
    method: 'POST',
    headers,
    body: claim,
  });
  if (answer.statusCode !== 200) {
    await answer.body.dump();
    break;
  }
  const { task } = await answer.body.json();
  const at = new Date().toISOString();
  const resultId = randomUUID();
  const result = await request(new URL(`tasks/${encodeURIComponent(task.id)}/result`, serverUrl), {
    method: 'POST',
    headers: { ...headers, 'idempotency-key': resultId },
    body: JSON.stringify({
      workerId,
      resultId,
      workerVersion: '0.0.0',
      status: 'succeeded',
      output: task.payload,
      error: null,
      attempt: task.attempt,
      startedAt: at,
      finishedAt: at,
    }),
  });
  await result.body.dump();
  handled++;
}
console.log(handled);
