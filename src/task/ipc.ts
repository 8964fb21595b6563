/**
 * Parent ↔ child messages: a tiny versioned protocol, string-tagged and zod-checked on arrival.
 * Parent → child (here): `run`, `abort`. Child → parent (./child-messages.ts, which only the
 * parent loads, so a task process does not build schemas it never uses): `ready`, `log`,
 * `progress`, `result`.
 */
import * as z from 'zod';

export const IPC_VERSION = 1;
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type StopReason = 'timeout' | 'cancel' | 'shutdown';

export const ParentMessageSchema = z.discriminatedUnion('type', [
  z.object({
    v: z.literal(IPC_VERSION),
    type: z.literal('run'),
    task: z.object({
      id: z.string(),
      type: z.string(),
      payload: z.unknown(),
      /** The payload as the JSON text it arrived in (then `payload` is null): parsed here. */
      payloadJson: z.string().optional(),
      /** Or a file holding that text, for a big payload (src/task/spool.ts). */
      payloadFile: z.string().optional(),
      attempt: z.number(),
    }),
    maxResultBytes: z.number().int().positive(),
    /**
     * Where an output of more than `overBytes` bytes of JSON is written instead of being sent
     * over IPC (a file the parent names, in the outbox's spool/): the worker then copies it to
     * the outbox file without holding it.
     */
    spool: z.object({ file: z.string(), overBytes: z.number().int().nonnegative() }).optional(),
    /**
     * The process may run another task after this one (TASKS_PER_PROCESS > 1): after the result it
     * undoes what the task left behind (./isolation.ts) and says `ready` again instead of exiting.
     */
    reuse: z.boolean().optional(),
  }),
  z.object({
    v: z.literal(IPC_VERSION),
    type: z.literal('abort'),
    reason: z.enum(['timeout', 'cancel', 'shutdown']),
  }),
]);
export type ParentMessage = z.infer<typeof ParentMessageSchema>;

export { TASK_CHILD_FLAG } from './flag.ts';
