/**
 * build.config.json, read and checked once: what `npm run build` makes (targets, the Node version
 * of each, the sha256 of every Node binary it may use, Windows resources, SEA options) and the
 * pinned release key. Every problem is reported at once, naming the field.
 */
import { readFileSync } from 'node:fs';
import * as z from 'zod';

export const PLATFORMS = ['linux-x64', 'win32-x64'] as const;
export type Platform = (typeof PLATFORMS)[number];

/** A failure of the build a person can act on: printed as one message, no stack trace. */
export class BuildError extends Error {
  override name = 'BuildError';
}

const nodeVersion = z
  .string()
  .regex(/^\d+\.\d+\.\d+$/, 'a Node version like 26.10.0 (no "v", no range)');
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 as 64 lowercase hex digits');

const ConfigSchema = z.object({
  /** Ed25519 release key (raw 32 bytes, base64url); HIVE_RELEASE_PUBLIC_KEY replaces it. */
  releasePublicKey: z.string(),
  /** The entry file bundled into the executable; `--entry` replaces it (test builds). */
  entry: z.string().min(1),
  windows: z.object({
    productName: z.string().min(1),
    fileDescription: z.string().min(1),
    companyName: z.string(),
    /** An .ico file, relative to the repository. */
    icon: z.string().min(1),
  }),
  sea: z.object({
    disableExperimentalSEAWarning: z.boolean(),
    /** "none" or "cli": NODE_OPTIONS must never reach the executable ("env" is refused). */
    execArgvExtension: z.enum(['none', 'cli']),
    /**
     * Node options the executable always runs with (NODE_OPTIONS cannot reach it), task
     * processes included: `--use-system-ca` trusts the operating system's certificate store.
     */
    execArgv: z.array(z.string().regex(/^--[a-z]/, 'a Node option like --use-system-ca')),
    /** Applied only to the target of the platform that builds: a code cache is platform-specific. */
    useCodeCache: z.boolean(),
  }),
  targets: z
    .array(
      z.object({
        platform: z.enum(PLATFORMS),
        node: nodeVersion,
        /** File name inside dist/<platform>/. */
        output: z.string().regex(/^[\w.-]+$/, 'a plain file name like worker.exe'),
      }),
    )
    .min(1),
  /** sha256 of every Node binary the build may use, keyed "<platform>@<version>". */
  nodeBinaries: z.record(z.string().regex(/^(linux-x64|win32-x64)@\d+\.\d+\.\d+$/), sha256),
});

export type BuildConfig = z.infer<typeof ConfigSchema>;
export type Target = BuildConfig['targets'][number];

export function readBuildConfig(path: string): BuildConfig {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new BuildError(
      `cannot read the build configuration ${path}: ${(error as Error).message}`,
    );
  }
  const parsed = ConfigSchema.safeParse(data);
  if (!parsed.success) {
    const lines = parsed.error.issues.map(
      (issue) => `  - ${issue.path.join('.') || '(top level)'}: ${issue.message}`,
    );
    throw new BuildError(`${path} is not a valid build configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

/** The key "<platform>@<version>" under which nodeBinaries pins a Node binary. */
export const binaryKey = (platform: Platform, version: string) => `${platform}@${version}`;

/** The platform this build runs on, when it is one we can build for. */
export function hostPlatform(): Platform | undefined {
  const host = `${process.platform}-${process.arch}`;
  return (PLATFORMS as readonly string[]).includes(host) ? (host as Platform) : undefined;
}
