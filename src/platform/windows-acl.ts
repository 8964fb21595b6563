/**
 * Whether a folder on Windows is ours to keep data in, from its owner and access list (DACL):
 * the rule of ./folder-trust.ts (OpenSSH's StrictModes) in Windows' terms. Pure: the bytes come
 * from ./windows-security.ts (GetNamedSecurityInfoW through node:ffi); this module only parses
 * and decides, so every case is unit-tested on any OS (test/platform/windows-acl.unit.test.ts).
 *
 * Trusted, as root is on POSIX: this user, SYSTEM, BUILTIN\Administrators, TrustedInstaller.
 * Anyone else allowed to write — Everyone, Authenticated Users, BUILTIN\Users, INTERACTIVE,
 * another user — makes the folder not ours. Deny entries are not weighed against allow entries:
 * a folder is accepted only when no allow entry gives others a write right, whatever the order.
 */

/** One entry of a DACL; `sid` in its string form (S-1-5-…). */
export interface Ace {
  /** allow: ACCESS_ALLOWED (and its callback/object forms); deny likewise; other: anything else. */
  kind: 'allow' | 'deny' | 'other';
  /** AceFlags: inheritance (OBJECT_INHERIT_ACE, CONTAINER_INHERIT_ACE, INHERIT_ONLY_ACE, …). */
  flags: number;
  mask: number;
  sid: string;
}

/** What GetNamedSecurityInfoW says of a folder. */
export interface FolderSecurity {
  /** The owner's SID; null when the file system keeps none. */
  owner: string | null;
  /** The DACL's entries; null for a NULL DACL, which lets everyone do everything. */
  dacl: readonly Ace[] | null;
}

// Access rights (winnt.h) that let someone plant, replace or remove what is in a folder, or take
// the folder over.
export const FILE_ADD_FILE = 0x2;
export const FILE_ADD_SUBDIRECTORY = 0x4;
export const FILE_DELETE_CHILD = 0x40;
export const DELETE = 0x1_0000;
export const WRITE_DAC = 0x4_0000;
export const WRITE_OWNER = 0x8_0000;
export const GENERIC_ALL = 0x1000_0000;
export const GENERIC_WRITE = 0x4000_0000;
/** FILE_ALL_ACCESS: "full control". */
export const FILE_ALL_ACCESS = 0x1f_01ff;

/** Rights on the data folder (or a folder in it) that others must not have. */
const WRITE_RIGHTS =
  FILE_ADD_FILE |
  FILE_ADD_SUBDIRECTORY |
  FILE_DELETE_CHILD |
  DELETE |
  WRITE_DAC |
  WRITE_OWNER |
  GENERIC_ALL |
  GENERIC_WRITE;
/**
 * Rights on the folder holding the data folder that let others remove or rename the data folder
 * (delete child), move the holder away with it (delete), or take the holder over. Adding entries
 * of their own is accepted — like /tmp's sticky bit, or C:\ where Authenticated Users may add
 * folders: one they made first under our name is theirs, and refused as such.
 */
const SWAP_RIGHTS = FILE_DELETE_CHILD | DELETE | WRITE_DAC | WRITE_OWNER | GENERIC_ALL;

// AceFlags
export const OBJECT_INHERIT_ACE = 0x1;
export const CONTAINER_INHERIT_ACE = 0x2;
export const INHERIT_ONLY_ACE = 0x8;
export const INHERITED_ACE = 0x10;

export const EVERYONE = 'S-1-1-0';
export const SYSTEM = 'S-1-5-18';
export const ADMINISTRATORS = 'S-1-5-32-544';
export const TRUSTED_INSTALLER = 'S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464';
const CREATOR_OWNER = 'S-1-3-0';
const OWNER_RIGHTS = 'S-1-3-4';

/** Owners that are as good as this user: they can do anything to the folder anyway. */
const TRUSTED_OWNERS = new Set([SYSTEM, ADMINISTRATORS, TRUSTED_INSTALLER]);
/** And in an entry: CREATOR OWNER and OWNER RIGHTS stand for the owner, checked first. */
const TRUSTED_IN_ACES = new Set([...TRUSTED_OWNERS, CREATOR_OWNER, OWNER_RIGHTS]);

/** Names of well-known SIDs, for messages. */
const NAMES: Record<string, string> = {
  [EVERYONE]: 'Everyone',
  'S-1-2-0': 'LOCAL',
  'S-1-3-1': 'CREATOR GROUP',
  'S-1-5-1': 'DIALUP',
  'S-1-5-2': 'NETWORK',
  'S-1-5-3': 'BATCH',
  'S-1-5-4': 'INTERACTIVE',
  'S-1-5-6': 'SERVICE',
  'S-1-5-7': 'ANONYMOUS LOGON',
  'S-1-5-11': 'Authenticated Users',
  'S-1-5-13': 'TERMINAL SERVER USER',
  'S-1-5-14': 'REMOTE INTERACTIVE LOGON',
  'S-1-5-19': 'LOCAL SERVICE',
  'S-1-5-20': 'NETWORK SERVICE',
  [SYSTEM]: 'SYSTEM',
  [ADMINISTRATORS]: 'BUILTIN\\Administrators',
  'S-1-5-32-545': 'BUILTIN\\Users',
  'S-1-5-32-546': 'BUILTIN\\Guests',
  'S-1-5-32-547': 'BUILTIN\\Power Users',
  'S-1-15-2-1': 'ALL APPLICATION PACKAGES',
  [TRUSTED_INSTALLER]: 'TrustedInstaller',
};

