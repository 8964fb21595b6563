/**
 * Heartbeats while a task runs (protocol section 2): every leaseSec/3 seconds, with the task's last
 * progress. The server saying the task is no longer ours cancels it; a lost beat does not.
 */
import { sleep } from '../platform/backoff.ts';
import type { Logger } from '../platform/log.ts';
import { clampTimerMs } from '../platform/timers.ts';
import type { HiveClient } from '../wire/hive-client.ts';
import { type HeartbeatRequest, isWithinBounds } from '../wire/protocol.ts';

/** Protocol: the lease when the task does not name one. */
export const DEFAULT_LEASE_SEC = 60;

export interface HeartbeatOptions {
  client: Pick<HiveClient, 'sendHeartbeat'>;
  workerId: string;
  taskId: string;
  leaseSec: number;
  progress: () => HeartbeatRequest['progress'];
  /** Called once when the server cancels the task or no longer knows it. */
  onCancel: (why: string) => void;
  log: Logger;
}

/**
 * Starts beating; the returned function stops it (and waits for a beat in flight). Until the first
 * beat is due there is only its timer: a task that ends sooner (most short ones) costs no more.
 */
export function startHeartbeats(options: HeartbeatOptions): () => Promise<void> {
  let stop: AbortController | undefined;
  let loop: Promise<void> | undefined;
  const first = setTimeout(
    () => {
      stop = new AbortController();
      loop = beat(options, stop.signal);
    },
    clampTimerMs(beatEveryMs(options.leaseSec)),
  );
  return async () => {
    clearTimeout(first);
    stop?.abort('stopped'); // a reason given: abort() alone makes a DOMException, a stack trace each
    await loop;
  };
}

const beatEveryMs = (leaseSec: number) => (leaseSec * 1000) / 3;

/** Beats from the first one due, then every leaseSec/3 (the lease as the server last set it). */
async function beat(options: HeartbeatOptions, stop: AbortSignal): Promise<void> {
  let leaseSec = options.leaseSec;
  let ignoredLeaseSec: number | undefined;
  for (let first = true; !stop.aborted; first = false) {
    if (!first) await sleep(beatEveryMs(leaseSec), stop);
    if (stop.aborted) return;
    const progress = options.progress();
    const body: HeartbeatRequest = {
      workerId: options.workerId,
      ...(progress === undefined ? {} : { progress }),
    };
    const answer = await options.client.sendHeartbeat(options.taskId, body, stop, leaseSec * 1000);
    if (stop.aborted) return;
    if (answer.kind === 'error') {
      options.log.warn(`heartbeat not delivered (the task keeps running): ${answer.error.message}`);
    } else if (answer.kind === 'gone') {
      options.onCancel(`the server no longer holds the task for us (HTTP ${answer.status})`);
      return;
    } else if (answer.cancel) {
      options.onCancel('the server cancelled the task');
      return;
    } else if (answer.leaseSec !== undefined && answer.leaseSec !== leaseSec) {
      // A lease out of the protocol's bounds (0, 1e12, 0.5) would make a beat storm or none.
      if (isWithinBounds('leaseSec', answer.leaseSec)) leaseSec = answer.leaseSec;
      else if (answer.leaseSec !== ignoredLeaseSec) {
        ignoredLeaseSec = answer.leaseSec;
        options.log.warn(
          `heartbeat answer names leaseSec ${answer.leaseSec}, outside 1…86400: ignored, still beating every ${leaseSec / 3} s`,
        );
      }
    }
  }
}
