/**
 * The worker id: `<hostname>-<8 hex>`. The hex part is made once and kept in the data folder,
 * so two workers on one host differ and a restart keeps its id.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from './fs-atomic.ts';

const ID_FILE = 'worker-id';
const SUFFIX = /^[0-9a-f]{8}$/;

export function loadWorkerId(dataDir: string): string {
  const file = join(dataDir, ID_FILE);
  let suffix: string | undefined;
  try {
    const stored = readFileSync(file, 'utf8').trim();
    if (SUFFIX.test(stored)) suffix = stored;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (suffix === undefined) {
    suffix = randomBytes(4).toString('hex');
    writeFileAtomic(file, `${suffix}\n`);
  }
  return `${hostname()}-${suffix}`;
}

/** The id kept in the data folder, without making one (for `worker --status`). */
export function readWorkerId(dataDir: string): string | undefined {
  try {
    const stored = readFileSync(join(dataDir, ID_FILE), 'utf8').trim();
    return SUFFIX.test(stored) ? `${hostname()}-${stored}` : undefined;
  } catch {
    return undefined;
  }
}
