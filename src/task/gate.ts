/**
 * The worker's gate from a claimed task to a run: its bounds (protocol section 1), its type, and
 * the timeout it runs under, decided once before any heartbeat, timer or process is made from it.
 * A refused task gets its outcome here. The task process has its own gate (./child-gate.ts).
 */
import { clampTimerMs } from '../platform/timers.ts';
import { type Task, taskBoundsProblem } from '../wire/protocol.ts';
import {
  lookupTask,
  type TaskDefinition,
  type TaskRegistry,
  unknownTaskMessage,
} from './define.ts';
import { rejected } from './outcome.ts';
import { endedOutcome, type TaskOutcome } from './verdict.ts';

/** A task that passed the gate, with what it runs under. */
export interface AdmittedTask {
  admitted: true;
  task: Task;
  definition: TaskDefinition;
  /** Its timeout: the server's, else its definition's, else TASK_TIMEOUT; held by a timer. */
  timeoutMs: number;
  /** It may share its process with other tasks (TASKS_PER_PROCESS > 1): not `fresh`. */
  reusable: boolean;
}

export type Admission = AdmittedTask | { admitted: false; outcome: TaskOutcome };

export function admitTask(task: Task, registry: TaskRegistry, defaultTimeoutMs: number): Admission {
  // A timeoutSec or leaseSec out of range is refused before anything is made from it (a lease of
  // 0 would beat without pause).
  const outOfBounds = taskBoundsProblem(task);
  if (outOfBounds !== undefined) {
    return { admitted: false, outcome: endedOutcome(rejected('BAD_PAYLOAD', outOfBounds)) };
  }
  const definition = lookupTask(registry, task.type);
  if (definition === undefined) {
    const message = unknownTaskMessage(registry, task.type);
    return { admitted: false, outcome: endedOutcome(rejected('UNKNOWN_TASK', message)) };
  }
  const timeoutSec = task.timeoutSec ?? definition.timeoutSec ?? defaultTimeoutMs / 1000;
  return {
    admitted: true,
    task,
    definition,
    // A timer longer than Node holds would fire at once (src/platform/timers.ts).
    timeoutMs: clampTimerMs(timeoutSec * 1000),
    reusable: definition.fresh !== true,
  };
}
