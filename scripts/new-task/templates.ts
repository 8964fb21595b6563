/**
 * The files `npm run new-task -- <name>` writes: a task that works as it stands (it upper-cases
 * strings) and shows every part of the contract, and its test. Both are formatted as Biome wants
 * them; new-task still runs Biome over them.
 */

/** Identifiers the two templates declare or import: a task may not be named like one of them. */
export const TEMPLATE_IDENTIFIERS: readonly string[] = [
  'z',
  'defineTask',
  'assert',
  'describe',
  'it',
  'fakeContext',
  'runDirectly',
  'runInTaskProcess',
];

/** A payload the template task accepts, for the messages new-task prints. */
export const SAMPLE_PAYLOAD = { items: ['hello', 'world'] };

export function taskSource(name: string): string {
  return `import * as z from 'zod';
import { defineTask } from '../src/task/define.ts';

/**
 * ${name}: made by \`npm run new-task\`. It upper-cases strings; replace that with the real work,
 * and this line with what the task does. The contract: docs/adding-a-task.md.
 */
export const ${name} = defineTask({
  name: '${name}',
  // Checked in the task process before \`run\`: a payload that does not fit is reported
  // \`rejected\` (BAD_PAYLOAD) without running. \`run\`'s argument type follows this schema.
  payload: z.strictObject({
    /** The strings to work on. */
    items: z.array(z.string()).min(1).max(10_000),
  }),
  // This type's timeout in seconds; the server's \`timeoutSec\` wins, TASK_TIMEOUT is the fallback.
  timeoutSec: 60,
  async run({ items }, ctx) {
    // A task that fetches a URL from its payload goes only where the worker allows:
    // ctx.network.checkUrl(url) and ctx.network.lookup (docs/adding-a-task.md, "ctx.network").
    // Reaches the worker's log and the result's \`logs\` (the last 64 KiB).
    ctx.log.info(\`upper-casing \${items.length} item(s)\`);
    const done: string[] = [];
    for (const item of items) {
      // Aborted on timeout, server cancel or shutdown: stop now (after KILL_GRACE it is killed).
      ctx.signal.throwIfAborted();
      done.push(item.toUpperCase());
      // Travels with the next heartbeat; only the latest value is sent.
      ctx.progress((done.length / items.length) * 100, \`\${done.length} of \${items.length}\`);
    }
    // Any JSON value is the result's output; a throw makes the result \`failed\` (TASK_ERROR).
    return { count: done.length, items: done };
  },
});
`;
}

export function testSource(name: string): string {
  return `import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ${name} } from '../../tasks/${name}.ts';
import { fakeContext, runDirectly, runInTaskProcess } from '../helpers/task.ts';

describe('${name}', () => {
  it('upper-cases the items, logging and reporting progress', async () => {
    const { ctx, logs, progress } = fakeContext();
    const output = await runDirectly(${name}, { items: ['a', 'b'] }, ctx);
    assert.deepEqual(output, { count: 2, items: ['A', 'B'] });
    assert.deepEqual(
      logs.map((line) => line.msg),
      ['upper-casing 2 item(s)'],
    );
    assert.deepEqual(
      progress.map((step) => step.percent),
      [50, 100],
    );
  });

  it('refuses a payload that does not fit its schema', () => {
    for (const payload of [{}, { items: [] }, { items: 'a' }, { items: ['a'], extra: 1 }]) {
      assert.equal(${name}.payload.safeParse(payload).success, false, JSON.stringify(payload));
    }
  });

  it('stops when its signal aborts', async () => {
    const { ctx, abort } = fakeContext();
    abort(new Error('task stopped: cancel'));
    await assert.rejects(runDirectly(${name}, { items: ['a'] }, ctx), /task stopped: cancel/);
  });

  it('runs in a task process, as the worker runs it', async () => {
    const outcome = await runInTaskProcess('${name}', { items: ['a'] });
    assert.equal(outcome.status, 'succeeded', JSON.stringify(outcome.error));
    assert.deepEqual(outcome.output, { count: 1, items: ['A'] });
    assert.deepEqual(
      outcome.logs.map((line) => line.msg),
      ['upper-casing 1 item(s)'],
    );
    const rejected = await runInTaskProcess('${name}', { items: 'a' });
    assert.equal(rejected.status, 'rejected');
    assert.equal(rejected.error?.code, 'BAD_PAYLOAD');
  });
});
`;
}
