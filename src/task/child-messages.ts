/**
 * Child → parent messages (src/task/ipc.ts has the other direction): checked by the parent on
 * arrival. Only the parent loads this module; a task process uses the types alone.
 */
import * as z from 'zod';
import { ResultErrorSchema } from '../wire/protocol.ts';
import { IPC_VERSION, LOG_LEVELS } from './ipc.ts';

export const ChildMessageSchema = z.union([
  z.object({
    v: z.literal(IPC_VERSION),
    type: z.literal('ready'),
    /** Sent by a reused process after a task: its resident memory then (REUSE_MAX_RSS). */
    rssBytes: z.number().nonnegative().optional(),
  }),
  z.object({
    v: z.literal(IPC_VERSION),
    type: z.literal('log'),
    level: z.enum(LOG_LEVELS),
    msg: z.string(),
    at: z.string(),
  }),
  z.object({
    v: z.literal(IPC_VERSION),
    type: z.literal('progress'),
    percent: z.number().min(0).max(100).optional(),
    message: z.string().optional(),
  }),
  z.object({
    v: z.literal(IPC_VERSION),
    type: z.literal('result'),
    status: z.literal('succeeded'),
    /** The output as JSON text: serialized (and size-checked) once, in the child. */
    outputJson: z.string(),
  }),
  z.object({
    v: z.literal(IPC_VERSION),
    type: z.literal('result'),
    status: z.literal('succeeded'),
    /** The output was written to the run message's spool file, this long (the parent checks). */
    spooledBytes: z.number().int().nonnegative(),
  }),
  z.object({
    v: z.literal(IPC_VERSION),
    type: z.literal('result'),
    status: z.enum(['failed', 'rejected']),
    error: ResultErrorSchema,
  }),
]);
export type ChildMessage = z.infer<typeof ChildMessageSchema>;
