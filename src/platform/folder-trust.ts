/**
 * Whether a folder is ours to keep data in: owned by this user (or root), writable by nobody else,
 * who could plant a result, swap a release or a symlink (docs/reliability.md, "The data folder
 * must be ours"). A parent open to others is accepted when sticky (/tmp). On Windows the same rule
 * reads the owner and DACL (./windows-acl.ts decides, ./windows-security.ts reads them through
 * node:ffi), and reparse points that are links are refused.
 */
import { lstatSync, readdirSync, type Stats, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type FolderRole, folderSecurityProblem, isLinkTag } from './windows-acl.ts';
import { windowsSecurity } from './windows-security.ts';

const STICKY = 0o1000;
/** Written by group or others. */
const OPEN_WRITE = 0o022;

/** The user whose folders are trusted: this process's effective user; undefined on Windows. */
function currentUid(): number | undefined {
  return process.platform === 'win32' || process.geteuid === undefined
    ? undefined
    : process.geteuid();
}

const WINDOWS = process.platform === 'win32';

/** Win32 errors GetNamedSecurityInfoW may give (winerror.h). */
const ERROR_FILE_NOT_FOUND = 2;
const ERROR_PATH_NOT_FOUND = 3;
const ERROR_ACCESS_DENIED = 5;

/** Why a check could not be made, said once (data-dir.ts hands them to the log). */
const unchecked = new Set<string>();
const said = new Set<string>();

/** What could not be checked since the last call, each reason once per process. */
export function takeUncheckedNotes(): string[] {
  const notes = [...unchecked].filter((note) => !said.has(note));
  for (const note of notes) said.add(note);
  unchecked.clear();
  return notes;
}

/**
 * Windows: the problem with the owner and DACL of `path`, or undefined. When they cannot be read
 * at all — node:ffi missing from the Node this runs on (it is experimental), a call failing in a
 * way that says nothing about the folder — the folder is accepted and the reason noted, to be
 * logged once: the check then cannot say the folder is not ours, and refusing would stop every
 * worker on such a build for a check it lacks, not for a problem found. Access denied is not such
 * a failure: the owner and permissions of a folder of one's own can always be read, so a folder
 * that hides them is refused.
 */
function windowsFolderProblem(path: string, judged: FolderRole): string | undefined {
  const security = windowsSecurity();
  if ('unavailable' in security) {
    unchecked.add(
      `the owner and permissions of the data folder were not checked (${security.unavailable}): symlinks and junctions in it are still refused`,
    );
    return undefined;
  }
  let read: ReturnType<typeof security.read>;
  try {
    read = security.read(path);
  } catch (error) {
    read = { error: -1, detail: (error as Error).message };
  }
  if (!('error' in read)) return folderSecurityProblem(path, read, security.user, judged);
  if (read.error === ERROR_ACCESS_DENIED)
    return `the owner and permissions of ${path} cannot be read by this user (access denied), as they always can on a folder of one's own: use a folder of your own (DATA_DIR)`;
  if (read.error === ERROR_FILE_NOT_FOUND || read.error === ERROR_PATH_NOT_FOUND) {
    // Gone since it was listed (a folder in the data folder): nothing to check. The data folder
    // and its holder were just stat-ed: their going is an error like any other.
    if (judged.role === 'inside') return undefined;
    throw new Error(`${path} is gone (${read.detail})`);
  }
  unchecked.add(`the owner and permissions of ${path} were not checked (${read.detail})`);
  return undefined;
}

/** Windows: the problem with `entry` being a reparse point that links elsewhere, or undefined. */
function reparsePointProblem(entry: string): string | undefined {
  const security = windowsSecurity();
  if ('unavailable' in security) return undefined;
  let tag: number | undefined;
  try {
    tag = security.reparseTag(entry);
  } catch (error) {
    // lstat has looked at it already (symlinks, junctions to a drive): note it, as for the ACL.
    unchecked.add(`the reparse tag of ${entry} was not read (${(error as Error).message})`);
    return undefined;
  }
  if (tag === undefined || !isLinkTag(tag)) return undefined;
  const what =
    tag === 0xa000_0003 ? 'a junction' : tag === 0xa000_000c ? 'a symbolic link' : 'a link';
  return `${entry} is ${what} (reparse tag 0x${tag.toString(16)}); the worker never follows one inside its data folder: remove it`;
}

