import { setTimeout as delay } from 'node:timers/promises';
import * as z from 'zod';
import { defineTask } from '../src/task/define.ts';

/** Waits `ms` milliseconds, reporting progress, and stops early when its signal aborts. */
export const sleep = defineTask({
  name: 'sleep',
  payload: z.object({ ms: z.number().int().min(0).max(86_400_000) }),
  async run({ ms }, ctx) {
    const steps = Math.min(10, Math.max(1, Math.floor(ms / 100)));
    for (let step = 1; step <= steps; step++) {
      await delay(ms / steps, undefined, { signal: ctx.signal });
      ctx.progress((step / steps) * 100, `slept ${Math.round((ms * step) / steps)} of ${ms} ms`);
    }
    ctx.log.info(`slept ${ms} ms`);
    return { slept: ms };
  },
});
