/**
 * Parent ↔ child messages: a tiny versioned protocol, string-tagged and zod-checked on arrival.
 * Parent → child: `run`, `abort`. Child → parent: `ready`, `log`, `progress`, `result`.
 */
import * as z from 'zod';
import { ResultErrorSchema } from '../protocol.ts';

export const IPC_VERSION = 1;
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type StopReason = 'timeout' | 'cancel' | 'shutdown';

export const ParentMessageSchema = z.discriminatedUnion('type', [
  z.object({
    v: z.literal(IPC_VERSION),
    type: z.literal('run'),
    task: z.object({ id: z.string(), type: z.string(), payload: z.unknown(), attempt: z.number() }),
    maxResultBytes: z.number().int().positive(),
  }),
  z.object({
    v: z.literal(IPC_VERSION),
    type: z.literal('abort'),
    reason: z.enum(['timeout', 'cancel', 'shutdown']),
  }),
]);
export type ParentMessage = z.infer<typeof ParentMessageSchema>;

export const ChildMessageSchema = z.union([
  z.object({ v: z.literal(IPC_VERSION), type: z.literal('ready') }),
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
    status: z.enum(['failed', 'rejected']),
    error: ResultErrorSchema,
  }),
]);
export type ChildMessage = z.infer<typeof ChildMessageSchema>;

/** The flag that starts the executable (or the entry file) as a task child. */
export const TASK_CHILD_FLAG = '--task-child';
