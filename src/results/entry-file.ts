/**
 * One result file of outbox/, done/ or rejected/ (./outbox.ts): `{"taskId":…,"storedAt":…,
 * "body":<the POST body>}`, the body last and as the very text that is sent, never parsed or
 * encoded again. A file with the body not last is read too: JSON.stringify(JSON.parse(body))
 * gives its text back.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import * as z from 'zod';
import type { FileData } from '../platform/fs-atomic.ts';
import {
  type EncodedResult,
  RESULT_STATUSES,
  ResultBodySchema,
  type StoredResult,
} from '../wire/protocol.ts';

/** A result the outbox keeps: its body is the text that is POSTed, in memory or in a file. */
export interface OutboxEntry {
  taskId: string;
  storedAt: string;
  body: StoredResult;
}

/**
 * Files up to this size are read whole; a bigger one's body stays on disk and the POST streams
 * it. Small: a big read is a big allocation the C allocator keeps.
 */
export const READ_WHOLE_BYTES = 64 * 1024;
/** How much of a big file is read for its head: the fields before the output are small. */
const HEAD_BYTES = 32 * 1024;

const EntrySchema = z.object({ taskId: z.string(), body: ResultBodySchema, storedAt: z.string() });
/** A big file's head: the entry and the body's fields up to its output. */
const HeadSchema = z.object({
  taskId: z.string(),
  storedAt: z.string(),
  body: z.object({ resultId: z.string(), status: z.enum(RESULT_STATUSES) }),
});

function headOf(taskId: string, storedAt: string, extra: Record<string, unknown> = {}): string {
  const head = JSON.stringify({ taskId, storedAt, ...extra });
  return `${head.slice(0, -1)},"body":`;
}

/** A kept entry's file as pieces: the head, the body (its text or its file's slice), `}`. */
export function entryPieces(entry: OutboxEntry, extra: Record<string, unknown> = {}): FileData {
  const { body } = entry;
  const bodyPiece =
    'json' in body ? body.json : { file: body.file, start: body.start, bytes: body.bytes };
  return [headOf(entry.taskId, entry.storedAt, extra), bodyPiece, '}'];
}

/**
 * A new result's file as pieces, and the entry it is once written to `file`: a body with a
 * spooled output is composed there (head, the output's file, tail) and read back from there.
 */
export function newEntryFile(
  taskId: string,
  storedAt: string,
  body: EncodedResult,
  file: string,
): { entry: OutboxEntry; pieces: FileData } {
  const head = headOf(taskId, storedAt);
  const { resultId, status } = body;
  if ('json' in body) return { entry: { taskId, storedAt, body }, pieces: [head, body.json, '}'] };
  const bytes = Buffer.byteLength(body.head) + body.output.bytes + Buffer.byteLength(body.tail);
  const start = Buffer.byteLength(head);
  return {
    entry: { taskId, storedAt, body: { resultId, status, file, start, bytes } },
    pieces: [
      head,
      body.head,
      { file: body.output.file, start: 0, bytes: body.output.bytes },
      body.tail,
      '}',
    ],
  };
}

/**
 * A file's entry; throws when it is corrupt. A big file is checked by its head and last byte only:
 * files are written whole or not at all (src/platform/fs-atomic.ts).
 */
export function readEntryFile(file: string): OutboxEntry {
  const size = statSync(file).size;
  if (size > READ_WHOLE_BYTES) {
    const entry = readHead(file, size);
    if (entry !== undefined) return entry;
  }
  return decodeEntry(readFileSync(file, 'utf8'));
}

function readHead(file: string, size: number): OutboxEntry | undefined {
  const fd = openSync(file, 'r');
  let head: Buffer;
  const last = Buffer.alloc(1);
  try {
    head = Buffer.alloc(Math.min(HEAD_BYTES, size));
    head = head.subarray(0, readSync(fd, head, 0, head.length, 0));
    readSync(fd, last, 0, 1, size - 1);
  } finally {
    closeSync(fd);
  }
  // Neither can occur inside a string before them (a string's quotes are escaped there), so the
  // first of each is the key; JSON.stringify writes no whitespace.
  const start = head.indexOf('"body":{') + '"body":'.length;
  const output = head.indexOf(',"output":', start);
  if (start < '"body":'.length || output < 0 || last.toString() !== '}') return undefined;
  let parsed: z.infer<typeof HeadSchema>;
  try {
    parsed = HeadSchema.parse(JSON.parse(`${head.subarray(0, output).toString('utf8')}}}`));
  } catch {
    return undefined; // not this layout: read whole
  }
  const { taskId, storedAt, body } = parsed;
  const bytes = size - start - 1;
  return {
    taskId,
    storedAt,
    body: { resultId: body.resultId, status: body.status, file, start, bytes },
  };
}

/** A file's entry, checked whole; the body is the file's own text when it is last. */
export function decodeEntry(text: string): OutboxEntry {
  const raw: unknown = JSON.parse(text);
  const { taskId, storedAt, body } = EntrySchema.parse(raw);
  const keys = Object.keys(raw as object);
  const start = text.indexOf('"body":') + '"body":'.length;
  // `"body":` cannot occur inside an earlier string (its quotes would be escaped there), so the
  // first one is the key; JSON.stringify writes no whitespace, so the body ends before the last `}`.
  const json =
    keys.at(-1) === 'body' && text.endsWith('}') && !/\s/.test(text[start] ?? '')
      ? text.slice(start, -1)
      : JSON.stringify(body);
  return { taskId, storedAt, body: { resultId: body.resultId, status: body.status, json } };
}

/** resultIds are ours (UUIDs), but a file name must never be able to escape the folder. */
export function fileName(resultId: string): string {
  return /^[0-9A-Za-z-]{1,100}$/.test(resultId) ? `${resultId}.json` : `${taskKey(resultId)}`;
}

/** Task ids are the server's: any text. Hash them into a safe file name. */
export function taskKey(taskId: string): string {
  return `${createHash('sha256').update(taskId).digest('hex').slice(0, 40)}.json`;
}