function octal(mode: number): string {
  return `0${(mode & 0o7777).toString(8)}`;
}

function ownerProblem(path: string, stat: Stats, uid: number, what: string): string | undefined {
  if (stat.uid === uid || stat.uid === 0) return undefined;
  return `${what} ${path} is owned by another user (uid ${stat.uid}), not by this one (uid ${uid}): use a folder of your own (DATA_DIR), or chown it to uid ${uid}`;
}

/**
 * The problem with keeping the data folder `path` (which exists) there, or undefined: the folder
 * must be ours and writable by us alone, and its parent ours (or root's) and not open to others
 * unless sticky. Only the folder and its parent are looked at, not every ancestor.
 */
export function dataFolderProblem(path: string): string | undefined {
  const uid = currentUid();
  const stat = statSync(path);
  if (!stat.isDirectory()) return `the data folder ${path} is not a folder`;
  if (WINDOWS)
    return windowsFolderProblem(path, { role: 'data' }) ?? parentProblem(dirname(path), path);
  if (uid === undefined) return undefined;
  const owner = ownerProblem(path, stat, uid, 'the data folder');
  if (owner !== undefined) return owner;
  if ((stat.mode & OPEN_WRITE) !== 0)
    return `the data folder ${path} is writable by other users (mode ${octal(stat.mode)}): run chmod go-w ${path}, or set DATA_DIR to a folder of your own`;
  return parentProblem(dirname(path), path);
}

/** The problem with creating (or keeping) `child` in the existing folder `parent`, or undefined. */
export function parentProblem(parent: string, child: string): string | undefined {
  if (parent === child) return undefined;
  if (WINDOWS) return windowsFolderProblem(parent, { role: 'parent', child });
  const uid = currentUid();
  if (uid === undefined) return undefined;
  const stat = statSync(parent);
  const owner = ownerProblem(parent, stat, uid, `the folder holding the data folder ${child},`);
  if (owner !== undefined) return owner;
  if ((stat.mode & OPEN_WRITE) !== 0 && (stat.mode & STICKY) === 0)
    return `the folder ${parent}, which holds the data folder ${child}, is writable by other users without the sticky bit (mode ${octal(stat.mode)}), so they could swap the data folder: run chmod go-w ${parent}, or set DATA_DIR to a folder of your own`;
  return undefined;
}

/** The nearest folder of `path`'s ancestors (or `path` itself) that exists. */
export function nearestExisting(path: string): string {
  let at = path;
  for (;;) {
    try {
      statSync(at);
      return at;
    } catch {
      const up = dirname(at);
      if (up === at) return at;
      at = up;
    }
  }
}

/** Subfolders whose entries are checked too: the log files are opened for appending at start. */
const CHECKED_INSIDE = new Set(['logs']);

/**
 * What the data folder holds directly (and in logs/) must be plain files and folders, never a
 * symlink (or, on Windows, a junction: lstat reports both — but not a junction to a volume,
 * \??\Volume{…}\, which libuv calls a folder: the reparse tag catches every link), and its
 * folders ours and closed to others: what the worker opens inside them is then what it wrote.
 */
export function entriesProblem(path: string, depth = 0): string | undefined {
  const uid = currentUid();
  for (const name of readdirSync(path)) {
    const entry = join(path, name);
    // An entry gone since the listing (another worker's lock temp file) has nothing to check.
    const stat = lstatSync(entry, { throwIfNoEntry: false });
    if (stat === undefined) continue;
    if (stat.isSymbolicLink())
      return `${entry} is a symbolic link; the worker never follows one inside its data folder: remove it`;
    if (WINDOWS) {
      const link = reparsePointProblem(entry);
      if (link !== undefined) return link;
    }
    if (!stat.isDirectory()) continue;
    if (WINDOWS) {
      const problem = windowsFolderProblem(entry, { role: 'inside' });
      if (problem !== undefined) return problem;
    } else if (uid !== undefined) {
      const owner = ownerProblem(entry, stat, uid, 'the folder');
      if (owner !== undefined) return owner;
      if ((stat.mode & OPEN_WRITE) !== 0)
        return `the folder ${entry} is writable by other users (mode ${octal(stat.mode)}): run chmod go-w ${entry}`;
    }
    const inside = depth === 0 && CHECKED_INSIDE.has(name) ? entriesProblem(entry, 1) : undefined;
    if (inside !== undefined) return inside;
  }
  return undefined;
}
