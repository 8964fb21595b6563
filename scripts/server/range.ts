/**
 * HTTP Range / If-Range for release downloads (RFC 9110 §14): the worker resumes an interrupted
 * download with `Range: bytes=<have>-` and `If-Range: <etag>`, so a release replaced in between
 * is sent whole instead of being spliced onto the old bytes.
 */

export interface ByteRange {
  start: number;
  /** Inclusive. */
  end: number;
}

/** What to send: the whole file, one range of it, or 416. */
export type RangeDecision =
  | { kind: 'full' }
  | { kind: 'partial'; range: ByteRange }
  | { kind: 'unsatisfiable' };

export interface RangeRequest {
  range: string | undefined;
  ifRange: string | undefined;
  /** Strong validator of the file being served. */
  etag: string;
  lastModified: Date;
}

/**
 * Decides how to answer. A Range we cannot parse, or with several ranges, is ignored (200, which
 * the RFC allows); an If-Range that does not match the current file also gives 200.
 */
export function decideRange(request: RangeRequest, sizeBytes: number): RangeDecision {
  if (request.range === undefined) return { kind: 'full' };
  if (
    request.ifRange !== undefined &&
    !ifRangeMatches(request.ifRange, request.etag, request.lastModified)
  ) {
    return { kind: 'full' };
  }
  const match = /^bytes=(\d*)-(\d*)$/.exec(request.range.trim());
  if (match === null) return { kind: 'full' };
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return { kind: 'full' };
  if (first === '') {
    // Suffix range: the last N bytes.
    const suffix = Number(last);
    if (suffix === 0 || sizeBytes === 0) return { kind: 'unsatisfiable' };
    return {
      kind: 'partial',
      range: { start: Math.max(0, sizeBytes - suffix), end: sizeBytes - 1 },
    };
  }
  const start = Number(first);
  const end = last === '' ? sizeBytes - 1 : Math.min(Number(last), sizeBytes - 1);
  if (last !== '' && Number(last) < start) return { kind: 'full' };
  if (start >= sizeBytes) return { kind: 'unsatisfiable' };
  return { kind: 'partial', range: { start, end } };
}

/** If-Range holds an entity tag (strong comparison) or an HTTP date (exact Last-Modified). */
function ifRangeMatches(ifRange: string, etag: string, lastModified: Date): boolean {
  const value = ifRange.trim();
  if (value.startsWith('"') || value.startsWith('W/')) return value === etag;
  const date = Date.parse(value);
  return !Number.isNaN(date) && date === Math.floor(lastModified.getTime() / 1000) * 1000;
}
