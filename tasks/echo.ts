import * as z from 'zod';
import { defineTask } from '../src/task/define.ts';

/** Returns its payload unchanged: the smallest useful task, for smoke tests and demos. */
export const echo = defineTask({
  name: 'echo',
  payload: z.unknown(),
  run: (payload) => payload,
});