/** "Everyone (S-1-1-0)", or the SID alone when it has no well-known name. */
export function sidName(sid: string): string {
  const name = NAMES[sid] ?? (/^S-1-5-21-\d+-\d+-\d+-513$/.test(sid) ? 'Domain Users' : undefined);
  return name === undefined ? sid : `${name} (${sid})`;
}

/** The string form of a binary SID (revision, authority, sub-authorities), or null if malformed. */
export function sidString(bytes: Uint8Array): string | null {
  if (bytes.length < 8) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint8(1);
  if (view.getUint8(0) !== 1 || bytes.length < 8 + 4 * count) return null;
  // The identifier authority is 48 bits, big-endian.
  const authority = view.getUint16(2) * 2 ** 32 + view.getUint32(4);
  const parts = ['S', '1', String(authority)];
  for (let index = 0; index < count; index++)
    parts.push(String(view.getUint32(8 + 4 * index, true)));
  return parts.join('-');
}

/** A binary SID's length from its first 8 bytes (8 + 4 per sub-authority). */
export function sidLength(head: Uint8Array): number {
  return 8 + 4 * (head[1] ?? 0);
}

// AceType values (winnt.h)
const ALLOWED_TYPES = new Set([0x0, 0x9]); // ACCESS_ALLOWED_ACE_TYPE, …_CALLBACK_ACE_TYPE
const DENIED_TYPES = new Set([0x1, 0xa]);
const ALLOWED_OBJECT_TYPES = new Set([0x5, 0xb]); // …_OBJECT_ACE_TYPE, …_CALLBACK_OBJECT_ACE_TYPE
const DENIED_OBJECT_TYPES = new Set([0x6, 0xc]);

/**
 * The entries of a binary ACL (ACL header, then AceCount entries), or an Error when the bytes
 * do not hold together. Entries of a type with no mask and SID are kept as 'other'.
 */
