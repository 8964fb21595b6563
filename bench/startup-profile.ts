/**
 * Where the start-up time of the executable goes: runs it (a task process: `--task-child`) under
 * V8's CPU profiler (`--cpu-prof`, passed as `--node-options`: the executable takes Node's options
 * that way) and
 * sums the samples by what they belong to — each bundled module's initialisation (esbuild names
 * it after the module's path), the CLI's own functions, and the rest.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Inclusive milliseconds by group, averaged over `runs` profiles of `exe args`. */
export function profileStartup(
  exe: string,
  args: string[],
  runs: number,
  nodeOptions: readonly string[] = [],
): { totalMs: number; groups: [string, number][] } {
  const dir = mkdtempSync(join(tmpdir(), 'hive-cpu-prof-'));
  try {
    for (let i = 0; i < runs; i++) {
      const run = spawnSync(
        exe,
        [
          `--node-options=${[...nodeOptions, '--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=50'].join(' ')}`,
          ...args,
        ],
        { stdio: 'ignore' },
      );
      if (run.status !== 0) throw new Error(`${exe} ${args.join(' ')} exited ${run.status}`);
    }
    const totals = new Map<string, number>();
    let totalUs = 0;
    const files = readdirSync(dir).filter((name) => name.endsWith('.cpuprofile'));
    for (const file of files) {
      const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
      totalUs += profile.endTime - profile.startTime;
      addProfile(profile, totals);
    }
    const groups = [...totals]
      .map(([name, us]): [string, number] => [name, us / 1000 / files.length])
      .sort((a, b) => b[1] - a[1]);
    return { totalMs: totalUs / 1000 / files.length, groups };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function addProfile(profile: CpuProfile, totals: Map<string, number>): void {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  profile.samples.forEach((sample, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    const seen = new Set<string>();
    for (let id: number | undefined = sample; id !== undefined; id = parent.get(id)) {
      const group = groupOf(byId.get(id)?.callFrame);
      if (group !== undefined && !seen.has(group)) {
        seen.add(group);
        totals.set(group, (totals.get(group) ?? 0) + delta);
      }
    }
  });
}

/** A bundled module's initialisation by its path (a package by its first folders), or a phase. */
function groupOf(frame: ProfileNode['callFrame'] | undefined): string | undefined {
  if (frame === undefined) return undefined;
  const name = frame.functionName;
  if (name === '(garbage collector)') return 'garbage collection';
  if (name === '(program)') return 'native (V8/Node, outside JavaScript)';
  if (/^(src|tasks)\//.test(name)) return `init ${name}`;
  const dependency = /^node_modules\/((?:@[^/]+\/)?[^/]+)(\/v4\/[^/]+)?/.exec(name);
  if (dependency !== null) return `init ${dependency[1]}${dependency[2] ?? ''}`;
  if (name === 'loadSettings' || name === 'helpText') return 'reading the settings';
  if (name === 'compileForInternalLoader') return "loading Node's built-in modules";
  return undefined;
}
