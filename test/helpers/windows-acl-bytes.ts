/**
 * Binary ACLs as Windows keeps them (ACL header, then ACCESS_ALLOWED/DENIED entries), made from
 * readable entries: for the unit tests of src/platform/windows-acl.ts, and the DACLs the Wine test
 * writes with SetNamedSecurityInfoW.
 */

export interface AceSpec {
  /** 0: ACCESS_ALLOWED_ACE_TYPE, 1: ACCESS_DENIED_ACE_TYPE (default 0). */
  type?: number;
  flags?: number;
  mask: number;
  sid: string;
}

export const ACL_REVISION = 2;

/** The binary form of a SID string: revision 1, count, 48-bit authority, sub-authorities. */
export function sidBytes(sid: string): Buffer {
  const match = /^S-1-(\d+)((?:-\d+)*)$/.exec(sid);
  if (match === null) throw new Error(`not a SID: ${sid}`);
  const subs = (match[2] ?? '').split('-').slice(1).map(Number);
  const bytes = Buffer.alloc(8 + 4 * subs.length);
  bytes.writeUInt8(1, 0);
  bytes.writeUInt8(subs.length, 1);
  bytes.writeUIntBE(Number(match[1]), 2, 6);
  for (const [index, value] of subs.entries()) bytes.writeUInt32LE(value, 8 + 4 * index);
  return bytes;
}

/** One entry: header (type, flags, size), mask, SID. */
function aceBytes({ type = 0, flags = 0, mask, sid }: AceSpec): Buffer {
  const sidPart = sidBytes(sid);
  const ace = Buffer.alloc(8 + sidPart.length);
  ace.writeUInt8(type, 0);
  ace.writeUInt8(flags, 1);
  ace.writeUInt16LE(ace.length, 2);
  ace.writeUInt32LE(mask >>> 0, 4);
  sidPart.copy(ace, 8);
  return ace;
}

export function aclBytes(aces: readonly AceSpec[]): Buffer {
  const entries = aces.map(aceBytes);
  const header = Buffer.alloc(8);
  header.writeUInt8(ACL_REVISION, 0);
  header.writeUInt16LE(8 + entries.reduce((sum, entry) => sum + entry.length, 0), 2);
  header.writeUInt16LE(entries.length, 4);
  return Buffer.concat([header, ...entries]);
}
