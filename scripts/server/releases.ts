/**
 * Releases: `GET version?platform=P` answers the newest `worker-<version>-<P>.json` of the
 * releases folder as is (with `&from=V`, its `patches` cut to the one from V: protocol 1.1-f), and
 * `GET releases/<file>` serves that folder's files (zips, patches) with Content-Length,
 * ETag, Last-Modified and Range/If-Range. Only plain file names directly inside the folder are
 * served: anything that could climb out of it is refused.
 */
import { createReadStream } from 'node:fs';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import semver from 'semver';
import { HttpError } from './http.ts';
import { decideRange } from './range.ts';

export interface LatestRelease {
  version: string;
  file: string;
}

/** The newest release for `platform` (by semver of the file name), or undefined when none. */
export async function findLatestRelease(
  releasesDir: string | undefined,
  platform: string,
): Promise<LatestRelease | undefined> {
  if (releasesDir === undefined || platform === '') return undefined;
  let names: string[];
  try {
    names = await readdir(releasesDir);
  } catch {
    return undefined;
  }
  const suffix = `-${platform}.json`;
  let latest: LatestRelease | undefined;
  for (const name of names) {
    if (!name.startsWith('worker-') || !name.endsWith(suffix)) continue;
    const version = semver.valid(name.slice('worker-'.length, -suffix.length));
    if (version === null) continue;
    if (latest === undefined || semver.gt(version, latest.version))
      latest = { version, file: name };
  }
  return latest;
}

/** `GET version?platform=P`: the release file's bytes as is; 404 when there is none. */
export async function serveVersion(
  res: ServerResponse,
  url: URL,
  releasesDir: string | undefined,
): Promise<void> {
  const platform = url.searchParams.get('platform');
  if (platform === null || platform === '')
    throw new HttpError(400, 'missing query parameter platform');
  const latest = await findLatestRelease(releasesDir, platform);
  if (latest === undefined || releasesDir === undefined) {
    throw new HttpError(404, `no release for platform ${platform}`);
  }
  const bytes = onlyPatchFrom(
    await readFile(join(releasesDir, latest.file)),
    url.searchParams.get('from'),
  );
  res.writeHead(200, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': bytes.length,
    'cache-control': 'no-store',
  });
  res.end(bytes);
}

/** The answer with `patches` cut to the one whose `from` is `from`; as is without `from`. */
function onlyPatchFrom(bytes: Buffer, from: string | null): Buffer {
  if (from === null) return bytes;
  const answer = JSON.parse(bytes.toString('utf8')) as { patches?: { from?: unknown }[] };
  if (!Array.isArray(answer.patches)) return bytes;
  answer.patches = answer.patches.filter((patch) => patch.from === from);
  return Buffer.from(`${JSON.stringify(answer, null, 2)}\n`);
}

/** A file name that names a file directly inside the folder, and nothing else. */
function isPlainFileName(name: string): boolean {
  return (
    name.length > 0 &&
    name.length <= 255 &&
    name !== '.' &&
    name !== '..' &&
    !name.startsWith('.') &&
    !/[/\\\0:]/.test(name)
  );
}

const CONTENT_TYPES: Record<string, string> = {
  '.zip': 'application/zip',
  '.json': 'application/json; charset=utf-8',
  '.sig': 'text/plain; charset=utf-8',
};

function contentTypeOf(name: string): string {
  const extension = name.slice(name.lastIndexOf('.'));
  return Object.hasOwn(CONTENT_TYPES, extension)
    ? (CONTENT_TYPES[extension] ?? '')
    : 'application/octet-stream';
}

/**
 * Resolves `name` (percent-decoded) to a real file inside `releasesDir`. 400 for names that try to
 * leave the folder (`..`, separators, also when they were percent-encoded), 404 when missing.
 * Symlinks are followed only if they stay inside the folder.
 */
async function resolveReleaseFile(releasesDir: string, name: string): Promise<string> {
  if (!isPlainFileName(name))
    throw new HttpError(400, 'release file name must be a plain file name');
  try {
    const root = await realpath(releasesDir);
    const path = await realpath(join(root, name));
    if (!path.startsWith(root + sep))
      throw new HttpError(400, 'release file is outside the releases folder');
    return path;
  } catch (error) {
    if (error instanceof HttpError) throw error;
    throw new HttpError(404, `no release file ${name}`);
  }
}

/** `GET`/`HEAD releases/<file>` with Range support; `name` is the percent-decoded path segment. */
export async function serveReleaseFile(
  req: IncomingMessage,
  res: ServerResponse,
  releasesDir: string | undefined,
  name: string,
): Promise<void> {
  if (releasesDir === undefined) throw new HttpError(404, 'this server has no releases folder');
  const path = await resolveReleaseFile(releasesDir, name);
  const info = await stat(path);
  if (!info.isFile()) throw new HttpError(404, 'not a file');
  // Size and mtime identify the bytes well enough for a release folder, where files are written
  // once; both change when a release is rebuilt, which is what If-Range must notice.
  const etag = `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
  const headers: Record<string, string | number> = {
    'content-type': contentTypeOf(path),
    'accept-ranges': 'bytes',
    etag,
    'last-modified': info.mtime.toUTCString(),
  };
  const decision = decideRange(
    { range: req.headers.range, ifRange: header(req, 'if-range'), etag, lastModified: info.mtime },
    info.size,
  );
  if (decision.kind === 'unsatisfiable') {
    throw new HttpError(416, 'range not satisfiable', {
      ...headers,
      'content-range': `bytes */${info.size}`,
    });
  }
  const { start, end } =
    decision.kind === 'partial' ? decision.range : { start: 0, end: info.size - 1 };
  headers['content-length'] = Math.max(0, end - start + 1);
  if (decision.kind === 'partial') headers['content-range'] = `bytes ${start}-${end}/${info.size}`;
  res.writeHead(decision.kind === 'partial' ? 206 : 200, headers);
  if (req.method === 'HEAD' || info.size === 0) {
    res.end();
    return;
  }
  await pipeline(createReadStream(path, { start, end }), res);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
