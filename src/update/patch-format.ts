/**
 * The patch container (protocol 1.1-f; docs/updating.md "Patches"): `HIVEPATCH1\n`, the header's
 * length (uint32 BE), the JSON header (every file: name, size, sha256, `zstd` whole or `patch` in
 * `chunkBytes` frames against the old file), then one blob per file. scripts/release writes it.
 */
import { readSync } from 'node:fs';
import * as z from 'zod';
import { isSafeFileName } from './extract.ts';

export const PATCH_MAGIC = Buffer.from('HIVEPATCH1\n');
/** A header is a few hundred bytes; anything far above that is not ours. */
export const MAX_HEADER_BYTES = 64 * 1024;
/** Each frame of a `patch` blob is preceded by its length (uint32, big-endian). */
export const FRAME_PREFIX_BYTES = 4;

const SHA256 = z.string().regex(/^[0-9a-f]{64}$/);
const COUNT = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

const PatchFileSchema = z.object({
  name: z.string().refine(isSafeFileName, 'a plain file name'),
  size: COUNT,
  sha256: SHA256,
  blobBytes: COUNT,
  make: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('zstd') }),
    z.object({
      kind: z.literal('patch'),
      /** The old release's file of that name is the base: its size and sha256 must match. */
      base: z.string().refine(isSafeFileName, 'a plain file name'),
      baseSize: COUNT,
      baseSha256: SHA256,
      chunkBytes: z
        .number()
        .int()
        .min(1024 * 1024)
        .max(64 * 1024 * 1024),
      marginBytes: z
        .number()
        .int()
        .nonnegative()
        .max(64 * 1024 * 1024),
    }),
  ]),
});
export type PatchFile = z.infer<typeof PatchFileSchema>;

export const PatchHeaderSchema = z.object({
  format: z.literal(1),
  platform: z.string(),
  from: z.string(),
  to: z.string(),
  files: z.array(PatchFileSchema).min(1).max(8),
});
export type PatchHeader = z.infer<typeof PatchHeaderSchema>;

/** The slice of the base file chunk `index` is patched against: the chunk's range ± the margin. */
export function baseWindow(
  make: { chunkBytes: number; marginBytes: number; baseSize: number },
  index: number,
): { start: number; end: number } {
  const start = Math.max(0, index * make.chunkBytes - make.marginBytes);
  const end = Math.min(make.baseSize, (index + 1) * make.chunkBytes + make.marginBytes);
  return { start, end: Math.max(start, end) };
}

/**
 * The base file's windows, read into one buffer: windows of consecutive chunks overlap, so what was
 * read stays and the next window reads on past it; the kept bytes are moved down only when a window
 * would run past the buffer's end (a buffer of a window and a chunk: one move every other chunk).
 */
export class BaseWindows {
  readonly #fd: number;
  readonly #buffer: Buffer;
  /** The base offset of the buffer's first byte, and how many bytes from there it holds. */
  #start = 0;
  #held = 0;

  constructor(fd: number, buffer: Buffer) {
    this.#fd = fd;
    this.#buffer = buffer;
  }

  /** The base's bytes `want.start`..`want.end`, a view into the buffer valid until the next call. */
  read(want: { start: number; end: number }): Buffer {
    const length = want.end - want.start;
    if (length > this.#buffer.length) throw new Error('a base window larger than its buffer');
    const heldEnd = this.#start + this.#held;
    if (want.start < this.#start || want.end > this.#start + this.#buffer.length) {
      const kept = want.start < heldEnd && want.start >= this.#start ? heldEnd - want.start : 0;
      if (kept > 0) this.#buffer.copy(this.#buffer, 0, want.start - this.#start, this.#held);
      this.#start = want.start;
      this.#held = kept;
    } else if (want.start > heldEnd) {
      this.#start = want.start;
      this.#held = 0;
    }
    while (this.#start + this.#held < want.end) {
      const at = this.#start + this.#held;
      const read = readSync(this.#fd, this.#buffer, this.#held, want.end - at, at);
      if (read === 0) throw new Error('the base file ended early');
      this.#held += read;
    }
    const from = want.start - this.#start;
    return this.#buffer.subarray(from, from + length);
  }
}

/** Chunks a file of `size` bytes is cut into (at least one, so an empty file has a frame). */
export function chunkCount(size: number, chunkBytes: number): number {
  return Math.max(1, Math.ceil(size / chunkBytes));
}

/** Magic, length and header, ready to be followed by the blobs. */
export function encodePatchHeader(header: PatchHeader): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(4);
  length.writeUInt32BE(json.length);
  return Buffer.concat([PATCH_MAGIC, length, json]);
}

/** Reads and checks the header from the first bytes of a patch; says where the blobs begin. */
export function decodePatchHeader(
  start: Buffer,
  totalBytes: number,
): { header: PatchHeader; blobsAt: number } {
  const prefix = PATCH_MAGIC.length + 4;
  if (start.length < prefix || !start.subarray(0, PATCH_MAGIC.length).equals(PATCH_MAGIC)) {
    throw new Error('not a hive-worker patch (no HIVEPATCH1 magic)');
  }
  const length = start.readUInt32BE(PATCH_MAGIC.length);
  if (length > MAX_HEADER_BYTES || prefix + length > start.length) {
    throw new Error(`patch header of ${length} bytes is too large or cut`);
  }
  const parsed = PatchHeaderSchema.safeParse(
    JSON.parse(start.subarray(prefix, prefix + length).toString('utf8')),
  );
  if (!parsed.success) {
    throw new Error(`patch header is invalid (${parsed.error.message.split('\n')[0]})`);
  }
  const header = parsed.data;
  const blobsAt = prefix + length;
  const blobs = header.files.reduce((sum, file) => sum + file.blobBytes, 0);
  if (blobsAt + blobs !== totalBytes) {
    throw new Error(
      `patch header lists ${blobs} bytes of blobs, the file holds ${totalBytes - blobsAt}`,
    );
  }
  const names = new Set(header.files.map((file) => file.name));
  if (names.size !== header.files.length) throw new Error('patch lists a file twice');
  return { header, blobsAt };
}
