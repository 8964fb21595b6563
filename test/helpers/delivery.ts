/**
 * A worker's outbox, ledger and delivery on a data folder, talking to a real server, as a start of
 * the worker builds them: for tests of a result's journey without a worker process.
 */
import type { Logger } from '../../src/platform/log.ts';
import { ResultDelivery } from '../../src/results/delivery.ts';
import { ResultLedger } from '../../src/results/ledger.ts';
import { Outbox, type OutboxOptions } from '../../src/results/outbox.ts';
import { HiveClient } from '../../src/wire/hive-client.ts';

export interface DeliveryParts {
  ledger: ResultLedger;
  delivery: ResultDelivery;
  client: HiveClient;
}

export function startDelivery(options: {
  serverUrl: string;
  dataDir: string;
  log: Logger;
  /** Most unsent results. @default 10 */
  maxEntries?: number;
  requestTimeoutMs?: number;
  fsynced?: OutboxOptions['fsynced'];
}): DeliveryParts {
  const { serverUrl, dataDir, log, fsynced } = options;
  const outbox = new Outbox({ dataDir, retentionMs: 3_600_000, log, fsynced });
  const ledger = new ResultLedger(outbox, options.maxEntries ?? 10).open();
  const client = new HiveClient({
    serverUrl,
    token: '',
    workerId: 'test-host-0000abcd',
    userAgent: 'hive-worker/1.0.0 (linux-x64)',
    connectTimeoutMs: 2000,
    requestTimeoutMs: options.requestTimeoutMs ?? 2000,
    maxErrorSleepMs: 1000,
    tcpKeepAlive: true,
  });
  const delivery = new ResultDelivery({
    ledger,
    client,
    log,
    errorSleepMs: 50,
    maxErrorSleepMs: 500,
  });
  return { ledger, delivery, client };
}
