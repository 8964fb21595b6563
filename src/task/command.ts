/**
 * How this program starts itself in task mode: the executable itself, or, from source, node with
 * its flags and the entry file — with the V8 flags every task process gets.
 */
import { TASK_CHILD_FLAG } from './ipc.ts';
import { LOCAL_NETWORK_ARG, type LocalNetwork } from './network.ts';
import type { ChildCommand } from './pool.ts';

/**
 * V8 flags every task process gets: a fixed 4 MB semi-space, so a task building a large result
 * does not grow a young generation nothing uses again, and start-up skips the scavenges of growing
 * to it (docs/performance.md, "A task process"). In the executable these come after the worker's
 * own (build.config.json `sea.execArgv`) and replace its semi-space size.
 */
export const TASK_V8_FLAGS: readonly string[] = [
  '--max-semi-space-size=4',
  '--min-semi-space-size=4',
];

/**
 * Source mode: node + its flags + the entry file; a single executable: itself, its V8 flags given
 * as `--node-options=…` (built with `execArgvExtension: "cli"`: NODE_OPTIONS is ignored).
 */
export function selfCommand(
  isExecutable: boolean,
  maxHeapMb: number,
  localNetwork: LocalNetwork,
): ChildCommand {
  const v8 = [...TASK_V8_FLAGS, ...(maxHeapMb > 0 ? [`--max-old-space-size=${maxHeapMb}`] : [])];
  const task = [TASK_CHILD_FLAG, `${LOCAL_NETWORK_ARG}${localNetwork}`];
  if (isExecutable) {
    return { file: process.execPath, args: [`--node-options=${v8.join(' ')}`, ...task] };
  }
  const entry = process.argv[1];
  if (entry === undefined)
    throw new Error('cannot tell the entry file to start task processes from');
  return { file: process.execPath, args: [...process.execArgv, ...v8, entry, ...task] };
}

/**
 * The environment a task process gets: the worker's minus every HIVE_* variable (the token and
 * other settings); what programs expect stays (docs/reliability.md, "What tasks see").
 */
export function taskEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  // Compared without case: Windows' environment names are case-insensitive (Hive_Token is HIVE_TOKEN).
  return Object.fromEntries(
    Object.entries(env).filter(([name]) => !name.toUpperCase().startsWith('HIVE_')),
  );
}
