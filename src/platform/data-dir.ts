/**
 * Where the worker keeps its data: DATA_DIR when set; otherwise `data/` beside the executable, or a
 * per-user folder when that is not writable (Program Files, a read-only share).
 * Private by default: folders the worker creates, and its two default ones, are 0700; an existing
 * DATA_DIR keeps its mode, but one others may write to is refused, exit 78 (./folder-trust.ts;
 * on Windows its owner and DACL, read through node:ffi).
 */
import { accessSync, chmodSync, constants, mkdirSync, realpathSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { HiveError } from './errors.ts';
import {
  dataFolderProblem,
  entriesProblem,
  nearestExisting,
  parentProblem,
  takeUncheckedNotes,
} from './folder-trust.ts';

export interface DataDirChoice {
  path: string;
  /** Why this folder: said in the banner. */
  why: string;
  /** What could not be checked about it (Windows: its ACL, without node:ffi): to log as warnings. */
  notes: string[];
}

/** The folder the executable lives in (the repo when running from source). */
export function installDir(isExecutable: boolean): string {
  return isExecutable ? dirname(process.execPath) : process.cwd();
}

export function resolveDataDir(
  configured: string,
  install: string,
  env: Readonly<Record<string, string | undefined>>,
): DataDirChoice {
  if (configured !== '') {
    const path = resolve(install, configured);
    const problem = writableProblem(path);
    if (problem !== undefined) {
      throw new HiveError(
        'CONFIG',
        `Expected DATA_DIR to be a writable folder, got ${JSON.stringify(configured)}: ${problem}`,
      );
    }
    return { path, why: 'DATA_DIR', notes: takeUncheckedNotes() };
  }
  const beside = join(install, 'data');
  if (writableProblem(beside, { narrow: true }) === undefined)
    return { path: beside, why: 'beside the executable', notes: takeUncheckedNotes() };
  const perUser = perUserDir(env);
  const problem = writableProblem(perUser, { narrow: true });
  if (problem !== undefined) {
    throw new HiveError(
      'CONFIG',
      `No writable data folder: neither ${beside} nor ${perUser} (${problem}); set DATA_DIR`,
    );
  }
  return { path: perUser, why: `${beside} is not writable`, notes: takeUncheckedNotes() };
}

function perUserDir(env: Readonly<Record<string, string | undefined>>): string {
  if (process.platform === 'win32') {
    return join(env.LOCALAPPDATA ?? join(homedir(), 'AppData', 'Local'), 'HiveWorker');
  }
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'hive-worker');
}

/**
 * Creates `path` if needed and says why it cannot be written, or undefined. A folder that is not
 * ours alone throws (CONFIG, exit 78) instead: another folder would hide the problem.
 */
function writableProblem(path: string, { narrow = false } = {}): string | undefined {
  try {
    const existing = nearestExisting(path);
    if (existing !== path) refuse(parentProblem(existing, path));
    mkdirSync(path, { recursive: true, mode: 0o700 });
    accessSync(path, constants.W_OK);
    const real = realpathSync(path);
    const stat = statSync(real);
    const ours = process.platform !== 'win32' && stat.uid === process.geteuid?.();
    if (narrow && ours && (stat.mode & 0o077) !== 0) chmodSync(real, 0o700);
    refuse(dataFolderProblem(real));
    refuse(entriesProblem(real));
    return undefined;
  } catch (error) {
    if (error instanceof HiveError) throw error;
    return (error as Error).message;
  }
}

function refuse(problem: string | undefined): void {
  if (problem !== undefined) throw new HiveError('CONFIG', `Refusing to run: ${problem}`);
}
