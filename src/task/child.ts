/**
 * The child side: receives a task over IPC, puts it through its gate (./child-gate.ts), runs it,
 * sends the result (and, in a reused process, waits for the next one). It never talks to the Hive
 * server; the parent owns the network and the outbox.
 */
import { writeFile } from 'node:fs/promises';
import * as z from 'zod';
import { admitRun, isEnded, outputText, thrownBy } from './child-gate.ts';
import type { ChildMessage } from './child-messages.ts';
import type { LoadRegistry, TaskContext, TaskLogger, TaskRegistry } from './define.ts';
import { IPC_VERSION, type LOG_LEVELS, type ParentMessage, ParentMessageSchema } from './ipc.ts';
import { isolateTask, type TaskIsolation } from './isolation.ts';
import { localNetworkFromArgv, taskNetwork } from './network.ts';
import type { Ended } from './outcome.ts';

type Send = (message: ChildMessage) => Promise<void>;

/** TASK_LOCAL_NETWORK, as the worker put it on this process's command line (./command.ts). */
const network = taskNetwork(localNetworkFromArgv(process.argv));

/** A task process from start to exit: one task (reused: one at a time until retired), then exit. */
export async function runTaskProcess(loadRegistry: LoadRegistry): Promise<void> {
  // The worker gone, the task and its group go too; a CPU-bound task that never frees this event
  // loop is ended by the worker's guardian instead (./task-processes.ts).
  process.on('disconnect', () => {
    if (process.platform !== 'win32') killOwnGroup();
    process.exit(0);
  });
  await runTaskChild(await loadRegistry());
  await flushStdio();
  process.exit(0); // the result is sent: handles a task left open must not keep its process alive
}

/** Handles tasks until one not followed by another has its result sent. */
export function runTaskChild(registry: TaskRegistry): Promise<void> {
  // Each schema is parsed about once here: zod's compiled fast path would cost more than it saves.
  z.config({ jitless: true });
  const sendNow: Send = (message) =>
    new Promise((resolve) => {
      if (process.send === undefined || !process.connected) return resolve();
      process.send(message, undefined, {}, () => resolve());
    });
  /** stdout and stderr's byte counts when the running task's run message came. */
  let atRun = stdioWritten();
  // The task's output leaves before its result, which says how much it was: the parent takes the
  // result as the output's end once it has read that much.
  const send: Send = (message) =>
    message.type === 'result'
      ? flushStdio().then(() => sendNow(withStdioBytes(message, atRun)))
      : sendNow(message);
  /** The task running now: one at a time, each with an AbortSignal of its own. */
  let running: AbortController | undefined;
  return new Promise((resolve) => {
    process.on('message', (raw) => {
      const parsed = ParentMessageSchema.safeParse(raw);
      if (!parsed.success) return;
      const message = parsed.data;
      if (message.type === 'abort') {
        running?.abort(new Error(`task stopped: ${message.reason}`));
        return;
      }
      if (running !== undefined) return; // the parent sends a run only after `ready`
      atRun = stdioWritten();
      const controller = new AbortController();
      running = controller;
      const isolation = message.reuse === true ? isolateTask() : undefined;
      const done = handleRun(message, registry, controller.signal, send);
      if (isolation === undefined) {
        done.then(resolve, resolve);
        return;
      }
      void done
        .then(() => afterTask(controller, isolation, send))
        .then(() => {
          running = undefined;
        });
    });
    void send({ v: IPC_VERSION, type: 'ready' }).then(() => setImmediate(warmUp));
  });
}

/**
 * After a task in a reused process: its signal aborted, what it left undone (./isolation.ts), then
 * `ready` with the process's memory — or exit, when what it left cannot be undone.
 */
async function afterTask(
  controller: AbortController,
  isolation: TaskIsolation,
  send: Send,
): Promise<void> {
  controller.abort(new Error('task finished'));
  // A rejection nobody handles (a delay left waiting on the signal) ends the process here, before
  // it says ready, not in the middle of the next task.
  await new Promise((resolve) => setImmediate(resolve));
  const { leftovers } = isolation.restore();
  if (leftovers) {
    await flushStdio();
    process.exit(0); // the parent sees an exit, not `ready`: the next task gets another process
  }
  await send({ v: IPC_VERSION, type: 'ready', rssBytes: process.memoryUsage.rss() });
}

