// The BullMQ side of `npm run bench:peers`, in its own process so that its memory is measured as a
// process tree like the Hive worker's: one BullMQ Worker through BullMQ's public API, concurrency
// 1, running echo-processor.cjs sandboxed (BullMQ's default: a child process it reuses from job to
// job). Plain JavaScript, so that Node loads no TypeScript support into the measured process.
// Usage: node bullmq-worker.mjs <redis port> <queue name>; prints "ready" once connected.
import { fileURLToPath } from 'node:url';
import { Worker } from 'bullmq';

const [port, queueName] = process.argv.slice(2);
const worker = new Worker(
  queueName,
  fileURLToPath(new URL('./echo-processor.cjs', import.meta.url)),
  {
    connection: { host: '127.0.0.1', port: Number(port) },
    concurrency: 1,
  },
);
worker.on('error', (error) => console.error('bullmq worker:', error.message));
await worker.waitUntilReady();
console.log('ready');
process.once('SIGTERM', async () => {
  await worker.close();
  process.exitCode = 0;
});
