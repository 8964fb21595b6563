/**
 * startHeartbeats against the reference server (in this process) with the real client: nothing is
 * sent before the first beat is due (leaseSec / 3), then one every leaseSec / 3, and a stop ends
 * them, a stop before the first one included.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { serverMetric } from '../../bench/measure.ts';
import { startHeartbeats } from '../../src/loop/heartbeat.ts';
import { createLogger } from '../../src/platform/log.ts';
import { HiveClient } from '../../src/wire/hive-client.ts';
import { startTestServer } from '../helpers/server.ts';

const server = await startTestServer();
const client = new HiveClient({
  serverUrl: server.url,
  token: '',
  workerId: 'w-beat',
  userAgent: 'test',
  connectTimeoutMs: 2000,
  requestTimeoutMs: 2000,
  maxErrorSleepMs: 1000,
  tcpKeepAlive: false,
});
after(async () => {
  await client.close();
  await server.close();
});

const beats = () => serverMetric(server.url, 'hive_server_heartbeats_total');

/** A task leased to w-beat for `leaseSec`: the server answers its heartbeats 200. */
async function leased(id: string, leaseSec: number): Promise<void> {
  await server.admin.enqueue({ id, type: 'echo', payload: 0, leaseSec });
  const claim = await client.claimTask({
    workerId: 'w-beat',
    version: '1.0.0',
    platform: 'linux-x64',
    tasks: ['echo'],
    waitSec: 0,
  });
  assert.equal(claim.kind, 'task');
}

function beatsFor(taskId: string, leaseSec: number, cancelled: string[]) {
  return startHeartbeats({
    client,
    workerId: 'w-beat',
    taskId,
    leaseSec,
    progress: () => undefined,
    onCancel: (why) => cancelled.push(why),
    log: createLogger({ level: 'silent', secrets: [] }),
  });
}

describe('heartbeats', () => {
  test('none before leaseSec / 3, then one every leaseSec / 3; stopped, no more', async () => {
    await leased('beat-a', 3); // a beat every second
    const cancelled: string[] = [];
    const before = await beats();
    const stop = beatsFor('beat-a', 3, cancelled);
    await delay(600);
    assert.equal(await beats(), before, 'nothing sent before the first beat is due');
    await delay(1_800); // 2.4 s in: beats at 1 and 2 s
    const sent = (await beats()) - before;
    assert.ok(sent >= 2 && sent <= 3, `${sent} beats in 2.4 s`);
    await stop();
    const atStop = await beats();
    await delay(1_300);
    assert.equal(await beats(), atStop, 'none after the stop');
    assert.deepEqual(cancelled, []);
  });

  test('a stop before the first beat is due: none is ever sent', async () => {
    await leased('beat-b', 3);
    const before = await beats();
    const stop = beatsFor('beat-b', 3, []);
    await delay(200);
    await stop();
    await delay(1_300);
    assert.equal(await beats(), before);
  });
});