/** While a spare waits, handling runs once: the first task does not wait for V8 to compile it. */
function warmUp(): void {
  const parsed = ParentMessageSchema.safeParse({
    v: IPC_VERSION,
    type: 'run',
    task: { id: 'warm-up', type: 'warm-up', payload: { n: 1, s: 'x' }, attempt: 1 },
    maxResultBytes: 1024,
  });
  void process.stdout; // created on first use
  void process.stderr;
  // The whole handling once, with a task that does nothing and a result that goes nowhere.
  if (parsed.success && parsed.data.type === 'run') {
    const registry: TaskRegistry = {
      'warm-up': {
        name: 'warm-up',
        payload: z.object({ n: z.number() }),
        run: () => ({ ok: true }),
      },
    };
    void handleRun(parsed.data, registry, new AbortController().signal, () => Promise.resolve());
  }
}

async function handleRun(
  message: Extract<ParentMessage, { type: 'run' }>,
  registry: TaskRegistry,
  signal: AbortSignal,
  send: Send,
): Promise<void> {
  const fail = (ended: Ended) => send({ v: IPC_VERSION, type: 'result', ...ended });
  const { task } = message;
  const runnable = await admitRun(task, registry);
  if (isEnded(runnable)) return fail(runnable);
  const ctx: TaskContext = {
    signal,
    log: taskLogger(send),
    progress(percent, text) {
      void send({
        v: IPC_VERSION,
        type: 'progress',
        percent: clampPercent(percent),
        message: text,
      });
    },
    taskId: task.id,
    attempt: task.attempt,
    network,
  };
  let output: unknown;
  try {
    output = await runnable.definition.run(runnable.payload, ctx);
  } catch (thrown) {
    return fail(thrownBy(thrown));
  }
  const text = outputText(output, message.maxResultBytes);
  if (isEnded(text)) return fail(text);
  const { outputJson, bytes } = text;
  if (message.spool !== undefined && bytes > message.spool.overBytes) {
    try {
      // One write of the text this process made; the worker copies it on a buffer at a time.
      await writeFile(message.spool.file, outputJson);
      return send({ v: IPC_VERSION, type: 'result', status: 'succeeded', spooledBytes: bytes });
    } catch {
      // Cannot write there (a full disk): the output goes over IPC, as a small one does.
    }
  }
  return send({ v: IPC_VERSION, type: 'result', status: 'succeeded', outputJson });
}

function taskLogger(send: Send): TaskLogger {
  const line = (level: (typeof LOG_LEVELS)[number]) => (msg: string) => {
    void send({
      v: IPC_VERSION,
      type: 'log',
      level,
      msg: String(msg),
      at: new Date().toISOString(),
    });
  };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}

function clampPercent(percent: number): number | undefined {
  return Number.isFinite(percent) ? Math.min(100, Math.max(0, percent)) : undefined;
}

type StdioBytes = { stdout: number; stderr: number };

/** Bytes written to stdout and stderr so far (pipes count them); undefined where they do not. */
function stdioWritten(): StdioBytes | undefined {
  const stdout = (process.stdout as { bytesWritten?: unknown }).bytesWritten;
  const stderr = (process.stderr as { bytesWritten?: unknown }).bytesWritten;
  return typeof stdout === 'number' && typeof stderr === 'number' ? { stdout, stderr } : undefined;
}

/** The result with what its task wrote since `atRun` (flushed: all of it is in the pipes). */
function withStdioBytes(message: ChildMessage, atRun: StdioBytes | undefined): ChildMessage {
  const now = stdioWritten();
  if (message.type !== 'result' || now === undefined || atRun === undefined) return message;
  const stdioBytes = { stdout: now.stdout - atRun.stdout, stderr: now.stderr - atRun.stderr };
  return { ...message, stdioBytes };
}

/**
 * Waits until what the task wrote to stdout/stderr has left the process: with an IPC channel
 * these pipes are asynchronous, and exiting at once would cut the task's output short.
 */
export function flushStdio(): Promise<void> {
  const flush = (stream: NodeJS.WriteStream) =>
    new Promise<void>((resolve) => {
      // Nothing buffered: every byte written is already in the pipe (a write waits a turn).
      if (stream.destroyed || !stream.writable || stream.writableLength === 0) return resolve();
      stream.write('', () => resolve());
    });
  return Promise.all([flush(process.stdout), flush(process.stderr)]).then(() => undefined);
}

/** SIGKILL to the group this process leads (this process included); nothing if it leads none. */
function killOwnGroup(): void {
  try {
    process.kill(-process.pid, 'SIGKILL');
  } catch {
    // Not a group leader (started by hand): no group has this pid as its id.
  }
}
