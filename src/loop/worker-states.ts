/** The loop's (./worker.ts) states, their transitions, and the parts the loop is given. */
import type { Logger } from '../platform/log.ts';
import type { ResultDelivery } from '../results/delivery.ts';
import type { ResultLedger } from '../results/ledger.ts';
import type { Settings } from '../settings/table.ts';
import type { TaskRunner } from '../task/runner.ts';
import type { HiveClient } from '../wire/hive-client.ts';
import type { UpdateHint } from '../wire/outcomes.ts';
import type { StatusRecorder } from './status-file.ts';

/**
 * `working` claims and runs tasks. Three ways to claim no more: `draining` lets the running tasks
 * finish (--once after its claim, a failed handling), `draining-for-update` too (an update is
 * ready), `stopping` gives them SHUTDOWN_GRACE (Ctrl+C, SIGTERM). `stopped` is the end. The stop
 * signal is aborted exactly when the worker leaves `working`.
 */
export type WorkerState =
  | 'starting'
  | 'working'
  | 'draining'
  | 'draining-for-update'
  | 'stopping'
  | 'stopped';

export const TRANSITIONS: Record<WorkerState, readonly WorkerState[]> = {
  starting: ['working', 'draining-for-update', 'stopping'],
  working: ['draining', 'draining-for-update', 'stopping'],
  // Ctrl+C while draining (for --once, or an update): a shutdown after all, with its grace.
  draining: ['stopping', 'stopped'],
  'draining-for-update': ['stopping', 'stopped'],
  stopping: ['stopped'],
  stopped: [],
};

/** How `run()` ended: stopped (Ctrl+C, --once, a failure), or drained to install an update. */
export type RunEnd = 'stopped' | 'update';

export interface WorkerIdentity {
  workerId: string;
  version: string;
  platform: string;
}

/** What the loop asks of each part: no more, so a test can hand it small stand-ins. */
export type LoopClient = Pick<
  HiveClient,
  'speaks11' | 'claimTask' | 'releaseTask' | 'sendHeartbeat'
>;
export type LoopRunner = Pick<TaskRunner, 'taskTypes' | 'admit' | 'run' | 'release'>;
export type LoopLedger = Pick<
  ResultLedger,
  'size' | 'isFull' | 'unwritten' | 'writeOver' | 'storedResult' | 'requeue'
>;
export type LoopDelivery = Pick<
  ResultDelivery,
  'useNext' | 'sendQueued' | 'start' | 'settled' | 'stop' | 'deliver' | 'submit' | 'notify'
>;

export interface WorkerDeps {
  settings: Settings;
  client: LoopClient;
  ledger: LoopLedger;
  delivery: LoopDelivery;
  runner: LoopRunner;
  log: Logger;
  identity: WorkerIdentity;
  /** Asks self-update to check now; returns at once (downloads happen beside the loop). */
  onUpdateHint: (hint: UpdateHint) => void;
  /** The first good answer from the server (a task or none): a freshly updated worker is healthy. */
  onServerReached?: () => void;
  /** Handle at most one task (one claim), then stop. */
  once?: boolean;
  /** Keeps `<data>/status.json` up to date for `worker --status`. */
  status?: StatusRecorder;
  /** A task's handling is over, its result answered by the server or kept: its memory is garbage. */
  onTaskSettled?: () => void;
}
