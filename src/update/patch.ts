/**
 * Rebuilds a release from a patch (./patch-format.ts) and this worker's own files, to the same
 * result on disk as ./extract.ts, each file checked (header, signed manifestSha256, release.json).
 * Decoded a chunk at a time, whatever the executable's size; a failure removes what was written.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  write,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { constants, zstdDecompress } from 'node:zlib';
import {
  type ExtractedRelease,
  ReleaseManifestSchema,
  releaseFileNames,
  releaseIn,
} from './extract.ts';
import {
  BaseWindows,
  baseWindow,
  chunkCount,
  decodePatchHeader,
  FRAME_PREFIX_BYTES,
  MAX_HEADER_BYTES,
  PATCH_MAGIC,
  type PatchFile,
} from './patch-format.ts';
import { removeStaged } from './state.ts';

export interface PatchTarget {
  version: string;
  platform: string;
  /** The signed sha256 of release.json (protocol 1.1-f). */
  manifestSha256: string;
}

/** The zstd window a frame may ask for: the release tool's `--long=27`, no more. */
const WINDOW_LOG_MAX = 27;
/** A frame's output buffer at most (a chunk fits; a larger whole-file frame comes in pieces). */
const MAX_OUTPUT_CHUNK = 16 * 1024 * 1024;
const writeAt = promisify(write);

/**
 * `bases` maps the old release's file names (`worker`, `updater.sh`…) to the files this worker runs
 * from; a patch that needs one that is missing or different is refused before anything is written.
 */
