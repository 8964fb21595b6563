/**
 * `worker --requeue-rejected`: refused results (rejected/) back in the outbox unchanged, sent at the
 * next start. Under the data folder's lock: two processes moving the same files lose results.
 */
import { resolveDataDir } from '../platform/data-dir.ts';
import { acquireLock } from '../platform/lock.ts';
import { createLogger } from '../platform/log.ts';
import { ResultLedger } from '../results/ledger.ts';
import { Outbox } from '../results/outbox.ts';
import type { Settings } from '../settings/table.ts';

export interface RequeueInput {
  settings: Settings;
  installDir: string;
  env: Readonly<Record<string, string | undefined>>;
}

export function requeueRejected(input: RequeueInput, out: (text: string) => void): number {
  const dataDir = resolveDataDir(input.settings.dataDir, input.installDir, input.env).path;
  const releaseLock = acquireLock(dataDir); // throws LOCKED (exit 75) beside a running worker
  try {
    const log = createLogger({ level: 'warn', secrets: [] });
    const outbox = new Outbox({ dataDir, retentionMs: input.settings.resultRetentionMs, log });
    const ledger = new ResultLedger(outbox, input.settings.outboxMax).open();
    const { requeued, unreadable } = ledger.requeueRejected();
    out(
      `${requeued} refused result(s) put back in ${dataDir}/outbox; the worker sends them at its next start (${ledger.size} queued in all)\n`,
    );
    for (const file of unreadable) out(`  left in place, not a readable result: ${file}\n`);
    return 0;
  } finally {
    releaseLock();
  }
}
