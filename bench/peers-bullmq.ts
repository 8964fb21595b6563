/**
 * The BullMQ side of `npm run bench:peers`: a private redis-server (Debian's) on 127.0.0.1, and
 * BullMQ's sandboxed worker (bench/peers/bullmq-worker.mjs, its own process) fed through BullMQ's
 * public Queue API. Every time is taken from what BullMQ and Redis record (a job's `finishedOn`,
 * the `completed` event's stream entry), as the Hive side's come from what the reference server
 * records.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { ROOT } from '../scripts/build.ts';
import { tempDir } from '../test/helpers/worker.ts';
import { onCleanup, processMemory, stopProcess } from './measure.ts';

const INSTALL_HINT =
  'redis-server is not installed: `npm run bench:peers` installs it (scripts/ensure-tools.sh --redis), or run `apt-get install -y redis-server`';

/** A port nobody listens on now (the kernel's pick), for redis-server, which cannot take port 0. */
async function freePort(): Promise<number> {
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const address = probe.address();
  probe.close();
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

/**
 * Starts redis-server on 127.0.0.1 on a free port, with no persistence (no RDB snapshot, no AOF)
 * and its working folder in a temp folder; stopped on cleanup, whatever ends the bench. `durable`:
 * an append-only file fsynced after every write (`appendfsync always`), so a finished job is on
 * disk before BullMQ's worker is answered, as a Hive result is in the outbox before the server
 * is told.
 */
export async function startRedis({ durable = false } = {}): Promise<{
  port: number;
  version: string;
  dir: string;
}> {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined) throw new Error(INSTALL_HINT);
  const version = /v=(\S+)/.exec(probe.stdout)?.[1] ?? 'unknown';
  const port = await freePort();
  const dir = tempDir('hive-bench-redis-');
  const server = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      durable ? 'yes' : 'no',
      ...(durable ? ['--appendfsync', 'always'] : []),
      '--dir',
      dir,
      '--loglevel',
      'warning',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  onCleanup(() => stopProcess(server));
  // One connection attempt per try (no reconnecting in the background), errors taken here.
  const client = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await client.connect();
      await client.ping();
      break;
    } catch (error) {
      client.disconnect();
      if (server.exitCode !== null) throw new Error(`redis-server exited (${server.exitCode})`);
      if (Date.now() > deadline)
        throw new Error(`redis-server did not answer within 10 s`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  client.disconnect();
  return { port, version, dir };
}

/** BullMQ's version, as installed (package.json pins it). */
export function bullmqVersion(): string {
  const result = spawnSync(process.execPath, ['-p', "require('bullmq/package.json').version"], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return result.stdout.trim();
}

export class BullmqSide {
  readonly #port: number;
  readonly #queues: (Queue | QueueEvents)[] = [];

  constructor(redisPort: number) {
    this.#port = redisPort;
    onCleanup(() => this.close());
  }

  #connection() {
    return { host: '127.0.0.1', port: this.#port };
  }

  queue(name: string): Queue {
    const queue = new Queue(name, { connection: this.#connection() });
    this.#queues.push(queue);
    return queue;
  }

  /** BullMQ's sandboxed worker on `queueName`, in its own process, once connected. */
  async startWorker(queueName: string): Promise<ChildProcess> {
    const child = spawn(
      process.execPath,
      [join(ROOT, 'bench', 'peers', 'bullmq-worker.mjs'), String(this.#port), queueName],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    onCleanup(() => stopProcess(child));
    let seen = '';
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        if (seen.includes('ready')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`the BullMQ worker exited (${code})`)));
    });
    await ready;
    return child;
  }

  /**
   * `count` no-op jobs added at once (addBulk) before the worker starts, then run: milliseconds
   * from the first job's finish to the last one's, per job after the first (the first pays for
   * starting the sandbox process, as the Hive side's first task pays for its first process).
   */
  async perTaskQueued(count: number): Promise<number> {
    return (await this.perTaskQueuedWithCpu(count)).perTask;
  }

  /** perTaskQueued, and the CPU its worker process (not the sandbox) used per job, in ms. */
  async perTaskQueuedWithCpu(count: number): Promise<{ perTask: number; workerCpuMs: number }> {
    const name = `queued-${Date.now()}`;
    const queue = this.queue(name);
    await queue.addBulk(Array.from({ length: count }, (_, i) => ({ name: 'echo', data: i })));
    const worker = await this.startWorker(name);
    const deadline = Date.now() + 120_000;
    while ((await queue.getCompletedCount()) < count) {
      if (Date.now() > deadline) throw new Error(`BullMQ: ${count} jobs not done within 120 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const workerCpuMs = (processMemory(worker.pid ?? 0).cpuSec * 1000) / count;
    await stopProcess(worker);
    const finished = (await queue.getCompleted(0, -1)).map((job) => job.finishedOn ?? Number.NaN);
    return { perTask: (Math.max(...finished) - Math.min(...finished)) / (count - 1), workerCpuMs };
  }

  /**
   * One job added to the idle worker on `queueName`: milliseconds from just before the add (the
   * bench's clock) to its completion recorded in Redis (the `completed` event's stream entry,
   * stamped with Redis's clock when moveToFinished ran), as the Hive side's ends when the server
   * records the result. Not the job's `finishedOn`: BullMQ's worker stamps that before it sends the
   * completion, so it would leave BullMQ's send and Redis's write out of BullMQ's figure.
   */
  async oneTask(queue: Queue, events: QueueEvents, data: number): Promise<number> {
    const recordedAt = new Map<string, number>();
    const onCompleted = ({ jobId }: { jobId: string }, id: string) => {
      recordedAt.set(jobId, Number(id.split('-')[0]));
    };
    events.on('completed', onCompleted); // before the add: the event cannot come first
    try {
      const before = Date.now();
      const job = await queue.add('echo', data);
      await job.waitUntilFinished(events, 30_000);
      // waitUntilFinished hears the job's own event, emitted just after the one heard here.
      const at = recordedAt.get(job.id ?? '');
      if (at === undefined) throw new Error(`BullMQ: no completed event for job ${job.id}`);
      return at - before;
    } finally {
      events.off('completed', onCompleted);
    }
  }

  events(queueName: string): QueueEvents {
    const events = new QueueEvents(queueName, { connection: this.#connection() });
    this.#queues.push(events);
    return events;
  }

  async close(): Promise<void> {
    await Promise.all(this.#queues.splice(0).map((one) => one.close()));
  }
}
