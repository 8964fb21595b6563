/**
 * Child → parent messages (src/task/ipc.ts has the other direction): checked by the parent on
 * arrival. Only the parent loads this module; a task process uses the types alone.
 */
import * as z from 'zod';
import { ResultErrorSchema } from '../wire/protocol.ts';
import { IPC_VERSION, LOG_LEVELS } from './ipc.ts';

/**
 * What the task wrote to stdout and stderr from its run message to its result, in bytes (both
 * flushed before the result is sent): the parent reads that much of each pipe, then takes the
 * result as the output's end. Absent where the streams cannot count (not pipes).
 */
const StdioBytesSchema = z
  .object({ stdout: z.number().int().nonnegative(), stderr: z.number().int().nonnegative() })
  .optional();

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
    stdioBytes: StdioBytesSchema,
  }),
  z.object({
    v: z.literal(IPC_VERSION),
    type: z.literal('result'),
    status: z.literal('succeeded'),
    /** The output was written to the run message's spool file, this long (the parent checks). */
    spooledBytes: z.number().int().nonnegative(),
    stdioBytes: StdioBytesSchema,
  }),
  z.object({
    v: z.literal(IPC_VERSION),
    type: z.literal('result'),
    status: z.enum(['failed', 'rejected']),
    error: ResultErrorSchema,
    stdioBytes: StdioBytesSchema,
  }),
]);
export type ChildMessage = z.infer<typeof ChildMessageSchema>;
