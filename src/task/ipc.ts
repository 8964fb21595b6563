/**
 * Parent ↔ child messages: a tiny versioned protocol, string-tagged and zod-checked on arrival.
 * Parent → child (here): `run`, `abort`. Child → parent (./child-messages.ts, loaded by the
 * parent only): `ready`, `log`, `progress`, `result`.
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
    /** Where an output over `overBytes` bytes of JSON is written instead of sent (./spool.ts). */
    spool: z.object({ file: z.string(), overBytes: z.number().int().nonnegative() }).optional(),
    /** After the result: undo what the task left (./isolation.ts), say `ready`, do not exit. */
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