export function parseAcl(bytes: Uint8Array): Ace[] | Error {
  if (bytes.length < 8) return new Error('ACL shorter than its header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = view.getUint16(2, true);
  const count = view.getUint16(4, true);
  if (size > bytes.length) return new Error(`ACL of ${size} bytes, ${bytes.length} read`);
  const aces: Ace[] = [];
  let at = 8;
  for (let index = 0; index < count; index++) {
    if (at + 4 > size) return new Error(`ACE ${index} past the ACL's end`);
    const type = view.getUint8(at);
    const flags = view.getUint8(at + 1);
    const aceSize = view.getUint16(at + 2, true);
    if (aceSize < 4 || at + aceSize > size) return new Error(`ACE ${index} of bad size ${aceSize}`);
    const object = ALLOWED_OBJECT_TYPES.has(type) || DENIED_OBJECT_TYPES.has(type);
    const plain = ALLOWED_TYPES.has(type) || DENIED_TYPES.has(type);
    if (plain || object) {
      const mask = view.getUint32(at + 4, true);
      let sidAt = at + 8;
      if (object) {
        // Object entries: Flags, then up to two GUIDs, then the SID.
        const objectFlags = view.getUint32(at + 8, true);
        sidAt = at + 12 + (objectFlags & 1 ? 16 : 0) + (objectFlags & 2 ? 16 : 0);
      }
      const sid = sidString(bytes.subarray(sidAt, at + aceSize));
      if (sid === null) return new Error(`ACE ${index} has a malformed SID`);
      const allow = ALLOWED_TYPES.has(type) || ALLOWED_OBJECT_TYPES.has(type);
      aces.push({ kind: allow ? 'allow' : 'deny', flags, mask, sid });
    } else {
      aces.push({ kind: 'other', flags, mask: 0, sid: '' });
    }
    at += aceSize;
  }
  return aces;
}

/** Which folder is judged: the data folder, a folder in it, or the folder that holds it. */
export type FolderRole = { role: 'data' } | { role: 'inside' } | { role: 'parent'; child: string };

/** Words for the rights in `mask` that matter here (`risky`), or "full control". */
function rightsWords(mask: number, risky: number): string {
  if ((mask & GENERIC_ALL) !== 0 || (mask & FILE_ALL_ACCESS) === FILE_ALL_ACCESS)
    return 'full control';
  mask &= risky;
  const words: string[] = [];
  if (mask & (FILE_ADD_FILE | GENERIC_WRITE)) words.push('add files');
  if (mask & (FILE_ADD_SUBDIRECTORY | GENERIC_WRITE)) words.push('add folders');
  if (mask & FILE_DELETE_CHILD) words.push('delete what is in it');
  if (mask & DELETE) words.push('delete it');
  if (mask & WRITE_DAC) words.push('change its permissions');
  if (mask & WRITE_OWNER) words.push('take ownership');
  return words.join(', ');
}

/** The command that leaves `path` to this user alone (then SYSTEM and Administrators add nothing). */
function icaclsFix(path: string, user: string, others: readonly string[]): string {
  const remove = others.length > 0 ? ` /remove:g ${others.map((sid) => `*${sid}`).join(' ')}` : '';
  return `icacls "${path}" /inheritance:r /grant:r *${user}:(OI)(CI)F${remove}`;
}

/**
 * The problem with keeping data in (or, for role 'parent', beside) the folder `path` whose owner
 * and DACL are `security`, for the user whose SID is `user`; undefined when it is ours.
 *
 * - The owner must be this user, SYSTEM, Administrators or TrustedInstaller (root, on POSIX).
 * - data folder, folders in it: no one else may be allowed a write right — on the folder, or
 *   on what is created in it (an inherit-only entry passed on to new files and folders counts).
 * - the folder holding it: no one else may remove or rename what is in it (delete child), delete
 *   or rename it, nor change its permissions or owner; adding entries of their own is accepted,
 *   as in a sticky /tmp.
 * - A NULL DACL lets everyone do everything: refused for all three.
 */
export function folderSecurityProblem(
  path: string,
  security: FolderSecurity,
  user: string,
  judged: FolderRole,
): string | undefined {
  const what =
    judged.role === 'data'
      ? `the data folder ${path}`
      : judged.role === 'inside'
        ? `the folder ${path}`
        : `the folder ${path}, which holds the data folder ${judged.child},`;
  const ownFolder = 'use a folder of your own (DATA_DIR)';
  if (security.owner === null)
    return `${what} has no owner: its drive keeps no permissions (FAT, exFAT, some network shares), so anyone may write there: ${ownFolder} on an NTFS drive`;
  if (security.owner !== user && !TRUSTED_OWNERS.has(security.owner))
    return `${what} is owned by ${sidName(security.owner)}, not by this user (${user}): ${ownFolder}, or have an administrator run icacls "${path}" /setowner *${user}`;
  if (security.dacl === null)
    return `${what} has no access list (a NULL DACL), so everyone may write to it: run ${icaclsFix(path, user, [])}, or ${ownFolder}`;
  const parent = judged.role === 'parent';
  const risky = parent ? SWAP_RIGHTS : WRITE_RIGHTS;
  const granted = new Map<string, { mask: number; onlyInside: boolean }>();
  for (const ace of security.dacl) {
    if (ace.kind !== 'allow' || (ace.mask & risky) === 0) continue;
    if (ace.sid === user || TRUSTED_IN_ACES.has(ace.sid)) continue;
    const inheritOnly = (ace.flags & INHERIT_ONLY_ACE) !== 0;
    const passedOn = (ace.flags & (OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE)) !== 0;
    // The holder's inheritable entries reach the data folder only when we create it: then the
    // data folder's own check sees them.
    if (inheritOnly && (parent || !passedOn)) continue;
    const seen = granted.get(ace.sid);
    granted.set(ace.sid, {
      mask: (seen?.mask ?? 0) | ace.mask,
      onlyInside: (seen?.onlyInside ?? true) && inheritOnly,
    });
  }
  if (granted.size === 0) return undefined;
  const who = [...granted].map(
    ([sid, { mask, onlyInside }]) =>
      `${sidName(sid)} (${rightsWords(mask, risky)}${onlyInside ? ', on what is created in it' : ''})`,
  );
  const fix = `run ${icaclsFix(path, user, [...granted.keys()])}, or set DATA_DIR to a folder of your own`;
  if (parent)
    return `${what} lets ${who.join(' and ')} remove or rename it or what is in it, so they could swap the data folder: ${fix}`;
  return `${what} is writable by ${who.join(' and ')}: ${fix}`;
}

/** IsReparseTagNameSurrogate: the reparse point stands for another file or folder (a link). */
const NAME_SURROGATE = 0x2000_0000;

/**
 * Whether an entry with this reparse tag is a link the worker must not follow: a name surrogate —
 * a junction (IO_REPARSE_TAG_MOUNT_POINT, also to a volume \??\Volume{…}\, which Node's lstat
 * calls a folder), a symbolic link, a WSL or container link. Other reparse points (OneDrive and
 * other cloud files, deduplicated files) are the file itself and are accepted. Tag 0 is reserved
 * and never set by Windows; Wine shows a Unix symlink to a folder that way: refused too, as the
 * link it is.
 */
export function isLinkTag(tag: number): boolean {
  return tag === 0 || (tag & NAME_SURROGATE) !== 0;
}