export async function applyPatch(
  patchFile: string,
  bases: Record<string, string>,
  targetDir: string,
  expected: PatchTarget,
): Promise<ExtractedRelease> {
  const fd = openSync(patchFile, 'r');
  try {
    const total = fstatSync(fd).size;
    const start = Buffer.alloc(Math.min(total, PATCH_MAGIC.length + 4 + MAX_HEADER_BYTES));
    readSync(fd, start, 0, start.length, 0);
    const { header, blobsAt } = decodePatchHeader(start, total);
    if (header.to !== expected.version || header.platform !== expected.platform) {
      throw new Error(`the patch makes ${header.to} for ${header.platform}`);
    }
    const names = releaseFileNames(expected.platform);
    for (const required of ['release.json', names.executable, names.updater]) {
      if (!header.files.some((file) => file.name === required))
        throw new Error(`the patch does not make ${required}`);
    }
    checkBases(header.files, bases);
    const offsets = new Map<string, number>();
    let at = blobsAt;
    for (const file of header.files) {
      offsets.set(file.name, at);
      at += file.blobBytes;
    }
    // release.json first: a lying manifest is found before the large files are rebuilt.
    const ordered = [...header.files].sort(
      (a, b) => Number(b.name === 'release.json') - Number(a.name === 'release.json'),
    );
    removeStaged(targetDir);
    mkdirSync(targetDir, { recursive: true });
    try {
      for (const file of ordered) {
        await rebuildFile(fd, offsets.get(file.name) ?? 0, file, bases, targetDir);
        if (file.name === 'release.json') checkManifestSha(targetDir, expected);
      }
      return finish(targetDir, header.files, expected);
    } catch (error) {
      try {
        removeStaged(targetDir);
      } catch {
        // The first error is the one to report; the next start prunes staging again.
      }
      throw error;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The bases must be there with the size the patch names. Their sha256 is not read up front: a
 * different base makes different bytes, which the rebuilt file's sha256 then refuses.
 */
function checkBases(files: PatchFile[], bases: Record<string, string>): void {
  for (const { make } of files) {
    if (make.kind !== 'patch') continue;
    const path = Object.hasOwn(bases, make.base) ? bases[make.base] : undefined;
    const size = path === undefined ? undefined : statSync(path, { throwIfNoEntry: false })?.size;
    if (path === undefined || size === undefined) throw new Error(`no ${make.base} to patch`);
    if (size !== make.baseSize) {
      throw new Error(
        `${path} is not the ${make.base} the patch was made from (${size} bytes, not ${make.baseSize})`,
      );
    }
  }
}

async function rebuildFile(
  patchFd: number,
  blobAt: number,
  file: PatchFile,
  bases: Record<string, string>,
  targetDir: string,
): Promise<void> {
  const out = openSync(join(targetDir, file.name), 'wx', 0o644);
  const sink = new FileSink(out);
  try {
    await decodeFile(patchFd, blobAt, file, bases, sink);
    await sink.written();
  } catch (error) {
    throw new Error(`${file.name}: ${(error as Error).message}${baseHint(file, bases)}`, {
      cause: error,
    });
  } finally {
    // No write may still be using the descriptor when it is closed (and maybe reused).
    await sink.written().catch(() => {});
    closeSync(out);
  }
  const sha256 = sink.digest();
  if (sink.bytes !== file.size || sha256 !== file.sha256) {
    throw new Error(
      `${file.name} rebuilt as ${sink.bytes} bytes with sha256 ${sha256}, the patch says ${file.size} bytes, ${file.sha256}${baseHint(file, bases)}`,
    );
  }
}

/**
 * The file's blob into the sink: one frame, or one frame per chunk against the base's window. A
 * chunk decodes on libuv's thread pool while this thread hashes and writes the one before: one
 * frame in flight at a time, each chunk's output written once and hashed as it is written.
 */
async function decodeFile(
  patchFd: number,
  blobAt: number,
  file: PatchFile,
  bases: Record<string, string>,
  sink: FileSink,
): Promise<void> {
  const { make } = file;
  if (make.kind === 'zstd') {
    const frame = readFrame(patchFd, blobAt, file.blobBytes);
    await sink.write(await decodeFrame(frame, undefined, file.size));
    return;
  }
  const windowBytes = Math.min(make.baseSize, make.chunkBytes + 2 * make.marginBytes);
  const buffer = Buffer.allocUnsafe(Math.min(make.baseSize, windowBytes + make.chunkBytes));
  const base = openSync(bases[make.base] ?? '', 'r');
  try {
    const chunks = chunkCount(file.size, make.chunkBytes);
    const windows = new BaseWindows(base, buffer);
    const prefix = Buffer.alloc(FRAME_PREFIX_BYTES);
    const end = blobAt + file.blobBytes;
    let decoded: Buffer | undefined;
    let at = blobAt;
    for (let index = 0; index < chunks; index++) {
      if (at + FRAME_PREFIX_BYTES > end) throw new Error(`frame ${index} is missing`);
      readSync(patchFd, prefix, 0, FRAME_PREFIX_BYTES, at);
      const frameBytes = prefix.readUInt32BE(0);
      at += FRAME_PREFIX_BYTES;
      if (at + frameBytes > end) throw new Error(`frame ${index} runs past its blob`);
      const frame = readFrame(patchFd, at, frameBytes);
      at += frameBytes;
      const wanted = Math.min(make.chunkBytes, file.size - index * make.chunkBytes);
      // zstd copies the dictionary when the frame starts: the window's buffer is free again.
      const decoding = decodeFrame(frame, windows.read(baseWindow(make, index)), wanted);
      // Awaited below; should the write before it fail, that error is the one reported.
      decoding.catch(() => {});
      if (decoded !== undefined) await sink.write(decoded);
      decoded = await decoding;
      if (decoded.length !== wanted)
        throw new Error(`chunk ${index} is ${decoded.length} bytes, not ${wanted}`);
    }
    if (decoded !== undefined) await sink.write(decoded);
    if (at !== end) throw new Error('bytes after the last frame');
  } finally {
    closeSync(base);
    release(buffer);
  }
}

function readFrame(patchFd: number, at: number, frameBytes: number): Buffer {
  if (frameBytes === 0) throw new Error('an empty zstd frame');
  const frame = Buffer.allocUnsafe(frameBytes);
  if (readSync(patchFd, frame, 0, frameBytes, at) !== frameBytes) throw new Error('a cut frame');
  return frame;
}

/** For a patched file that came out wrong: the likely cause. */
function baseHint(file: PatchFile, bases: Record<string, string>): string {
  return file.make.kind === 'patch'
    ? ` (is ${bases[file.make.base]} the ${file.make.base} the patch was made from?)`
    : '';
}

/**
 * One zstd frame decoded on the thread pool into ONE buffer (`chunkSize` above what it may make:
 * no 16 KB pieces joined after); zstd refuses a frame that would decode to more than `maxBytes`.
 */
function decodeFrame(
  frame: Buffer,
  dictionary: Buffer | undefined,
  maxBytes: number,
): Promise<Buffer> {
  const { promise, resolve, reject } = Promise.withResolvers<Buffer>();
  zstdDecompress(
    frame,
    {
      ...(dictionary === undefined ? {} : { dictionary }),
      params: { [constants.ZSTD_d_windowLogMax]: WINDOW_LOG_MAX },
      maxOutputLength: Math.max(1, maxBytes),
      chunkSize: Math.min(maxBytes, MAX_OUTPUT_CHUNK) + 1,
    },
    (error, output) => (error === null ? resolve(output) : reject(error)),
  );
  return promise;
}

/**
 * Hashes and counts what is written to an open file, and writes it on the thread pool in order
 * (one chunk being written, one queued behind it: `write` waits for the one before).
 */
class FileSink {
  bytes = 0;
  readonly #fd: number;
  readonly #hash = createHash('sha256');
  #writing: Promise<void> = Promise.resolve();

  constructor(fd: number) {
    this.#fd = fd;
  }

  async write(chunk: Buffer): Promise<void> {
    const position = this.bytes;
    this.bytes += chunk.length;
    this.#hash.update(chunk);
    const before = this.#writing;
    this.#writing = before.then(async () => {
      await writeAll(this.#fd, chunk, position);
      release(chunk);
    });
    // Awaited by the next write or by `written`; a failure is reported there.
    this.#writing.catch(() => {});
    await before;
  }

  /** Every chunk on its way to the file: the first failure, if any. */
  written(): Promise<void> {
    return this.#writing;
  }

  digest(): string {
    return this.#hash.digest('hex');
  }
}

/**
 * Gives a large buffer's memory back now, not at the next full GC, which an idle worker may not run
 * for minutes (measured: its RSS stayed up to +88 MB above idle after a patch until then). Only
 * the large buffers this file allocates (each alone on its ArrayBuffer): Node pools small ones.
 */
function release(buffer: Buffer): void {
  const memory = buffer.buffer;
  if (buffer.length > Buffer.poolSize && memory instanceof ArrayBuffer && !memory.detached)
    memory.transfer(0);
}

async function writeAll(fd: number, chunk: Buffer, position: number): Promise<void> {
  for (let done = 0; done < chunk.length; ) {
    const { bytesWritten } = await writeAt(fd, chunk, done, chunk.length - done, position + done);
    done += bytesWritten;
  }
}

function checkManifestSha(targetDir: string, expected: PatchTarget): void {
  const actual = createHash('sha256')
    .update(readFileSync(join(targetDir, 'release.json')))
    .digest('hex');
  if (actual !== expected.manifestSha256.toLowerCase()) {
    throw new Error(
      `release.json has sha256 ${actual}, the signed manifestSha256 is ${expected.manifestSha256}`,
    );
  }
}

/** release.json (already matched to the signed hash) must name exactly the files rebuilt, as rebuilt. */
function finish(targetDir: string, files: PatchFile[], expected: PatchTarget): ExtractedRelease {
  const manifest = ReleaseManifestSchema.parse(
    JSON.parse(readFileSync(join(targetDir, 'release.json'), 'utf8')),
  );
  if (manifest.version !== expected.version || manifest.platform !== expected.platform) {
    throw new Error(`release.json says ${manifest.version} for ${manifest.platform}`);
  }
  const rebuilt = files.filter((file) => file.name !== 'release.json');
  const listed = Object.keys(manifest.files);
  if (listed.length !== rebuilt.length) throw new Error('release.json lists other files');
  for (const file of rebuilt) {
    const sha256 = Object.hasOwn(manifest.files, file.name) ? manifest.files[file.name] : undefined;
    if (sha256?.toLowerCase() !== file.sha256)
      throw new Error(`${file.name} is not the file release.json lists`);
  }
  return releaseIn(targetDir, manifest);
}
