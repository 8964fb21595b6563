/**
 * Whether a folder is ours to keep data in: owned by this user (or root), writable by nobody else,
 * who could plant a result, swap a release or a symlink (docs/reliability.md, "The data folder").
 * A parent open to others is accepted when sticky (/tmp). POSIX only: Node cannot read Windows ACLs.
 */
import { lstatSync, readdirSync, type Stats, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

const STICKY = 0o1000;
/** Written by group or others. */
const OPEN_WRITE = 0o022;

/** The user whose folders are trusted: this process's effective user; undefined on Windows. */
function currentUid(): number | undefined {
  return process.platform === 'win32' || process.geteuid === undefined
    ? undefined
    : process.geteuid();
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
  if (uid === undefined) return undefined;
  const stat = statSync(path);
  if (!stat.isDirectory()) return `the data folder ${path} is not a folder`;
  const owner = ownerProblem(path, stat, uid, 'the data folder');
  if (owner !== undefined) return owner;
  if ((stat.mode & OPEN_WRITE) !== 0)
    return `the data folder ${path} is writable by other users (mode ${octal(stat.mode)}): run chmod go-w ${path}, or set DATA_DIR to a folder of your own`;
  return parentProblem(dirname(path), path);
}

/** The problem with creating (or keeping) `child` in the existing folder `parent`, or undefined. */
export function parentProblem(parent: string, child: string): string | undefined {
  const uid = currentUid();
  if (uid === undefined || parent === child) return undefined;
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
 * symlink (or, on Windows, a junction: lstat reports both), and its folders ours and closed to
 * others: what the worker opens inside them is then what it wrote.
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
    if (!stat.isDirectory()) continue;
    if (uid !== undefined) {
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
