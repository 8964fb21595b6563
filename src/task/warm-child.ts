/**
 * Task processes, started ahead of need. Each task still gets a fresh process, but the next one is
 * started while the current task runs, so a task never waits for a process to start. A spare
 * that is not used within its time to live is stopped: an idle worker holds no extra process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { ChildMessageSchema } from './ipc.ts';

/** How to start this program again in task mode: the executable itself, or node + the entry file. */
export interface ChildCommand {
  file: string;
  args: string[];
}

export interface StartedChild {
  child: ChildProcess;
  /** The child said `ready` (before anyone listened for it). */
  ready: boolean;
  /** spawn() failed (recorded here, so an early error never goes unheard). */
  error: Error | undefined;
}

export function spawnTaskChild(command: ChildCommand, env: NodeJS.ProcessEnv): StartedChild {
  const child = spawn(command.file, command.args, {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    shell: false,
    windowsHide: true,
    env,
  });
  const started: StartedChild = { child, ready: false, error: undefined };
  child.on('error', (error) => {
    started.error = error;
  });
  const onReady = (raw: unknown) => {
    const parsed = ChildMessageSchema.safeParse(raw);
    if (parsed.success && parsed.data.type === 'ready') {
      started.ready = true;
      child.off('message', onReady);
    }
  };
  child.on('message', onReady);
  return started;
}

const isAlive = ({ child }: StartedChild) =>
  child.exitCode === null && child.signalCode === null && child.connected;

export class WarmChildren {
  readonly #ttlMs: number;
  #spare:
    | {
        command: ChildCommand;
        env: NodeJS.ProcessEnv;
        started: StartedChild;
        timer: NodeJS.Timeout;
      }
    | undefined;

  /** @param ttlMs how long an unused spare lives */
  constructor(ttlMs: number) {
    this.#ttlMs = ttlMs;
  }

  /** A fresh child for a task: the spare when it fits and is alive, else a new one. */
  take(command: ChildCommand, env: NodeJS.ProcessEnv): StartedChild {
    const spare = this.#spare;
    this.#spare = undefined;
    if (spare !== undefined) {
      clearTimeout(spare.timer);
      if (spare.env === env && sameCommand(spare.command, command) && isAlive(spare.started))
        return spare.started;
      spare.started.child.kill('SIGKILL');
    }
    return spawnTaskChild(command, env);
  }

  /** The spare's pid, if one is waiting (for tests and --status). */
  get sparePid(): number | undefined {
    return this.#spare?.started.child.pid;
  }

  /** Starts the next task's process now, while the current task runs. */
  prepare(command: ChildCommand, env: NodeJS.ProcessEnv): void {
    if (this.#spare !== undefined) return;
    const started = spawnTaskChild(command, env);
    // Not waited on by anyone until taken: its pipes must not fill up, its exit needs no one.
    started.child.stdout?.resume();
    started.child.stderr?.resume();
    const timer = setTimeout(() => this.close(), this.#ttlMs);
    timer.unref();
    this.#spare = { command, env, started, timer };
  }

  /** Stops the spare, if any. */
  close(): void {
    const spare = this.#spare;
    this.#spare = undefined;
    if (spare === undefined) return;
    clearTimeout(spare.timer);
    spare.started.child.kill('SIGKILL');
  }
}

function sameCommand(a: ChildCommand, b: ChildCommand): boolean {
  return (
    a.file === b.file &&
    a.args.length === b.args.length &&
    a.args.every((arg, i) => arg === b.args[i])
  );
}
